"""The S3 file store against a real S3-compatible server (moto's, in a subprocess): the
store itself, and ``honed serve --files-s3-bucket`` with the official client's log_image."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from honed.errors import NotFoundError
from honed.storage.s3_contents import SPOOL_BYTES
from honed.storage.s3_contents import S3Contents
from tests.support.s3 import S3Server
from tests.support.s3 import running_s3
from tests.support.server import running_server


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


def object_keys(s3: S3Server) -> list[str]:
    client: Any = s3.client()
    listed = client.list_objects_v2(Bucket=s3.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_writes_are_whole_or_absent(s3: S3Server) -> None:
    store = S3Contents(s3.bucket, prefix="unit/", endpoint_url=s3.endpoint_url)
    writer = store.writer("1/2/small")
    writer.write(b"hello ")
    writer.write(b"bucket")
    assert "unit/1/2/small" not in object_keys(s3)  # nothing before commit
    writer.commit()
    assert b"".join(store.read("1/2/small")) == b"hello bucket"

    aborted = store.writer("1/2/aborted")
    aborted.write(b"never")
    aborted.abort()
    assert "unit/1/2/aborted" not in object_keys(s3)
    with pytest.raises(NotFoundError):
        store.read("1/2/aborted")

    # Past the spool's memory and boto3's multipart threshold: on disk, sent in parts.
    large = os.urandom(SPOOL_BYTES + 1024 * 1024)
    writer = store.writer("1/2/large")
    for start in range(0, len(large), 1 << 20):
        writer.write(large[start : start + (1 << 20)])
    writer.commit()
    assert b"".join(store.read("1/2/large")) == large
    assert store.location == f"s3://{s3.bucket}/unit/ at {s3.endpoint_url}"


def test_honed_serve_keeps_run_images_in_the_bucket(s3: S3Server, tmp_path: Path) -> None:
    from sigopt.run_context import RunContext

    from tests.e2e.sigopt_worker import connection

    image = tmp_path / "plot.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(5000))
    args = ["--files-s3-bucket", s3.bucket, "--files-s3-endpoint-url", s3.endpoint_url]
    url = f"sqlite:///{tmp_path / 'honed.db'}"
    with running_server(url, extra_args=args, startup_timeout=240) as server:
        assert f"run files: s3://{s3.bucket}/" in server.log()
        with connection(server.url, server.token) as conn:
            client = conn.tokens("self").fetch().client
            conn.clients(client).projects().create(id="s3", name="S3")
            run = conn.clients(client).projects("s3").training_runs().create(name="r")
            RunContext(conn, run).log_image(str(image), name="plot")
            (file_id,) = conn.training_runs(run.id).fetch().files
        file = httpx.get(f"{server.url}/v1/files/{file_id}", auth=(server.token, "")).json()
        assert file["download"]["url"].startswith(server.url)  # served by honed from S3
        assert httpx.get(file["download"]["url"]).content == image.read_bytes()
    assert [k for k in object_keys(s3) if k.startswith(f"1/{run.id}/")] != []
    assert not (tmp_path / "honed-files").exists()  # nothing on the local disk
