"""The API as the command uses it: plain methods over httpx, errors as `ApiError` with the server's message."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
from httpx_sse import SSEError, connect_sse

from cli.config import Config

FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
"""`core.jobs.FINAL_STATUSES` as the API spells them (a test holds them equal): importing the job model
would build every pydantic schema, half a second on each start of the command."""

# How often a job is polled when its event stream is unavailable (an older server, the per-key stream
# limit reached, the stream cut): well under the per-key request rate.
POLL_SECONDS = 1.0


class ApiError(Exception):
    """The API refused a request (or could not be reached); `str()` is what to show the person."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"http_{response.status_code}", response.text.strip()[:300] or response.reason_phrase
    raise ApiError(f"{message} (HTTP {response.status_code}, {code})", response.status_code, code)


class Api:
    """One connection pool to the API, with the key on every request."""

    def __init__(self, config: Config, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.http = httpx.Client(base_url=config.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a 429 is waited out as its Retry-After says (a few times), connection errors raise."""
        for _ in range(5):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise ApiError(f"cannot reach the API at {self.http.base_url}: {exc.__class__.__name__} {exc}") from exc
            if response.status_code != 429 or "file" in kwargs.get("files", {}):
                break
            time.sleep(min(float(response.headers.get("retry-after", "1")), 30))
        _raise_for(response)
        return response

    # ---- jobs ----------------------------------------------------------------------------------

    def submit(self, path: Path, reader: IO[bytes], fields: dict[str, str]) -> dict[str, Any]:
        """Upload one recording as a job (`reader` is the open file, perhaps counting what is read)."""
        # No read timeout while the body goes up: a large file over a slow link takes what it takes.
        response = self.request("POST", "/v1/jobs", files={"file": (path.name, reader)}, data=fields,
                                timeout=httpx.Timeout(30.0, write=None, read=300.0))
        body: dict[str, Any] = response.json()
        return body

    def job(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.request("GET", f"/v1/jobs/{job_id}").json()
        return body

    def jobs(self, statuses: list[str], limit: int, cursor: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "status": statuses}
        if cursor:
            params["cursor"] = cursor
        body: dict[str, Any] = self.request("GET", "/v1/jobs", params=params).json()
        return body

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a job; None when the server erased it instead (it had ended)."""
        response = self.request("DELETE", f"/v1/jobs/{job_id}")
        return None if response.status_code == 204 else dict(response.json())

    def result(self, job_id: str, fmt: str) -> str:
        return self.request("GET", f"/v1/jobs/{job_id}/result", params={"format": fmt}).text

    def workers(self) -> list[dict[str, Any]]:
        workers: list[dict[str, Any]] = self.request("GET", "/gpu-info").json()["workers"]
        return workers

    # ---- following a job -----------------------------------------------------------------------

    def follow(self, job_id: str, poll: bool = False) -> Iterator[dict[str, Any]]:
        """The job's state (`status`, `stage`, `progress`, `error`) now and as it changes, until it ends.
        Over its event stream; by polling when asked, or when the stream is unavailable or cut."""
        last: dict[str, Any] | None = None
        if not poll:
            try:
                for state in self._events(job_id):
                    last = state
                    yield state
            except (httpx.HTTPError, SSEError, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status not in (404, 405, 429, 502, 503, 504):
                    raise
                if isinstance(exc, ApiError) and exc.code == "not_found":
                    raise
        while last is None or last["status"] not in FINAL_STATUSES:
            if last is not None:
                time.sleep(POLL_SECONDS)
            job = self.job(job_id)
            state = {k: job.get(k) for k in ("id", "status", "stage", "progress", "error")}
            if state != last:
                yield state
            last = state

    def _events(self, job_id: str) -> Iterator[dict[str, Any]]:
        timeout = httpx.Timeout(30.0, read=60.0)  # the server pings every 15 s
        with connect_sse(self.http, "GET", f"/v1/jobs/{job_id}/events", timeout=timeout) as source:
            if not source.response.is_success:
                source.response.read()
                _raise_for(source.response)
            for event in source.iter_sse():
                data = json.loads(event.data)
                if event.event == "error":
                    error = data["error"]
                    raise ApiError(f"{error['message']} ({error['code']})", 404, error["code"])
                if event.event == "job":
                    yield data

