"""Strict request bodies: JSON as SigOpt's servers read it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from honed.api.parse import is_digits
from honed.errors import InvalidRequestError
from honed.errors import PayloadTooLargeError

MAX_BODY_BYTES = 10 * 1024 * 1024
MALFORMED = "Malformed json in request body"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise InvalidRequestError(f"{MALFORMED}: duplicate key {key!r}")
        data[key] = value
    return data


def _no_constants(name: str) -> Any:
    raise InvalidRequestError(f"{MALFORMED}: {name} is not a number honed accepts")


def _bounded_int(text: str) -> int:
    # CPython refuses huge digit strings itself, but with a ValueError, not our message.
    if len(text.lstrip("-")) > 50:
        raise InvalidRequestError(f"{MALFORMED}: integer too large")
    return int(text)


def parse_json(raw: bytes) -> Any:
    """Missing body is ``{}``; NaN, Infinity, duplicate keys and bad UTF-8 are refused."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"Request body larger than {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError(f"{MALFORMED}: not valid UTF-8") from None
    if "\x00" in text:
        raise InvalidRequestError(f"{MALFORMED}: NUL characters are not allowed")
    try:
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as error:
        raise InvalidRequestError(f"{MALFORMED}: {error}") from None
    except RecursionError:
        raise InvalidRequestError(f"{MALFORMED}: nested too deeply") from None
    if _has_nul(data):
        # Escaped as \u0000; PostgreSQL cannot store it in JSONB (it would be a 500).
        raise InvalidRequestError(f"{MALFORMED}: NUL characters are not allowed")
    return data


def _has_nul(data: Any) -> bool:
    """Whether any string (key or value) in parsed JSON holds a NUL; no recursion."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


async def json_body(request: Request) -> Any:
    """The parsed JSON body of a request."""
    return parse_json(await read_body(request))


async def read_body(request: Request) -> bytes:
    """The raw body, refused past MAX_BODY_BYTES."""
    length = request.headers.get("content-length")
    if length is not None and is_digits(length) and int(length) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"Request body larger than {MAX_BODY_BYTES} bytes")
    # Counted as it arrives: a chunked body (no Content-Length) stops at the limit too.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLargeError(f"Request body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
