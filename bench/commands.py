"""Command precision and recall, and how often an ordinary sentence is taken for a command.

    .venv/bin/python bench/commands.py            # on the reference text (what was said, with its pauses)
    .venv/bin/python bench/commands.py --json     # the same figures as JSON
    .venv/bin/python bench/commands.py --audio    # end to end: the voiced clips through the bundled model

The dev set is bench/devset/commands.yaml (dictations with commands, and near misses that must stay
text), plus every sentence of the transcription dev set (bench/devset/dictations.yaml, as written), each
said alone after a pause: the hardest place for an ordinary sentence, since a command is said that way.
A recognised command is right when it falls in a phrase labelled with that command (by time); one in
any other phrase takes that phrase's sentence for a command. Each dictation's text after the editor
is also compared with what it should be (`written`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "devset"))

from commands_script import COMMANDS_MANIFEST, CommandDictation, Phrase, load_commands  # noqa: E402
from script import MANIFEST, load  # noqa: E402

from dictation.editor import Editor  # noqa: E402
from dictation.grammar import Utterance, Word  # noqa: E402
from dictation.starters import starter_templates  # noqa: E402

SECONDS_PER_WORD = 0.35
ENDPOINT_SECONDS = 0.7
"""A pause this long ends an utterance (the live endpointer's silence); shorter ones stay inside it."""
_SENTENCES = re.compile(r"(?<=[.?!])\s+")

Span = tuple[float, float]
"""Where a phrase lies in the audio (seconds)."""


@dataclass
class Score:
    said: int = 0
    right: int = 0
    false: int = 0
    sentences: int = 0
    taken: int = 0
    notes: int = 0
    notes_right: int = 0
    misses: list[str] = field(default_factory=list)
    false_hits: list[str] = field(default_factory=list)
    wrong_notes: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        recognised = self.right + self.false
        return {
            "commands": self.said, "precision": round(self.right / recognised, 3) if recognised else None,
            "recall": round(self.right / self.said, 3) if self.said else None,
            "ordinary_sentences": self.sentences, "taken_for_commands": self.taken,
            "taken_share": round(self.taken / self.sentences, 4) if self.sentences else None,
            "notes_right": f"{self.notes_right}/{self.notes}",
        }


def reference_timeline(d: CommandDictation) -> tuple[list[Utterance], list[Span]]:
    """The phrases as a recogniser with perfect ears would give them: words timed, cut at endpoints."""
    utterances: list[list[Word]] = []
    spans: list[Span] = []
    now = 0.0
    for phrase in d.said:
        now += phrase.pause
        if not utterances or phrase.pause >= ENDPOINT_SECONDS:
            utterances.append([])
        start = now
        for word in phrase.text.split():
            utterances[-1].append(Word(word, now, now + SECONDS_PER_WORD - 0.05))
            now += SECONDS_PER_WORD
        spans.append((start, now))
    return [_utterance(words) for words in utterances], spans


def _utterance(words: list[Word]) -> Utterance:
    return Utterance(" ".join(w.text for w in words), words[0].start, words[-1].end, tuple(words))


Heard = tuple[list[Utterance], list[Span]]
"""What was heard in a dictation (utterances), and where each of its phrases lies."""


def score(cases: list[tuple[CommandDictation, Heard]], ordinary: list[list[Utterance]]) -> Score:
    """Score the commands dictations, and the ordinary dictations (each a list of utterances)."""
    templates = {t.name: t for t in starter_templates()}
    result = Score()
    for d, (utterances, spans) in cases:
        editor = Editor(templates=templates)
        calls = [e for u in utterances for e in editor.hear(u) if e["type"] == "command"]
        _match(d, spans, calls, result)
        result.notes += 1
        if editor.text == d.written:
            result.notes_right += 1
        else:
            result.wrong_notes.append(f"{d.id}: {editor.text!r}")
    for utterances in ordinary:
        editor = Editor(templates=templates)
        for utterance in utterances:
            result.sentences += len([s for s in _SENTENCES.split(utterance.text.strip()) if s])
            hits = [e for e in editor.hear(utterance) if e["type"] == "command"]
            result.taken += len(hits)
            result.false += len(hits)
            result.false_hits += [f"{e['said']!r} -> {e['name']}" for e in hits]
    return result


def _match(d: CommandDictation, spans: list[Span], calls: list[dict[str, Any]], result: Score) -> None:
    found: dict[int, str] = {}
    for call in calls:
        i = _phrase_at(spans, float(call["start"]))
        phrase: Phrase | None = d.said[i] if i is not None else None
        if phrase is not None and phrase.command == call["name"] and i not in found:
            found[i] = call["name"]  # type: ignore[index]
            continue
        result.false += 1
        result.false_hits.append(f"{d.id}: {call['said']!r} -> {call['name']}")
        if phrase is not None and phrase.command is None:
            result.taken += 1
    for i, phrase in enumerate(d.said):
        if phrase.command is None:
            result.sentences += len(_SENTENCES.split(phrase.text.strip()))
            continue
        result.said += 1
        if i in found:
            result.right += 1
        else:
            result.misses.append(f"{d.id}: {phrase.text!r} ({phrase.command})")


def _phrase_at(spans: list[Span], at: float) -> int | None:
    for i, (start, end) in enumerate(spans):
        if start - 0.2 <= at <= end + 0.2:
            return i
    return None


def reference_cases() -> tuple[list[tuple[CommandDictation, Heard]], list[list[Utterance]]]:
    """The dev sets as a recogniser with perfect ears hears them; each ordinary sentence said alone."""
    cases = [(d, reference_timeline(d)) for d in load_commands()]
    texts = [d.written for d in load()]
    sentences = [s for text in texts for paragraph in text.split("\n\n") for s in _SENTENCES.split(paragraph) if s]
    return cases, [[Utterance(s)] for s in sentences]


def audio_cases() -> tuple[list[tuple[CommandDictation, Heard]], list[list[Utterance]]]:
    """End to end: every voiced clip through the bundled model, its segments as utterances. The ordinary
    dictations are the transcription dev set's clips that speak no commands (bench/devset/manifest.json)."""
    dictations = {d.id: d for d in load_commands()}
    cases = []
    for clip in json.loads(COMMANDS_MANIFEST.read_text()):
        spans = [(float(a), float(b)) for a, b in clip["spans"]]
        cases.append((dictations[clip["id"]], (_transcribed(clip["file"]), spans)))
    plain = [c for c in json.loads(MANIFEST.read_text()) if not c["commands"]]
    return cases, [_transcribed(c["file"]) for c in plain]


def _transcribed(file: str) -> list[Utterance]:
    import tempfile

    from worker.decoding import decode_audio  # imported here: the reference mode needs no worker

    audio = decode_audio((ROOT / "bench" / "devset" / file).read_bytes(), 3600, Path(tempfile.gettempdir()))
    transcript = _models().transcribe(audio, language="en", progress_callback=lambda _: None)
    return [Utterance(s.text.strip(), s.start, s.end) for s in transcript.segments if s.text.strip()]


_LOADED: dict[str, Any] = {}


def _models() -> Any:
    if "models" not in _LOADED:
        from core.settings import WorkerSettings
        from worker.model_manager import ModelManager

        models = ModelManager(WorkerSettings(decode_lanes=1))
        models.load()
        _LOADED["models"] = models
    return _LOADED["models"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--audio", action="store_true", help="end to end through the bundled model")
    parser.add_argument("--verbose", action="store_true", help="list misses, false hits and wrong notes")
    args = parser.parse_args()
    result = score(*(audio_cases() if args.audio else reference_cases()))
    figures = {"mode": "audio" if args.audio else "reference text", **result.figures()}
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print(f"mode: {figures['mode']}")
        print(f"commands said: {result.said}, recognised rightly: {result.right}, false: {result.false}")
        print(f"precision {figures['precision']}  recall {figures['recall']}")
        print(f"ordinary sentences: {result.sentences}, taken for commands: {result.taken} "
              f"({100 * (figures['taken_share'] or 0):.2f} %)")
        print(f"notes as meant after every command: {figures['notes_right']}")
    if args.verbose or not args.json:
        for line in (*result.misses, *result.false_hits, *result.wrong_notes):
            print(f"  {line}")


if __name__ == "__main__":
    main()
