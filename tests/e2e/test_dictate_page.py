"""The `/dictate` page in a real headless Chromium (Debian's chromium-headless-shell): its fake microphone
plays a fixture WAV, the page streams it to a live session, and the final text appears on the page;
all under the page's Content-Security-Policy, which the page and the docs pages must never trip."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.test_transcription import word_error_rate
from tests.jobs import FIXTURES, reference, wait_for_status
from tests.polling import NOT_LISTENING, eventually
from tests.services import free_port

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium-headless-shell (or chromium)")

# Run by the browser before each document's own scripts (and outside its CSP): records what the CSP
# refused and any uncaught error, so a test can assert the page ran whole under its policy.
WATCH = """
window.__refused = []; window.__errors = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__refused.push(`${e.effectiveDirective} ${e.blockedURI}`));
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));
"""


class Page:
    """One tab, driven over the DevTools protocol."""

    def __init__(self, port: int) -> None:
        target = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json").json() if t["type"] == "page")
        self.ws = connect(target["webSocketDebuggerUrl"], max_size=2**24).__enter__()
        self.calls = 0
        self.call("Page.enable")
        self.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        self.ws.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.calls:
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str, *, gesture: bool = False) -> Any:
        """The expression's value; `gesture` runs it as if the user had just clicked (user activation)."""
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                         userGesture=gesture)["result"].get("value")

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_until(f"location.href === {json.dumps(url)} && document.readyState === 'complete'", 20)

    def wait_until(self, expression: str, timeout: float) -> None:
        eventually(lambda: self.evaluate(expression), timeout,
                   lambda: f"{expression} (page: {self.evaluate('document.body.innerText')!r})", interval=0.2)

    def trouble(self) -> dict[str, list[str]]:
        """What the CSP refused and what threw, since the page loaded."""
        return {"refused": self.evaluate("window.__refused"), "errors": self.evaluate("window.__errors")}


@contextmanager
def browser(profile: Path, microphone: Path) -> Iterator[Page]:
    """A headless Chromium whose fake microphone plays `microphone` once, and its one tab."""
    port = free_port()
    assert CHROMIUM is not None
    process = subprocess.Popen([
        CHROMIUM, f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--no-sandbox",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}%noloop", "about:blank",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        eventually(lambda: any(t["type"] == "page" for t in httpx.get(f"http://127.0.0.1:{port}/json").json()),
                   20, "chromium", ignoring=NOT_LISTENING)
        yield Page(port)
    finally:
        # Its renderer and zygote processes outlive a terminated parent: end its whole process group.
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
        eventually(lambda: not _group_alive(process.pid), 10, "every Chromium process gone")


@pytest.fixture()
def page(tmp_path: Path) -> Iterator[Page]:
    with browser(tmp_path / "profile", FIXTURES / "summary.wav") as tab:
        yield tab


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_page_streams_the_microphone_and_shows_the_final_text(
    api_url: str, client: httpx.Client, page: Page, tmp_path: Path
) -> None:
    page.open(f"{api_url}/dictate")
    page.evaluate("document.getElementById('key').value = 'typed-key'")  # a dev server takes any key

    page.evaluate("document.getElementById('start').click()", gesture=True)  # the microphone needs a click
    page.wait_until("document.getElementById('status').textContent === 'Listening…'", 30)
    time.sleep(9.5)  # the fixture's length
    page.evaluate("document.getElementById('stop').click()", gesture=True)
    page.wait_until("document.body.dataset.ended || ''", 90)

    shown = page.evaluate("document.getElementById('finals').textContent")
    job_id = page.evaluate("document.body.dataset.ended")
    stored = page.evaluate("[sessionStorage.getItem('endoscribe-key'), localStorage.getItem('endoscribe-key')]")
    # The README's picture (docs/dictate.png) is this screenshot.
    (tmp_path / "dictate.png").write_bytes(base64.b64decode(page.call("Page.captureScreenshot")["data"]))
    assert page.trouble() == {"refused": [], "errors": []}
    assert stored == ["typed-key", None]  # kept for this tab only: "remember" was not ticked
    assert word_error_rate(reference("summary"), shown) <= 0.45, shown
    assert not re.search(r"[.?!] [a-z]", shown), shown  # finals joined as sentences: a capital after a stop
    assert wait_for_status(client, job_id)["status"] == "completed"


def test_the_key_is_remembered_on_the_device_only_when_asked(api_url: str, page: Page) -> None:
    page.open(f"{api_url}/dictate")
    page.evaluate("document.getElementById('remember').click(); document.getElementById('key').value = 'k1'")
    page.evaluate("keep('k1')")
    page.open(f"{api_url}/dictate?again")

    assert page.evaluate("[document.getElementById('key').value, document.getElementById('remember').checked]") \
        == ["k1", True]
    page.evaluate("document.getElementById('remember').click()")  # unticked: forgotten on the device
    assert page.evaluate("localStorage.getItem('endoscribe-key')") is None
    assert page.trouble() == {"refused": [], "errors": []}


def test_a_link_cannot_start_the_microphone(api_url: str, page: Page) -> None:
    page.open(f"{api_url}/dictate?autostart=1&stop_after=1")
    time.sleep(2)  # time for an autostart to begin: none may

    assert page.evaluate("document.getElementById('status').textContent") == "Ready."
    assert page.evaluate("document.getElementById('start').disabled") is False
    assert page.trouble() == {"refused": [], "errors": []}


@pytest.mark.parametrize(("path", "rendered", "refused"), [
    ("/docs", "document.querySelector('.swagger-ui .info .title')?.textContent.includes('EndoScribe')", []),
    # ReDoc's "API docs by Redocly" logo comes from its CDN: refused, as anything from elsewhere is.
    ("/redoc", "document.querySelector('redoc h1')?.textContent.includes('EndoScribe')",
     ["img-src https://cdn.redoc.ly/redoc/logo-mini.svg"]),
])
def test_the_docs_pages_render_under_their_policy(
        api_url: str, page: Page, path: str, rendered: str, refused: list[str]) -> None:
    page.open(f"{api_url}{path}")
    page.wait_until(f"!!({rendered})", 30)
    time.sleep(1)  # what a page loads after it first paints

    assert page.trouble() == {"refused": refused, "errors": []}


# tiny.en through the fake microphone sometimes hears "insert" as "and certain" (CI, 2026-12-04), and
# then no template is inserted: the recognition is measured by bench/commands.py and tested over the
# WebSocket in test_live_commands.py; here the page's drawing is what is under test.
@pytest.mark.xfail(reason="tiny.en may mishear 'insert' through the fake microphone", strict=False)
def test_with_a_note_type_the_page_shows_commands_as_they_apply_and_then_the_jobs_note(
    api_url: str, client: httpx.Client, tmp_path: Path
) -> None:
    from tests.e2e.test_live_commands import COLONOSCOPY, dictation_pcm, is_meant

    assert client.post("/v1/templates", json=COLONOSCOPY).status_code == 201
    pcm = dictation_pcm()
    microphone = tmp_path / "dictation.wav"
    with wave.open(str(microphone), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(16000), wav.writeframes(pcm)

    with browser(tmp_path / "profile", microphone) as tab:
        tab.open(f"{api_url}/dictate")
        tab.evaluate("document.getElementById('note_type').value = 'colonoscopy'")
        tab.evaluate("document.getElementById('start').click()", gesture=True)
        tab.wait_until("document.getElementById('status').textContent === 'Listening…'", 30)
        listening = time.monotonic()
        # Once the template is in, the field dictation fills next is highlighted.
        tab.wait_until("document.querySelector('#finals .template mark') !== null", 60)
        highlighted = tab.evaluate("document.querySelector('#finals .template mark').textContent")
        time.sleep(max(0.0, listening + len(pcm) / 32000 + 0.5 - time.monotonic()))
        tab.evaluate("document.getElementById('stop').click()", gesture=True)
        tab.wait_until("document.body.dataset.result || ''", 120)

        commands = tab.evaluate("[...document.querySelectorAll('#commands li')].map((li) => li.textContent)")
        struck = tab.evaluate("[...document.querySelectorAll('#finals .struck')].map((s) => s.textContent)")
        templates = tab.evaluate("document.querySelectorAll('#finals .template').length")
        shown = tab.evaluate("[...document.querySelectorAll('#finals span:not(.struck)')]"
                             ".map((s) => s.textContent).join('').trim()")
        note = tab.evaluate("document.getElementById('result-text').textContent")
        link = tab.evaluate("document.getElementById('result-link').href")
        job_id = tab.evaluate("document.body.dataset.result")
        (tmp_path / "dictate-commands.png").write_bytes(base64.b64decode(tab.call("Page.captureScreenshot")["data"]))
        assert tab.trouble() == {"refused": [], "errors": []}

    assert [c.split(":")[0] for c in commands] == ["scratch that", "insert template", "next field",
                                                   "accept defaults"], commands
    assert len(struck) == 1 and struck[0].strip().endswith("was reached."), struck  # scratched, shown struck
    assert templates == 1
    assert highlighted in ("screening", "II"), highlighted  # the indication (or ASA class, once it was filled)
    assert is_meant(shown), shown
    assert is_meant(note), note
    assert link == f"{api_url}/v1/jobs/{job_id}/result"
