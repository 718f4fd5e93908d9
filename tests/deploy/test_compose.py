"""docker-compose.yml: services, GPU reservation, persistence, healthchecks and required secrets."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy.infra import REFERENCE, REPO, SECRET_ENV, compose, dockerfile_instructions, entry_point_file, resolved

SECRETS = ("REDIS_PASSWORD", "FLOWER_BASIC_AUTH", "ENDOSCRIBE_API_KEYS", "ENDOSCRIBE_WEBHOOK_SECRET",
           "ENDOSCRIBE_PUBLIC_URL")
LIGHT_SERVICES = ("api", "webhooks", "flower")
WORKERS = ("worker", "worker-cpu")
def test_the_stack_has_redis_the_light_services_and_two_worker_flavours() -> None:
    assert set(compose()["services"]) == {"redis", *LIGHT_SERVICES, *WORKERS}


def test_redis_persists_to_an_append_only_file_on_a_named_volume_behind_a_password() -> None:
    data = compose()
    redis = data["services"]["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    volume, target = redis["volumes"][0].split(":")
    assert target == "/data" and volume in data["volumes"]
    assert "ports" not in redis, "Redis must not be published"


def test_every_service_reaches_redis_with_the_password() -> None:
    services = resolved(SECRET_ENV)["services"]
    for name in (*LIGHT_SERVICES, *WORKERS):
        url = urlsplit(services[name]["environment"]["REDIS_URL"])
        assert (url.scheme, url.hostname, url.port, url.password) == ("redis", "redis", 6379, "0123abcd"), name


def test_missing_secrets_stop_compose_with_a_message() -> None:
    for secret in SECRETS:
        env = {k: v for k, v in SECRET_ENV.items() if k != secret}
        with pytest.raises(LookupError, match=f"required variable {secret} is missing a value: set {secret}"):
            resolved(env)
    # Every reference to a secret is a required one: none can slip through empty.
    text = (REPO / "docker-compose.yml").read_text()
    for match in REFERENCE.finditer(text):
        if match["name"] in SECRETS:
            assert match["op"] == ":?", match.group(0)


def test_with_every_secret_set_nothing_is_left_unresolved() -> None:
    data = resolved(SECRET_ENV)
    assert "${" not in yaml.safe_dump(data)
    services = data["services"]
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "ops:pw"
    assert services["api"]["environment"]["ENDOSCRIBE_API_KEYS"] == '["token"]'
    assert services["api"]["environment"]["ENDOSCRIBE_WEBHOOK_SECRET"].startswith("whsec_")
    assert services["webhooks"]["environment"]["ENDOSCRIBE_WEBHOOK_SECRET"].startswith("whsec_")


def test_the_gpu_worker_reserves_an_nvidia_gpu() -> None:
    worker = compose()["services"]["worker"]
    [device] = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert "gpu" in device["capabilities"]
    assert device.get("count") in (1, "all") or device.get("device_ids")
    assert worker["environment"]["ENDOSCRIBE_DEVICE"] == "cuda"
    assert worker["build"]["dockerfile"] == "Dockerfile.worker"
    assert worker["build"]["args"]["ENDOSCRIBE_MODEL"] == "${ENDOSCRIBE_MODEL:-large-v3}"


def test_the_cpu_profile_runs_the_same_image_on_the_cpu_with_the_bundled_model() -> None:
    services = compose()["services"]
    cpu, gpu = services["worker-cpu"], services["worker"]
    assert cpu["profiles"] == ["cpu"]
    assert cpu["image"] == gpu["image"]
    assert cpu["environment"]["ENDOSCRIBE_DEVICE"] == "cpu"
    assert cpu["environment"]["ENDOSCRIBE_MODEL"] == ""
    assert "deploy" not in cpu
    # `--profile cpu up` must not also start the GPU worker, which needs the NVIDIA runtime.
    assert gpu["profiles"] == ["gpu"]


def test_the_light_services_share_the_api_image_and_start_after_redis() -> None:
    services = compose()["services"]
    for name in LIGHT_SERVICES:
        assert services[name]["image"] == "endoscribe-api:latest", name
        assert services[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}, name
    assert services["api"]["build"]["dockerfile"] == "Dockerfile.api"
    for name in WORKERS:
        assert services[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}, name


@pytest.mark.parametrize("profiles", [(), ("gpu",), ("cpu",)])
def test_each_image_is_built_by_one_service_and_never_pulled_by_the_others(profiles: tuple[str, ...]) -> None:
    services = {name: s for name, s in compose()["services"].items()
                if not s.get("profiles") or set(s["profiles"]) & set(profiles)}
    builders: dict[str, list[str]] = {}
    for name, service in services.items():
        if "build" in service:
            builders.setdefault(service["image"], []).append(name)
    # Concurrent builds of one tag can fail ("image already exists"): one builder per image.
    assert all(len(names) == 1 for names in builders.values()), builders
    for name, service in services.items():
        if "build" not in service and service["image"].startswith("endoscribe-"):
            assert service["image"] in builders, f"{name} uses an image nothing builds"
            assert service.get("pull_policy") == "never", f"{name} would try to pull {service['image']}"


def test_the_workers_switch_telemetry_off() -> None:
    services = resolved(SECRET_ENV)["services"]
    for name in WORKERS:
        env = services[name]["environment"]
        assert (env["PYANNOTE_METRICS_ENABLED"], env["OTEL_SDK_DISABLED"]) == ("false", "true"), name
        assert (env["HF_HUB_DISABLE_TELEMETRY"], env["DO_NOT_TRACK"]) == ("1", "1"), name


def test_service_commands_start_entry_points_that_exist() -> None:
    services = compose()["services"]
    assert services["flower"]["command"] == ["celery", "-A", "worker.celery_app", "flower",
                                             "--conf=worker/flowerconfig.py", "--port=5555"]
    assert services["webhooks"]["command"] == ["python", "-m", "webhooks.deliverer"]
    for name in ("flower", "webhooks"):
        assert entry_point_file(services[name]["command"]).is_file(), name


def test_every_long_running_service_has_a_healthcheck() -> None:
    services = compose()["services"]
    assert "redis-cli ping" in services["redis"]["healthcheck"]["test"][1]
    assert "http://127.0.0.1:5555/healthcheck" in services["flower"]["healthcheck"]["test"][-1]
    # The deliverer serves no HTTP, so the API image's check is switched off there, on purpose.
    assert services["webhooks"]["healthcheck"] == {"disable": True}
    # The API and the workers carry their checks in their images.
    for dockerfile in ("Dockerfile.api", "Dockerfile.worker"):
        assert any(keyword == "HEALTHCHECK" for keyword, _ in dockerfile_instructions(dockerfile)), dockerfile
    for name in ("api", *WORKERS):
        assert "healthcheck" not in services[name], f"{name}: keep the check in the image"


def test_flower_is_published_on_loopback_only() -> None:
    assert compose()["services"]["flower"]["ports"] == ["127.0.0.1:5555:5555"]


def test_the_deploy_guide_names_every_required_secret() -> None:
    guide = (REPO / "docs" / "operations" / "deploy-compose.md").read_text()
    for secret in SECRETS:
        assert secret in guide, secret


def test_the_api_is_published_on_loopback_only_for_a_tls_proxy_on_the_host() -> None:
    assert compose()["services"]["api"]["ports"] == ["127.0.0.1:8000:8000"]
