"""The file store in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), through boto3
(``pip install 'honed[s3]'``). Credentials come from boto3's usual places
(``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, a profile, an instance role).

Uploads still go through honed, which checks each one's length and MD5 before it keeps
it; the bytes are spooled (in memory up to ``SPOOL_BYTES``, then on disk) and sent to the
bucket on ``commit``, in parts when large, so an object is either whole or absent.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

from honed.errors import NotFoundError
from honed.errors import ServiceUnavailableError
from honed.storage.contents import ContentWriter
from honed.storage.contents import FileContents

SPOOL_BYTES = 8 * 1024 * 1024


class S3Contents(FileContents):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
    ) -> None:
        import boto3  # only when configured: an optional dependency

        self._bucket = bucket
        self._prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        where = f" at {endpoint_url}" if endpoint_url else ""
        self.location = f"s3://{bucket}/{self._prefix}{where}"

    def object_key(self, key: str) -> str:
        return self._prefix + key

    def writer(self, key: str) -> ContentWriter:
        return _S3Writer(self, self.object_key(key))

    def read(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            answer = self._client.get_object(Bucket=self._bucket, Key=self.object_key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFoundError("The file's content is missing from the file store") from None
            raise ServiceUnavailableError(f"The file store refused a read: {error}") from None
        body = answer["Body"]
        return _chunks(body, chunk_size)

    def put(self, object_key: str, data: Any) -> None:
        from botocore.exceptions import BotoCoreError
        from botocore.exceptions import ClientError

        try:
            self._client.upload_fileobj(data, self._bucket, object_key)
        except (BotoCoreError, ClientError) as error:
            raise ServiceUnavailableError(f"The file store refused an upload: {error}") from None


def _chunks(body: Any, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


class _S3Writer(ContentWriter):
    def __init__(self, store: S3Contents, object_key: str) -> None:
        self._store = store
        self._object_key = object_key
        # Closed by commit or abort, which every upload ends with.
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self._spool.write(chunk)

    def commit(self) -> None:
        self._spool.seek(0)
        try:
            self._store.put(self._object_key, self._spool)
        finally:
            self._spool.close()

    def abort(self) -> None:
        self._spool.close()
