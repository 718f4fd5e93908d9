"""Live sessions inside a worker's scheduler: each utterance (partial or final) is a one-window unit on
the high-priority lane, batched with other sessions' units and with file jobs' windows.

The `LiveDesk` holds the sessions this worker serves (a lease per session, renewed with the process's
other leases by `worker.leases`, so one worker decodes a session at a time and another takes it over
when this one dies, or when its round hands it back at the round's time limit). Each round asks it for
units between batches (`poll`, from `worker.schedule.live_work`): a session
with new audio is looked at (`worker.live.look`: VAD over the stretch of the utterance in progress that
the look needs, on the round's look thread), and what the look found becomes a partial or a final
unit; the scheduler hands the unit's text back (`deliver`). A final is committed with its event in one
step, and the next utterance starts after it, with its text as the prompt. When the client ends the
session (or its audio stops growing, or it has been open too long), the rest becomes a last final and
the whole session a normal job (`SessionStore.end_as_job`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from concurrent.futures import Executor, Future, wait

import redis

from core.session_records import byte_at
from core.session_store import BYTES_PER_SECOND, LIVE_PAGE, SessionStatus, SessionStore
from core.settings import LiveSettings
from core.vocabulary import decoding_prompt
from worker.context import JobContext
from worker.live import commanding, limits
from worker.live.dictating import LiveDictation
from worker.live.endpointing import CutKind
from worker.live.look import Look, Looked, look
from worker.live.session import HeldSession, LiveUnit, make_unit
from worker.model.transcriber import ModelInfo, Transcriber

log = logging.getLogger(__name__)

LOOK_WAIT_SECONDS = 0.05
"""How long a poll waits for the looks it asked for (a few ms each, as a rule), so a final they find
leads the next batch; a slower one (a flooded session's backlog) is taken up by a later poll, and holds
no one's batch back meanwhile."""
CLAIM_SCAN_SECONDS = 0.2
"""How often a desk with room looks for sessions nobody serves (two pages of the live set each time)."""


class LiveDesk:
    """The sessions one scheduler round serves."""

    def __init__(self, ctx: JobContext, info: ModelInfo, sessions: SessionStore | None = None,
                 looker: Executor | None = None) -> None:
        self.ctx = ctx
        self.settings: LiveSettings = ctx.live
        self.models: Transcriber = ctx.models
        self.info = info
        keep = ctx.live.max_session_seconds + ctx.live.idle_timeout_seconds
        self.store = sessions or SessionStore(ctx.store.redis, keep, ctx.store.retention_seconds)
        self.holder = f"{ctx.worker_name}/{uuid.uuid4().hex[:8]}"
        """This desk's name on the leases of the sessions it holds."""
        self.leases = ctx.leases
        self.held: dict[str, HeldSession] = {}
        self.units_made = 0
        self.looker = looker
        """Where looks run (the scheduler's look thread); None: in the caller's thread, at once."""
        self.scan_at = 0.0
        self.scan_from = 0
        """Where in the live set (oldest first) the next scan for unserved sessions reads a page."""

    def poll(self, admit: bool, partials: int | None = None) -> list[LiveUnit]:
        """Take sessions nobody serves (if `admit`), look at each idle one with new audio, and make the
        units the looks that ended found: every final that is due, and partials for at most `partials`
        sessions (None: all), those that have waited longest for one first. A look still running is
        taken up by a later poll."""
        for session in list(self.held.values()):
            if session.lease.lost.is_set():  # the lease renewer found it held by another worker
                log.warning("session %s: this worker lost its lease; leaving it", session.id)
                self.held.pop(session.id)
        if admit and len(self.held) < self.settings.sessions_per_worker:
            self._claim(self.ctx.settings.lease_seconds)
        ordered = sorted(self.held.values(), key=lambda s: s.partial_made_at)
        # A session whose partial waits (or decodes) is still looked at: a pause found meanwhile makes
        # its final now, and the partial, stale, is dropped (or its text ignored).
        fresh = [pending for s in ordered if s.looking is None and not (s.busy and s.partial is None)
                 and (pending := self._next(s)) is not None and not pending.done()]
        if fresh:
            wait(fresh, timeout=LOOK_WAIT_SECONDS)
        units = []
        budget = len(self.held) if partials is None else partials
        for session in ordered:
            if session.id not in self.held or session.looking is None or not session.looking[1].done():
                continue
            (asked, found), session.looking = session.looking, None
            unit = self._use(session, asked, found.result(), partial=budget > 0 and not session.busy)
            if unit is None:
                continue
            if session.partial is not None:
                session.partial.stale = True
            session.busy = True
            session.partial = unit if unit.cut.kind is CutKind.PARTIAL else None
            units.append(unit)
            budget -= unit.cut.kind is CutKind.PARTIAL
        return units

    def deliver(self, unit: LiveUnit, text: str) -> None:
        """The model's text for a unit: a partial (its stable words) or a committed final."""
        session = unit.session
        if unit.stale or session.id not in self.held:
            return
        session.busy, session.partial = False, None
        start = round(unit.offset + unit.cut.start, 3)
        if unit.cut.kind is CutKind.PARTIAL:
            stable = " ".join(session.agreement.update(text))
            if stable and stable != session.shown:
                session.shown = stable
                self.store.emit(session.id, {"type": "partial", "text": stable, "start": start})
            return
        text = text.strip()
        end = round(unit.offset + unit.cut.end, 3)
        told = [{"type": "final", "segment": session.segment, "text": text, "start": start, "end": end}] if text else []
        if text and session.dictation is not None:
            told = session.dictation.hear(session.segment, text, start, end)
        segment = session.segment + (1 if text else 0)
        prompt = text or session.prompt
        if not self.store.commit_final(session.id, self.holder, unit.end_byte, segment, prompt,
                                       told[0] if told else None):
            log.warning("session %s: lost its lease before a final was committed; leaving it", session.id)
            self.held.pop(session.id, None)
            self.leases.drop(session.lease)
            return
        for event in told[1:]:  # a command's finals, after it (the final's own commit holds the first)
            self.store.emit(session.id, event)
        if session.dictation is not None and session.dictation.stopped:
            self.store.request_end(session.id, "stop_dictation")
        session.restart(unit.end_byte)
        session.segment, session.prompt = segment, prompt
        commanding.apply_due(self.store, self.holder, session)  # those that came during the utterance
        session.agreement.reset()
        session.shown = ""

    def fail(self, unit: LiveUnit, exc: Exception) -> None:
        """The model failed on a unit: tell the client; the session goes on (its audio is kept for the job)."""
        if unit.stale:
            return
        unit.session.busy, unit.session.partial = False, None
        log.warning("session %s: a unit failed (%s)", unit.session.id, exc.__class__.__name__)
        self.store.emit(unit.session.id, {"type": "error", "code": "transcription_failed",
                                          "message": "live text for the last words failed; the session's job "
                                                     "will still transcribe them"})

    def talking(self) -> bool:
        """Some session has an utterance in progress (speech not yet in a final) or a unit in flight."""
        return any(s.busy or s.speaking for s in self.held.values())

    def looks(self) -> list[Future[Looked]]:
        """The looks running now: the round waits on them, as on its batches."""
        return [s.looking[1] for s in self.held.values() if s.looking is not None and not s.looking[1].done()]

    def release(self, keep: Collection[str] = ()) -> int:
        """Hand back every session but those in `keep` (their finals are in the model): another round or
        worker takes them over where their last final left off. How many were handed back."""
        handed = [session_id for session_id in self.held if session_id not in keep]
        for session_id in handed:
            self._drop(self.held[session_id])
        if handed:
            log.info("handed %d live sessions back", len(handed))
        return len(handed)

    def _claim(self, lease: float) -> None:
        """Take sessions nobody serves, from the newest page of the live set (sessions just made) and
        the next page of the rest (sessions whose worker died, or that came while every worker was
        full): every worker finds any unserved session within a pass, however many are served."""
        now = time.monotonic()
        if now - self.scan_at < CLAIM_SCAN_SECONDS:
            return
        self.scan_at = now
        older = self.store.live_sessions(LIVE_PAGE, self.scan_from)
        self.scan_from = 0 if len(older) < LIVE_PAGE else self.scan_from + LIVE_PAGE
        candidates = [i for i in dict.fromkeys(self.store.live_sessions(LIVE_PAGE, -LIVE_PAGE) + older)
                      if i not in self.held]
        for session_id in self.store.unheld(candidates):
            if len(self.held) >= self.settings.sessions_per_worker:
                break
            if self.store.claim(session_id, self.holder, lease):
                self._hold(session_id)

    # ---- one session ---------------------------------------------------------------------------

    def _hold(self, session_id: str) -> None:
        state = self.store.get(session_id)
        meta = self.store.meta(session_id) if state is not None else None
        if state is None or meta is None or state.status is SessionStatus.ENDED:
            if state is None or meta is None:
                self.store.forget(session_id)
            self.store.release(session_id, self.holder)
            return
        # Read once: its options (a vocabulary may be long) are not in the hash each look reads.
        options = meta.options
        language = options.language or self.info.language or "en"
        # As a job would be decoded: the client's prompt and hotwords joined by its vocabulary.
        prompt, hotwords = decoding_prompt(options, self.ctx.settings.vocabulary)
        self.held[session_id] = HeldSession(session_id, language, hotwords, prompt,
                                            state.committed_bytes, state.segment, state.prompt,
                                            looked_at=state.committed_bytes,
                                            lease=self.leases.hold_session(session_id, self.holder),
                                            partial_at=state.committed_bytes)
        held = self.held[session_id]
        held.commands_sent, held.commands_applied = state.commands, state.commands_applied
        held.dictation = LiveDictation.load(self.store.redis, session_id, options, meta.tenant, state.segment,
                                            self.store.keep_ms, self.ctx.settings.vocabulary)
        if held.dictation is not None:
            held.initial_prompt = " ".join(p for p in (held.dictation.prompt, held.initial_prompt) if p)
        log.info("session %s: serving it", session_id)

    def _next(self, session: HeldSession) -> Future[Looked] | None:
        """Look at a session (off this thread, with a looker) if a look is due: new audio, its end, or
        its client stopped sending."""
        state = self.store.get(session.id)
        if state is None or state.status is SessionStatus.ENDED:
            self._drop(session)
            return None
        now = time.time()
        if state.audio_bytes > session.heard:
            # `last_audio_at` places the growth more closely than this look does (never later than now).
            session.heard, session.grew_at = state.audio_bytes, max(session.grew_at, min(now, state.last_audio_at))
        session.commands_sent = state.commands
        commanding.apply_due(self.store, self.holder, session)
        if state.status is SessionStatus.OPEN:
            state = limits.enforce(self.store, self.settings, session, state, now)
        ending = state.status is SessionStatus.ENDING
        new = state.audio_bytes - session.looked_at
        # A client that has sent nothing for a real stop's length has stopped talking (push to talk, or a
        # client that streams only speech): its utterance in progress ends, as at a pause.
        stopped = session.speaking and now - session.grew_at >= self.settings.tuning.endpoint_short_silence_seconds
        # Looked at (VAD) often, so a pause is seen soon after it; decoded for a partial less often.
        if not ending and not stopped and new < self.settings.tuning.endpoint_check_seconds * BYTES_PER_SECOND:
            return None
        limits.tell_lag(self.store, self.settings, session, new / BYTES_PER_SECOND, now)
        asked = Look(session.committed, session.tail_from, tuple(session.head), session.judged, state.audio_bytes,
                     ending or stopped, ending)
        if self.looker is not None:
            found = self.looker.submit(look, self.store, self.models, self.settings, session.id, asked)
        else:
            found = Future()
            found.set_result(look(self.store, self.models, self.settings, session.id, asked))
        session.looking = asked, found
        return found

    def _use(self, session: HeldSession, asked: Look, found: Looked, partial: bool) -> LiveUnit | None:
        """What a look found: the session's next unit, if one is due."""
        if session.id not in self.held or session.committed != asked.committed:
            return None  # handed back, or a final moved the utterance on meanwhile
        # A look that saw only part of a backlog leaves the rest new: the next poll looks on at once.
        session.looked_at = found.seen_to
        session.clear_to = commanding.heard_to(session, found)
        commanding.apply_due(self.store, self.holder, session)  # before the speech the look found
        if (settled := found.settled) is not None:
            session.speaking, session.judged = True, settled.judged
            session.tail_from, session.head = settled.tail_from, list(settled.head)
        what = found.cut
        if what is None:
            if asked.ending and not found.backlog:
                self._end(session)
            return None
        if what.kind is CutKind.SKIP:
            session.restart(session.committed + byte_at(what.end))
            return None
        if what.kind is CutKind.PARTIAL:
            # No partial of audio the session is behind on: only finals, until it has caught up.
            every = self.settings.tuning.partial_seconds * BYTES_PER_SECOND
            if found.backlog or not partial or asked.audio_bytes - session.partial_at < every:
                return None
            session.partial_at, session.partial_made_at = asked.audio_bytes, time.monotonic()
        start, end_byte = session.committed + byte_at(what.start), session.committed + byte_at(what.end)
        self.units_made += 1
        return make_unit(session, what, self.store.read_audio(session.id, start, end_byte), self.units_made,
                         self.models, self.settings, short_windows=self.info.device == "cpu")

    def _end(self, session: HeldSession) -> None:
        try:
            job_id = self.store.end_as_job(session.id, self.ctx.store, self.ctx.audio)
        except redis.RedisError:
            raise  # the round gives everything up to recovery, as for any Redis failure
        except Exception as exc:  # noqa: BLE001 - the audio store failed: the session waits, its audio kept
            log.warning("session %s: could not put its audio for its job yet (%s); trying again", session.id,
                        exc.__class__.__name__)
            return
        log.info("session %s: ended as job %s", session.id, job_id)
        self._drop(session)

    def _drop(self, session: HeldSession) -> None:
        self.held.pop(session.id, None)
        self.leases.drop(session.lease)
        self.store.release(session.id, self.holder)
