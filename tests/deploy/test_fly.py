"""fly.toml: the light services only, each started from an entry point that exists."""

from __future__ import annotations

import re
import shlex
from typing import Any

from tests.deploy.infra import compose, entry_point_file, exec_form, final_stage, fly, option

GPU_SIZE = re.compile(r"a10|a100|l40s|gpu", re.IGNORECASE)


def test_fly_runs_the_api_flower_and_webhooks_from_the_light_image() -> None:
    config = fly()
    assert config["build"]["dockerfile"] == "Dockerfile.api"
    assert set(config["processes"]) == {"api", "flower", "webhooks"}


def test_every_process_command_names_an_entry_point_that_exists() -> None:
    for group, command in fly()["processes"].items():
        path = entry_point_file(shlex.split(command))
        assert path.is_file(), f"process {group}: {path} does not exist"


def test_the_api_process_serves_the_app_object_of_api_main() -> None:
    argv = shlex.split(fly()["processes"]["api"])
    assert argv[1] == "api.main:app"
    assert re.search(r"^app\s*=", entry_point_file(argv).read_text(), re.MULTILINE)


def test_http_service_targets_the_api_port_everywhere() -> None:
    config = fly()
    service = config["http_service"]
    dockerfile_cmd = exec_form(next(a for k, a in final_stage("Dockerfile.api") if k == "CMD"))
    compose_ports = [str(p).rsplit(":", 1)[1] for p in compose()["services"]["api"]["ports"]]
    port = str(service["internal_port"])
    assert option(dockerfile_cmd, "--port") == port
    assert option(shlex.split(config["processes"]["api"]), "--port") == port
    assert compose_ports == [port]
    assert service["processes"] == ["api"]


def test_http_service_checks_liveness_not_readiness() -> None:
    checks = fly()["http_service"]["checks"]
    assert [check["path"] for check in checks] == ["/health"]


def test_flower_is_served_only_over_tls() -> None:
    [flower] = [s for s in fly()["services"] if s["processes"] == ["flower"]]
    assert flower["internal_port"] == int(option(shlex.split(fly()["processes"]["flower"]), "--port"))
    assert all("tls" in port["handlers"] for port in flower["ports"])


def test_kill_timeout_is_within_flys_limit() -> None:
    value = fly()["kill_timeout"]
    seconds = int(value.rstrip("s")) if isinstance(value, str) else int(value)
    assert 10 <= seconds <= 300


def _keys(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [k for key, value in node.items() for k in [key, *_keys(value)]]
    if isinstance(node, list):
        return [k for item in node for k in _keys(item)]
    return []


def test_nothing_on_fly_asks_for_a_gpu() -> None:
    config = fly()
    assert not [key for key in _keys(config) if "gpu" in key.lower()]
    vms = config.get("vm", [])
    assert vms, "size the machines explicitly"
    for vm in vms:
        assert not GPU_SIZE.search(str(vm.get("size", ""))), vm
    for command in config["processes"].values():
        assert "worker.celery_app worker" not in command, "a transcription worker on Fly"
