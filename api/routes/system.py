"""Operator endpoints: liveness, readiness and the workers' GPU diagnostics."""

from __future__ import annotations

import json
from typing import Any

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import RedisDep
from core import keys

router = APIRouter(tags=["system"])


def live_workers(client: redis.Redis) -> list[dict[str, Any]]:
    """Every worker whose heartbeat has not expired."""
    names = sorted(client.scan_iter(match=keys.WORKER_PATTERN, count=100))
    if not names:
        return []
    return [json.loads(raw) for raw in client.mget(names) if raw is not None]


@router.get("/health")
def health() -> dict[str, str]:
    """The API process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "Redis or every worker is down"}})
def ready(client: RedisDep) -> JSONResponse:
    """Redis answers and at least one worker is alive."""
    try:
        client.ping()
        workers = live_workers(client)
    except redis.RedisError as exc:
        return _not_ready(f"redis is unreachable: {exc.__class__.__name__}")
    if not workers:
        return _not_ready("no transcription worker is alive; start one (make up, or the worker service)")
    return JSONResponse({"status": "ready", "workers": len(workers)})


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "not_ready", "error": {"code": "not_ready", "message": reason}}, status_code=503)


@router.get("/gpu-info")
def gpu_info(client: RedisDep) -> dict[str, list[dict[str, Any]]]:
    """One entry per live worker, from the heartbeats workers write every few seconds."""
    return {"workers": live_workers(client)}
