"""The worker's hold on live sessions: a lease per session (`core.leases`), and finding the sessions
nobody holds (their worker died, or every worker was busy when they came)."""

from __future__ import annotations

from core import keys, leases
from core.session_records import LIVE_PAGE, SessionReads


class SessionLeases(SessionReads):
    """Taking, renewing and giving up a session's lease, and finding unserved sessions (a base of
    `SessionStore`)."""

    def claim(self, session_id: str, holder: str, lease_seconds: float) -> bool:
        """Take the session's lease for `holder`; False if someone holds it."""
        return leases.take(self.redis, keys.session_lease_key(session_id), holder, lease_seconds)

    def renew(self, session_id: str, holder: str, lease_seconds: float) -> bool:
        return leases.renew(self.redis, keys.session_lease_key(session_id), holder, lease_seconds)

    def release(self, session_id: str, holder: str) -> None:
        leases.release(self.redis, keys.session_lease_key(session_id), holder)

    def is_served(self, session_id: str) -> bool:
        return bool(self.redis.exists(keys.session_lease_key(session_id)))

    def claim_wake(self, period_seconds: float) -> bool:
        """True once per `period_seconds` across every process: the caller sends the live task."""
        return bool(self.redis.set(keys.LIVE_WAKE_SENT, "1", nx=True, px=int(period_seconds * 1000)))

    def unserved(self, limit: int = 1000) -> list[str]:
        """Up to `limit` open sessions no worker holds now (its worker died, or every worker was busy when
        it came), oldest first, from the whole live set (a page at a time)."""
        found: list[str] = []
        start = 0
        while len(found) < limit:
            ids = self.live_sessions(LIVE_PAGE, start)
            found += self.unheld(ids)
            if len(ids) < LIVE_PAGE:
                break
            start += LIVE_PAGE
        return found[:limit]

    def unheld(self, ids: list[str]) -> list[str]:
        """Those of `ids` no worker holds now, in their order."""
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for session_id in ids:
            pipe.exists(keys.session_lease_key(session_id))
        return [session_id for session_id, held in zip(ids, pipe.execute(), strict=True) if not held]
