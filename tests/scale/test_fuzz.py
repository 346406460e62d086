"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis), and
hostile bodies by hand: no 5xx ever, every answer in the documented shape.

Each operation gets valid inputs (positive mode) and invalid ones (negative mode); the run
counts the requests it sent and insists on at least MIN_REQUESTS.
"""

from __future__ import annotations

import base64

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from honed.server.app import create_app
from honed.server.http import MAX_BODY_BYTES
from honed.service.app import Services
from honed.storage.sql.storage import SqlStorage
from tests.conftest import TEST_TOKEN
from tests.scale.helpers import new_experiment
from tests.scale.helpers import ok

MIN_REQUESTS = 1000
EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 18}
# Experiment bodies are deep: generating them (negative ones above all) costs seconds per
# dozen, so these operations get fewer examples and the cheap ones make up the count.
HEAVY = {"ExperimentCreate", "ExperimentUpdateIn"}
HEAVY_EXAMPLES = 10
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{TEST_TOKEN}:".encode()).decode()}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def app(storage: SqlStorage) -> FastAPI:
    """An app with a few of everything, so small generated ids name real objects."""
    services = Services(storage)
    services.tokens.bootstrap(TEST_TOKEN)
    application = create_app(services=services)
    with TestClient(application) as client:
        client.auth = (TEST_TOKEN, "")
        for _ in range(2):
            base = f"/v1/experiments/{new_experiment(client)}"
            for value in (1.0, 2.0):
                suggestion = ok(client.post(f"{base}/suggestions"))
                body = {"suggestion": suggestion["id"], "value": value}
                ok(client.post(f"{base}/observations", json=body))
            ok(client.post(f"{base}/suggestions"))
            ok(client.post(f"{base}/queued_suggestions", json={"assignments": {"x": 0.5, "n": 2}}))
    return application


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, sent: dict[str, int]) -> None:
    """Send EXAMPLES[mode] generated requests to one operation and check every answer."""
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

    body = operation.definition.raw.get("requestBody", {})
    heavy = any(name in str(body) for name in HEAVY)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=HEAVY_EXAMPLES if heavy else EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        headers = {**AUTH, **(case.headers or {})}
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks, headers=headers)
        sent[operation.label] = sent.get(operation.label, 0) + 1

    run()


def test_fuzz_every_operation_from_the_openapi_document(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    sent: dict[str, int] = {}
    for operation in operations:
        for mode in EXAMPLES:
            fuzz(operation, mode, sent)
    assert len(sent) == len(operations) >= 29
    print(f"fuzz: {sum(sent.values())} requests over {len(sent)} operations")
    assert sum(sent.values()) >= MIN_REQUESTS, sent


HOSTILE = [
    b'{"name": "x", "parameters": [], "observation_budget": NaN}',
    b'{"name": "x", "observation_budget": Infinity}',
    b'{"name": "x", "observation_budget": -Infinity}',
    b'{"name": "x", "observation_budget": 1' + b"0" * 400 + b"}",
    b'{"name": "x", "observation_budget": 1e400}',
    b'{"name": "\xff\xfe"}',
    b'{"name": "a", "name": "b"}',
    b'{"name": "a\\u0000"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'"just a string"',
    b"{",
]


@pytest.mark.parametrize("body", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_bodies_answer_400(api: TestClient, body: bytes) -> None:
    base = f"/v1/experiments/{new_experiment(api)}"
    for path in ("/v1/experiments", f"{base}/suggestions", f"{base}/observations", base):
        method = "PUT" if path == base else "POST"
        response = api.request(method, path, content=body)
        assert response.status_code == 400, (path, body[:60], response.text)
        assert response.json()["status"] == 400


def test_huge_values_inside_valid_json_answer_400(api: TestClient) -> None:
    base = f"/v1/experiments/{new_experiment(api)}"
    suggestion = ok(api.post(f"{base}/suggestions"))["id"]
    for value in ("1e308", "-1e308", "1e309", "123456789" * 6):
        body = f'{{"suggestion": "{suggestion}", "value": {value}}}'.encode()
        response = api.post(f"{base}/observations", content=body)
        if value in ("1e308", "-1e308"):  # finite doubles are values like any other
            assert response.status_code == 200, response.text
        else:
            assert response.status_code == 400, (value, response.text)
    huge_bounds = (
        b'{"name": "x", "parameters": [{"name": "x", "type": "double", '
        b'"bounds": {"min": 0, "max": 1e309}}]}'
    )
    assert api.post("/v1/experiments", content=huge_bounds).status_code == 400
    too_big = b'{"name": "' + b"x" * (MAX_BODY_BYTES + 1) + b'"}'
    assert api.post("/v1/experiments", content=too_big).status_code == 413
