"""What one scrape of the cluster's figures costs as the queue grows.

Starts a real redis-server on loopback, stores `--open` jobs through the job store (queued, never run),
and times the collector the API's `/metrics` runs at each scrape (queue depth, open jobs by status,
job totals): mean of `--runs` scrapes at each size.

    .venv/bin/python bench/metrics_scrape.py                    # 0, 1000 and 10000 open jobs
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402

from core import keys  # noqa: E402
from core.cluster_metrics import ClusterCollector  # noqa: E402
from core.job_store import JobStore, utcnow  # noqa: E402
from core.jobs import JobRecord  # noqa: E402
from tests.services import start_redis  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open", type=int, nargs="+", default=[0, 1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp))
        try:
            client = redis.Redis.from_url(url)
            store = JobStore(client, 3600)
            registry = CollectorRegistry()
            registry.register(ClusterCollector(client))
            for size in sorted(args.open):
                while client.zcard(keys.OPEN_JOBS) < size:
                    store.create(JobRecord(id=str(uuid.uuid4()), created_at=utcnow(), audio_format="wav"))
                generate_latest(registry)
                started = time.perf_counter()
                for _ in range(args.runs):
                    generate_latest(registry)
                ms = (time.perf_counter() - started) / args.runs * 1000
                print(f"{size:>6} open jobs: {ms:6.1f} ms per scrape")
        finally:
            proc.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
