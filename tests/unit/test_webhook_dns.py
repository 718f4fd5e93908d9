"""Host name lookups: a deadline each, and lookups that hang count against their own key only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from tests.polling import eventually
from webhooks.dns import DnsPool, LookupsBusy


@pytest.fixture()
def hanging() -> Iterator[threading.Event]:
    """Released at the end of the test: until then, names under .hang.example never answer."""
    release = threading.Event()
    yield release
    release.set()


def pool_with(release: threading.Event, **kwargs: float) -> DnsPool:
    def lookup(host: str, port: int) -> list[str]:
        if host.endswith(".hang.example"):
            release.wait(30)
        return ["93.184.215.14"]

    return DnsPool(lookup=lookup, **kwargs)  # type: ignore[arg-type]


def test_a_lookup_that_hangs_fails_after_the_deadline(hanging: threading.Event) -> None:
    pool = pool_with(hanging, timeout=0.2)
    started = time.monotonic()

    with pytest.raises(OSError, match=r"took over 0\.2 s"):
        pool.resolve("tenant-a", "ns.hang.example", 443)

    assert time.monotonic() - started < 1


def test_a_key_whose_lookups_hang_is_refused_more_while_other_keys_resolve(hanging: threading.Event) -> None:
    pool = pool_with(hanging, threads=4, per_owner=2, timeout=0.1)
    for _ in range(2):
        with pytest.raises(OSError, match="took over"):
            pool.resolve("tenant-a", "ehr.hang.example", 443)

    # Given up on, both still hold a thread: the key may start no more, and fails at once.
    assert pool.running("tenant-a") == 2
    started = time.monotonic()
    with pytest.raises(LookupsBusy):
        pool.resolve("tenant-a", "other.example", 443)
    assert time.monotonic() - started < 0.05
    # Everyone else keeps the rest of the threads.
    for owner in ("tenant-b", "tenant-c", ""):
        assert pool.resolve(owner, "ehr.example.org", 443) == ["93.184.215.14"]

    hanging.set()
    eventually(lambda: pool.running("tenant-a") == 0, 5, "tenant-a's lookup to finish", interval=0.01)
    assert pool.resolve("tenant-a", "ehr.example.org", 443) == ["93.184.215.14"]
