"""The docs site's generated reference pages (docs/reference/), rendered from the code."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.reference.api_page import api_page, openapi_schema
from scripts.reference.errors_page import errors_page
from scripts.reference.markdown import REFERENCE
from scripts.reference.metrics_page import metrics_page
from scripts.reference.settings_page import settings_page


def render_all() -> dict[Path, str]:
    """Every generated file, by path, as it should be on disk."""
    schema = openapi_schema()
    return {
        REFERENCE / "settings.md": settings_page(),
        REFERENCE / "metrics.md": metrics_page(),
        REFERENCE / "errors.md": errors_page(),
        REFERENCE / "api.md": api_page(schema),
        REFERENCE / "openapi.json": json.dumps(schema, indent=2, ensure_ascii=False) + "\n",
    }


def stale(pages: dict[Path, str]) -> list[Path]:
    return [path for path, text in pages.items() if not path.exists() or path.read_text() != text]
