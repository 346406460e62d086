"""Strict request parsing: JSON bodies, query booleans, paging markers."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from honed.api import markers
from honed.api.parse import is_digits
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.errors import PayloadTooLargeError
from honed.errors import RateLimitedError
from honed.storage.base import PageRequest
from honed.storage.base import SortValue

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_LIMIT = 1000
# SigOpt: "limit defaults to and is capped at 1000" (a client reading `.data` gets it all).
DEFAULT_LIMIT = MAX_LIMIT
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
    refused = _refused_string(data)
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
    """FastAPI dependency: the parsed JSON body of a request."""
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
    return parse_json(b"".join(chunks))


TRUE = {"true", "1"}
FALSE = {"false", "0"}


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    """The sigopt client sends Python's ``True``/``False``; accept any case and 1/0."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise InvalidRequestError(f"Invalid {name}: expected true or false, got {raw!r}")


def _marker(request: Request, name: str, sort: str) -> tuple[int | None, SortValue]:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None, None
    return markers.decode(name, sort, raw)


def page_request(request: Request, sort: str = "id") -> PageRequest:
    """Paging of a list ordered by ``sort`` (its markers carry that sort's values), with
    ``ascending`` from the query."""
    raw = request.query_params.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        if not is_digits(raw) or len(raw) > 9:
            raise InvalidRequestError(f"Invalid limit: {raw!r} is not a non-negative integer")
        limit = int(raw)
        if limit > MAX_LIMIT:
            raise InvalidRequestError(f"Exceeded maximum limit: {MAX_LIMIT}")
    before, before_value = _marker(request, "before", sort)
    after, after_value = _marker(request, "after", sort)
    return PageRequest(
        limit=limit,
        before=before,
        after=after,
        ascending=query_bool(request, "ascending"),
        before_value=before_value,
        after_value=after_value,
    )


def query_seconds(request: Request, name: str) -> int | None:
    """A timestamp in integer seconds, as SigOpt renders them."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not is_digits(raw) or len(raw) > 12:
        raise InvalidRequestError(f"Invalid {name}: expected a timestamp in seconds, got {raw!r}")
    return int(raw)


def id_list(request: Request, name: str) -> list[int] | None:
    """``id=1,2,3`` or a JSON list, as the sigopt client may send either."""
    raw = request.query_params.getlist(name)
    if not raw:
        return None
    ids: list[int] = []
    for chunk in raw:
        text = chunk.strip()
        try:
            parts = json.loads(text) if text.startswith("[") else text.split(",")
        except json.JSONDecodeError:
            raise InvalidRequestError(f"Invalid {name}: {text!r} is not a list of ids") from None
        if not isinstance(parts, list):
            raise InvalidRequestError(f"Invalid {name}: {text!r} is not a list of ids")
        for part in parts:
            part = str(part).strip()
            if not is_digits(part) or len(part) > 19:
                raise InvalidRequestError(f"Invalid {name}: {part!r} is not an id")
            ids.append(int(part))
    return ids
