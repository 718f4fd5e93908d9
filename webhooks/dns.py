"""Host name lookups for callbacks: a deadline on each, and a share of the lookup threads per API key.

getaddrinfo has no timeout we control, and a lookup we stop waiting for keeps its thread until the C
resolver gives up on its own (tens of seconds against a nameserver that never answers). So lookups
run on one bounded pool, and each key may have only a few of them running, given up on or not: a
tenant's dead nameserver holds its own share of the threads, never the others'.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial

Resolver = Callable[[str, int], list[str]]
"""(host, port) -> the host's addresses; raises OSError when it does not resolve (now)."""

THREADS = 32
PER_OWNER = 4
TIMEOUT_SECONDS = 5.0


class LookupsBusy(OSError):
    """The key already has its share of lookups running: this one is not started."""


def getaddrinfo_addresses(host: str, port: int) -> list[str]:
    """The system resolver's answer: getaddrinfo's order, without repeats, IPv4 first (many
    containers have no IPv6 route)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return sorted(addresses, key=lambda a: ":" in a)


class DnsPool:
    """Lookups on `threads` threads, at most `per_owner` running per API key, each awaited `timeout` s."""

    def __init__(self, threads: int = THREADS, per_owner: int = PER_OWNER, timeout: float = TIMEOUT_SECONDS,
                 lookup: Resolver = getaddrinfo_addresses) -> None:
        self.per_owner = per_owner
        self.timeout = timeout
        self._lookup = lookup
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dns")
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def resolver(self, tenant: str) -> Resolver:
        """A Resolver whose lookups count against `tenant`'s share."""
        return partial(self.resolve, tenant)

    def running(self, tenant: str) -> int:
        """`tenant`'s lookups started and not yet returned (including those no one waits for any more)."""
        with self._lock:
            return self._running.get(tenant, 0)

    def resolve(self, tenant: str, host: str, port: int) -> list[str]:
        with self._lock:
            if self._running.get(tenant, 0) >= self.per_owner:
                raise LookupsBusy(f"{self.per_owner} lookups for this key are still unanswered")
            self._running[tenant] = self._running.get(tenant, 0) + 1
        future = self._pool.submit(self._lookup, host, port)
        # Released when the lookup really ends (or is cancelled before it started), not when we stop
        # waiting: a hanging lookup keeps counting against its key for as long as it holds a thread.
        future.add_done_callback(partial(self._release, tenant))
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            raise OSError(f"resolving {host} took over {self.timeout:g} s") from None

    def _release(self, tenant: str, _: Future[list[str]]) -> None:
        with self._lock:
            left = self._running.get(tenant, 0) - 1
            if left > 0:
                self._running[tenant] = left
            else:
                self._running.pop(tenant, None)


_shared: DnsPool | None = None
_shared_lock = threading.Lock()


def shared_pool(per_owner: int = PER_OWNER, timeout: float = TIMEOUT_SECONDS) -> DnsPool:
    """The process's one pool, made on first use (the API's submit-time checks share it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DnsPool(per_owner=per_owner, timeout=timeout)
        return _shared


def system_resolver(host: str, port: int) -> list[str]:
    """A lookup on the shared pool, counted against no key (tools and tests; services pass their key)."""
    return shared_pool().resolve("", host, port)
