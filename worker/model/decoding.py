"""Upload bytes to 16 kHz mono samples, never decoding much more than the length limit allows.

A few megabytes of FLAC can hold tens of hours of silence, so the length is judged before and
while decoding, not after: the container's declared duration is read first, ffmpeg is told to stop
just past the limit, and its output is streamed into one float32 buffer that never outgrows it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import selectors
import shutil
import stat
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import IO, TYPE_CHECKING

from core.audio_format import DEMUXERS, detect_tagged_format
from core.errors import AudioError, ErrorCode, InvalidInput, UnsupportedMedia

if TYPE_CHECKING:  # numpy comes with the worker set; the light image imports worker modules without it
    import numpy as np

SAMPLE_RATE = 16_000
# Decoding runs this far past the limit: audio just over it gets its exact length in the message,
# and a declared duration that rounds up a little (MP3 padding) is checked by decoding, not refused.
MARGIN_SECONDS = 1.0
# Buffer to start with when the container does not declare its length; doubled as needed.
FIRST_BUFFER_SECONDS = 60.0
_CHUNK_BYTES = 1 << 20
_SCALE = 1.0 / 32768.0
# ffmpeg's own words when the duration is a guess from file size and bitrate, not a declaration.
_ESTIMATED = b"Estimating duration from bitrate"

_UNDECODABLE = "the audio could not be decoded; send a valid wav, flac, mp3, m4a, ogg or webm file"
_TOO_SLOW = "decoding the audio took too long; re-encode it as WAV or FLAC"
_EMPTY = "the file decodes to no audio samples; send a recording with sound in it"


def decode_audio(data: bytes, max_seconds: float, tmp_dir: Path, timeout: float = 600.0) -> np.ndarray:
    """Decode an accepted container (core.audio_format) to 16 kHz mono float32 in [-1, 1), at most
    `max_seconds` long.

    Raises AudioError `audio_too_long` as soon as the declared or decoded length passes the limit,
    `audio_undecodable` when ffmpeg cannot read the file or takes longer than `timeout` seconds,
    and `audio_empty` when it holds no samples. The upload goes through a private temporary file in
    `tmp_dir` (MP4/M4A with the index at the end cannot be demuxed from a pipe), removed before
    this returns or raises.
    """
    plain = _plain_wav(data, max_seconds)
    if plain is not None:
        return plain
    demuxer = _demuxer(data)
    deadline = time.monotonic() + timeout
    # A temp cleaner may have removed an idle worker's directory; recreate it rather than fail jobs.
    tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="endoscribe-", suffix=".audio") as tmp:
        tmp.write(data)
        tmp.flush()
        declared = _probe_seconds(Path(tmp.name), demuxer, deadline)
        if declared is not None and declared > max_seconds + MARGIN_SECONDS:
            raise _too_long(f"{declared:.0f} s", max_seconds)
        audio, returncode = _run_ffmpeg(Path(tmp.name), demuxer, max_seconds, declared, deadline)
    limit = math.floor(max_seconds * SAMPLE_RATE)
    if audio.size > limit:
        cut = audio.size >= math.floor((max_seconds + MARGIN_SECONDS) * SAMPLE_RATE)
        raise _too_long(f"over {max_seconds:.0f} s" if cut else _seconds(audio.size / SAMPLE_RATE, max_seconds),
                        max_seconds)
    if returncode != 0:
        # ffmpeg's stderr can quote tags from the file (titles, names): it is never read.
        raise AudioError(_UNDECODABLE, code=ErrorCode.AUDIO_UNDECODABLE)
    if audio.size == 0:
        raise AudioError(_EMPTY, code=ErrorCode.AUDIO_EMPTY)
    return audio


def _plain_wav(data: bytes, max_seconds: float) -> np.ndarray | None:
    """The samples of a WAV already in the model's format (16 kHz mono 16-bit PCM, what dictation
    apps and live sessions send), read in-process; None for anything else, which ffmpeg decodes.

    Two ffmpeg processes and a temporary file cost tens of milliseconds: most of a short clip's
    fixed cost before the model.
    """
    import numpy as np

    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    cap = math.floor((max_seconds + MARGIN_SECONDS) * SAMPLE_RATE)
    try:
        with wave.open(io.BytesIO(data)) as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, SAMPLE_RATE):
                return None
            declared = wav.getnframes()
            # Live recorders leave the sizes at 0xFFFFFFFF: a size past the end of the file is no declaration.
            if declared * 2 <= len(data) and declared > cap:
                raise _too_long(f"{declared / SAMPLE_RATE:.0f} s", max_seconds)
            frames = wav.readframes(min(declared, cap))
    except (wave.Error, EOFError, RuntimeError):
        # Damaged or an extension `wave` does not read (a chunk size past the end raises RuntimeError):
        # ffmpeg decides.
        return None
    audio = np.frombuffer(frames, np.int16, len(frames) // 2).astype(np.float32) * _SCALE
    if audio.size > math.floor(max_seconds * SAMPLE_RATE):
        length = f"over {max_seconds:.0f} s" if audio.size >= cap else _seconds(audio.size / SAMPLE_RATE, max_seconds)
        raise _too_long(length, max_seconds)
    if audio.size == 0:
        raise AudioError(_EMPTY, code=ErrorCode.AUDIO_EMPTY)
    return audio


def _demuxer(data: bytes) -> str:
    """The one ffmpeg demuxer the upload's first bytes allow."""
    try:
        return DEMUXERS[detect_tagged_format(data)]
    except (InvalidInput, UnsupportedMedia):
        raise AudioError(_UNDECODABLE, code=ErrorCode.AUDIO_UNDECODABLE) from None


def _input_args(path: Path, demuxer: str) -> list[str]:
    """ffmpeg's input options that decode `path` as `demuxer` and nothing else.

    Left to probe, ffmpeg takes `ID3…#EXTM3U…` for an HLS playlist (or a concat list) and reads the
    local files it names into the job. A pinned demuxer, a whitelist of that demuxer alone (nested
    opens inherit it) and of the file protocol alone leave no indirection to follow.
    """
    return ["-protocol_whitelist", "file", "-format_whitelist", demuxer, "-f", demuxer, "-i", str(path)]


def _probe_seconds(path: Path, demuxer: str, deadline: float) -> float | None:
    """The duration the file's container declares, or None when it declares none (or only a guess)."""
    cmd = ["ffprobe", "-v", "warning", "-select_streams", "a",
           "-show_entries", "stream=duration:format=duration", "-of", "json", *_input_args(path, demuxer)]
    try:
        out = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, check=False,
                             timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired as exc:
        raise AudioError(_TOO_SLOW, code=ErrorCode.AUDIO_UNDECODABLE) from exc
    # A length guessed from file size and bitrate can be far off (VBR MP3 without a header):
    # such files are measured by decoding, under the same cap as files that declare nothing.
    if out.returncode != 0 or _ESTIMATED in out.stderr:
        return None
    try:
        info = json.loads(out.stdout)
        streams = [float(s["duration"]) for s in info.get("streams", []) if "duration" in s]
        declared = max(streams) if streams else float(info.get("format", {})["duration"])
    except (ValueError, KeyError, TypeError):
        return None
    return declared if math.isfinite(declared) and declared >= 0 else None


def prepare_tmp_dir(base: Path, worker_name: str) -> Path:
    """This worker's private (0700) directory for uploads being decoded, emptied of a previous life's files.

    Each worker name gets its own directory, so workers sharing a host (and `base`) never touch
    each other's files; call it once at worker start-up, before any job runs.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", worker_name)[:64]
    # The digest keeps names that sanitise alike ("a@b", "a_b") apart.
    digest = hashlib.sha256(worker_name.encode()).hexdigest()[:8]
    path = base / f"endoscribe-{safe}-{digest}"
    base.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        info = path.lstat()
        # In a shared base such as /tmp, someone else could have planted a link or a directory.
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise PermissionError(f"{path} is not a directory owned by this user; remove it or choose "
                                  "another temporary directory") from None
    path.chmod(0o700)
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    return path


def _run_ffmpeg(path: Path, demuxer: str, max_seconds: float, declared: float | None,
                deadline: float) -> tuple[np.ndarray, int]:
    """Decode at most max_seconds plus the margin; returns the samples and ffmpeg's exit status."""
    cap_seconds = max_seconds + MARGIN_SECONDS
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "0",
           *_input_args(path, demuxer), "-vn", "-t", f"{cap_seconds:.6f}",
           "-f", "s16le", "-ac", "1", "-acodec", "pcm_s16le", "-ar", str(SAMPLE_RATE), "-"]
    # stderr is discarded, not piped: a damaged file can make ffmpeg write megabytes of warnings.
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)
    try:
        assert proc.stdout is not None
        # -t is the cap; this backstop, a second further, holds even if ffmpeg overshoots it.
        cap = math.ceil((cap_seconds + 1.0) * SAMPLE_RATE)
        first = declared + MARGIN_SECONDS if declared is not None else FIRST_BUFFER_SECONDS
        audio = _read_samples(proc.stdout, min(cap, math.ceil(first * SAMPLE_RATE)), cap, deadline)
        if audio.size >= cap:
            return audio, 0
        returncode = proc.wait(timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired as exc:
        raise AudioError(_TOO_SLOW, code=ErrorCode.AUDIO_UNDECODABLE) from exc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    return audio, returncode


def _read_samples(stream: IO[bytes], capacity: int, cap: int, deadline: float) -> np.ndarray:
    """Stream s16le bytes into one float32 buffer, growing it by doubling, stopping at `cap` samples."""
    import numpy as np

    audio = np.empty(capacity, np.float32)
    size = 0
    chunk = bytearray(_CHUNK_BYTES)
    view = memoryview(chunk)
    odd = 0  # a read can end halfway through a sample; that byte waits at the chunk's start
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while size < cap:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AudioError(_TOO_SLOW, code=ErrorCode.AUDIO_UNDECODABLE)
            got = os.readv(stream.fileno(), [view[odd:]])
            if not got:
                break
            total = odd + got
            count = min(total // 2, cap - size)
            if size + count > audio.size:
                # resize reallocates in place (mremap for large buffers): no second full-size copy.
                audio.resize(min(cap, max(2 * audio.size, size + count)), refcheck=False)
            np.multiply(np.frombuffer(chunk, np.int16, count), _SCALE, out=audio[size:size + count])
            size += count
            odd = total % 2
            if odd:
                chunk[0] = chunk[total - 1]
    audio.resize(size, refcheck=False)
    return audio


def _too_long(length: str, max_seconds: float) -> AudioError:
    return AudioError(f"the audio is {length} long; the limit is {max_seconds:.0f} s — split it",
                      code=ErrorCode.AUDIO_TOO_LONG)


def _seconds(seconds: float, max_seconds: float) -> str:
    # "3600 s long; the limit is 3600 s" would read as a contradiction: show the tenth that differs.
    shown = f"{seconds:.0f}"
    return f"{seconds:.1f} s" if shown == f"{max_seconds:.0f}" else f"{shown} s"
