"""Device, compute type and batch size selection."""

import logging

import pytest

from worker.model.device import MPS_NOTE, Runtime, select_runtime


def test_cuda_gets_float16_and_batch_16() -> None:
    assert select_runtime("auto", cuda_available=True, mps_available=False) == Runtime("cuda", "cuda", "float16", 16)


def test_cpu_gets_int8_and_batch_4() -> None:
    assert select_runtime("auto", cuda_available=False, mps_available=False) == Runtime("cpu", "cpu", "int8", 4)


def test_apple_silicon_runs_on_cpu_with_a_note() -> None:
    assert select_runtime("auto", cuda_available=False, mps_available=True) == Runtime(
        "mps", "cpu", "int8", 4, note=MPS_NOTE
    )


def test_settings_override_the_defaults() -> None:
    runtime = select_runtime("cuda", cuda_available=True, mps_available=False, compute_type="int8_float16",
                             batch_size=8)
    assert runtime == Runtime("cuda", "cuda", "int8_float16", 8)


def test_forcing_cpu_on_a_gpu_host_is_honoured() -> None:
    assert select_runtime("cpu", cuda_available=True, mps_available=False).whisperx_device == "cpu"


def test_configured_cuda_without_cuda_warns_loudly_and_runs_on_cpu(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        runtime = select_runtime("cuda", cuda_available=False, mps_available=False)
    assert runtime == Runtime("cpu", "cpu", "int8", 4)
    assert "CUDA is NOT available" in caplog.text
