"""A private redis-server reachable the other ways ``redis.url`` allows: TLS (``rediss://``) and a unix socket.

One process serves both (no plain TCP port): ``--tls-port`` with a certificate signed by a throw-away CA
made with the openssl CLI, and ``--unixsocket`` in a short temporary directory (socket paths are
limited to ~107 bytes, which pytest's tmp paths can exceed).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import free_port, require_binary, wait_until


def make_ca_and_server_cert(directory: Path, openssl: str) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key): the server's is signed by the CA, for 127.0.0.1."""
    ca_key, ca_cert = directory / "ca-key.pem", directory / "ca.pem"
    key, csr, cert = directory / "server-key.pem", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n", encoding="utf-8")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_cert), "-days", "1",
        "-subj", "/CN=graphwiz test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(cert), "-days", "1", "-extfile", str(ext))
    return ca_cert, cert, key


class TlsUnixRedis:
    """redis-server on a TLS port and a unix socket only; ``tls_url(db)`` / ``unix_url(db)``."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary("redis-server")
        self.workdir = workdir
        self.sockdir = Path(tempfile.mkdtemp(prefix="gw-redis-"))
        self.socket = self.sockdir / "redis.sock"
        self.port = free_port()
        self.ca, self.cert, self.key = make_ca_and_server_cert(workdir, require_binary("openssl"))
        self.proc: subprocess.Popen[bytes] | None = None

    def tls_url(self, db: int) -> str:
        return f"rediss://127.0.0.1:{self.port}/{db}?ssl_cert_reqs=required&ssl_ca_certs={self.ca}"

    def unix_url(self, db: int) -> str:
        return f"unix://{self.socket}?db={db}"

    def start(self) -> TlsUnixRedis:
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.cert),
             "--tls-key-file", str(self.key), "--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "no",
             "--unixsocket", str(self.socket), "--unixsocketperm", "700", "--bind", "127.0.0.1",
             "--dir", str(self.workdir), "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._answers, timeout=10, message="redis-server on its TLS port and unix socket")
        return self

    def _answers(self) -> bool:
        import redis

        try:
            for url in (self.tls_url(0), self.unix_url(0)):
                with redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5) as client:
                    client.ping()
            return True
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.sockdir, ignore_errors=True)
