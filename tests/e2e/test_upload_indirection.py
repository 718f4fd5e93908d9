"""An upload that is a playlist in disguise never reads the worker host's files into the job."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.jobs import FIXTURES, submit, wait_for_status


def test_a_playlist_behind_an_id3_tag_fails_and_returns_no_local_audio(client: httpx.Client, tmp_path: Path) -> None:
    # A recording lying on the worker's host (same machine in this harness), named by absolute path.
    local = tmp_path / "someone-elses.mp3"
    shutil.copy(FIXTURES / "summary.mp3", local)
    playlist = b"#EXTM3U\n#EXT-X-TARGETDURATION:100\n#EXTINF:100,\n" + str(local).encode() + b"\n#EXT-X-ENDLIST\n"
    upload = b"ID3\x04\x00\x00\x00\x00\x00\x00" + playlist

    created = submit(client, upload, filename="dictation.mp3")
    job = wait_for_status(client, created["id"])

    assert job["status"] == "failed", job
    assert job["error"] == {
        "code": "audio_undecodable",
        "message": "the audio could not be decoded; send a valid wav, flac, mp3, m4a, ogg or webm file",
    }
    assert client.get(f"/v1/jobs/{created['id']}/result").json()["error"]["code"] == "job_failed"
