"""No outside contact at run time: the telemetry switches of the worker's dependencies, forced off.

pyannote.audio 4 (WhisperX's VAD) ships `metrics_enabled: true` and reports each model load and each
VAD call, with the recording's duration, to an OpenTelemetry endpoint of pyannoteAI
(pyannote/pyannote-audio#1896); huggingface_hub and transformers report usage when they download.
A clinical service must not do either, whatever the environment says, so the values are forced, not
defaulted, before any of those packages is imported (huggingface_hub and the OpenTelemetry SDK read
them at import time). The images, compose, `make up` and the Makefile set the same variables, so
tools run beside the worker (and the tests) are quiet too.
"""

from __future__ import annotations

import os
import sys

TELEMETRY_OFF = {
    # pyannote.audio's own switch, read on every tracked call.
    "PYANNOTE_METRICS_ENABLED": "false",
    # The OpenTelemetry SDK pyannote exports through: its tracer provider becomes a no-op.
    "OTEL_SDK_DISABLED": "true",
    # huggingface_hub (and transformers through it): no usage reports.
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # The cross-tool convention (consoledonottrack.com), honoured by huggingface_hub and others.
    "DO_NOT_TRACK": "1",
}


def disable_telemetry() -> None:
    """Force every known telemetry switch off in this process (and the processes it starts)."""
    os.environ.update(TELEMETRY_OFF)


def telemetry_state() -> dict[str, bool]:
    """Which reporters would send (True = on), read from each library itself once it is loaded."""
    metrics = sys.modules.get("pyannote.audio.telemetry.metrics")
    hub = sys.modules.get("huggingface_hub.constants")
    return {
        "pyannote_metrics": bool(metrics.is_metrics_enabled()) if metrics
        else _env_true("PYANNOTE_METRICS_ENABLED", default=True),
        "opentelemetry_sdk": not _env_true("OTEL_SDK_DISABLED"),
        "huggingface_telemetry": not hub.HF_HUB_DISABLE_TELEMETRY if hub
        else not _env_true("HF_HUB_DISABLE_TELEMETRY"),
    }


def _env_true(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")
