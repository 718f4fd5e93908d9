"""The `endoscribe` command as a person uses it: typed into a terminal (tmux) against the running API, Redis
and worker with the bundled model; the pane is read back as they would see it, and the written files checked."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from rich.console import Console
from typer.testing import CliRunner

import cli.app as cli_app
from core.job_store import Claim, JobStore
from core.jobs import JobStage, JobStatus, Segment, Transcript
from core.settings import Settings
from core.tuning import ApiTuning
from tests.e2e.test_openai import silence
from tests.e2e.test_transcription import parse_srt, word_error_rate
from tests.integration.test_quotas import LiveApi, auth
from tests.jobs import FIXTURES, reference, submit
from tests.polling import eventually
from tests.services import BIN, ROOT, Process

TRANSCRIPT = Transcript(text="Gastroscopy to the second part of the duodenum.", language="en", duration=3.0,
                        segments=[Segment(start=0.0, end=3.0, text="Gastroscopy to the second part of the duodenum.")])

def endoscribe() -> list[str]:
    """The installed console script (`make install`), else the same app through `python -m cli`."""
    script = BIN / "endoscribe"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


class Terminal:
    """A tmux server and session of its own (a private socket, so no one else's tmux is touched)."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.socket = str(tmp / "tmux.sock")
        self.env = {**os.environ, **env, "TERM": "xterm-256color"}
        self.tmux("new-session", "-d", "-s", "person", "-x", "150", "-y", "45", "-c", str(ROOT))

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, *args], env=self.env, check=True, capture_output=True,
                              text=True).stdout

    def start(self, command: list[str]) -> str:
        """Type the command and Enter; returns the marker its exit status will be printed after."""
        marker = f"EXIT-{uuid.uuid4().hex[:6]}"
        self.tmux("send-keys", "-t", "person", "clear; " + shlex.join(command) + f"; echo {marker}=$?", "Enter")
        return marker

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "person")

    def wait_for(self, pattern: str, timeout: float = 30) -> tuple[re.Match[str], list[str]]:
        """Watch the pane until `pattern` shows; the match and every screen seen on the way."""
        screens: list[str] = []

        def shown() -> re.Match[str] | None:
            screens.append(self.screen())
            return re.search(pattern, screens[-1])

        found = eventually(shown, timeout, lambda: f"{pattern!r} on the screen:\n{screens[-1] if screens else ''}",
                           interval=0.1)
        return found, screens

    def run(self, command: list[str], timeout: float = 120) -> tuple[int, list[str]]:
        """Type the command, watch the pane until it is done; its exit status and every screen seen."""
        found, screens = self.wait_for(rf"{self.start(command)}=(\d+)", timeout)
        return int(found[1]), screens

    def close(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], env=self.env, check=False, capture_output=True)


@pytest.fixture()
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    # No config file: the URL comes from a flag or the environment in each test.
    term = Terminal(tmp_path, {"ENDOSCRIBE_CONFIG": str(tmp_path / "none.toml")})
    yield term
    term.close()


def test_transcribe_shows_upload_and_job_bars_then_writes_each_transcript(
    terminal: Terminal, api_url: str, worker: Process, tmp_path: Path
) -> None:
    out = tmp_path / "transcripts"

    status, screens = terminal.run([*endoscribe(), "--url", api_url, "transcribe", str(FIXTURES / "colonoscopy.wav"),
                                    str(FIXTURES / "summary.mp3"), "--format", "srt", "--out", str(out),
                                    "--note-type", "colonoscopy", "--language", "en"])

    final = screens[-1]
    assert status == 0, final
    # The upload bars, finished: every byte of each file, in the units a person reads.
    assert re.search(r"upload  colonoscopy\.wav\s+━+\s+479\.\d/479\.\d kB", final), final
    assert re.search(r"upload  summary\.mp3\s+━+\s+51\.2/51\.2 kB", final), final
    # Each job's bar was live: seen in a state before its end, then full.
    for name in ("colonoscopy.wav", "summary.mp3"):
        assert any(re.search(rf"{re.escape(name)}\s+━+\s+0%\s+(queued|decoding|transcribing)", s) for s in screens)
    for name in ("colonoscopy", "summary"):
        path = re.escape(str(out / name))
        assert re.search(rf"{name}\.\w+\s+━+\s+100%\s+completed → {path}\.srt", final), final
    assert re.search(r"summary\.mp3\s+[0-9a-f-]{36}\s+completed\s+/", final), final
    for name, max_wer in (("colonoscopy", 0.15), ("summary", 0.40)):
        cues = parse_srt((out / f"{name}.srt").read_text())
        assert word_error_rate(reference(name), " ".join(cue[3] for cue in cues)) <= max_wer


def test_a_job_bar_follows_the_jobs_progress_as_it_happens(
    terminal: Terminal, clean_redis: redis.Redis, own_redis_url: str, tmp_path: Path
) -> None:
    # No model here: the job is moved the way a worker moves it, so every step can be waited for.
    api = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=["person-key"],
                           tuning=ApiTuning(events_poll_seconds=0.05)))
    store = JobStore(clean_redis, 3600)
    try:
        marker = terminal.start([*endoscribe(), "--url", f"http://127.0.0.1:{api.port}", "--api-key", "person-key",
                                 "transcribe", str(FIXTURES / "egd.flac"), "--out", str(tmp_path)])
        terminal.wait_for(r"egd\.flac\s+━+\s+0%\s+queued")
        (job,) = api.get("/v1/jobs", headers=auth("person-key")).json()["jobs"]
        assert store.claim(job["id"], "run", "worker-1", 60, 3) is Claim.CLAIMED
        terminal.wait_for(r"egd\.flac\s+━+\s+0%\s+decoding")
        for progress in (25, 60):
            assert store.update(job["id"], "run", stage=JobStage.TRANSCRIBING, progress=float(progress))
            terminal.wait_for(rf"egd\.flac\s+[━╸╺]+\s+{progress}%\s+transcribing")
        assert store.end(job["id"], "run", JobStatus.COMPLETED, TRANSCRIPT, progress=100.0)
        found, screens = terminal.wait_for(rf"{marker}=(\d+)")
    finally:
        api.close()

    assert found[1] == "0", screens[-1]
    assert re.search(rf"egd\.flac\s+━+\s+100%\s+completed → {re.escape(str(tmp_path / 'egd.txt'))}", screens[-1])
    assert (tmp_path / "egd.txt").read_text() == "Gastroscopy to the second part of the duodenum.\n"


def test_transcribe_exits_non_zero_and_says_why_when_a_file_is_refused_or_a_job_fails(
    terminal: Terminal, api_url: str, worker: Process, tmp_path: Path
) -> None:
    (tmp_path / "quiet.wav").write_bytes(silence(2))
    (tmp_path / "notes.txt").write_text("not a recording")
    terminal.tmux("send-keys", "-t", "person", f"export ENDOSCRIBE_URL={api_url}", "Enter")  # once, as people do

    status, screens = terminal.run([*endoscribe(), "transcribe", str(tmp_path / "quiet.wav"),
                                    str(tmp_path / "notes.txt"), "--out", str(tmp_path / "out")])

    final = screens[-1]
    assert status == 1, final
    assert "refused notes.txt" in final
    assert re.search(r"quiet\.wav\s+━*\s+\d+%\s+failed \(audio_silent\)", final), final
    assert re.search(r"notes\.txt\s+not submitted\s+\S+", final), final
    assert not (tmp_path / "out" / "quiet.txt").exists()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[..., Ran]


@pytest.fixture()
def command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str, str | None], Runner]:
    """The commands run in this process (each start of a new one costs seconds on a busy machine), over
    real HTTP; their consoles wide enough that tables are not cut."""
    monkeypatch.setattr(cli_app, "out", Console(width=200))
    monkeypatch.setattr(cli_app, "err", Console(width=200, stderr=True))

    def runner_for(url: str, key: str | None = None) -> Runner:
        env = {"ENDOSCRIBE_URL": url, "ENDOSCRIBE_CONFIG": str(tmp_path / "none.toml"), "ENDOSCRIBE_API_KEY": key}

        def run(*args: str) -> Ran:
            result = CliRunner().invoke(cli_app.app, list(args), env=env)
            return Ran(result.exit_code, result.stdout, result.stderr)

        return run

    return runner_for


def test_jobs_commands_list_show_cancel_and_fetch(
    command: Callable[[str, str | None], Runner], clean_redis: redis.Redis, own_redis_url: str, tmp_path: Path
) -> None:
    api = LiveApi(Settings(REDIS_URL=own_redis_url, api_keys=["person-key"]))
    store = JobStore(clean_redis, 3600)
    run = command(f"http://127.0.0.1:{api.port}", "person-key")
    try:
        api.headers.update(auth("person-key"))
        done, queued = (submit(api, FIXTURES / "egd.flac")["id"] for _ in range(2))
        assert store.claim(done, "run", "worker-1", 60, 3) is Claim.CLAIMED
        assert store.end(done, "run", JobStatus.COMPLETED, TRANSCRIPT, progress=100.0, audio_seconds=12.7)

        listed = run("jobs", "list")
        assert listed.returncode == 0, listed.stderr
        rows = [line.split() for line in listed.stdout.splitlines()]
        assert rows[0] == ["ID", "Status", "Stage", "Progress", "Created", "(UTC)", "Audio", "Error"]
        assert [row[:4] for row in rows[1:]] == [[queued, "queued", "queued", "0%"],
                                                 [done, "completed", "done", "100%"]]
        assert rows[2][-2:] == ["13", "s"]
        assert run("jobs", "list", "--status", "completed", "--json").stdout.count('"id"') == 1

        shown = run("jobs", "get", done)
        assert re.search(rf"^ id\s+{done}\s*$", shown.stdout, re.M)
        assert re.search(r"^ status\s+completed\s*$", shown.stdout, re.M)
        result = run("jobs", "result", done, "--format", "srt")
        assert result.returncode == 0
        # One cue, two lines of at most 42 characters (the subtitle rules).
        assert result.stdout == "1\n00:00:00,000 --> 00:00:03,000\nGastroscopy to the second\npart of the duodenum.\n"
        run("jobs", "result", done, "--out", str(tmp_path / "egd.txt"))
        assert (tmp_path / "egd.txt").read_text() == "Gastroscopy to the second part of the duodenum.\n"

        cancelled = run("jobs", "cancel", queued)
        assert (cancelled.returncode, cancelled.stdout) == (0, f"job {queued} cancelled\n")
        assert store.get(queued).status == JobStatus.CANCELLED
        again = run("jobs", "cancel", done)
        assert again.returncode == 1 and f"job {done} is already completed; nothing to cancel" in again.stderr
        missing = run("jobs", "get", "00000000-0000-0000-0000-000000000000")
        assert missing.returncode == 1
        assert "no job with id 00000000-0000-0000-0000-000000000000 (HTTP 404, not_found)" in missing.stderr
        unauthorised = command(f"http://127.0.0.1:{api.port}", "wrong-key")("jobs", "list")
        assert unauthorised.returncode == 1 and "(HTTP 401, unauthorized)" in unauthorised.stderr

        submitted = run("transcribe", str(FIXTURES / "egd.flac"), "--no-wait", "-o", "hotwords=duodenum")
        assert submitted.returncode == 0, submitted.stderr
        newest = api.get("/v1/jobs", params={"limit": 1}).json()["jobs"][0]
        assert re.search(rf"egd\.flac\s+{newest['id']}\s+queued\s+endoscribe jobs get {newest['id']}",
                         submitted.stdout), submitted.stdout
        assert newest["options"]["hotwords"] == "duodenum"
    finally:
        api.close()


def test_workers_lists_the_live_workers(
    command: Callable[[str, str | None], Runner], api_url: str, worker: Process
) -> None:
    workers = command(api_url, None)("workers")

    assert workers.returncode == 0, workers.stderr
    assert re.search(r"e2e@\S+\s+tiny\.en \(bundled\)\s+cpu", workers.stdout), workers.stdout
