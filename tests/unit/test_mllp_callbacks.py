"""mllp:// callback targets at submit: HL7 v2 is their one format, and their host passes the HTTP
callbacks' guard (no loopback, private or metadata address unless the operator allows private ones)."""

from __future__ import annotations

import pytest

from api import callbacks
from api.callbacks import CallbackInvalid, build_callback
from api.submissions import JobSubmission
from core.settings import WebhookSettings
from tests.services import TEST_WEBHOOK_SECRET
from webhooks.dns import DnsPool
from webhooks.targets import TargetRefused

PUBLIC = WebhookSettings(secret=TEST_WEBHOOK_SECRET)
DEVELOPMENT = WebhookSettings(secret=TEST_WEBHOOK_SECRET, allow_private=True)


@pytest.fixture(autouse=True)
def nameserver(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"hl7.example.org": ["93.184.215.14"], "engine.internal": ["10.0.0.7"]}
    lookups = DnsPool(threads=2, lookup=lambda host, _port: answers.get(host, [host]))
    monkeypatch.setattr(callbacks, "shared_pool", lambda *_: lookups)


def test_an_mllp_target_gets_the_hl7_format_whether_named_or_not() -> None:
    for fields in ({}, {"callback_format": "hl7v2"}):
        config = build_callback(PUBLIC, JobSubmission(callback_url="mllp://hl7.example.org:2576", **fields))
        assert (config.url, config.format) == ("mllp://hl7.example.org:2576", "hl7v2")


@pytest.mark.parametrize(("url", "reason"), [
    ("mllp://127.0.0.1:2575", "a loopback address"),
    ("mllp://engine.internal:2575", "a private or reserved address"),
    ("mllp://[::1]:2575", "a loopback address"),
])
def test_private_mllp_hosts_are_refused_unless_the_operator_allows_them(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused, match=reason):
        build_callback(PUBLIC, JobSubmission(callback_url=url))
    assert build_callback(DEVELOPMENT, JobSubmission(callback_url=url)).format == "hl7v2"


def test_a_metadata_address_is_refused_even_where_private_hosts_are_allowed() -> None:
    with pytest.raises(TargetRefused, match="a cloud metadata address"):
        build_callback(DEVELOPMENT, JobSubmission(callback_url="mllp://169.254.169.254:2575"))


@pytest.mark.parametrize(("fields", "message"), [
    ({"callback_url": "mllp://hl7.example.org", "callback_format": "fhir"}, "gets HL7 v2 MDM messages, not 'fhir'"),
    ({"callback_url": "https://hl7.example.org/in", "callback_format": "hl7v2"}, "give an mllp://host:port"),
    ({"callback_url": "mllp://hl7.example.org", "callback_auth_header_name": "Authorization",
      "callback_auth_header_value": "Bearer t"}, "takes no auth header"),
])
def test_formats_and_headers_that_mllp_cannot_carry_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(CallbackInvalid, match=message):
        build_callback(PUBLIC, JobSubmission(**fields))
