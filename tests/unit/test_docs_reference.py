"""The generated reference pages (docs/reference/) match the code they are generated from."""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from types import ModuleType

import pytest
from pydantic_settings import BaseSettings

from core import errors
from core.settings import Settings
from scripts.reference import render_all, stale
from scripts.reference.errors_page import errors_page
from scripts.reference.metrics_page import metrics_page
from scripts.reference.settings_page import settings_page

REPO = Path(__file__).resolve().parents[2]


def test_every_generated_page_is_up_to_date() -> None:
    old = [str(path.relative_to(REPO)) for path in stale(render_all())]
    assert not old, f"stale generated docs: {old}; run scripts/gen_reference.py"


def test_every_setting_appears_with_its_docstring() -> None:
    page = settings_page()

    def leaves(cls: type[BaseSettings]) -> list[tuple[str, str]]:
        found = []
        for name, field in cls.model_fields.items():
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
                found += leaves(field.annotation)
            else:
                found.append((f"{cls.model_config.get('env_prefix', '')}{name}".upper(), field.description or ""))
        return found

    settings = leaves(Settings)
    assert len(settings) >= 89
    for env, doc in settings:
        env = "REDIS_URL" if env == "ENDOSCRIBE_REDIS_URL" else env
        assert f"| `{env}`" in page, env
        assert doc, f"{env} has no docstring"
        assert " ".join(doc.split()).replace("|", "\\|") in page, env
    for wanted, old in (("ENDOSCRIBE_TUNING_WORKER_WARMUP", "ENDOSCRIBE_WARMUP"),
                        ("ENDOSCRIBE_TUNING_WEBHOOK_POLL_SECONDS", "ENDOSCRIBE_WEBHOOK_POLL_SECONDS"),
                        ("ENDOSCRIBE_WORKER_MODEL", "ENDOSCRIBE_MODEL")):
        assert f"| `{wanted}` (or `{old}`) |" in page


def test_tuning_knobs_sit_apart_from_operator_settings() -> None:
    page = settings_page()
    operator, tuning = page.split("## Tuning knobs")
    assert "`ENDOSCRIBE_TUNING_LIVE_ENDPOINT_SILENCE_SECONDS` (or `ENDOSCRIBE_LIVE_ENDPOINT_SILENCE_SECONDS`)" in tuning
    assert "`ENDOSCRIBE_TUNING_LIVE_PROMPT_TOKENS` (or `ENDOSCRIBE_LIVE_PROMPT_TOKENS`)" in tuning
    assert "ENDOSCRIBE_LIVE_ENDPOINT_SILENCE_SECONDS`" not in operator
    assert tuning.count("\n| `ENDOSCRIBE_TUNING_") == 25
    assert "`ENDOSCRIBE_API_KEYS`" in operator and "`ENDOSCRIBE_API_KEYS`" not in tuning


def test_every_metric_appears_with_its_labels() -> None:
    page = metrics_page()
    rows = dict(re.findall(r"^\| `(endoscribe_[a-z_]+)` \| \w+ \| ([^|]*) \|", page, re.M))
    assert rows["endoscribe_http_requests_total"].strip() == "`method`, `route`, `status`"
    assert rows["endoscribe_jobs_ended_total"].strip() == "`status`, `error_code`"
    assert rows["endoscribe_worker_gpu_memory_used_bytes"].strip() == "`gpu`"
    assert rows["endoscribe_webhook_attempts_total"].strip() == "`result`"
    assert rows["endoscribe_redis_up"].strip() == ""
    assert len(rows) >= 26


def test_every_error_code_appears() -> None:
    page = errors_page()
    for code in ("queue_full", "too_many_jobs_in_flight", "audio_silent", "worker_crashed", "invalid_vocabulary",
                 "callback_lookups_busy", "transcription_timeout", "metrics_disabled"):
        assert f"| `{code}` |" in page, code


def test_the_front_page_is_short_and_its_links_lead_somewhere() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    # .ci/run runs the README's test command: keep both commands on the front page.
    assert "make up" in readme and "make test" in readme
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [target for target in targets if "://" not in target]
    assert "docs/dictate.png" in local
    missing = [target for target in local if not (REPO / target).exists()]
    assert not missing, missing


def test_the_error_page_is_the_registry_once_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    class ErrorCode(StrEnum):
        QUEUE_FULL = "queue_full"

        @property
        def meaning(self) -> str:
            return "the service holds as many open jobs as it may; retry after Retry-After"

    def http_status_of(code: ErrorCode) -> int:
        return 503

    api_errors = ModuleType("api.errors")
    api_errors.http_status_of = http_status_of  # type: ignore[attr-defined]
    monkeypatch.setattr(errors, "ErrorCode", ErrorCode, raising=False)
    monkeypatch.setitem(sys.modules, "api.errors", api_errors)
    page = errors_page()
    assert "| `queue_full` | 503 | the service holds as many open jobs as it may; retry after Retry-After |" in page
    assert "Provisional" not in page


def test_every_benchmark_page_says_when_on_what_and_how() -> None:
    pages = sorted((REPO / "docs" / "benchmarks").glob("2*.md"))
    assert pages
    for page in pages:
        text = page.read_text()
        assert f"| Date | {page.name[:10]} |" in text, page.name
        assert re.search(r"^\| Commit \| `[0-9a-f]{7,40}`", text, re.M), page.name
        assert re.search(r"^\| Command \| `[^`]+` \|", text, re.M), page.name
