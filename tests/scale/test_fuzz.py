"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis), and
hostile bodies by hand: no 5xx ever, every answer in the documented shape.

Each operation gets valid inputs (positive mode) and invalid ones (negative mode); the run
counts the requests it sent and insists on at least MIN_REQUESTS. Generated ids rarely name
an object, so about half the valid requests are aimed at the fixture's real ones.
"""

from __future__ import annotations

import base64
import json
import pathlib
import re
from typing import Any
from typing import TypeAlias

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.specs.openapi.checks import negative_data_rejection
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.specs.openapi.checks import status_code_conformance

from honed.server.app import create_app
from honed.server.http import MAX_BODY_BYTES
from honed.service.app import Services
from honed.storage.local_contents import LocalContents
from honed.storage.sql.storage import SqlStorage
from tests.conftest import TEST_TOKEN
from tests.scale.helpers import EXPERIMENT
from tests.scale.helpers import new_experiment
from tests.scale.helpers import ok
from tests.support.files import declared_image

MIN_REQUESTS = 1000
EXAMPLES = {GenerationMode.POSITIVE: 11, GenerationMode.NEGATIVE: 9}
# Experiment bodies (AI experiments' too) and run batches are deep: generating them (negative
# ones above all) costs seconds per dozen, so these operations get fewer examples and the
# cheap ones make up the count.
HEAVY = {"ExperimentCreate", "ExperimentUpdateIn", "TrainingRunBatchBody"}
HEAVY_EXAMPLES = 10
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{TEST_TOKEN}:".encode()).decode()}

Operation: TypeAlias = schemathesis.APIOperation[Any, Any, Any, Any]
Case: TypeAlias = schemathesis.Case[Any]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


PROJECT = "fuzz"
RUN = "/v1/training_runs/{run_id}"


@pytest.fixture
def app(storage: SqlStorage, tmp_path: pathlib.Path) -> FastAPI:
    """An app with a few of everything, so small generated ids name real objects; the ids of
    the last ones are in ``app.state.known`` (path parameter name -> id)."""
    services = Services(storage, contents=LocalContents(tmp_path / "files"))
    services.tokens.bootstrap(TEST_TOKEN)
    application = create_app(services=services)
    with TestClient(application) as client:
        client.auth = (TEST_TOKEN, "")
        known: dict[str, str] = {"client_id": ok(client.get("/v1/tokens/self"))["client"]}
        for _ in range(2):
            known["experiment_id"] = new_experiment(client)
            base = f"/v1/experiments/{known['experiment_id']}"
            for value in (1.0, 2.0):
                suggestion = ok(client.post(f"{base}/suggestions"))
                body = {"suggestion": suggestion["id"], "value": value}
                known["observation_id"] = ok(client.post(f"{base}/observations", json=body))["id"]
            known["suggestion_id"] = ok(client.post(f"{base}/suggestions"))["id"]
            queued = {"assignments": {"x": 0.5, "n": 2}}
            known["queued_id"] = ok(client.post(f"{base}/queued_suggestions", json=queued))["id"]
        projects = f"/v1/clients/{known['client_id']}/projects"
        ok(client.post(projects, json={"id": PROJECT, "name": "fuzz"}))
        ai = {**EXPERIMENT, "budget": 5}
        known["aiexperiment_id"] = ok(client.post(f"{projects}/{PROJECT}/aiexperiments", json=ai))[
            "id"
        ]
        runs = f"/v1/aiexperiments/{known['aiexperiment_id']}/training_runs"
        done = ok(client.post(runs, json={"name": "done", "values": {"f": {"value": 1.0}}}))
        ok(client.put(RUN.format(run_id=done["id"]), json={"state": "completed"}))
        ok(client.post(f"{projects}/{PROJECT}/training_runs", json={"name": "loose"}))
        known["run_id"] = ok(client.post(runs, json={"name": "r"}))["id"]
        checkpoint = {"values": [{"name": "f", "value": 0.5}]}
        ok(client.post(RUN.format(**known) + "/checkpoints", json=checkpoint))
        known["project_id"] = PROJECT
        content = b"an image"
        declared = declared_image(content)
        file = ok(client.post(RUN.format(**known) + "/files", json=declared))
        ok(client.put(file["upload"]["url"], content=content, headers=file["upload"]["headers"]))
        known["file_id"] = file["id"]
        tag = {"name": "fuzz", "color": "#123456"}
        known["tag_id"] = ok(client.post(f"/v1/clients/{known['client_id']}/tags", json=tag))["id"]
        ok(client.post(RUN.format(**known) + "/tags", json={"id": known["tag_id"]}))
    application.state.known = known
    return application


def aim(operation: Operation, case: Case) -> None:
    """Point the case's path at real objects, and send the valid token."""
    known: dict[str, str] = operation.app.state.known
    for name in case.path_parameters or {}:
        real = "aiexperiment_id" if operation.path.startswith("/v1/aiexperiments/") else name
        case.path_parameters[name] = known[real]
    case.headers = CaseInsensitiveDict({**dict(case.headers or {}), **AUTH})


def fuzz(
    operation: Operation,
    mode: GenerationMode,
    sent: dict[str, int],
    method: str | None = None,
) -> None:
    """Send EXAMPLES[mode] generated requests to one operation (with ``method`` instead of
    its own, if given) and check every answer."""
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS
    label = operation.label if method is None else f"{method} {operation.path}"

    body = operation.definition.raw.get("requestBody", {})
    heavy = any(name in str(body) for name in HEAVY)

    @given(case=operation.as_strategy(generation_mode=mode), real=st.booleans())
    @settings(
        max_examples=HEAVY_EXAMPLES if heavy else EXAMPLES[mode],
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case, real: bool) -> None:
        # Only valid cases: a negative one may be invalid in just the path.
        if real and mode is GenerationMode.POSITIVE:
            aim(operation, case)
        if method is not None:
            case.method = method  # type: ignore[assignment]  # not an HTTP method, on purpose
        headers = {**AUTH, **dict(case.headers or {})}
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks, headers=headers)
        sent[label] = sent.get(label, 0) + 1

    run()


def _loaded(result: Ok[Operation] | Err[InvalidSchema]) -> Operation:
    """An operation of the document; one it cannot be read as is a defect of the document."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def test_fuzz_every_operation_from_the_openapi_document(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [_loaded(result) for result in schema.get_all_operations()]
    # Deletes last, so the other operations still find the fixture's objects.
    operations.sort(key=lambda operation: operation.method == "delete")
    sent: dict[str, int] = {}
    for operation in operations:
        for mode in EXAMPLES:
            fuzz(operation, mode, sent)
    # OpenAPI 3.1, and so schemathesis, has no MERGE (the document keeps it in an extension):
    # MERGE gets PUT's cases, as it takes the same body and answers the same shape.
    (put_run,) = [o for o in operations if (o.method, o.path) == ("put", RUN)]
    for mode in EXAMPLES:
        fuzz(put_run, mode, sent, method="MERGE")
    assert len(sent) == len(operations) + 1 >= 51
    print(f"fuzz: {sum(sent.values())} requests over {len(sent)} operations")
    assert sum(sent.values()) >= MIN_REQUESTS, sent


def test_the_document_describes_merge_as_put(app: FastAPI) -> None:
    with TestClient(app) as client:
        document = ok(client.get("/openapi.json"))
    path: dict[str, Any] = document["paths"][RUN]
    merge = path["x-additionalOperations"]["MERGE"]
    assert "merge" not in path
    for key in ("parameters", "requestBody", "responses"):
        assert merge[key] == path["put"][key]


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


def test_digits_of_other_scripts_are_not_ids(api: TestClient) -> None:
    """str.isdigit() takes '¹' (which int() refuses: once a 500) and '٣' (which it reads)."""
    base = f"/v1/experiments/{new_experiment(api)}"
    ok(api.post("/v1/clients/1/projects", json={"id": "p", "name": "P"}))
    for digit in ("¹", "٣"):
        for query in ("before", "after", "limit"):
            response = api.get("/v1/aiexperiments", params={query: digit})
            assert response.status_code == 400, (query, response.text)
            assert query in response.json()["message"]
        assert api.get(f"{base}/suggestions", params={"id": digit}).status_code == 400
        filters = f'[{{"field": "experiment", "operator": "==", "value": "{digit}"}}]'
        runs = api.get("/v1/clients/1/projects/p/training_runs", params={"filters": filters})
        assert runs.status_code == 400, runs.text
        assert "filters[0].value" in runs.json()["message"]
        assert api.get(f"/v1/training_runs/{digit}").status_code == 404
        observation = {"suggestion": digit, "value": 1}
        assert api.post(f"{base}/observations", json=observation).status_code == 400


# --- hostile values in every field of every body --------------------------------------------

#: Raw JSON text put in place of one string or number of a valid body. The first ones are
#: refused as the body is parsed; the others reach validation in the place of a scalar.
REFUSED_AT_PARSE = {
    "lone surrogate": '"a\\ud800b"',
    "overflowing float": "-1e999",
    "huge integer": "9" * 400,
}
REACHING_VALIDATION = {
    "integer beyond int64": "9" * 30,
    "huge array": "[" + ",".join(["1"] * 50_000) + "]",
    "huge string": '"' + "x" * 200_000 + '"',
    "deep nesting": "[" * 900 + "]" * 900,
    "deeper nesting": '{"a":' * 5_000 + "0" + "}" * 5_000,
}
HOSTILE_VALUES = {**REFUSED_AT_PARSE, **REACHING_VALIDATION}
#: Valid bodies drawn per operation: their fields together are the fields fuzzed.
BODIES_PER_OPERATION = 3
SLOT = "\x01hostile\x01"
Path: TypeAlias = tuple[str | int, ...]


def leaves(body: Any, path: Path = ()) -> list[tuple[Path, bool]]:
    """Where a body holds strings and numbers: (path, is a key). Object keys count as
    strings too (metadata keys, prior keys)."""
    if isinstance(body, dict):
        found: list[tuple[Path, bool]] = []
        for key, value in body.items():
            found.append(((*path, key), True))
            found.extend(leaves(value, (*path, key)))
        return found
    if isinstance(body, list):
        return [leaf for index, item in enumerate(body) for leaf in leaves(item, (*path, index))]
    if isinstance(body, str | int | float) and not isinstance(body, bool):
        return [(path, False)]
    return []


def with_hostile(body: Any, path: Path, key: bool, value: str) -> str:
    """``body`` as JSON text with the leaf (or key) at ``path`` replaced by raw ``value``."""
    if not path:
        return value
    head, last = path[:-1], path[-1]
    copy = json.loads(json.dumps(body))
    parent = copy
    for step in head:
        parent = parent[step]
    if key:  # then ``value`` is a JSON string
        parent[SLOT] = parent.pop(last)
    else:
        parent[last] = SLOT
    return json.dumps(copy).replace(json.dumps(SLOT), value)


def valid_bodies(operation: Operation) -> list[Any]:
    bodies: list[Any] = []

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(
        max_examples=BODIES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def draw(case: Case) -> None:
        if isinstance(case.body, dict | list):
            bodies.append(case.body)

    draw()
    return bodies


def test_hostile_values_in_every_string_and_number_field(app: FastAPI) -> None:
    """Each hostile value in the place of each string and number (and key) of valid bodies
    of every operation that takes JSON: never a 5xx, parse-time refusals answer 400, and
    afterwards every record of the tenant still reads (nothing was stored poisoned)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    known: dict[str, str] = app.state.known
    statuses: dict[int, int] = {}
    with TestClient(app) as client:
        client.headers.update(AUTH)
        for result in schema.get_all_operations():
            operation = _loaded(result)
            if "requestBody" not in operation.definition.raw or operation.method == "delete":
                continue
            url = _real_path(operation, known)
            # Each field once (list items alike), in the first body that has it.
            places: dict[tuple[Path, bool], tuple[Path, Any]] = {}
            for body in valid_bodies(operation):
                for path, key in leaves(body):
                    field = tuple("*" if isinstance(step, int) else step for step in path)
                    places.setdefault((field, key), (path, body))
            for (_, key), (path, body) in places.items():
                for name, value in HOSTILE_VALUES.items():
                    if key and not value.startswith('"'):
                        continue  # a key can only be a string
                    content = with_hostile(body, path, key, value)
                    response = client.request(
                        operation.method.upper(),
                        url,
                        content=content.encode(),  # json.dumps wrote ASCII
                        headers={"Content-Type": "application/json"},
                    )
                    status = response.status_code
                    statuses[status] = statuses.get(status, 0) + 1
                    where = (operation.label, path, key, name)
                    assert status < 500, (*where, response.text[:200])
                    if name in REFUSED_AT_PARSE:
                        assert status == 400, (*where, response.text[:200])
        print(f"hostile values: {sum(statuses.values())} requests, statuses {statuses}")
        assert sum(statuses.values()) >= 1000, statuses
        _everything_reads(client, known)


def _real_path(operation: Operation, known: dict[str, str]) -> str:
    """The operation's path naming the fixture's objects (as ``aim`` does)."""
    ai = operation.path.startswith("/v1/aiexperiments/")
    names = re.findall(r"{(\w+)}", operation.path)
    return operation.path.format(
        **{name: known["aiexperiment_id" if ai else name] for name in names}
    )


def _everything_reads(client: TestClient, known: dict[str, str]) -> None:
    """Every list and record of the tenant answers 200: nothing stored is unreadable."""
    experiments = ok(client.get("/v1/experiments", params={"limit": 1000}))["data"]
    assert experiments
    for experiment in experiments:
        base = f"/v1/experiments/{experiment['id']}"
        for path in ("", "/observations", "/suggestions", "/best_assignments"):
            ok(client.get(base + path))
    projects = f"/v1/clients/{known['client_id']}/projects"
    ok(client.get(projects))
    ok(client.get(f"{projects}/{PROJECT}/training_runs"))
    ok(client.get(f"/v1/aiexperiments/{known['aiexperiment_id']}"))
    ok(client.get(RUN.format(**known)))
