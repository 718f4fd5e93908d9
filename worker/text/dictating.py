"""A file job's dictation: formatting's spoken punctuation and numbers, then the commands.

On exactly when dictation formatting is (`formatting.dictation_enabled`: a job naming a note_type, or
`formatting=dictation`). Layout ("new paragraph", "new line") belongs to the command grammar
(`dictation.grammar`), so formatting leaves it as said here and the editor writes the breaks, with
"scratch that", "insert <template>" and the rest. The transcript's `text` becomes the document after
every command (a live session's job: with the commands its client sent, `JobOptions.client_commands`,
where they came); `commands` lists what was said to the system (with its audio time), and `unfilled_fields`
the template fields still at their defaults. `segments` stay what was said, as subtitles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import redis

from core.jobs import AppliedCommand, JobOptions, Segment, Transcript, UnfilledField, Word
from dictation.editor import edit
from dictation.grammar import Call, Utterance
from dictation.template_store import TemplateStore
from dictation.templates import Template
from worker.text.formatting import dictation_enabled, format_transcript

Templates = Mapping[str, Template]


def dictate(transcript: Transcript, options: JobOptions, templates: Callable[[], Templates]) -> Transcript:
    """The transcript formatted and with its commands applied, when the job wants dictation.

    `templates` gives what "insert" may insert (read only when dictation is on)."""
    if not dictation_enabled(options) or not (transcript.segments or options.client_commands):
        return transcript
    sent = [Call(c.name, "", c.at, c.at, c.template) for c in options.client_commands or ()]
    transcript = split_at(transcript, [call.start for call in sent])
    said = format_transcript(transcript, options, layout=False)
    # The subtitles (segments) come from formatting as it always was: its layout marks dropped.
    subtitles = format_transcript(transcript, options)
    return apply_commands(subtitles, said, templates(), raw_text=transcript.raw_text or transcript.text, sent=sent)


def apply_commands(transcript: Transcript, said: Transcript, templates: Templates,
                   raw_text: str | None = None, sent: list[Call] | None = None) -> Transcript:
    """`transcript` with `text` as the editor leaves it after the commands in `said`'s segments (one
    utterance each) and those a live session's client `sent` (at their audio times)."""
    utterances = [Utterance(s.text, s.start, s.end) for s in said.segments]
    edited = edit(utterances, templates, sent or ())
    update: dict[str, object] = {"text": edited.text}
    if edited.commands:
        update["commands"] = [AppliedCommand.model_validate(c) for c in edited.commands]
    if any(c.get("name") == "insert_template" and c.get("applied") for c in edited.commands):
        update["unfilled_fields"] = [UnfilledField.model_validate(f) for f in edited.unfilled]
    if edited.text != transcript.text:
        update["raw_text"] = raw_text or transcript.raw_text or transcript.text
    return transcript.model_copy(update=update)


def split_at(transcript: Transcript, times: list[float]) -> Transcript:
    """The transcript with each segment whose timed words a client's command came among cut there: a
    window holds up to 30 s of speech, and the command goes between the words before it and after it, as
    the live session applied it between its utterances."""
    if not times:
        return transcript
    segments: list[Segment] = []
    for segment in transcript.segments:
        inside = sorted(t for t in times if segment.start < t < segment.end)
        words = segment.words or []
        if not inside or not words or any(w.start is None or w.end is None for w in words):
            segments.append(segment)
            continue
        pieces: list[list[Word]] = [[] for _ in range(len(inside) + 1)]
        for word in words:
            middle = ((word.start or 0.0) + (word.end or 0.0)) / 2
            pieces[sum(middle > t for t in inside)].append(word)
        segments += [segment.model_copy(update={"start": piece[0].start, "end": piece[-1].end, "words": piece,
                                                "text": " ".join(w.word.strip() for w in piece)})
                     for piece in pieces if piece]
    return transcript.model_copy(update={"segments": segments})


def owner_templates(client: redis.Redis, owner: Callable[[], str]) -> Callable[[], Templates]:
    """What a job's owner (its API key) may insert, read when the job needs it."""
    return lambda: TemplateStore(client).templates(owner())
