"""Every Redis client verifies a rediss:// server: its certificate against the configured CA, its host
name, and (when Redis asks) presents a client certificate; the insecure opt-out needs development mode.

Against a real redis-server that speaks only TLS, with a throwaway CA made here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from flower.utils.broker import Broker
from kombu.exceptions import OperationalError

from core import keys
from core.job_store import JobStore
from core.queueing import broker_task_ids, make_celery
from core.redis_connection import RedisTlsConfigError, connect_redis
from core.settings import RedisTlsSettings, Settings
from tests.integration.tls_redis import Pki, make_pki, start_tls_redis
from tests.polling import NOT_LISTENING, eventually
from tests.services import BIN, Process, free_port, service_env
from webhooks import deliverer

CONNECT_ERRORS = (redis.ConnectionError, OperationalError)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_url(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_tls_redis(tmp_path_factory.mktemp("redis-tls"), pki)
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def mtls_url(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, url = start_tls_redis(tmp_path_factory.mktemp("redis-mtls"), pki, client_certificates=True)
    yield url
    proc.stop()


def tls_settings(url: str, ca: Path | None = None, client: tuple[Path, Path] | None = None,
                 insecure: bool = False, dev_mode: bool = False) -> Settings:
    cert, key = client or ("", "")
    tls = RedisTlsSettings(ca_file=str(ca or ""), cert_file=str(cert), key_file=str(key), tls_insecure=insecure)
    return Settings(redis_url=url, redis_tls=tls, dev_mode=dev_mode)


def use_job_store(settings: Settings) -> None:
    JobStore(connect_redis(settings, socket_timeout=5), 3600).open_jobs(time.time())


def use_celery_broker(settings: Settings) -> None:
    # What the API's send_task, the worker's consumer, its events and Flower's event capture connect with.
    with make_celery(settings).connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)


def use_deliverer(settings: Settings) -> None:
    deliverer.connect(settings).webhooks.claim_due(time.time(), 10, 1)


def use_flower_broker(settings: Settings) -> None:
    # Flower's queue-length views build their own async Redis client, from the Celery app's config,
    # exactly so (flower.views.BaseHandler.get_broker).
    app = make_celery(settings)
    with app.connection() as connection:
        uri = connection.as_uri(include_password=True)
    broker = Broker(uri, broker_options=app.conf.broker_transport_options, broker_use_ssl=app.conf.broker_use_ssl)
    asyncio.run(broker.queues([keys.TRANSCRIBE_QUEUE]))


CLIENTS: dict[str, Callable[[Settings], None]] = {
    "job store": use_job_store,
    "celery broker": use_celery_broker,
    "webhook deliverer": use_deliverer,
    "flower queues": use_flower_broker,
}
each_client = pytest.mark.parametrize("use", CLIENTS.values(), ids=CLIENTS.keys())


@each_client
def test_each_client_connects_to_a_server_the_configured_ca_signed(use: Callable[[Settings], None], tls_url: str,
                                                                   pki: Pki) -> None:
    use(tls_settings(tls_url, ca=pki.ca))


@each_client
def test_each_client_refuses_a_server_signed_by_another_ca(use: Callable[[Settings], None], tls_url: str,
                                                           pki: Pki) -> None:
    with pytest.raises(CONNECT_ERRORS, match="CERTIFICATE_VERIFY_FAILED"):
        use(tls_settings(tls_url, ca=pki.other_ca))


@each_client
def test_each_client_refuses_a_private_ca_by_default(use: Callable[[Settings], None], tls_url: str) -> None:
    # No CA file: only the system trust store, which never signed this server.
    with pytest.raises(CONNECT_ERRORS, match="CERTIFICATE_VERIFY_FAILED"):
        use(tls_settings(tls_url))


@each_client
def test_each_client_refuses_a_certificate_for_another_host_name(use: Callable[[Settings], None], tls_url: str,
                                                                 pki: Pki) -> None:
    # The server's certificate names 127.0.0.1 only; the same server reached as "localhost" is refused.
    with pytest.raises(CONNECT_ERRORS, match="Hostname mismatch"):
        use(tls_settings(tls_url.replace("127.0.0.1", "localhost"), ca=pki.ca))


@each_client
def test_each_client_presents_its_certificate_when_redis_asks(use: Callable[[Settings], None], mtls_url: str,
                                                              pki: Pki) -> None:
    use(tls_settings(mtls_url, ca=pki.ca, client=pki.client))
    with pytest.raises(CONNECT_ERRORS):
        use(tls_settings(mtls_url, ca=pki.ca))


def test_a_task_sent_over_verified_tls_waits_in_the_queue(tls_url: str, pki: Pki) -> None:
    settings = tls_settings(tls_url, ca=pki.ca)
    app = make_celery(settings, name="endoscribe-api")
    app.send_task(keys.TRANSCRIBE_TASK, args=["job-over-tls"], queue=keys.TRANSCRIBE_QUEUE, task_id="job-over-tls")
    assert "job-over-tls" in broker_task_ids(connect_redis(settings))


@each_client
def test_the_insecure_opt_out_connects_only_in_development_mode(use: Callable[[Settings], None],
                                                                tls_url: str) -> None:
    use(tls_settings(tls_url, insecure=True, dev_mode=True))
    with pytest.raises(RedisTlsConfigError, match="allowed only with ENDOSCRIBE_DEV_MODE=true"):
        use(tls_settings(tls_url, insecure=True))


@each_client
def test_a_url_that_turns_verification_off_works_only_in_development_mode(use: Callable[[Settings], None],
                                                                          tls_url: str) -> None:
    url = f"{tls_url}?ssl_cert_reqs=none"
    use(tls_settings(url, dev_mode=True))
    with pytest.raises(RedisTlsConfigError, match="ssl_cert_reqs=none, which would turn off"):
        use(tls_settings(url))


def start(args: list[str], tls_url: str, folder: Path, name: str, **env: str) -> Process:
    return Process(args, service_env(tls_url, FLOWER_BASIC_AUTH="ops:tls-test", **env), folder / f"{name}.log")


def test_the_api_and_flower_processes_reach_redis_over_verified_tls(
    tls_url: str, pki: Pki, tmp_path: Path
) -> None:
    api_port, flower_port = free_port(), free_port()
    api = start([str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(api_port)],
                tls_url, tmp_path, "api", ENDOSCRIBE_REDIS_CA_FILE=str(pki.ca))
    flower = start([str(BIN / "celery"), "-A", "worker.celery_app", "flower", f"--port={flower_port}",
                    "--address=127.0.0.1"], tls_url, tmp_path, "flower", ENDOSCRIBE_REDIS_CA_FILE=str(pki.ca))
    try:
        eventually(lambda: httpx.get(f"http://127.0.0.1:{api_port}/health").status_code == 200, 30, "api",
                   ignoring=NOT_LISTENING)
        # 200 with an empty list means the API read Redis; an unreachable Redis answers 503.
        assert httpx.get(f"http://127.0.0.1:{api_port}/gpu-info").json() == {"workers": []}
        flower_base = f"http://127.0.0.1:{flower_port}"
        eventually(lambda: httpx.get(f"{flower_base}/healthcheck").status_code == 200, 60, "flower",
                   ignoring=NOT_LISTENING)
        lengths = httpx.get(f"{flower_base}/api/queues/length", auth=("ops", "tls-test"), timeout=10)
        assert lengths.status_code == 200, flower.output()[-2000:]
        assert [q["name"] for q in lengths.json()["active_queues"]] == [keys.TRANSCRIBE_QUEUE]
    finally:
        api.stop()
        flower.stop()


def test_every_process_refuses_to_start_with_the_insecure_opt_out_outside_development(
    tls_url: str, tmp_path: Path
) -> None:
    commands = {
        "api": [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1", "--port", str(free_port())],
        "worker": [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "-P", "solo", "--without-mingle"],
        "flower": [str(BIN / "celery"), "-A", "worker.celery_app", "flower", f"--port={free_port()}"],
        "deliverer": [str(BIN / "python"), "-m", "webhooks.deliverer"],
    }
    # Production settings: no development mode (the test services run in it), and keys for the API.
    production = {"ENDOSCRIBE_DEV_MODE": "false", "ENDOSCRIBE_API_KEYS": '["k"]'}
    procs = {name: start(args, tls_url, tmp_path, name, ENDOSCRIBE_REDIS_TLS_INSECURE="true", **production)
             for name, args in commands.items()}
    try:
        for name, proc in procs.items():
            assert proc.proc.wait(60) != 0, name
            assert "allowed only with ENDOSCRIBE_DEV_MODE=true" in proc.output(), f"{name}:\n{proc.output()[-2000:]}"
    finally:
        for proc in procs.values():
            proc.stop()
