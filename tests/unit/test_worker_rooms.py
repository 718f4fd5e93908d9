"""The worker's rooms import only downhill: transport, schedule, jobs and live, context and leases, text,
model, metrics. A room may use any room below it, never one beside or above it."""

from __future__ import annotations

import ast
from pathlib import Path

WORKER = Path(__file__).resolve().parents[2] / "worker"
FLOOR = {
    "metrics": 0, "privacy": 0, "model": 1, "text": 2, "leases": 3, "context": 4, "jobs": 5, "live": 5,
    "schedule": 6, "celery": 7, "celery_app": 8, "flowerconfig": 8,
}
"""How high each room (a package or a top-level module of worker/) stands."""


def rooms_imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "worker":
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "worker" else [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "worker"]
        found |= {name.split(".")[1] for name in names if "." in name}
    return found


def test_every_room_of_the_worker_has_a_floor() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in WORKER.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert rooms == set(FLOOR)


def test_imports_between_the_worker_rooms_run_only_downhill() -> None:
    uphill = []
    for path in sorted(WORKER.rglob("*.py")):
        relative = path.relative_to(WORKER)
        if relative == Path("__init__.py"):
            continue
        room = relative.parts[0].removesuffix(".py")
        uphill += [f"{relative} imports worker.{other}" for other in rooms_imported(path)
                   if other != room and FLOOR[other] >= FLOOR[room]]
    assert uphill == []
