"""One delivery attempt: build the payload, send it to the checked address, decide what next.

Over HTTP the body is signed (Standard Webhooks) and POSTed; to an `mllp://` target it is an HL7 MDM
message framed over MLLP and judged by its ACK (`webhooks.mllp`). Both record the same attempts on the
same retry schedule. An attempt carries the callback's current event: the job's end, or one change of
its note (`WebhookRecord.note`), built from the note as it stood right after that change.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
import redis
from standardwebhooks.webhooks import Webhook

from core.document_store import DocumentStore
from core.errors import EndoScribeError, ErrorCode
from core.job_store import JobStore
from core.jobs import JobRecord, Transcript
from core.settings import WebhookSettings
from core.webhook_records import Attempt, WebhookRecord, event_for, event_label
from core.webhook_store import WebhookStore
from webhooks import http, mllp
from webhooks.dns import DnsPool, Resolver
from webhooks.formats import (
    CALLBACK_FORMATS,
    CallbackEvent,
    CallbackFormat,
    NoteCallback,
    build_callback_body,
    build_note_body,
)
from webhooks.hl7_messages import control_id_for
from webhooks.targets import (
    ResolutionFailed,
    TargetRefused,
    ascii_host,
    redact,
    resolve_target,
)

log = logging.getLogger("endoscribe.webhooks")

RETRY_STATUSES = {408, 429}
MAX_DELAY_SECONDS = 3600.0


@dataclass
class Deliverer:
    """Everything an attempt needs; `resolver` or `dns` are swappable so tests never touch DNS."""

    jobs: JobStore
    webhooks: WebhookStore
    settings: WebhookSettings
    resolver: Resolver | None = None
    """Answers every lookup when set; otherwise `dns` does, each key within its share."""
    dns: DnsPool | None = None
    documents: DocumentStore | None = None
    """The jobs' notes; made on the job store's Redis when not given."""

    def __post_init__(self) -> None:
        if self.documents is None:
            self.documents = DocumentStore(self.jobs.redis)
        if self.dns is None:
            self.dns = DnsPool(per_owner=self.settings.dns_lookups_per_key, timeout=self.settings.dns_timeout_seconds)

    def resolver_for(self, tenant: str) -> Resolver:
        """The lookups of `tenant`'s callbacks."""
        if self.resolver is not None:
            return self.resolver
        assert self.dns is not None
        return self.dns.resolver(tenant)


def build_body(d: Deliverer, job_id: str, hook: WebhookRecord, now: datetime | None = None) -> tuple[bytes, str]:
    """The payload of the callback's current event and its content type, as its format builds them."""
    record = d.jobs.get(job_id)
    fmt = CALLBACK_FORMATS[hook.config.format]
    if hook.note is not None:
        return _note_body(d, record, fmt, hook, now)
    completed = record.status.value == "completed"
    transcript = _transcript(d, job_id) if completed and fmt.wants_transcript else None
    document = _documents(d).get(job_id, record.tenant) if completed and fmt.wants_document else None
    # An HL7 message is stamped when it is sent (MSH-7); a JSON event with the time of what it reports.
    when = now if fmt.scheme == "mllp" and now is not None else record.finished_at or datetime.now(UTC)
    event = CallbackEvent(record, hook.config, hook.event or event_for(record.status.value), when, transcript,
                          document, hook.message_id)
    return build_callback_body(fmt, event)


def _note_body(d: Deliverer, record: JobRecord, fmt: CallbackFormat, hook: WebhookRecord,
               now: datetime | None) -> tuple[bytes, str]:
    assert hook.note is not None
    note = hook.note
    document = _documents(d).get(record.id, record.tenant)
    if note.version > len(document.versions):
        raise EndoScribeError(f"version {note.version} of the note is gone", code=ErrorCode.RESULT_GONE)
    document = document.as_of(note.version, note.action)
    made = document.current
    when = made.signature.at if note.action == "signed" and made.signature is not None else made.at
    if fmt.scheme == "mllp" and now is not None:
        when = now
    transcript = _transcript(d, record.id) if fmt.wants_transcript else None
    event = NoteCallback(record, hook.config, note, when, document,
                         transcript.language if transcript is not None else "", hook.message_id)
    return build_note_body(fmt, event)


def _documents(d: Deliverer) -> DocumentStore:
    assert d.documents is not None
    return d.documents


def _transcript(d: Deliverer, job_id: str) -> Transcript:
    transcript = d.jobs.get_result(job_id)
    if transcript is None:
        raise EndoScribeError("the transcript is gone (erased or expired)", code=ErrorCode.RESULT_GONE)
    return transcript


def pinned_request(url: str, address: str) -> tuple[str, str, str | None]:
    """(URL aimed at the checked address, Host header, TLS server name) for the URL's real host."""
    parts = urlsplit(url)
    name = ascii_host(parts.hostname or "")
    ip = f"[{address}]" if ":" in address else address
    netloc = f"{ip}:{parts.port}" if parts.port else ip
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_name = f"[{name}]" if ":" in name else name
    host_header = f"{host_name}:{parts.port}" if parts.port else host_name
    return pinned, host_header, (name if parts.scheme == "https" else None)


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if re.fullmatch(r"[0-9]{1,9}", value):
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def backoff_seconds(base: float, attempt: int) -> float:
    """Exponential backoff with jitter: base, 2*base, 4*base... each stretched by up to 50%."""
    delay: float = base * 2 ** min(attempt - 1, 30) * random.uniform(1.0, 1.5)  # noqa: S311 - jitter, not crypto
    return min(MAX_DELAY_SECONDS, delay)


@dataclass
class Outcome:
    status_code: int | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    code: str | None = None
    """How an MLLP attempt ended (`webhooks.mllp.MllpCode`)."""


def _send(d: Deliverer, job_id: str, tenant: str, hook: WebhookRecord, now: datetime) -> Outcome:
    if CALLBACK_FORMATS[hook.config.format].scheme == "mllp":
        return _send_mllp(d, job_id, tenant, hook, now)
    return _send_http(d, job_id, tenant, hook, now)


def _send_mllp(d: Deliverer, job_id: str, tenant: str, hook: WebhookRecord, now: datetime) -> Outcome:
    body, _ = build_body(d, job_id, hook, now)
    # Retries of one event send the same control id: an engine that keeps them drops a duplicate.
    sent = mllp.send(hook.config.url, body.decode(), control_id_for(hook.message_id),
                     allow_private=d.settings.allow_private, timeout=d.settings.timeout_seconds,
                     resolver=d.resolver_for(tenant))
    return Outcome(error=sent.error, retryable=sent.retryable, code=sent.code.value)


def _send_http(d: Deliverer, job_id: str, tenant: str, hook: WebhookRecord, now: datetime) -> Outcome:
    body, content_type = build_body(d, job_id, hook)
    addresses = resolve_target(hook.config.url, d.settings.allow_private, d.settings.allow_http,
                               d.resolver_for(tenant))
    headers = {
        "content-type": content_type,
        "webhook-id": hook.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(d.settings.secret).sign(hook.message_id, now, body.decode()),
    }
    if hook.config.auth_header_name and hook.config.auth_header_value:
        headers[hook.config.auth_header_name] = hook.config.auth_header_value
    deadline = time.monotonic() + d.settings.timeout_seconds
    for index, address in enumerate(addresses):
        url, headers["host"], sni = pinned_request(hook.config.url, address)
        left = deadline - time.monotonic()
        try:
            answer = http.post(url, body, headers, sni, max(0.05, left))
        except httpx.ConnectError:
            # Try the name's next checked address (e.g. IPv6 when IPv4 refuses), within the deadline.
            if index + 1 < len(addresses) and deadline - time.monotonic() > 0.05:
                continue
            raise
        code = answer.status_code
        if 200 <= code < 300:
            return Outcome(code)
        if code in RETRY_STATUSES or code >= 500:
            return Outcome(code, f"HTTP {code}", retryable=True, retry_after=retry_after_seconds(answer.headers))
        return Outcome(code, f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else ""))
    raise AssertionError("resolve_target returned no address")


def attempt_delivery(d: Deliverer, job_id: str, tenant: str = "") -> str:
    """Make one attempt for a claimed job of API key `tenant` and record it; returns the resulting
    delivery status."""
    hook = d.webhooks.get(job_id)
    if hook is None or hook.status in {"delivered", "failed"}:
        # The job was erased, or a stale schedule entry outlived a finished series.
        d.webhooks.unschedule(job_id)
        return "skipped"
    now = datetime.now(UTC)
    started = time.perf_counter()
    try:
        outcome = _send(d, job_id, tenant, hook, now)
    except redis.RedisError as exc:
        # Not the receiver's fault and not final: no attempt is recorded, and the claim's lease makes
        # the callback due again once Redis is back.
        log.warning("webhook for job %s deferred: redis failed (%s)", job_id, exc.__class__.__name__)
        return "deferred"
    except ResolutionFailed as exc:
        outcome = Outcome(error=f"dns: {exc.message}", retryable=True)
    except TargetRefused as exc:
        outcome = Outcome(error=f"refused: {exc.message}")
    except EndoScribeError as exc:
        outcome = Outcome(error=exc.message)
    except httpx.TimeoutException:
        outcome = Outcome(error=f"timeout after {d.settings.timeout_seconds:g} s", retryable=True)
    except httpx.HTTPError as exc:
        outcome = Outcome(error=f"network error: {exc.__class__.__name__}", retryable=True)
    except Exception as exc:
        # Recorded and final, so a bug or a poisoned record can't loop through claims for days.
        log.exception("webhook attempt for job %s failed unexpectedly", job_id)
        outcome = Outcome(error=f"internal error: {exc.__class__.__name__}")
    attempt = Attempt(at=now, status_code=outcome.status_code, error=outcome.error,
                      duration_ms=round((time.perf_counter() - started) * 1000), event=event_label(hook),
                      code=outcome.code)
    return _conclude(d, job_id, hook, attempt, outcome.retryable, outcome.retry_after)


def _conclude(d: Deliverer, job_id: str, hook: WebhookRecord, attempt: Attempt, retryable: bool,
              retry_after: float | None) -> str:
    target, what = redact(hook.config.url), event_label(hook)
    if attempt.error is None:
        d.webhooks.finish_attempt(job_id, hook.series_started_at, attempt, None, "delivered")
        answer = f"HTTP {attempt.status_code}" if attempt.code is None else attempt.code
        log.info("webhook %s for job %s delivered to %s (%s)", what, job_id, target, answer)
        return "delivered"
    if retryable:
        delay = backoff_seconds(d.settings.retry_base_seconds, hook.series_attempts + 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_DELAY_SECONDS))
        next_at = time.time() + delay
        deadline = (hook.series_started_at or time.time()) + d.settings.retry_hours * 3600
        if next_at <= deadline:
            d.webhooks.finish_attempt(job_id, hook.series_started_at, attempt, next_at, None)
            log.info("webhook %s for job %s to %s failed (%s); retry in %.1fs", what, job_id, target, attempt.error,
                     delay)
            return "retrying"
    d.webhooks.finish_attempt(job_id, hook.series_started_at, attempt, None, "failed")
    log.warning("webhook %s for job %s to %s failed for good: %s", what, job_id, target, attempt.error)
    return "failed"
