"""Stream tokens never reach a log: the API under a real uvicorn process (its own access log, as an
operator runs it), hit on its SSE and WebSocket URLs with `?token=`, then its log read back."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

from core.logging_setup import RedactingFilter
from tests.services import start_api, start_redis

TOKEN = "1999999999.c2VjcmV0LXN0cmVhbS10b2tlbi12YWx1ZQ"


def test_stream_urls_reach_the_access_log_without_their_query_string(tmp_path: Path) -> None:
    redis_proc, url = start_redis(tmp_path)
    api_proc, base = start_api(url, tmp_path)
    try:
        session_id = str(uuid.uuid4())
        events = httpx.get(f"{base}/v1/sessions/{session_id}/events?token={TOKEN}&after=0")
        assert events.status_code == 401
        ws_base = base.replace("http://", "ws://")
        with pytest.raises((InvalidStatus, WebSocketException, OSError)):
            with connect(f"{ws_base}/v1/sessions/{session_id}/stream?token={TOKEN}", open_timeout=5) as ws:
                ws.recv(5)
                ws.recv(5)
        assert httpx.get(f"{base}/v1/jobs?xtoken={TOKEN}").status_code == 200
    finally:
        api_proc.stop()
        redis_proc.stop()
    log = api_proc.output()
    assert f"/v1/sessions/{session_id}/events" in log
    assert f"/v1/sessions/{session_id}/stream" in log
    assert TOKEN not in log and "c2VjcmV0" not in log, log


def test_a_token_in_any_logged_url_is_redacted() -> None:
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, 'HTTP Request: GET %s "%s"',
                               (f"http://h/v1/sessions/s/events?after=0&token={TOKEN}", "200 OK"), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == 'HTTP Request: GET http://h/v1/sessions/s/events?after=0&token=[redacted] "200 OK"'
