"""MDM messages sent over MLLP to a real listener on loopback (python-hl7's asyncio MLLP server on its
own thread), answering AA, AE, AR, garbage, another message's ACK, nothing, or closing the connection;
and the SSRF guard on mllp:// targets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.integration.mllp_listener import Listener
from tests.services import free_port
from webhooks.hl7_messages import Addressing, NoteDocument, TriggerEvent, document_number, mdm_message
from webhooks.mllp import (
    Delivery,
    MllpCode,
    MllpOutcome,
    MllpTarget,
    frame,
    judge,
    parse_mllp_target,
    send,
)
from webhooks.targets import ResolutionFailed, TargetRefused

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOTE = NoteDocument(
    job_id="job-7", version=1, text="Cecum reached.\nPolyp | 5 mm removed.", note_type="colonoscopy",
    document_number=document_number("job-7", 1), activity_at=NOW, originated_at=NOW,
    patient_reference="Patient/123", encounter_reference="Encounter/E9",
)


@pytest.fixture()
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


def loopback(_host: str, _port: int) -> list[str]:
    return ["127.0.0.1"]


def deliver(port: int, control_id: str = "CTRL1", timeout: float = 2.0) -> MllpOutcome:
    message = mdm_message(NOTE, TriggerEvent.ORIGINAL, control_id, NOW)
    return send(f"mllp://hl7.example.org:{port}", message, control_id, allow_private=True, timeout=timeout,
                resolver=loopback)


def test_an_aa_delivers_and_the_receiver_got_the_whole_message(listener: Listener) -> None:
    outcome = deliver(listener.port)

    assert outcome == MllpOutcome(Delivery.DELIVERED, MllpCode.ACCEPTED, "AA")
    assert not outcome.retryable
    [received] = listener.received
    assert str(received) == mdm_message(NOTE, TriggerEvent.ORIGINAL, "CTRL1", NOW)
    assert received.unescape(str(received.segments("OBX")[1](5))) == "Polyp | 5 mm removed."


def test_an_ae_is_an_application_error_sent_again_later(listener: Listener) -> None:
    listener.mode = "AE"
    outcome = deliver(listener.port)
    assert outcome == MllpOutcome(Delivery.RETRY, MllpCode.APPLICATION_ERROR, "AE", "HL7 AE (application error)")
    assert outcome.retryable


def test_an_ar_is_a_rejection_given_up_on_with_the_receivers_reason(listener: Listener) -> None:
    listener.mode = "AR"
    assert deliver(listener.port) == MllpOutcome(Delivery.GIVE_UP, MllpCode.REJECTED, "AR", "HL7 AR (rejected)")
    listener.mode = "AR with error"
    outcome = deliver(listener.port)
    assert outcome == MllpOutcome(Delivery.GIVE_UP, MllpCode.REJECTED, "AR", "HL7 AR (rejected): no MDM here")
    assert not outcome.retryable


def test_garbage_or_the_ack_of_another_message_is_a_retry(listener: Listener) -> None:
    listener.mode = "garbage"
    assert deliver(listener.port) == MllpOutcome(
        Delivery.RETRY, MllpCode.BAD_ACK, error="the answer is not an MLLP-framed message")
    listener.mode = "another message"
    assert deliver(listener.port) == MllpOutcome(
        Delivery.RETRY, MllpCode.BAD_ACK, "AA", "the ACK answers message 'SOMEONE-ELSE', not 'CTRL1'")


def test_silence_is_a_retry_after_the_deadline_not_a_hang(listener: Listener) -> None:
    listener.mode = "silence"
    started = time.monotonic()
    outcome = deliver(listener.port, timeout=0.5)
    assert outcome == MllpOutcome(Delivery.RETRY, MllpCode.NO_ACK, error="no ACK within 0.5 s")
    assert time.monotonic() - started < 1.5


def test_a_receiver_that_closes_without_answering_is_a_retry(listener: Listener) -> None:
    listener.mode = "close"
    assert deliver(listener.port) == MllpOutcome(
        Delivery.RETRY, MllpCode.NO_ACK, error="the receiver closed the connection without an ACK")


def test_a_refused_connection_is_a_retry() -> None:
    assert deliver(free_port()) == MllpOutcome(Delivery.RETRY, MllpCode.UNREACHABLE, error="connection refused")


def test_a_refused_address_falls_through_to_the_names_next_checked_address(listener: Listener) -> None:
    # Both are loopback: the first refuses (nothing listens on ::1 at that port), the second answers.
    def two_addresses(_host: str, _port: int) -> list[str]:
        return ["::1", "127.0.0.1"]

    message = mdm_message(NOTE, TriggerEvent.ORIGINAL, "C2", NOW)
    outcome = send(f"mllp://hl7.example.org:{listener.port}", message, "C2", allow_private=True, timeout=2.0,
                   resolver=two_addresses)
    assert outcome.delivery is Delivery.DELIVERED


def test_an_unknown_acknowledgment_code_is_a_retry() -> None:
    ack = b"\x0bMSH|^~\\&|EHR||EndoScribe||20261203||ACK^T02^ACK|A1|P|2.5.1\rMSA|ZZ|C9\r\x1c\r"
    assert judge(ack, "C9") == MllpOutcome(
        Delivery.RETRY, MllpCode.BAD_ACK, "ZZ", "the ACK's code 'ZZ' is not an HL7 acknowledgment code")
    assert judge(ack.replace(b"MSA|ZZ", b"MSA|CA"), "C9").delivery is Delivery.DELIVERED


def test_a_framed_message_is_vt_text_fs_cr() -> None:
    assert frame("MSH|^~\\&|é\r") == b"\x0bMSH|^~\\&|\xc3\xa9\r\x1c\r"


@pytest.mark.parametrize(("target", "parsed"), [
    ("mllp://hl7.example.org:2576", MllpTarget("hl7.example.org", 2576)),
    ("mllp://hl7.example.org", MllpTarget("hl7.example.org", 2575)),
    ("mllp://[2001:db8::1]:2575/", MllpTarget("2001:db8::1", 2575)),
    ("mllp://bücher.example:2575", MllpTarget("xn--bcher-kva.example", 2575)),
    ("mllp://hl7.example.org?receiving_application=EPIC&receiving_facility=GI",
     MllpTarget("hl7.example.org", 2575, Addressing(receiving_application="EPIC", receiving_facility="GI"))),
])
def test_mllp_targets_parse_to_a_host_and_a_port(target: str, parsed: MllpTarget) -> None:
    assert parse_mllp_target(target) == parsed


@pytest.mark.parametrize(("target", "message"), [
    ("https://hl7.example.org:2575", "must be mllp://host:port"),
    ("mllp://:2575", "must be mllp://host:port"),
    ("mllp://user:pw@hl7.example.org:2575", "must not carry credentials"),
    ("mllp://hl7.example.org:2575/inbound", "no path or fragment"),
    ("mllp://hl7.example.org:2575?token=1", "not token"),
    ("mllp://hl7.example.org:2575?receiving_application=A&receiving_application=B", "each addressing field once"),
    ("mllp://hl7.example.org:2575?receiving_facility=A%7CB", "without HL7's delimiters"),
    ("mllp://hl7.example.org:2575?processing_id=X", "P \\(production\\)"),
    ("mllp://hl7.example.org:0", "port 0"),
    ("mllp://hl7.example.org:99999", "malformed"),
])
def test_malformed_mllp_targets_are_refused_saying_why(target: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        parse_mllp_target(target)


def test_the_ssrf_guard_refuses_private_and_metadata_hosts_before_connecting(listener: Listener) -> None:
    message = mdm_message(NOTE, TriggerEvent.ORIGINAL, "C3", NOW)
    with pytest.raises(TargetRefused, match="a loopback address"):
        send(f"mllp://hl7.example.org:{listener.port}", message, "C3", allow_private=False, timeout=1.0,
             resolver=loopback)
    with pytest.raises(TargetRefused, match="a cloud metadata address"):
        send("mllp://169.254.169.254:2575", message, "C3", allow_private=True, timeout=1.0,
             resolver=lambda _h, _p: ["169.254.169.254"])
    with pytest.raises(ResolutionFailed, match="does not resolve"):
        send("mllp://nowhere.example:2575", message, "C3", allow_private=True, timeout=1.0,
             resolver=lambda _h, _p: [])
    assert listener.received == []
