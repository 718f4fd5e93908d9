"""The `/review/{job_id}` page in a real headless Chromium, over a real stack (redis-server, the API with a
key, the session's worker with the bundled model): a colonoscopy dictation submitted to keep its audio,
the page opened with the key typed in, every review flag of the result shown and marked on the words it
is about, a word clicked (and a flag reached by keyboard) playing the kept audio from there, a word
corrected and saved, the note signed, then amended; each step checked against `GET .../document`. All
under the page's Content-Security-Policy, which it must never trip.

`ENDOSCRIBE_SCREENSHOT_DIR=docs .venv/bin/pytest tests/e2e/test_review_page.py` also writes the page's
screenshot there (docs/review.png, shown in the reviewers' guide)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.review_flags import ReviewReason
from tests.e2e.test_dictate_page import CHROMIUM, Page, page  # noqa: F401  (the Chromium fixture)
from tests.jobs import FIXTURES, submit, wait_for_status
from tests.services import Process, start_api

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium-headless-shell (or chromium)")

KEY = "review-page-key"
AUTHOR = "Practitioner/77"


@pytest.fixture(scope="module")
def keyed_api(redis_url: str, service_dir: Path, worker: Process) -> Iterator[str]:
    """An API with one key, on the session's Redis and worker."""
    proc, base = start_api(redis_url, service_dir, ENDOSCRIBE_API_KEYS=json.dumps([KEY]))
    yield base
    proc.stop()


@pytest.fixture(scope="module")
def jobs(keyed_api: str) -> dict[str, str]:
    """The colonoscopy fixture transcribed twice: once keeping its audio for an hour, once not."""
    with httpx.Client(base_url=keyed_api, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as api:
        kept = submit(api, FIXTURES / "colonoscopy.wav", filename="colonoscopy.wav", note_type="colonoscopy",
                      keep_audio_seconds="3600")["id"]
        gone = submit(api, FIXTURES / "colonoscopy.wav", filename="colonoscopy.wav", note_type="colonoscopy")["id"]
        assert [wait_for_status(api, job, timeout=300)["status"] for job in (kept, gone)] == ["completed"] * 2
    return {"kept": kept, "gone": gone}


@pytest.fixture()
def api(keyed_api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_api, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        yield client


def shown(tab: Page, expression: str) -> Any:
    return tab.evaluate(f"JSON.parse(JSON.stringify({expression}))")


def open_note(tab: Page, base: str, job: str, key: str = KEY) -> None:
    tab.open(f"{base}/review/{job}")
    tab.evaluate(f"document.getElementById('key').value = {json.dumps(key)};"
                 f"document.getElementById('author').value = {json.dumps(AUTHOR)}")
    tab.evaluate("document.getElementById('load').click()", gesture=True)


def press(tab: Page, key: str, code: int) -> None:
    for kind in ("keyDown", "keyUp"):
        tab.call("Input.dispatchKeyEvent", type=kind, key=key, code=key, windowsVirtualKeyCode=code)


def edit(tab: Page, expression: str) -> None:
    """Change the note's text in the page as typing would (`t` is its text)."""
    tab.evaluate(f"(() => {{ const box = document.getElementById('text'); const t = box.value;"
                 f" box.value = {expression}; box.dispatchEvent(new Event('input')); }})()")


def click(tab: Page, element_id: str) -> None:
    tab.wait_until(f"!document.getElementById('{element_id}').disabled", 10)
    tab.evaluate(f"document.getElementById('{element_id}').click()", gesture=True)


def test_a_reviewer_hears_every_flag_corrects_signs_and_amends_the_note(
    keyed_api: str, jobs: dict[str, str], api: httpx.Client, page: Page, tmp_path: Path,  # noqa: F811
) -> None:
    job = jobs["kept"]
    result = api.get(f"/v1/jobs/{job}/result").json()
    flags = result["review"]
    # The fixture says "A 5 mm polyp" and "terminal ileum", which the bundled model is unsure of.
    assert {f["reason"] for f in flags} >= {"number_or_unit", "low_word_probability"}, flags

    page.call("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
    open_note(page, keyed_api, job)
    page.wait_until("document.body.dataset.loaded || ''", 30)

    # Every flag of the result is listed, in its order, with its reason's look and meaning.
    listed = shown(page, """[...document.querySelectorAll('#flags li')].map((li) => ({reason: li.dataset.reason,
        segment: +li.dataset.segment, start: +li.dataset.start, end: +li.dataset.end, text: li.dataset.text,
        value: li.dataset.value === undefined ? null : +li.dataset.value, doubt: li.classList.contains('doubt'),
        meaning: li.querySelector('button').title}))""")
    assert listed == [{**f, "value": f.get("value"), "doubt": ReviewReason(f["reason"]).doubt,
                       "meaning": ReviewReason(f["reason"]).meaning} for f in flags]
    # ... and marked on the words it is about: each marked run of words reads as the flag's text.
    words = shown(page, """[...document.querySelectorAll('#transcript .w')].map((w) => ({
        segment: +w.closest('.segment').dataset.segment, i: +w.dataset.i, text: w.textContent,
        flags: (w.dataset.flags || '').split(' ').filter(Boolean).map(Number), doubt: w.classList.contains('doubt'),
        check: w.classList.contains('check'), start: +w.dataset.start}))""")
    assert " ".join(w["text"] for w in words) == result["text"]
    for n, flag in enumerate(flags):
        runs: list[list[dict[str, Any]]] = []
        for w in (w for w in words if n in w["flags"]):
            if runs and runs[-1][-1]["i"] == w["i"] - 1 and runs[-1][-1]["segment"] == w["segment"]:
                runs[-1].append(w)
            else:
                runs.append([w])
        assert [" ".join(w["text"] for w in run) for run in runs] == [flag["text"]] * max(1, len(runs)), flag
        assert all(w["segment"] == flag["segment"] for run in runs for w in run)
        assert all(w["doubt" if ReviewReason(flag["reason"]).doubt else "check"] for run in runs for w in run)

    # The kept audio came from the job's audio route, with the key, and plays where a word is clicked.
    page.wait_until("document.body.dataset.audio || ''", 30)
    assert page.evaluate("document.body.dataset.audio") == "ready"
    fetched = shown(page, "performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/audio'))"
                          ".map((e) => [new URL(e.name).pathname, e.responseStatus])")
    assert fetched == [[f"/v1/jobs/{job}/audio", 200]]
    assert page.evaluate("document.getElementById('audio').src.startsWith('blob:')") is True
    assert page.evaluate("document.getElementById('audio').duration") == pytest.approx(result["duration"], abs=0.3)
    sigmoid = next(w for w in words if w["text"] == "sigmoid")
    spoken = next(w for w in result["segments"][sigmoid["segment"]]["words"] if w["word"] == "sigmoid")
    assert sigmoid["start"] == pytest.approx(spoken["start"], abs=0.001)
    page.evaluate(f"document.querySelector('.segment[data-segment=\"{sigmoid['segment']}\"] "
                  f".w[data-i=\"{sigmoid['i']}\"]').click()", gesture=True)
    now = page.evaluate("document.getElementById('audio').currentTime")
    assert spoken["start"] - 0.01 <= now < spoken["start"] + 1.5, now

    # By keyboard: a doubtful word is a tab stop; focused, it shows its reason; Enter plays it.
    doubtful = next(n for n, f in enumerate(flags) if ReviewReason(f["reason"]).doubt)
    page.evaluate(f"document.querySelector('.w[tabindex=\"0\"][data-flags~=\"{doubtful}\"]').focus()")
    assert ReviewReason(flags[doubtful]["reason"]).meaning in page.evaluate(
        "getComputedStyle(document.activeElement, '::after').content")
    page.evaluate("document.getElementById('audio').pause()")
    press(page, "Enter", 13)
    start = page.evaluate("+document.activeElement.dataset.start")
    page.wait_until(f"Math.abs(document.getElementById('audio').currentTime - {start}) < 1.5", 5)
    press(page, "Escape", 27)
    page.wait_until("document.getElementById('audio').paused", 5)

    # Correct a word and save: version 2, a correction with its word diff, still preliminary.
    assert "5 mm" in result["text"]
    edit(page, "t.replace('5 mm', '6 mm')")
    assert page.evaluate("document.getElementById('sign').disabled") is True  # unsaved text is not signed
    click(page, "save")
    page.wait_until("document.body.dataset.version === '2'", 20)
    document = api.get(f"/v1/jobs/{job}/document").json()
    corrected = result["text"].replace("5 mm", "6 mm")
    assert (document["status"], document["current"]["version"], document["current"]["kind"]) == \
        ("preliminary", 2, "correction")
    assert document["current"]["text"] == corrected and document["current"]["author"] == AUTHOR
    assert [(c["op"], c["removed"], c["added"]) for c in document["current"]["diff"]] == [("replace", "5", "6")]

    # Sign: final, by the author typed in; the page offers no second signature.
    click(page, "sign")
    page.wait_until("document.body.dataset.docStatus === 'final'", 20)
    document = api.get(f"/v1/jobs/{job}/document").json()
    assert (document["status"], document["current"]["version"]) == ("final", 2)
    assert document["current"]["signature"]["author"] == AUTHOR
    assert page.evaluate("document.getElementById('sign').disabled") is True

    # Amend: a reason is asked for; then version 3, an amendment replacing the signed version 2.
    edit(page, "t + ' Repeat colonoscopy in 5 years.'")
    click(page, "save")
    page.wait_until("document.getElementById('status').textContent.startsWith('Say why')", 10)
    assert api.get(f"/v1/jobs/{job}/document").json()["current"]["version"] == 2
    page.evaluate("document.getElementById('reason').value = 'follow-up interval left out'")
    click(page, "save")
    page.wait_until("document.body.dataset.version === '3'", 20)
    document = api.get(f"/v1/jobs/{job}/document").json()
    assert (document["status"], document["current"]["kind"], document["current"]["replaces"]) == \
        ("amended", "amendment", 2)
    assert document["current"]["text"] == f"{corrected} Repeat colonoscopy in 5 years."
    assert document["current"]["reason"] == "follow-up interval left out"
    assert [v["text"] for v in document["versions"]] == [result["text"], corrected, document["current"]["text"]]

    # The page lists what the API keeps: every version (newest first) and the audit trail.
    assert shown(page, "[...document.querySelectorAll('#versions tbody tr')].map((tr) => "
                       "[+tr.dataset.version, tr.dataset.status])") == \
        [[v["version"], v["status"]] for v in reversed(document["versions"])]
    assert shown(page, "[...document.querySelectorAll('#audit li')].map((li) => [li.dataset.action, "
                       "+li.dataset.version])") == [[e["action"], e["version"]] for e in document["audit"]]
    assert [e["action"] for e in document["audit"]] == ["transcribed", "corrected", "signed", "amended"]
    assert page.trouble() == {"refused": [], "errors": []}

    # The guide's picture: the whole page, a doubtful word focused so its meaning shows.
    page.evaluate("document.getElementById('legend').open = true")
    page.evaluate(f"document.querySelector('.w[tabindex=\"0\"][data-flags~=\"{doubtful}\"]').focus()")
    height = page.evaluate("document.documentElement.scrollHeight")
    page.call("Emulation.setDeviceMetricsOverride", width=1200, height=height, deviceScaleFactor=1, mobile=False)
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "review.png").write_bytes(shot)
    if os.environ.get("ENDOSCRIBE_SCREENSHOT_DIR"):
        (Path(os.environ["ENDOSCRIBE_SCREENSHOT_DIR"]) / "review.png").write_bytes(shot)


def test_without_kept_audio_the_page_says_so_and_still_shows_every_flag(
    keyed_api: str, jobs: dict[str, str], api: httpx.Client, page: Page,  # noqa: F811
) -> None:
    job = jobs["gone"]
    open_note(page, keyed_api, job)
    page.wait_until("document.body.dataset.loaded || ''", 30)

    assert page.evaluate("document.body.dataset.audio") == "none"
    note = page.evaluate("document.getElementById('audio-note').textContent")
    assert note.startswith("No audio was kept for this job: it was deleted when the job ended")
    assert page.evaluate("document.getElementById('audio').hidden") is True
    assert page.evaluate("document.querySelectorAll('#flags li').length") == \
        len(api.get(f"/v1/jobs/{job}/result").json()["review"])
    page.evaluate("document.querySelector('.w').click()", gesture=True)  # nothing to play: told so
    assert page.evaluate("document.getElementById('status').textContent").startswith("No audio was kept")
    assert shown(page, "performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/audio'))"
                       ".length") == 0
    assert page.trouble() == {"refused": [], "errors": []}


def test_a_wrong_key_is_told_and_nothing_of_the_note_is_shown(
    keyed_api: str, jobs: dict[str, str], page: Page,  # noqa: F811
) -> None:
    open_note(page, keyed_api, jobs["kept"], key="not-the-key")
    page.wait_until("document.getElementById('status').textContent.startsWith('unauthorized')", 20)

    assert page.evaluate("document.getElementById('review').hidden") is True
    assert page.evaluate("document.querySelectorAll('#transcript *, #flags *').length") == 0
    assert page.evaluate("document.getElementById('text').value") == ""
    assert shown(page, "performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)"
                       ".filter((p) => p.startsWith('/v1/'))") == [f"/v1/jobs/{jobs['kept']}"]
    assert page.trouble() == {"refused": [], "errors": []}
