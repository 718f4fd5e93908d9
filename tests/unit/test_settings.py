"""Settings come from the environment, once, with the documented names."""

import pytest

from core.settings import Settings


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6380/2")
    monkeypatch.setenv("ENDOSCRIBE_MODEL", "large-v3")
    monkeypatch.setenv("ENDOSCRIBE_DEVICE", "cuda")
    monkeypatch.setenv("ENDOSCRIBE_BATCH_SIZE", "16")
    monkeypatch.setenv("ENDOSCRIBE_API_KEYS", '["k1", "k2"]')
    monkeypatch.setenv("ENDOSCRIBE_WEBHOOK_RETRY_HOURS", "2")
    settings = Settings()
    assert settings.redis_url == "redis://example.invalid:6380/2"
    assert (settings.worker.model, settings.worker.device, settings.worker.batch_size) == ("large-v3", "cuda", 16)
    assert settings.api_keys == ["k1", "k2"]
    assert settings.webhook.retry_hours == 2


def test_visibility_timeout_outlasts_the_longest_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDOSCRIBE_JOB_TIME_LIMIT_SECONDS", "7200")
    settings = Settings()
    assert settings.visibility_timeout_seconds > settings.worker.job_time_limit_seconds + 60
