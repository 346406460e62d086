"""Request bodies of the run-file API."""

from __future__ import annotations

import base64
import hashlib


def declared_image(content: bytes, name: str = "image") -> dict[str, object]:
    """The body of ``POST /v1/training_runs/{id}/files`` that declares ``content`` as a PNG
    image: its length and MD5, as the sigopt client sends them before the upload."""
    return {
        "content_length": len(content),
        "content_md5": base64.b64encode(hashlib.md5(content).digest()).decode(),
        "content_type": "image/png",
        "name": name,
    }
