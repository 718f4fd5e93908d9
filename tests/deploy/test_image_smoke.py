"""Every command an image, compose or Fly starts, run from that image's own file tree: `docker run`
without Docker.

`image_tree.assemble` copies what each Dockerfile's final stage copies and takes its ENV lines. The
API image runs with the virtualenv of the Makefile's UV_SYNC_API (no torch, as in the image), the
worker image with the project's (a superset of UV_SYNC_WORKER). Each server is started until it
answers the way its health check expects, then the health check the image or compose declares runs
against it and must pass. Traffic stays on loopback: listen addresses and ports are rewritten to
127.0.0.1 and free ports, and the GPU worker runs on the CPU with the bundled model (the weights and
the device differ from a GPU host, the files and the entry point do not).
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from core import keys
from tests.deploy.image_tree import ImageTree, assemble
from tests.deploy.infra import SECRET_ENV, exec_form, final_stage, fly, option, resolved
from tests.polling import NOT_LISTENING, eventually
from tests.services import Process, free_port, start_redis

# What a CPU-only test machine must change to start the GPU service: device and weights, not files.
CPU_OVERRIDES = {"ENDOSCRIBE_DEVICE": "cpu", "ENDOSCRIBE_MODEL": ""}


@dataclass(frozen=True)
class Launch:
    """One command as a deployment file starts it."""

    origin: str
    dockerfile: str
    argv: list[str]
    healthcheck: list[str] | None
    env: dict[str, str] = field(default_factory=dict)


def _image_command(dockerfile: str, keyword: str) -> list[str] | None:
    for kw, args in final_stage(dockerfile):
        if kw == keyword:
            return exec_form(args.split(" CMD ", 1)[1] if keyword == "HEALTHCHECK" else args)
    return None


def _image_launch(dockerfile: str, **env: str) -> Launch:
    argv = _image_command(dockerfile, "CMD")
    assert argv, f"{dockerfile} has no CMD"
    return Launch(f"{dockerfile} CMD", dockerfile, argv, _image_command(dockerfile, "HEALTHCHECK"), env)


def _compose_launches() -> list[Launch]:
    services = resolved(SECRET_ENV)["services"]
    built_by = {s["image"]: s["build"]["dockerfile"] for s in services.values() if "build" in s}
    launches = []
    for name, service in services.items():
        if name == "redis":
            continue
        dockerfile = service.get("build", {}).get("dockerfile") or built_by[service["image"]]
        check = service.get("healthcheck", {})
        if check.get("disable"):
            healthcheck = None
        elif "test" in check:
            assert check["test"][0] == "CMD", f"compose {name}: use the exec form of a healthcheck"
            healthcheck = check["test"][1:]
        else:
            healthcheck = _image_command(dockerfile, "HEALTHCHECK")
        argv = service.get("command") or _image_command(dockerfile, "CMD")
        env = {k: str(v) for k, v in service.get("environment", {}).items()}
        launches.append(Launch(f"compose {name}", dockerfile, argv, healthcheck, env))
    return launches


def _fly_launches() -> list[Launch]:
    config = fly()
    env = {**config.get("env", {}), **SECRET_ENV}
    return [
        Launch(f"fly {group}", config["build"]["dockerfile"], shlex.split(command), None, env)
        for group, command in config["processes"].items()
    ]


LAUNCHES = [
    # As an operator runs the image: the API refuses to start without keys (closed by default).
    _image_launch("Dockerfile.api", ENDOSCRIBE_API_KEYS=SECRET_ENV["ENDOSCRIBE_API_KEYS"],
                  ENDOSCRIBE_PUBLIC_URL=SECRET_ENV["ENDOSCRIBE_PUBLIC_URL"]),
    _image_launch("Dockerfile.worker"), *_compose_launches(), *_fly_launches()
]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_redis(tmp_path_factory.mktemp("smoke-redis"))
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ImageTree]:
    # The worker as `--build-arg ENDOSCRIBE_MODEL=` builds it: the bundled model, nothing baked.
    return {
        "Dockerfile.api": assemble("Dockerfile.api", tmp_path_factory.mktemp("api-image")),
        "Dockerfile.worker": assemble("Dockerfile.worker", tmp_path_factory.mktemp("worker-image"),
                                      {"ENDOSCRIBE_MODEL": ""}),
    }


def _rewrite(argv: list[str]) -> tuple[list[str], dict[str, int]]:
    """Listen on loopback and on free ports; returns the argv and {old port: new port}."""
    out, ports = [], {}
    for i, arg in enumerate(argv):
        if arg.startswith("--port="):
            old, new = int(arg.split("=", 1)[1]), free_port()
            ports[old] = new
            arg = f"--port={new}"
        elif i > 0 and argv[i - 1] == "--port":
            ports[int(arg)] = free_port()
            arg = str(ports[int(arg)])
        elif i > 0 and argv[i - 1] == "--host":
            arg = "127.0.0.1"
        out.append(arg)
    if "flower" in argv:
        out.append("--address=127.0.0.1")
    return out, ports


def _readiness(argv: list[str], ports: dict[int, int], proc: Process, client: redis.Redis) -> Callable[[], bool]:
    port = next(iter(ports.values()), None)
    program = Path(argv[0]).name
    if program == "uvicorn":
        return lambda: httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    if program == "celery" and "flower" in argv:
        return lambda: httpx.get(f"http://127.0.0.1:{port}/healthcheck").status_code == 200
    if program == "celery" and "worker" in argv:
        name = option(argv, "-n").replace("%h", socket.gethostname())
        return lambda: client.exists(keys.worker_key(name)) == 1 and keys.TRANSCRIBE_TASK in proc.output()
    if argv[:3] == ["python", "-m", "webhooks.deliverer"]:
        return lambda: "polling" in proc.output()
    raise AssertionError(f"no readiness check for {argv}")


@pytest.mark.parametrize("launch", LAUNCHES, ids=[launch.origin for launch in LAUNCHES])
def test_the_command_starts_from_its_image_tree_and_passes_its_healthcheck(
    launch: Launch, trees: dict[str, ImageTree], redis_url: str, request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    tree = trees[launch.dockerfile]
    venv_bin = (request.getfixturevalue("api_venv") / "bin" if launch.dockerfile == "Dockerfile.api"
                else Path(sys.executable).parent)
    # Nothing from the test runner's environment: only what the image and the deployment file set.
    env = {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           **tree.env, **launch.env, "REDIS_URL": redis_url}
    if launch.dockerfile == "Dockerfile.worker":
        env |= CPU_OVERRIDES
    argv, ports = _rewrite(launch.argv)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    proc = Process(argv, env, tmp_path / "service.log", cwd=tree.root)
    try:
        ready = _readiness(argv, ports, proc, client)
        eventually(lambda: ready() or not proc.alive(), 180, launch.origin, interval=0.5,
                   ignoring=NOT_LISTENING)
        assert proc.alive(), f"{launch.origin} exited:\n{proc.output()[-3000:]}"
        if launch.healthcheck is not None:
            check = [_swap_ports(part, ports) for part in launch.healthcheck]
            done = subprocess.run(check, cwd=tree.root, env=env, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, f"{launch.origin} healthcheck failed:\n{done.stderr[-3000:]}"
    finally:
        proc.stop()


def _swap_ports(text: str, ports: dict[int, int]) -> str:
    for old, new in ports.items():
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    return text


def test_the_api_image_refuses_to_start_without_keys(
    trees: dict[str, ImageTree], redis_url: str, request: pytest.FixtureRequest, tmp_path: Path,
) -> None:
    tree = trees["Dockerfile.api"]
    venv_bin = request.getfixturevalue("api_venv") / "bin"
    env = {"PATH": f"{venv_bin}:/usr/bin:/bin", "HOME": str(tmp_path), **tree.env, "REDIS_URL": redis_url}
    argv, _ = _rewrite(_image_launch("Dockerfile.api").argv)
    done = subprocess.run(argv, cwd=tree.root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ENDOSCRIBE_API_KEYS is empty" in done.stdout + done.stderr
