"""The `/quality` page in a real headless Chromium, over real jobs: colonoscopy dictations transcribed by
the session's worker with the bundled model, their findings read and their quality records kept, the
page asked for the key's report with the key typed in, and every figure it draws (the table, each
trend's points and target lines, the completeness bars, the CSV it offers) compared to what
`GET /v1/quality` answers. All under the page's Content-Security-Policy, which it must never trip.

`ENDOSCRIBE_SCREENSHOT_DIR=docs .venv/bin/pytest tests/e2e/test_quality_page.py` also writes the page's
screenshot there (docs/quality.png, shown in the quality guide)."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_dictate_page import CHROMIUM, Page, page  # noqa: F401  (the Chromium fixture)
from tests.jobs import FIXTURES, submit, wait_for_status
from tests.polling import eventually
from tests.services import Process, start_api

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium-headless-shell (or chromium)")

KEY = "quality-page-key"
DEVSET = Path(__file__).parents[2] / "bench" / "devset" / "audio"
# The cecum reached with a polyp (the fixture), and from the findings dev set: reached, no polyps, BBPS and
# withdrawal time stated (fcolon01); stopped at the splenic flexure (fcolon03); two polyps (fcolon04).
CLIPS = [FIXTURES / "colonoscopy.wav", DEVSET / "fcolon01.joe.ogg", DEVSET / "fcolon03.joe.ogg",
         DEVSET / "fcolon04.joe.ogg"]
RATES = ["cecal_intubation", "withdrawal.at_least_6_minutes", "adequate_preparation", "polyp_detection",
         "screening_polyp_detection", "complications"]
MINUTES = ["withdrawal.mean_minutes", "withdrawal.median_minutes"]


@pytest.fixture(scope="module")
def keyed_api(redis_url: str, service_dir: Path, worker: Process) -> Iterator[str]:
    """An API with one key, on the session's Redis and worker: the key's numbers are this module's jobs only."""
    proc, base = start_api(redis_url, service_dir, ENDOSCRIBE_API_KEYS=json.dumps([KEY]))
    yield base
    proc.stop()


def at(report: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        report = report[part]
    return report


def shown(text: str, unit: str, scale: float) -> float | None:
    """The number a cell shows ("62.5 %", "8.3 min"), in the report's terms; None for "—"."""
    return None if text == "—" else float(text.removesuffix(unit)) / scale


def plotted(period: dict[str, Any], measure: str) -> float | None:
    """What a trend plots for a period: its notes, its minutes, or its rate."""
    if measure == "notes":
        return float(period["notes"])
    return at(period, measure) if measure in MINUTES else at(period, measure)["rate"]


def drawn(tab: Page, expression: str) -> Any:
    return tab.evaluate(f"JSON.parse(JSON.stringify({expression}))")


def test_the_page_draws_what_the_quality_report_of_real_jobs_says(
    keyed_api: str, page: Page, tmp_path: Path,  # noqa: F811
) -> None:
    today = datetime.now(UTC).date()
    window = {"from": (today - timedelta(days=83)).isoformat(), "to": today.isoformat()}
    with httpx.Client(base_url=keyed_api, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as api:
        jobs = [submit(api, clip, filename=clip.name, note_type="colonoscopy")["id"] for clip in CLIPS]
        assert [wait_for_status(api, job, timeout=300)["status"] for job in jobs] == ["completed"] * len(CLIPS)

        page.call("Emulation.setDeviceMetricsOverride", width=1200, height=900, deviceScaleFactor=1, mobile=False)
        page.call("Page.setDownloadBehavior", behavior="allow", downloadPath=str(tmp_path / "downloads"))
        page.open(f"{keyed_api}/quality?from={window['from']}&to={window['to']}")
        page.evaluate(f"document.getElementById('key').value = {json.dumps(KEY)}")
        page.evaluate("document.getElementById('show').click()", gesture=True)
        page.wait_until("document.body.dataset.shown || ''", 30)
        report = api.get("/v1/quality", params={**window, "bucket": "week"}).json()
        csv = api.get("/v1/quality", params={**window, "bucket": "week", "format": "csv"}).text

    # The model heard enough of the dictations for the measures to have something to count.
    assert report["notes"] == len(CLIPS)
    assert report["cecal_intubation"]["numerator"] >= 1 and report["polyp_detection"]["numerator"] >= 1
    assert report["periods"][-1]["notes"] == len(CLIPS) and sum(p["notes"] for p in report["periods"]) == len(CLIPS)

    rows = drawn(page, "[...document.querySelectorAll('#measures tbody tr')].map((tr) => "
                       "[tr.dataset.measure, tr.cells[1].textContent, tr.cells[2].textContent])")
    assert [measure for measure, _, _ in rows] == ["notes", *RATES, *MINUTES]
    assert rows[0][1] == str(report["notes"])
    for measure, value, counts in rows[1:1 + len(RATES)]:
        rate = at(report, measure)
        assert counts == f"{rate['numerator']} / {rate['denominator']}", measure
        assert shown(value, " %", 100) == pytest.approx(rate["rate"], abs=0.0005), (measure, value)
    for measure, value, _ in rows[1 + len(RATES):]:
        assert shown(value, " min", 1) == pytest.approx(at(report, measure), abs=0.05), (measure, value)

    charts = drawn(page, """[...document.querySelectorAll('#trends svg')].map((svg) => ({
        measure: svg.dataset.measure, top: +svg.dataset.top, bottom: +svg.dataset.bottom, max: +svg.dataset.max,
        points: [...svg.querySelectorAll('circle')].map((c) =>
          [c.dataset.period, +c.dataset.value, +c.getAttribute('cy')]),
        targets: [...svg.querySelectorAll('line.target')].map((l) => +l.dataset.threshold)}))""")
    assert [chart["measure"] for chart in charts] == ["notes", *RATES, "withdrawal.mean_minutes"]
    for chart in charts:
        measure = chart["measure"]
        assert [(start, v) for start, v, _ in chart["points"]] == \
            [(p["start"], plotted(p, measure)) for p in report["periods"] if plotted(p, measure) is not None], measure
        for _, v, cy in chart["points"]:  # drawn where its value is on the axis
            assert cy == pytest.approx(chart["bottom"] - v / chart["max"] * (chart["bottom"] - chart["top"]))
        assert chart["targets"] == [t["threshold"] for t in report["targets"] if t["measure"] == measure], measure

    bars = drawn(page, """[...document.querySelectorAll('#completeness rect.bar')].map((r) => [r.dataset.field,
        +r.dataset.missing, +r.getAttribute('width') / +r.closest('svg').dataset.track])""")
    assert [(field, missing) for field, missing, _ in bars] == list(report["missing"].items())
    for field, missing, share in bars:
        assert share == pytest.approx((report["notes"] - missing) / report["notes"]), field
    assert drawn(page, "[...document.querySelectorAll('#sources li')].map((li) => li.textContent)") == \
        list(dict.fromkeys(t["source"] for t in report["targets"]))

    page.evaluate("document.getElementById('csv').click()", gesture=True)
    saved = tmp_path / "downloads" / f"quality-{window['from']}-{window['to']}.csv"
    eventually(saved.exists, 10, f"the CSV download at {saved}")
    assert saved.read_text() == csv
    assert page.trouble() == {"refused": [], "errors": []}

    height = page.evaluate("document.documentElement.scrollHeight")
    page.call("Emulation.setDeviceMetricsOverride", width=1200, height=height, deviceScaleFactor=1, mobile=False)
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    (tmp_path / "quality.png").write_bytes(shot)
    if os.environ.get("ENDOSCRIBE_SCREENSHOT_DIR"):
        (Path(os.environ["ENDOSCRIBE_SCREENSHOT_DIR"]) / "quality.png").write_bytes(shot)


def test_a_wrong_key_is_told_and_nothing_is_drawn(keyed_api: str, page: Page) -> None:  # noqa: F811
    page.open(f"{keyed_api}/quality")
    page.evaluate("document.getElementById('key').value = 'not-the-key'")
    page.evaluate("document.getElementById('show').click()", gesture=True)
    page.wait_until("document.getElementById('status').textContent.startsWith('unauthorized')", 20)

    assert page.evaluate("document.getElementById('report').hidden") is True
    assert page.evaluate("document.querySelectorAll('svg').length") == 0
    assert page.trouble() == {"refused": [], "errors": []}


def test_a_link_with_a_window_and_bucket_fills_the_form_and_months_are_drawn_as_months(
    keyed_api: str, page: Page,  # noqa: F811
) -> None:
    window = {"from": "2026-01-15", "to": "2026-04-02", "bucket": "month", "note_type": "sigmoidoscopy"}
    page.open(f"{keyed_api}/quality?{httpx.QueryParams(window)}")
    assert drawn(page, "['from', 'to', 'bucket', 'note_type'].map((id) => document.getElementById(id).value)") == \
        list(window.values())
    page.evaluate(f"document.getElementById('key').value = {json.dumps(KEY)}")
    page.evaluate("document.getElementById('show').click()", gesture=True)
    page.wait_until("document.body.dataset.shown || ''", 30)

    labels = drawn(page, "[...document.querySelectorAll('svg[data-measure=notes] text.tick[text-anchor=middle]')]"
                         ".map((t) => t.textContent)")
    assert labels == ["Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026"]
    assert page.evaluate("document.getElementById('window').textContent") == "2026-01-15 to 2026-04-02, sigmoidoscopy"
    assert page.trouble() == {"refused": [], "errors": []}
