"""Decoded audio in, transcript out: plain functions that know nothing of Celery or Redis."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import AudioError, ErrorCode
from core.jobs import Segment, Transcript, Word
from worker.model.decoding import SAMPLE_RATE
from worker.model.transcriber import DecodeRequest, ModelOutOfMemory, TimedWord, Window, WindowText

if TYPE_CHECKING:  # numpy comes with the worker set; Flower imports this module in the light image
    import numpy as np

# Below this peak (about -60 dBFS) a recording holds no speech worth sending to the model.
SILENCE_PEAK = 0.001
ProgressCallback = Callable[[float], None]
# WhisperX's window: VAD speech is merged into stretches the model takes whole.
CHUNK_SECONDS = 30


def check_audio(audio: np.ndarray) -> float:
    """Reject silent audio (the length was bounded while decoding); returns its duration in seconds."""
    import numpy as np

    if float(np.abs(audio).max()) < SILENCE_PEAK:
        raise AudioError("the audio is silent; check the microphone and record again", code=ErrorCode.AUDIO_SILENT)
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


def speech_windows(pipeline: Any, audio: np.ndarray, max_seconds: float = CHUNK_SECONDS) -> list[Window]:
    """The recording's speech, merged into windows of at most 30 s (`max_seconds`), exactly as WhisperX's
    `transcribe` does."""
    vad = pipeline.vad_model
    params = pipeline._vad_params
    found = vad({"waveform": vad.preprocess_audio(audio), "sample_rate": SAMPLE_RATE})
    merged = vad.merge_chunks(found, max_seconds, onset=params["vad_onset"], offset=params["vad_offset"])
    # Unrounded: the samples cut are exactly those WhisperX would cut (segments round to ms later).
    return [Window(start=float(m["start"]), end=float(m["end"])) for m in merged]


def prompt_tokens(pipeline: Any, tokenizer: Any, initial_prompt: str | None, hotwords: str | None,
                  length: int | None = None) -> list[int]:
    """The decoder prompt WhisperX would build for these options (previous text, hotwords, SOT sequence);
    `length` cuts the previous text to its first so many tokens."""
    previous = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
    if length is not None:
        previous = previous[:length]
    options = pipeline.options
    return list(pipeline.model.get_prompt(tokenizer, previous, without_timestamps=options.without_timestamps,
                                          prefix=options.prefix, hotwords=hotwords))


def decode_batch(pipeline: Any, batch: Sequence[DecodeRequest],
                 tokenizer_for: Callable[[str], Any]) -> list[WindowText]:
    """Encode + generate over windows of any jobs, each with its own language, prompt and hotwords.

    WhisperX's `generate_segment_batched` gives the whole batch one prompt; CTranslate2's `generate`
    takes one per item, as long as the start-of-transcript token sits at the same position in each
    (its own check): windows are run in one pass per such position, so the scheduler, which groups
    them by that position (`batch_key`), gets one pass per batch. Every other decoding option is the
    pipeline's, so a job's text is what WhisperX alone gives it. (A pass also keeps to one language,
    whose tokenizer splits its words.)
    """
    prompts = [prompt_tokens(pipeline, tokenizer_for(r.language), r.initial_prompt, r.hotwords, r.prompt_tokens)
               for r in batch]
    groups: dict[tuple[int, float, str], list[int]] = {}
    for n, prompt in enumerate(prompts):
        request = batch[n]
        key = (prompt.index(tokenizer_for(request.language).sot), request.window_seconds, request.language)
        groups.setdefault(key, []).append(n)
    decoded: list[WindowText] = [WindowText("")] * len(batch)
    for members in groups.values():
        for n, text in zip(members, _generate(pipeline, [batch[n] for n in members], [prompts[n] for n in members],
                                              tokenizer_for(batch[members[0]].language)), strict=True):
            decoded[n] = text
    return decoded


# faster-whisper's defaults for word timestamps: punctuation is glued to the word it belongs to.
_PREPEND_PUNCTUATION = "\"'“¿([{-"
_APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


def _generate(pipeline: Any, batch: Sequence[DecodeRequest], prompts: list[list[int]],
              tokenizer: Any) -> list[WindowText]:
    import numpy as np
    from whisperx.audio import N_SAMPLES, log_mel_spectrogram

    model, options = pipeline.model, pipeline.options
    n_mels = model.feat_kwargs.get("feature_size") or 80
    frames = round(batch[0].window_seconds * 100)  # 10 ms hops; one length per pass (decode_batch groups)
    features = np.stack([
        log_mel_spectrogram(r.audio, n_mels=n_mels, padding=N_SAMPLES - r.audio.shape[0]).numpy()[:, :frames]
        for r in batch
    ])
    try:
        encoded = model.encode(features)
        results = model.model.generate(
            encoded, prompts, beam_size=options.beam_size, patience=options.patience,
            length_penalty=options.length_penalty,
            # CTranslate2 counts the prompt in max_length.
            max_length=min(model.max_length, max(len(p) + (r.max_tokens or model.max_length)
                                                 for p, r in zip(prompts, batch, strict=True))),
            suppress_blank=options.suppress_blank, suppress_tokens=options.suppress_tokens,
            no_repeat_ngram_size=options.no_repeat_ngram_size, repetition_penalty=options.repetition_penalty,
            return_scores=True, return_no_speech_prob=True,
        )
        tokens = [[t for t in result.sequences_ids[0] if t < tokenizer.eot] for result in results]
        words = _words(model, tokenizer, batch, tokens, encoded, frames)
    except RuntimeError as exc:
        # CTranslate2 says "CUDA failed with error out of memory"; torch raises its OutOfMemoryError.
        if "out of memory" in str(exc).lower():
            raise ModelOutOfMemory(str(exc)) from exc
        raise
    # faster-whisper's mean log-probability: the score is length-normalised, the mean counts the end token.
    penalty = options.length_penalty or 1.0
    return [WindowText(tokenizer.decode(ids), words[n],
                       avg_logprob=round(result.scores[0] * len(ids) ** penalty / (len(ids) + 1), 4),
                       no_speech_prob=round(result.no_speech_prob, 4))
            for n, (ids, result) in enumerate(zip(tokens, results, strict=True))]


def _words(model: Any, tokenizer: Any, batch: Sequence[DecodeRequest], tokens: list[list[int]],
           encoded: Any, frames: int) -> list[tuple[TimedWord, ...]]:
    """Each window's words, timed by the model's cross-attention over the encoder output the text was
    decoded from: what faster-whisper's `word_timestamps=True` does (CTranslate2's `align`, then dynamic
    time warping, in `WhisperModel.find_alignment`), without a second model or a second encoder pass.
    Computed for the whole pass when any window asked (the cost is one forced decoder pass)."""
    if not any(r.words for r in batch):
        return [()] * len(batch)
    from faster_whisper.transcribe import merge_punctuations

    content = [min(frames, -(-r.audio.shape[0] * 100 // SAMPLE_RATE)) for r in batch]
    found = model.find_alignment(tokenizer, tokens, encoded, content)
    words: list[tuple[TimedWord, ...]] = []
    for request, alignment in zip(batch, found, strict=True):
        merge_punctuations(alignment, _PREPEND_PUNCTUATION, _APPEND_PUNCTUATION)
        words.append(tuple(TimedWord(w["word"].strip(), round(float(w["start"]), 3), round(float(w["end"]), 3),
                                     round(float(w["probability"]), 4))
                           for w in alignment if request.words and w["word"].strip()))
    return words


def align(transcript: Transcript, audio: np.ndarray, model: Any, metadata: Any, device: str) -> Transcript:
    """Re-time the words with a wav2vec2 alignment model. WhisperX splits segments at sentences; each
    keeps the decoder statistics of the window it came from, and each word the model's probability
    where the words are the same ones."""
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
    return transcript.model_copy(update={"segments": _keep_confidences(transcript.segments, segments)})


def _keep_confidences(before: list[Segment], after: list[Segment]) -> list[Segment]:
    kept = []
    for segment in after:
        middle = (segment.start + segment.end) / 2
        source = next((s for s in before if s.start <= middle <= s.end), None)
        if source is not None:
            segment = segment.model_copy(update={"avg_logprob": source.avg_logprob,
                                                 "no_speech_prob": source.no_speech_prob})
        kept.append(segment)
    old = [w for s in before for w in s.words or []]
    new = [w for s in kept for w in s.words or []]
    if old and [w.word for w in old] == [w.word for w in new]:
        for was, now in zip(old, new, strict=True):
            now.probability = was.probability
    return kept
