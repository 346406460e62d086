"""What FastAPI cannot infer of the OpenAPI document: how a token is sent, and SigOpt's
MERGE method, which OpenAPI 3.1 has no place for. Everything else follows from the routes:
their bodies, query models, response models and error answers."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

JSON = dict[str, Any]


def build_openapi(app: FastAPI) -> JSON:
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    document["components"]["securitySchemes"] = {
        "basic": {"type": "http", "scheme": "basic", "description": "The token as user name"},
        "bearer": {"type": "http", "scheme": "bearer"},
    }
    document["security"] = [{"basic": []}, {"bearer": []}]
    for operations in document["paths"].values():
        # OpenAPI 3.2 puts such methods under additionalOperations, which 3.1 tools ignore as
        # an extension. FastAPI documents bodies of the standard methods only: MERGE takes
        # PUT's.
        if "merge" in operations:
            merge = operations.pop("merge")
            merge["requestBody"] = operations["put"]["requestBody"]
            operations["x-additionalOperations"] = {"MERGE": merge}
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    cache: list[JSON] = []

    def openapi() -> JSON:
        if not cache:
            cache.append(build_openapi(app))
        return cache[0]

    app.openapi = openapi  # type: ignore[method-assign]
