"""A note's whole lifecycle reaches a real MLLP receiver: transcribed (T02 preliminary), corrected (T08),
signed (T02 legally authenticated), amended (T10 replacing the signed document), each acknowledged AA;
the documents are the real store's on a real redis-server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from core.document_store import DocumentStore
from core.documents import AuditAction
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord, JobStatus, Transcript
from tests.integration.mllp_listener import Listener
from webhooks.hl7_messages import mdm_message
from webhooks.hl7_notes import mdm_note
from webhooks.mllp import Delivery, send


@pytest.fixture()
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.stop()


def test_a_corrected_signed_then_amended_note_reaches_the_receiver_as_t02_t08_t02_t10(
    clean_redis: redis.Redis, listener: Listener,
) -> None:
    jobs, documents = JobStore(clean_redis, 3600), DocumentStore(clean_redis)
    job_id = str(uuid.uuid4())
    jobs.create(JobRecord(id=job_id, tenant="tenant-1", created_at=utcnow()))
    jobs.claim(job_id, "run", "worker", 60, 3)
    text = "Cecum reached.\nPolyp 5 mm removed."
    assert jobs.end(job_id, "run", JobStatus.COMPLETED, Transcript(text=text, language="en", duration=3, segments=[]))

    documents.correct(job_id, "Cecum reached.\nPolyp 6 mm removed.", "tenant-1", "Practitioner/77",
                      reason="size misheard")
    documents.sign(job_id, "tenant-1", "Practitioner/77")
    documents.amend(job_id, "Cecum reached.\nPolyp 6 mm removed.\nPathology: adenoma.", "tenant-1",
                    "Practitioner/77", reason="pathology addendum")
    document = documents.get(job_id, "tenant-1")

    outcomes = []
    for index, entry in enumerate(document.audit):
        action: AuditAction = entry.action
        event, note = mdm_note(document, action, entry.version, note_type="colonoscopy",
                               originated_at=jobs.get(job_id).created_at, patient_reference="Patient/123",
                               encounter_reference="Encounter/E9")
        control_id = f"{job_id[:8]}-{index}"
        message = mdm_message(note, event, control_id, datetime.now(UTC))
        outcomes.append(send(f"mllp://ehr.example.org:{listener.port}", message, control_id, allow_private=True,
                             timeout=2.0, resolver=lambda _h, _p: ["127.0.0.1"]))

    assert [o.delivery for o in outcomes] == [Delivery.DELIVERED] * 4
    assert [o.ack for o in outcomes] == ["AA"] * 4
    received = [
        (str(m.segment("MSH")(9)), str(m.segment("TXA")(12)(1)(1)), _field(m, "TXA", 13),
         str(m.segment("TXA")(16)), str(m.segment("TXA")(17)), {str(o(11)) for o in m.segments("OBX")},
         [str(o(5)) for o in m.segments("OBX")])
        for m in listener.received
    ]
    first = f"{job_id}-1"
    assert received == [
        ("MDM^T02^MDM_T02", first, "", f"{job_id}-1", "DO", {"P"}, ["Cecum reached.", "Polyp 5 mm removed."]),
        ("MDM^T08^MDM_T02", first, "", f"{job_id}-2", "DO", {"P"}, ["Cecum reached.", "Polyp 6 mm removed."]),
        ("MDM^T02^MDM_T02", first, "", f"{job_id}-2", "LA", {"F"}, ["Cecum reached.", "Polyp 6 mm removed."]),
        ("MDM^T10^MDM_T02", f"{job_id}-3", first, f"{job_id}-3", "LA", {"C"},
         ["Cecum reached.", "Polyp 6 mm removed.", "Pathology: adenoma."]),
    ]
    transcribed, signed, amendment = listener.received[0], listener.received[2], listener.received[3]
    assert _field(transcribed, "TXA", 5) == ""  # the machine is no author; the clinician is unknown yet
    assert str(signed.segment("TXA")(22)(1)(1)) == "77"
    assert str(amendment.segment("TXA")(21)) == "pathology addendum"
    assert [str(m.segment("PID")(3)) for m in listener.received] == ["123^^^^PI"] * 4


def _field(message: object, segment: str, index: int) -> str:
    """A field's first component, or "" when the segment stops before it."""
    seg = message.segment(segment)  # type: ignore[attr-defined]
    return str(seg(index)(1)(1)) if len(seg) > index and str(seg(index)) else ""
