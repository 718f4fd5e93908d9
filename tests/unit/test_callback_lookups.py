"""Submit-time callback checks share the API's lookup threads fairly: a hanging nameserver costs its key."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from api import callbacks
from api.callbacks import build_callback
from api.submissions import JobSubmission
from core.errors import TooManyRequests
from core.settings import WebhookSettings
from tests.services import TEST_WEBHOOK_SECRET
from webhooks.dns import DnsPool
from webhooks.targets import ResolutionFailed

SETTINGS = WebhookSettings(secret=TEST_WEBHOOK_SECRET, dns_timeout_seconds=0.1, dns_lookups_per_key=1)


@pytest.fixture()
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[DnsPool]:
    release = threading.Event()

    def lookup(host: str, port: int) -> list[str]:
        if host.endswith(".hang.example"):
            release.wait(30)
        return ["93.184.215.14"]

    lookups = DnsPool(threads=4, per_owner=1, timeout=0.1, lookup=lookup)
    monkeypatch.setattr(callbacks, "shared_pool", lambda *_: lookups)
    yield lookups
    release.set()


def submit(url: str, owner: str) -> str:
    return build_callback(SETTINGS, JobSubmission(callback_url=url), owner).url


def test_a_key_with_a_lookup_still_hanging_hears_429_while_other_keys_submit(pool: DnsPool) -> None:
    with pytest.raises(ResolutionFailed, match="does not resolve"):
        submit("https://ehr.hang.example/hook", "tenant-a")

    with pytest.raises(TooManyRequests) as refused:
        submit("https://ehr.example.org/hook", "tenant-a")
    assert refused.value.code == "callback_lookups_busy" and refused.value.retry_after == 1
    assert "retry in 0.1 s" in refused.value.message
    assert submit("https://ehr.example.org/hook", "tenant-b") == "https://ehr.example.org/hook"
