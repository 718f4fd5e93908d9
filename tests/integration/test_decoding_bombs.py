"""Decompression bombs: small uploads that hold hours of audio must be refused in bounded memory.

Each decode runs in a fresh Python process so its peak RSS belongs to that decode alone. The peak is
read from VmHWM after resetting it, not from ru_maxrss: a child's ru_maxrss starts at its parent's
peak (it survives fork and exec), so under a large pytest process it would measure the parent.
"""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RATE = 16_000
MB = 1024 * 1024
# The module whose decode_audio(data, max_seconds, tmp_dir) is measured.
DECODER = "worker.model.decoding"
# A regression should fail the test with MemoryError, not take the machine down with it.
ADDRESS_SPACE_LIMIT = 8 * 1024 * MB

_MEASURE = """
import importlib, json, resource, sys
from pathlib import Path

import numpy  # noqa: F401  (loaded before measuring, as in a running worker)
from core.errors import AudioError

decoder, upload, max_seconds, tmp_dir, limit = sys.argv[1:]
resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
decode_audio = importlib.import_module(decoder).decode_audio


def status_mb(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024


data = Path(upload).read_bytes()  # the upload is in memory before decoding starts, as in the worker
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM := VmRSS
before = status_mb("VmRSS")
try:
    audio = decode_audio(data, float(max_seconds), Path(tmp_dir))
    error = None
except AudioError as exc:
    error = exc.as_dict()
except MemoryError:
    error = {"code": "MemoryError", "message": ""}
print(json.dumps({"error": error, "rss_before_mb": round(before, 1), "peak_mb": round(status_mb("VmHWM"), 1)}))
"""


def measure_decode(upload: Path, max_seconds: float, tmp_dir: Path) -> dict[str, object]:
    """Decode `upload` in a fresh process; its outcome and peak RSS growth in MB."""
    tmp_dir.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, DECODER, str(upload), str(max_seconds), str(tmp_dir),
         str(ADDRESS_SPACE_LIMIT)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    result["growth_mb"] = round(float(result["peak_mb"]) - float(result["rss_before_mb"]), 1)  # type: ignore[arg-type]
    print(f"{upload.name} (max {max_seconds:.0f} s): {result}")
    assert list(tmp_dir.iterdir()) == []
    return result


# --- a minimal FLAC writer: silence as CONSTANT subframes, far faster than encoding hours with ffmpeg


def _crc_table(poly: int, width: int) -> list[int]:
    top, mask, table = 1 << (width - 1), (1 << width) - 1, []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
        table.append(crc)
    return table


_CRC8, _CRC16 = _crc_table(0x07, 8), _crc_table(0x8005, 16)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def silent_flac(seconds: float, declared_seconds: float | None = None, block: int = 4096) -> bytes:
    """16 kHz mono 16-bit FLAC of silence; STREAMINFO declares `declared_seconds` (0: unknown length)."""
    total = round(seconds * SAMPLE_RATE)
    declared = total if declared_seconds is None else round(declared_seconds * SAMPLE_RATE)
    # min/max block size, unknown frame sizes, then rate (20 bits), channels-1, bits-1, total samples (36)
    info = (struct.pack(">HH", block, block) + bytes(6)
            + (SAMPLE_RATE << 44 | 0 << 41 | 15 << 36 | declared).to_bytes(8, "big") + bytes(16))
    parts = [b"fLaC", b"\x80\x00\x00\x22", info]
    for number in range(math.ceil(total / block)):
        size = min(block, total - number * block)
        # sync + fixed blocking, block size from the header's end, 16 kHz, mono, 16 bits; then the
        # frame number in FLAC's UTF-8-like coding
        head = b"\xff\xf8\x75\x08" + chr(number).encode("utf-8", "surrogatepass") + (size - 1).to_bytes(2, "big")
        frame = head + bytes([_crc8(head)]) + b"\x00\x00\x00"  # CONSTANT subframe, value 0
        parts.append(frame + _crc16(frame).to_bytes(2, "big"))
    return b"".join(parts)


def streaming_wav(seconds: float) -> bytes:
    """16 kHz mono PCM WAV as a live recorder writes it: RIFF and data sizes left at 0xFFFFFFFF."""
    fmt = struct.pack("<HHIIHH", 1, 1, SAMPLE_RATE, 2 * SAMPLE_RATE, 2, 16)
    header = b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", 16) + fmt + b"data\xff\xff\xff\xff"
    return header + bytes(2 * round(seconds * SAMPLE_RATE))


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("uploads")
    (folder / "silence-10h.flac").write_bytes(silent_flac(10 * 3600))
    (folder / "silence-40h.flac").write_bytes(silent_flac(40 * 3600))
    (folder / "silence-1h-length-unknown.flac").write_bytes(silent_flac(3600, declared_seconds=0))
    (folder / "silence-1h-declared-30s.flac").write_bytes(silent_flac(3600, declared_seconds=30))
    (folder / "silence-10min-streaming.wav").write_bytes(streaming_wav(600))
    return folder


@pytest.mark.parametrize(("name", "seconds"), [("silence-10h.flac", 36_000), ("silence-40h.flac", 144_000)])
def test_a_flac_bomb_is_refused_as_too_long_in_bounded_memory(uploads: Path, tmp_path: Path,
                                                             name: str, seconds: int) -> None:
    result = measure_decode(uploads / name, 4 * 3600, tmp_path / "tmp")

    assert result["error"] == {
        "code": "audio_too_long",
        "message": f"the audio is {seconds} s long; the limit is 14400 s — split it",
    }
    assert float(result["growth_mb"]) < 500  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [
    "silence-1h-length-unknown.flac",
    "silence-1h-declared-30s.flac",
    "silence-10min-streaming.wav",
])
def test_audio_that_hides_its_length_is_decoded_only_up_to_the_limit(uploads: Path, tmp_path: Path,
                                                                      name: str) -> None:
    result = measure_decode(uploads / name, 60, tmp_path / "tmp")

    assert result["error"] == {
        "code": "audio_too_long",
        "message": "the audio is over 60 s long; the limit is 60 s — split it",
    }
    # What the cap allows (60 s plus the margin, as float32) and a little for buffers,
    # against 110 MB for the whole ten-minute WAV and 230 MB for the hour of FLAC.
    cap_mb = 62 * SAMPLE_RATE * 4 / MB
    assert float(result["growth_mb"]) < cap_mb + 8  # type: ignore[arg-type]
