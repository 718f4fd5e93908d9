"""Fixtures for the deployment tests: the API image's virtualenv, built from uv.lock."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.infra import REPO, makefile_variable


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


@pytest.fixture(scope="session")
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
