"""Write the docs site's generated reference pages from the code: settings, metrics, errors and the API.

    .venv/bin/python scripts/gen_reference.py           # rewrite docs/reference/*
    .venv/bin/python scripts/gen_reference.py --check   # exit 1 if a page is stale

Nothing here is kept by hand: the settings come from `core.settings` (names, types, defaults, field
docstrings), the metrics from the prometheus_client objects and collectors wherever they are declared, the
errors from `core.errors`, the API from the app's own OpenAPI schema. `tests/unit/test_docs_reference.py`
regenerates every page in memory and fails when one on disk differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.reference import REFERENCE, render_all, stale  # noqa: E402 (needs the repository on the path)
from scripts.reference.markdown import STALE  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale pages; exit 1 if any")
    args = parser.parse_args()
    pages = render_all()
    if args.check:
        old = stale(pages)
        for path in old:
            print(f"stale: {path.relative_to(REPO)} ({STALE})")
        return 1 if old else 0
    REFERENCE.mkdir(parents=True, exist_ok=True)
    for path, text in pages.items():
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
