"""`core/` is the contract both sides share: it imports nothing HTTP (FastAPI, Starlette)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
HTTP_PACKAGES = {"fastapi", "starlette", "sse_starlette", "fastapi_offline"}


def http_imports(tree: ast.AST) -> list[str]:
    """The HTTP packages a module imports, at any depth (a function's lazy import counts too)."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return [n for n in names if n.split(".")[0] in HTTP_PACKAGES]


def test_core_imports_nothing_from_fastapi_or_starlette() -> None:
    found = {str(path.relative_to(CORE)): imports for path in sorted(CORE.rglob("*.py"))
             if (imports := http_imports(ast.parse(path.read_text())))}
    assert found == {}


def test_the_scan_sees_every_kind_of_import() -> None:
    tree = ast.parse("import fastapi\nfrom starlette.types import Scope\ndef f():\n    import sse_starlette.sse\n"
                     "import redis\nfrom pydantic import BaseModel")
    assert http_imports(tree) == ["fastapi", "starlette.types", "sse_starlette.sse"]
