"""The job codec: a JobRecord's attributes to and from its Redis hash, with stored names kept as they were."""

from __future__ import annotations

from datetime import UTC, datetime

from core.job_codec import decode, encode, encode_record
from core.jobs import JobOptions, JobRecord
from core.keys import TENANT_FIELD
from core.session_records import SessionMeta


def test_a_jobs_tenant_is_stored_under_the_field_earlier_versions_wrote_and_read_back_as_tenant() -> None:
    record = JobRecord(id="j-1", tenant="digest-1", created_at=datetime(2026, 12, 6, tzinfo=UTC),
                       options=JobOptions(hotwords="cecum"))

    stored = encode_record(record)

    assert TENANT_FIELD == "owner" and stored[TENANT_FIELD] == "digest-1" and "tenant" not in stored
    assert decode(stored) == record
    assert encode("j-1", {"tenant": "digest-2"}) == {TENANT_FIELD: "digest-2"}


def test_a_sessions_meta_keeps_its_stored_json_shape_and_reads_what_earlier_versions_stored() -> None:
    meta = SessionMeta(id="s-1", tenant="digest-1", job_id="j-1", created_at=1.0)

    stored = meta.model_dump_json(by_alias=True)

    assert '"owner":"digest-1"' in stored and "tenant" not in stored
    assert SessionMeta.model_validate_json(stored) == meta
