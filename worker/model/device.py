"""Choose where and how WhisperX runs, and describe the GPU for logs and `/gpu-info`."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MPS_NOTE = (
    "Apple Silicon detected: WhisperX (CTranslate2) has no MPS backend, so transcription runs on the CPU with int8"
)


@dataclass(frozen=True)
class Runtime:
    """The device, compute type and batch size a worker transcribes with."""

    device: str
    """Torch device the host offers (cuda, mps or cpu)."""
    whisperx_device: str
    """Device WhisperX actually runs on (cuda or cpu)."""
    compute_type: str
    batch_size: int
    note: str | None = None


def select_runtime(
    requested: str, cuda_available: bool, mps_available: bool, compute_type: str = "", batch_size: int = 0
) -> Runtime:
    """Pick device, compute type and batch size; explicit settings win over the defaults."""
    if requested == "auto":
        device = "cuda" if cuda_available else "mps" if mps_available else "cpu"
    else:
        device = requested
    if device == "cuda" and not cuda_available:
        # Never silently: this is how the old service ran on CPU for months.
        log.error("!!! ENDOSCRIBE_WORKER_DEVICE=cuda but CUDA is NOT available: falling back to CPU (slow) !!!")
        device = "cpu"
    note = MPS_NOTE if device == "mps" else None
    whisperx_device = "cuda" if device == "cuda" else "cpu"
    default_compute, default_batch = ("float16", 16) if whisperx_device == "cuda" else ("int8", 4)
    return Runtime(
        device=device,
        whisperx_device=whisperx_device,
        compute_type=compute_type or default_compute,
        batch_size=batch_size or default_batch,
        note=note,
    )


def detect_runtime(requested: str, compute_type: str = "", batch_size: int = 0) -> Runtime:
    import torch

    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return select_runtime(requested, torch.cuda.is_available(), mps, compute_type, batch_size)


def gpu_diagnostics(runtime: Runtime) -> dict[str, Any]:
    """The fields of the original diagnostics endpoint, read from torch now."""
    import torch

    cuda = torch.cuda.is_available()
    info: dict[str, Any] = {
        "pytorch_version": torch.__version__,
        "cuda_available": cuda,
        "mps_available": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
        "device": runtime.device,
        "whisperx_device": runtime.whisperx_device,
        "cuda_version": torch.version.cuda,
        "gpu_name": torch.cuda.get_device_name(0) if cuda else None,
        "gpu_memory_total_gb": None,
        "gpu_memory_allocated_gb": None,
        "gpu_memory_reserved_gb": None,
        "gpu_count": torch.cuda.device_count() if cuda else 0,
    }
    if cuda:
        gib = 1024**3
        info["gpu_memory_total_gb"] = round(torch.cuda.get_device_properties(0).total_memory / gib, 2)
        info["gpu_memory_allocated_gb"] = round(torch.cuda.memory_allocated(0) / gib, 2)
        info["gpu_memory_reserved_gb"] = round(torch.cuda.memory_reserved(0) / gib, 2)
    if runtime.note:
        info["platform"] = f"{platform.system()} {platform.machine()}"
        info["note"] = runtime.note
    return info


def log_diagnostics(info: dict[str, Any], requested: str) -> None:
    lines = ["=" * 20 + " GPU DIAGNOSTICS " + "=" * 20]
    lines += [f"{name}: {value}" for name, value in info.items()]
    lines.append("=" * 57)
    log.info("\n".join(lines))
    if requested == "cuda" and not info["cuda_available"]:
        log.error(
            "!!! GPU CONFIGURED (ENDOSCRIBE_WORKER_DEVICE=cuda) BUT CUDA IS NOT AVAILABLE: transcribing on CPU, "
            "~20x slower. Check the NVIDIA driver, the container's GPU reservation and that torch is a CUDA build. !!!"
        )
