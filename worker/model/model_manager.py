"""The one module that loads, keeps and frees the WhisperX models of a worker process."""

from __future__ import annotations

import logging
import threading
import time
import wave
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.jobs import Transcript
from core.settings import WorkerSettings
from worker import metrics as worker_metrics
from worker.model import bundled_models
from worker.model.alignment import Alignment
from worker.model.device import Runtime, detect_runtime
from worker.model.transcriber import DecodeRequest, ModelInfo, Window, WindowText

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

WARMUP_CLIP = Path(__file__).parent / "assets" / "warmup.wav"


def _live_vad() -> Any:
    from faster_whisper.vad import VadOptions

    # No padding and short minimum silences: the endpointer itself decides which pause ends an utterance.
    return VadOptions(min_silence_duration_ms=100, speech_pad_ms=0, min_speech_duration_ms=100)


class ModelManager:
    """Holds one resident WhisperX pipeline (and the alignment model, when enabled) per process.

    WhisperX's `transcribe` mutates the pipeline's tokenizer and options per call, so `lock` serialises
    the calls that go through WhisperX's own code; the scheduler's `decode` only reads the pipeline and
    runs from up to `lanes` threads at once (CTranslate2 replicas sharing the weights). The VAD model is
    separate and has its own lock: the scheduler finds the speech of a long recording in a thread while
    the Whisper model decodes batches.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.vad_lock = threading.Lock()
        self.runtime: Runtime | None = None
        self.model_name = bundled_models.display_name(settings.model)
        self.language: str | None = None
        self._pipeline: Any = None
        self.alignment = Alignment(self._device, self.lock)
        """wav2vec2 word alignment, where it is switched on."""
        self._tokenizers: dict[str, Any] = {}
        self.lanes = 1

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def load(self) -> Any:
        """Load the pipeline once; later calls return the resident one."""
        if self._pipeline is not None:
            return self._pipeline
        import whisperx
        from whisperx.asr import WhisperModel

        tuning = self.settings.tuning
        runtime = detect_runtime(self.settings.device, tuning.compute_type, tuning.batch_size)
        started = time.perf_counter()
        model = bundled_models.resolve(self.settings.model, self.settings.model_cache_dir)
        self.language = model.language
        threads = self.settings.cpu_threads or _cpu_count()
        self.lanes = self.settings.tuning.decode_lanes or (1 if runtime.whisperx_device == "cuda" else threads)
        # CTranslate2 replicas (`num_workers`) that share the weights, each on its share of the threads:
        # `decode` may then run from `lanes` threads at once.
        whisper = WhisperModel(
            model.path, device=runtime.whisperx_device, compute_type=runtime.compute_type,
            cpu_threads=max(1, threads // self.lanes), num_workers=self.lanes)
        self._pipeline = whisperx.load_model(
            model.path, runtime.whisperx_device, compute_type=runtime.compute_type, language=self.language,
            threads=threads, model=whisper,
        )
        self.runtime = runtime
        seconds = time.perf_counter() - started
        worker_metrics.observe_model_load(seconds)
        log.info("model %s loaded on %s/%s in %.1fs (%d decode lanes)", self.model_name, runtime.whisperx_device,
                 runtime.compute_type, seconds, self.lanes)
        return self._pipeline

    def _device(self) -> str:
        assert self.runtime is not None, "the model is loaded before anything runs on its device"
        return self.runtime.whisperx_device

    def info(self) -> ModelInfo:
        self.load()
        assert self.runtime is not None
        return ModelInfo(self.model_name, self.runtime.whisperx_device, self.runtime.compute_type,
                         self.runtime.batch_size, self.language, self.lanes)

    def speech_windows(self, audio: np.ndarray, max_seconds: float = 30.0) -> list[Window]:
        from worker.model import pipeline

        pipe = self.load()
        with self.vad_lock:
            return pipeline.speech_windows(pipe, audio, max_seconds)

    def utterance_speech(self, audio: np.ndarray) -> list[Window]:
        """Silero VAD, as faster-whisper bundles it (ONNX): ~6 ms for 2.5 s of audio on this project's
        2-core CPU, against ~80 ms for WhisperX's pyannote model, which stays the VAD of file jobs."""
        from faster_whisper.vad import get_speech_timestamps

        found = get_speech_timestamps(audio, _live_vad())  # only a round's look thread calls it, one look at a time
        return [Window(s["start"] / 16000, s["end"] / 16000) for s in found]

    def detect_language(self, audio: np.ndarray) -> str:
        pipe = self.load()
        with self.lock:
            return str(pipe.detect_language(audio))

    def batch_key(self, language: str, initial_prompt: str | None, hotwords: str | None,
                  prompt_tokens: int | None = None) -> Hashable:
        """Where the prompt's start-of-transcript token sits: CTranslate2 batches prompts that agree on it."""
        from worker.model import pipeline

        tokenizer = self.tokenizer(language)
        prompt = pipeline.prompt_tokens(self.load(), tokenizer, initial_prompt, hotwords, prompt_tokens)
        return prompt.index(tokenizer.sot)

    def decode(self, batch: Sequence[DecodeRequest]) -> list[WindowText]:
        """Safe from `lanes` threads at once: it only reads the pipeline (CTranslate2 runs each call on a
        free replica); `transcribe`, which changes the pipeline's options, takes `lock`."""
        from worker.model import pipeline

        return pipeline.decode_batch(self.load(), batch, self.tokenizer)

    def tokenizer(self, language: str) -> Any:
        """The model's tokenizer for one language (its prompt's language token), made once and kept."""
        if language not in self._tokenizers:
            from faster_whisper.tokenizer import Tokenizer

            model = self.load().model
            self._tokenizers[language] = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                                                   task="transcribe", language=language)
        return self._tokenizers[language]

    def transcribe(
        self, audio: np.ndarray, *, language: str | None, initial_prompt: str | None, hotwords: str | None,
        progress_callback: Callable[[float], None],
    ) -> Transcript:
        """One recording through WhisperX's own `transcribe` (the in-process baseline of the benchmarks)."""
        from worker.model import pipeline

        pipe = self.load()
        assert self.runtime is not None
        with self.lock:
            return pipeline.transcribe(pipe, audio, language=language, batch_size=self.runtime.batch_size,
                                       initial_prompt=initial_prompt, hotwords=hotwords,
                                       progress_callback=progress_callback)

    def align(self, transcript: Transcript, audio: np.ndarray) -> Transcript:
        return self.alignment.align(transcript, audio)

    def warm_up(self) -> None:
        """Run the bundled clip through the pipeline so CUDA kernels and caches are ready for job one."""
        import numpy as np

        self.load()
        started = time.perf_counter()
        # The bundled clip is a plain 16 kHz mono s16le WAV: no decoder (or temporary file) needed.
        with wave.open(str(WARMUP_CLIP)) as clip:
            samples = np.frombuffer(clip.readframes(clip.getnframes()), np.int16)
        audio = samples.astype(np.float32) / 32768.0
        windows = self.speech_windows(audio)
        language = self.language or self.detect_language(audio)
        clips = [audio[int(w.start * 16000):int(w.end * 16000)] for w in windows]
        # A full batch, as jobs will send: the kernels for every batch shape up to it get built now.
        size = self.runtime.batch_size if self.runtime else 1
        self.decode([DecodeRequest(clips[n % len(clips)], language) for n in range(size)])
        log.info("warm-up transcription took %.2fs", time.perf_counter() - started)

    def unload(self) -> None:
        self._pipeline = None
        self.alignment.unload()
        self._tokenizers.clear()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is a worker dependency
            pass


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
