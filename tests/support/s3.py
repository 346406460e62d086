"""A real S3-compatible server for tests: moto's S3 server in a subprocess (HTTP on a free
port), with a bucket and the credentials to reach it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.support.server import free_port

# moto accepts any credentials; boto3 needs some, from these variables.
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "honed-test",
    "AWS_SECRET_ACCESS_KEY": "honed-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def client(self) -> object:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")


@contextmanager
def running_s3(bucket: str = "honed-files", startup_timeout: float = 120.0) -> Iterator[S3Server]:
    """moto's server on a free port with ``bucket`` made; the credentials are set in this
    process's environment (and so in the servers it starts) while it runs."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = S3Server(f"http://127.0.0.1:{port}", bucket)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                httpx.get(server.endpoint_url, timeout=1.0)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        server.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
