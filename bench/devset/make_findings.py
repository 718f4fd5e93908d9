"""Voice the findings dev set's own dictations (bench/devset/findings.yaml entries with a `text`).

    python3 -m uv run --group devset python bench/devset/make_findings.py

The same voices, paces, noise and encoding as the dev set (make.py: Piper's joe on every dictation,
espeak-ng on every other one; 16 kHz mono Ogg/Opus at 24 kbit/s), written to audio/ next to the dev
set's clips, with their own manifest (manifest.findings.json). The entries that only label a dictation
of dictations.yaml use that dictation's clips, already in manifest.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make import SAMPLE_RATE, add_noise, clips, encode_opus, piper_voice, speak_espeak, speak_piper, to_16k
from script import AUDIO, HERE, Dictation

FINDINGS = HERE / "findings.yaml"
MANIFEST = HERE / "manifest.findings.json"


def own_dictations() -> list[Dictation]:
    entries = yaml.safe_load(FINDINGS.read_text())
    return [Dictation(id=e["id"], note_type=e["note_type"], commands=bool(e["commands"]), text=e["text"])
            for e in entries if "text" in e]


def main() -> None:
    dictations = {d.id: d for d in own_dictations()}
    AUDIO.mkdir(exist_ok=True)
    voice = piper_voice()
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, clip in enumerate(clips(list(dictations.values()))):
            d = dictations[str(clip["id"])]
            raw = Path(tmp) / f"{n}.wav"
            if clip["voice"] == "joe":
                speak_piper(voice, d.spoken, float(clip["pace"]), raw)  # type: ignore[arg-type]
            else:
                speak_espeak(d.spoken, int(clip["wpm"]), raw)  # type: ignore[call-overload]
            audio = to_16k(raw)
            if clip["noise_snr_db"] is not None:
                audio = add_noise(audio, float(clip["noise_snr_db"]), seed=1000 + n)  # type: ignore[arg-type]
            name = f"{d.id}.{clip['voice']}.ogg"
            encode_opus(audio, AUDIO / name)
            manifest.append({**clip, "file": f"audio/{name}", "note_type": d.note_type, "commands": d.commands,
                             "seconds": round(audio.size / SAMPLE_RATE, 2)})
            print(f"{name:<24} {audio.size / SAMPLE_RATE:6.1f} s", flush=True)
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(float(str(c["seconds"])) for c in manifest)
    print(f"{len(manifest)} clips, {total / 60:.1f} min")


if __name__ == "__main__":
    main()
