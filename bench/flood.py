"""Backpressure under a flood: 429/503 rates, and what the flood does to `/health` latency.

Starts a real redis-server and the API on loopback (one API key, the default quotas, a low queue depth
so the 503 is reached), with a worker heartbeat so `/ready` answers 200 while no worker runs. Then:

1. idle: only a probe, GET /health every 20 ms, for `--idle` seconds;
2. flood: the same probe, while `--clients` concurrent clients of one key submit small jobs as fast as
   they are answered and as many more GET /ready (no key) and GET /health, for `--flood` seconds.

It prints what the flood was answered (per second and as shares of each kind) and the probe's /health
latency in both phases, with the flood/idle ratio of each percentile.

    .venv/bin/python bench/flood.py
    .venv/bin/python bench/flood.py --clients 64 --flood 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402

from tests.services import start_api, start_redis  # noqa: E402
from worker.celery.heartbeat import Heartbeat  # noqa: E402

KEY = "flood-bench-key"
AUDIO = (ROOT / "tests" / "fixtures" / "summary.ogg").read_bytes()
PROBE_INTERVAL = 0.02


def probe(base: str, stop: threading.Event, latencies: list[float]) -> None:
    """GET /health every PROBE_INTERVAL on its own connection; each latency in ms (timeouts count 10 s)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                client.get("/health")
                latencies.append((time.perf_counter() - started) * 1000)
            except httpx.HTTPError:
                latencies.append(10_000.0)
            stop.wait(max(0.0, PROBE_INTERVAL - (time.perf_counter() - started)))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def flood(base: str, clients: int, seconds: float) -> dict[str, Counter[str]]:
    """`clients` submitters of one key, and as many /ready and /health clients, for `seconds`."""
    answers: dict[str, Counter[str]] = {"submit": Counter(), "ready": Counter(), "health": Counter()}
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=3 * clients, max_keepalive_connections=3 * clients)

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def loop(kind: str) -> None:
            while time.monotonic() < deadline:
                try:
                    if kind == "submit":
                        r = await client.post("/v1/jobs", files={"file": ("a.ogg", AUDIO)},
                                              headers={"Authorization": f"Bearer {KEY}"})
                    else:
                        r = await client.get(f"/{kind}")
                except httpx.HTTPError as exc:
                    answers[kind][exc.__class__.__name__] += 1
                    continue
                code = r.json().get("error", {}).get("code", "") if r.status_code >= 400 else ""
                answers[kind][f"{r.status_code} {code}".strip()] += 1

        await asyncio.gather(*(loop(kind) for kind in answers for _ in range(clients)))
    return answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients of each kind")
    parser.add_argument("--idle", type=float, default=5)
    parser.add_argument("--flood", type=float, default=10)
    parser.add_argument("--queue-depth", type=int, default=50, help="ENDOSCRIBE_QUOTA_MAX_QUEUE_DEPTH")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        redis_proc, url = start_redis(tmp)
        api, base = start_api(url, tmp, ENDOSCRIBE_API_KEYS=json.dumps([KEY]),
                              ENDOSCRIBE_QUOTA_MAX_QUEUE_DEPTH=str(args.queue_depth))
        try:
            Heartbeat(redis.Redis.from_url(url), "bench-worker", 60, lambda: {"device": "cpu"}).beat()
            httpx.get(f"{base}/ready").raise_for_status()
            phases: dict[str, list[float]] = {"idle": [], "flood": []}
            for phase in ("idle", "flood"):
                stop = threading.Event()
                prober = threading.Thread(target=probe, args=(base, stop, phases[phase]))
                prober.start()
                if phase == "idle":
                    time.sleep(args.idle)
                else:
                    answers = asyncio.run(flood(base, args.clients, args.flood))
                stop.set()
                prober.join()
        finally:
            api.stop()
            redis_proc.stop()

    print(f"flood: {args.clients} clients each of one key's POST /v1/jobs, GET /ready and GET /health, "
          f"{args.flood:g} s; queue depth limit {args.queue_depth}")
    for kind, counts in answers.items():
        total = sum(counts.values())
        shares = ", ".join(f"{status}: {n} ({n / total:.0%}, {n / args.flood:.0f}/s)"
                           for status, n in counts.most_common())
        print(f"  {kind:6} {total / args.flood:6.0f} req/s  {shares}")
    submits = answers["submit"]
    total = sum(submits.values())
    r429 = sum(n for s, n in submits.items() if s.startswith("429"))
    r503 = sum(n for s, n in submits.items() if s.startswith("503"))
    r5xx = sum(n for kind in answers.values() for s, n in kind.items() if s[:1] == "5" and not s.startswith("503"))
    print(f"  submissions: 429 {r429 / total:.1%}, 503 {r503 / total:.1%}; other 5xx anywhere: {r5xx}")
    idle, busy = phases["idle"], phases["flood"]
    print(f"/health probe every {PROBE_INTERVAL * 1000:.0f} ms: idle n={len(idle)}, flood n={len(busy)}")
    for q in (50, 99):
        a, b = percentile(idle, q), percentile(busy, q)
        print(f"  p{q}: idle {a:7.1f} ms   flood {b:7.1f} ms   ratio {b / a:5.1f}x")
    print(f"  max: idle {max(idle):7.1f} ms   flood {max(busy):7.1f} ms")
    return 0 if r5xx == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
