"""An audio store backend is one registry entry (`core.audio_backends`) plus its class: registered from
this test alone, a fake backend is accepted by the settings, built by `make_audio_store`, listed in the
settings reference, and keeps the audio of jobs submitted to a real API on a real redis-server, deleted
with the job's end. And no module but the registry chooses a backend."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import ValidationError
from redis.client import Pipeline

from api.main import create_app
from core.audio_backends import AUDIO_BACKENDS, AudioBackend, backend_for
from core.audio_store import make_audio_store
from core.job_participants import Ended, Erased, Participant
from core.job_store import Claim, JobStore
from core.jobs import JobStatus, Segment, Transcript
from core.settings import Settings, StorageSettings
from scripts.reference.settings_page import settings_page
from tests.jobs import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
AUDIO = (FIXTURES / "summary.ogg").read_bytes()
SHELVES: dict[str, dict[str, bytes]] = {}
"""The fake backend's storage: one shelf per URL host, as a bucket."""


class ShelfAudio(Participant):
    """Audio on a shelf in this process: the smallest backend (a class with `from_settings`)."""

    def __init__(self, shelf: dict[str, bytes]) -> None:
        self.shelf = shelf

    @classmethod
    def from_settings(cls, settings: StorageSettings, client: redis.Redis) -> ShelfAudio:
        return cls(SHELVES.setdefault(settings.url.removeprefix("shelf://"), {}))

    def put(self, job_id: str, chunks: Iterable[bytes]) -> int:
        self.shelf[job_id] = b"".join(chunks)
        return len(self.shelf[job_id])

    def get(self, job_id: str) -> bytes | None:
        return self.shelf.get(job_id)

    def copy_to(self, job_id: str, out: BinaryIO) -> bool:
        if job_id not in self.shelf:
            return False
        out.write(self.shelf[job_id])
        return True

    def delete(self, job_id: str) -> None:
        self.shelf.pop(job_id, None)

    def sweep(self, keep: Callable[[str], bool]) -> int:
        return 0

    def on_end(self, pipe: Pipeline, ended: Ended) -> None:
        if not ended.keep_audio_seconds:
            self.delete(ended.job_id)

    def on_erase(self, pipe: Pipeline, erased: Erased) -> None:
        self.delete(erased.job_id)


SHELF = AudioBackend("shelf", ("shelf",), f"{__name__}:ShelfAudio", "shelf://name",
                     "audio on a shelf in the test's own process")


@pytest.fixture()
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(AUDIO_BACKENDS, "shelf", SHELF)
    yield
    SHELVES.clear()


def test_a_registered_backend_is_accepted_built_and_documented(registered: None, clean_redis: redis.Redis) -> None:
    storage = StorageSettings(url="shelf://ward-4")
    assert backend_for(storage.url) is SHELF
    store = make_audio_store(storage, clean_redis)
    assert isinstance(store, ShelfAudio) and store.shelf is SHELVES["ward-4"]
    assert "| `shelf` | `shelf://name` | none | nothing more | audio on a shelf in the test's own process |" in (
        settings_page())


def test_a_url_no_backend_claims_is_refused_at_start_up_naming_those_there_are() -> None:
    with pytest.raises(ValidationError, match=r"names no audio store backend; use one of: \(empty\) \(redis\), "
                                              r"s3://bucket/prefix \(s3\)"):
        StorageSettings(url="shelf://ward-4")
    with pytest.raises(ValidationError, match="must look like s3://bucket/prefix"):
        StorageSettings(url="s3:///no-bucket")


def test_a_backend_whose_library_is_missing_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(AUDIO_BACKENDS, "shelf", AudioBackend(
        "shelf", ("shelf",), f"{__name__}:ShelfAudio", "shelf://name", "", requires=("no_such_shelf_library",)))
    with pytest.raises(ValidationError, match="the shelf backend\\) needs no_such_shelf_library installed"):
        StorageSettings(url="shelf://ward-4")


def test_jobs_submitted_to_the_api_keep_their_audio_in_the_registered_backend_until_they_end(
    registered: None, own_redis_url: str, clean_redis: redis.Redis,
) -> None:
    settings = Settings(REDIS_URL=own_redis_url, dev_mode=True, storage=StorageSettings(url="shelf://ward-4"))
    with TestClient(create_app(settings), base_url="http://localhost") as api:
        created = api.post("/v1/jobs", files={"file": ("a.ogg", AUDIO)})
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert SHELVES["ward-4"] == {job_id: AUDIO}
        store = api.app.state.store  # type: ignore[attr-defined]
        assert isinstance(store.audio, ShelfAudio)

    store = JobStore(clean_redis, 3600, make_audio_store(settings.storage, clean_redis))
    assert store.claim(job_id, "run", "worker-1", 60, 3) is Claim.CLAIMED
    transcript = Transcript(text="Done.", language="en", duration=1.0, segments=[Segment(start=0, end=1, text="Done.")])
    assert store.end(job_id, "run", JobStatus.COMPLETED, transcript)
    assert SHELVES["ward-4"] == {}


# ---- the registry is the only place --------------------------------------------------------------

SOURCE_ROOMS = ("api", "core", "worker", "webhooks", "cli", "dictation", "findings", "scripts")
ALLOWED = {
    # The job store's default audio store when a caller passes none (tests, tools), not a choice by URL.
    ("RedisAudioStore", "core/job_transactions.py"),
}


def _sources() -> Iterator[tuple[str, str]]:
    for room in SOURCE_ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text()


def test_no_module_but_the_registry_and_its_own_names_a_backend_class() -> None:
    named = []
    for backend in AUDIO_BACKENDS.values():
        module, _, cls = backend.store.partition(":")
        own = module.replace(".", "/") + ".py"
        for path, text in _sources():
            if path in (own, "core/audio_backends.py") or (cls, path) in ALLOWED:
                continue
            if re.search(rf"\b{cls}\b", text) or (own != "core/audio_store.py" and module in text):
                named.append((backend.name, path))
    assert named == []


def test_no_module_but_the_registry_reads_the_store_url_to_choose() -> None:
    # make_audio_store hands the URL to the registry; a backend's own class reads its own URL.
    readers = [path for path, text in _sources()
               if re.search(r"\b(storage|settings)\.url\b|[\"']s3://", text)
               and path not in ("core/audio_backends.py", "core/audio_store.py", "core/s3_audio_store.py")]
    assert readers == []
