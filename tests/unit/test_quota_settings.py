"""Quota settings come from `ENDOSCRIBE_QUOTA_*`, and a rate that can't be read stops start-up."""

import pytest
from pydantic import ValidationError

from core.settings import QuotaSettings, Settings


def test_quota_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MAX_JOBS_IN_FLIGHT": "5", "MAX_AUDIO_HOURS_PER_DAY": "2.5", "REQUEST_RATE": "10/second;300/minute",
        "REDELIVER_RATE": "2/hour", "MAX_QUEUE_DEPTH": "50", "MAX_REDIS_MEMORY_FRACTION": "0.5",
        "MAX_REDIS_MEMORY_MB": "900", "BUSY_RETRY_SECONDS": "12", "WEBHOOK_ATTEMPTS_KEPT": "3",
    }.items():
        monkeypatch.setenv(f"ENDOSCRIBE_QUOTA_{name}", value)

    assert Settings().quota == QuotaSettings(
        max_jobs_in_flight=5, max_audio_hours_per_day=2.5, request_rate="10/second;300/minute",
        redeliver_rate="2/hour", max_queue_depth=50, max_redis_memory_fraction=0.5, max_redis_memory_mb=900,
        busy_retry_seconds=12, webhook_attempts_kept=3)


def test_a_rate_that_cannot_be_read_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDOSCRIBE_QUOTA_REQUEST_RATE", "fifty a second")
    with pytest.raises(ValidationError, match="couldn't parse rate limit string 'fifty a second'"):
        Settings()
