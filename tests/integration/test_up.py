"""`make up` is a supervisor: a process that dies comes back, Ctrl-C stops everything, jobs outlive a restart.

Runs scripts/up.sh itself, as `make up` does, with its own Redis on a free port and its data in a tmp
dir, and kills its children with SIGKILL, as the OOM killer would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from core import keys
from tests.jobs import FIXTURES, submit, wait_for_status
from tests.polling import NOT_LISTENING, eventually
from tests.services import ROOT, free_port, service_env

WORKER = "worker.celery_app worker"
DELIVERER = "-m webhooks.deliverer"


def _stat(pid: str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, ..."""
    try:
        return (Path("/proc") / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None  # gone meanwhile


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class UpScript:
    """scripts/up.sh in a session of its own, its output in a log file.

    Children are found by walking /proc for live descendants of the script and matching their command
    lines: that needs no test-only pid files in up.sh, and finds a restarted child by the same rule as
    the first one. up.sh gives each child its own process group but none leaves the script's session
    (it leads a new one here), so the session is what `leftovers` checks and `kill_all` kills.
    """

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["bash", "scripts/up.sh"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
                # A shell cannot trap a signal it inherited as ignored (pytest started in the background
                # by a script ignores SIGINT): give up.sh the terminal's default, as `make up` has it.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_up(self, timeout: float) -> None:
        def up() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"up.sh exited {self.proc.poll()}:\n{self.output()[-5000:]}")
            return "EndoScribe is up" in self.output()

        eventually(up, timeout, lambda: f"up.sh up:\n{self.output()[-5000:]}")

    def child(self, marker: str) -> int | None:
        """The pid of the live descendant whose command line contains `marker`."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            fields = _stat(entry.name) if entry.name.isdigit() else None
            if fields and fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
        below: set[int] = set()
        frontier = {self.proc.pid}
        while frontier:
            frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - below
            below |= frontier
        matches = [pid for pid in below if marker in _cmdline(pid)]
        assert len(matches) <= 1, f"several processes match {marker!r}: {matches}"
        return matches[0] if matches else None

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the script's process group; its exit status."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"up.sh still running {timeout}s after SIGINT:\n{self.output()[-3000:]}") from None

    def session(self) -> dict[int, str]:
        """Every process still in the script's session, with its command line."""
        sid = str(self.proc.pid)
        return {int(entry.name): _cmdline(int(entry.name)) for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and (fields := _stat(entry.name)) and fields[3] == sid}

    def leftovers(self) -> list[str]:
        return sorted(self.session().values())

    def kill_all(self) -> None:
        # The script first, so that it restarts nothing; then whatever it left, until none is left.
        self.proc.kill()
        self.proc.wait(10)
        for _ in range(50):
            if not (left := self.session()):
                return
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)  # the killed ones are reaped before the next look


@dataclass
class Stack:
    env: dict[str, str]
    api: str
    redis_url: str
    logs: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    tmp = tmp_path_factory.mktemp("up")
    # No Redis answers at this URL, so up.sh starts its own, with its data under ENDOSCRIBE_DATA_DIR.
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    api_port = free_port()
    # No warm-up clip: the worker starts twice here, and what is checked is the supervision, not its first job.
    env = service_env(redis_url, ENDOSCRIBE_API_PORT=str(api_port), ENDOSCRIBE_FLOWER_PORT=str(free_port()),
                      ENDOSCRIBE_DATA_DIR=str(tmp / "data"), ENDOSCRIBE_WARMUP="false")
    return Stack(env, f"http://127.0.0.1:{api_port}", redis_url, tmp)


@pytest.fixture(scope="module")
def up(stack: Stack) -> Iterator[UpScript]:
    script = UpScript(stack.env, stack.logs / "up.log")
    try:
        script.wait_until_up(300)
        yield script
    finally:
        script.kill_all()


def kill_the_deliverer(up: UpScript) -> None:
    """SIGKILL the webhook deliverer; return once a new one polls."""
    victim = up.child(DELIVERER)
    assert victim is not None
    polling = up.output().count("webhook deliverer polling")
    os.kill(victim, signal.SIGKILL)
    eventually(lambda: up.child(DELIVERER) not in (None, victim), 15, "a new deliverer")
    eventually(lambda: up.output().count("webhook deliverer polling") > polling, 15, "the new deliverer polling")


def test_a_killed_deliverer_is_restarted_with_a_growing_backoff(up: UpScript) -> None:
    kill_the_deliverer(up)
    kill_the_deliverer(up)
    assert re.findall(r"^deliverer exited .*$", up.output(), re.MULTILINE) == [
        "deliverer exited (code 137); restarting in 1s",
        "deliverer exited (code 137); restarting in 2s",
    ]


def test_a_killed_worker_is_restarted_while_the_api_keeps_answering(up: UpScript, stack: Stack) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    victim = up.child(WORKER)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)

    def heartbeat() -> bool:
        return any(client.scan_iter(match=keys.WORKER_PATTERN))

    # The dead worker's last heartbeat expires after three missed beats (3 s here), and a new worker's
    # appears once it has loaded its model; the API answers throughout.
    expired, deadline = False, time.monotonic() + 180
    with httpx.Client(base_url=stack.api, timeout=5) as http:
        while not (expired and heartbeat()):
            assert http.get("/health").status_code == 200
            expired = expired or not heartbeat()
            assert time.monotonic() < deadline, f"no new worker heartbeat 180 s after the kill:\n{up.output()[-3000:]}"
            time.sleep(0.5)  # the API asked twice a second while the worker comes back
    assert up.child(WORKER) not in (None, victim)
    assert re.search(r"^worker exited \(code 137\); restarting in \d+s$", up.output(), re.MULTILINE)


def test_jobs_outlive_a_restart_and_ctrl_c_leaves_nothing_behind(up: UpScript, stack: Stack) -> None:
    with httpx.Client(base_url=stack.api, timeout=30) as http:
        job_id = submit(http, FIXTURES / "colonoscopy.wav", "colonoscopy.wav")["id"]
        job = wait_for_status(http, job_id, timeout=180)
        result = http.get(f"/v1/jobs/{job_id}/result").json()
    assert job["status"] == "completed", job

    assert up.interrupt() == 0
    assert up.leftovers() == []

    again = UpScript(stack.env, stack.logs / "up-again.log")
    try:
        # The API is enough: the job lives in Redis, which up.sh restarts from its append-only file.
        eventually(lambda: httpx.get(f"{stack.api}/health").status_code == 200, 60, "the API after a restart",
                   ignoring=NOT_LISTENING)
        with httpx.Client(base_url=stack.api, timeout=30) as http:
            assert http.get(f"/v1/jobs/{job_id}").json() == job
            assert http.get(f"/v1/jobs/{job_id}/result").json() == result
        assert "starting a local redis-server" in again.output()
        assert again.interrupt() == 0
        assert again.leftovers() == []
    finally:
        again.kill_all()
