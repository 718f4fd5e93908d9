"""Every error code is an `ErrorCode` with a meaning, and every raise site spells one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from api.body_limit import BodyTooLarge
from api.callbacks import CallbackInvalid
from api.errors import LengthRequired, SessionEnded, TranscriptionTimeout, http_status_of
from api.metrics import MetricsDisabled
from api.urls import InvalidHost
from core import errors
from core.errors import EndoScribeError, ErrorCode
from core.jobs import JobStatus
from core.vocabulary import VocabularyInvalid
from webhooks.targets import TargetRefused

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("api", "core", "worker", "webhooks", "cli", "findings", "dictation")
# Calls whose first argument is a code: a session event (`closing(...)`, a socket's `self.error(...)`).
CODE_FIRST = {"closing", "self.error", "self.end"}


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def spelled_codes(tree: ast.AST) -> list[tuple[int, str]]:
    """The error-code string literals of a module: `code=` arguments, a class's `code = ...`, and the
    first argument of the session-event helpers."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += [(node.lineno, v) for k in node.keywords if k.arg == "code" and (v := _literal(k.value))]
            if ast.unparse(node.func) in CODE_FIRST and node.args and (v := _literal(node.args[0])):
                found.append((node.lineno, v))
        elif isinstance(node, ast.ClassDef):
            found += [(s.lineno, v) for s in node.body if isinstance(s, ast.Assign) and (v := _literal(s.value))
                      and any(isinstance(t, ast.Name) and t.id == "code" for t in s.targets)]
    return sorted(found)


def test_every_raise_site_names_its_code_as_an_error_code_member_not_a_string() -> None:
    # A literal that happens to be catalogued still spells the code twice; `ErrorCode.X` is checked by mypy.
    spelled = [f"{path.relative_to(ROOT)}:{line}: {code!r}"
               for folder in SCANNED for path in sorted((ROOT / folder).rglob("*.py"))
               for line, code in spelled_codes(ast.parse(path.read_text()))]
    assert spelled == []


def test_the_scan_finds_a_code_that_is_not_in_the_catalogue() -> None:
    tree = ast.parse('raise NotFound("x", code="no_such_code")\nclass E(Exception):\n    code = "other"\n'
                     'closing("third", "m")\nself.error("fourth", "m")\nlog.error("not a code")')
    assert spelled_codes(tree) == [(1, "no_such_code"), (3, "other"), (4, "third"), (5, "fourth")]


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_has_a_one_line_meaning(code: ErrorCode) -> None:
    assert code.meaning.strip() and "\n" not in code.meaning
    assert code == code.value and ErrorCode.of(code.value) is code


def test_the_catalogue_answers_with_its_meaning() -> None:
    assert ErrorCode.AUDIO_MISSING.meaning == "the job's audio is gone (expired or erased)"
    with pytest.raises(ValueError, match="not an ErrorCode"):
        ErrorCode.of("job_nonsense")


def test_every_error_class_defaults_to_a_catalogued_code_and_core_holds_no_http_status() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, EndoScribeError)]
    assert len(classes) > 10
    for cls in classes:
        assert isinstance(cls.code, ErrorCode), cls
        assert not hasattr(cls, "http_status"), cls


@pytest.mark.parametrize(("error", "status"), [
    (errors.EndoScribeError("m"), 500), (errors.InvalidInput("m"), 400), (errors.Unprocessable("m"), 422),
    (errors.Unauthorized("m"), 401), (errors.NotFound("m"), 404), (errors.Conflict("m"), 409),
    (errors.PayloadTooLarge("m"), 413), (errors.UnsupportedMedia("m"), 415), (errors.Unavailable("m"), 503),
    (errors.TooManyRequests("m", 1), 429), (errors.Overloaded("m", 1), 503),
    (errors.StorageUnavailable("m", 1), 503), (errors.AudioError("m"), 422), (errors.JobCancelled("m"), 409),
    (LengthRequired("m"), 411), (SessionEnded("m"), 410), (TranscriptionTimeout("m"), 504),
    (VocabularyInvalid("m"), 422), (TargetRefused("m"), 422), (CallbackInvalid("m"), 422),
    (MetricsDisabled("m"), 404), (BodyTooLarge("m"), 413), (InvalidHost("m"), 400),
])
def test_each_error_answers_with_the_http_status_it_always_had(error: EndoScribeError, status: int) -> None:
    assert http_status_of(error) == status


@pytest.mark.parametrize("status", list(JobStatus))
def test_each_job_status_has_the_code_a_refusal_made_from_it_carries(status: JobStatus) -> None:
    assert ErrorCode.of(f"job_{status.value}").meaning
