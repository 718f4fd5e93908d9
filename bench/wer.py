"""WER and endoscopy-term recall of each vocabulary/formatting configuration on the dev set.

    .venv/bin/python bench/wer.py                 # the dev set (bench/devset), every configuration
    .venv/bin/python bench/wer.py --heldout --only raw prompt+guard   # dictations never used for tuning
    .venv/bin/python bench/wer.py --fixtures      # the espeak test fixtures, raw and default config

Scored with Whisper's English normalizer (`whisper-normalizer`). Units written as symbols are kept
as tokens of their own first ("5 mm" -> "5 unit_mm"), because the normalizer deletes "mm" as a filler
and then runs "5 mm, 40%" together into "540%". Decoding configurations: `spoken` WER is against what
the voice said (commands as words); `written` WER is against the note the EHR should get (numerals,
units, punctuation as marks), which only formatting can reach. Hypotheses are cached per
configuration in bench/.cache (delete it, or pass --fresh, after changing the model or the prompt).
The figures of docs/design/vocabulary-measurements.md and the e2e bounds (tests/e2e/test_transcription.py) come
from here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "devset"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jiwer  # noqa: E402
from whisper_normalizer.english import EnglishTextNormalizer  # noqa: E402

from core.jobs import JobOptions, Transcript  # noqa: E402
from core.note_types import NOTE_TYPES  # noqa: E402
from core.settings import VocabularySettings, WorkerSettings  # noqa: E402
from core.tuning import VocabularyTuning, WorkerTuning  # noqa: E402
from core.vocabulary import decoding_prompt, job_terms, read_list  # noqa: E402
from worker.model.decoding import decode_audio  # noqa: E402
from worker.model.model_manager import ModelManager  # noqa: E402
from worker.text import lexicon, vocabulary_guard  # noqa: E402
from worker.text.formatting import format_transcript  # noqa: E402

DEVSET = ROOT / "bench" / "devset"
CACHE = ROOT / "bench" / ".cache"
FIXTURES = ROOT / "tests" / "fixtures"
NORMALIZER = EnglishTextNormalizer()
UNITS = re.compile(r"(?<=\d)\s*(mm|cm|mg|mcg|mL|g|%)(?![\w%])")

# name -> (vocabulary settings, use the truncation guard)
DECODINGS: dict[str, tuple[VocabularySettings, bool]] = {
    "raw": (VocabularySettings(builtin=False), False),
    "prompt": (VocabularySettings(tuning=VocabularyTuning(apply_as="prompt")), False),
    "prompt+guard": (VocabularySettings(tuning=VocabularyTuning(apply_as="prompt")), True),
    "hotwords+guard": (VocabularySettings(tuning=VocabularyTuning(apply_as="hotwords")), True),
    "both+guard": (VocabularySettings(tuning=VocabularyTuning(apply_as="both")), True),
    # Shorter and longer glossaries: how much of the list helps before tiny.en starts losing speech.
    "prompt40+guard": (VocabularySettings(tuning=VocabularyTuning(prompt_words=40)), True),
    # A prompt twice as long: where tiny.en starts dropping speech, and what the guard gives back.
    "prompt120": (VocabularySettings(tuning=VocabularyTuning(prompt_words=120)), False),
    "prompt120+guard": (VocabularySettings(tuning=VocabularyTuning(prompt_words=120)), True),
}


def score_text(text: str) -> str:
    return " ".join(NORMALIZER(UNITS.sub(lambda m: f" unit_{m[1].lower().replace('%', 'pct')}", text)).split())


def wer(refs: list[str], hyps: list[str]) -> float:
    return float(jiwer.wer([score_text(r) for r in refs], [score_text(h) or "-" for h in hyps]))


def term_recall(refs: list[str], hyps: list[str], terms: list[str]) -> float:
    keys = sorted({score_text(t) for t in terms if score_text(t)}, key=len, reverse=True)
    found = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = f" {score_text(ref)} ", f" {score_text(hyp)} "
        for key in keys:
            n = r.count(f" {key} ")
            if n:
                total += n
                found += min(n, h.count(f" {key} "))
    return found / total if total else 1.0


def dropped_sentences(refs: list[str], hyps: list[str]) -> int:
    """Reference sentences more than half of whose words the hypothesis deleted."""
    dropped = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        sentences = [score_text(s) for s in re.split(r"(?<=[.:])\s+", ref) if score_text(s)]
        words = " ".join(sentences).split()
        out = jiwer.process_words(" ".join(words), score_text(hyp) or "-")
        deleted = [False] * len(words)
        for chunk in out.alignments[0]:
            if chunk.type == "delete":
                for i in range(chunk.ref_start_idx, chunk.ref_end_idx):
                    deleted[i] = True
        i = 0
        for sentence in sentences:
            n = len(sentence.split())
            dropped += sum(deleted[i:i + n]) * 2 > n
            i += n
    return dropped


def decode_all(
    name: str, models: ModelManager, clips: list[dict[str, Any]], fresh: bool, prefix: str = "",
) -> list[Transcript]:
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / f"{prefix}{name}.json"
    if cached.exists() and not fresh:
        return [Transcript.model_validate(t) for t in json.loads(cached.read_text())]
    settings, guard = DECODINGS[name]
    out = []
    started = time.perf_counter()
    for clip in clips:
        audio = decode_audio((DEVSET / clip["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
        prompt, hotwords = decoding_prompt(JobOptions(note_type=clip["note_type"]), settings)
        run: Callable[..., Transcript] = vocabulary_guard.transcribe_guarded if guard else _plain
        out.append(run(models, audio, language="en", initial_prompt=prompt, hotwords=hotwords,
                       progress_callback=lambda _: None))
    print(f"  decoded {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    cached.write_text(json.dumps([t.model_dump() for t in out]))
    return out


def _plain(models: ModelManager, audio: Any, **kwargs: Any) -> Transcript:
    return models.transcribe(audio, **kwargs)


def corrected(
    clips: list[dict[str, Any]], transcripts: list[Transcript], spoken: list[str],
) -> tuple[list[Transcript], Counter[str]]:
    """The lexicon pass on each clip, and its corrections judged one at a time against the reference."""
    out: list[Transcript] = []
    changes: Counter[str] = Counter()
    for clip, t, ref in zip(clips, transcripts, spoken, strict=True):
        terms = job_terms(JobOptions(note_type=clip["note_type"]), VocabularySettings())
        fixed, applied = lexicon.correct(t, terms, [])
        out.append(fixed)
        for before, after in applied:
            delta = wer([ref], [t.text.replace(before, after, 1)]) - wer([ref], [t.text])
            changes["right" if delta < 0 else "false" if delta > 0 else "neutral"] += 1
    return out, changes


def devset(models: ModelManager, fresh: bool, only: list[str] | None, heldout: bool) -> None:
    from script import DICTATIONS, HELDOUT, HELDOUT_MANIFEST, MANIFEST, load

    dictations = {d.id: d for d in load(HELDOUT if heldout else DICTATIONS)}
    clips = json.loads((HELDOUT_MANIFEST if heldout else MANIFEST).read_text())
    prefix = model_slug(models) + ("heldout-" if heldout else "")
    spoken = [dictations[c["id"]].spoken for c in clips]
    written = [dictations[c["id"]].written for c in clips]
    terms = sorted({t for kind in NOTE_TYPES.values() for t in read_list(kind.vocabulary_file)})
    seconds = sum(c["seconds"] for c in clips)
    print(f"{'held-out set' if heldout else 'dev set'}: {len(clips)} clips, {seconds / 60:.1f} min, "
          f"{len(dictations)} dictations, {len(terms)} terms")
    print(f"{'configuration':<32} {'WER spoken':>10} {'WER written':>11} {'term recall':>11} "
          f"{'dropped':>7} {'joe WER':>8} {'espeak WER':>10}")
    rows: dict[str, list[Transcript]] = {}
    for name in DECODINGS:
        if only and name not in only:
            continue
        rows[name] = decode_all(name, models, clips, fresh, prefix)
    best = "prompt+guard" if "prompt+guard" in rows else next(iter(rows))
    counts: dict[str, Counter[str]] = {}
    for name in dict.fromkeys(["raw", best]):
        if name in rows:
            rows[f"{name} + lexicon"], counts[name] = corrected(clips, rows[name], spoken)
    dictation = [JobOptions(note_type=c["note_type"], formatting="dictation") for c in clips]
    rows[f"{best} + formatting"] = [format_transcript(t, o) for t, o in zip(rows[best], dictation, strict=True)]
    rows[f"{best} + lexicon + formatting"] = [
        format_transcript(t, o) for t, o in zip(rows[f"{best} + lexicon"], dictation, strict=True)]
    joe = [i for i, c in enumerate(clips) if c["voice"] == "joe"]
    esp = [i for i, c in enumerate(clips) if c["voice"] == "espeak"]
    for name, transcripts in rows.items():
        hyps = [t.text for t in transcripts]
        formatted = "formatting" in name
        refs = written if formatted else spoken
        print(f"{name:<32} {'' if formatted else f'{wer(spoken, hyps):.2%}':>10} {wer(written, hyps):>11.2%} "
              f"{term_recall(refs, hyps, terms):>11.1%} {dropped_sentences(refs, hyps):>7} "
              f"{wer([refs[i] for i in joe], [hyps[i] for i in joe]):>8.2%} "
              f"{wer([refs[i] for i in esp], [hyps[i] for i in esp]):>10.2%}")
    for name, changes in counts.items():
        print(f"lexicon corrections on {name}: {changes['right']} right, {changes['false']} false, "
              f"{changes['neutral']} neutral (the clip's WER lower, higher, the same with each one alone)")
    if "raw" in rows:
        rates = sorted(len(s.text.split()) / (s.end - s.start) for t in rows["raw"] for s in t.segments
                       if s.end - s.start >= vocabulary_guard.MIN_SECONDS)
        print(f"raw windows: {len(rates)}, words/s min {rates[0]:.2f}, 5th pct {rates[len(rates) // 20]:.2f}; "
              f"guard threshold {vocabulary_guard.MIN_WORDS_PER_SECOND}")
    if "prompt" in rows:
        flagged = sum(vocabulary_guard.is_truncated(s.text, s.end - s.start) for t in rows["prompt"]
                      for s in t.segments)
        print(f"prompted windows the guard re-decodes: {flagged}")


def model_slug(models: ModelManager) -> str:
    """Cache files of a model other than the bundled tiny.en carry its name."""
    name = models.settings.model
    return re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_") + "-" if name else ""


def fixtures(models: ModelManager) -> None:
    """The espeak fixtures the e2e test bounds: raw and with the default (general) vocabulary."""
    for path in sorted(p for p in FIXTURES.iterdir() if p.suffix != ".txt"):
        name = path.name.split(".")[0]
        reference = (FIXTURES / f"{name}.txt").read_text()
        audio = decode_audio(path.read_bytes(), 14400, Path(tempfile.gettempdir()))
        for label, settings in (("raw", VocabularySettings(builtin=False)), ("default", VocabularySettings())):
            prompt, hotwords = decoding_prompt(JobOptions(), settings)
            text = vocabulary_guard.transcribe_guarded(models, audio, language="en", initial_prompt=prompt,
                                                       hotwords=hotwords, progress_callback=lambda _: None).text
            print(f"{path.name:<16} {label:<8} WER {wer([reference], [text]):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", action="store_true", help="score the espeak test fixtures instead")
    parser.add_argument("--fresh", action="store_true", help="decode again instead of using bench/.cache")
    parser.add_argument("--only", nargs="*", help="decoding configurations to run (default: all)")
    parser.add_argument("--heldout", action="store_true",
                        help="the held-out dictations (bench/devset/heldout.yaml), never used for tuning")
    args = parser.parse_args()
    # WhisperX alone: all threads on one replica.
    models = ModelManager(WorkerSettings(tuning=WorkerTuning(decode_lanes=1)))
    models.load()
    assert models.runtime is not None
    print(f"model {models.model_name} on {models.runtime.whisperx_device}/{models.runtime.compute_type}")
    if args.fixtures:
        fixtures(models)
    else:
        devset(models, args.fresh, args.only, args.heldout)


if __name__ == "__main__":
    main()
