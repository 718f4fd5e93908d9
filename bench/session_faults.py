"""Faults on live sessions: how many complete with no acknowledged chunk lost.

    .venv/bin/python bench/session_faults.py [--sessions N] [--only a,b,c,d] [--store s3|redis]
                                             [--no-worker-seconds 120] [--s3-down 30]

The production layout on loopback, as `bench/faults.py` builds it: redis-server with AOF (everysec),
one API, supervised workers (solo pool, bundled model; a worker that exits is restarted under its
name), and with `--store s3` (the default: the documented Fly/Tigris and MinIO setup) moto's S3
server behind a TCP gate that the bench shuts to take the store down. Each scenario streams N
sessions of the 15 s colonoscopy fixture over real WebSockets in 200 ms chunks, at `--speed` times
real time; a client that loses its connection reconnects with a fresh token and resends from the
`next_seq` the server names, as the /dictate page and `endoscribe dictate` do.

a. kill -9 of the worker serving the sessions, half-way through (it is restarted, as compose would).
b. Redis kill -9 half-way through, restarted from its AOF `--redis-down` seconds later.
c. every worker stopped before `end`, for `--no-worker-seconds` (then they start again).
d. the S3 store down for `--s3-down` seconds from just before `end` (the session's audio going to
   the store and its job reading it); needs `--store s3`.

A session counts as completed when its job completed and the job's audio is every acknowledged chunk
(its `audio_seconds` equal to theirs). An acknowledged chunk is lost when it is not in the job (all of
a session's when its job never completed). Every wait has a deadline (`--timeout`): a scenario that
does not finish is reported as what it got, never waited on for ever. Logs stay in the temp dir named
on the first line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
import redis  # noqa: E402

from bench.faults import AOF, WorkerSlot, become_subreaper, end_adopted_children, log  # noqa: E402
from core import keys  # noqa: E402
from tests.jobs import FIXTURES  # noqa: E402
from tests.live import CHUNK_BYTES, LiveClient, chunks, fixture_pcm  # noqa: E402
from tests.services import Process, s3_api_env, start_api, start_redis, start_s3  # noqa: E402
from tests.tcp_gate import TcpGate  # noqa: E402

FINAL = {"completed", "failed", "cancelled"}
CHUNK_SECONDS = CHUNK_BYTES / 32000


class SessionStack:
    """Redis (AOF), the API, supervised workers and, for `s3`, moto behind a gate."""

    def __init__(self, tmp: Path, store: str, workers: int) -> None:
        self.tmp = tmp
        self.redis_proc: Process | None = None
        self.s3_proc: Process | None = None
        self.gate: TcpGate | None = None
        self.api_proc: Process | None = None
        self.slots: list[WorkerSlot] = []
        try:
            self.redis_proc, self.url = start_redis(tmp, *AOF)
            self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
            self.redis = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
            env: dict[str, str] = {}
            if store == "s3":
                self.s3_proc, endpoint = start_s3(tmp)
                self.gate = TcpGate(int(endpoint.rsplit(":", 1)[1])).open()
                env = s3_api_env(self.gate.url)
            self.slots = [WorkerSlot(f"w{n + 1}", self.url, tmp, env) for n in range(workers)]
            for slot in self.slots:
                slot.spawn()
            self.api_proc, self.base = start_api(self.url, tmp, **env)
            self.http = httpx.Client(base_url=self.base, timeout=30, trust_env=False)
        except BaseException:
            self.close()
            raise

    def supervise(self) -> None:
        for slot in self.slots:
            if slot.wanted and slot.proc is not None and not slot.alive():
                log(f"worker {slot.name} life {slot.lives} exited (rc={slot.proc.proc.returncode}); restarting")
                slot.proc.stop()
                slot.spawn()

    def wait_workers_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise()
            if all(slot.ready() for slot in self.slots):
                return True
            time.sleep(0.3)
        return False

    def serving(self, session_ids: list[str]) -> set[str]:
        """Names of the workers holding these sessions' leases now."""
        names = set()
        for session_id in session_ids:
            holder = self.redis.get(keys.session_lease_key(session_id))
            if holder is not None:
                names.add(str(holder.decode() if isinstance(holder, bytes) else holder).split("@", 1)[0])
        return names

    def restart_redis(self, down: float) -> None:
        assert self.redis_proc is not None
        self.redis_proc.stop(signal.SIGKILL)
        log_file = self.tmp / f"redis-{self.port}.log"
        if log_file.exists():
            log_file.rename(self.tmp / f"redis-{self.port}-{time.monotonic_ns()}.log")
        time.sleep(down)
        self.redis_proc, _ = start_redis(self.tmp, *AOF, port=self.port)

    def close(self) -> None:
        for slot in self.slots:
            slot.wanted = False
            if slot.proc is not None:
                slot.proc.stop(signal.SIGTERM, timeout=10)
        for proc in (self.api_proc, self.s3_proc, self.redis_proc):
            if proc is not None:
                proc.stop()
        if self.gate is not None:
            self.gate.close()


@dataclass
class Run:
    """One session as its client saw it."""

    pieces: list[bytes]
    session_id: str = ""
    job_id: str = ""
    acked: set[int] = field(default_factory=set)
    forgotten: int = 0
    """Acknowledged chunks a reconnect found the server no longer had (the client sent them again)."""
    reconnects: int = 0
    ended: bool = False
    job: dict[str, Any] | None = None
    problem: str = ""
    half: threading.Event = field(default_factory=threading.Event)
    sent: threading.Event = field(default_factory=threading.Event)

    @property
    def acked_seconds(self) -> float:
        return sum(len(self.pieces[seq]) for seq in self.acked if seq < len(self.pieces)) / 32000

    @property
    def completed(self) -> bool:
        job = self.job or {}
        return job.get("status") == "completed" and abs((job.get("audio_seconds") or 0) - self.acked_seconds) < 0.01

    @property
    def lost(self) -> int:
        if not self.completed:
            return len(self.acked)
        covered = float((self.job or {})["audio_seconds"])
        return max(0, round((self.acked_seconds - covered) / CHUNK_SECONDS))


class Driver:
    """Streams one session through faults: reconnects, resends from `next_seq`, waits with deadlines."""

    def __init__(self, stack: SessionStack, run: Run, speed: float, go: threading.Event, go_end: threading.Event,
                 deadline: float) -> None:
        self.stack, self.run, self.speed = stack, run, speed
        self.go, self.go_end, self.deadline = go, go_end, deadline
        self.live: LiveClient | None = None
        self.seen = 0
        """Messages of the current connection already read for acks."""

    def __call__(self) -> None:
        try:
            self._session()
        except Exception as exc:  # noqa: BLE001 - reported as the session's problem
            self.run.problem = f"{exc.__class__.__name__}: {str(exc)[:160]}"
        finally:
            self.run.half.set()
            self.run.sent.set()
            if self.live is not None:
                self._quietly(self.live.drop)
        self.run.job = self._job()

    def _session(self) -> None:
        created = self._retry(lambda: self.stack.http.post("/v1/sessions", json={}), {201})
        body = created.json()
        self.run.session_id, self.run.job_id = body["id"], body["job_id"]
        pieces = self.run.pieces
        half = len(pieces) // 2
        try:
            seq = self._connect(body["stream_url"])
        except Exception:  # noqa: BLE001 - as below
            seq = self._reconnect()
        while seq < len(pieces) and not self.run.ended:
            if seq >= half and not self.run.half.is_set():
                self.run.half.set()
                self._wait(self.go)
            try:
                assert self.live is not None
                self.live.ws.send(pieces[seq])
                seq += 1
                time.sleep(len(pieces[seq - 1]) / 32000 / self.speed)
                self._collect()
            except Exception:  # noqa: BLE001 - the connection (or the API, or Redis) went away
                seq = self._reconnect()
        if not self.run.ended:
            self._await_acks(len(pieces))
        self.run.sent.set()
        self._wait(self.go_end)
        while time.monotonic() < self.deadline and not self.run.ended:
            try:
                assert self.live is not None
                self.live.ws.send(json.dumps({"type": "end"}))
                self.live.wait_for(lambda: bool(self.live and self.live.of("ended")) or self._closed(),
                                   timeout=max(0.1, self.deadline - time.monotonic()))
                self._collect()
                self.run.ended = bool(self.live.of("ended"))
                if not self.run.ended:
                    self._reconnect()
            except Exception:  # noqa: BLE001 - as above: reconnect and say `end` again
                if time.monotonic() < self.deadline:
                    self._reconnect()

    def _connect(self, url: str) -> int:
        self.live, self.seen = LiveClient(url), 0
        self.live.wait_for(lambda: bool(self.live and self.live.messages) or self._closed(), 15)
        first = self.live.messages[0] if self.live.messages else {}
        if self.live.of("ended"):
            self.run.ended = True  # ended already (its end was asked for before the connection dropped)
            return len(self.run.pieces)
        if first.get("type") != "ready":
            raise ConnectionError(f"the stream opened with {first or 'nothing'}")
        next_seq: int = int(first["next_seq"])
        self.run.forgotten += sum(1 for s in self.run.acked if s >= next_seq)
        self.run.acked = {s for s in self.run.acked if s < next_seq}
        return next_seq

    def _reconnect(self) -> int:
        self.run.reconnects += 1
        while True:
            if self.live is not None:
                self._collect()
                self._quietly(self.live.drop)
            if time.monotonic() > self.deadline:
                raise TimeoutError("could not reconnect before the deadline")
            try:
                fresh = self._retry(lambda: self.stack.http.get(f"/v1/sessions/{self.run.session_id}"), {200})
                return self._connect(fresh.json()["stream_url"])
            except Exception:  # noqa: BLE001 - not yet: the API or Redis is still away
                time.sleep(0.5)

    def _collect(self) -> None:
        assert self.live is not None
        messages = list(self.live.messages)
        for message in messages[self.seen:]:
            if message.get("type") == "ack":
                self.run.acked.add(int(message["seq"]))
            if message.get("type") == "ended":
                self.run.ended = True
        self.seen = len(messages)

    def _await_acks(self, count: int) -> None:
        deadline = min(self.deadline, time.monotonic() + 15)
        while len(self.run.acked) < count and time.monotonic() < deadline:
            self._collect()
            if self._closed():
                next_seq = self._reconnect()
                for seq in range(next_seq, count):  # what the server lost, sent again
                    assert self.live is not None
                    self.live.ws.send(self.run.pieces[seq])
            time.sleep(0.05)

    def _closed(self) -> bool:
        return self.live is None or not self.live.thread.is_alive()

    def _job(self) -> dict[str, Any] | None:
        if not self.run.job_id:
            return None
        job: dict[str, Any] | None = None
        while time.monotonic() < self.deadline:
            try:
                response = self.stack.http.get(f"/v1/jobs/{self.run.job_id}")
                if response.status_code == 200:
                    job = response.json()
                    if job["status"] in FINAL:
                        return job
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        return job

    def _retry(self, call: Callable[[], httpx.Response], ok: set[int]) -> httpx.Response:
        while True:
            try:
                response = call()
                if response.status_code in ok:
                    return response
                problem = f"{response.status_code} {response.text[:120]}"
            except httpx.HTTPError as exc:
                problem = exc.__class__.__name__
            if time.monotonic() > self.deadline:
                raise TimeoutError(problem)
            time.sleep(0.5)

    def _wait(self, event: threading.Event) -> None:
        if not event.wait(max(0.0, self.deadline - time.monotonic())):
            raise TimeoutError("the bench's fault never let this session go on")

    @staticmethod
    def _quietly(call: Callable[[], object]) -> None:
        try:
            call()
        except Exception:  # noqa: BLE001 - a connection already gone
            pass


def scenario(stack: SessionStack, args: argparse.Namespace, name: str,
             mid: Callable[[list[Run]], str] | None = None,
             before_end: Callable[[list[Run]], Callable[[], str] | None] | None = None) -> dict[str, Any]:
    """Stream the sessions; `mid` acts half-way; `before_end` acts once all are sent and returns what
    to do after `end` (it runs while the sessions wait for `ended`)."""
    if not stack.wait_workers_ready(args.timeout):
        log(f"{name}: workers not ready before the scenario")
    pcm = fixture_pcm(FIXTURES / "colonoscopy.wav")
    runs = [Run(chunks(pcm)) for _ in range(args.sessions)]
    go, go_end = threading.Event(), threading.Event()
    deadline = time.monotonic() + args.timeout
    threads = [threading.Thread(target=Driver(stack, run, args.speed, go, go_end, deadline), daemon=True)
               for run in runs]
    for thread in threads:
        thread.start()
    notes = []
    for run in runs:
        run.half.wait(max(0.0, deadline - time.monotonic()))
    go.set()  # the clients go on streaming through the fault
    if mid is not None:
        notes.append(mid(runs))
    for run in runs:
        run.sent.wait(max(0.0, deadline - time.monotonic()))
    after = before_end(runs) if before_end is not None else None
    go_end.set()
    if after is not None:
        notes.append(after())
    for thread in threads:
        while thread.is_alive() and time.monotonic() < deadline + 5:
            stack.supervise()
            thread.join(0.5)
    stuck = sum(thread.is_alive() for thread in threads)
    result = {
        "scenario": name, "sessions": len(runs), "completed": sum(run.completed for run in runs),
        "acked_lost": sum(run.lost for run in runs), "forgotten": sum(run.forgotten for run in runs),
        "reconnects": sum(run.reconnects for run in runs), "stuck": stuck,
        "jobs": [(run.job or {}).get("status", "none") + (f" {(run.job or {}).get('error', {}).get('code')}"
                                                           if (run.job or {}).get("error") else "")
                 for run in runs],
        "problems": [run.problem for run in runs if run.problem], "notes": [n for n in notes if n],
    }
    log(f"{name}: {json.dumps({k: v for k, v in result.items() if k != 'scenario'})}")
    return result


def kill_serving_worker(stack: SessionStack) -> Callable[[list[Run]], str]:
    def act(runs: list[Run]) -> str:
        names = stack.serving([run.session_id for run in runs if run.session_id])
        victims = [slot for slot in stack.slots if slot.name in names] or stack.slots[:1]
        for slot in victims:
            slot.kill()
            slot.spawn()
        return f"killed {', '.join(s.name for s in victims)} ({'serving' if names else 'no worker held a session'})"
    return act


def restart_redis(stack: SessionStack, down: float) -> Callable[[list[Run]], str]:
    def act(runs: list[Run]) -> str:
        stack.restart_redis(down)
        return f"redis down {down:g} s"
    return act


def no_worker(stack: SessionStack, seconds: float) -> Callable[[list[Run]], Callable[[], str]]:
    def act(runs: list[Run]) -> Callable[[], str]:
        for slot in stack.slots:
            slot.stop()

        def later() -> str:
            time.sleep(seconds)
            for slot in stack.slots:
                slot.spawn()
            return f"no worker for {seconds:g} s after end"
        return later
    return act


def s3_down(stack: SessionStack, seconds: float) -> Callable[[list[Run]], Callable[[], str]]:
    def act(runs: list[Run]) -> Callable[[], str]:
        assert stack.gate is not None
        stack.gate.close()

        def later() -> str:
            time.sleep(seconds)
            assert stack.gate is not None
            stack.gate.open()
            return f"S3 down {seconds:g} s from end"
        return later
    return act


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=4, help="sessions per scenario, streamed at once")
    parser.add_argument("--speed", type=float, default=2.0, help="times real time the audio is sent")
    parser.add_argument("--workers", type=int, default=2, help="supervised workers")
    parser.add_argument("--store", choices=("s3", "redis"), default="s3", help="where audio is kept")
    parser.add_argument("--redis-down", type=float, default=3.0, help="b: seconds Redis stays down")
    parser.add_argument("--no-worker-seconds", type=float, default=120.0, help="c: seconds with no worker after end")
    parser.add_argument("--s3-down", type=float, default=30.0, help="d: seconds the S3 store is down")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a scenario may take, at most")
    parser.add_argument("--only", default="a,b,c,d", help="scenarios to run, e.g. a,d")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if "d" in args.only and args.store != "s3":
        parser.error("scenario d (S3 down) needs --store s3")
    return args


def main() -> int:
    args = parse_args()
    become_subreaper()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="endoscribe-session-faults-"))
    print(f"session faults: {platform.node()}, {os.cpu_count()} CPUs, store {args.store}, logs in {tmp}", flush=True)
    t0 = time.monotonic()
    stack: SessionStack | None = None
    known: set[int] = set()
    results = []
    try:
        stack = SessionStack(tmp, args.store, args.workers)
        plan = {
            "a": ("a. worker kill -9 mid-session", {"mid": kill_serving_worker(stack)}),
            "b": ("b. Redis kill -9 + restart (AOF) mid-session", {"mid": restart_redis(stack, args.redis_down)}),
            "c": (f"c. no worker for {args.no_worker_seconds:g} s after end",
                  {"before_end": no_worker(stack, args.no_worker_seconds)}),
            "d": (f"d. S3 down {args.s3_down:g} s at end", {"before_end": s3_down(stack, args.s3_down)}),
        }
        for key in [k.strip() for k in args.only.split(",") if k.strip()]:
            name, faults = plan[key]
            results.append(scenario(stack, args, name, **faults))  # type: ignore[arg-type]
        print(f"\nSession faults (`.venv/bin/python bench/session_faults.py`, {os.cpu_count()} CPUs, tiny.en on CPU, "
              f"{args.workers} workers, audio in {args.store}, {args.sessions} sessions of 15 s each, "
              f"{(time.monotonic() - t0) / 60:.1f} min):\n", flush=True)
        print("| scenario | sessions | completed | acked chunks lost | jobs | notes |", flush=True)
        print("|---|---|---|---|---|---|", flush=True)
        for r in results:
            extra = [*r["notes"], f"{r['reconnects']} reconnects"]
            if r["forgotten"]:
                extra.append(f"{r['forgotten']} acked chunks forgotten by the server (sent again)")
            if r["stuck"]:
                extra.append(f"{r['stuck']} clients still waiting at the deadline")
            extra += sorted(set(r["problems"]))[:2]
            jobs = ", ".join(f"{n}× {s}" for s, n in sorted({s: r["jobs"].count(s) for s in r["jobs"]}.items()))
            print(f"| {r['scenario']} | {r['sessions']} | {r['completed']} | {r['acked_lost']} | {jobs} | "
                  f"{'; '.join(extra)} |", flush=True)
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "results": results}, indent=2))
        return 0 if all(r["completed"] == r["sessions"] and not r["acked_lost"] for r in results) else 1
    finally:
        if stack is not None:
            known = {s.pid for s in stack.slots if s.proc is not None}
            stack.close()
        end_adopted_children(known)
        print(f"wall time {time.monotonic() - t0:.0f} s; every process stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
