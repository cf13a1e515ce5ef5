"""docs/nginx.conf run as shipped, by any user: Debian's nginx (`make test` installs it) with a minimal
main nginx.conf around the file, everything nginx writes under a temporary prefix, on a free port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._server import ROOT, free_port

NGINX_CONF = ROOT / "docs" / "nginx.conf"
UPSTREAM = ("    server 127.0.0.1:8000;\n", "    # server 127.0.0.1:8001;\n")


def binary() -> str:
    # Debian puts it in /usr/sbin, which is not on a normal user's PATH.
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise AssertionError("nginx is not installed: `make test` installs it (apt-get install nginx)")
    return found


def certificate(prefix: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by openssl under `prefix`."""
    prefix.mkdir(parents=True, exist_ok=True)
    cert, key = prefix / "cert.pem", prefix / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


def configure(prefix: Path, port: int, upstreams: list[int], tls: tuple[Path, Path] | None = None) -> Path:
    """docs/nginx.conf listening on `port` in front of the processes on `upstreams` (its upstream lines
    and its port the only change; with `tls`, a certificate and key, TLS on that port as
    docs/operations.md says to add it), inside a main nginx.conf under `prefix`; the main file's path."""
    prefix.mkdir(parents=True, exist_ok=True)
    site = NGINX_CONF.read_text()
    assert site.count("listen 80;") == 1 and all(site.count(line) == 1 for line in UPSTREAM), \
        "docs/nginx.conf's listen and upstream lines changed: update tests/nginx.py"
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    listen = f"listen 127.0.0.1:{port};" if tls is None else (
        f"listen 127.0.0.1:{port} ssl;\n    ssl_certificate {tls[0]};\n    ssl_certificate_key {tls[1]};")
    site = site.replace("listen 80;", listen).replace(UPSTREAM[0] + UPSTREAM[1], servers)
    (prefix / "fieldsync.conf").write_text(site)
    temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text("\n".join([
        "daemon off;", "worker_processes 1;", f"pid {prefix}/nginx.pid;", f"error_log {prefix}/error.log;",
        *(["user root;"] if os.geteuid() == 0 else []),  # its worker writes the body buffers under prefix
        "events { worker_connections 4096; }",
        "http {", "access_log off;", *(f"{name}_temp_path {path};" for name, path in temp.items()),
        f"include {prefix}/fieldsync.conf;", "}", ""]))
    return prefix / "nginx.conf"


def check(prefix: Path, upstreams: list[int]) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the shipped file, as `configure` places it."""
    conf = configure(prefix, free_port(), upstreams)
    return subprocess.run([binary(), "-t", "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")],
                          capture_output=True, text=True, timeout=60)


@contextmanager
def running(prefix: Path, upstreams: list[int], timeout: float = 120, tls: bool = False) -> Iterator[str]:
    """nginx in front of the processes on `upstreams` (with `tls`, over https with a self-signed
    certificate); its URL once it answers."""
    port = free_port()
    conf = configure(prefix, port, upstreams, certificate(prefix) if tls else None)
    proc = subprocess.Popen([binary(), "-c", str(conf), "-p", str(prefix), "-e", str(prefix / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Listening is enough: a request now would reach an upstream, and one that is down would be
        # marked failed before the test's own requests.
        while True:
            assert proc.poll() is None, (prefix / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
                break
            except ConnectionRefusedError:
                time.sleep(0.05)  # nginx is not listening yet: poll until it is (a condition, not a time)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
