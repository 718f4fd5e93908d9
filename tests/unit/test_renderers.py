"""The result renderers: one stored transcript, four formats."""

import json

import pytest

from core.errors import Conflict
from core.jobs import Segment, Transcript
from core.renderers import render

TRANSCRIPT = Transcript(
    text="Scope advanced to the cecum. No polyps.",
    language="en",
    duration=3725.5,
    segments=[
        Segment(start=0.0, end=2.5004, text="Scope advanced to the cecum."),
        Segment(start=3723.25, end=3725.5, text="No polyps."),
        Segment(start=3725.5, end=3725.5, text="   "),
    ],
)


def test_txt_is_the_plain_text() -> None:
    assert render(TRANSCRIPT, "txt") == "Scope advanced to the cecum. No polyps.\n"


def test_srt_numbers_cues_and_uses_commas_in_timestamps() -> None:
    assert render(TRANSCRIPT, "srt") == (
        "1\n00:00:00,000 --> 00:00:02,500\nScope advanced to the cecum.\n"
        "\n"
        "2\n01:02:03,250 --> 01:02:05,500\nNo polyps.\n"
    )


def test_vtt_has_a_header_and_dots_in_timestamps() -> None:
    assert render(TRANSCRIPT, "vtt") == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.500\nScope advanced to the cecum.\n"
        "\n"
        "01:02:03.250 --> 01:02:05.500\nNo polyps.\n"
    )


def test_cue_text_cannot_break_the_cue_structure() -> None:
    tricky = Transcript(text="a", language="en", duration=1, segments=[Segment(start=0, end=1, text="a\n\nb --> c")])
    # A paragraph break is a space on screen; an arrow is not a timing line.
    assert render(tricky, "srt") == "1\n00:00:00,000 --> 00:00:01,000\na b -> c\n"


def test_json_round_trips_and_leaves_out_missing_words() -> None:
    body = render(TRANSCRIPT, "json")
    assert Transcript.model_validate_json(body) == TRANSCRIPT
    assert '"words"' not in body


def test_a_formatted_note_renders_its_paragraphs_and_keeps_the_raw_text_in_json_only() -> None:
    import json

    from core.jobs import JobOptions
    from worker.text.formatting import format_transcript

    said = Transcript(text="Findings colon five millimeter polyp period new paragraph Plan colon repeat",
                      language="en", duration=4.0, segments=[
                          Segment(start=0.0, end=2.0, text="Findings colon five millimeter polyp period"),
                          Segment(start=2.0, end=4.0, text="new paragraph Plan colon repeat")])
    note = format_transcript(said, JobOptions(note_type="colonoscopy"))

    assert render(note, "txt") == "Findings: 5 mm polyp.\n\nPlan: repeat\n"
    assert render(note, "srt") == ("1\n00:00:00,000 --> 00:00:02,000\nFindings: 5 mm polyp.\n\n"
                                   "2\n00:00:02,000 --> 00:00:04,000\nPlan: repeat\n")
    assert json.loads(render(note, "json"))["raw_text"] == said.text
    assert "raw_text" not in json.loads(render(said, "json"))


def test_findings_is_its_own_format_and_json_stays_the_transcript() -> None:
    from core.jobs import JobOptions
    from worker.text.findings_reading import read_findings

    text = "The scope was advanced to the cecum. No polyps were seen."
    stored = read_findings(TRANSCRIPT.model_copy(update={"text": text}), JobOptions(note_type="colonoscopy"))
    body = json.loads(render(stored, "findings"))
    assert body["note_type"] == "colonoscopy"
    assert body["findings"]["kind"] == "colonoscopy"
    assert body["findings"]["cecum_reached"]["value"] is True
    assert body["findings"]["polyps_absent"]["value"] is True and body["findings"]["polyps"] == []
    assert "findings" not in json.loads(render(stored, "json"))


def test_a_transcript_without_findings_is_a_clear_conflict() -> None:
    with pytest.raises(Conflict) as raised:
        render(TRANSCRIPT, "findings")
    assert raised.value.code == "findings_unavailable"
    assert "format=json" in raised.value.message
