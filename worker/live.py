"""Live sessions inside a worker's scheduler: each utterance (partial or final) is a one-window unit on
the high-priority lane, batched with other sessions' units and with file jobs' windows.

The `LiveDesk` holds the sessions this worker serves (a lease per session, so one worker decodes a
session at a time and another takes it over when this one dies). Each scheduler round asks it for
units between batches (`poll`): it reads the audio that came in since the last final, finds where
the utterance ends (`worker.endpointing`), and makes a partial or a final unit; the scheduler hands
the unit's text back (`deliver`). A final is committed with its event in one step, and the next
utterance starts after it, with its text as the prompt. When the client ends the session (or goes
quiet), the rest becomes a last final and the whole session a normal job (`SessionStore.end_as_job`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.session_store import BYTES_PER_SECOND, SessionState, SessionStatus, SessionStore
from core.settings import LiveSettings
from core.vocabulary import decoding_prompt
from worker.endpointing import Cut, CutKind, LocalAgreement, cut
from worker.transcriber import DecodeRequest, ModelInfo, Transcriber, Window

if TYPE_CHECKING:
    import numpy as np

    from worker.job_runner import JobContext

log = logging.getLogger(__name__)

SETTLE_SECONDS = 1.5
"""What VAD found this far before the end of the audio is not revised by audio that comes later."""
MAX_REWIND_SECONDS = 6.0
"""How far back of `SETTLE_SECONDS` a look's VAD may start, so that a look costs the same at any length."""
ONSET_LEAD_SECONDS = 0.1
"""Silence kept before an onset where the next look's VAD starts (see `settled_point`)."""
VAD_CONTEXT_SECONDS = 1.0
"""Audio before `tail_from` a look's VAD also hears (and whose speech it leaves to the head)."""
JOIN_SECONDS = 0.05
"""Speech the next look finds this close after the settled speech is the same stretch, cut by the look."""
PROMPT_CHARS = 160
"""The tail of the previous final that leads the next utterance's prompt (about 35 tokens)."""
SHORT_UTTERANCE_SECONDS = 8.0
SHORT_WINDOW_SECONDS = 15.0
"""An utterance up to 8 s is encoded in a 15 s window instead of Whisper's 30 s: half the encoder's work
(most of a unit's cost on a CPU) at the same WER on the dev set (tiny.en: 12.55 % against 12.87 % over
12 clips cut at pauses into pieces up to 8 s; 10 s windows lost words: 20.9 %)."""
TOKENS_PER_SECOND = 10
"""A live unit's text is capped at this many tokens per second of audio (plus `TOKENS_SLACK`): fast
dictation is about 6 (4 words a second, with punctuation); more is the model looping."""
TOKENS_SLACK = 16
FINALS_FIRST = 10**12
"""Subtracted from a final unit's order, so every waiting final is decoded before any partial."""


def settled_point(windows: list[Window], seconds: float) -> float:
    """Where the next look's VAD starts: `SETTLE_SECONDS` before the end of the audio, moved back into
    the silence before the speech it would fall in (or just before), up to `MAX_REWIND_SECONDS`, so that
    VAD, which starts afresh there, finds the same onsets the looks before found (started inside a word
    or right at it, it finds it late, and so a pause that is not there)."""
    settled = max(0.0, int((seconds - SETTLE_SECONDS) * 100) / 100)  # on VAD's 10 ms grid
    before = 0.0
    for w in windows:
        if w.start - ONSET_LEAD_SECONDS < settled < w.end:
            if settled - w.start > MAX_REWIND_SECONDS:
                return settled  # a long run of speech is cut (the look's VAD hears the second before)
            return max(before, round(w.start - ONSET_LEAD_SECONDS, 2))
        before = w.end
    return settled


@dataclass
class HeldSession:
    """A session this worker serves, and what it remembers between units."""

    id: str
    language: str
    hotwords: str | None
    initial_prompt: str | None
    committed: int
    """Bytes of the session's audio already in a final (or dropped as silence)."""
    segment: int
    prompt: str
    looked_at: int
    """The session's audio length (bytes) when this worker last looked at it."""
    partial_at: int = 0
    """The session's audio length (bytes) when its last partial was made."""
    partial_made_at: float = 0.0
    """When (monotonic) its last partial was made: the sessions that waited longest get the next ones."""
    head: list[Window] = field(default_factory=list)
    """The utterance's speech before `tail_from` (seconds from `committed`), as earlier looks found it,
    with no pause that ends it: each look runs VAD over the audio after `tail_from` only, so a look
    costs the same at any length."""
    tail_from: float = 0.0
    judged: float = 0.0
    """The pauses of the utterance before this point were judged (see `endpointing.cut`)."""
    speaking: bool = False
    """The last look found speech with no pause after it that ends the utterance."""
    agreement: LocalAgreement = field(default_factory=LocalAgreement)
    shown: str = ""
    busy: bool = False
    """A unit of this session waits for the model or is in it."""
    partial: LiveUnit | None = None
    """That unit, when it is a partial: a pause found meanwhile makes it stale (see `poll`)."""
    lag_told_at: float = 0.0

    def restart(self, committed: int) -> None:
        """The next utterance starts at byte `committed`."""
        self.committed, self.head, self.tail_from, self.speaking, self.judged = committed, [], 0.0, False, 0.0

    def unit_prompt(self) -> str | None:
        """The previous final's tail, for continuity, then the job's prompt (its vocabulary): the model
        cuts it to `LiveSettings.prompt_tokens`, so every session's units put SOT at one position and
        share batches, and the vocabulary is never pushed out by the session's own text."""
        tail = self.prompt[-PROMPT_CHARS:].partition(" ")[2] if len(self.prompt) > PROMPT_CHARS else self.prompt
        return " ".join(p for p in (tail.strip(), self.initial_prompt) if p) or None


@dataclass
class LiveUnit:
    """One decode of one session's utterance: a Schedulable with one window, always on the high lane."""

    id: str
    session: HeldSession
    cut: Cut
    audio: np.ndarray
    offset: float
    """Where the utterance starts, in seconds of the session."""
    end_byte: int
    key: Hashable
    seq: int
    prompt: str | None
    prompt_tokens: int
    window_seconds: float
    sent: int = 0
    passed_over: int = 0
    stale: bool = False
    """A partial overtaken by its session's final: not decoded if it still waits, its text ignored."""
    made_at: float = field(default_factory=time.monotonic)
    launched_at: float = 0.0
    """When (monotonic) it went to the model: its wait and decode times are worker metrics."""

    @property
    def high(self) -> bool:
        return True

    @property
    def remaining(self) -> int:
        return 0 if self.stale else 1 - self.sent

    def request(self, index: int) -> DecodeRequest:
        return DecodeRequest(self.audio, self.session.language, self.prompt, self.session.hotwords,
                             self.prompt_tokens, self.window_seconds,
                             int(TOKENS_PER_SECOND * self.audio.size / 16000) + TOKENS_SLACK)


class LiveDesk:
    """The sessions one scheduler round serves."""

    def __init__(self, ctx: JobContext, info: ModelInfo, sessions: SessionStore | None = None) -> None:
        self.ctx = ctx
        self.settings: LiveSettings = ctx.live
        self.models: Transcriber = ctx.models
        self.info = info
        keep = ctx.live.max_session_seconds + ctx.live.idle_timeout_seconds
        self.store = sessions or SessionStore(ctx.store.redis, keep)
        self.owner = f"{ctx.worker_name}/{uuid.uuid4().hex[:8]}"
        self.held: dict[str, HeldSession] = {}
        self.units_made = 0
        self.renewed_at = 0.0

    def poll(self, admit: bool, partials: int | None = None) -> list[LiveUnit]:
        """Take sessions nobody serves (if `admit`), and make the next unit of each idle one: every
        final that is due, and partials for at most `partials` sessions (None: all), those that have
        waited longest for one first."""
        lease = self.ctx.settings.lease_seconds
        if time.monotonic() - self.renewed_at > lease / 3:
            self.renewed_at = time.monotonic()
            for session_id in list(self.held):
                if not self.store.renew(session_id, self.owner, lease):
                    log.warning("session %s: this worker lost its lease; leaving it", session_id)
                    self.held.pop(session_id)
        if admit and len(self.held) < self.settings.sessions_per_worker:
            for session_id in self.store.live_sessions(2 * self.settings.sessions_per_worker):
                if len(self.held) >= self.settings.sessions_per_worker:
                    break
                if session_id not in self.held and self.store.claim(session_id, self.owner, lease):
                    self._hold(session_id)
        units = []
        budget = len(self.held) if partials is None else partials
        for session in sorted(self.held.values(), key=lambda s: s.partial_made_at):
            if session.busy and session.partial is None:
                continue  # its final is on the way
            # A session whose partial waits (or decodes) is still looked at: a pause found meanwhile
            # makes its final now, and the partial, stale, is dropped (or its text ignored).
            unit = self._next(session, partial=budget > 0 and not session.busy)
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
        event = ({"type": "final", "segment": session.segment, "text": text, "start": start,
                  "end": round(unit.offset + unit.cut.end, 3)} if text else None)
        segment = session.segment + (1 if text else 0)
        prompt = text or session.prompt
        if not self.store.commit_final(session.id, self.owner, unit.end_byte, segment, prompt, event):
            log.warning("session %s: lost its lease before a final was committed; leaving it", session.id)
            self.held.pop(session.id, None)
            return
        session.restart(unit.end_byte)
        session.segment, session.prompt = segment, prompt
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

    def release_all(self) -> None:
        for session_id in list(self.held):
            self.store.release(session_id, self.owner)
        self.held.clear()

    # ---- one session ---------------------------------------------------------------------------

    def _hold(self, session_id: str) -> None:
        state = self.store.get(session_id)
        if state is None or state.status is SessionStatus.ENDED:
            if state is None:
                self.store.forget(session_id)
            self.store.release(session_id, self.owner)
            return
        options = state.meta.options
        language = options.language or self.info.language or "en"
        # As a job would be decoded: the client's prompt and hotwords joined by its vocabulary.
        prompt, hotwords = decoding_prompt(options, self.ctx.settings.vocabulary)
        self.held[session_id] = HeldSession(session_id, language, hotwords, prompt,
                                            state.committed_bytes, state.segment, state.prompt,
                                            looked_at=state.committed_bytes, partial_at=state.committed_bytes)
        log.info("session %s: serving it", session_id)

    def _next(self, session: HeldSession, partial: bool = True) -> LiveUnit | None:
        state = self.store.get(session.id)
        if state is None or state.status is SessionStatus.ENDED:
            self._drop(session)
            return None
        now = time.time()
        if state.status is SessionStatus.OPEN and now - state.last_audio_at > self.settings.idle_timeout_seconds:
            if self.store.request_end(session.id, "idle_timeout"):
                self.store.emit(session.id, {"type": "error", "code": "idle_timeout", "message": (
                    f"no audio for {self.settings.idle_timeout_seconds:g} s; the session ends and its audio "
                    "becomes a job")})
            state = self.store.get(session.id) or state
        ending = state.status is SessionStatus.ENDING
        new = state.audio_bytes - session.looked_at
        # A client that has sent nothing for a real stop's length has stopped talking (push to talk, or a
        # client that streams only speech): its utterance in progress ends, as at a pause.
        stopped = session.speaking and now - state.last_audio_at >= self.settings.endpoint_short_silence_seconds
        # Looked at (VAD) often, so a pause is seen soon after it; decoded for a partial less often.
        if not ending and not stopped and new < self.settings.endpoint_check_seconds * BYTES_PER_SECOND:
            return None
        self._tell_lag(session, state, new / BYTES_PER_SECOND, now)
        session.looked_at = state.audio_bytes
        found = self._cut(session, state, ending or stopped)
        if found is None:
            if ending:
                self._end(session)
            return None
        what, audio = found
        if what.kind is CutKind.SKIP:
            session.restart(session.committed + int(what.end * 16000) * 2)
            return None
        if what.kind is CutKind.PARTIAL:
            if not partial or state.audio_bytes - session.partial_at < self.settings.partial_seconds * BYTES_PER_SECOND:
                return None
            session.partial_at, session.partial_made_at = state.audio_bytes, time.monotonic()
        import numpy as np

        clip = audio[int(what.start * 16000):int(what.end * 16000)]
        self.units_made += 1
        end_byte = session.committed + int(what.end * 16000) * 2
        prompt = session.unit_prompt()
        # Finals go before partials: a final is what a clinician waits for, a partial only a preview.
        order = self.units_made - (FINALS_FIRST if what.kind is CutKind.FINAL else 0)
        window = SHORT_WINDOW_SECONDS if clip.size <= SHORT_UTTERANCE_SECONDS * 16000 else 30.0
        key = self.models.batch_key(session.language, prompt, session.hotwords, self.settings.prompt_tokens)
        key = key if window == 30.0 else (key, window)  # a 30 s window may share a file job's batch
        return LiveUnit(f"live:{session.id}:{self.units_made}", session, what, np.ascontiguousarray(clip),
                        session.committed / BYTES_PER_SECOND, end_byte, key, order, prompt,
                        self.settings.prompt_tokens, window)

    def _cut(self, session: HeldSession, state: SessionState, ending: bool) -> tuple[Cut, np.ndarray] | None:
        import numpy as np

        pcm = self.store.read_audio(session.id, session.committed)
        pcm = pcm[:len(pcm) - len(pcm) % 2]
        if len(pcm) < 0.1 * BYTES_PER_SECOND:
            return None
        audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        seconds = audio.size / 16000
        windows = self._speech(session, audio)
        found = cut(seconds, windows, ending, self.settings, session.judged)
        if found is not None and found.kind is CutKind.PARTIAL and windows:
            # No pause ends the utterance so far: its speech up to shortly before the end is settled,
            # but only up to a silence: settled at a point inside a stretch of speech, the next look
            # would start mid-word, drop a fragment too short to be speech and see a pause that is not
            # there (an utterance was ended 1.5 s late at such a made-up pause).
            session.speaking = True
            if len(windows) > 1:
                session.judged = windows[-1].start  # every pause before the last stretch of speech
            session.tail_from = settled = settled_point(windows, seconds)
            session.head = [Window(w.start, min(w.end, settled)) for w in windows if w.start < settled]
        return None if found is None else (found, audio)

    def _speech(self, session: HeldSession, audio: np.ndarray) -> list[Window]:
        """The utterance's speech: what earlier looks settled, then what VAD finds after it."""
        start = session.tail_from
        # VAD starts a little before, over audio earlier looks heard too, so that it has come to the
        # same state at `start` and finds the onsets after it where they found them.
        warm = max(0.0, round(start - VAD_CONTEXT_SECONDS, 2))
        found = self.models.utterance_speech(audio[int(warm * 16000):])
        windows = [Window(max(w.start + warm, start), w.end + warm) for w in found if w.end + warm > start]
        head = list(session.head)
        if head and windows and windows[0].start - head[-1].end <= JOIN_SECONDS:
            head[-1] = Window(head[-1].start, windows.pop(0).end)  # speech that runs on across `tail_from`
        return head + windows

    def _tell_lag(self, session: HeldSession, state: SessionState, waiting: float, now: float) -> None:
        """Audio that came in since this worker last looked is what it is behind by."""
        if waiting > self.settings.lag_seconds and now - session.lag_told_at > self.settings.lag_seconds:
            session.lag_told_at = now
            self.store.emit(session.id, {"type": "lagging", "delay": round(waiting, 1), "reason": "behind"})

    def _end(self, session: HeldSession) -> None:
        job_id = self.store.end_as_job(session.id, self.ctx.store)
        log.info("session %s: ended as job %s", session.id, job_id)
        self._drop(session)

    def _drop(self, session: HeldSession) -> None:
        self.held.pop(session.id, None)
        self.store.release(session.id, self.owner)
