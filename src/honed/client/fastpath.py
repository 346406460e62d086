"""The embedded client's two hottest calls, served by the service layer in this thread.

A scheduler makes two calls per trial (suggestion create, its metadata update) plus one
observation batch per round. Through the in-process ASGI app each call costs four thread
hops (caller -> event loop -> worker thread and back), which on a busy CPU was most of its
time (measured 23 ms vs 9.5 ms per trial cycle). These two routes are served here with the
same parsing, service calls and rendering as ``honed.server.routes.suggestions``; every
other request (observations included, so that server-side Idempotency-Key handling applies
to them) goes through the app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from honed.api import headers
from honed.api import parse
from honed.api import render
from honed.api.schemas import SuggestionCreate
from honed.api.schemas import SuggestionUpdate
from honed.domain.tenancy import Token
from honed.domain.validation import validate_metadata
from honed.errors import HonedError
from honed.errors import NotFoundError
from honed.server.http import parse_json
from honed.service.app import Services

JSON = dict[str, Any]
logger = logging.getLogger(__name__)
Handler = Callable[[Services, Token, list[int], Any, Mapping[str, str]], JSON]


def _id(text: str) -> int:
    try:
        return parse.object_id(text, "id")
    except Exception:
        raise NotFoundError() from None


def create_suggestion(
    svc: Services, token: Token, ids: list[int], data: Any, sent: Mapping[str, str]
) -> JSON:
    body = parse.body(SuggestionCreate, data)
    suggestion = svc.suggestions.create(
        token,
        ids[0],
        metadata=validate_metadata(body.metadata),
        assignments=body.assignments,
        max_wait=headers.max_wait(sent.get(headers.MAX_WAIT)),
    )
    return render.suggestion_json(suggestion)


def update_suggestion(
    svc: Services, token: Token, ids: list[int], data: Any, sent: Mapping[str, str]
) -> JSON:
    body = parse.body(SuggestionUpdate, data)
    # As the route: any update also extends the suggestion's lease (suggestion TTL).
    updated = svc.suggestions.update(
        token,
        ids[0],
        ids[1],
        validate_metadata(body.metadata),
        set_metadata="metadata" in body.model_fields_set,
    )
    return render.suggestion_json(updated)


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    ("POST", re.compile(r"/v1/experiments/([^/]+)/suggestions"), create_suggestion),
    ("PUT", re.compile(r"/v1/experiments/([^/]+)/suggestions/([^/]+)"), update_suggestion),
]


def serve(
    svc: Services,
    token: Token,
    method: str,
    path: str,
    content: bytes,
    sent: Mapping[str, str],
) -> tuple[int, JSON] | None:
    """(status, JSON) for a hot route, or None to let the app serve the request."""
    for route_method, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if route_method != method or match is None:
            continue
        try:
            ids = [_id(part) for part in match.groups()]
            data = parse_json(content)
            return 200, handler(svc, token, ids, data, sent)
        except HonedError as error:
            return error.status_code, {"message": error.message, "status": error.status_code}
        except Exception:
            logger.exception("unexpected error")  # as the app's own handler does
            return 500, {"message": "An unexpected server error has occurred.", "status": 500}
    return None
