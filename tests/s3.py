"""An S3-compatible bucket for the tests: moto's standalone server (`moto[server]`) as a real process
on a free loopback port, stopped at the end. Each pytest process (each xdist worker) starts its own."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import httpx

from bench._server import answers, free_port

# What boto3 reads from the environment, as a deployment sets it (docs/operations.md); moto takes any keys.
ENV = {"AWS_ACCESS_KEY_ID": "fieldsync-test", "AWS_SECRET_ACCESS_KEY": "fieldsync-test",
       "AWS_REGION": "cn-north-1", "AWS_DEFAULT_REGION": "cn-north-1"}


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**ENV, "AWS_ENDPOINT_URL": self.url}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> S3Server:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        if answers(self.proc, lambda: httpx.get(self.url + "/moto-api/", timeout=1), 120):
            return self
        self.log.seek(0)
        output = self.log.read().decode(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"moto's server did not start:\n{output}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None
        self.log.close()
