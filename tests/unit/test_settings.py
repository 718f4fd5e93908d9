"""Settings come from the environment, once, with the documented names."""

from typing import Any

import pytest
from pydantic import ValidationError

from core.settings import LiveSettings, Settings, WorkerSettings
from core.tuning import RenamedSettings


def test_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6380/2")
    monkeypatch.setenv("ENDOSCRIBE_MODEL", "large-v3")
    monkeypatch.setenv("ENDOSCRIBE_DEVICE", "cuda")
    monkeypatch.setenv("ENDOSCRIBE_BATCH_SIZE", "16")
    monkeypatch.setenv("ENDOSCRIBE_API_KEYS", '["k1", "k2"]')
    monkeypatch.setenv("ENDOSCRIBE_WEBHOOK_RETRY_HOURS", "2")
    settings = Settings()
    assert settings.redis_url == "redis://example.invalid:6380/2"
    worker = settings.worker
    assert (worker.model, worker.device, worker.tuning.batch_size) == ("large-v3", "cuda", 16)
    assert settings.api_keys == ["k1", "k2"]
    assert settings.webhook.retry_hours == 2


def test_visibility_timeout_outlasts_the_longest_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDOSCRIBE_JOB_TIME_LIMIT_SECONDS", "7200")
    settings = Settings()
    assert settings.visibility_timeout_seconds > settings.worker.job_time_limit_seconds + 60


def _read(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value


# One field of every group whose prefix changed: (where it is read, its new name, its old name, two values).
RENAMED = [
    ("live.tuning.endpoint_silence_seconds", "ENDOSCRIBE_TUNING_LIVE_ENDPOINT_SILENCE_SECONDS",
     "ENDOSCRIBE_LIVE_ENDPOINT_SILENCE_SECONDS", 0.7, 0.9),
    ("live.tuning.prompt_tokens", "ENDOSCRIBE_TUNING_LIVE_PROMPT_TOKENS", "ENDOSCRIBE_LIVE_PROMPT_TOKENS", 100, 120),
    ("worker.tuning.decode_lanes", "ENDOSCRIBE_TUNING_WORKER_DECODE_LANES", "ENDOSCRIBE_DECODE_LANES", 2, 3),
    ("worker.tuning.scheduler_high_alone", "ENDOSCRIBE_TUNING_WORKER_SCHEDULER_HIGH_ALONE",
     "ENDOSCRIBE_SCHEDULER_HIGH_ALONE", False, True),
    ("worker.vocabulary.tuning.prompt_words", "ENDOSCRIBE_TUNING_VOCABULARY_PROMPT_WORDS",
     "ENDOSCRIBE_VOCABULARY_PROMPT_WORDS", 30, 40),
    ("webhook.tuning.poll_seconds", "ENDOSCRIBE_TUNING_WEBHOOK_POLL_SECONDS", "ENDOSCRIBE_WEBHOOK_POLL_SECONDS", 2, 3),
    ("storage.tuning.piece_mb", "ENDOSCRIBE_TUNING_AUDIO_STORE_PIECE_MB", "ENDOSCRIBE_AUDIO_STORE_PIECE_MB", 2, 3),
    ("tuning.events_poll_seconds", "ENDOSCRIBE_TUNING_EVENTS_POLL_SECONDS", "ENDOSCRIBE_EVENTS_POLL_SECONDS", 0.2, 0.3),
    ("worker.model", "ENDOSCRIBE_WORKER_MODEL", "ENDOSCRIBE_MODEL", "small", "large-v3"),
    ("worker.max_attempts", "ENDOSCRIBE_WORKER_MAX_ATTEMPTS", "ENDOSCRIBE_MAX_ATTEMPTS", 4, 5),
]


@pytest.mark.parametrize(("path", "new", "old", "old_value", "new_value"), RENAMED, ids=[r[1] for r in RENAMED])
def test_a_renamed_setting_reads_its_new_name_and_its_old_one_and_the_new_one_wins(
        monkeypatch: pytest.MonkeyPatch, path: str, new: str, old: str, old_value: Any, new_value: Any) -> None:
    monkeypatch.delenv(new, raising=False)
    monkeypatch.setenv(old, str(old_value))
    assert _read(Settings(), path) == old_value
    monkeypatch.delenv(old)
    monkeypatch.setenv(new, str(new_value))
    assert _read(Settings(), path) == new_value
    monkeypatch.setenv(old, str(old_value))
    assert _read(Settings(), path) == new_value


def test_every_renamed_group_reads_every_field_under_its_old_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # The old names are derived, not listed: a field added to a renamed group has one too, and the
    # settings reference lists it.
    groups: list[type[RenamedSettings]] = []
    pending: list[type[Any]] = [Settings]
    while pending:
        cls = pending.pop()
        for field in cls.model_fields.values():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, RenamedSettings):
                groups.append(kind)
            if isinstance(kind, type) and hasattr(kind, "model_fields"):
                pending.append(kind)
    assert len(groups) == 7
    for group in groups:
        for name, field in group.model_fields.items():
            if field.annotation in (int, float):
                value = field.get_default() or 7
                monkeypatch.setenv(group.old_env_name(name), str(value + 1))
                assert getattr(group(), name) == value + 1, group.old_env_name(name)


def test_a_knob_given_to_the_group_it_moved_out_of_is_refused_not_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="lag_seconds"):
        LiveSettings(lag_seconds=1)
    with pytest.raises(ValidationError, match="decode_lanes"):
        WorkerSettings(decode_lanes=1)
    # Unknown names in the environment stay ignored (`make up` reads ENDOSCRIBE_API_HOST itself).
    monkeypatch.setenv("ENDOSCRIBE_API_HOST", "0.0.0.0")
    monkeypatch.setenv("ENDOSCRIBE_WORKER_NO_SUCH_SETTING", "1")
    assert Settings().worker.tuning.decode_lanes == 0
