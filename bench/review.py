"""How well the review flags catch invented text: the hallucination-bait dev set through the worker's own path.

    .venv/bin/python bench/review.py            # decode (cached in bench/.cache/review.json), measure, sweep
    .venv/bin/python bench/review.py --fresh    # decode again
    .venv/bin/python bench/review.py --no-vad   # plain 30-s windows, no VAD: the model meets the bait

Every clip of bench/devset/manifest.bait.json (dictated phrases with silence, room noise, breaths, coughs,
music on hold and hum spliced between and around them; `make_bait.py`) and clean dev-set dictations
(every sixth clip of manifest.json, and manifest.heldout.json: for false flags) runs as a file job does
in the worker, in this process with the bundled model: VAD speech windows (`ModelManager.speech_windows`),
each decoded with the job's vocabulary prompt and words (`DecodeRequest(words=True)`, again without the
prompt where the truncation guard says so), segments as `worker.jobs.run._segment` builds them, the lexicon
and dictation formatting as `complete()` applies them, `core.review.remove_silent_text` and then `core.review.review`
with the recording's loudness.

What is counted:
- An *invented word*: a delivered word (of a segment's timed words, which are the words as spoken) that
  the word alignment of the clip's words to the reference text of its speech parts (minimum edit
  distance, case and punctuation aside) leaves unmatched, an insertion, and whose midpoint lies inside a
  bait interval. Nobody speaks in a bait interval, and the word is none of those said: text the model
  made up. (Timing alone would not do: cross-attention timing stretches a spoken word into a pause
  next to it, or squeezes the last words of a phrase onto the pause's edge; those words are matched.)
- An *invented stretch*: a maximal run of consecutive invented words of one segment. It is *flagged*
  when a doubt flag (`ReviewReason.doubt`: not numbers or vocabulary corrections) of that segment
  overlaps it in time; a segment-wide flag (log-probability, no speech, too much text, repeats)
  overlaps all of its words. Recall = flagged stretches / stretches (goal >= 0.95).
- *Clean* text: the segments and words of the clean dev-set dictations (nothing invented by
  construction). The share of clean segments with a doubt flag, and of clean words under one, is the
  price of that recall.
- *Delivered segments with invented text*: bait-clip segments holding an invented word, and those
  holding an invented stretch no flag covers (goal < 0.1 %: invented text is never delivered unmarked).
  Words removed before delivery (`remove_silent_text`) are not delivered, so not counted; the bench
  prints how many were removed and whether any were spoken.

The sweep: a grid over `ReviewThresholds`' word_probability, avg_logprob, no_speech_prob, quiet_dbfs and
chars_per_second (compression_ratio stays Whisper's 2.4), on the `tune` clips (bait split `tune`,
manifest.json); the operating point is the one that reaches the recall goal with the fewest clean words
flagged (then clean segments). It is then measured, with `core.review.review` itself, on both splits,
`heldout` being the bait clips held out and manifest.heldout.json, which the sweep never saw.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from core.jobs import JobOptions, Segment, Transcript  # noqa: E402
from core.review import ReviewThresholds, compression_ratio, remove_silent_text, review  # noqa: E402
from core.review_flags import ReviewFlag  # noqa: E402
from core.settings import WorkerSettings  # noqa: E402
from worker.model.decoding import SAMPLE_RATE, decode_audio  # noqa: E402
from worker.model.transcriber import TimedWord, Window, WindowText  # noqa: E402

DEVSET = ROOT / "bench" / "devset"
CACHE = ROOT / "bench" / ".cache" / "review.json"
RECALL_GOAL = 0.95
GRID = {
    "word_probability": [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6],
    "avg_logprob": [-1.2, -1.0, -0.8, -0.7, -0.6, -0.5, -0.4],
    "no_speech_prob": [0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
    "quiet_dbfs": [-70.0, -60.0, -55.0, -50.0, -45.0, -40.0, -35.0],
    "chars_per_second": [40.0, 32.0, 28.0, 25.0, 22.0, 20.0, 18.0],
}
"""No statistic is switched off by the sweep: each also flags misheard words, which the bait set does not measure."""


@dataclass
class Clip:
    file: str
    split: str
    note_type: str
    bait: list[tuple[float, float]] = field(default_factory=list)
    reference: str = ""
    """What the speech parts say, in order (bait clips)."""


def clips() -> list[Clip]:
    out = [Clip(c["file"], c["split"], c["note_type"],
                [(float(b["interval"][0]), float(b["interval"][1])) for b in c["bait"]],
                " ".join(part["text"] for part in c["speech"]))
           for c in json.loads((DEVSET / "manifest.bait.json").read_text())]
    sys.path.insert(0, str(DEVSET))
    from script import DICTATIONS, HELDOUT, load

    said = {d.id: d.spoken for source in (DICTATIONS, HELDOUT) for d in load(source)}
    clean = json.loads((DEVSET / "manifest.json").read_text())[::6]  # every sixth: a 2-core run stays short
    out += [Clip(c["file"], "tune", c["note_type"], reference=said[c["id"]]) for c in clean]
    heldout = json.loads((DEVSET / "manifest.heldout.json").read_text())
    out += [Clip(c["file"], "heldout", c["note_type"], reference=said[c["id"]]) for c in heldout]
    return out


def audio_of(clip: Clip) -> np.ndarray:
    return decode_audio((DEVSET / clip.file).read_bytes(), 3600, Path(tempfile.gettempdir()))


# --- decoding, as the worker does it -------------------------------------------------------------------


def decode_all(todo: list[Clip], fresh: bool, vad: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Each clip's windows and what the model decoded in each, cached by file. `vad=False`: plain 30-s
    windows over the whole recording, as Whisper without VAD cuts it (not the worker's path: a stress test
    that lets the model meet the bait)."""
    cache_file = CACHE if vad else CACHE.with_name("review-novad.json")
    cache: dict[str, list[dict[str, Any]]] = {} if fresh or not cache_file.exists() \
        else json.loads(cache_file.read_text())
    missing = [c for c in todo if c.file not in cache]
    if not missing:
        return cache
    from core.vocabulary import decoding_prompt
    from worker.model.model_manager import ModelManager
    from worker.model.transcriber import DecodeRequest
    from worker.text import vocabulary_guard

    settings = WorkerSettings()
    models = ModelManager(settings)
    models.load()
    assert models.runtime is not None
    print(f"model {models.model_name} on {models.runtime.whisperx_device}/{models.runtime.compute_type}",
          file=sys.stderr)
    started = time.perf_counter()
    seconds = 0.0
    for n, clip in enumerate(missing):
        audio = audio_of(clip)
        seconds += audio.size / SAMPLE_RATE
        length = audio.size / SAMPLE_RATE
        windows = models.speech_windows(audio) if vad else \
            [Window(t, min(t + 30.0, length)) for t in np.arange(0.0, length, 30.0) if length - t > 0.5]
        prompt, hotwords = decoding_prompt(JobOptions(note_type=clip.note_type), settings.vocabulary)
        guarded = settings.vocabulary.tuning.truncation_guard and bool(prompt or hotwords)

        def cut(w: Window, a: np.ndarray = audio) -> np.ndarray:
            return a[int(w.start * SAMPLE_RATE):int(w.end * SAMPLE_RATE)]

        decoded = models.decode([DecodeRequest(cut(w), "en", prompt, hotwords, words=True) for w in windows])
        for i, (w, d) in enumerate(zip(windows, decoded, strict=True)):
            if guarded and vocabulary_guard.is_truncated(d.text, w.end - w.start):
                decoded[i] = models.decode([DecodeRequest(cut(w), "en", words=True)])[0]
        cache[clip.file] = [{"start": w.start, "end": w.end, "text": d.text, "avg_logprob": d.avg_logprob,
                             "no_speech_prob": d.no_speech_prob, "words": [list(vars(t).values()) for t in d.words]}
                            for w, d in zip(windows, decoded, strict=True)]
        print(f"  [{n + 1}/{len(missing)}] {clip.file}  {len(windows)} windows", file=sys.stderr, flush=True)
        cache_file.parent.mkdir(exist_ok=True)
        cache_file.write_text(json.dumps(cache))
    spent = time.perf_counter() - started
    print(f"decoded {seconds:.0f} s of audio in {spent:.0f} s ({seconds / spent:.1f}x realtime)", file=sys.stderr)
    return cache


def delivered(clip: Clip, windows: list[dict[str, Any]], audio: np.ndarray) -> tuple[list[Segment], Any, Any]:
    """The clip's segments as `complete()` delivers them, and what `review` is given with them."""
    from worker.jobs.run import _loudness, _segment
    from worker.text import formatting, lexicon

    options = JobOptions(note_type=clip.note_type)
    settings = WorkerSettings()
    segments = [_segment(Window(w["start"], w["end"]),
                         WindowText(w["text"], tuple(TimedWord(*t) for t in w["words"]), w["avg_logprob"],
                                    w["no_speech_prob"]))
                for w in windows if w["text"].strip()]
    loudness = _loudness(audio)
    segments = remove_silent_text(segments, loudness)
    transcript = Transcript(text=" ".join(s.text for s in segments), language="en",
                            duration=round(audio.size / SAMPLE_RATE, 3), segments=segments)
    heard = transcript.segments
    transcript = lexicon.correct_job(transcript, options, settings.vocabulary)
    corrected = transcript.segments
    transcript = formatting.format_transcript(transcript, options)
    return transcript.segments, loudness, (heard, corrected)


# --- what is invented, and what is flagged ----------------------------------------------------------------


def _token(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def inserted(said: list[str], reference: str) -> list[bool]:
    """For each word of `said`, whether a minimum-edit-distance alignment to `reference` leaves it unmatched."""
    return [a == "insertion" for a in alignment(said, reference)]


def alignment(said: list[str], reference: str) -> list[str]:
    """Each word of `said` as a minimum-edit-distance alignment to `reference` places it: a match, a
    substitution or an insertion (case and punctuation aside)."""
    hyp, ref = [_token(w) for w in said], [_token(w) for w in reference.split()]
    ref = [r for r in ref if r]
    rows, cols = len(hyp) + 1, len(ref) + 1
    cost = np.zeros((rows, cols), dtype=np.int32)
    cost[:, 0], cost[0, :] = np.arange(rows), np.arange(cols)
    for i in range(1, rows):
        for j in range(1, cols):
            cost[i, j] = min(cost[i - 1, j - 1] + (hyp[i - 1] != ref[j - 1]), cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    out = ["insertion"] * len(hyp)
    i, j = len(hyp), len(ref)
    while i > 0:
        if j > 0 and cost[i, j] == cost[i - 1, j - 1] + (hyp[i - 1] != ref[j - 1]):
            out[i - 1] = "match" if hyp[i - 1] == ref[j - 1] else "substitution"
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return out


@dataclass
class Stretch:
    segment: int
    start: float
    end: float
    text: str


def invented_words(segments: list[Segment], clip: Clip) -> set[tuple[int, int]]:
    """(segment, word index) of every invented word of the clip's delivered segments."""
    timed = [(n, k, w) for n, s in enumerate(segments) for k, w in enumerate(s.words or [])
             if w.start is not None and w.end is not None]
    extra = inserted([w.word for _, _, w in timed], clip.reference)
    return {(n, k) for (n, k, w), x in zip(timed, extra, strict=True)
            if x and any(a <= ((w.start or 0.0) + (w.end or 0.0)) / 2 <= b for a, b in clip.bait)}


def stretches(segments: list[Segment], clip: Clip) -> list[Stretch]:
    made_up = invented_words(segments, clip)
    found = []
    for n, segment in enumerate(segments):
        run: list[Any] = []
        for k, word in enumerate([*(segment.words or []), None]):
            if word is not None and (n, k) in made_up:
                run.append(word)
                continue
            if run:
                found.append(Stretch(n, run[0].start, run[-1].end, " ".join(w.word for w in run)))
                run = []
    return found


def covered(flags: list[ReviewFlag], segment: int, start: float, end: float) -> bool:
    """A doubt flag of `segment` overlaps `start`-`end`."""
    return any(f.reason.doubt and f.segment == segment and f.start <= end and f.end >= start for f in flags)


def contains(flags: list[ReviewFlag], segment: int, start: float, end: float) -> bool:
    """A doubt flag of `segment` spans the word at `start`-`end` (a run of flagged words spans exactly its own)."""
    return any(f.reason.doubt and f.segment == segment and f.start <= start and end <= f.end for f in flags)


# --- features for the sweep (what `review` would flag, for every threshold at once) ---------------------


@dataclass
class Unit:
    """An invented stretch, a clean segment or a clean word, with what decides whether a doubt flag covers it."""

    min_probability: float
    min_level: float
    avg_logprob: float
    no_speech_prob: float
    chars_per_second: float
    fixed: bool
    """Flagged whatever the swept thresholds (compression ratio, repeats)."""


def segment_stats(segment: Segment) -> tuple[float, float, float, float]:
    timed = [w for w in segment.words or [] if w.start is not None and w.end is not None]
    speech = sum(w.end - w.start for w in timed if w.end is not None and w.start is not None) if timed \
        else segment.end - segment.start
    cps = len(segment.text) / speech if speech > 0 else 0.0
    return (segment.avg_logprob if segment.avg_logprob is not None else 0.0,
            segment.no_speech_prob if segment.no_speech_prob is not None else 0.0, cps,
            compression_ratio(segment.text))


def units(segments: list[Segment], loudness: Any, clip: Clip) -> dict[str, list[Unit]]:
    out: dict[str, list[Unit]] = {"stretch": [], "segment": [], "word": [], "misheard": []}
    from core.review import _repeats

    found = stretches(segments, clip) if clip.bait else []
    placed = iter(alignment([w.word for s in segments for w in s.words or [] if w.start is not None
                             and w.end is not None], clip.reference))
    for n, segment in enumerate(segments):
        if not segment.text.strip():
            continue
        logprob, no_speech, cps, ratio = segment_stats(segment)
        fixed = ratio > ReviewThresholds().compression_ratio or bool(_repeats(n, segment))
        words = [w for w in segment.words or [] if w.start is not None and w.end is not None]
        levels = [loudness(w.start, w.end) for w in words]
        probs = [w.probability if w.probability is not None else 1.0 for w in words]

        def unit(ps: list[float], ls: list[float], lp: float = logprob, ns: float = no_speech, c: float = cps,
                 f: bool = fixed) -> Unit:
            return Unit(min(ps, default=1.0), min(ls, default=0.0), lp, ns, c, f)

        if clip.bait:
            for s in (s for s in found if s.segment == n):
                near = [i for i, w in enumerate(words) if w.start <= s.end and w.end >= s.start]
                out["stretch"].append(unit([probs[i] for i in near], [levels[i] for i in near]))
        else:
            out["segment"].append(unit(probs, levels))
            for p, lv in zip(probs, levels, strict=True):
                out["word" if next(placed) == "match" else "misheard"].append(unit([p], [lv]))
    return out


def flagged(group: list[Unit], t: dict[str, float]) -> np.ndarray:
    a = {k: np.array([getattr(u, k) for u in group], dtype=float) for k in Unit.__dataclass_fields__}
    return ((a["fixed"] > 0) | (a["min_probability"] < t["word_probability"]) | (a["avg_logprob"] < t["avg_logprob"])
            | (a["no_speech_prob"] > t["no_speech_prob"]) | (a["min_level"] < t["quiet_dbfs"])
            | (a["chars_per_second"] > t["chars_per_second"]))


def sweep(tune: dict[str, list[Unit]], floor: float,
          start: ReviewThresholds) -> tuple[dict[str, float], tuple[float, float, float]] | None:
    """The grid point reaching the recall goal, and flagging at least `floor` of the misheard words, with the
    fewest correct clean words flagged (then clean segments); of points the figures cannot tell apart, the
    one fewest grid steps from `start` (a threshold moves only where moving it measurably helps)."""
    near = {k: min(range(len(v)), key=lambda i, k=k, v=v: abs(v[i] - getattr(start, k))) for k, v in GRID.items()}
    arrays = {g: {k: np.array([getattr(u, k) for u in us], dtype=float) for k in Unit.__dataclass_fields__}
              for g, us in tune.items()}

    def share(g: str, t: dict[str, float]) -> float:
        a = arrays[g]
        hit = ((a["fixed"] > 0) | (a["min_probability"] < t["word_probability"])
               | (a["avg_logprob"] < t["avg_logprob"]) | (a["no_speech_prob"] > t["no_speech_prob"])
               | (a["min_level"] < t["quiet_dbfs"]) | (a["chars_per_second"] > t["chars_per_second"]))
        return float(hit.mean()) if hit.size else 0.0

    best: tuple[dict[str, float], tuple[float, float, float]] | None = None
    best_cost: tuple[float, float, float, int] = (2.0, 2.0, 0.0, 0)
    for values in itertools.product(*GRID.values()):
        t = dict(zip(GRID, values, strict=True))
        recall = share("stretch", t)
        if recall < RECALL_GOAL or share("misheard", t) < floor:
            continue
        steps = sum(abs(GRID[k].index(v) - near[k]) for k, v in t.items())
        cost = (share("word", t), share("segment", t), -recall, steps)
        if best is None or cost < best_cost:
            best, best_cost = (t, (cost[0], cost[1], recall)), cost
    return best


# --- the measurement, with core.review itself ----------------------------------------------------------


def measure(rows: list[tuple[Clip, list[Segment], Any, Any]], thresholds: ReviewThresholds, title: str) -> None:
    stretch_total = stretch_flagged = 0
    bait_segments = with_invented = unflagged_segments = 0
    clean_segments = clean_segments_flagged = clean_words = clean_words_flagged = misheard = misheard_flagged = 0
    missed: list[str] = []
    by_kind: dict[str, list[int]] = {}
    for clip, segments, loudness, lexicon in rows:
        flags = review(segments, loudness, lexicon, thresholds)
        if clip.bait:
            found = stretches(segments, clip)
            hit = [covered(flags, s.segment, s.start, s.end) for s in found]
            stretch_total += len(found)
            stretch_flagged += sum(hit)
            bait_segments += sum(1 for s in segments if s.text.strip())
            with_invented += len({s.segment for s in found})
            unflagged_segments += len({s.segment for s, h in zip(found, hit, strict=True) if not h})
            missed += [f"{clip.file} {s.start:.1f}-{s.end:.1f} s: {s.text!r}"
                       for s, h in zip(found, hit, strict=True) if not h]
            for s, h in zip(found, hit, strict=True):
                kind = _kind(clip, s)
                by_kind.setdefault(kind, [0, 0])
                by_kind[kind][0] += 1
                by_kind[kind][1] += int(h)
        else:
            placed = iter(alignment([w.word for s in segments for w in s.words or [] if w.start is not None
                                     and w.end is not None], clip.reference))
            for n, segment in enumerate(segments):
                if not segment.text.strip():
                    continue
                clean_segments += 1
                clean_segments_flagged += covered(flags, n, segment.start, segment.end)
                for word in segment.words or []:
                    if word.start is None or word.end is None:
                        continue
                    hit = contains(flags, n, word.start, word.end)
                    if next(placed) == "match":
                        clean_words, clean_words_flagged = clean_words + 1, clean_words_flagged + hit
                    else:
                        misheard, misheard_flagged = misheard + 1, misheard_flagged + hit
    print(f"\n{title}")
    print(f"  invented stretches flagged      {stretch_flagged}/{stretch_total} = "
          f"{_share(stretch_flagged, stretch_total)}   (goal >= {RECALL_GOAL})")
    for kind, (total, hit) in sorted(by_kind.items()):
        print(f"    over {kind:<8} {hit}/{total}")
    print(f"  clean segments flagged          {clean_segments_flagged}/{clean_segments} = "
          f"{_share(clean_segments_flagged, clean_segments)}")
    print(f"  correct clean words flagged     {clean_words_flagged}/{clean_words} = "
          f"{_share(clean_words_flagged, clean_words)}")
    print(f"  misheard clean words flagged    {misheard_flagged}/{misheard} = {_share(misheard_flagged, misheard)}")
    print(f"  bait-clip segments with invented text     {with_invented}/{bait_segments} = "
          f"{_share(with_invented, bait_segments)}")
    print(f"  ... with invented text no flag covers     {unflagged_segments}/{bait_segments} = "
          f"{_share(unflagged_segments, bait_segments)}   (goal < 0.001)")
    for line in missed:
        print(f"    unflagged: {line}")


def _kind(clip: Clip, stretch: Stretch) -> str:
    manifest = {c["file"]: c for c in json.loads((DEVSET / "manifest.bait.json").read_text())}
    middle = (stretch.start + stretch.end) / 2
    for b in manifest[clip.file]["bait"]:
        if b["interval"][0] <= middle <= b["interval"][1]:
            return str(b["kind"])
    return "?"


def _share(part: int, whole: int) -> str:
    """The share, with its Wilson 95 % interval (small counts say little)."""
    if not whole:
        return "n/a"
    p, z = part / whole, 1.96
    centre = (p + z * z / (2 * whole)) / (1 + z * z / whole)
    half = z * ((p * (1 - p) / whole + z * z / (4 * whole * whole)) ** 0.5) / (1 + z * z / whole)
    return f"{p:.4f} [{max(0.0, centre - half):.3f}, {min(1.0, centre + half):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh", action="store_true", help="decode again instead of using bench/.cache")
    parser.add_argument("--no-sweep", action="store_true", help="measure the current defaults only")
    parser.add_argument("--cached", action="store_true", help="only the clips already decoded (a partial look)")
    parser.add_argument("--no-vad", action="store_true", help="plain 30-s windows instead of VAD's (a stress test)")
    args = parser.parse_args()
    every = clips()
    if args.cached:
        done_file = CACHE if not args.no_vad else CACHE.with_name("review-novad.json")
        done = json.loads(done_file.read_text()) if done_file.exists() else {}
        every = [c for c in every if c.file in done]
    cache = decode_all(every, args.fresh, vad=not args.no_vad)
    rows = []
    removed = removed_spoken = 0
    for clip in every:
        audio = audio_of(clip)
        segments, loudness, lexicon = delivered(clip, cache[clip.file], audio)
        before = sum(len(w["words"]) for w in cache[clip.file] if w["text"].strip())
        gone = before - sum(len(s.words or []) for s in segments)
        removed += gone
        if gone and not clip.bait:
            removed_spoken += gone
        rows.append((clip, segments, loudness, lexicon))
    bait_clips = [c for c in every if c.bait]
    print(f"{len(bait_clips)} bait clips ({sum(c.split == 'tune' for c in bait_clips)} tune, "
          f"{sum(c.split == 'heldout' for c in bait_clips)} held out), {len(every) - len(bait_clips)} clean dictations")
    print(f"words removed as text over digital silence: {removed} ({removed_spoken} of them in clean dictations)")
    defaults = ReviewThresholds()
    if not args.no_sweep:
        tune: dict[str, list[Unit]] = {"stretch": [], "segment": [], "word": [], "misheard": []}
        for clip, segments, loudness, _ in rows:
            if clip.split == "tune":
                for g, us in units(segments, loudness, clip).items():
                    tune[g] += us
        at_defaults = flagged(tune["misheard"], defaults.model_dump()).mean()
        best = sweep(tune, float(at_defaults), defaults)
        if best is None:
            print("\nno point of the grid reaches the recall goal on the tune split")
        else:
            point, (words, segs, recall) = best
            print(f"\nsweep ({np.prod([len(v) for v in GRID.values()])} points, tune split; misheard words flagged "
                  f">= {at_defaults:.4f}, the defaults'): recall {recall:.4f}, correct clean words flagged "
                  f"{words:.4f}, clean segments flagged {segs:.4f} at")
            print("  " + ", ".join(f"{k}={v:g}" for k, v in point.items()))
            swept = ReviewThresholds(**point)
            for split in ("tune", "heldout"):
                measure([r for r in rows if r[0].split == split], swept, f"swept point, {split} split")
    for split in ("tune", "heldout"):
        measure([r for r in rows if r[0].split == split], defaults,
                f"defaults ({', '.join(f'{k}={v:g}' for k, v in defaults.model_dump().items())}), {split} split")


if __name__ == "__main__":
    main()
