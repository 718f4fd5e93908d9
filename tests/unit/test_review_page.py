"""The /review/{job_id} page and its files: the /dictate page's strict policy widened only to play the
audio it fetched (a blob: it made), its legend written from `ReviewReason` (every reason, its meaning,
doubt apart from always-check), the key kept as /dictate keeps it and sent only to this API's job
routes; and the reviewers' guide explaining every reason as the page does."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.pages import PAGE_POLICY
from api.routes.review_page import reason_label
from core.review_flags import ReviewReason
from core.settings import Settings

GUIDE = Path(__file__).parents[2] / "docs" / "guides" / "review.md"


@pytest.fixture()
def client() -> TestClient:
    # No lifespan (no `with`): these routes need no Redis.
    return TestClient(create_app(Settings(dev_mode=True)), base_url="http://localhost")


def test_the_review_page_runs_only_its_own_script_and_style_and_plays_only_its_own_blobs(
    client: TestClient,
) -> None:
    page = client.get("/review/3f6c2a1e-0000-4000-8000-000000000000")

    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == f"{PAGE_POLICY}; media-src 'self' blob:"
    assert page.headers["cache-control"] == "no-cache" and page.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in page.text and "<style" not in page.text and " style=" not in page.text
    assert re.findall(r'<script src="([^"]+)"', page.text) == ["/review.js"]
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text) == ["/review.css"]
    assert "http" not in page.text  # nothing fetched from elsewhere


def test_the_legend_lists_every_reason_with_its_meaning_and_whether_it_signals_doubt(client: TestClient) -> None:
    page = client.get("/review/any").text

    legend = re.findall(r'<dt class="(\w+)" data-reason="(\w+)" data-doubt="(\w+)"><span class="swatch \1">([^<]+)'
                        r"</span></dt><dd>([^<]+)</dd>", page)
    assert [(kind, reason, doubt, unescape(label), unescape(meaning)) for kind, reason, doubt, label, meaning
            in legend] == [("doubt" if r.doubt else "check", r.value, str(r.doubt).lower(), reason_label(r), r.meaning)
                           for r in ReviewReason]
    assert {r for r in ReviewReason if not r.doubt} == {ReviewReason.NUMBER_OR_UNIT, ReviewReason.VOCABULARY_CORRECTED}


@pytest.mark.parametrize(("path", "media_type"), [
    ("/review.js", "text/javascript; charset=utf-8"),
    ("/review.css", "text/css; charset=utf-8"),
])
def test_the_review_pages_files_are_served_with_their_types(client: TestClient, path: str, media_type: str) -> None:
    response = client.get(path)

    assert response.status_code == 200 and response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff" and response.headers["cache-control"] == "no-cache"


def test_the_review_page_keeps_the_key_as_the_other_pages_do_and_sends_it_only_to_the_jobs_routes(
    client: TestClient,
) -> None:
    script = client.get("/review.js").text

    assert 'const KEY = "endoscribe-key";' in script  # one key for /dictate, /quality and /review
    assert 'if ($("remember").checked) localStorage.setItem(KEY, key);' in script
    assert script.count("localStorage.setItem(KEY") == 1
    assert 'const API = `/v1/jobs/${encodeURIComponent(JOB)}`;' in script
    assert re.findall(r"fetch\(`([^`]+)`", script) == ["${API}${path}", "${API}/audio"]
    assert ".innerHTML" not in script and "eval(" not in script


def test_the_reviewers_guide_explains_every_reason_as_the_page_does() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| [^|]+ \| ([^|]+) \|", GUIDE.read_text(), re.M))

    assert {reason: meaning.strip() for reason, meaning in rows.items()} == {r.value: r.meaning for r in ReviewReason}
