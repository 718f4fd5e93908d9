"""Audio in, transcript out: plain functions that know nothing of Celery or Redis."""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import AudioError
from core.jobs import Segment, Transcript, Word

if TYPE_CHECKING:  # numpy comes with the worker set; Flower imports this module in the light image
    import numpy as np

SAMPLE_RATE = 16_000
# Below this peak (about -60 dBFS) a recording holds no speech worth sending to the model.
SILENCE_PEAK = 0.001
ProgressCallback = Callable[[float], None]


def decode_audio(data: bytes, timeout: float = 600.0) -> np.ndarray:
    """Decode any container ffmpeg reads to 16 kHz mono float32.

    The bytes go through a temporary file, not a pipe: MP4/M4A files whose index sits at the end
    cannot be demuxed from a stream. The file is removed before returning.
    """
    with tempfile.NamedTemporaryFile(prefix="endoscribe-", suffix=".audio") as tmp:
        tmp.write(data)
        tmp.flush()
        cmd = [
            "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0",
            "-i", tmp.name, "-vn", "-f", "s16le", "-ac", "1", "-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE), "-",
        ]
        try:
            out = subprocess.run(cmd, capture_output=True, check=False, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AudioError("decoding the audio took too long; re-encode it as WAV or FLAC",
                             code="audio_undecodable") from exc
    import numpy as np

    if out.returncode != 0:
        # ffmpeg's stderr can quote tags from the file (titles, names): not copied into the message.
        raise AudioError("the audio could not be decoded; send a valid wav, flac, mp3, m4a, ogg or webm file",
                         code="audio_undecodable")
    audio = np.frombuffer(out.stdout, np.int16).flatten().astype(np.float32) / 32768.0
    if audio.size == 0:
        raise AudioError("the file decodes to no audio samples; send a recording with sound in it",
                         code="audio_empty")
    return audio


def check_audio(audio: np.ndarray, max_seconds: float) -> float:
    """Reject audio that is silent or too long; returns its duration in seconds."""
    import numpy as np

    seconds = audio.size / SAMPLE_RATE
    if seconds > max_seconds:
        raise AudioError(f"the audio is {seconds:.0f} s long; the limit is {max_seconds:.0f} s — split it",
                         code="audio_too_long")
    if float(np.abs(audio).max()) < SILENCE_PEAK:
        raise AudioError("the audio is silent; check the microphone and record again", code="audio_silent")
    return seconds


def transcribe(
    pipeline: Any,
    audio: np.ndarray,
    *,
    language: str | None,
    batch_size: int,
    initial_prompt: str | None = None,
    hotwords: str | None = None,
    progress_callback: ProgressCallback | None = None,
) -> Transcript:
    """Run the WhisperX pipeline on one recording with per-job prompt and hotwords."""
    saved_options = pipeline.options
    # asr_options are fixed at load time; per-job prompt/hotwords swap them for this call only.
    pipeline.options = dataclasses.replace(saved_options, initial_prompt=initial_prompt, hotwords=hotwords)
    try:
        result = pipeline.transcribe(audio, batch_size=batch_size, language=language,
                                     progress_callback=progress_callback)
    finally:
        pipeline.options = saved_options
    segments = [
        Segment(start=float(s["start"]), end=float(s["end"]), text=s["text"].strip())
        for s in result["segments"]
        if s["text"].strip()
    ]
    return Transcript(
        text=" ".join(s.text for s in segments),
        language=result.get("language") or language or "en",
        duration=round(audio.size / SAMPLE_RATE, 3),
        segments=segments,
    )


def align(transcript: Transcript, audio: np.ndarray, model: Any, metadata: Any, device: str) -> Transcript:
    """Add word timings with a wav2vec2 alignment model."""
    import whisperx

    raw = [{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments]
    aligned = whisperx.align(raw, model, metadata, audio, device, return_char_alignments=False)
    segments = [
        Segment(
            start=float(s.get("start", 0.0)),
            end=float(s.get("end", 0.0)),
            text=s["text"].strip(),
            words=[Word(word=w["word"], start=w.get("start"), end=w.get("end"), score=w.get("score"))
                   for w in s.get("words", [])],
        )
        for s in aligned["segments"]
    ]
    return transcript.model_copy(update={"segments": segments})
