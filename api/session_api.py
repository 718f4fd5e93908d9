"""`SessionService`: what the session routes use, resolved once per request, so a route takes it instead of
the session store, the queue, the quotas, the settings, the token key and the caller one by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from celery import Celery
from starlette.concurrency import run_in_threadpool

from api import session_service, session_tokens, submissions
from api.quotas import Quotas
from api.schemas import SessionPublic
from api.submissions import SessionCreate
from api.urls import job_urls, session_urls
from core.session_store import SessionState, SessionStore
from core.settings import Settings
from core.vocabulary_store import VocabularyStore


@dataclass(frozen=True)
class SessionService:
    settings: Settings
    sessions: SessionStore
    celery: Celery
    quotas: Quotas
    vocabularies: VocabularyStore
    token_key: bytes
    """The key session tokens are signed with (shared by every API replica)."""
    tenant: str
    """The caller: a digest of its API key."""
    base_url: str
    """The base of the URLs the caller is given."""

    async def open(self, body: SessionCreate) -> SessionPublic:
        """Check the options, open the session and wake a worker (off the event loop: a stored vocabulary's
        read, the callback host's lookup and Redis block)."""
        accepted = await run_in_threadpool(submissions.accept, body, self.settings, self.vocabularies, self.tenant)
        meta = await run_in_threadpool(session_service.create_session, self.sessions, self.quotas,
                                       self.settings.live, self.celery, self.tenant, accepted.options,
                                       accepted.callback, self.base_url)
        return self.public(await run_in_threadpool(self.get, meta.id))

    def get(self, session_id: str) -> SessionState:
        """The caller's session; 404 for one that is not (or no longer) there, or is another key's."""
        return session_service.get_session(self.sessions, session_id, self.tenant)

    def public(self, state: SessionState) -> SessionPublic:
        """A session as its tenant sees it, with fresh write and read tokens in its URLs."""
        seconds = self.settings.live.token_seconds
        token = session_tokens.issue(self.token_key, state.meta.id, seconds, scope=session_tokens.WRITE)
        read_token = session_tokens.issue(self.token_key, state.meta.id, seconds, scope=session_tokens.READ)
        stream_url, events_url = session_urls(self.base_url, state.meta.id, token, read_token)
        return SessionPublic(id=state.meta.id, status=state.status.value, job_id=state.meta.job_id,
                             stream_url=stream_url, events_url=events_url,
                             result_url=job_urls(self.base_url, state.meta.job_id)[1],
                             token_expires_at=datetime.fromtimestamp(int(token.split(".")[0]), UTC),
                             audio_seconds=round(state.audio_seconds, 3))
