"""A throwaway PKI (openssl CLI) and a redis-server that speaks only TLS, for the Redis TLS tests."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.polling import NOT_LISTENING, eventually
from tests.services import Process, free_port

PASSWORD = "tls-test-password"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder: Path, name: str) -> Path:
    """A self-signed CA in `folder`/`name`.crt (key beside it); returns the certificate's path."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=folder)
    return folder / f"{name}.crt"


def issue(ca: Path, name: str, extensions: str) -> tuple[Path, Path]:
    """A leaf certificate signed by `ca` with the given X.509v3 extensions; returns (cert, key) paths."""
    folder = ca.parent
    (folder / f"{name}.ext").write_text(extensions + "\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca.name, "-CAkey", ca.with_suffix(".key").name,
             "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
             "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


@dataclass(frozen=True)
class Pki:
    ca: Path
    """The CA that signed the server's and the client's certificates."""
    other_ca: Path
    """A CA that signed nothing the server shows."""
    server: tuple[Path, Path]
    """Certificate and key for IP 127.0.0.1 only (so `localhost` is a host name it does not name)."""
    client: tuple[Path, Path]
    """A client certificate and key for mutual TLS."""


def make_pki(folder: Path) -> Pki:
    ca = make_ca(folder, "endoscribe-test-ca")
    return Pki(
        ca=ca,
        other_ca=make_ca(folder, "unrelated-ca"),
        server=issue(ca, "redis-server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        client=issue(ca, "endoscribe-client", "extendedKeyUsage=clientAuth"),
    )


def start_tls_redis(folder: Path, pki: Pki, *, client_certificates: bool = False) -> tuple[Process, str]:
    """A password-protected redis-server with no plain port, only TLS; returns it and its rediss:// URL."""
    port = free_port()
    cert, key = pki.server
    proc = Process(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key), "--tls-ca-cert-file", str(pki.ca),
         "--tls-auth-clients", "yes" if client_certificates else "no", "--requirepass", PASSWORD,
         "--save", "", "--appendonly", "no", "--dir", str(folder)],
        dict(os.environ), folder / f"redis-tls-{port}.log",
    )
    # Readiness through a client configured here, independent of the code under test.
    probe = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD, ssl=True, ssl_ca_certs=str(pki.ca),
                        ssl_certfile=str(pki.client[0]), ssl_keyfile=str(pki.client[1]))
    eventually(lambda: bool(probe.ping()), 10, "redis-server with TLS", ignoring=NOT_LISTENING)
    return proc, f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"
