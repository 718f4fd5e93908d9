"""Validate the callback fields of a submission into a WebhookConfig (422 on anything unusable)."""

from __future__ import annotations

import re

from core.errors import InvalidInput, TooManyRequests
from core.settings import WebhookSettings
from core.webhook_store import WebhookConfig
from webhooks.dns import shared_pool
from webhooks.payloads import NOTE_TYPES
from webhooks.targets import LookupsPending, resolve_target

HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
# Headers the deliverer sets itself; a client may not replace them.
RESERVED_HEADERS = {"host", "content-type", "content-length", "user-agent", "connection", "transfer-encoding",
                    "webhook-id", "webhook-timestamp", "webhook-signature"}
FHIR_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


class CallbackInvalid(InvalidInput):
    http_status = 422
    code = "invalid_callback"


def build_callback(
    settings: WebhookSettings,
    url: str,
    callback_format: str,
    auth_header_name: str | None,
    auth_header_value: str | None,
    note_type: str | None,
    patient_reference: str | None,
    encounter_reference: str | None,
    owner: str = "",
) -> WebhookConfig:
    """The callback config, its host looked up within `owner`'s share of this process's lookups."""
    if not settings.secret:
        raise CallbackInvalid("callbacks are disabled: the operator has not set ENDOSCRIBE_WEBHOOK_SECRET")
    if callback_format not in {"thin", "full", "fhir"}:
        raise CallbackInvalid("callback_format must be thin, full or fhir")
    if bool(auth_header_name) != bool(auth_header_value):
        raise CallbackInvalid("send both callback_auth_header_name and callback_auth_header_value, or neither")
    if auth_header_name and (not HEADER_NAME.match(auth_header_name)
                             or auth_header_name.lower() in RESERVED_HEADERS):
        raise CallbackInvalid(f"callback_auth_header_name {auth_header_name!r} is not a usable header name")
    if auth_header_value and any(c in auth_header_value for c in "\r\n\0"):
        raise CallbackInvalid("callback_auth_header_value must be a single line")
    if note_type is not None and note_type not in NOTE_TYPES:
        raise CallbackInvalid(f"note_type must be one of {', '.join(NOTE_TYPES)}")
    for name, ref in (("patient_reference", patient_reference), ("encounter_reference", encounter_reference)):
        if ref is not None and not FHIR_REFERENCE.match(ref):
            raise CallbackInvalid(f"{name} must be a FHIR reference such as Patient/123")
    # The API's request threads wait on these lookups too: a key whose nameserver hangs may hold only a
    # few of them, and then hears 429 at once, while the other keys' submissions go on.
    lookups = shared_pool(settings.dns_lookups_per_key, settings.dns_timeout_seconds)
    try:
        resolve_target(url, settings.allow_private, settings.allow_http, lookups.resolver(owner))
    except LookupsPending as exc:
        raise TooManyRequests(f"{exc.message}; retry in {settings.dns_timeout_seconds:g} s",
                              retry_after=settings.dns_timeout_seconds, code=exc.code) from None
    return WebhookConfig(
        url=url.strip(), format=callback_format,  # type: ignore[arg-type]
        auth_header_name=auth_header_name or None, auth_header_value=auth_header_value or None,
        note_type=note_type or "procedure",
        patient_reference=patient_reference, encounter_reference=encounter_reference,
    )
