"""The one codec between a JobRecord and its Redis hash (one field per attribute)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.jobs import JobRecord
from core.keys import TENANT_FIELD

_JSON_FIELDS = {"options", "error"}
_BOOL_FIELDS = {"cancel_requested"}
_STORED_AS = {"tenant": TENANT_FIELD}
"""Attributes whose hash field has another name (as earlier versions stored it)."""
_ATTRIBUTE_OF = {stored: name for name, stored in _STORED_AS.items()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def encode(job_id: str, fields: dict[str, Any]) -> dict[str, str]:
    """Validate some JobRecord fields and encode just those for HSET (None and False become "")."""
    template = JobRecord.model_validate({"id": job_id, "created_at": utcnow(), **fields})
    encoded: dict[str, str] = {}
    for attribute, value in template.model_dump(mode="json", include=set(fields)).items():
        name = _STORED_AS.get(attribute, attribute)
        if name in _JSON_FIELDS:
            encoded[name] = json.dumps(value)
        elif value is None:
            encoded[name] = ""
        elif isinstance(value, bool):
            encoded[name] = "1" if value else ""
        else:
            encoded[name] = str(value)
    return encoded


def encode_record(record: JobRecord) -> dict[str, str]:
    return encode(record.id, record.model_dump())


def decode(raw: dict[bytes, bytes] | dict[str, str]) -> JobRecord:
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name, value = text(key), text(value)
        name = _ATTRIBUTE_OF.get(name, name)
        if name in _JSON_FIELDS:
            fields[name] = json.loads(value)
        elif name in _BOOL_FIELDS:
            fields[name] = value == "1"
        elif value != "":
            fields[name] = value
    return JobRecord.model_validate(fields)
