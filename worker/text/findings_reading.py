"""A completed job's structured findings, read from its formatted transcript and stored with it.

Runs after formatting (the rules read "5 mm", "8 minutes"), for a job whose note type has a findings
model. Reading findings never fails a job: an extractor error is logged by its class and traceback
(code, never the text) and the transcript is stored without findings. spaCy is imported on the first
job that needs it and its pipeline is built once per worker process (`findings.note.nlp` is cached),
so the API image, which imports this room's package, never loads spaCy.
"""

from __future__ import annotations

import logging
import time
import traceback

from core.jobs import JobOptions, Transcript
from findings.models import NOTE_TYPE_KINDS, FindingsResult

log = logging.getLogger(__name__)


def has_findings_model(options: JobOptions) -> bool:
    return options.note_type in NOTE_TYPE_KINDS


def read_findings(transcript: Transcript, options: JobOptions, job_id: str = "") -> Transcript:
    """The transcript with its findings attached; unchanged when the note type has none or reading failed."""
    if not has_findings_model(options):
        return transcript
    started = time.perf_counter()
    try:
        from findings.extraction import extract

        found = extract(options.note_type, transcript.text, transcript.segments)
    except Exception as exc:  # noqa: BLE001 - findings are an extra; the transcript is the job's result
        # The exception's message may quote the note; only its class and the code's frames are logged.
        log.error("job %s: reading findings failed (%s); stored without findings\n%s", job_id,
                  exc.__class__.__name__, "".join(traceback.format_tb(exc.__traceback__)))
        return transcript
    # The rules build `Stated(...)` unparametrized; validating the dump gives the typed model the schema
    # describes (and a stored result that serializes without pydantic's warnings).
    result = FindingsResult.model_validate(
        {"note_type": options.note_type, "findings": found.model_dump(warnings=False) if found else None})
    log.debug("job %s: findings read in %.1f ms", job_id, (time.perf_counter() - started) * 1000)
    return transcript.model_copy(update={"findings": result})


def warm_up() -> None:
    """Build the spaCy pipeline now (worker start), so the first job does not pay for it. A worker
    without spaCy still transcribes: its jobs get no findings (each one logs why)."""
    started = time.perf_counter()
    try:
        from findings.note import nlp

        nlp()
    except Exception as exc:  # noqa: BLE001 - findings are an extra; the worker still transcribes
        log.warning("findings are unavailable in this worker (%s); jobs complete without them",
                    exc.__class__.__name__)
        return
    log.info("findings rules ready in %.1f s", time.perf_counter() - started)
