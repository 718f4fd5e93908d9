"""On a CUDA host (`pytest -m gpu`): the worker picks float16/batch 16 and transcribes on the GPU.

Skipped where CUDA is absent, so CI on CPU machines stays green; run them on a GPU host.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.settings import WorkerSettings
from tests.jobs import FIXTURES

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def test_the_worker_runs_on_cuda_with_float16_and_batch_16() -> None:
    from worker.model.device import detect_runtime, gpu_diagnostics

    runtime = detect_runtime("auto")
    assert (runtime.whisperx_device, runtime.compute_type, runtime.batch_size) == ("cuda", "float16", 16)
    info = gpu_diagnostics(runtime)
    assert info["cuda_available"] and info["gpu_count"] >= 1 and info["gpu_memory_total_gb"] > 0


def test_the_bundled_model_transcribes_on_the_gpu(tmp_path: Path) -> None:
    from worker.model.decoding import decode_audio
    from worker.model.model_manager import ModelManager
    from worker.model.pipeline import transcribe

    models = ModelManager(WorkerSettings(device="cuda"))
    models.load()
    models.warm_up()
    assert models.runtime is not None
    audio = decode_audio((FIXTURES / "colonoscopy.wav").read_bytes(), 3600, tmp_path)
    started = time.perf_counter()
    transcript = transcribe(models.load(), audio, language="en", batch_size=models.runtime.batch_size)
    elapsed = time.perf_counter() - started
    assert "polyp" in transcript.text.lower()
    print(f"GPU realtime factor: {audio.size / 16000 / elapsed:.1f}x")
