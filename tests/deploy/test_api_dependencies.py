"""The API image's dependency set (the Makefile's UV_SYNC_API) runs the API and Flower without torch.

Builds a real virtualenv from uv.lock in a temporary folder, offline: `uv sync --frozen` only reads the
lock, and uv's cache already holds every wheel `make test` installed, so this takes seconds.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.infra import REPO, makefile_variable

LIGHT_IMPORT = (
    "import api.main, worker.celery_app, sys; assert not any(m in sys.modules for m in ('torch', 'whisperx'))"
)


def _uv() -> list[str] | None:
    """uv as the Makefile finds it (`python3 -m uv`), or on PATH."""
    for candidate in (["python3", "-m", "uv"], [sys.executable, "-m", "uv"]):
        if (
            shutil.which(candidate[0])
            and subprocess.run([*candidate, "--version"], capture_output=True).returncode == 0
        ):
            return candidate
    found = shutil.which("uv")
    return [found] if found else None


UV = _uv()


@pytest.fixture(scope="module")
def api_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if UV is None:
        pytest.skip("uv is not installed (make uv)")
    venv = tmp_path_factory.mktemp("api-image") / "venv"
    command = shlex.split(makefile_variable("UV_SYNC_API"))
    assert command[0] == "uv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    # Never the network: the lock is frozen, the wheels come from uv's cache, the interpreter is ours.
    env |= {
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_OFFLINE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
    }
    done = subprocess.run([*UV, *command[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return venv


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
