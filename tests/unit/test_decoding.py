"""decode_audio: uploads to 16 kHz mono float32 within the length limit; prepare_tmp_dir: private temp space."""

from __future__ import annotations

import fcntl
import os
import stat
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import AudioError
from worker.model import decoding
from worker.model.decoding import decode_audio, prepare_tmp_dir

FIXTURES = Path(__file__).parents[1] / "fixtures"
SAMPLE_RATE = 16_000
# How far the decoded length may sit from ffprobe's: MP3 and AAC durations count encoder delay
# and padding that the decoder trims or adds (90 ms and 42 ms on these fixtures).
LENGTH_TOLERANCE = {"wav": 0.005, "flac": 0.005, "ogg": 0.01, "mp3": 0.1, "m4a": 0.1}
UNDECODABLE = {
    "code": "audio_undecodable",
    "message": "the audio could not be decoded; send a valid wav, flac, mp3, m4a, ogg or webm file",
}
TOO_SLOW = {"code": "audio_undecodable", "message": "decoding the audio took too long; re-encode it as WAV or FLAC"}


def wav(seconds: float, *, streaming: bool = False, rate: int = SAMPLE_RATE) -> bytes:
    """Mono 16-bit WAV of a 440 Hz tone; `streaming` leaves the sizes at 0xFFFFFFFF as live recorders do.

    At 16 kHz it is read in-process; any other `rate` goes through ffmpeg.
    """
    t = np.arange(round(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()
    riff, data = (0xFFFFFFFF, 0xFFFFFFFF) if streaming else (36 + len(pcm), len(pcm))
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
    return b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", data) + pcm


def ffmpeg_samples(path: Path) -> np.ndarray:
    """What a plain whole-file ffmpeg decode gives (the pipeline's samples before the length cap)."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    pcm = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0


def probed_seconds(path: Path) -> float:
    cmd = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]
    return float(subprocess.run(cmd, capture_output=True, check=True, text=True).stdout)


def audio_error(data: bytes, max_seconds: float, tmp_dir: Path, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(AudioError) as caught:
        decode_audio(data, max_seconds, tmp_dir, **kwargs)
    return caught.value.as_dict()


@pytest.mark.parametrize("name", ["colonoscopy.wav", "egd.flac", "summary.mp3", "summary.m4a", "summary.ogg"])
def test_each_accepted_format_decodes_to_16k_mono_float32(name: str, tmp_path: Path) -> None:
    path = FIXTURES / name

    audio = decode_audio(path.read_bytes(), 3600, tmp_path)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size / SAMPLE_RATE - probed_seconds(path)) < LENGTH_TOLERANCE[path.suffix[1:]]
    np.testing.assert_array_equal(audio, ffmpeg_samples(path))
    assert -1.0 <= audio.min() and audio.max() < 1.0 and audio.max() > 0.01
    assert list(tmp_path.iterdir()) == []


def test_audio_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    assert decode_audio(wav(2.0), 2, tmp_path).size == 2 * SAMPLE_RATE


def test_audio_a_little_over_the_limit_is_refused_with_its_length(tmp_path: Path) -> None:
    assert audio_error(wav(2.5), 2, tmp_path) == {
        "code": "audio_too_long", "message": "the audio is 2.5 s long; the limit is 2 s — split it"}


def test_a_declared_length_over_the_limit_is_refused_before_decoding(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(*args: object) -> None:
        raise AssertionError("decoded a file whose header already said it was too long")

    monkeypatch.setattr(decoding, "_run_ffmpeg", no_decoding)

    assert audio_error(wav(10), 2, tmp_path) == {
        "code": "audio_too_long", "message": "the audio is 10 s long; the limit is 2 s — split it"}
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rate", [SAMPLE_RATE, 8000])
def test_a_stream_without_a_declared_length_is_cut_just_past_the_limit(rate: int, tmp_path: Path) -> None:
    assert audio_error(wav(10, streaming=True, rate=rate), 2, tmp_path) == {
        "code": "audio_too_long", "message": "the audio is over 2 s long; the limit is 2 s — split it"}
    assert list(tmp_path.iterdir()) == []


def test_a_wav_in_the_models_format_is_read_without_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = FIXTURES / "colonoscopy.wav"
    expected = ffmpeg_samples(path)

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("ffmpeg or ffprobe was started")

    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    monkeypatch.setattr(subprocess, "run", no_subprocess)

    np.testing.assert_array_equal(decode_audio(path.read_bytes(), 3600, tmp_path), expected)
    streamed, declared = wav(3, streaming=True), wav(3)
    np.testing.assert_array_equal(decode_audio(streamed, 60, tmp_path), decode_audio(declared, 60, tmp_path))
    assert audio_error(wav(5), 2, tmp_path)["message"] == "the audio is 5 s long; the limit is 2 s — split it"


def test_bytes_that_are_not_audio_are_undecodable_and_ffmpeg_is_not_quoted(tmp_path: Path) -> None:
    # An ID3 tag naming a patient, then garbage: nothing of the file may reach the message.
    tag = b"TIT2" + struct.pack(">I", 17) + b"\x00\x00\x03Jane Doe 1953-02-11"
    upload = b"ID3\x03\x00\x00" + bytes([0, 0, 0, len(tag)]) + tag + b"\x00garbage" * 200

    assert audio_error(upload, 60, tmp_path) == UNDECODABLE
    assert list(tmp_path.iterdir()) == []


# Magic bytes the API accepts, each followed by a playlist: the demuxer is pinned to what the bytes
# claim, so ffmpeg never probes past them into a format that opens other files.
DISGUISES = {
    "id3": b"ID3\x04\x00\x00\x00\x00\x00\x00",
    "mp3 frame": b"\xff\xfb\x90\x00",
    "adts": b"\xff\xf1\x50\x80",
    "wav": b"RIFF\x24\x00\x00\x00WAVE",
    "flac": b"fLaC",
    "ogg": b"OggS",
    "webm": b"\x1a\x45\xdf\xa3",
    "m4a": b"\x00\x00\x00\x18ftypM4A ",
}


def indirections(local: Path) -> dict[str, bytes]:
    """Uploads whose text names `local` (an mp3 on the worker host) for ffmpeg to read."""
    return {
        "hls": b"#EXTM3U\n#EXT-X-TARGETDURATION:100\n#EXTINF:100,\n" + str(local).encode() + b"\n#EXT-X-ENDLIST\n",
        # concat refuses absolute names in its default safe mode; a name beside the upload passes it.
        "ffconcat": b"ffconcat version 1.0\nfile " + local.name.encode() + b"\n",
    }


@pytest.mark.parametrize("disguise", DISGUISES)
@pytest.mark.parametrize("kind", ["hls", "ffconcat"])
def test_a_playlist_naming_a_local_file_is_undecodable(disguise: str, kind: str, tmp_path: Path) -> None:
    # The worker's own directory: where other jobs' uploads lie while they decode.
    local = tmp_path / "other-job.mp3"
    local.write_bytes((FIXTURES / "summary.mp3").read_bytes())
    upload = DISGUISES[disguise] + indirections(local)[kind]

    assert audio_error(upload, 3600, tmp_path) == UNDECODABLE
    assert list(tmp_path.iterdir()) == [local]


def test_an_id3_tag_before_aac_or_flac_still_decodes(tmp_path: Path) -> None:
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    flac = (FIXTURES / "egd.flac").read_bytes()
    adts = subprocess.run(["ffmpeg", "-v", "error", "-i", str(FIXTURES / "summary.wav"), "-c:a", "aac",
                           "-f", "adts", "-"], capture_output=True, check=True).stdout

    assert decode_audio(tag + flac, 3600, tmp_path).size == decode_audio(flac, 3600, tmp_path).size
    assert decode_audio(tag + adts, 3600, tmp_path).size == decode_audio(adts, 3600, tmp_path).size
    assert list(tmp_path.iterdir()) == []


def test_a_wav_whose_chunk_runs_past_the_end_is_undecodable(tmp_path: Path) -> None:
    upload = b"RIFF\x24\x00\x00\x00WAVE" + b"LIST" + struct.pack("<I", 10**8) + b"\x00" * 64

    assert audio_error(upload, 60, tmp_path) == UNDECODABLE


def test_a_file_with_no_samples_is_empty(tmp_path: Path) -> None:
    assert audio_error(wav(0), 60, tmp_path) == {
        "code": "audio_empty", "message": "the file decodes to no audio samples; send a recording with sound in it"}


def test_a_missing_tmp_dir_is_recreated_private(tmp_path: Path) -> None:
    tmp_dir = tmp_path / "gone"

    decode_audio(wav(0.5, rate=8000), 60, tmp_dir)

    assert stat.S_IMODE(tmp_dir.stat().st_mode) == 0o700
    assert list(tmp_dir.iterdir()) == []


def test_ffmpeg_that_stalls_is_killed_and_reported_too_slow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    pid_file = tmp_path / "ffmpeg.pid"
    (tools / "ffprobe").write_text("#!/bin/sh\nexit 1\n")
    (tools / "ffmpeg").write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    for tool in tools.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    tmp_dir = tmp_path / "tmp"

    assert audio_error(wav(1, rate=8000), 60, tmp_dir, timeout=0.5) == TOO_SLOW
    assert list(tmp_dir.iterdir()) == []
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)


def test_an_interrupted_decode_kills_ffmpeg_and_removes_the_upload(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[tuple[str, subprocess.Popen[bytes]]] = []

    class RecordingPopen(subprocess.Popen[bytes]):
        def __init__(self, cmd: list[str], *args: Any, **kwargs: Any) -> None:
            super().__init__(cmd, *args, **kwargs)
            started.append((cmd[0], self))

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    monkeypatch.setattr(decoding, "_read_samples", interrupted)

    with pytest.raises(KeyboardInterrupt):
        decode_audio(wav(10, streaming=True, rate=8000), 60, tmp_path)

    assert list(tmp_path.iterdir()) == []
    assert [name for name, _ in started] == ["ffprobe", "ffmpeg"]
    assert all(proc.returncode is not None for _, proc in started)


def test_samples_split_across_reads_and_a_growing_buffer_come_out_whole() -> None:
    pcm = np.arange(-5000, 5000, dtype="<i2").tobytes()
    read_end, write_end = os.pipe()

    def write_in_odd_pieces() -> None:
        # One piece at a time, each drained before the next: every other read ends mid-sample.
        for start in range(0, len(pcm), 4001):
            os.write(write_end, pcm[start:start + 4001])
            while struct.unpack("i", fcntl.ioctl(write_end, termios.FIONREAD, b"\0" * 4))[0]:
                time.sleep(0.001)  # until the reader drains the pipe
        os.close(write_end)

    writer = threading.Thread(target=write_in_odd_pieces)
    writer.start()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        audio = decoding._read_samples(stream, 1, 10**6, deadline=time.monotonic() + 10)
    writer.join()

    np.testing.assert_array_equal(audio, np.arange(-5000, 5000, dtype=np.float32) / 32768)


def test_prepare_tmp_dir_makes_a_private_directory_named_safely(tmp_path: Path) -> None:
    path = prepare_tmp_dir(tmp_path, "celery@gpu-1/../../etc")

    assert path.parent == tmp_path
    assert path.name.startswith("endoscribe-celery_gpu-1_.._.._etc-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_prepare_tmp_dir_empties_leftovers_of_a_previous_life(tmp_path: Path) -> None:
    path = prepare_tmp_dir(tmp_path, "celery@gpu-1")
    (path / "endoscribe-abc.audio").write_bytes(b"patient audio")
    (path / "nested").mkdir()
    (path / "nested" / "file").write_bytes(b"x")
    (path / "link").symlink_to(tmp_path)

    assert prepare_tmp_dir(tmp_path, "celery@gpu-1") == path
    assert list(path.iterdir()) == []
    assert tmp_path.exists()


def test_prepare_tmp_dir_leaves_other_workers_files_alone(tmp_path: Path) -> None:
    other = prepare_tmp_dir(tmp_path, "celery@gpu-1")
    (other / "endoscribe-abc.audio").write_bytes(b"in use")

    mine = prepare_tmp_dir(tmp_path, "celery@gpu-2")

    assert mine != other
    assert (other / "endoscribe-abc.audio").read_bytes() == b"in use"


def test_worker_names_that_sanitise_alike_get_different_directories(tmp_path: Path) -> None:
    assert prepare_tmp_dir(tmp_path, "a@b") != prepare_tmp_dir(tmp_path, "a_b")


def test_prepare_tmp_dir_refuses_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_bytes(b"x")
    planted = prepare_tmp_dir(tmp_path, "celery@gpu-1")
    planted.rmdir()
    planted.symlink_to(target)

    with pytest.raises(PermissionError):
        prepare_tmp_dir(tmp_path, "celery@gpu-1")
    assert (target / "keep").exists()
