"""Verification mode's rules, without a store: how long a job keeps its audio (asked, its key's default,
the deployment's limit, never past its record), and when the audio route stops serving it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from api.routes.audio import check_kept
from api.submissions import kept_for
from core.errors import ErrorCode, NotFound, Unprocessable
from core.job_transactions import _kept_for, _Snapshot
from core.jobs import JobOptions, JobRecord, JobStatus
from core.settings import StorageSettings

STORAGE = StorageSettings(keep_audio_max_seconds=3600, keep_audio_seconds_by_key={"reviewers": 600})
ENDED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_a_job_keeps_what_it_asks_else_its_keys_default_else_nothing() -> None:
    assert kept_for(120, STORAGE, "reviewers") == 120
    assert kept_for(0, STORAGE, "reviewers") == 0
    assert kept_for(None, STORAGE, "reviewers") == 600
    assert kept_for(None, STORAGE, "clinic") == 0


def test_keeping_past_the_limit_is_refused_and_off_means_off() -> None:
    with pytest.raises(Unprocessable, match="keep_audio_seconds is 3601; the limit is 3600 s") as over:
        kept_for(3601, STORAGE, "clinic")
    assert over.value.code == ErrorCode.KEEP_AUDIO_REFUSED
    with pytest.raises(Unprocessable, match="verification mode is off"):
        kept_for(1, StorageSettings(keep_audio_max_seconds=0), "clinic")


def test_a_keys_default_over_the_limit_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="KEEP_AUDIO_SECONDS_BY_KEY holds 1 value"):
        StorageSettings(keep_audio_max_seconds=60, keep_audio_seconds_by_key={"reviewers": 61})


def test_kept_audio_never_outlives_its_job_record() -> None:
    assert _kept_for(_Snapshot(None, ttl_ms=3_600_000, keep_audio_seconds=600)) == 600
    assert _kept_for(_Snapshot(None, ttl_ms=90_500, keep_audio_seconds=600)) == 90
    assert _kept_for(_Snapshot(None, ttl_ms=400, keep_audio_seconds=600)) == 0
    assert _kept_for(_Snapshot(None, ttl_ms=3_600_000, keep_audio_seconds=0)) == 0


def record(status: JobStatus, keep: int) -> JobRecord:
    return JobRecord(id="j", status=status, options=JobOptions(keep_audio_seconds=keep),
                     created_at=ENDED - timedelta(minutes=5), finished_at=ENDED if status.is_final else None)


def refusal(job: JobRecord, now: datetime) -> str | None:
    try:
        check_kept(job, now)
    except NotFound as exc:
        return str(exc.code)
    return None


def test_the_audio_is_served_while_the_job_runs_and_within_its_window_only() -> None:
    assert refusal(record(JobStatus.PROCESSING, 0), ENDED) is None
    assert refusal(record(JobStatus.COMPLETED, 0), ENDED) == "audio_not_kept"
    assert refusal(record(JobStatus.COMPLETED, 60), ENDED + timedelta(seconds=59)) is None
    assert refusal(record(JobStatus.FAILED, 60), ENDED + timedelta(seconds=60)) == "audio_expired"
