"""Test tiers by cost, found from what a test reaches, so that a new test is tiered without a marker.

- `redis`: a real redis-server (in process: the test talks to it; no other service runs).
- `system`: spawns a service process (API, worker, deliverer, Flower, moto, `up.sh`, a Python child).
- `model`: loads a model (WhisperX in a worker process or in the test's own).
- `gpu`: needs a CUDA GPU (`tests/gpu/`).

A test's tier comes from the names its code, its fixtures' code and the `tests.*` helpers they call
refer to (a walk over their code objects, not a guess from file names). A spawner the walk misses is
caught when it runs: `guard_spawns` fails a test outside `system` that starts any program but the
few a fast test may run.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

SPAWNERS: dict[str, set[str]] = {
    "start_api": {"system"},
    "start_deliverer": {"system"},
    "start_s3": {"system"},
    "start_worker": {"system", "model"},
    # The primitive every service helper uses, reached when a test starts a service itself.
    "Process": {"system"},
    "executable": {"system"},  # sys.executable: a Python child
    "ModelManager": {"model"},
    "whisperx": {"model"},
}
"""Names whose use puts a test in a tier; the walk does not look inside them."""

SPAWN_CALLS = {"run", "Popen", "check_output", "check_call", "call"}
"""`subprocess.<one of these>`: a helper that calls one spawns a service, unless it names one of
FAST_PROGRAMS (ffmpeg, openssl) as a string."""

REDIS_STARTER = re.compile(r"start_\w*redis")
"""`start_redis`, `start_tls_redis`: a redis-server, which the fast tier has."""

FAST_PROGRAMS = {"redis-server", "ffmpeg", "ffprobe", "openssl"}
"""What a test outside `system` may spawn: Redis, and the short-lived tools the code under test runs."""

FOLDERS = {"e2e": {"system"}, "gpu": {"gpu", "model"}}
"""Whole folders: end-to-end tests drive the real stack; GPU tests load models on CUDA."""

def tiers_of(item: pytest.Item) -> set[str]:
    """The tiers one collected test belongs to."""
    found: set[str] = set()
    path = Path(str(item.path))
    for folder, tiers in FOLDERS.items():
        if folder in path.parts:
            found |= tiers
    functions: list[Callable[..., Any]] = [getattr(item, "obj", None) or (lambda: None)]
    info = getattr(item, "_fixtureinfo", None)
    for name in getattr(item, "fixturenames", ()):
        defs = info.name2fixturedefs.get(name) if info is not None else None
        if defs and _is_test_helper(defs[-1].func):  # pytest's own fixtures spawn nothing
            functions.append(defs[-1].func)
    seen: set[int] = set()
    for function in functions:
        found |= _reached(function, seen)
    return found


def _reached(obj: Any, seen: set[int]) -> set[str]:
    """The tiers `obj` (a function or class) puts a test in, following the `tests.*` helpers it uses."""
    found: set[str] = set()
    codes = list(_codes(obj, seen))
    strings = {c for code, _ in codes for c in code.co_consts if isinstance(c, str)}
    names = {n for code, _ in codes for n in code.co_names}
    if "subprocess" in names and names & SPAWN_CALLS and not strings & FAST_PROGRAMS:
        found.add("system")
    for code, namespace in codes:
        for name in code.co_names:
            if name in SPAWNERS:
                found |= SPAWNERS[name]
            elif REDIS_STARTER.fullmatch(name):
                found.add("redis")
            else:
                target = namespace.get(name)
                if _is_test_helper(target):
                    found |= _reached(target, seen)
    return found


def _codes(obj: Any, seen: set[int]) -> Iterable[tuple[types.CodeType, dict[str, Any]]]:
    """Every code object of a function (its lambdas and inner functions too) or of a class's methods."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if isinstance(obj, type):
        namespace = vars(sys.modules[obj.__module__])
        for member in vars(obj).values():
            member = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if isinstance(member, types.FunctionType):
                yield from _nested(member.__code__, namespace)
    elif isinstance(obj, types.FunctionType):
        yield from _nested(obj.__code__, obj.__globals__)


def _nested(code: types.CodeType, namespace: dict[str, Any]) -> Iterable[tuple[types.CodeType, dict[str, Any]]]:
    yield code, namespace
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested(const, namespace)


def _is_test_helper(target: object) -> bool:
    module = getattr(target, "__module__", None) or ""
    return isinstance(target, (types.FunctionType, type)) and module.split(".")[0] == "tests"


def apply(items: Iterable[pytest.Item]) -> None:
    """Mark every test with its tiers (on top of any marker it already carries)."""
    for item in items:
        for tier in sorted(tiers_of(item)):
            item.add_marker(tier)


def heaviest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """Modules with model tests, then those with system tests, then the rest, each module's tests in
    their order: spread over xdist's processes a module at a time, the long ones start first and the
    short ones fill in at the end, instead of one long module starting last."""
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        weight = 0 if item.get_closest_marker("model") else 1 if item.get_closest_marker("system") else 2
        rank[module] = min(rank.get(module, 2), weight)
    return sorted(items, key=lambda item: rank[item.nodeid.split("::")[0]])


class SpawnGuard:
    """An audit hook that fails a test outside `system` when it starts a program a fast test may not."""

    def __init__(self) -> None:
        self.item: pytest.Item | None = None

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "subprocess.Popen" or self.item is None or self.item.get_closest_marker("system"):
            return
        executable, argv = args[0], args[1]
        first = executable or (argv if isinstance(argv, (str, bytes)) else next(iter(argv), ""))
        program = Path(str(first.decode() if isinstance(first, bytes) else first)).name
        if program not in FAST_PROGRAMS:
            raise RuntimeError(
                f"{self.item.nodeid} starts {program!r} but is not in the `system` tier: start services "
                "through tests.services (start_api, start_worker, ...) so the tier is found, or mark it "
                "@pytest.mark.system"
            )
