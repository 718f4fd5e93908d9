"""Command precision and recall, and how often an ordinary sentence is taken for a command.

    .venv/bin/python bench/commands.py            # on the reference text (what was said, with its pauses)
    .venv/bin/python bench/commands.py --json     # the same figures as JSON
    .venv/bin/python bench/commands.py --audio    # end to end: the voiced clips through the bundled model
    .venv/bin/python bench/commands.py --audio --formatted  # as a file job hears them: formatted first
    .venv/bin/python bench/commands.py --audio --heldout    # the held-out sets, never tuned on

The dev set is bench/devset/commands.yaml (dictations with commands, and near misses that must stay
text), plus every sentence of the transcription dev set (bench/devset/dictations.yaml, as written), each
said alone after a pause: the hardest place for an ordinary sentence, since a command is said that way.
A recognised command is right when it lines up, in order, with a phrase labelled with that command
(the model gives no word times); any other takes some ordinary text for a command. Each dictation's
text after the editor is also compared with what it should be (`written`). With `--heldout`, the held-out
sets instead: bench/devset/commands.heldout.yaml, never used to choose the grammar's sound-match threshold,
and the transcription held-out set (bench/devset/heldout.yaml).
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

from commands_script import (  # noqa: E402
    COMMANDS,
    COMMANDS_HELDOUT,
    COMMANDS_HELDOUT_MANIFEST,
    COMMANDS_MANIFEST,
    CommandDictation,
    load_commands,
)
from script import DICTATIONS, HELDOUT, HELDOUT_MANIFEST, MANIFEST, load  # noqa: E402

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


def formatted(utterances: list[Utterance], note_type: str | None) -> list[Utterance]:
    """The utterances as a file job's editor hears them (`worker.text.dictating`): dictation formatting
    first (spoken punctuation, numbers; layout left to the grammar), word times dropped."""
    from core.jobs import JobOptions
    from worker.text.formatting import format_text

    options = JobOptions(note_type=note_type, formatting="dictation")
    return [Utterance(format_text(u.text, options, layout=False), u.start, u.end) for u in utterances]


def score(cases: list[tuple[CommandDictation, Heard]], ordinary: list[list[Utterance]],
          format_first: bool = False) -> Score:
    """Score the commands dictations, and the ordinary dictations (each a list of utterances); with
    `format_first`, as a file job hears them (the notes are then not compared: they are written unformatted)."""
    templates = {t.name: t for t in starter_templates()}
    result = Score()
    for d, (utterances, spans) in cases:
        editor = Editor(templates=templates)
        if format_first:
            utterances = formatted(utterances, d.note_type)
        calls = [e for u in utterances for e in editor.hear(u) if e["type"] == "command"]
        _match(d, spans, calls, result)
        if format_first:
            continue
        result.notes += 1
        if editor.text == d.written:
            result.notes_right += 1
        else:
            result.wrong_notes.append(f"{d.id}: {editor.text!r}")
    for utterances in ordinary:
        editor = Editor(templates=templates)
        for utterance in formatted(utterances, None) if format_first else utterances:
            result.sentences += len([s for s in _SENTENCES.split(utterance.text.strip()) if s])
            hits = [e for e in editor.hear(utterance) if e["type"] == "command"]
            result.taken += len(hits)
            result.false += len(hits)
            result.false_hits += [f"{e['said']!r} -> {e['name']}" for e in hits]
    return result


def _match(d: CommandDictation, spans: list[Span], calls: list[dict[str, Any]], result: Score) -> None:
    """Recognised commands against the labelled ones, in order (a longest common subsequence of names):
    the model gives no word times, so a command is placed by its order, not its time."""
    labelled = [(i, p) for i, p in enumerate(d.said) if p.command is not None]
    matched = _common([c["name"] for c in calls], [p.command or "" for _, p in labelled])
    hit_labels = {b for _, b in matched}
    hit_calls = {a for a, _ in matched}
    for n, call in enumerate(calls):
        if n not in hit_calls:
            result.false += 1
            result.taken += 1
            result.false_hits.append(f"{d.id}: {call['said']!r} -> {call['name']}")
    for phrase in d.said:
        if phrase.command is None:
            result.sentences += len(_SENTENCES.split(phrase.text.strip()))
    for n, (_, phrase) in enumerate(labelled):
        result.said += 1
        if n in hit_labels:
            result.right += 1
        else:
            result.misses.append(f"{d.id}: {phrase.text!r} ({phrase.command})")


def _common(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of `a` and `b`."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) - 1, -1, -1):
        for j in range(len(b) - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def reference_cases(heldout: bool = False) -> tuple[list[tuple[CommandDictation, Heard]], list[list[Utterance]]]:
    """The dev sets (or the held-out sets) as a recogniser with perfect ears hears them; each ordinary
    sentence said alone."""
    cases = [(d, reference_timeline(d)) for d in load_commands(COMMANDS_HELDOUT if heldout else COMMANDS)]
    texts = [d.written for d in load(HELDOUT if heldout else DICTATIONS)]
    sentences = [s for text in texts for paragraph in text.split("\n\n") for s in _SENTENCES.split(paragraph) if s]
    return cases, [[Utterance(s)] for s in sentences]


def audio_cases(heldout: bool = False) -> tuple[list[tuple[CommandDictation, Heard]], list[list[Utterance]]]:
    """End to end: every voiced clip through the bundled model, its segments as utterances. The ordinary
    dictations are the transcription dev set's clips that speak no commands (bench/devset/manifest.json;
    with `heldout`, the held-out sets' clips)."""
    dictations = {d.id: d for d in load_commands(COMMANDS_HELDOUT if heldout else COMMANDS)}
    cases = []
    for clip in json.loads((COMMANDS_HELDOUT_MANIFEST if heldout else COMMANDS_MANIFEST).read_text()):
        spans = [(float(a), float(b)) for a, b in clip["spans"]]
        cases.append((dictations[clip["id"]], (_transcribed(clip), spans)))
    plain = [c for c in json.loads((HELDOUT_MANIFEST if heldout else MANIFEST).read_text()) if not c["commands"]]
    return cases, [_transcribed(c) for c in plain]


def _transcribed(clip: dict[str, Any]) -> list[Utterance]:
    """The clip decoded as a job of its note type is (the built-in vocabulary as the prompt); what was
    heard is kept in bench/.cache/commands-heard.json and read back unless `--fresh`."""
    import tempfile

    cached = _LOADED.get("cache", {}).get(clip["file"])
    if cached is not None:
        _LOADED.setdefault("heard", {})[clip["file"]] = cached
        return [Utterance(*u) if isinstance(u, list) else Utterance(u) for u in cached]

    from core.jobs import JobOptions
    from core.settings import VocabularySettings
    from core.vocabulary import decoding_prompt
    from worker.model.decoding import decode_audio  # imported here: the reference mode needs no worker

    audio = decode_audio((ROOT / "bench" / "devset" / clip["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
    prompt, hotwords = decoding_prompt(JobOptions(note_type=clip["note_type"]), VocabularySettings())
    if _LOADED.get("prompt_commands"):  # the command phrases said to the model, as the vocabulary is
        prompt = f"{prompt or ''} {COMMAND_PROMPT}".strip()
    transcript = _models().transcribe(audio, language="en", initial_prompt=prompt, hotwords=hotwords,
                                      progress_callback=lambda _: None)
    heard = [Utterance(s.text.strip(), s.start, s.end, _words(s)) for s in transcript.segments if s.text.strip()]
    _LOADED.setdefault("heard", {})[clip["file"]] = [[u.text, u.start, u.end] for u in heard]
    return heard


def _words(segment: Any) -> tuple[Word, ...]:
    timed = [w for w in segment.words or [] if w.start is not None and w.end is not None]
    return tuple(Word(w.word, w.start, w.end) for w in timed) if len(timed) == len(segment.words or []) else ()


_LOADED: dict[str, Any] = {}
COMMAND_PROMPT = "Scratch that. Undo that. New paragraph. Delete last sentence. Accept defaults. Stop dictation."


def _models() -> Any:
    if "models" not in _LOADED:
        from core.settings import WorkerSettings
        from core.tuning import WorkerTuning
        from worker.model.model_manager import ModelManager

        models = ModelManager(WorkerSettings(tuning=WorkerTuning(decode_lanes=1)))
        models.load()
        _LOADED["models"] = models
    return _LOADED["models"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--audio", action="store_true", help="end to end through the bundled model")
    parser.add_argument("--prompt-commands", action="store_true",
                        help="with --audio: also prompt the model with the command phrases")
    parser.add_argument("--formatted", action="store_true",
                        help="format each utterance before the editor, as a file job does")
    parser.add_argument("--heldout", action="store_true",
                        help="the held-out sets (never tuned on) instead of the dev sets")
    parser.add_argument("--fresh", action="store_true", help="with --audio: decode again, not from bench/.cache")
    parser.add_argument("--verbose", action="store_true", help="list misses, false hits and wrong notes")
    args = parser.parse_args()
    _LOADED["prompt_commands"] = args.prompt_commands
    heard = ROOT / "bench" / ".cache" / (f"commands-heard{'-heldout' if args.heldout else ''}"
                                         f"{'-prompted' if args.prompt_commands else ''}.json")
    if args.audio and heard.exists() and not args.fresh:
        _LOADED["cache"] = json.loads(heard.read_text())
    cases = audio_cases(args.heldout) if args.audio else reference_cases(args.heldout)
    result = score(*cases, format_first=args.formatted)
    mode = ("audio, command phrases prompted" if args.prompt_commands else "audio") if args.audio else "reference text"
    mode += ", formatted first" if args.formatted else ""
    mode += ", held-out sets" if args.heldout else ""
    figures = {"mode": mode, **result.figures()}
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print(f"mode: {figures['mode']}")
        print(f"commands said: {result.said}, recognised rightly: {result.right}, false: {result.false}")
        print(f"precision {figures['precision']}  recall {figures['recall']}")
        print(f"ordinary sentences: {result.sentences}, taken for commands: {result.taken} "
              f"({100 * (figures['taken_share'] or 0):.2f} %)")
        print(f"notes as meant after every command: {figures['notes_right']}")
    if args.audio:  # what the model heard, to read the misses against
        cache = ROOT / "bench" / ".cache"
        cache.mkdir(exist_ok=True)
        heard.write_text(json.dumps(_LOADED.get("heard", {}), indent=1))
    if args.verbose or not args.json:
        for line in (*result.misses, *result.false_hits, *result.wrong_notes):
            print(f"  {line}")


if __name__ == "__main__":
    main()
