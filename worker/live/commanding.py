"""A live session's client commands (buttons, keys) in its worker: each one applies where it came in the audio.

A command stored at byte X of the session's audio applies once every utterance that started before X
is final, and before any utterance that starts after it: as if it had been said at X, in a pause. The
desk knows where the utterance in progress starts speaking from its looks (`heard_to`), and applies
what is due after each look, after each final, and when it looks at the session (`apply_due`), through
the session's editor, as a spoken command would be; its `command` event's `source` is `client`.
"""

from __future__ import annotations

from core.jobs import ClientCommand
from core.session_commands import Replayed
from core.session_records import byte_at
from core.session_store import BYTES_PER_SECOND, SessionStore
from worker.live.dictating import Event
from worker.live.endpointing import PAD_SECONDS, CutKind
from worker.live.look import Looked
from worker.live.session import HeldSession

NO_DICTATION = "commands need dictation formatting: start the session with a note_type (or formatting=dictation)"


def heard_to(session: HeldSession, found: Looked) -> int:
    """Where the speech of the utterance in progress starts, as `found` says (bytes of the session's
    audio); the end of what it read when it found none."""
    what = found.cut
    if what is None:
        return found.seen_to
    if what.kind is CutKind.SKIP:
        return session.committed + byte_at(what.end)
    # A cut starts `PAD_SECONDS` before the speech VAD found (or at the utterance's start).
    return session.committed + byte_at(what.start + PAD_SECONDS if what.start > 0 else 0.0)


def apply_due(store: SessionStore, holder: str, session: HeldSession) -> None:
    """Apply the client commands that are due, in order, each recorded with its events at once; a
    `stop_dictation` among them ends the session."""
    if session.commands_sent <= session.commands_applied:
        return
    known = session.commands_applied + len(session.waiting)
    if session.commands_sent > known:
        session.waiting += store.client_commands(session.id, known)
    while session.waiting:
        command = session.waiting[0]
        if round(command.at * BYTES_PER_SECOND) > max(session.clear_to, session.committed):
            break
        events, replay = _apply(session, command)
        if not store.commit_command(session.id, holder, session.commands_applied, replay, events):
            return  # the lease is lost: the desk leaves the session when its renewer says so
        session.waiting.pop(0)
        session.commands_applied += 1
    if session.dictation is not None and session.dictation.stopped:
        store.request_end(session.id, "stop_dictation")


def _apply(session: HeldSession, command: ClientCommand) -> tuple[list[Event], Replayed | None]:
    if session.dictation is None:
        return [{"type": "command", "name": command.name, "applied": False, "applied_to": None, "said": "",
                 "source": "client", "reason": NO_DICTATION, "start": command.at, "end": command.at}], None
    replay = Replayed(session.commands_applied, session.segment, command)
    return session.dictation.command(command), replay

