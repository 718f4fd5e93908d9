"""The MDM messages a note's lifecycle sends, parsed back with python-hl7 field by field."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import hl7
import pytest

from webhooks.hl7_messages import (
    Addressing,
    CompletionStatus,
    NoteDocument,
    ResultStatus,
    TriggerEvent,
    ack_code,
    document_number,
    escape_text,
    hl7_timestamp,
    identifier_from_reference,
    mdm_message,
    new_control_id,
)

SUBMITTED = datetime(2026, 12, 3, 9, 0, 0, tzinfo=UTC)
TRANSCRIBED = datetime(2026, 12, 3, 9, 2, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 10, 15, 0, tzinfo=UTC)

PRELIMINARY = NoteDocument(
    job_id="job-1", version=1, text="Cecum reached.\nPolyp 5 mm removed.", note_type="colonoscopy",
    document_number=document_number("job-1", 1), activity_at=TRANSCRIBED, originated_at=SUBMITTED,
    transcribed_at=TRANSCRIBED, patient_reference="Patient/123", encounter_reference="Encounter/E9",
)


def field(message: hl7.Message, segment: str, index: int) -> str:
    return str(message.segment(segment)(index))


def test_the_preliminary_note_is_an_mdm_t02_with_header_event_patient_visit_document_and_text() -> None:
    wire = mdm_message(PRELIMINARY, TriggerEvent.ORIGINAL, "CTRL1", NOW,
                       Addressing("Endo Unit", "EPIC", "GENERAL HOSPITAL"))
    message = hl7.parse(wire)

    assert wire.endswith("\r") and "\n" not in wire
    assert [str(s(0)) for s in message] == ["MSH", "EVN", "PID", "PV1", "TXA", "OBX", "OBX"]
    msh = message.segment("MSH")
    assert [str(msh(i)) for i in (3, 4, 5, 6, 7, 9, 10, 11, 12, 18)] == [
        "EndoScribe", "Endo Unit", "EPIC", "GENERAL HOSPITAL", "20261203101500+0000", "MDM^T02^MDM_T02",
        "CTRL1", "P", "2.5.1", "UNICODE UTF-8"]
    assert [field(message, "EVN", 1), field(message, "EVN", 2)] == ["T02", "20261203101500+0000"]
    assert field(message, "PID", 3) == "123^^^^PI"
    assert field(message, "PV1", 2) == "U"
    assert field(message, "PV1", 19) == "E9^^^^VN"
    txa = message.segment("TXA")
    assert {i: str(txa(i)) for i in range(1, len(txa))} == {
        1: "1", 2: "PN", 3: "TX", 4: "20261203090230+0000", 5: "", 6: "20261203090000+0000",
        7: "20261203090230+0000", 8: "", 9: "", 10: "", 11: "", 12: "job-1-1^EndoScribe", 13: "", 14: "", 15: "",
        16: "job-1-1", 17: "DO", 18: "", 19: "AV"}
    obx = message.segments("OBX")
    assert [[str(o(i)) for i in (1, 2, 3, 4, 5, 11)] for o in obx] == [
        ["1", "TX", "18746-8^Colonoscopy study^LN", "1", "Cecum reached.", "P"],
        ["2", "TX", "18746-8^Colonoscopy study^LN", "1", "Polyp 5 mm removed.", "P"],
    ]


def test_a_signature_is_a_t02_legally_authenticated_with_the_signer_and_time() -> None:
    signed = replace(PRELIMINARY, version=2, activity_at=NOW, author="Practitioner/77", signer="Practitioner/77",
                     signed_at=NOW, completion=CompletionStatus.LEGALLY_AUTHENTICATED,
                     result_status=ResultStatus.FINAL)
    message = hl7.parse(mdm_message(signed, TriggerEvent.ORIGINAL, "CTRL2", NOW))

    assert field(message, "MSH", 9) == "MDM^T02^MDM_T02"
    txa = message.segment("TXA")
    assert str(txa(17)) == "LA"
    assert str(txa(12)) == "job-1-1^EndoScribe"  # the same document...
    assert str(txa(16)) == "job-1-2"  # ...in its second version
    assert [str(txa(5)), str(txa(9)), str(txa(10))] == ["77", "77", "77"]
    assert str(txa(22)(1)(1)) == "77"
    assert str(txa(22)(1)(15)) == "20261203101500+0000"
    assert {str(o(11)) for o in message.segments("OBX")} == {"F"}


def test_a_correction_is_a_t08_of_the_same_document_with_its_edit_time_and_reason() -> None:
    corrected = replace(PRELIMINARY, version=2, text="Cecum reached.\nPolyp 6 mm removed.", activity_at=NOW,
                        author="Practitioner/77", change_reason="reviewer correction")
    message = hl7.parse(mdm_message(corrected, TriggerEvent.EDIT, "CTRL3", NOW))

    assert field(message, "MSH", 9) == "MDM^T08^MDM_T02"
    assert field(message, "EVN", 1) == "T08"
    assert [field(message, "TXA", i) for i in (8, 12, 13, 16, 17, 21)] == [
        "20261203101500+0000", "job-1-1^EndoScribe", "", "job-1-2", "DO", "reviewer correction"]
    assert len(message.segment("TXA")) == 22  # nobody signed: no TXA-22
    assert str(message.segments("OBX")[1](5)) == "Polyp 6 mm removed."


def test_an_amendment_is_a_t10_new_document_whose_parent_is_the_signed_one() -> None:
    amended = replace(PRELIMINARY, version=3, document_number=document_number("job-1", 3),
                      parent_number=document_number("job-1", 1), activity_at=NOW, author="Practitioner/77",
                      signer="Practitioner/77", signed_at=NOW, completion=CompletionStatus.LEGALLY_AUTHENTICATED,
                      result_status=ResultStatus.CORRECTED, change_reason="addendum: pathology")
    message = hl7.parse(mdm_message(amended, TriggerEvent.REPLACEMENT, "CTRL4", NOW))

    assert field(message, "MSH", 9) == "MDM^T10^MDM_T02"
    assert [field(message, "TXA", i) for i in (12, 13, 16, 17, 21)] == [
        "job-1-3^EndoScribe", "job-1-1^EndoScribe", "job-1-3", "LA", "addendum: pathology"]
    assert {str(o(11)) for o in message.segments("OBX")} == {"C"}


def test_delimiters_in_the_text_are_escaped_and_come_back_unescaped() -> None:
    text = "BP 120|80 ^ HR 60 ~ 5 mg & 10 mg \\ done\nnaïve café — 5 µg"
    message = hl7.parse(mdm_message(replace(PRELIMINARY, text=text), TriggerEvent.ORIGINAL, "C", NOW))

    obx = message.segments("OBX")
    assert len(obx) == 2  # no delimiter split a segment or a field
    assert [len(o) for o in obx] == [12, 12]
    assert [message.unescape(str(o(5))) for o in obx] == text.splitlines()
    assert "naïve café — 5 µg" in str(obx[1](5))  # UTF-8 as declared, not hex escapes


def test_blank_lines_are_kept_and_an_empty_note_still_has_one_observation() -> None:
    message = hl7.parse(mdm_message(replace(PRELIMINARY, text="one\n\nthree"), TriggerEvent.ORIGINAL, "C", NOW))
    assert [str(o(5)) for o in message.segments("OBX")] == ["one", "", "three"]
    empty = hl7.parse(mdm_message(replace(PRELIMINARY, text=""), TriggerEvent.ORIGINAL, "C", NOW))
    assert [str(o(5)) for o in empty.segments("OBX")] == [""]


def test_no_patient_or_encounter_leaves_their_fields_empty() -> None:
    bare = replace(PRELIMINARY, patient_reference=None, encounter_reference=None)
    message = hl7.parse(mdm_message(bare, TriggerEvent.ORIGINAL, "C", NOW))
    assert str(message.segment("PID")) == "PID|1"
    assert str(message.segment("PV1")) == "PV1|1|U"


@pytest.mark.parametrize(("reference", "expected"), [
    ("Patient/123", ("123", "")),
    ("https://fhir.example.org/r4/Patient/123", ("123", "fhir.example.org")),
    ("Patient/123/_history/4", ("123", "")),
    ("Patient?identifier=urn:oid:1.2.3|MRN42", ("MRN42", "urn:oid:1.2.3")),
    ("MRN42", ("MRN42", "")),
])
def test_references_map_to_an_id_and_its_assigning_authority(reference: str, expected: tuple[str, str]) -> None:
    assert identifier_from_reference(reference) == expected


def test_an_identifier_with_delimiters_cannot_inject_fields() -> None:
    hostile = replace(PRELIMINARY, patient_reference="Patient/1|2^3\rOBX|9")
    message = hl7.parse(mdm_message(hostile, TriggerEvent.ORIGINAL, "C", NOW))
    assert len(message.segments("OBX")) == 2
    # (urlsplit drops the CR from a reference; escape_text would write it as \.br\ anyway)
    assert str(message.segment("PID")(3)(1)(1)) == r"1\F\2\S\3OBX\F\9"
    assert escape_text("a\rb") == r"a\.br\b"


def test_timestamps_are_utc_to_the_second() -> None:
    assert hl7_timestamp(datetime(2026, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "20260102030405+0000"
    assert hl7_timestamp(datetime(2026, 1, 2, 3, 4, 5)) == "20260102030405+0000"
    assert escape_text("") == ""


def test_ack_code_reads_the_code_the_control_id_and_the_error_text() -> None:
    sent = hl7.parse(mdm_message(PRELIMINARY, TriggerEvent.ORIGINAL, "CTRL9", NOW))
    assert ack_code(str(sent.create_ack("AA"))) == ("AA", "CTRL9", "")
    rejected = str(sent.create_ack("AR")) + "ERR|||207^Application internal error^HL70357|E||||unknown patient\r"
    assert ack_code(rejected) == ("AR", "CTRL9", "unknown patient")
    with pytest.raises(ValueError, match="not an ACK"):
        ack_code(str(sent))


def test_mllp_framing_bytes_in_the_text_never_reach_the_wire() -> None:
    hostile = replace(PRELIMINARY, text="before\x0bmiddle\x1c\rafter\x1d", author="Practitioner/\x1c7")
    wire = mdm_message(hostile, TriggerEvent.ORIGINAL, "C", NOW)
    assert not {"\x0b", "\x1c", "\x1d"} & set(wire)
    assert [str(o(5)) for o in hl7.parse(wire).segments("OBX")] == ["before", "middle", "", "after"]


def test_control_ids_are_unique_and_fit_msh_10() -> None:
    ids = {new_control_id() for _ in range(200)}
    assert len(ids) == 200
    assert {len(i) for i in ids} == {20}
