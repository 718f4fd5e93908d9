"""Voice the commands dev set (commands.yaml) like the transcription dev set (make.py): Piper's joe on
every dictation, espeak-ng on every other one, at cycled rates, noise on some.

    python3 -m uv run --group devset python bench/devset/make_commands.py [--heldout]

Each phrase is synthesised on its own and the clip joins them with the silence commands.yaml gives
before each (a command is said after a pause). The manifest keeps where each phrase lies in the clip,
so bench/commands.py --audio can tell a command recognised in the right phrase from one taken out of
an ordinary sentence.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from commands_script import (
    AUDIO,
    COMMANDS,
    COMMANDS_HELDOUT,
    COMMANDS_HELDOUT_MANIFEST,
    COMMANDS_MANIFEST,
    CommandDictation,
    load_commands,
)
from make import (
    ESPEAK_WPM,
    NOISE_SNR_DB,
    PIPER_PACE,
    SAMPLE_RATE,
    add_noise,
    encode_opus,
    piper_voice,
    speak_espeak,
    speak_piper,
    to_16k,
)

LEAD_IN = 0.3
"""Silence before the first phrase: a recording does not start on a word."""


def voice(d: CommandDictation, speak: object, tmp: Path) -> tuple[np.ndarray, list[list[float]]]:
    pieces = [np.zeros(int(LEAD_IN * SAMPLE_RATE), np.float32)]
    spans: list[list[float]] = []
    now = LEAD_IN
    for n, phrase in enumerate(d.said):
        if n:
            pieces.append(np.zeros(int(phrase.pause * SAMPLE_RATE), np.float32))
            now += phrase.pause
        raw = tmp / f"{d.id}-{n}.wav"
        speak(phrase.text, raw)  # type: ignore[operator]
        audio = _trimmed(to_16k(raw))
        pieces.append(audio)
        spans.append([round(now, 2), round(now + audio.size / SAMPLE_RATE, 2)])
        now += audio.size / SAMPLE_RATE
    pieces.append(np.zeros(int(LEAD_IN * SAMPLE_RATE), np.float32))
    return np.concatenate(pieces), spans


def _trimmed(audio: np.ndarray) -> np.ndarray:
    """Without the synthesiser's own leading and trailing silence: the pause is the one commands.yaml says."""
    loud = np.flatnonzero(np.abs(audio) > 0.02)
    return audio[loud[0]:loud[-1] + 1] if loud.size else audio


def main() -> None:
    heldout = "--heldout" in sys.argv[1:]  # commands.heldout.yaml into manifest.commands.heldout.json
    dictations = load_commands(COMMANDS_HELDOUT if heldout else COMMANDS)
    AUDIO.mkdir(exist_ok=True)
    joe = piper_voice()
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        plans = [(d, "joe", i) for i, d in enumerate(dictations)] + [
            (d, "espeak", j) for j, d in enumerate(dictations[::2])]
        for n, (d, name, i) in enumerate(plans):
            if name == "joe":
                pace = PIPER_PACE[i % len(PIPER_PACE)]
                clip: dict[str, object] = {"id": d.id, "voice": "joe", "pace": pace}
                speak = lambda text, out, pace=pace: speak_piper(joe, text, pace, out)  # noqa: E731
            else:
                wpm = ESPEAK_WPM[i % len(ESPEAK_WPM)]
                clip = {"id": d.id, "voice": "espeak", "wpm": wpm}
                speak = lambda text, out, wpm=wpm: speak_espeak(text, wpm, out)  # noqa: E731
            audio, spans = voice(d, speak, Path(tmp))
            noisy = i % 3 == (2 if name == "joe" else 1)
            if noisy:
                audio = add_noise(audio, NOISE_SNR_DB, seed=n)
            file = f"{d.id}.{name}.ogg"
            encode_opus(audio, AUDIO / file)
            manifest.append({**clip, "noise_snr_db": NOISE_SNR_DB if noisy else None, "file": f"audio/{file}",
                             "note_type": d.note_type, "spans": spans, "seconds": round(audio.size / SAMPLE_RATE, 2)})
            print(f"{file:<24} {audio.size / SAMPLE_RATE:6.1f} s", flush=True)
    (COMMANDS_HELDOUT_MANIFEST if heldout else COMMANDS_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(float(c["seconds"]) for c in manifest)  # type: ignore[arg-type]
    print(f"{len(manifest)} clips, {total / 60:.1f} min")


if __name__ == "__main__":
    main()
