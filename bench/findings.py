"""Per-field precision and recall of the findings extractor on the findings dev set.

    .venv/bin/python bench/findings.py                       # on the reference text: measures the extractor
    .venv/bin/python bench/findings.py --heldout             # dictations written after the rules
    .venv/bin/python bench/findings.py --model               # end to end, the bundled model in process
    .venv/bin/python bench/findings.py --api http://127.0.0.1:8000 --key KEY   # end to end through the model

Reference mode extracts from each dictation's written text (what formatting should produce). End to end
decodes each clip of bench/devset/manifest*.json as a job with its note type would be (`--model`: the
default vocabulary prompt with the truncation guard, the lexicon, dictation formatting; transcripts
cached in bench/.cache) or sends it to a running API (`--api`, `format=json`), and extracts from the
transcript, which is what `format=findings` does server side.
A field is scored as (field, value) pairs: a polyp's, ulcer's or stent's attributes are keyed by its
place in the note, list fields (landmarks, biopsy sites) count each value once. `--show` prints the
misses and false findings of each note.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "devset"))

from script import DICTATIONS, HERE, Dictation, load  # noqa: E402

from core.jobs import Transcript  # noqa: E402
from findings.extraction import extract  # noqa: E402

FINDINGS = HERE / "findings.yaml"
HELDOUT = HERE / "findings_heldout.yaml"
ITEMS = {"polyps", "ulcers", "stents"}
UNIT_FIELDS = {"follow_up"}
Pair = tuple[str, str]


@dataclass(frozen=True)
class Labelled:
    dictation: Dictation
    labels: dict[str, Any]


def load_set(source: Path = FINDINGS) -> list[Labelled]:
    """Every labelled dictation: the dev set's own (text from dictations.yaml) and the findings set's."""
    known = {d.id: d for d in load(DICTATIONS)}
    out = []
    for entry in yaml.safe_load(source.read_text()):
        if "text" in entry:
            dictation = Dictation(id=entry["id"], note_type=entry["note_type"], commands=bool(entry["commands"]),
                                  text=entry["text"])
        else:
            dictation = known[entry["id"]]
        out.append(Labelled(dictation, entry.get("labels") or {}))
    return out


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{float(value):g}"
    return str(value)


def label_pairs(labels: dict[str, Any]) -> Counter[Pair]:
    pairs: Counter[Pair] = Counter()
    for field, value in labels.items():
        if field == "sedation":
            for agent, dose in value.items():
                pairs[("sedation.agent", agent)] += 1
                if dose is not None:
                    pairs[("sedation.dose", f"{agent} {_value(dose)}")] += 1
        elif field in ITEMS:
            pairs[(f"{field}.count", str(len(value)))] += 1
            for i, item in enumerate(value):
                for attr, v in item.items():
                    pairs[(f"{field}.{attr}", f"{i}:{_value(v)}")] += 1
        elif isinstance(value, list):
            pairs.update((field, _value(v)) for v in value)
        else:
            pairs[(field, _value(value))] += 1
    return pairs


def found_pairs(found: dict[str, Any]) -> Counter[Pair]:
    """The same pairs from an extracted findings model's dump."""
    labels: dict[str, Any] = {}
    for field, value in found.items():
        if field == "kind" or value is None or value == []:
            continue
        if field == "sedation":
            labels[field] = {s["agent"]["value"]: s["dose"]["value"] if s["dose"] else None for s in value}
        elif field in ITEMS:
            labels[field] = [{a: v["value"] for a, v in item.items() if v is not None} for item in value]
        elif isinstance(value, list):
            labels[field] = [v["value"] for v in value]
        elif field in UNIT_FIELDS:
            labels[field] = f"{_value(value['value'])} {value['unit']}"
        else:
            labels[field] = value["value"]
    return label_pairs(labels)


def field_of(pair: Pair) -> str:
    return pair[0]


def score(rows: Iterable[tuple[str, Counter[Pair], Counter[Pair]]], show: bool) -> dict[str, tuple[int, int, int]]:
    """Per field: (true positives, extracted, labelled)."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for note_id, truth, got in rows:
        hit = truth & got
        for pair, n in got.items():
            totals[field_of(pair)][1] += n
        for pair, n in truth.items():
            totals[field_of(pair)][2] += n
        for pair, n in hit.items():
            totals[field_of(pair)][0] += n
        if show and (truth - got or got - truth):
            print(f"{note_id}: missed {sorted(truth - got)} false {sorted(got - truth)}")
    return {k: (v[0], v[1], v[2]) for k, v in sorted(totals.items())}


def report(title: str, totals: dict[str, tuple[int, int, int]]) -> None:
    print(f"\n{title}\n{'field':<26}{'precision':>10}{'recall':>8}{'labelled':>10}{'found':>7}")
    for field, (tp, got, truth) in totals.items():
        precision = tp / got if got else 1.0
        recall = tp / truth if truth else 1.0
        print(f"{field:<26}{precision:>10.3f}{recall:>8.3f}{truth:>10}{got:>7}")
    tp, got, truth = (sum(v[i] for v in totals.values()) for i in range(3))
    print(f"{'all fields':<26}{tp / max(got, 1):>10.3f}{tp / max(truth, 1):>8.3f}{truth:>10}{got:>7}")


def reference(items: list[Labelled], show: bool) -> dict[str, tuple[int, int, int]]:
    rows = []
    for item in items:
        found = extract(item.dictation.note_type, item.dictation.written)
        got = found_pairs(found.model_dump()) if found else Counter()
        rows.append((item.dictation.id, label_pairs(item.labels), got))
    return score(rows, show)


def end_to_end(items: list[Labelled], api: str, key: str, show: bool) -> dict[str, tuple[int, int, int]]:
    """Each clip through a running API; every voice of a dictation is scored as a note of its own."""
    import httpx

    by_id = {item.dictation.id: item for item in items}
    clips = [c for m in ("manifest.json", "manifest.findings.json") if (HERE / m).exists()
             for c in json.loads((HERE / m).read_text()) if c["id"] in by_id]
    rows = []
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        for clip in clips:
            item = by_id[clip["id"]]
            transcript = _transcribe(client, HERE / clip["file"], item.dictation.note_type)
            found = extract(item.dictation.note_type, transcript.text, transcript.segments)
            got = found_pairs(found.model_dump()) if found else Counter()
            rows.append((f"{clip['id']}.{clip['voice']}", label_pairs(item.labels), got))
    return score(rows, show)


def in_process(items: list[Labelled], show: bool, fresh: bool) -> dict[str, tuple[int, int, int]]:
    """Each clip through the bundled model in this process, as the worker runs a job."""
    by_id = {item.dictation.id: item for item in items}
    clips = [c for m in ("manifest.json", "manifest.findings.json") if (HERE / m).exists()
             for c in json.loads((HERE / m).read_text()) if c["id"] in by_id]
    cache = ROOT / "bench" / ".cache" / "findings-e2e.json"
    if cache.exists() and not fresh:
        transcripts = [Transcript.model_validate(t) for t in json.loads(cache.read_text())]
    else:
        transcripts = _decode(clips)
        cache.parent.mkdir(exist_ok=True)
        cache.write_text(json.dumps([t.model_dump() for t in transcripts]))
    rows = []
    for clip, transcript in zip(clips, transcripts, strict=True):
        item = by_id[clip["id"]]
        found = extract(item.dictation.note_type, transcript.text, transcript.segments)
        got = found_pairs(found.model_dump()) if found else Counter()
        rows.append((f"{clip['id']}.{clip['voice']}", label_pairs(item.labels), got))
    return score(rows, show)


def _decode(clips: list[dict[str, Any]]) -> list[Transcript]:
    import os
    import tempfile

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from core.jobs import JobOptions
    from core.settings import VocabularySettings, WorkerSettings
    from core.tuning import WorkerTuning
    from core.vocabulary import decoding_prompt
    from worker.model.decoding import decode_audio
    from worker.model.model_manager import ModelManager
    from worker.text import lexicon, vocabulary_guard
    from worker.text.formatting import format_transcript

    models = ModelManager(WorkerSettings(tuning=WorkerTuning(decode_lanes=1)))
    models.load()
    assert models.runtime is not None
    print(f"model {models.model_name} on {models.runtime.whisperx_device}/{models.runtime.compute_type}",
          file=sys.stderr)
    out = []
    for clip in clips:
        options = JobOptions(note_type=clip["note_type"])
        audio = decode_audio((HERE / clip["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
        prompt, hotwords = decoding_prompt(options, VocabularySettings())
        transcript = vocabulary_guard.transcribe_guarded(models, audio, language="en", initial_prompt=prompt,
                                                         hotwords=hotwords, progress_callback=lambda _: None)
        transcript = lexicon.correct_job(transcript, options, VocabularySettings())
        out.append(format_transcript(transcript, options))
        print(f"  decoded {clip['file']}", file=sys.stderr, flush=True)
    return out


def _transcribe(client: Any, audio: Path, note_type: str) -> Transcript:
    with audio.open("rb") as f:
        created = client.post("/v1/jobs", files={"file": (audio.name, f, "audio/ogg")},
                              data={"note_type": note_type})
    created.raise_for_status()
    job_id = created.json()["id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json()["status"]
        if status in {"completed", "failed", "cancelled"}:
            break
        time.sleep(1)
    result = client.get(f"/v1/jobs/{job_id}/result", params={"format": "json"})
    result.raise_for_status()
    return Transcript.model_validate(result.json())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", help="a running EndoScribe API: score end to end through its model")
    parser.add_argument("--key", default="", help="its API key")
    parser.add_argument("--model", action="store_true", help="end to end through the bundled model, in process")
    parser.add_argument("--fresh", action="store_true", help="decode again instead of using bench/.cache")
    parser.add_argument("--show", action="store_true", help="print each note's misses and false findings")
    parser.add_argument("--heldout", action="store_true", help="the held-out dictations, never used for tuning")
    args = parser.parse_args()
    items = load_set(HELDOUT if args.heldout else FINDINGS)
    print(f"{len(items)} labelled dictations: "
          + ", ".join(f"{k} {v}" for k, v in sorted(Counter(i.dictation.note_type for i in items).items())))
    report("reference text (the extractor)", reference(items, args.show))
    if args.model:
        report("end to end (bundled model, in process)", in_process(items, args.show, args.fresh))
    if args.api:
        report(f"end to end ({args.api})", end_to_end(items, args.api, args.key, args.show))


if __name__ == "__main__":
    main()
