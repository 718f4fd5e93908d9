"""The clips a live-latency run streams: a whole split of the dev set, and where each clip's speech ends.

A split is every clip of its manifest (`bench/devset/manifest.json`, or `manifest.heldout.json` for
the held-out dictations, never used for tuning): both voices (Piper's joe at paces 0.9–1.2, espeak at
150–180 words a minute), some with noise at 20 dB SNR. A run with more sessions than clips reuses
clips, each reuse resampled to another pace (`REUSE_PACES`; its pitch moves with it, so it is also
another voice).

Where speech ends is found by a VAD over the clip's own audio, whole, once, before the run, never by
the worker: Silero (as faster-whisper bundles it; Pipecat's benchmark uses Silero too) with pauses of
0.1 s kept apart (`REFERENCE_VAD`), so that the last word a final holds has its own end. (With
Pipecat's `stop_secs` of 0.2 s as the shortest pause, Silero runs the sentences of these voices
together: their pauses are 0.15–0.35 s, and it hears one 26 s stretch in held01.joe.)
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEVSET = ROOT / "bench" / "devset"
sys.path.append(str(DEVSET))

from script import DICTATIONS, HELDOUT, HELDOUT_MANIFEST, MANIFEST, load  # noqa: E402

SPLITS = {"dev": (MANIFEST, DICTATIONS), "heldout": (HELDOUT_MANIFEST, HELDOUT)}
REUSE_PACES = (1.08, 0.93, 1.15, 0.87, 1.04, 0.96, 1.12, 0.9)
"""The pace of a clip's first, second, ... reuse (a resampling factor: 1.08 is 8 % faster)."""
REFERENCE_VAD = {"min_silence_duration_ms": 100, "speech_pad_ms": 0, "min_speech_duration_ms": 100}
"""Silero's options for where speech is (faster-whisper's defaults otherwise: threshold 0.5): no padding,
so a stretch ends where the voice stops; a word of 0.1 s ("comma") is speech."""


@dataclass(frozen=True)
class Clip:
    """One session's audio: a dictation in one voice, pace and noise."""

    name: str
    """`held01.joe`, or `held01.joe@1.08` for a reuse at another pace."""
    voice: str
    pace: str
    noisy: bool
    note_type: str
    spoken: str
    pcm: bytes
    """16 kHz mono s16le."""
    speech: tuple[tuple[float, float], ...]
    """Where the reference VAD hears speech (seconds)."""

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 32000


def load_split(split: str, limit: int | None = None) -> list[Clip]:
    """Every clip of `split` (`dev` or `heldout`), in manifest order; the first `limit` only if given."""
    from worker.model.decoding import decode_audio

    manifest, source = SPLITS[split]
    spoken = {d.id: d.spoken for d in load(source)}
    out = []
    for entry in json.loads(manifest.read_text())[:limit]:
        audio = decode_audio((DEVSET / entry["file"]).read_bytes(), 3600, Path(tempfile.gettempdir()))
        out.append(_clip(entry, spoken[entry["id"]], np.clip(audio, -1, 1)))
    return out


def sessions_for(clips: list[Clip], count: int) -> list[Clip]:
    """What `count` concurrent sessions stream: every clip, in waves of `count`, the last wave (or the
    only one, when there are fewer clips than sessions) filled with reuses at other paces."""
    total = max(count, math.ceil(len(clips) / count) * count)
    out = list(clips)
    for n in range(total - len(clips)):
        out.append(reused(clips[n % len(clips)], REUSE_PACES[(n // len(clips)) % len(REUSE_PACES)]))
    return out


def reused(clip: Clip, pace: float) -> Clip:
    """`clip` resampled to `pace` times its speed, its speech found again over the new audio."""
    audio = np.frombuffer(clip.pcm, "<i2").astype(np.float32) / 32768
    length = int(audio.size / pace)
    faster = np.interp(np.arange(length) * pace, np.arange(audio.size), audio).astype(np.float32)
    return Clip(f"{clip.name}@{pace:g}", clip.voice, f"{clip.pace} ×{pace:g}", clip.noisy, clip.note_type,
                clip.spoken, _pcm(faster), reference_speech(faster))


def reference_speech(audio: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Where speech is in `audio` (16 kHz float), by the reference VAD."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(audio, VadOptions(**REFERENCE_VAD))
    return tuple((s["start"] / 16000, s["end"] / 16000) for s in found)


def describe(clips: list[Clip]) -> str:
    """`9 clips: joe ×6, espeak ×3; 3 with noise; paces 0.9, 1.0, ...`"""
    voices: dict[str, int] = {}
    for clip in clips:
        voices[clip.voice] = voices.get(clip.voice, 0) + 1
    paces = sorted({c.pace for c in clips})
    return (f"{len(clips)} clips ({sum(c.seconds for c in clips) / 60:.1f} min): "
            f"{', '.join(f'{v} ×{n}' for v, n in voices.items())}; {sum(c.noisy for c in clips)} with noise "
            f"at 20 dB; paces {', '.join(paces)}")


def _clip(entry: dict[str, Any], spoken: str, audio: np.ndarray) -> Clip:
    pace = f"{entry['wpm']} wpm" if "wpm" in entry else f"pace {entry['pace']:g}"
    return Clip(f"{entry['id']}.{entry['voice']}", entry["voice"], pace, bool(entry["noise_snr_db"]),
                entry["note_type"], spoken, _pcm(audio), reference_speech(audio.astype(np.float32)))


def _pcm(audio: np.ndarray) -> bytes:
    return bytes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
