"""The hallucination-bait dev set: dictated phrases with stretches of no speech spliced between and around
them, where Whisper is known to invent text.

    .venv/bin/python bench/devset/make_bait.py

Each clip joins two clips of the commands dev set (manifest.commands.json: short dictations, Piper and
espeak voices, some with noise) with bait in between, and on most clips bait before the first or after
the second too. The bait, at levels a dictation microphone meets:

- `silence`: digital silence (exact zeros), 6-22 s: a paused recorder, a muted microphone.
- `room`: room noise, pink with a brown rumble, at -62 to -46 dBFS RMS (a quiet office to an HVAC vent).
- `breath`: two to four breaths, band-shaped noise bursts of 0.5-0.9 s with a slow rise and fall, at
  -40 to -33 dBFS RMS over a -62 dBFS room bed.
- `cough`: one or two coughs between sentences, a fast-attack broadband burst with a glottal buzz
  (0.25-0.4 s, about -20 dBFS RMS), in 1.5-3.5 s of room bed.
- `music`: music on hold, a I-V-vi-IV chord loop with a melody over it, telephone-band, at -32 to
  -24 dBFS RMS.
- `hum`: mains hum, 50 or 60 Hz with its harmonics, at -46 to -36 dBFS RMS.

Clips 37-48 (`loud`) take the same bait but no silence, 12 dB louder (room noise -50 to -40 dBFS), 10-25 s
long and always after the second phrase as well: the recorder left running on hold music, a cough into
the microphone, a fan next to it.

Clips 49-72 (`voiced`) take bait that sounds like speech, so the VAD passes it to the decoder (the bait
above it mostly drops, and tiny.en invented text over only 2 of the first 48 clips' bait):

- `mumble`: a voice through the wall, another clip of the commands set played backwards (speech-shaped
  and unintelligible: any word written over it is invented), low-passed at 2.5 kHz, at -34 to -26 dBFS
  RMS over a room bed, 4-12 s.
- `babble`: a waiting room, three such voices at once, at -36 to -30 dBFS RMS, 4-12 s.

Everything is seeded (clip n draws from `numpy.random.default_rng(n)`), so the same command makes the
same clips. Output: bench/devset/audio/bait*.ogg (16 kHz mono Ogg/Opus at 16 kbit/s) and
bench/devset/manifest.bait.json: per clip its file, `split` (`tune` or `heldout`: every fourth clip is
held out of the threshold sweep), `speech` (each spoken part's interval in seconds and its reference
text) and `bait` (each bait interval, `[start, end]` seconds, and its kind). Needs ffmpeg on PATH.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from commands_script import AUDIO, COMMANDS_MANIFEST, HERE, load_commands

SAMPLE_RATE = 16000
BAIT_MANIFEST = HERE / "manifest.bait.json"
CLIPS = 36
LOUD = 12
"""Clips after the first `CLIPS`: the same bait 12 dB louder and longer (a loud line, a close cough)."""
LOUD_DB = 12.0
KINDS = ("silence", "room", "breath", "cough", "music", "hum")
VOICED = 24
"""Clips after the loud ones: bait that sounds like speech (`VOICED_KINDS`), the VAD's blind spot."""
VOICED_KINDS = ("mumble", "babble")


def decode(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(SAMPLE_RATE),
                          "-f", "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0


def encode_opus(audio: np.ndarray, out: Path) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "-",
                    "-c:a", "libopus", "-b:a", "16k", "-application", "voip", "-fflags", "+bitexact", str(out)],
                   input=pcm, check=True)


def at_level(signal: np.ndarray, dbfs: float) -> np.ndarray:
    """`signal` scaled to an RMS of `dbfs`."""
    rms = float(np.sqrt(np.mean(signal.astype(np.float64) ** 2))) or 1.0
    return (signal * (10 ** (dbfs / 20) / rms)).astype(np.float32)


def shaped_noise(rng: np.random.Generator, n: int, low: float, high: float, tilt: float = 0.0) -> np.ndarray:
    """White noise band-limited to [low, high] Hz, its spectrum tilted by f**tilt (-0.5: pink, -1: brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    gain = np.where((freqs >= low) & (freqs <= high), np.maximum(freqs, 1.0) ** tilt, 0.0)
    return np.fft.irfft(spectrum * gain, n).astype(np.float32)


def room(rng: np.random.Generator, seconds: float, dbfs: float) -> np.ndarray:
    n = int(seconds * SAMPLE_RATE)
    bed = shaped_noise(rng, n, 20, 7000, -0.5) + 0.5 * at_level(shaped_noise(rng, n, 20, 300, -1.0), -20)
    return at_level(bed, dbfs)


def breaths(rng: np.random.Generator, seconds: float) -> np.ndarray:
    out = room(rng, seconds, -62)
    count = int(rng.integers(2, 5))
    slots = np.linspace(0.3, seconds - 1.0, count)
    level = float(rng.uniform(-40, -33))
    for start in slots:
        length = float(rng.uniform(0.5, 0.9))
        n = int(length * SAMPLE_RATE)
        burst = shaped_noise(rng, n, 200, 2500, -0.3)
        envelope = np.sin(np.linspace(0, np.pi, n)) ** 1.5  # a slow rise and fall
        first = int(start * SAMPLE_RATE)
        out[first:first + n] += at_level(burst * envelope, level)
    return out


def coughs(rng: np.random.Generator, seconds: float) -> np.ndarray:
    out = room(rng, seconds, -62)
    count = int(rng.integers(1, 3))
    start = float(rng.uniform(0.4, max(0.5, seconds - 0.9 * count - 0.3)))
    for _ in range(count):
        length = float(rng.uniform(0.25, 0.4))
        n = int(length * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        envelope = (1 - np.exp(-t / 0.005)) * np.exp(-t / (length / 3))
        buzz = np.sign(np.sin(2 * np.pi * float(rng.uniform(120, 220)) * t)) * 0.3
        burst = shaped_noise(rng, n, 100, 6000, -0.2) + buzz
        first = int(start * SAMPLE_RATE)
        out[first:first + n] += at_level(burst * envelope, -20)
        start += length + float(rng.uniform(0.2, 0.45))
    return out


def music(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A I-V-vi-IV loop in a random key, a chord a second, with a melody of chord tones on eighth notes."""
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    root = 220 * 2 ** (int(rng.integers(0, 12)) / 12)
    progression = [(0, 4, 7), (7, 11, 14), (9, 12, 16), (5, 9, 12)]
    out = np.zeros(n, np.float32)
    beat = SAMPLE_RATE  # a chord a second
    for k in range(0, n, beat):
        chord = progression[(k // beat) % 4]
        seg = slice(k, min(n, k + beat))
        tt = t[seg] - t[k]
        fade = np.minimum(1.0, np.minimum(tt / 0.02, (1.0 - tt) / 0.05).clip(0))
        for semis in chord:
            f = root * 2 ** (semis / 12)
            out[seg] += (np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt)) * fade * 0.3
        for e in range(8):  # the melody: eighth notes of the chord an octave up
            note = root * 2 * 2 ** (chord[int(rng.integers(0, 3))] / 12)
            lo, hi = k + e * beat // 8, min(n, k + (e + 1) * beat // 8)
            if lo >= n:
                break
            tn = t[lo:hi] - t[lo]
            out[lo:hi] += np.sin(2 * np.pi * note * tn) * np.exp(-tn / 0.08) * 0.5
    band = np.fft.rfft(out)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    out = np.fft.irfft(band * ((freqs > 300) & (freqs < 3400)), n).astype(np.float32)  # the phone line
    return at_level(out, float(rng.uniform(-32, -24))) + room(rng, seconds, -62)


def hum(rng: np.random.Generator, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    mains = 50.0 if rng.random() < 0.5 else 60.0
    tone = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3, 4, 5))
    return at_level(np.asarray(tone, np.float32), float(rng.uniform(-46, -36))) + room(rng, seconds, -64)


def backwards(rng: np.random.Generator, voices: list[np.ndarray], seconds: float) -> np.ndarray:
    """`seconds` of a voice played backwards (clips of `voices` end to end from a random one), muffled."""
    n = int(seconds * SAMPLE_RATE)
    first = int(rng.integers(0, len(voices)))
    joined = np.concatenate([voices[(first + k) % len(voices)][::-1] for k in range(4)])[:n]
    joined = np.pad(joined, (0, n - joined.size))
    spectrum = np.fft.rfft(joined)
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    return np.fft.irfft(spectrum * (freqs < 2500), n).astype(np.float32)  # through a wall


def voiced(kind: str, rng: np.random.Generator, voices: list[np.ndarray]) -> np.ndarray:
    """A `mumble` (one voice backwards) or `babble` (three at once) over a room bed, 4-12 s."""
    seconds = float(rng.uniform(4, 12))
    if kind == "mumble":
        speech = at_level(backwards(rng, voices, seconds), float(rng.uniform(-34, -26)))
    else:
        speech = at_level(sum((backwards(rng, voices, seconds) for _ in range(3)), np.zeros(1, np.float32)),
                          float(rng.uniform(-36, -30)))
    return speech + room(rng, seconds, -60)


def bait(kind: str, rng: np.random.Generator, where: str, loud: bool = False) -> np.ndarray:
    """One stretch of bait of `kind`; `where` (lead, mid, tail) only sets how long; `loud`: 12 dB up, 10-25 s."""
    if loud:
        seconds = float(rng.uniform(10, 25))
        made = {"room": lambda: room(rng, seconds, float(rng.uniform(-50, -40))),
                "breath": lambda: breaths(rng, seconds),
                "cough": lambda: coughs(rng, float(rng.uniform(2.5, 4.0))), "music": lambda: music(rng, seconds),
                "hum": lambda: hum(rng, seconds)}[kind]()
        return made if kind == "room" else np.clip(made * 10 ** (LOUD_DB / 20), -1.0, 1.0).astype(np.float32)
    if kind == "cough":
        return coughs(rng, float(rng.uniform(1.5, 3.5)))
    seconds = float(rng.uniform(6, 22) if kind == "silence" else rng.uniform(4, 15) if where == "mid"
                    else rng.uniform(3, 10))
    if kind == "silence":
        return np.zeros(int(seconds * SAMPLE_RATE), np.float32)
    if kind == "room":
        return room(rng, seconds, float(rng.uniform(-62, -46)))
    return {"breath": breaths, "music": music, "hum": hum}[kind](rng, seconds)


def make(kind: str, where: str, rng: np.random.Generator, voices: list[np.ndarray] | None, loud: bool) -> np.ndarray:
    """Bait of `kind`: speech-like (`voiced`) where `voices` are given, the other kinds' otherwise."""
    return voiced(kind, rng, voices) if voices is not None else bait(kind, rng, where, loud)


def main() -> None:
    sources = json.loads(COMMANDS_MANIFEST.read_text())
    said = {d.id: " ".join(p.text for p in d.said) for d in load_commands()}
    voices = [decode(HERE / s["file"]) for s in sources]
    manifest = []
    for n in range(CLIPS + LOUD + VOICED):
        rng = np.random.default_rng(n)
        first, second = sources[n % len(sources)], sources[(n * 7 + 5) % len(sources)]
        mid = KINDS[n % len(KINDS)]
        edge = KINDS[(n // len(KINDS) + n + 2) % len(KINDS)]
        lead, tail = n % 3 in {0, 2}, n % 3 in {1, 2}
        loud = n >= CLIPS
        if loud:  # no silence to make louder: music, breaths, coughs, hum and noise, always after the speech too
            mid, edge = KINDS[1 + n % 5], KINDS[1 + (n + 2) % 5]
            lead, tail = n % 2 == 0, True
        spoken = n >= CLIPS + LOUD
        if spoken:  # a voice in the next room between the phrases, and before or after them
            mid, edge = VOICED_KINDS[n % 2], VOICED_KINDS[(n // 2) % 2]
            lead, tail, loud = n % 2 == 0, n % 2 == 1, False

        parts: list[tuple[str, np.ndarray, dict[str, str]]] = []
        if lead:
            parts.append(("bait", make(edge, "lead", rng, voices if spoken else None, loud), {"kind": edge}))
        parts.append(("speech", decode(HERE / first["file"]), {"text": said[first["id"]],
                                                                "source": first["file"]}))
        parts.append(("bait", make(mid, "mid", rng, voices if spoken else None, loud), {"kind": mid}))
        parts.append(("speech", decode(HERE / second["file"]), {"text": said[second["id"]],
                                                                 "source": second["file"]}))
        if tail:
            parts.append(("bait", make(edge, "tail", rng, voices if spoken else None, loud), {"kind": edge}))
        clip: dict[str, object] = {"id": f"bait{n + 1:02d}", "file": f"audio/bait{n + 1:02d}.ogg",
                                   "split": "heldout" if n % 4 == 3 else "tune",
                                   "note_type": first["note_type"], "loud": loud, "voiced": spoken,
                                   "speech": [], "bait": []}
        at = 0
        for what, audio, about in parts:
            span = [round(at / SAMPLE_RATE, 3), round((at + audio.size) / SAMPLE_RATE, 3)]
            clip[what].append({"interval": span, **about})  # type: ignore[attr-defined]
            at += audio.size
        audio = np.concatenate([a for _, a, _ in parts])
        clip["seconds"] = round(audio.size / SAMPLE_RATE, 2)
        encode_opus(audio, AUDIO / f"bait{n + 1:02d}.ogg")
        manifest.append(clip)
        kinds = ", ".join(f"{b['kind']} {b['interval'][1] - b['interval'][0]:.1f} s"  # type: ignore[index]
                          for b in clip["bait"])  # type: ignore[attr-defined]
        print(f"{clip['id']}  {clip['seconds']:5.1f} s  {clip['split']:<8} {kinds}", flush=True)
    BAIT_MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(float(c["seconds"]) for c in manifest)  # type: ignore[arg-type]
    print(f"{len(manifest)} clips, {total / 60:.1f} min")


if __name__ == "__main__":
    main()
