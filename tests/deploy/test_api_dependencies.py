"""The API image's dependency set (the Makefile's UV_SYNC_API) runs the API and Flower without torch.
Nor spaCy: findings are read in the worker; the API only renders what it stored.

Builds a real virtualenv from uv.lock in a temporary folder, offline: `uv sync --frozen` only reads the
lock, and uv's cache already holds every wheel `make test` installed, so this takes seconds.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.deploy.infra import REPO

LIGHT_IMPORT = (
    "import api.main, worker.celery_app, sys; assert not any(m in sys.modules for m in ('torch', 'whisperx', 'spacy'))"
)


def _python(venv: Path, code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENDOSCRIBE_", "VIRTUAL_ENV"))}
    env |= {"PYTHONPATH": str(REPO), "REDIS_URL": "redis://127.0.0.1:1/0", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_api_and_the_celery_app_import_without_torch(api_venv: Path) -> None:
    done = _python(api_venv, LIGHT_IMPORT)
    assert done.returncode == 0, done.stderr


def test_torch_and_whisperx_are_not_installed_in_the_api_set(api_venv: Path) -> None:
    code = "import importlib.util as u; print([m for m in ('torch', 'whisperx', 'ctranslate2') if u.find_spec(m)])"
    done = _python(api_venv, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_api_set_runs_the_light_entry_points(api_venv: Path) -> None:
    for program in ("uvicorn", "celery"):
        assert (api_venv / "bin" / program).is_file(), program
    done = _python(api_venv, "import flower, standardwebhooks, httpx")
    assert done.returncode == 0, done.stderr
