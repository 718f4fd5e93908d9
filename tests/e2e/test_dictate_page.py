"""The `/dictate` page in a real headless Chromium (Debian's chromium-headless-shell): its fake microphone
plays a fixture WAV, the page streams it to a live session, and the final text appears on the page."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.test_transcription import word_error_rate
from tests.jobs import FIXTURES, reference, wait_for_status
from tests.services import free_port, wait_for

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")


class Page:
    """One tab, driven over the DevTools protocol."""

    def __init__(self, port: int) -> None:
        target = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json").json() if t["type"] == "page")
        self.ws = connect(target["webSocketDebuggerUrl"], max_size=2**24).__enter__()
        self.calls = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.calls:
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium-headless-shell (or chromium)")
def test_the_page_streams_the_microphone_and_shows_the_final_text(
    api_url: str, client: httpx.Client, tmp_path: Path
) -> None:
    port = free_port()
    assert CHROMIUM is not None
    browser = subprocess.Popen([
        CHROMIUM, f"--remote-debugging-port={port}", f"--user-data-dir={tmp_path}", "--no-sandbox",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={FIXTURES / 'summary.wav'}%noloop",
        "--autoplay-policy=no-user-gesture-required", f"{api_url}/dictate?autostart=1&stop_after=9.5",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any(t["type"] == "page" for t in httpx.get(f"http://127.0.0.1:{port}/json").json()),
                 20, "chromium")
        page = Page(port)
        deadline = time.monotonic() + 90
        while not page.evaluate("document.body.dataset.ended || ''"):
            assert time.monotonic() < deadline, page.evaluate("document.body.innerText")
            time.sleep(0.5)
        shown = page.evaluate("document.getElementById('finals').textContent")
        job_id = page.evaluate("document.body.dataset.ended")
        # The README's picture (docs/dictate.png) is this screenshot.
        (tmp_path / "dictate.png").write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
    finally:
        browser.terminate()
        browser.wait(10)

    assert word_error_rate(reference("summary"), shown) <= 0.45, shown
    assert wait_for_status(client, job_id)["status"] == "completed"
