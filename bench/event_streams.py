"""What many open `/v1/jobs/{id}/events` streams cost Redis, and how soon a change reaches them.

Starts a real redis-server and the API (a uvicorn process) on loopback, submits `--jobs` jobs (no
worker: they stay queued), opens one event stream per job, then moves every job once the way a worker
does and measures how long each change takes to arrive. Redis's own counters give the commands and
the round trips (network reads) the API made per second while the streams were open and idle.

    .venv/bin/python bench/event_streams.py --jobs 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from httpx_sse import connect_sse  # noqa: E402

from core.job_store import Claim, JobStore  # noqa: E402
from core.jobs import JobStage  # noqa: E402
from tests.services import start_api, start_redis  # noqa: E402

AUDIO = (ROOT / "tests" / "fixtures" / "summary.ogg").read_bytes()


def follow(base: str, job_id: str, seen: dict[str, float], opened: threading.Barrier) -> None:
    with httpx.Client(base_url=base, timeout=60) as client, \
            connect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
        for n, event in enumerate(source.iter_sse()):
            if n == 0:
                opened.wait()
            elif json.loads(event.data)["stage"] == "transcribing":
                seen[job_id] = time.monotonic()
                return


def server_counters(client: redis.Redis) -> tuple[int, int]:
    """Commands processed and network reads (one per client round trip, give or take) so far."""
    info = client.info("stats")
    return int(info["total_commands_processed"]), int(info.get("total_reads_processed", 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="event-streams-"))
    redis_proc, url = start_redis(tmp)
    api, base = start_api(url, tmp, ENDOSCRIBE_MAX_EVENT_STREAMS_PER_KEY="0",
                          ENDOSCRIBE_QUOTA_MAX_JOBS_IN_FLIGHT="0", ENDOSCRIBE_QUOTA_REQUEST_RATE="")
    client, store = redis.Redis.from_url(url), JobStore(redis.Redis.from_url(url), 3600)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            ids = [http.post("/v1/jobs", files={"file": ("a.ogg", AUDIO)}).json()["id"] for _ in range(args.jobs)]
        seen: dict[str, float] = {}
        opened = threading.Barrier(args.jobs + 1)
        threads = [threading.Thread(target=follow, args=(base, i, seen, opened), daemon=True) for i in ids]
        for thread in threads:
            thread.start()
        opened.wait(timeout=60)
        commands, reads = server_counters(client)
        time.sleep(args.idle_seconds)
        commands_after, reads_after = server_counters(client)
        # What this script itself sent in between (the two INFO calls) is negligible.
        print(f"{args.jobs} open streams, idle for {args.idle_seconds:g} s: "
              f"{(commands_after - commands) / args.idle_seconds:.0f} Redis commands/s, "
              f"{(reads_after - reads) / args.idle_seconds:.1f} round trips/s")
        moved: dict[str, float] = {}
        for job_id in ids:
            assert store.claim(job_id, "bench", "bench", 60, 3) is Claim.CLAIMED
            store.update(job_id, "bench", stage=JobStage.TRANSCRIBING, progress=10.0)
            moved[job_id] = time.monotonic()
        for thread in threads:
            thread.join(timeout=30)
        delays = sorted(seen[i] - moved[i] for i in ids if i in seen)
        print(f"change → event delay over {len(delays)} streams: median {statistics.median(delays) * 1000:.0f} ms, "
              f"max {delays[-1] * 1000:.0f} ms (poll interval 500 ms)")
    finally:
        api.stop()
        redis_proc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
