"""Every Redis connection an EndoScribe process opens, with verified TLS for `rediss://` URLs.

Two traps make this the one place that builds them. kombu (Celery's broker and events, and so
Flower) given a `rediss://` URL without `broker_use_ssl` connects with CERT_NONE, so anyone on the
path could read the Redis password, and with it every recording and transcript. And redis-py lets a
URL's `?ssl_cert_reqs=none` override whatever the code passes. So TLS options come from settings
(`ENDOSCRIBE_REDIS_*`), never from the URL, and the same options reach every client.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio

from core.settings import RedisTlsSettings, Settings

log = logging.getLogger(__name__)

# What to set instead of a URL parameter that names a file (the URL then differs between clients).
_SETTING_FOR_PARAMETER = {
    "ssl_ca_certs": "ENDOSCRIBE_REDIS_CA_FILE",
    "ssl_certfile": "ENDOSCRIBE_REDIS_CERT_FILE",
    "ssl_keyfile": "ENDOSCRIBE_REDIS_KEY_FILE",
}
_FALSE = {"0", "f", "false", "n", "no"}


class RedisTlsConfigError(ValueError):
    """The Redis TLS configuration is unsafe or unusable; the process must not start with it."""


@dataclass(frozen=True)
class RedisEndpoint:
    """Where Redis is and how to reach it, as every client needs it."""

    url: str
    """`REDIS_URL` without TLS query parameters (they are folded into `ssl`)."""
    ssl: dict[str, Any] | None
    """redis-py `SSLConnection` keyword arguments for a `rediss://` URL; None for plain `redis://`."""


def redis_endpoint(settings: Settings) -> RedisEndpoint:
    """Check the Redis TLS configuration and return the URL and TLS options; raises `RedisTlsConfigError`."""
    url, url_asks_insecure = _strip_tls_parameters(settings.redis_url, settings.dev_mode)
    tls = settings.redis_tls
    if tls.tls_insecure and not settings.dev_mode:
        raise RedisTlsConfigError(
            "ENDOSCRIBE_REDIS_TLS_INSECURE=true turns off Redis certificate and host name checks, so anyone on "
            "the network path can read the Redis password; it is allowed only with ENDOSCRIBE_DEV_MODE=true on a "
            "development machine. For a Redis whose certificate a private CA signed, set "
            "ENDOSCRIBE_REDIS_CA_FILE to that CA's PEM file instead."
        )
    if urlsplit(url).scheme != "rediss":
        _refuse_unused_files(tls)
        return RedisEndpoint(url, None)
    if tls.tls_insecure or url_asks_insecure:
        log.warning("Redis TLS without certificate or host name checks (development mode): do not use in production")
        return RedisEndpoint(url, {"ssl_cert_reqs": ssl.CERT_NONE, "ssl_check_hostname": False})
    _check_files_load(tls)
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True}
    if tls.ca_file:
        options["ssl_ca_certs"] = tls.ca_file
    if tls.cert_file:
        options["ssl_certfile"] = tls.cert_file
    if tls.key_file:
        options["ssl_keyfile"] = tls.key_file
    return RedisEndpoint(url, options)


def connect_redis(settings: Settings, **kwargs: Any) -> redis.Redis:
    """A redis-py client for `settings.redis_url` (connecting lazily), TLS verified as configured."""
    endpoint = redis_endpoint(settings)
    return redis.Redis.from_url(endpoint.url, **(endpoint.ssl or {}), **kwargs)


def connect_async_redis(settings: Settings, **kwargs: Any) -> redis.asyncio.Redis:
    """The asyncio twin of `connect_redis`, for what waits on Redis inside the event loop (live sessions'
    event relays: one blocking read per connected client, without a thread each).

    Its pool is bounded (`ENDOSCRIBE_LIVE_REDIS_MAX_CONNECTIONS`), so streams cannot take Redis to its
    client limit, and a caller that finds it full waits `redis_wait_seconds`, then gets
    `redis.ConnectionError` to answer cleanly, instead of queueing forever."""
    endpoint = redis_endpoint(settings)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        endpoint.url, max_connections=settings.live.redis_max_connections,
        timeout=settings.live.redis_wait_seconds, **(endpoint.ssl or {}), **kwargs)
    return redis.asyncio.Redis.from_pool(pool)


def celery_tls_options(settings: Settings) -> dict[str, Any]:
    """Celery settings that carry the TLS options to the broker (and so events and Flower) and any
    Redis result backend. Without them kombu would connect to a `rediss://` broker with CERT_NONE."""
    options = redis_endpoint(settings).ssl
    return {"broker_use_ssl": options, "redis_backend_use_ssl": options}


def _strip_tls_parameters(url: str, dev_mode: bool) -> tuple[str, bool]:
    """The URL without its `ssl*` query parameters, and whether they asked to skip verification."""
    parts = urlsplit(url)
    kept, asks_insecure = [], False
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if not name.lower().startswith("ssl"):
            kept.append((name, value))
        elif _downgrades(name.lower(), value.lower()):
            if not dev_mode:
                raise RedisTlsConfigError(
                    f"REDIS_URL carries {name}={value}, which would turn off Redis certificate checks: remove it "
                    "(for a private CA set ENDOSCRIBE_REDIS_CA_FILE), or set ENDOSCRIBE_DEV_MODE=true on a "
                    "development machine."
                )
            asks_insecure = True
        elif not _restates_default(name.lower(), value.lower()):
            instead = _SETTING_FOR_PARAMETER.get(name.lower())
            hint = f"set {instead} instead" if instead else "EndoScribe does not support it"
            raise RedisTlsConfigError(
                f"REDIS_URL carries the TLS parameter {name}; TLS options come from settings, not the URL: "
                f"remove it and {hint}."
            )
    if len(kept) == len(parse_qsl(parts.query, keep_blank_values=True)):
        return url, False
    return urlunsplit(parts._replace(query=urlencode(kept))), asks_insecure


def _downgrades(name: str, value: str) -> bool:
    if name == "ssl_cert_reqs":
        return value in {"none", "optional", "cert_none", "cert_optional"}
    return name == "ssl_check_hostname" and value in _FALSE


def _restates_default(name: str, value: str) -> bool:
    if name == "ssl_cert_reqs":
        return value in {"required", "cert_required"}
    return name == "ssl_check_hostname" and value not in _FALSE


def _refuse_unused_files(tls: RedisTlsSettings) -> None:
    # Setting a CA for a plain URL usually means believing the connection is encrypted when it is not.
    named = [name for name, value in (("ENDOSCRIBE_REDIS_CA_FILE", tls.ca_file),
                                      ("ENDOSCRIBE_REDIS_CERT_FILE", tls.cert_file),
                                      ("ENDOSCRIBE_REDIS_KEY_FILE", tls.key_file)) if value]
    if named:
        raise RedisTlsConfigError(
            f"{', '.join(named)} is set but REDIS_URL is not a rediss:// URL, so the connection would not use "
            "TLS at all: use rediss://, or unset it."
        )


def _check_files_load(tls: RedisTlsSettings) -> None:
    # At start-up, with the setting's name, rather than as an SSL error at the first connection.
    context = ssl.create_default_context()
    if tls.ca_file:
        try:
            context.load_verify_locations(cafile=tls.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise RedisTlsConfigError(
                f"ENDOSCRIBE_REDIS_CA_FILE={tls.ca_file} cannot be loaded as a PEM CA bundle: {exc}"
            ) from None
    if tls.key_file and not tls.cert_file:
        raise RedisTlsConfigError("ENDOSCRIBE_REDIS_KEY_FILE is set without ENDOSCRIBE_REDIS_CERT_FILE: set both")
    if tls.cert_file:
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise RedisTlsConfigError(
                f"ENDOSCRIBE_REDIS_CERT_FILE={tls.cert_file} (key: {tls.key_file or 'in the same file'}) cannot be "
                f"loaded as a PEM client certificate and key: {exc}"
            ) from None
