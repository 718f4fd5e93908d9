"""Faults on the production layout: what kill -9s, Redis restarts, a decoding bomb and a poison job cost.

    .venv/bin/python bench/faults.py [--jobs N] [--kills M] [--queued-jobs K] [--only 1,2,...]

One redis-server with AOF (appendonly yes, appendfsync everysec) in a temp dir, one API, two Celery
workers (solo pool, bundled model), the webhook deliverer and a real HTTP receiver, all on loopback.
Every job is submitted over HTTP with a callback to the receiver. A small supervisor restarts any
worker that exits, as compose's restart policy would, under the same Celery node name.

1. N jobs (short fixtures and some long recordings) while busy workers are killed with SIGKILL M
   times: completed, failed, completed runs per job (from the worker logs), callbacks per job, max
   attempts. A kill never hits a job's last attempt, nor a worker life that has not yet completed a
   job, so every job can still complete; kills stop after --kill-window seconds.
4. A 10-hour silent FLAC: its error code and the worker's peak RSS growth (VmHWM).
5. A poison job: the worker that picks it up is killed as soon as it is `processing`, every time;
   the number of deaths and the final status.
2. K jobs queued with the workers stopped, then Redis killed with SIGKILL and restarted from its AOF.
3. K jobs with the workers busy, then Redis killed with SIGKILL and restarted a few seconds later.

(They run in the order 4, 1, 5, 2, 3: the bomb's peak is read on workers fresh from start-up.)
Each prints one line with its figures as it ends; a summary block for a benchmark page (docs/benchmarks/) comes last;
progress goes to stderr, and every process's log stays in the temp dir named on the first line.

Most of the time goes to worker restarts: a killed worker loads and warms its model again (about
40 s on 2 CPU cores), and there are M + 3 of them plus one stop/start for scenario 2. On a 2-core
machine the defaults take 10 to 12 minutes; `--kills 6` or `--only` shorten it.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import hashlib
import hmac
import json
import os
import platform
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402
import redis  # noqa: E402

from core import keys  # noqa: E402
from core.job_codec import decode  # noqa: E402
from core.jobs import JobRecord  # noqa: E402
from tests.jobs import FIXTURES, long_recording  # noqa: E402
from tests.polling import eventually  # noqa: E402
from tests.receiver import Receiver  # noqa: E402
from tests.services import (  # noqa: E402
    BIN,
    TEST_WEBHOOK_SECRET,
    Process,
    service_env,
    start_api,
    start_deliverer,
    start_redis,
)

SHORT_FILES = ["colonoscopy.wav", "egd.flac", "summary.mp3", "summary.ogg", "summary.m4a", "egd.wav", "summary.wav"]
AOF = ("--appendonly", "yes", "--appendfsync", "everysec")
FINAL = {"completed", "failed", "cancelled"}
READY_LINE = "ready: model resident"
RUN_LINE = re.compile(r"Task endoscribe\.transcribe\[([0-9a-f-]+)\] succeeded in [\d.]+s: '(\w+)'")
PR_SET_CHILD_SUBREAPER = 36


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- processes ---------------------------------------------------------------------------------


class WorkerSlot:
    """One supervised worker: the same Celery node name in every life, a log file per life."""

    def __init__(self, name: str, url: str, tmp: Path, env: dict[str, str]) -> None:
        self.name = name
        self.url = url
        self.tmp = tmp
        self.env = env
        self.proc: Process | None = None
        self.lives = 0
        self.started_wall = 0.0
        self.logs: list[Path] = []
        self.wanted = False
        """Whether the supervisor should keep this worker running."""

    def spawn(self) -> None:
        self.lives += 1
        log_path = self.tmp / f"worker-{self.name}-life{self.lives}.log"
        self.logs.append(log_path)
        args = [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "-P", "solo", "-c", "1",
                "-Q", keys.TRANSCRIBE_QUEUE, "-n", f"{self.name}@%h", "--loglevel", "INFO",
                "--without-mingle", "--without-gossip"]
        self.started_wall = time.time()
        self.proc = Process(args, service_env(self.url, **self.env), log_path)
        self.wanted = True

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def ready(self) -> bool:
        return self.alive() and READY_LINE in self.output()

    def output(self) -> str:
        return self.proc.output() if self.proc is not None else ""

    def kill(self) -> None:
        """SIGKILL, as the OOM killer does; the caller restarts it like a supervisor."""
        assert self.proc is not None
        self.proc.stop(signal.SIGKILL)

    def stop(self) -> None:
        self.wanted = False
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM, timeout=20)


@dataclass
class Exit:
    worker: str
    life: int
    code: int | None
    tail: str


class Stack:
    """The production layout on loopback, plus a supervisor for the workers."""

    def __init__(self, tmp: Path, max_attempts: int) -> None:
        self.tmp = tmp
        env = {"ENDOSCRIBE_MAX_ATTEMPTS": str(max_attempts)}
        self.exits: list[Exit] = []
        """Workers that exited without being told to (not the bench's own kills)."""
        self.redis_proc: Process | None = None
        self.api_proc: Process | None = None
        self.deliverer: Process | None = None
        self.receiver: Receiver | None = None
        self.client: httpx.Client | None = None
        self.slots: list[WorkerSlot] = []
        self.submitted: list[str] = []
        try:
            self.redis_proc, self.url = start_redis(tmp, *AOF)
            self.redis_lives = 1
            self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
            self.redis = redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=2)
            self.slots = [WorkerSlot(name, self.url, tmp, env) for name in ("w1", "w2")]
            # The workers load their model (the slow part) while the API and the deliverer start.
            for slot in self.slots:
                slot.spawn()
            self.receiver = Receiver().__enter__()
            self.api_proc, self.base = start_api(self.url, tmp)
            self.deliverer = start_deliverer(self.url, tmp)
            self.client = httpx.Client(base_url=self.base, timeout=60, trust_env=False)
        except BaseException:
            self.close()
            raise

    @property
    def http(self) -> httpx.Client:
        assert self.client is not None
        return self.client

    @property
    def hooks(self) -> Receiver:
        assert self.receiver is not None
        return self.receiver

    # -- workers

    def start_workers(self, timeout: float = 300) -> None:
        for slot in self.slots:
            if not slot.alive():
                slot.spawn()
        self.wait_workers_ready(timeout)

    def wait_workers_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not all(s.ready() for s in self.slots):
            self.supervise()
            if time.monotonic() > deadline:
                raise TimeoutError("workers not ready: " + "; ".join(f"{s.name}: {s.output()[-800:]}"
                                                                      for s in self.slots if not s.ready()))
            time.sleep(0.3)

    def stop_workers(self) -> None:
        for slot in self.slots:
            slot.stop()

    def supervise(self) -> None:
        """Restart any wanted worker that exited on its own, and remember why it went."""
        for slot in self.slots:
            if slot.wanted and slot.proc is not None and not slot.alive():
                code = slot.proc.proc.returncode
                self.exits.append(Exit(slot.name, slot.lives, code, slot.output()[-1500:]))
                log(f"worker {slot.name} life {slot.lives} exited on its own (rc={code}); restarting")
                slot.proc.stop()
                slot.spawn()

    def slot_for(self, worker: str | None) -> WorkerSlot | None:
        for slot in self.slots:
            if worker and worker.startswith(f"{slot.name}@"):
                return slot
        return None

    # -- redis

    def kill_redis(self) -> None:
        assert self.redis_proc is not None
        self.redis_proc.stop(signal.SIGKILL)
        log_file = self.tmp / f"redis-{self.port}.log"
        if log_file.exists():
            log_file.rename(self.tmp / f"redis-{self.port}-life{self.redis_lives}.log")
        self.redis_proc = None

    def restart_redis(self) -> None:
        self.redis_proc, _ = start_redis(self.tmp, *AOF, port=self.port)
        self.redis_lives += 1

    # -- jobs

    def submit(self, data: bytes, filename: str) -> str:
        response = self.http.post("/v1/jobs", files={"file": (filename, data)},
                                    data={"callback_url": f"{self.hooks.url}/hook"})
        if response.status_code != 202:
            raise RuntimeError(f"submit refused: {response.status_code} {response.text}")
        job_id = str(response.json()["id"])
        self.submitted.append(job_id)
        return job_id

    def cancel_leftovers(self, timeout: float = 60) -> list[str]:
        """Cancel every job a scenario left open, so the next scenario starts on an empty queue."""
        statuses = self.statuses(self.submitted) or {}
        open_ids = [i for i, s in statuses.items() if s is not None and s not in FINAL]
        for job_id in open_ids:
            self.http.delete(f"/v1/jobs/{job_id}")
        if open_ids:
            log(f"cancelled {len(open_ids)} jobs left open: {', '.join(i[:8] for i in open_ids)}")
            self.wait_final(open_ids, timeout)
        return open_ids

    def record(self, job_id: str) -> JobRecord | str | None:
        """The job's record from Redis; None if it is gone; "down" if Redis does not answer."""
        try:
            raw = self.redis.hgetall(keys.job_key(job_id))
        except redis.RedisError:
            return "down"
        if not raw:
            return None
        return decode(raw)  # type: ignore[arg-type]

    def statuses(self, ids: list[str]) -> dict[str, str | None] | None:
        """Each job's status (None: its record is gone), or None while Redis does not answer."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            for job_id in ids:
                pipe.hget(keys.job_key(job_id), "status")
            values = pipe.execute()
        except redis.RedisError:
            return None
        return {job_id: (v.decode() if v is not None else None) for job_id, v in zip(ids, values, strict=True)}

    def public(self, job_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/v1/jobs/{job_id}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def wait_final(self, ids: list[str], timeout: float, tick: Any = None) -> dict[str, str | None]:
        """Poll until every job ended (or its record vanished); the last statuses seen."""
        deadline = time.monotonic() + timeout
        seen: dict[str, str | None] = {}
        while time.monotonic() < deadline:
            self.supervise()
            if tick is not None:
                tick()
            now = self.statuses(ids)
            if now is not None:
                seen = now
                if all(s is None or s in FINAL for s in seen.values()):
                    return seen
            time.sleep(0.25)
        return seen

    def close(self) -> None:
        for slot in self.slots:
            slot.wanted = False
            if slot.alive():
                slot.proc.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        for slot in self.slots:
            if slot.proc is not None:
                slot.proc.stop(signal.SIGTERM, timeout=10)
        for proc in (self.deliverer, self.api_proc, self.redis_proc):
            if proc is not None:
                proc.stop()
        if self.client is not None:
            self.client.close()
        if self.receiver is not None:
            self.receiver.__exit__()


# ---- measurements ------------------------------------------------------------------------------


def run_outcomes(stack: Stack) -> dict[str, Counter[str]]:
    """Per job id, how many runs ended with each outcome, read from every life of every worker."""
    outcomes: dict[str, Counter[str]] = {}
    for slot in stack.slots:
        for path in slot.logs:
            for job_id, outcome in RUN_LINE.findall(path.read_text(errors="replace")):
                outcomes.setdefault(job_id, Counter())[outcome] += 1
    return outcomes


def worker_log_count(stack: Stack, phrase: str) -> int:
    return sum(path.read_text(errors="replace").count(phrase) for slot in stack.slots for path in slot.logs)


def _signature_ok(request: Any) -> bool:
    secret = base64.b64decode(TEST_WEBHOOK_SECRET.removeprefix("whsec_"))
    signed = f"{request.headers.get('webhook-id')}.{request.headers.get('webhook-timestamp')}.".encode() + request.body
    expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    return any(part.split(",", 1)[-1] == expected for part in request.headers.get("webhook-signature", "").split())


@dataclass
class Callbacks:
    deliveries: dict[str, int] = field(default_factory=dict)
    webhook_ids: dict[str, set[str]] = field(default_factory=dict)
    statuses: dict[str, list[str]] = field(default_factory=dict)
    bad_signatures: int = 0

    def for_jobs(self, ids: list[str]) -> str:
        total = sum(self.deliveries.get(i, 0) for i in ids)
        distinct = sum(len(self.webhook_ids.get(i, ())) for i in ids)
        exactly_one = sum(1 for i in ids if self.deliveries.get(i, 0) == 1)
        missing = [i for i in ids if not self.deliveries.get(i)]
        dupes = [i for i in ids if self.deliveries.get(i, 0) > 1]
        text = (f"callbacks: {exactly_one}/{len(ids)} jobs exactly one, {total} deliveries, "
                f"{distinct} distinct webhook-ids")
        if missing:
            text += f", {len(missing)} missing"
        if dupes:
            text += f", {len(dupes)} duplicated"
        if self.bad_signatures:
            text += f", {self.bad_signatures} bad signatures"
        return text


def callbacks(stack: Stack, ids: list[str], ended: list[str], timeout: float = 30, settle: float = 3) -> Callbacks:
    """Wait until every ended job's callback arrived (then a little longer, for duplicates); tally them."""
    wanted = set(ended)

    def tally() -> Callbacks:
        result = Callbacks()
        for request in list(stack.hooks.requests):
            try:
                data = json.loads(request.body)["data"]
            except (ValueError, KeyError):
                continue
            job_id = data.get("id")
            if job_id not in ids:
                continue
            result.deliveries[job_id] = result.deliveries.get(job_id, 0) + 1
            result.webhook_ids.setdefault(job_id, set()).add(request.headers.get("webhook-id", ""))
            result.statuses.setdefault(job_id, []).append(str(data.get("status")))
            result.bad_signatures += 0 if _signature_ok(request) else 1
        return result

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not wanted <= set(tally().deliveries):
        time.sleep(0.2)
    time.sleep(settle)
    return tally()


def final_jobs(stack: Stack, ids: list[str]) -> dict[str, dict[str, Any] | None]:
    return {job_id: stack.public(job_id) for job_id in ids}


def summarize_jobs(jobs: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    present = [j for j in jobs.values() if j is not None]
    errors = Counter(j["error"]["code"] for j in present if j["status"] == "failed" and j.get("error"))
    return {
        "submitted": len(jobs),
        "completed": sum(1 for j in present if j["status"] == "completed"),
        "failed": sum(1 for j in present if j["status"] == "failed"),
        "failed_codes": dict(errors),
        "cancelled": sum(1 for j in present if j["status"] == "cancelled"),
        "lost": sum(1 for j in jobs.values() if j is None),
        "stuck": {s: n for s, n in Counter(j["status"] for j in present if j["status"] not in FINAL).items()},
        "max_attempts": max((j["attempts"] for j in present), default=0),
        "attempts": dict(sorted(Counter(j["attempts"] for j in present).items())),
    }


def codes(summary: dict[str, Any]) -> str:
    return ", ".join(f"{c}×{n}" for c, n in summary["failed_codes"].items()) or "none"


def stuck_text(summary: dict[str, Any]) -> str:
    return ", ".join(f"{n} {s}" for s, n in summary["stuck"].items()) or "0"


def short_jobs(count: int) -> list[tuple[str, bytes]]:
    return [(name, (FIXTURES / name).read_bytes()) for name in (SHORT_FILES * count)[:count]]


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def reset_peak_rss(pid: int) -> bool:
    """VmHWM := VmRSS (Linux clear_refs 5), so the next peak is the job's own."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# ---- scenarios ---------------------------------------------------------------------------------


def kills_of_busy_workers(stack: Stack, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    data = short_jobs(args.jobs - args.long_jobs)
    long_audio = long_recording(args.long_repeats)
    data += [(f"long-{i}.wav", long_audio) for i in range(args.long_jobs)]
    rng.shuffle(data)
    started = time.monotonic()
    ids = [stack.submit(audio, name) for name, audio in data]
    log(f"1: {len(ids)} jobs submitted ({args.long_jobs} of {len(long_audio) / 32000:.0f} s)")
    kills: list[dict[str, Any]] = []
    last_kill = 0.0
    wait_s = rng.uniform(0, args.kill_max_delay)

    def tick() -> None:
        nonlocal last_kill, wait_s
        if len(kills) >= args.kills or time.monotonic() - last_kill < args.kill_interval:
            return
        if time.monotonic() - started > args.kill_window:
            return  # the jobs drain from here on
        records = {job_id: stack.record(job_id) for job_id in ids}
        # A life is killed only after it completed a job: when restarts are slow (a loaded machine),
        # killing every worker on its first claim would stop all progress, which proves nothing.
        productive = {rec.worker for rec in records.values() if isinstance(rec, JobRecord)
                      and rec.status.value == "completed" and rec.finished_at is not None
                      and (slot := stack.slot_for(rec.worker)) is not None
                      and rec.finished_at.timestamp() >= slot.started_wall}
        for job_id, rec in records.items():
            if not isinstance(rec, JobRecord) or rec.status.value != "processing" or rec.started_at is None:
                continue
            slot = stack.slot_for(rec.worker)
            # Busy: the current life of that worker claimed this run (a stale record names a dead life).
            if slot is None or not slot.alive() or rec.started_at.timestamp() < slot.started_wall:
                continue
            if rec.worker not in productive:
                continue
            if rec.attempts >= args.max_attempts:
                continue  # its last attempt: a kill now would fail the job by design (scenario 5 shows that)
            if time.time() - rec.started_at.timestamp() < wait_s:
                continue
            slot.kill()
            kills.append({"job": job_id, "worker": slot.name, "life": slot.lives, "attempt": rec.attempts,
                          "stage": rec.stage.value, "progress": rec.progress})
            log(f"1: kill {len(kills)}: {slot.name} life {slot.lives} on job {job_id[:8]} attempt {rec.attempts} "
                f"({rec.stage.value} {rec.progress:.0f}%); restarting it")
            slot.spawn()
            last_kill = time.monotonic()
            wait_s = rng.uniform(0, args.kill_max_delay)
            return

    seen = stack.wait_final(ids, args.timeout, tick)
    wall = time.monotonic() - started
    jobs = final_jobs(stack, ids)
    summary = summarize_jobs(jobs)
    ended = [i for i, j in jobs.items() if j is not None and j["status"] in FINAL]
    hooks = callbacks(stack, ids, ended)
    runs = run_outcomes(stack)
    completed_runs = Counter(runs.get(i, Counter())["completed"] for i in ids)
    exactly_once = sum(1 for i, j in jobs.items()
                       if j and j["status"] == "completed" and runs.get(i, Counter())["completed"] == 1
                       and hooks.deliveries.get(i, 0) == 1)
    short_of = f" (of {args.kills} asked: the kill window closed)" if len(kills) < args.kills else ""
    line = (f"1. {exactly_once}/{len(ids)} jobs completed exactly once under {len(kills)} kill -9s of busy workers"
            f"{short_of}: "
            f"{summary['completed']}/{len(ids)} completed, {summary['failed']} failed (codes: {codes(summary)}), "
            f"stuck {stuck_text(summary)}; completed runs per job {dict(sorted(completed_runs.items()))}; "
            f"{hooks.for_jobs(ids)}; max attempts {summary['max_attempts']} (jobs by attempts "
            f"{summary['attempts']}); kills by stage {dict(Counter(k['stage'] for k in kills))}; {wall:.0f} s")
    return {"line": line, "summary": summary, "kills": kills, "exactly_once": exactly_once, "wall_s": wall,
            "callbacks": hooks.deliveries, "seen": seen, "jobs": jobs,
            "short": f"{exactly_once}/{len(ids)} jobs completed exactly once (one completed run, one callback) "
                     f"under {len(kills)} kill -9s of busy workers; max attempts {summary['max_attempts']}"}


def redis_kill_while_queued(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    stack.stop_workers()
    ids = [stack.submit(audio, name) for name, audio in short_jobs(args.queued_jobs)]
    time.sleep(args.settle)
    before = {"dbsize": stack.redis.dbsize(), "queue": stack.redis.llen(keys.TRANSCRIBE_QUEUE),
              "open": stack.redis.zcard(keys.OPEN_JOBS)}
    stack.kill_redis()
    log(f"2: {len(ids)} jobs queued, redis killed with SIGKILL ({before})")
    stack.restart_redis()
    eventually(lambda: stack.redis.info("persistence")["loading"] == 0, 30, "redis AOF load")
    after = {"dbsize": stack.redis.dbsize(), "queue": stack.redis.llen(keys.TRANSCRIBE_QUEUE),
             "open": stack.redis.zcard(keys.OPEN_JOBS)}
    records = sum(1 for s in (stack.statuses(ids) or {}).values() if s is not None)
    log(f"2: redis back from its AOF ({after}); {records}/{len(ids)} job records present; starting workers")
    stack.start_workers()
    ready = time.time()
    seen = stack.wait_final(ids, args.timeout)
    jobs = final_jobs(stack, ids)
    summary = summarize_jobs(jobs)
    ended = [i for i, j in jobs.items() if j is not None and j["status"] in FINAL]
    hooks = callbacks(stack, ids, ended)
    last = max((datetime.fromisoformat(j["finished_at"]).timestamp() for j in jobs.values()
                if j and j.get("finished_at")), default=ready)
    resent = worker_log_count(stack, "queued with no task message")
    line = (f"2. {summary['lost']} jobs lost across a Redis kill -9 and restart with AOF: {len(ids)} queued, "
            f"{summary['completed']} completed, {summary['failed']} failed (codes: {codes(summary)}), "
            f"stuck {stuck_text(summary)}; broker queue {before['queue']} -> {after['queue']} messages, keys "
            f"{before['dbsize']} -> {after['dbsize']}; last job ended {last - ready:.1f} s after the workers were "
            f"ready; recovery resent {resent} so far; {hooks.for_jobs(ids)}")
    return {"line": line, "summary": summary, "before": before, "after": after, "seen": seen,
            "callbacks": hooks.deliveries, "jobs": jobs,
            "short": f"{summary['lost']} of {len(ids)} queued jobs lost across a Redis kill -9 and restart with "
                     f"AOF ({summary['completed']} completed)"}


def redis_kill_while_busy(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    if not all(s.alive() for s in stack.slots):
        stack.start_workers()
    stack.wait_workers_ready()
    resent_before = worker_log_count(stack, "queued with no task message")
    requeued_before = worker_log_count(stack, "requeued")
    exits_before = len(stack.exits)
    ids = [stack.submit(audio, name) for name, audio in short_jobs(args.busy_jobs)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = stack.statuses(ids) or {}
        busy = sum(1 for s in statuses.values() if s == "processing")
        if busy >= len(stack.slots) or (busy and sum(1 for s in statuses.values() if s in FINAL) >= 2):
            break
        time.sleep(0.05)
    at_kill = Counter(stack.statuses(ids).values())  # type: ignore[union-attr]
    stack.kill_redis()
    killed = time.time()
    log(f"3: redis killed with SIGKILL with the workers busy ({dict(at_kill)}); down for {args.redis_down} s")
    time.sleep(args.redis_down)
    # A supervisor would restart a worker that exits while Redis is away.
    stack.supervise()
    stack.restart_redis()
    restarted = time.time()
    log("3: redis restarted")
    seen = stack.wait_final(ids, args.timeout)
    jobs = final_jobs(stack, ids)
    summary = summarize_jobs(jobs)
    ended = [i for i, j in jobs.items() if j is not None and j["status"] in FINAL]
    hooks = callbacks(stack, ids, ended)
    finished = [datetime.fromisoformat(j["finished_at"]).timestamp()
                for j in jobs.values() if j and j.get("finished_at")]
    last = max(finished, default=restarted)
    runs = run_outcomes(stack)
    multi = sum(1 for i in ids if runs.get(i, Counter())["completed"] > 1)
    exits = stack.exits[exits_before:]
    line = (f"3. {summary['lost']} jobs lost across a Redis kill -9 during processing: {len(ids)} submitted "
            f"({at_kill.get('processing', 0)} processing, {at_kill.get('queued', 0)} queued, "
            f"{sum(at_kill.get(s, 0) for s in FINAL)} ended at the kill), {summary['completed']} completed, "
            f"{summary['failed']} failed (codes: {codes(summary)}), stuck {stuck_text(summary)}; Redis down "
            f"{restarted - killed:.1f} s; last job ended {last - restarted:.1f} s after the restart; max attempts "
            f"{summary['max_attempts']}; jobs completed twice {multi}; workers that exited on their own "
            f"{len(exits)}{' (rc ' + ','.join(str(e.code) for e in exits) + ')' if exits else ''}; recovery "
            f"requeued {worker_log_count(stack, 'requeued') - requeued_before}, resent "
            f"{worker_log_count(stack, 'queued with no task message') - resent_before}; {hooks.for_jobs(ids)}")
    return {"line": line, "summary": summary, "at_kill": dict(at_kill), "seen": seen, "jobs": jobs,
            "callbacks": hooks.deliveries, "exits": [e.__dict__ for e in exits],
            "last_after_restart_s": last - restarted,
            "short": f"{summary['lost']} of {len(ids)} jobs lost across a Redis kill -9 during processing "
                     f"({summary['completed']} completed, stuck {stuck_text(summary)}, the last "
                     f"{last - restarted:.0f} s after the restart)"}


def decoding_bomb(stack: Stack, args: argparse.Namespace, at_ready: dict[str, tuple[int, int]]) -> dict[str, Any]:
    from tests.integration.test_decoding_bombs import silent_flac

    built = time.perf_counter()
    flac = silent_flac(args.bomb_hours * 3600)
    log(f"4: {args.bomb_hours} h silent FLAC built: {len(flac) / 1e6:.1f} MB in {time.perf_counter() - built:.1f} s")
    at_submit = {}
    for slot in stack.slots:
        at_submit[slot.name] = (proc_status_kb(slot.pid, "VmRSS"), proc_status_kb(slot.pid, "VmHWM"))
        reset_peak_rss(slot.pid)
    job_id = stack.submit(flac, "bomb.flac")
    stack.wait_final([job_id], args.timeout)
    job = stack.public(job_id)
    assert job is not None
    ran = stack.slot_for(job["worker"])
    assert ran is not None, job
    hwm_after = proc_status_kb(ran.pid, "VmHWM")
    rss_after = proc_status_kb(ran.pid, "VmRSS")
    hwm_ready, rss_ready = at_ready[ran.name][1], at_ready[ran.name][0]
    rss_submit = at_submit[ran.name][0]
    hooks = callbacks(stack, [job_id], [job_id])
    code = (job.get("error") or {}).get("code")
    # VmHWM only grows: without the reset it would now read max(at ready, the job's own peak).
    hwm_unreset = max(hwm_ready, hwm_after)
    growth_vs_ready = (hwm_unreset - hwm_ready) / 1024
    growth_vs_submit = (hwm_after - rss_submit) / 1024
    line = (f"4. worker peak RSS for the {args.bomb_hours}-hour bomb ({len(flac) / 1e6:.1f} MB FLAC): job "
            f"{job['status']} {code} in {job.get('processing_seconds')} s on {ran.name}; VmHWM "
            f"{hwm_ready / 1024:.0f} MB right after ready -> {hwm_unreset / 1024:.0f} MB after the job "
            f"({growth_vs_ready:+.1f} MB); the job's "
            f"own peak {growth_vs_submit:+.1f} MB over VmRSS at submit ({rss_submit / 1024:.0f} MB; VmHWM reset "
            f"there via clear_refs); VmRSS after {rss_after / 1024:.0f} MB; {hooks.for_jobs([job_id])}")
    return {"line": line, "job": job, "code": code, "hwm_ready_kb": hwm_ready, "rss_ready_kb": rss_ready,
            "rss_submit_kb": rss_submit, "hwm_after_kb": hwm_after, "hwm_unreset_kb": hwm_unreset,
            "rss_after_kb": rss_after,
            "short": f"a {args.bomb_hours}-hour silent FLAC ({len(flac) / 1e6:.1f} MB) is refused `{code}` in "
                     f"{job.get('processing_seconds')} s; the worker's peak RSS (VmHWM) grows "
                     f"{growth_vs_ready:+.1f} MB from ready ({hwm_ready / 1024:.0f} MB), the job's own peak "
                     f"{growth_vs_submit:+.1f} MB over its RSS at submit"}


def poison_job(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    stack.wait_workers_ready()
    started = time.monotonic()
    job_id = stack.submit(long_recording(args.long_repeats), "poison.wav")
    deaths: list[dict[str, Any]] = []
    last_attempt = 0

    def tick() -> None:
        nonlocal last_attempt
        rec = stack.record(job_id)
        if not isinstance(rec, JobRecord) or rec.status.value != "processing" or rec.attempts <= last_attempt:
            return
        slot = stack.slot_for(rec.worker)
        if slot is None or not slot.alive():
            return
        slot.kill()
        deaths.append({"worker": slot.name, "life": slot.lives, "attempt": rec.attempts, "stage": rec.stage.value,
                       "at_s": round(time.monotonic() - started, 1)})
        log(f"5: poison killed {slot.name} life {slot.lives} (attempt {rec.attempts}, {rec.stage.value}); "
            "restarting it")
        last_attempt = rec.attempts
        slot.spawn()

    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        stack.supervise()
        tick()
        statuses = stack.statuses([job_id])
        if statuses is not None and statuses[job_id] in FINAL:
            break
        time.sleep(0.05)
    wall = time.monotonic() - started
    job = stack.public(job_id)
    assert job is not None
    hooks = callbacks(stack, [job_id], [job_id] if job["status"] in FINAL else [])
    code = (job.get("error") or {}).get("code")
    line = (f"5. {len(deaths)} worker deaths one poison job costs: final {job['status']} {code}, attempts "
            f"{job['attempts']} (ENDOSCRIBE_MAX_ATTEMPTS={args.max_attempts}), ended {wall:.0f} s after submit; "
            f"callback statuses {hooks.statuses.get(job_id, [])}; {hooks.for_jobs([job_id])}")
    return {"line": line, "job": job, "deaths": deaths, "wall_s": wall,
            "short": f"one poison job costs {len(deaths)} worker deaths, then fails `{code}` "
                     f"(ENDOSCRIBE_MAX_ATTEMPTS={args.max_attempts})"}


# ---- the run -----------------------------------------------------------------------------------


def become_subreaper() -> None:
    """Orphans of killed workers (an ffmpeg mid-decode) become our children, so cleanup can end them."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def end_adopted_children(known: set[int]) -> None:
    me = str(os.getpid())
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", text, re.M)
        pid = int(status.parent.name)
        if ppid and ppid.group(1) == me and pid not in known:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=20, help="1: jobs submitted")
    parser.add_argument("--long-jobs", type=int, default=6, help="1: how many of them are long recordings")
    parser.add_argument("--long-repeats", type=int, default=6,
                        help="1, 5: a long recording is the 15 s colonoscopy fixture repeated this many times")
    parser.add_argument("--kills", type=int, default=10, help="1: SIGKILLs of busy workers")
    parser.add_argument("--kill-interval", type=float, default=3.0, help="1: least seconds between kills")
    parser.add_argument("--kill-window", type=float, default=300,
                        help="1: kills happen only in this many seconds after the submits; then the jobs drain")
    parser.add_argument("--kill-max-delay", type=float, default=2.0,
                        help="1: a kill waits until the run has been processing 0..this many seconds (random)")
    parser.add_argument("--queued-jobs", type=int, default=30, help="2: jobs queued before Redis is killed")
    parser.add_argument("--settle", type=float, default=0.0,
                        help="2: seconds between the last 202 and the kill (0: at once)")
    parser.add_argument("--busy-jobs", type=int, default=30, help="3: jobs submitted before Redis is killed")
    parser.add_argument("--redis-down", type=float, default=3.0, help="3: seconds Redis stays down")
    parser.add_argument("--bomb-hours", type=int, default=10, help="4: hours of silence in the FLAC bomb")
    parser.add_argument("--max-attempts", type=int, default=3, help="ENDOSCRIBE_MAX_ATTEMPTS for the workers")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a scenario waits for its jobs to end")
    parser.add_argument("--only", default="1,2,3,4,5", help="scenarios to run, e.g. 1,5")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write every figure (and job JSON) here")
    args = parser.parse_args()
    if not 0 <= args.long_jobs <= args.jobs:
        parser.error("--long-jobs must be between 0 and --jobs")
    return args


def main() -> int:
    args = parse_args()
    only = {int(s) for s in args.only.split(",") if s.strip()}
    rng = random.Random(args.seed)
    become_subreaper()
    # A SIGTERM (or a closed terminal) must still run the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    tmp = Path(tempfile.mkdtemp(prefix="endoscribe-faults-"))
    print(f"faults: {platform.node()}, {os.cpu_count()} CPUs, python {platform.python_version()}, logs in {tmp}",
          flush=True)
    t0 = time.monotonic()
    results: dict[int, dict[str, Any]] = {}
    stack: Stack | None = None
    known: set[int] = set()
    try:
        stack = Stack(tmp, args.max_attempts)
        stack.start_workers()
        at_ready = {s.name: (proc_status_kb(s.pid, "VmRSS"), proc_status_kb(s.pid, "VmHWM")) for s in stack.slots}
        log(f"stack up in {time.monotonic() - t0:.0f} s: redis (AOF) {stack.url}, api {stack.base}, "
            f"2 workers, deliverer, receiver {stack.hooks.url}")
        order = [(4, lambda: decoding_bomb(stack, args, at_ready)),
                 (1, lambda: kills_of_busy_workers(stack, args, rng)),
                 (5, lambda: poison_job(stack, args)),
                 (2, lambda: redis_kill_while_queued(stack, args)),
                 (3, lambda: redis_kill_while_busy(stack, args))]
        for number, scenario in order:
            if number not in only:
                continue
            began = time.monotonic()
            results[number] = scenario()
            results[number]["scenario_s"] = round(time.monotonic() - began, 1)
            print(results[number]["line"], flush=True)
            results[number]["cancelled_leftovers"] = stack.cancel_leftovers()
        wall = time.monotonic() - t0
        exits = stack.exits
        print(f"\nworkers that exited on their own (not the bench's kills): {len(exits)}", flush=True)
        for e in exits:
            print(f"  {e.worker} life {e.life} rc={e.code}: ...{e.tail[-400:]!r}", flush=True)
        print(f"\n--- summary (for a new page in docs/benchmarks/) ---\n"
              f"Fault benchmark (`.venv/bin/python bench/faults.py`, {os.cpu_count()} CPUs, tiny.en on CPU, "
              f"Redis with AOF everysec, 2 workers, {wall / 60:.1f} min):", flush=True)
        for number in sorted(results):
            print(f"- {results[number]['short']}", flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                             "wall_s": wall, "results": results,
                                             "exits": [e.__dict__ for e in exits]}, indent=2, default=str))
        return 0
    finally:
        if stack is not None:
            known = {s.pid for s in stack.slots if s.proc is not None}
            stack.close()
        end_adopted_children(known)
        print(f"wall time {time.monotonic() - t0:.0f} s; every process stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
