"""Redis TLS options come from settings, the same for every client; unsafe ones stop the process."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from core.queueing import make_celery
from core.redis_connection import RedisEndpoint, RedisTlsConfigError, redis_endpoint
from core.settings import RedisTlsSettings, Settings

URL = "rediss://default:s3cret-pw@redis.example.com:6379/0"
VERIFIED = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True}
UNVERIFIED = {"ssl_cert_reqs": ssl.CERT_NONE, "ssl_check_hostname": False}


def settings(url: str = URL, dev_mode: bool = False, **tls: str | bool) -> Settings:
    return Settings(redis_url=url, redis_tls=RedisTlsSettings(**tls), dev_mode=dev_mode)


def test_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENDOSCRIBE_REDIS_CA_FILE", "/etc/endoscribe/redis-ca.pem")
    monkeypatch.setenv("ENDOSCRIBE_REDIS_CERT_FILE", "/etc/endoscribe/client.pem")
    monkeypatch.setenv("ENDOSCRIBE_REDIS_KEY_FILE", "/etc/endoscribe/client.key")
    monkeypatch.setenv("ENDOSCRIBE_REDIS_TLS_INSECURE", "true")
    monkeypatch.setenv("ENDOSCRIBE_DEV_MODE", "true")
    loaded = Settings()
    assert loaded.redis_tls == RedisTlsSettings(ca_file="/etc/endoscribe/redis-ca.pem",
                                                cert_file="/etc/endoscribe/client.pem",
                                                key_file="/etc/endoscribe/client.key", tls_insecure=True)
    assert loaded.dev_mode is True


def test_a_tls_url_verifies_certificate_and_host_name_against_the_system_store_by_default() -> None:
    assert redis_endpoint(settings()) == RedisEndpoint(URL, VERIFIED)


def test_a_plain_url_uses_no_tls() -> None:
    assert redis_endpoint(settings("redis://127.0.0.1:6379/0")) == RedisEndpoint("redis://127.0.0.1:6379/0", None)


def test_celery_gets_the_same_options_for_its_broker_and_any_redis_result_backend() -> None:
    conf = make_celery(settings()).conf
    assert conf.broker_url == URL
    assert conf.broker_use_ssl == VERIFIED
    assert conf.redis_backend_use_ssl == VERIFIED
    plain = make_celery(settings("redis://127.0.0.1:6379/0")).conf
    assert (plain.broker_use_ssl, plain.redis_backend_use_ssl) == (None, None)


def test_the_insecure_opt_out_is_refused_outside_development() -> None:
    with pytest.raises(RedisTlsConfigError, match="allowed only with ENDOSCRIBE_DEV_MODE=true"):
        redis_endpoint(settings(tls_insecure=True))
    with pytest.raises(RedisTlsConfigError, match="allowed only with ENDOSCRIBE_DEV_MODE=true"):
        redis_endpoint(settings("redis://127.0.0.1:6379/0", tls_insecure=True))
    assert redis_endpoint(settings(tls_insecure=True, dev_mode=True)) == RedisEndpoint(URL, UNVERIFIED)


@pytest.mark.parametrize("query", ["ssl_cert_reqs=none", "ssl_cert_reqs=CERT_OPTIONAL", "ssl_check_hostname=false"])
def test_a_url_that_turns_verification_off_is_refused_outside_development(query: str) -> None:
    with pytest.raises(RedisTlsConfigError, match="would turn off Redis certificate checks") as refused:
        redis_endpoint(settings(f"{URL}?{query}"))
    assert "s3cret-pw" not in str(refused.value)
    assert redis_endpoint(settings(f"{URL}?{query}", dev_mode=True)) == RedisEndpoint(URL, UNVERIFIED)


def test_url_parameters_that_restate_verification_are_dropped_and_others_kept() -> None:
    url = f"{URL}?socket_timeout=5&ssl_cert_reqs=required&ssl_check_hostname=true"
    assert redis_endpoint(settings(url)) == RedisEndpoint(f"{URL}?socket_timeout=5", VERIFIED)


@pytest.mark.parametrize(("parameter", "setting"), [
    ("ssl_ca_certs=/tmp/ca.pem", "set ENDOSCRIBE_REDIS_CA_FILE instead"),
    ("ssl_certfile=/tmp/c.pem", "set ENDOSCRIBE_REDIS_CERT_FILE instead"),
    ("ssl_exclude_verify_flags=VERIFY_X509_STRICT", "EndoScribe does not support it"),
])
def test_other_tls_url_parameters_are_refused_in_every_mode(parameter: str, setting: str) -> None:
    for dev_mode in (False, True):
        with pytest.raises(RedisTlsConfigError, match=setting):
            redis_endpoint(settings(f"{URL}?{parameter}", dev_mode=dev_mode))


def test_a_ca_file_for_a_plain_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RedisTlsConfigError, match="ENDOSCRIBE_REDIS_CA_FILE is set but REDIS_URL is not a rediss://"):
        redis_endpoint(settings("redis://127.0.0.1:6379/0", ca_file=str(tmp_path / "ca.pem")))


def test_unusable_files_are_refused_at_start_up_naming_the_setting(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(RedisTlsConfigError, match=r"ENDOSCRIBE_REDIS_CA_FILE=/nonexistent/ca\.pem cannot be loaded"):
        redis_endpoint(settings(ca_file="/nonexistent/ca.pem"))
    with pytest.raises(RedisTlsConfigError, match=r"ENDOSCRIBE_REDIS_CA_FILE=\S+garbage\.pem cannot be loaded"):
        redis_endpoint(settings(ca_file=str(garbage)))
    with pytest.raises(RedisTlsConfigError, match=r"ENDOSCRIBE_REDIS_CERT_FILE=\S+garbage\.pem"):
        redis_endpoint(settings(cert_file=str(garbage)))
    with pytest.raises(RedisTlsConfigError, match="ENDOSCRIBE_REDIS_KEY_FILE is set without"):
        redis_endpoint(settings(key_file=str(garbage)))
