"""The settings reference: every `ENDOSCRIBE_*` variable of `core.settings`, operator settings apart from tuning."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic_settings import BaseSettings

from core.audio_backends import AUDIO_BACKENDS
from core.settings import Settings, StorageSettings
from core.tuning import RenamedSettings, TuningSettings
from scripts.reference.markdown import HEADER, cell


@dataclass(frozen=True)
class Setting:
    group: str
    group_doc: str
    tuning: bool
    env: str
    aliases: tuple[str, ...]
    type: str
    default: str
    constraints: str
    doc: str


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(f"`{value}`" for value in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if typing.get_origin(annotation) is not None:
        return str(annotation).replace("typing.", "")
    return "empty" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _default_text(value: object) -> str:
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value is None or value == "":
        return "empty"
    if isinstance(value, list):
        return f"`{json.dumps(value)}`" if value else "`[]`"
    return f"`{value}`"


def _constraints(metadata: list[Any]) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = [f"{sign} {getattr(item, name)}" for item in metadata
             for name, sign in words.items() if hasattr(item, name)]
    return ", ".join(parts)


def _group_title(cls: type[BaseSettings]) -> str:
    prefix = cls.model_config.get("env_prefix", "")
    old = f"; before, `{cls.old_env_prefix}*`" if issubclass(cls, RenamedSettings) else ""
    return f"{cls.__name__} (`{prefix}*`{old})"


def _old_names(cls: type[BaseSettings], name: str) -> tuple[str, ...]:
    return (cls.old_env_name(name),) if issubclass(cls, RenamedSettings) else ()


def _group_doc(cls: type[BaseSettings]) -> str:
    return " ".join((cls.__doc__ or "").split())


def collect_settings() -> list[Setting]:
    """Every setting of `core.settings.Settings`, nested groups after the top level's own fields."""

    found: list[Setting] = []

    def walk(cls: type[BaseSettings]) -> None:
        prefix = cls.model_config.get("env_prefix", "")
        nested: list[type[BaseSettings]] = []
        for name, field in cls.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
                nested.append(annotation)
                continue
            alias = field.validation_alias
            names = tuple(getattr(alias, "choices", ())) if alias is not None else ()
            env = str(names[0]) if names else f"{prefix}{name}".upper()
            default = field.get_default(call_default_factory=True)
            aliases = tuple(str(n) for n in names[1:]) + _old_names(cls, name)
            found.append(Setting(_group_title(cls), _group_doc(cls), issubclass(cls, TuningSettings), env, aliases,
                                 _type_name(annotation), _default_text(default), _constraints(field.metadata),
                                 field.description or ""))
        for group in nested:
            walk(group)

    walk(Settings)
    return found


def is_tuning(setting: Setting) -> bool:
    """A knob of a tuning group (`core.tuning`): a measured default, apart from what a deployment configures."""
    return setting.tuning


def _settings_tables(settings: list[Setting]) -> Iterator[str]:
    groups: dict[str, list[Setting]] = {}
    for setting in settings:
        groups.setdefault(setting.group, []).append(setting)
    for group, members in groups.items():
        yield f"### {group}\n\n{members[0].group_doc}\n\n"
        yield "| Variable | Type | Default | Meaning |\n|---|---|---|---|\n"
        for s in members:
            name = f"`{s.env}`" + "".join(f" (or `{alias}`)" for alias in s.aliases)
            kind = s.type + (f" ({s.constraints})" if s.constraints else "")
            yield f"| {name} | {cell(kind)} | {cell(s.default)} | {cell(s.doc)} |\n"
        yield "\n"


def _backends_table() -> Iterator[str]:
    """`core.audio_backends`: which `ENDOSCRIBE_AUDIO_STORE_URL` picks which store, its settings, its needs."""
    yield ("## Audio store backends\n\n`ENDOSCRIBE_AUDIO_STORE_URL` picks one, by its scheme; each is one entry "
           "of `AUDIO_BACKENDS` in `core/audio_backends.py`.\n\n")
    yield "| Backend | `ENDOSCRIBE_AUDIO_STORE_URL` | Its settings | Needs installed | What it is |\n"
    yield "|---|---|---|---|---|\n"
    for b in AUDIO_BACKENDS.values():
        group = StorageSettings.model_fields[b.settings_group].annotation if b.settings_group else None
        prefix = getattr(group, "model_config", {}).get("env_prefix", "")
        settings = f"`{prefix}*`" if prefix else "none"
        needs = ", ".join(f"`{m}`" for m in b.requires) or "nothing more"
        yield f"| `{b.name}` | `{b.url_form}` | {settings} | {needs} | {cell(b.description)} |\n"
    yield "\n"


def settings_page() -> str:
    settings = collect_settings()
    operator = [s for s in settings if not is_tuning(s)]
    tuning = [s for s in settings if is_tuning(s)]
    return "".join([
        HEADER,
        "# Settings\n\n",
        f"Every setting EndoScribe reads from the environment: {len(settings)} in all, from `core/settings.py` "
        "(its groups in `core/work_settings.py` and `core/service_settings.py`) and `core/tuning.py` "
        "(one settings object, read once per process). Each row is the field's own "
        "docstring. Lists are "
        'JSON (`ENDOSCRIBE_API_KEYS=\'["key1"]\'`); booleans are `true` or `false`. How to set them, and '
        "which ones a deployment needs, is in [Configuration](../operations/configuration.md).\n\n",
        f"## Operator settings\n\nWhat a deployment configures: {len(operator)} settings.\n\n",
        *_settings_tables(operator),
        *_backends_table(),
        f"## Tuning knobs\n\n{len(tuning)} settings whose defaults were measured (endpointing, prompt lengths, "
        "batching, polling): change one only with a measurement to show for it (the "
        "[benchmarks](../benchmarks/index.md) say how each was taken). Each area's knobs are a group, "
        "declared in `core/tuning.py` and read as `tuning` beside the area's settings "
        "(`settings.live.tuning`), named like the area's with `TUNING_` after `ENDOSCRIBE_`. The name a "
        "setting had before its group moved "
        "(`ENDOSCRIBE_LIVE_LAG_SECONDS`, `ENDOSCRIBE_MODEL`) is still read, in brackets in each row; "
        "where both are set, the new one wins.\n\n",
        *_settings_tables(tuning),
    ])
