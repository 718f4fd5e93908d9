"""The error reference: from `core.errors.ErrorCode` once it exists, else the codes found in the source."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scripts.reference.markdown import HEADER, REPO, cell


@dataclass(frozen=True)
class ErrorDoc:
    code: str
    status: str  # the HTTP status, or (found in the source) the error classes raised with it
    meaning: str


def errors_from_registry() -> list[ErrorDoc] | None:
    """From `core.errors.ErrorCode` (value, `.meaning`) and `api.errors.http_status_of`, where they exist."""
    errors = importlib.import_module("core.errors")
    registry = getattr(errors, "ErrorCode", None)
    if registry is None:
        return None
    try:
        status_of: Callable[[Any], object] | None = importlib.import_module("api.errors").http_status_of
    except (ModuleNotFoundError, AttributeError):
        status_of = None
    return [ErrorDoc(str(code.value), str(status_of(code)) if status_of else "", str(code.meaning))
            for code in registry]


SCANNED_PACKAGES = ("api", "core", "worker", "webhooks")


def errors_from_source() -> list[ErrorDoc]:
    """Codes found in the source: error classes' `code`, and `code="..."` arguments, with the class raised."""
    trees = [ast.parse(path.read_text())
             for package in SCANNED_PACKAGES for path in sorted((REPO / package).rglob("*.py"))]
    found: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for statement in node.body:
                    if (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
                            and isinstance(statement.value.value, str)
                            and any(isinstance(t, ast.Name) and t.id == "code" for t in statement.targets)):
                        found.setdefault(statement.value.value, set()).add(node.name)
            elif isinstance(node, ast.Call):
                callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                for keyword in node.keywords:
                    if (keyword.arg == "code" and isinstance(keyword.value, ast.Constant)
                            and isinstance(keyword.value.value, str) and callee[:1].isupper()):
                        found.setdefault(keyword.value.value, set()).add(callee)
    return [ErrorDoc(code, ", ".join(f"`{name}`" for name in sorted(raised)), "")
            for code, raised in sorted(found.items())]


def errors_page() -> str:
    registry = errors_from_registry()
    parts = [HEADER, "# Errors\n\n",
             'Every error EndoScribe answers is `{"error": {"code": "...", "message": "..."}}`; a job that fails '
             "carries the same `{code, message}` in its `error` field. The code is the contract: match on it, "
             "show the message (it says what to do). How the API maps errors, and how to add one: "
             "[House style](../contributing/house-style.md#the-error-tree).\n\n"]
    if registry is not None:
        parts.append(f"{len(registry)} codes, from `core.errors.ErrorCode`.\n\n")
        parts.append("| Code | HTTP status | Meaning |\n|---|---|---|\n")
        parts.extend(f"| `{e.code}` | {e.status} | {cell(e.meaning)} |\n" for e in registry)
    else:
        scanned = errors_from_source()
        parts.append(
            "!!! warning \"Provisional\"\n"
            "    This page lists the codes found in the source (error classes' `code`, and `code=\"...\"` "
            "arguments to an error class), with the classes that carry them. Each code's meaning and HTTP "
            "status come from `core.errors.ErrorCode` and `api.errors.http_status_of` once they exist; the "
            "generator then uses them by itself. The live stream's event codes (`chunk_too_short`, "
            "`sequence_gap`, ...) are in [Live dictation](../guides/live-dictation.md#the-protocol).\n\n")
        parts.append(f"{len(scanned)} codes.\n\n| Code | Raised as |\n|---|---|\n")
        parts.extend(f"| `{e.code}` | {e.status} |\n" for e in scanned)
    return "".join(parts)
