"""Decoded audio in, transcript out: plain functions that know nothing of Celery or Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import AudioError
from core.jobs import Segment, Transcript, Word
from worker.decoding import SAMPLE_RATE

if TYPE_CHECKING:  # numpy comes with the worker set; Flower imports this module in the light image
    import numpy as np

# Below this peak (about -60 dBFS) a recording holds no speech worth sending to the model.
SILENCE_PEAK = 0.001
ProgressCallback = Callable[[float], None]


def check_audio(audio: np.ndarray) -> float:
    """Reject silent audio (the length was bounded while decoding); returns its duration in seconds."""
    import numpy as np

    if float(np.abs(audio).max()) < SILENCE_PEAK:
        raise AudioError("the audio is silent; check the microphone and record again", code="audio_silent")
    return audio.size / SAMPLE_RATE


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
    saved_options, saved_tokenizer = pipeline.options, pipeline.tokenizer
    # asr_options are fixed at load time; per-job prompt/hotwords swap them for this call only.
    pipeline.options = dataclasses.replace(saved_options, initial_prompt=initial_prompt, hotwords=hotwords)
    try:
        result = pipeline.transcribe(audio, batch_size=batch_size, language=language,
                                     progress_callback=progress_callback)
    finally:
        # A clean slate for the next job, whatever this one's outcome: WhisperX pins the tokenizer
        # (the job's language) for the call and unpins it only when the call completes, so a cancelled
        # or failed job would hand its language to the next tenant's job on a multilingual model.
        pipeline.options, pipeline.tokenizer = saved_options, saved_tokenizer
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
