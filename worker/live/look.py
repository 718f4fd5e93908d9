"""One look at a live session's utterance in progress: where it ends (`worker.live.endpointing.cut`) over the
speech that VAD finds in the stretch of audio this look needs, and no more.

A look is made from a snapshot of what its session remembers (`Look`) and returns what it found
(`Looked`) without touching the session, so the live desk can run it on a thread of its own: VAD over a
flooded session's backlog takes a while, and the scheduler meanwhile launches everyone else's batches.
A look reads from a second before where earlier looks settled the utterance (`tail_from`), and at most
an utterance's length past it: a session with minutes of audio waiting costs the same per look as one
that keeps up, and its backlog is worked through look by look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.session_records import byte_at
from core.session_store import BYTES_PER_SECOND, SessionStore
from core.settings import LiveSettings
from worker.live.endpointing import Cut, CutKind, cut
from worker.model.transcriber import Transcriber, Window

if TYPE_CHECKING:
    import numpy as np

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


@dataclass(frozen=True)
class Look:
    """What a look starts from: the session's utterance in progress as its desk remembers it."""

    committed: int
    """Where the utterance starts (bytes of the session's audio)."""
    tail_from: float
    head: tuple[Window, ...]
    judged: float
    audio_bytes: int
    """The session's audio length when the look was asked for."""
    stop: bool
    """Cut as at the end of the audio (the session ends, or its client stopped sending)."""
    ending: bool
    """The session ends: a look that finds nothing more to decode ends it."""


@dataclass(frozen=True)
class Settled:
    """No pause ends the utterance so far: how far its speech is settled, for the next look."""

    tail_from: float
    head: tuple[Window, ...]
    judged: float


@dataclass(frozen=True)
class Looked:
    """What a look found."""

    cut: Cut | None
    seen_to: int
    """The end (bytes of the session's audio) of what the look read."""
    backlog: bool
    """Audio past what the look read was waiting: it saw only part of it (so never the session's end)."""
    settled: Settled | None = None


def look(store: SessionStore, models: Transcriber, settings: LiveSettings, session_id: str, at: Look) -> Looked:
    """Read the stretch `at` needs, find its speech, and where the utterance ends."""
    import numpy as np

    warm = max(0.0, round(at.tail_from - VAD_CONTEXT_SECONDS, 2))
    # Enough for the longest utterance from where it is settled (and the settling margin), so a look
    # always sees where an utterance too long must be cut.
    horizon = at.tail_from + settings.tuning.max_utterance_seconds + SETTLE_SECONDS
    first = at.committed + byte_at(warm)
    pcm = store.read_audio(session_id, first, at.committed + byte_at(horizon))
    pcm = pcm[:len(pcm) - len(pcm) % 2]
    seen_to = first + len(pcm)
    backlog = at.audio_bytes > seen_to
    seconds = (seen_to - at.committed) / BYTES_PER_SECOND
    if seconds < 0.1:
        return Looked(None, seen_to, backlog)
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
    windows = _speech(models, at, audio, warm)
    found = cut(seconds, windows, at.stop and not backlog, settings, at.judged)
    if found is None or found.kind is not CutKind.PARTIAL or not windows:
        return Looked(found, seen_to, backlog)
    # No pause ends the utterance so far: its speech up to shortly before the end is settled, but only
    # up to a silence: settled at a point inside a stretch of speech, the next look would start
    # mid-word, drop a fragment too short to be speech and see a pause that is not there (an utterance
    # was ended 1.5 s late at such a made-up pause).
    judged = windows[-1].start if len(windows) > 1 else at.judged  # every pause before the last stretch
    settled = settled_point(windows, seconds)
    head = tuple(Window(w.start, min(w.end, settled)) for w in windows if w.start < settled)
    return Looked(found, seen_to, backlog, Settled(settled, head, judged))


def _speech(models: Transcriber, at: Look, audio: np.ndarray, warm: float) -> list[Window]:
    """The utterance's speech: what earlier looks settled, then what VAD finds after it. `audio` starts
    at `warm`, a little before: VAD hears audio earlier looks heard too, so that it has come to the same
    state at `tail_from` and finds the onsets after it where they found them."""
    start = at.tail_from
    found = models.utterance_speech(audio)
    windows = [Window(max(w.start + warm, start), w.end + warm) for w in found if w.end + warm > start]
    head = list(at.head)
    if head and windows and windows[0].start - head[-1].end <= JOIN_SECONDS:
        head[-1] = Window(head[-1].start, windows.pop(0).end)  # speech that runs on across `tail_from`
    return head + windows

