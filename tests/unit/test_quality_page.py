"""The /quality page and its files: served with the /dictate page's strict policy (no inline script or
style, nothing from elsewhere), and keeping the key as /dictate does."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.pages import PAGE_POLICY
from core.settings import Settings


@pytest.fixture()
def client() -> TestClient:
    # No lifespan (no `with`): these routes need no Redis.
    return TestClient(create_app(Settings(dev_mode=True)), base_url="http://localhost")


def test_the_quality_page_runs_only_its_own_script_and_style(client: TestClient) -> None:
    page = client.get("/quality")

    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == PAGE_POLICY and page.headers["cache-control"] == "no-cache"
    assert "<script>" not in page.text and "<style" not in page.text and " style=" not in page.text
    assert re.findall(r'<script src="([^"]+)"', page.text) == ["/quality.js"]
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text) == ["/quality.css"]
    assert "http" not in page.text  # nothing fetched from elsewhere


@pytest.mark.parametrize(("path", "media_type"), [
    ("/quality.js", "text/javascript; charset=utf-8"),
    ("/quality.css", "text/css; charset=utf-8"),
])
def test_the_quality_pages_files_are_served_with_their_types(client: TestClient, path: str, media_type: str) -> None:
    response = client.get(path)

    assert response.status_code == 200 and response.headers["content-type"] == media_type
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_quality_page_keeps_the_key_for_the_tab_unless_asked_and_sends_it_only_to_this_api(
    client: TestClient,
) -> None:
    script = client.get("/quality.js").text

    assert 'const KEY = "endoscribe-key";' in script  # the key /dictate keeps: one key for both pages
    assert script.count("localStorage.setItem") == 1
    assert 'if ($("remember").checked) localStorage.setItem(KEY, key);' in script
    assert re.findall(r"fetch\(`([^`?]+)", script) == ["/v1/quality", "/v1/quality"]
    assert ".innerHTML" not in script and "style" not in script.replace("stylesheet", "")
