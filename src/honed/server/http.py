"""Strict request bodies: JSON as SigOpt's servers read it."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from honed.api.parse import is_digits
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.errors import PayloadTooLargeError
from honed.errors import RateLimitedError

MAX_BODY_BYTES = 10 * 1024 * 1024
MALFORMED = "Malformed json in request body"
UNEXPECTED = "An unexpected server error has occurred."


def error_response(status: int, message: str) -> JSONResponse:
    """SigOpt's error shape."""
    return JSONResponse({"message": message, "status": status}, status_code=status)


def error_json(error: HonedError) -> JSONResponse:
    response = error_response(error.status_code, error.message)
    if isinstance(error, RateLimitedError):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


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


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: a float beyond double range
        raise InvalidRequestError(f"{MALFORMED}: {text} is out of range for a number")
    return value


def parse_json(raw: bytes) -> Any:
    """Missing body is ``{}``; NaN, Infinity, numbers beyond double range, duplicate keys,
    bad UTF-8, NUL characters and lone UTF-16 surrogates are refused."""
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
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as error:
        raise InvalidRequestError(f"{MALFORMED}: {error}") from None
    except RecursionError:
        raise InvalidRequestError(f"{MALFORMED}: nested too deeply") from None
    # Only a \u escape makes a NUL or a lone surrogate (a raw NUL is refused above, and
    # UTF-8 cannot encode a surrogate): without one, no string needs looking at.
    refused = _refused_string(data) if "\\u" in text else None
    if refused is not None:
        raise InvalidRequestError(f"{MALFORMED}: {refused}")
    return data


def _refused_string(data: Any) -> str | None:
    """What is wrong with a string (key or value) of parsed JSON, if anything; no recursion.

    Escaped as \\u0000 or \\ud800, such characters decode without error, but PostgreSQL
    refuses them in JSONB and SQLite stores them in text that can no longer be encoded
    (every later read of the record would fail)."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "NUL characters are not allowed"
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)"
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


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
