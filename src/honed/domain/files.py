"""Files of training runs (what the sigopt client's ``log_image`` uploads).

A file is created with what the uploader declares (length, MD5, MIME type, a name) and
attached to its run at once, as sigopt-server does; its bytes arrive later, by a PUT to a
signed URL, and are accepted only when they match the declaration. Until then the file is
*pending*: listed on its run, with nothing to download.

Upload and download URLs are signed with a key of the file's own (HMAC-SHA256 over the
method, the file id and an expiry), so any server process on the same database checks them
without a shared secret, and the URL itself is the credential, as with S3's presigned URLs
that the sigopt client expects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import string
from dataclasses import dataclass
from dataclasses import field

from honed.errors import InvalidRequestError

MAX_FILE_NAME_LENGTH = 100  # SigOpt's, for ``name``
# The client sends the path it was given as ``filename``; paths run longer than names.
MAX_FILENAME_LENGTH = 1024
MAX_FILES_PER_RUN = 1000
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
#: How long an upload or download URL stays valid (sigopt-server's presigned URLs: 1 hour).
URL_LIFETIME_SECONDS = 3600

# The types the sigopt client uploads as images; the dashboard shows these in a gallery.
IMAGE_TYPES = frozenset(
    {
        "image/apng",
        "image/bmp",
        "image/gif",
        "image/jpeg",
        "image/png",
        "image/svg+xml",
        "image/webp",
        "image/x-icon",
    }
)
# sigopt-server's rule: a known top-level type and an RFC 6838 subtype, no parameters.
MIME_BASE_TYPES = (
    "application",
    "audio",
    "font",
    "image",
    "message",
    "multipart",
    "text",
    "video",
)
MIME_TYPE = re.compile(
    rf"(?:{'|'.join(MIME_BASE_TYPES)})/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{{0,99}}\Z"
)
MD5_BYTES = 16
# Characters kept in a download's file name (S3's safe characters, as sigopt-server).
_SAFE_FILENAME = frozenset(string.ascii_letters + string.digits + "!-_.*'()")


@dataclass(frozen=True)
class FileDeclaration:
    """What an uploader says about a file before sending it (checked by ``declare_file``)."""

    content_length: int
    content_type: str
    content_md5: str  # base64 of the 16 bytes, as in a Content-MD5 header
    name: str | None
    filename: str | None


@dataclass(frozen=True)
class RunFile:
    id: int
    client_id: int
    training_run_id: int
    declared: FileDeclaration
    #: Where the bytes live in the file store (honed.storage.contents).
    key: str
    created: int
    #: When the bytes arrived; None while the file is pending.
    uploaded: int | None = None
    signing_key: str = field(default="", repr=False)

    @property
    def is_uploaded(self) -> bool:
        return self.uploaded is not None

    @property
    def is_image(self) -> bool:
        return self.declared.content_type in IMAGE_TYPES

    @property
    def title(self) -> str:
        """What a person sees: its name, else the last part of its file name."""
        if self.declared.name:
            return self.declared.name
        return re.split(r"[/\\]", self.declared.filename or "")[-1] or f"file {self.id}"

    def download_name(self) -> str:
        """A safe file name for Content-Disposition (sigopt-server's rule)."""
        base = re.split(r"[/\\]", self.declared.filename or "")[-1]
        safe = "".join(c for c in base if c in _SAFE_FILENAME)
        if safe:
            return safe
        safe = "".join(c for c in self.declared.name or "" if c in _SAFE_FILENAME)
        subtype = self.declared.content_type.split("/")[1].split("+")[0]
        return f"{safe or self.id}.{subtype}"


def declare_file(
    content_length: int,
    content_type: str,
    content_md5: str,
    name: str | None,
    filename: str | None,
    max_bytes: int,
) -> FileDeclaration:
    """A file declaration, or InvalidRequestError naming the field that is wrong."""
    if content_length < 1:
        raise InvalidRequestError(
            f"Invalid content_length: {content_length}; a file has at least 1 byte"
        )
    if content_length > max_bytes:
        raise InvalidRequestError(
            f"Invalid content_length: {content_length} bytes is more than this server "
            f"accepts for one file ({max_bytes} bytes, --max-file-size)"
        )
    if not MIME_TYPE.match(content_type):
        raise InvalidRequestError(
            f"Invalid content_type: {content_type[:120]!r} is not a MIME type such as "
            "image/png (type/subtype, the type one of " + ", ".join(MIME_BASE_TYPES) + ")"
        )
    md5_digest(content_md5, "content_md5")
    # sigopt-server wants a name or a filename; the client sends neither for an array or a
    # figure logged without a name, so honed takes such a file too (its title: its id).
    if name is not None and len(name) > MAX_FILE_NAME_LENGTH:
        raise InvalidRequestError(
            f"Invalid name: {len(name)} characters; at most {MAX_FILE_NAME_LENGTH}"
        )
    if filename is not None and len(filename) > MAX_FILENAME_LENGTH:
        raise InvalidRequestError(
            f"Invalid filename: {len(filename)} characters; at most {MAX_FILENAME_LENGTH}"
        )
    return FileDeclaration(content_length, content_type.lower(), content_md5, name, filename)


def md5_digest(text: str, path: str) -> bytes:
    """The 16 bytes of a base64 MD5 (a Content-MD5 value), or InvalidRequestError."""
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != MD5_BYTES:
        raise InvalidRequestError(
            f"Invalid {path}: {text[:60]!r} is not the base64 of a 16-byte MD5 digest"
        )
    return digest


# --- signed URLs ------------------------------------------------------------------------------


def url_signature(file: RunFile, method: str, expires: int) -> str:
    message = f"{method}\n{file.id}\n{expires}".encode()
    return hmac.new(bytes.fromhex(file.signing_key), message, hashlib.sha256).hexdigest()


def signature_holds(file: RunFile, method: str, expires: int, signature: str) -> bool:
    return hmac.compare_digest(url_signature(file, method, expires), signature)
