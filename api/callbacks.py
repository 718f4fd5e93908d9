"""Validate the callback fields of a submission into a WebhookConfig (422 on anything unusable)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from core.errors import ErrorCode, TooManyRequests, Unprocessable
from core.note_types import DEFAULT_NOTE_TYPE
from core.settings import WebhookSettings
from core.webhook_records import DEFAULT_CALLBACK_FORMAT, WebhookConfig
from webhooks.dns import Resolver, shared_pool
from webhooks.formats import CALLBACK_FORMATS, HL7_FORMAT
from webhooks.mllp import is_mllp, resolve_mllp_target
from webhooks.targets import LookupsPending, resolve_target

if TYPE_CHECKING:
    from api.submissions import SubmissionOptions

HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# Headers the deliverer sets itself; a client may not replace them.
RESERVED_HEADERS = {"host", "content-type", "content-length", "user-agent", "connection", "transfer-encoding",
                    "webhook-id", "webhook-timestamp", "webhook-signature"}
FHIR_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


class CallbackInvalid(Unprocessable):
    code = ErrorCode.INVALID_CALLBACK


def build_callback(settings: WebhookSettings, submission: SubmissionOptions, tenant: str = "") -> WebhookConfig:
    """The callback config of a submission that has a `callback_url`, its host looked up within
    `tenant`'s share of this process's lookups. The submission's model has checked its format, and
    `submissions.accept` its note type, before this."""
    s = submission
    url, name, value = s.callback_url or "", s.callback_auth_header_name, s.callback_auth_header_value
    if not settings.secret:
        raise CallbackInvalid("callbacks are disabled: the operator has not set ENDOSCRIBE_WEBHOOK_SECRET")
    callback_format = _format_for(url, s.callback_format)
    if name and is_mllp(url):
        raise CallbackInvalid("an mllp:// callback_url takes no auth header: MLLP has no headers")
    if bool(name) != bool(value):
        raise CallbackInvalid("send both callback_auth_header_name and callback_auth_header_value, or neither")
    if name and (not HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS):
        raise CallbackInvalid(f"callback_auth_header_name {name!r} is not a usable header name")
    if value and any(c in value for c in "\r\n\0"):
        raise CallbackInvalid("callback_auth_header_value must be a single line")
    for field, ref in (("patient_reference", s.patient_reference), ("encounter_reference", s.encounter_reference)):
        if ref is not None and not FHIR_REFERENCE.match(ref):
            raise CallbackInvalid(f"{field} must be a FHIR reference such as Patient/123")
    # The API's request threads wait on these lookups too: a key whose nameserver hangs may hold only a
    # few of them, and then hears 429 at once, while the other keys' submissions go on.
    lookups = shared_pool(settings.dns_lookups_per_key, settings.dns_timeout_seconds)
    try:
        _check_target(url, settings, lookups.resolver(tenant))
    except LookupsPending as exc:
        raise TooManyRequests(f"{exc.message}; retry in {settings.dns_timeout_seconds:g} s",
                              retry_after=settings.dns_timeout_seconds, code=exc.code) from None
    return WebhookConfig(
        url=url.strip(), format=callback_format, auth_header_name=name or None, auth_header_value=value or None,
        note_type=s.note_type or DEFAULT_NOTE_TYPE,
        patient_reference=s.patient_reference, encounter_reference=s.encounter_reference,
    )


def _format_for(url: str, asked: str) -> str:
    """The format a target gets: an mllp:// target HL7 v2 (the one format MLLP carries), an http(s) one
    the format asked for, which must travel over HTTP."""
    if is_mllp(url):
        if asked not in {DEFAULT_CALLBACK_FORMAT, HL7_FORMAT}:
            raise CallbackInvalid(f"an mllp:// callback_url gets HL7 v2 MDM messages, not {asked!r}: "
                                  f"leave callback_format out or send {HL7_FORMAT!r}")
        return HL7_FORMAT
    if CALLBACK_FORMATS[asked].scheme != "http":
        raise CallbackInvalid(f"callback_format {asked!r} is sent over MLLP: give an mllp://host:port callback_url")
    return asked


def _check_target(url: str, settings: WebhookSettings, resolver: Resolver) -> None:
    # The same guard for both schemes (an mllp:// host is checked as an https:// one would be).
    if is_mllp(url):
        resolve_mllp_target(url, settings.allow_private, resolver)
    else:
        resolve_target(url, settings.allow_private, settings.allow_http, resolver)
