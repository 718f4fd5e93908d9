"""The API's pages and files carry the headers a browser needs to keep them from being framed,
sniffed or made to leak; the /dictate page runs no inline script and starts nothing by itself."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings

DICTATE_CSP = ("default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
EVERY_RESPONSE = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


@pytest.fixture()
def client() -> TestClient:
    # No lifespan (no `with`): these routes need no Redis.
    return TestClient(create_app(Settings(dev_mode=True)), base_url="http://localhost")


def policy(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def test_the_dictate_page_forbids_inline_script_framing_sniffing_and_referrers(client: TestClient) -> None:
    page = client.get("/dictate")

    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert {k: page.headers[k] for k in EVERY_RESPONSE} == EVERY_RESPONSE
    assert page.headers["content-security-policy"] == DICTATE_CSP
    assert "<script>" not in page.text and "<style" not in page.text and " style=" not in page.text
    assert re.findall(r'<script src="([^"]+)"', page.text) == ["/dictate.js"]


@pytest.mark.parametrize(("path", "media_type"), [
    ("/dictate.js", "text/javascript; charset=utf-8"),
    ("/dictate-worklet.js", "text/javascript; charset=utf-8"),
    ("/dictate.css", "text/css; charset=utf-8"),
])
def test_the_pages_files_are_served_with_their_types(client: TestClient, path: str, media_type: str) -> None:
    response = client.get(path)

    assert response.status_code == 200 and response.headers["content-type"] == media_type
    assert {k: response.headers[k] for k in EVERY_RESPONSE} == EVERY_RESPONSE


def test_the_page_keeps_the_key_for_the_tab_unless_asked_and_never_starts_by_itself(client: TestClient) -> None:
    script = client.get("/dictate.js").text

    assert "autostart" not in script.replace("no autostart", "")
    assert "sessionStorage.setItem(KEY, key)" in script
    # localStorage is written in one place only, behind the "remember" box.
    assert script.count("localStorage.setItem") == 1
    assert 'if ($("remember").checked) localStorage.setItem(KEY, key);' in script
    assert 'id="remember" type="checkbox"' in client.get("/dictate").text


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_docs_pages_may_not_be_framed_and_run_only_their_own_inline_script(
        client: TestClient, path: str) -> None:
    page = client.get(path)
    csp = policy(page.headers["content-security-policy"])
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    hashes = [f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline]

    assert page.status_code == 200
    assert {k: page.headers[k] for k in EVERY_RESPONSE} == EVERY_RESPONSE
    assert csp["frame-ancestors"] == ["'none'"] and csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["script-src"] == ["'self'", *hashes]


def test_other_answers_carry_nosniff_and_no_referrer_too() -> None:
    client = TestClient(create_app(Settings(api_keys=["k" * 32], public_url="http://localhost")),
                        base_url="http://localhost")

    answers = [client.get("/static-offline-docs/swagger-ui-bundle.js"), client.get("/openapi.json"),
               client.get("/v1/jobs")]  # refused by the key guard, before any route

    assert [a.status_code for a in answers] == [200, 200, 401]
    for answer in answers:
        assert {k: answer.headers[k] for k in EVERY_RESPONSE} == EVERY_RESPONSE
        assert "content-security-policy" not in answer.headers
