"""Peak memory of the API process while large uploads are in flight.

Starts a real redis-server (and moto's S3 server with `--store s3`) and the API on loopback, reads the
API's resident memory once it is warm, sends `--uploads` generated WAV files of `--mb` MB at once
(the client never holds one), and prints the API's peak resident memory (VmHWM) over the whole run.

    .venv/bin/python bench/upload_memory.py                      # 4 x 200 MB into Redis
    .venv/bin/python bench/upload_memory.py --store s3           # the same into S3 (moto)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.services import s3_api_env, start_api, start_redis, start_s3  # noqa: E402
from tests.uploads import post_concurrently, post_streamed, rss_mb  # noqa: E402

GOAL_MB = 300


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--store", choices=["redis", "s3"], default="redis")
    args = parser.parse_args()
    size = int(args.mb * 1_000_000)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        services = []
        redis_proc, url = start_redis(tmp)
        services.append(redis_proc)
        env = {}
        if args.store == "s3":
            s3_proc, endpoint = start_s3(tmp)
            services.append(s3_proc)
            env = s3_api_env(endpoint)
        api, base = start_api(url, tmp, **env)
        services.insert(0, api)
        try:
            assert post_streamed(base, 1_000_000).status_code == 202  # warm: first request's imports done
            idle, _ = rss_mb(api.proc.pid)
            started = time.perf_counter()
            responses = post_concurrently(base, args.uploads, size)
            seconds = time.perf_counter() - started
            statuses = sorted({r.status_code for r in responses})
            _, peak = rss_mb(api.proc.pid)
            for r in responses:
                httpx.delete(r.json()["status_url"])
        finally:
            for proc in services:
                proc.stop()
    print(f"store={args.store}  {args.uploads} x {args.mb:g} MB uploads at once: statuses {statuses}, "
          f"{args.uploads * size / 1e6 / seconds:.0f} MB/s")
    print(f"API resident memory: idle {idle:.0f} MB, peak {peak:.0f} MB  (goal <= {GOAL_MB} MB)")
    return 0 if statuses == [202] and peak <= GOAL_MB else 1


if __name__ == "__main__":
    sys.exit(main())
