"""The audio store backends, declared once: which `ENDOSCRIBE_AUDIO_STORE_URL` picks each, the class that
keeps the audio, its settings group and what it needs installed.

`make_audio_store` (`core.audio_store`), the settings' check of the URL at start-up
(`core.settings.StorageSettings`), the settings reference's backends table (`scripts/reference`) and the
worker's heartbeat read this registry; nothing else names a backend. Adding one is an entry here plus
its class (a `JobAudio` with a `from_settings(settings, client)` class method), and its settings group
as a field of `StorageSettings` where it has settings.

Classes are named by import path and imported only when their backend is made, so a process never
imports a client library (boto3) it does not use.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import redis

    from core.audio_store import JobAudio
    from core.settings import StorageSettings


class BackendClass(Protocol):
    """What a backend's class offers the registry: a store built from the storage settings."""

    @classmethod
    def from_settings(cls, settings: StorageSettings, client: redis.Redis) -> JobAudio: ...


@dataclass(frozen=True)
class AudioBackend:
    """One kind of audio store."""

    name: str
    schemes: tuple[str, ...]
    """The URL schemes of `ENDOSCRIBE_AUDIO_STORE_URL` that pick it; "" is the empty URL."""
    store: str
    """Its class, as `module:Class` (imported when the backend is made)."""
    url_form: str
    """What its URL looks like, for messages and the docs (a host part there is required)."""
    description: str
    settings_group: str | None = None
    """The field of `StorageSettings` holding its own settings group; None: it has none."""
    requires: tuple[str, ...] = ()
    """Modules it imports that a slim install may lack."""

    def load(self) -> BackendClass:
        module, _, name = self.store.partition(":")
        return cast(BackendClass, getattr(importlib.import_module(module), name))

    def missing(self) -> list[str]:
        """Of `requires`, the modules this install lacks."""
        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    def check(self, url: str) -> None:
        """Raise ValueError, saying what to do, when `url` is not a usable URL of this backend."""
        if urlsplit(self.url_form).netloc and not urlsplit(url).netloc:
            raise ValueError(f"ENDOSCRIBE_AUDIO_STORE_URL={url!r} must look like {self.url_form}")
        if missing := self.missing():
            raise ValueError(f"ENDOSCRIBE_AUDIO_STORE_URL={url!r} (the {self.name} backend) needs "
                             f"{', '.join(missing)} installed")

    def settings_of(self, settings: StorageSettings) -> Any:
        """Its own settings group, out of the storage settings (None if it has none)."""
        return getattr(settings, self.settings_group) if self.settings_group else None


AUDIO_BACKENDS: dict[str, AudioBackend] = {backend.name: backend for backend in (
    AudioBackend("redis", ("",), "core.audio_store:RedisAudioStore", "(empty)",
                 "a Redis list of pieces beside the job, deleted in the job's own transactions"),
    AudioBackend("s3", ("s3",), "core.s3_audio_store:S3AudioStore", "s3://bucket/prefix",
                 "one object per job in S3-compatible object storage (AWS S3, Tigris, MinIO), deleted "
                 "right after the job's end or erase commits, and by the audio sweep",
                 settings_group="s3", requires=("boto3",)),
)}
"""Every audio store backend, by name."""


def backend_for(url: str) -> AudioBackend:
    """The backend `url` picks; ValueError naming the URLs there are when none does."""
    scheme = urlsplit(url).scheme if url else ""
    for backend in AUDIO_BACKENDS.values():
        if scheme in backend.schemes:
            return backend
    forms = ", ".join(f"{b.url_form} ({b.name})" for b in AUDIO_BACKENDS.values())
    raise ValueError(f"ENDOSCRIBE_AUDIO_STORE_URL={url!r} names no audio store backend; use one of: {forms}")


def checked_backend(url: str) -> AudioBackend:
    """`backend_for(url)`, with the URL checked against its backend (form, installed modules)."""
    backend = backend_for(url)
    backend.check(url)
    return backend
