"""Dockerfile.api and Dockerfile.worker, read as text: what they install, check and run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from core import keys
from tests.deploy.infra import (
    REPO,
    dockerfile_instructions,
    env_values,
    exec_form,
    final_stage,
    makefile_variable,
    option,
    run_commands,
)


def _sync_commands(name: str) -> list[str]:
    return [command for command in run_commands(name) if "uv sync" in command]


def test_the_api_image_installs_with_the_makefiles_api_command() -> None:
    assert _sync_commands("Dockerfile.api") == [makefile_variable("UV_SYNC_API")]


def test_the_worker_image_installs_with_the_makefiles_worker_command() -> None:
    worker = makefile_variable("UV_SYNC_WORKER")
    # bundled:base adds its extra to the very same command, which `make install` has too.
    assert _sync_commands("Dockerfile.worker") == [
        worker, f'if [ "$ENDOSCRIBE_MODEL" = "bundled:base" ]; then {worker} --extra base-model; fi']
    assert "--extra base-model" in makefile_variable("UV_SYNC_DEV")
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "base-model" in extras


def test_uv_installs_into_the_venv_the_final_stage_runs_from() -> None:
    for name in ("Dockerfile.api", "Dockerfile.worker"):
        build_env = " ".join(args for keyword, args in dockerfile_instructions(name) if keyword == "ENV")
        assert "UV_PROJECT_ENVIRONMENT=/opt/venv" in build_env, name
        assert any(k == "COPY" and a.startswith("--from=build /opt/venv /opt/venv") for k, a in final_stage(name))
        assert env_values(name)["PATH"].startswith("/opt/venv/bin:"), name
        assert env_values(name)["PYTHONPATH"] == "/app", name


def test_both_images_run_as_an_unprivileged_user() -> None:
    for name in ("Dockerfile.api", "Dockerfile.worker"):
        users = [args for keyword, args in final_stage(name) if keyword == "USER"]
        assert users, f"{name} runs as root"
        assert users[-1].split(":")[0] not in ("root", "0"), name


def test_the_api_image_checks_liveness_on_health_without_curl() -> None:
    checks = [args for keyword, args in final_stage("Dockerfile.api") if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0].split(" CMD ", 1)[1])
    assert command[0] == "python"
    assert "http://127.0.0.1:8000/health" in command[-1]


def test_the_api_image_serves_on_the_port_it_exposes_and_checks() -> None:
    stage = final_stage("Dockerfile.api")
    cmd = exec_form(next(args for keyword, args in stage if keyword == "CMD"))
    assert cmd[:2] == ["uvicorn", "api.main:app"]
    assert option(cmd, "--host") == "0.0.0.0"
    assert "--proxy-headers" in cmd
    exposed = next(args for keyword, args in stage if keyword == "EXPOSE").split()
    assert option(cmd, "--port") in exposed


def test_the_worker_image_refuses_a_cpu_only_torch_at_build() -> None:
    assert any("sys.exit(torch.version.cuda is None)" in command for command in run_commands("Dockerfile.worker"))


def _ctranslate2_cuda_libraries() -> set[str]:
    """The CUDA sonames the locked CTranslate2 dlopens by name, read from its shared library."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    libs = Path(ctranslate2.__file__).parent.parent / "ctranslate2.libs"
    [library] = libs.glob("libctranslate2-*.so*")
    names = set(re.findall(rb"lib(?:cublas|cublasLt|cudnn\w*|cudart|curand|cufft)\.so\.\d+", library.read_bytes()))
    return {name.decode() for name in names}


def test_the_worker_image_loads_what_ctranslate2_dlopens_through_ld_library_path() -> None:
    wanted = _ctranslate2_cuda_libraries()
    assert wanted, "CTranslate2 names no CUDA library: read its loader again"
    # What the build checks: CTranslate2's own list (cuBLAS pulls in cuBLASLt from the same folder).
    [check] = [c for c in run_commands("Dockerfile.worker") if "ctypes.CDLL" in c]
    loaded = set(re.findall(r"'(lib[\w.]+\.so\.\d+)'", check))
    assert wanted <= loaded <= wanted | {"libcublasLt.so.12"}
    # Where it looks: one nvidia-* wheel folder per library family, each wheel the lock pins with that major.
    python = re.search(r"python:(3\.\d+)-", next(a for k, a in final_stage("Dockerfile.worker") if k == "FROM"))
    assert python
    site = f"/opt/venv/lib/python{python.group(1)}/site-packages/nvidia"
    lock = {p["name"]: p["version"] for p in tomllib.loads((REPO / "uv.lock").read_text())["package"]}
    folders = set()
    for soname in wanted:
        family = re.match(r"lib(cublas|cudnn|cudart|curand|cufft)", soname)
        assert family
        major = soname.rsplit(".", 1)[1]
        wheel = {"cudart": "cuda-runtime"}.get(family.group(1), family.group(1))
        assert lock[f"nvidia-{wheel}-cu12"].split(".")[0] == major, soname
        folders.add(f"{site}/{'cuda_runtime' if wheel == 'cuda-runtime' else wheel}/lib")
    assert set(env_values("Dockerfile.worker")["LD_LIBRARY_PATH"].split(":")) == folders


def test_the_worker_image_has_ffmpeg() -> None:
    assert any("apt-get install" in command and " ffmpeg" in command for command in run_commands("Dockerfile.worker"))


def test_the_worker_image_bakes_its_weights_and_then_stays_offline() -> None:
    instructions = dockerfile_instructions("Dockerfile.worker")
    assert ("ARG", "ENDOSCRIBE_MODEL=large-v3") in instructions
    download = next(i for i, (k, a) in enumerate(instructions) if k == "RUN" and "download_model" in a)
    assert "faster_whisper" in instructions[download][1]
    assert "load_align_model('en'" in instructions[download][1]
    offline = next(i for i, (k, a) in enumerate(instructions) if k == "ENV" and "HF_HUB_OFFLINE=1" in a)
    assert offline > download
    # A bundled model is joined from its packages by the worker's own code, into the folder it reads.
    assert "from worker.model.bundled_models import resolve" in instructions[download][1]
    assert '"$ENDOSCRIBE_MODEL" "$ENDOSCRIBE_MODEL_CACHE_DIR"' in instructions[download][1]
    copied = [a.split() for k, a in instructions[:download] if k == "COPY" and a.startswith("worker/")]
    assert copied == [["worker/__init__.py", "worker/privacy.py", "worker/"],
                      ["worker/model/__init__.py", "worker/model/bundled_models.py", "worker/model/"]]
    values = env_values("Dockerfile.worker")
    assert values["HF_HOME"].startswith("/opt/models/") and values["TORCH_HOME"].startswith("/opt/models/")
    assert values["ENDOSCRIBE_MODEL_CACHE_DIR"].startswith("/opt/models/")
    assert values["ENDOSCRIBE_MODEL"] == "${ENDOSCRIBE_MODEL}"


def test_the_worker_runs_one_solo_process_on_the_transcribe_queue() -> None:
    stage = final_stage("Dockerfile.worker")
    cmd = exec_form(next(args for keyword, args in stage if keyword == "CMD"))
    assert cmd[:4] == ["celery", "-A", "worker.celery_app", "worker"]
    assert option(cmd, "-P") == "solo"
    assert option(cmd, "-c") == "1"
    assert option(cmd, "-Q") == keys.TRANSCRIBE_QUEUE
    # The healthcheck looks up the heartbeat under the name the worker is started with.
    name_prefix = option(cmd, "-n").split("%h")[0]
    check = next(args for keyword, args in stage if keyword == "HEALTHCHECK")
    assert f"keys.worker_key('{name_prefix}' + socket.gethostname())" in check
