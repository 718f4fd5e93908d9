"""Operator endpoints: liveness, readiness and the workers' GPU diagnostics."""

from __future__ import annotations

import json
import time
from typing import Any

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RedisDep, TenantDep
from api.errors import error_envelope
from core import keys
from core.errors import ErrorCode

router = APIRouter(tags=["system"])


def live_worker_names(client: redis.Redis) -> list[str]:
    """Workers whose heartbeat has not expired, from the registry (no SCAN: cheap at any key count)."""
    names = client.zrangebyscore(keys.WORKERS, time.time(), "+inf")
    return sorted(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def live_workers(client: redis.Redis) -> list[dict[str, Any]]:
    """Every live worker's last heartbeat."""
    names = live_worker_names(client)
    if not names:
        return []
    return [json.loads(raw) for raw in client.mget([keys.worker_key(n) for n in names]) if raw is not None]


@router.get("/health")
def health() -> dict[str, str]:
    """The API process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Redis or every worker is down"}})
def ready(client: RedisDep) -> JSONResponse:
    """Redis answers and at least one worker is alive."""
    try:
        workers = client.zcount(keys.WORKERS, time.time(), "+inf")
    except redis.RedisError as exc:
        return _not_ready(f"redis is unreachable: {exc.__class__.__name__}")
    if not workers:
        return _not_ready("no transcription worker is alive; start one (make up, or the worker service)")
    return JSONResponse({"status": "ready", "workers": workers})


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "not_ready", **error_envelope(ErrorCode.NOT_READY, reason)}, status_code=503)


@router.get("/gpu-info", responses={401: {"description": "missing or invalid API key"}})
def gpu_info(client: RedisDep, _: TenantDep) -> dict[str, list[dict[str, Any]]]:
    """One entry per live worker, from the heartbeats workers write every few seconds.

    Needs an API key when keys are configured: it names the workers' hosts and GPUs."""
    return {"workers": live_workers(client)}
