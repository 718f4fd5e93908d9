"""One delivery attempt: build the payload, sign it, POST it to the checked address, decide what next."""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from standardwebhooks.webhooks import Webhook

from core.errors import EndoScribeError
from core.job_store import JobStore
from core.settings import WebhookSettings
from webhooks.payloads import envelope, fhir_document_reference, thin_data
from webhooks.store import Attempt, WebhookRecord, WebhookStore
from webhooks.targets import Resolver, TargetRefused, redact, resolve_target, system_resolver

log = logging.getLogger("endoscribe.webhooks")

RETRY_STATUSES = {408, 429}
MAX_DELAY_SECONDS = 3600.0
USER_AGENT = "EndoScribe-Webhooks/1.0"


@dataclass
class Deliverer:
    """Everything an attempt needs; `resolver` is swappable so tests never touch DNS."""

    jobs: JobStore
    webhooks: WebhookStore
    settings: WebhookSettings
    client: httpx.Client
    resolver: Resolver = system_resolver


def make_client(settings: WebhookSettings) -> httpx.Client:
    # No redirects (a 3xx could point anywhere, past the address check); no proxies from the
    # environment (they would make the check meaningless).
    return httpx.Client(timeout=settings.timeout_seconds, follow_redirects=False, trust_env=False,
                        headers={"user-agent": USER_AGENT})


def build_body(d: Deliverer, job_id: str, hook: WebhookRecord) -> bytes:
    record = d.jobs.get(job_id)
    event = hook.event or f"job.{record.status.value}"
    when = record.finished_at or datetime.now(UTC)
    data = thin_data(record, hook.config.status_url, hook.config.result_url)
    completed = record.status.value == "completed"
    if completed and hook.config.format in {"full", "fhir"}:
        transcript = d.jobs.get_result(job_id)
        if transcript is None:
            raise EndoScribeError("the transcript is gone (erased or expired)", code="result_gone")
        if hook.config.format == "full":
            data["transcript"] = transcript.model_dump(exclude_none=True)
        else:
            # The resource itself is the body: what an EHR's FHIR endpoint ingests.
            doc = fhir_document_reference(record, transcript, hook.config.note_type,
                                          hook.config.patient_reference, hook.config.encounter_reference)
            return json.dumps(doc, separators=(",", ":")).encode()
    return json.dumps(envelope(event, when, data), separators=(",", ":")).encode()


def _pinned_request(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL rewritten to the checked address, with Host and SNI kept for the real name."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    extensions = {"sni_hostname": parts.hostname or ""} if parts.scheme == "https" else {}
    return pinned, {"host": host_header}, extensions


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff_seconds(base: float, attempt: int) -> float:
    """Exponential backoff with jitter: base, 2*base, 4*base... each stretched by up to 50%."""
    delay: float = base * 2 ** (attempt - 1) * random.uniform(1.0, 1.5)  # noqa: S311 - jitter, not crypto
    return min(MAX_DELAY_SECONDS, delay)


def attempt_delivery(d: Deliverer, job_id: str) -> str:
    """Make one attempt for a claimed job; returns the resulting delivery status."""
    hook = d.webhooks.get(job_id)
    if hook is None or hook.status in {"delivered", "failed"}:
        # The job was erased, or a stale schedule entry outlived a finished series.
        d.webhooks.unschedule(job_id)
        return "skipped"
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    retryable = False
    try:
        body = build_body(d, job_id, hook)
        address = resolve_target(hook.config.url, d.settings.allow_private, d.settings.allow_http, d.resolver)
        url, headers, extensions = _pinned_request(hook.config.url, address)
        signer = Webhook(d.settings.secret)
        headers.update({
            "content-type": "application/fhir+json" if body.startswith(b'{"resourceType"') else "application/json",
            "webhook-id": hook.msg_id,
            "webhook-timestamp": str(int(started_at.timestamp())),
            "webhook-signature": signer.sign(hook.msg_id, started_at, body.decode()),
        })
        if hook.config.auth_header_name and hook.config.auth_header_value:
            headers[hook.config.auth_header_name] = hook.config.auth_header_value
        response = d.client.post(url, content=body, headers=headers, extensions=extensions)
        status_code = response.status_code
        if 200 <= status_code < 300:
            pass
        elif status_code in RETRY_STATUSES or status_code >= 500:
            retryable, error = True, f"HTTP {status_code}"
            retry_after = retry_after_seconds(response)
        else:
            error = f"HTTP {status_code}" + (" (redirects are not followed)" if 300 <= status_code < 400 else "")
    except TargetRefused as exc:
        error = f"refused: {exc.message}"
    except EndoScribeError as exc:
        error = exc.message
    except httpx.TimeoutException:
        retryable, error = True, f"timeout after {d.settings.timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        retryable, error = True, f"network error: {exc.__class__.__name__}"
    attempt = Attempt(at=started_at, status_code=status_code, error=error,
                      duration_ms=round((time.perf_counter() - started) * 1000))
    return _conclude(d, job_id, hook, attempt, retryable, retry_after)


def _conclude(d: Deliverer, job_id: str, hook: WebhookRecord, attempt: Attempt, retryable: bool,
              retry_after: float | None) -> str:
    target = redact(hook.config.url)
    if attempt.error is None:
        d.webhooks.finish_attempt(job_id, attempt, None, "delivered")
        log.info("webhook for job %s delivered to %s (HTTP %s)", job_id, target, attempt.status_code)
        return "delivered"
    if retryable:
        delay = backoff_seconds(d.settings.retry_base_seconds, hook.series_attempts + 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_DELAY_SECONDS))
        next_at = time.time() + delay
        deadline = (hook.series_started_at or time.time()) + d.settings.retry_hours * 3600
        if next_at <= deadline:
            d.webhooks.finish_attempt(job_id, attempt, next_at, None)
            log.info("webhook for job %s to %s failed (%s); retry in %.1fs", job_id, target, attempt.error, delay)
            return "retrying"
    d.webhooks.finish_attempt(job_id, attempt, None, "failed")
    log.warning("webhook for job %s to %s failed for good: %s", job_id, target, attempt.error)
    return "failed"
