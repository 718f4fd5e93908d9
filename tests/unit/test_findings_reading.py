"""The worker's findings step: findings for a note type with a model, never a failed job, no text in logs."""

from __future__ import annotations

import logging
import time

import pytest

from core.jobs import JobOptions, Segment, Transcript
from worker.text import findings_reading

TEXT = "The scope was advanced to the terminal ileum. A 5 mm sessile polyp in the sigmoid colon was removed."


def transcript(text: str = TEXT) -> Transcript:
    return Transcript(text=text, language="en", duration=6.0, segments=[Segment(start=0.0, end=6.0, text=text)])


def test_a_colonoscopy_job_gets_its_findings_with_spans_and_audio_times() -> None:
    found = findings_reading.read_findings(transcript(), JobOptions(note_type="colonoscopy"), "job-1").findings
    assert found is not None and found.note_type == "colonoscopy" and found.findings is not None
    [polyp] = found.findings.polyps  # type: ignore[union-attr]
    assert polyp.size_mm is not None and (polyp.size_mm.value, polyp.size_mm.unit) == (5.0, "mm")
    assert TEXT[polyp.size_mm.start:polyp.size_mm.end] == "5 mm"
    assert polyp.size_mm.audio_start is not None and 0.0 <= polyp.size_mm.audio_start <= 6.0


@pytest.mark.parametrize("note_type", [None, "endoscopy", "procedure"])
def test_a_note_type_without_a_findings_model_stores_no_findings(note_type: str | None) -> None:
    assert findings_reading.read_findings(transcript(), JobOptions(note_type=note_type)).findings is None


def test_an_extractor_error_leaves_the_transcript_whole_and_logs_no_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(note_type: str | None, text: str, segments: object) -> None:
        raise ValueError(f"cannot read {text}")

    monkeypatch.setattr("findings.extraction.extract", broken)
    with caplog.at_level(logging.ERROR):
        out = findings_reading.read_findings(transcript(), JobOptions(note_type="colonoscopy"), "job-2")
    assert out == transcript()
    assert "job-2" in caplog.text and "ValueError" in caplog.text
    assert "sigmoid" not in caplog.text and "polyp" not in caplog.text


def test_reading_findings_costs_milliseconds_once_spacy_is_loaded() -> None:
    findings_reading.warm_up()
    options = JobOptions(note_type="colonoscopy")
    started = time.perf_counter()
    for _ in range(20):
        findings_reading.read_findings(transcript(), options)
    # Generous for a shared CI core; measured at a few ms per note (docs/guides/findings.md).
    assert (time.perf_counter() - started) / 20 < 0.25
