"""Real services for tests: redis-server, Celery workers and the API as subprocesses on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import redis

from core import keys
from tests.polling import NOT_LISTENING, eventually

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TEST_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A child process whose output goes to a log file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.log = log
        self._logfile = log.open("wb")
        self.proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=self._logfile, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._logfile.close()

    def output(self) -> str:
        if not self._logfile.closed:
            self._logfile.flush()
        return self.log.read_text(errors="replace")


def service_env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENDOSCRIBE_")}
    env.update({
        "REDIS_URL": redis_url,
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "ENDOSCRIBE_HEARTBEAT_SECONDS": "1",
        # Test APIs run without keys unless a test sets them (production refuses that).
        "ENDOSCRIBE_DEV_MODE": "true",
        # Recovery acts within seconds, not the production half-minute.
        "ENDOSCRIBE_SWEEP_SECONDS": "1",
        "ENDOSCRIBE_REQUEUE_GRACE_SECONDS": "2",
        # Test receivers listen on loopback over plain http, and retries must come quickly.
        "ENDOSCRIBE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "ENDOSCRIBE_WEBHOOK_ALLOW_PRIVATE": "true",
        "ENDOSCRIBE_WEBHOOK_ALLOW_HTTP": "true",
        "ENDOSCRIBE_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
        "ENDOSCRIBE_WEBHOOK_POLL_SECONDS": "0.1",
        "ENDOSCRIBE_WEBHOOK_TIMEOUT_SECONDS": "1",
        "ENDOSCRIBE_WEBHOOK_DNS_TIMEOUT_SECONDS": "1",
    })
    env.update(extra)
    return env


def start_redis(tmp: Path, *extra: str, port: int | None = None) -> tuple[Process, str]:
    """A redis-server on a free port (or `port`, to restart one), persisting nothing unless `extra` says."""
    port = port or free_port()
    proc = Process(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp), *extra],
        dict(os.environ), tmp / f"redis-{port}.log",
    )
    url = f"redis://127.0.0.1:{port}/0"
    eventually(lambda: redis.Redis.from_url(url).ping(), 10, "redis-server", ignoring=NOT_LISTENING)
    return proc, url


def start_worker(redis_url: str, tmp: Path, name: str, **env: str) -> Process:
    args = [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "-P", "solo", "-c", "1",
            "-Q", "transcribe", "-n", f"{name}@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
    proc = Process(args, service_env(redis_url, **env), tmp / f"worker-{name}.log")
    client = redis.Redis.from_url(redis_url)

    def registered() -> bool:
        if not proc.alive():
            raise RuntimeError(f"worker {name} exited:\n{proc.output()[-3000:]}")
        return any(name.encode() in k for k in client.scan_iter(match=keys.WORKER_PATTERN))

    eventually(registered, 180, lambda: f"worker {name} reporting ready:\n{proc.output()[-3000:]}")
    return proc


def start_api(redis_url: str, tmp: Path, **env: str) -> tuple[Process, str]:
    port = free_port()
    if env.get("ENDOSCRIBE_API_KEYS"):
        # An API with keys builds its URLs on its public URL alone (and does not start without one).
        env.setdefault("ENDOSCRIBE_PUBLIC_URL", f"http://127.0.0.1:{port}")
    proc = Process(
        [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(port), "--ws-max-size", "32768"],
        service_env(redis_url, **env), tmp / f"api-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"
    eventually(lambda: httpx.get(f"{base}/health").status_code == 200, 30, "api", ignoring=NOT_LISTENING)
    return proc, base


def start_deliverer(redis_url: str, tmp: Path, name: str = "deliverer", **env: str) -> Process:
    proc = Process([sys.executable, "-m", "webhooks.deliverer"], service_env(redis_url, **env), tmp / f"{name}.log")
    eventually(lambda: "polling" in proc.output() or not proc.alive(), 20, "webhook deliverer")
    if not proc.alive():
        raise RuntimeError(f"deliverer exited:\n{proc.output()}")
    return proc


S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
"""Credentials moto accepts; what `fly storage create` sets for Tigris, with real values."""


def start_s3(tmp: Path, bucket: str = "audio") -> tuple[Process, str]:
    """moto's S3 API server on a free loopback port, with `bucket` created; returns it and its endpoint."""
    port = free_port()
    proc = Process([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], {**os.environ, **S3_ENV},
                   tmp / f"s3-{port}.log")
    endpoint = f"http://127.0.0.1:{port}"
    eventually(lambda: httpx.get(f"{endpoint}/moto-api/").status_code == 200, 30, "moto S3 server",
               ignoring=NOT_LISTENING)
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return proc, endpoint


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name=S3_ENV["AWS_REGION"],
                        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])


def s3_api_env(endpoint: str, url: str = "s3://audio/uploads") -> dict[str, str]:
    """What an API or worker process needs to keep audio in the moto server."""
    return {**S3_ENV, "ENDOSCRIBE_AUDIO_STORE_URL": url, "ENDOSCRIBE_AUDIO_STORE_S3_ENDPOINT_URL": endpoint}
