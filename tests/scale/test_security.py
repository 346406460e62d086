"""Tenant isolation on every endpoint, token kinds, rate limits, body limits and CORS."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from honed.domain.tenancy import TokenType
from honed.server.app import create_app
from honed.server.http import MAX_BODY_BYTES
from honed.server.settings import Settings
from honed.service.app import Services
from honed.storage.sql.storage import SqlStorage
from tests.conftest import TEST_TOKEN
from tests.scale.helpers import EXPERIMENT
from tests.scale.helpers import new_experiment
from tests.scale.helpers import ok
from tests.support.server import running_server

# A plausible body per (method, path): a 404 must not hide behind a 400 for a bad body.
POINT = {"x": 0.5, "n": 3}
AI_EXPERIMENT = {**EXPERIMENT, "name": "ai", "budget": 4}
PROJECT = "proj-a"
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/experiments"): EXPERIMENT,
    ("POST", "/v1/clients/{client_id}/experiments"): EXPERIMENT,
    ("PUT", "/v1/experiments/{experiment_id}"): {"name": "renamed"},
    ("POST", "/v1/experiments/{experiment_id}/suggestions"): {},
    ("PUT", "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}"): {"metadata": {}},
    ("POST", "/v1/experiments/{experiment_id}/suggestions/{suggestion_id}"): {},
    ("POST", "/v1/experiments/{experiment_id}/queued_suggestions"): {"assignments": POINT},
    ("POST", "/v1/experiments/{experiment_id}/observations"): {"assignments": POINT, "value": 1},
    ("POST", "/v1/experiments/{experiment_id}/observations/batch"): {
        "observations": [{"assignments": POINT, "value": 1}]
    },
    ("PUT", "/v1/experiments/{experiment_id}/observations/{observation_id}"): {"value": 2},
    ("POST", "/v1/clients/{client_id}/projects"): {"id": "b-project", "name": "B"},
    ("PUT", "/v1/clients/{client_id}/projects/{project_id}"): {"name": "renamed"},
    ("POST", "/v1/clients/{client_id}/projects/{project_id}/aiexperiments"): AI_EXPERIMENT,
    ("POST", "/v1/clients/{client_id}/projects/{project_id}/training_runs"): {"name": "b"},
    ("POST", "/v1/clients/{client_id}/projects/{project_id}/training_runs/batch"): {
        "runs": [{"name": "b"}]
    },
    ("PUT", "/v1/aiexperiments/{experiment_id}"): {"name": "renamed"},
    ("POST", "/v1/aiexperiments/{experiment_id}/training_runs"): {"name": "b"},
    ("PUT", "/v1/training_runs/{run_id}"): {"name": "renamed", "state": "failed"},
    ("MERGE", "/v1/training_runs/{run_id}"): {"name": "renamed", "state": "failed"},
    ("POST", "/v1/training_runs/{run_id}/checkpoints"): {"values": [{"name": "f", "value": 9}]},
    ("POST", "/v1/training_runs/{run_id}/files"): {
        "content_length": 1,
        "content_md5": "ndTkYSaMgDT1yFZOFVxnpg==",
        "content_type": "image/png",
        "name": "b",
    },
    ("POST", "/v1/training_runs/{run_id}/tags"): {"id": "1"},
    ("POST", "/v1/clients/{client_id}/tags"): {"name": "b", "color": "#000000"},
}
# Authorized by a signed URL, not a token (tests/e2e/test_run_files.py tries forged ones).
SIGNED = {("PUT", "/v1/files/{file_id}/content")}
# Routes without a foreign id to try: they act on the caller's own tenant.
OWN_TENANT = {
    ("GET", "/v1/experiments"),
    ("POST", "/v1/experiments"),
    ("GET", "/v1/tokens/self"),
    ("GET", "/v1/aiexperiments"),
}


def path_ids(path: str, ids: dict[str, str]) -> dict[str, str]:
    """The ids a route's path takes: /v1/aiexperiments/{experiment_id} an AI experiment's."""
    if path.startswith("/v1/aiexperiments/"):
        return {**ids, "experiment_id": ids["aiexperiment_id"]}
    return ids


def routes(app: Any) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and route.path.startswith("/v1/")
        for method in route.methods or ()
    )


@pytest.fixture
def tenants(api: TestClient) -> Iterator[tuple[TestClient, TestClient, dict[str, str]]]:
    """Tenant A (the ``api`` fixture's client) with one of everything; tenant B's client."""
    services: Services = api.app.state.services  # type: ignore[attr-defined]
    other = services.storage.create_client("tenant b")
    secret = services.tokens.issue(other.id).secret
    eid = new_experiment(api)
    base = f"/v1/experiments/{eid}"
    suggestion = ok(api.post(f"{base}/suggestions"))
    observation = ok(
        api.post(f"{base}/observations", json={"suggestion": suggestion["id"], "value": 1})
    )
    open_suggestion = ok(api.post(f"{base}/suggestions"))
    # Queued last: the next suggestion create would consume it.
    queued = ok(api.post(f"{base}/queued_suggestions", json={"assignments": POINT}))
    client_id = ok(api.get("/v1/tokens/self"))["client"]
    projects = f"/v1/clients/{client_id}/projects"
    ok(api.post(projects, json={"id": PROJECT, "name": "A"}))
    ai = ok(api.post(f"{projects}/{PROJECT}/aiexperiments", json=AI_EXPERIMENT))
    run = ok(api.post(f"/v1/aiexperiments/{ai['id']}/training_runs", json={"name": "a"}))
    checkpoint = {"values": [{"name": "f", "value": 0.5}]}
    ok(api.post(f"/v1/training_runs/{run['id']}/checkpoints", json=checkpoint))
    content = b"x"
    declared = {**BODIES[("POST", "/v1/training_runs/{run_id}/files")], "content_length": 1}
    file = ok(api.post(f"/v1/training_runs/{run['id']}/files", json=declared))
    upload = file["upload"]
    ok(api.put(upload["url"], content=content, headers=upload["headers"]))
    tag = ok(api.post(f"/v1/clients/{client_id}/tags", json={"name": "a", "color": "#ffffff"}))
    ok(api.post(f"/v1/training_runs/{run['id']}/tags", json={"id": tag["id"]}))
    ids = {
        "client_id": client_id,
        "experiment_id": eid,
        "suggestion_id": open_suggestion["id"],
        "observation_id": observation["id"],
        "queued_id": queued["id"],
        "project_id": PROJECT,
        "aiexperiment_id": ai["id"],
        "run_id": run["id"],
        "file_id": file["id"],
        "tag_id": tag["id"],
    }
    with TestClient(api.app) as b:
        b.auth = (secret, "")
        yield api, b, ids


def test_every_endpoint_hides_another_tenants_objects(
    tenants: tuple[TestClient, TestClient, dict[str, str]],
) -> None:
    a, b, ids = tenants
    own_eid = new_experiment(b)
    own_client = ok(b.get("/v1/tokens/self"))["client"]
    checked = set()
    for method, path in routes(a.app):
        if (method, path) in OWN_TENANT | SIGNED:
            continue
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert names, f"{method} {path}: add it to OWN_TENANT or give it an id to test"
        assert names <= set(ids), f"{method} {path}: unknown path parameter in {names}"
        body = BODIES.get((method, path))
        # Tenant B with all of A's ids, and (nested routes) with its own experiment or client
        # and A's child ids: 404 each time, and nothing of A's changes.
        a_ids = path_ids(path, ids)
        variants = [a_ids]
        if len(names) > 1:
            for name, own in (("experiment_id", own_eid), ("client_id", own_client)):
                if name in names:
                    variants.append({**a_ids, name: own})
        for values in variants:
            url = path.format(**{name: values[name] for name in names})
            response = b.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)
            assert response.json() == {
                "message": "The requested resource could not be found",
                "status": 404,
            }
        checked.add((method, path))
        if method == "GET":  # A itself reads the same URL
            url = path.format(**{name: a_ids[name] for name in names})
            assert a.get(url).status_code == 200, url
    assert len(checked) >= 40
    # A's things are unchanged, and B's own lists show none of them.
    experiment = ok(a.get(f"/v1/experiments/{ids['experiment_id']}"))
    assert experiment["name"] == EXPERIMENT["name"]
    assert experiment["progress"]["observation_count"] == 1
    assert [e["id"] for e in ok(b.get("/v1/experiments"))["data"]] == [own_eid]
    assert own_client != ids["client_id"]
    project = ok(a.get(f"/v1/clients/{ids['client_id']}/projects/{PROJECT}"))
    assert (project["name"], project["deleted"]) == ("A", False)
    ai = ok(a.get(f"/v1/aiexperiments/{ids['aiexperiment_id']}"))
    assert (ai["name"], ai["state"], ai["progress"]["total_run_count"]) == ("ai", "active", 1)
    run = ok(a.get(f"/v1/training_runs/{ids['run_id']}"))
    assert (run["name"], run["state"], run["deleted"]) == ("a", "active", False)
    assert run["checkpoint_count"] == 1
    runs = ok(a.get(f"/v1/clients/{ids['client_id']}/projects/{PROJECT}/training_runs"))
    assert [r["id"] for r in runs["data"]] == [ids["run_id"]]
    assert ok(b.get("/v1/aiexperiments"))["count"] == 0
    assert ok(b.get(f"/v1/clients/{own_client}/projects"))["count"] == 0


def test_token_kinds(api: TestClient, sqlite_url: str) -> None:
    services: Services = api.app.state.services  # type: ignore[attr-defined]
    client_id = int(ok(api.get("/v1/tokens/self"))["client"])
    eid = new_experiment(api)
    base = f"/v1/experiments/{eid}"
    suggestion = ok(api.post(f"{base}/suggestions"))
    read_only = services.tokens.issue(client_id, permissions="read").secret
    development = services.tokens.issue(client_id, TokenType.CLIENT_DEV).secret
    with TestClient(api.app) as reader:
        reader.auth = (read_only, "")
        assert ok(reader.get("/v1/tokens/self"))["permissions"] == "read"
        ok(reader.get(base))
        ok(reader.get(f"{base}/suggestions"))
        for method, path, body in [
            ("POST", "/v1/experiments", EXPERIMENT),
            ("PUT", base, {"name": "x"}),
            ("DELETE", base, None),
            ("POST", f"{base}/suggestions", {}),
            ("PUT", f"{base}/suggestions/{suggestion['id']}", {}),
            ("DELETE", f"{base}/suggestions", None),
            ("POST", f"{base}/observations", {"suggestion": suggestion["id"], "value": 1}),
            ("DELETE", f"{base}/observations", None),
            ("POST", f"{base}/queued_suggestions", {"assignments": POINT}),
        ]:
            response = reader.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert "read-only" in response.json()["message"]
    with TestClient(api.app) as dev:
        dev.auth = (development, "")
        assert ok(dev.get("/v1/tokens/self"))["development"] is True
        # Development tokens work on development experiments only, and the other way round.
        assert dev.get(base).status_code == 403
        dev_eid = new_experiment(dev)
        assert ok(dev.get(f"/v1/experiments/{dev_eid}"))["development"] is True
        assert api.get(f"/v1/experiments/{dev_eid}").status_code == 403
        points = [ok(dev.post(f"/v1/experiments/{dev_eid}/suggestions")) for _ in range(3)]
        assert len({str(p["assignments"]) for p in points}) == 3
    # Development experiments get random points, never the optimizer's.
    assert all(w.experiment.id != int(dev_eid) for w in services.storage.optimizer_work())


def honed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "honed", *args], capture_output=True, text=True, check=True
    )


def test_token_create_kinds_from_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    read_only = honed("token", "create", "--database-url", url, "--read-only").stdout.strip()
    development = honed("token", "create", "--database-url", url, "--development").stdout.strip()
    listed = honed("token", "list", "--database-url", url).stdout
    assert "client-api\tread\tactive" in listed
    assert "client-dev\twrite\tactive" in listed
    storage = SqlStorage.from_url(url)
    try:
        with TestClient(create_app(services=Services(storage))) as client:
            client.auth = (read_only, "")
            assert ok(client.get("/v1/tokens/self"))["permissions"] == "read"
            assert client.post("/v1/experiments", json=EXPERIMENT).status_code == 403
            client.auth = (development, "")
            assert ok(client.post("/v1/experiments", json=EXPERIMENT))["development"] is True
    finally:
        storage.close()


def test_rate_limit_per_token(storage: SqlStorage) -> None:
    services = Services(storage)
    services.tokens.bootstrap(TEST_TOKEN)
    other = services.tokens.issue(storage.first_client().id).secret  # type: ignore[union-attr]
    app = create_app(Settings(rate_limit=0.1, rate_burst=3), services=services)
    with TestClient(app) as client:
        client.auth = (TEST_TOKEN, "")
        answers = [client.get("/v1/tokens/self") for _ in range(4)]
        assert [r.status_code for r in answers[:3]] == [200, 200, 200]
        limited = answers[3]
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["status"] == 429
        client.auth = (other, "")  # another token has its own bucket
        assert client.get("/v1/tokens/self").status_code == 200


def test_no_rate_limit_by_default(api: TestClient) -> None:
    assert all(api.get("/v1/tokens/self").status_code == 200 for _ in range(200))


def test_rate_limit_and_cors_options_of_honed_serve(sqlite_url: str) -> None:
    origin = "https://dash.example.com"
    args = ["--rate-limit", "0.1", "--rate-burst", "2", "--cors-origin", origin]
    with (
        running_server(sqlite_url, extra_args=args) as server,
        httpx.Client(base_url=server.url, auth=(server.token, "")) as client,
    ):
        codes = [client.get("/v1/tokens/self").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        preflight = client.options(
            "/v1/experiments",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == origin


def test_cors_is_off_by_default_and_only_for_named_origins(storage: SqlStorage) -> None:
    services = Services(storage)
    services.tokens.bootstrap(TEST_TOKEN)
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(services=services)) as client:
        response = client.options("/v1/experiments", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
        response = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers
    allowed = "https://dash.example.com"
    app = create_app(Settings(cors_origins=(allowed,)), services=services)
    with TestClient(app) as client:
        response = client.options("/v1/experiments", headers={**preflight, "Origin": allowed})
        assert response.headers["access-control-allow-origin"] == allowed
        response = client.options("/v1/experiments", headers=preflight)
        assert "access-control-allow-origin" not in response.headers


def test_request_size_limit(api: TestClient) -> None:
    base = f"/v1/experiments/{new_experiment(api)}"
    huge = b'{"metadata": {"a": "' + b"x" * MAX_BODY_BYTES + b'"}}'
    response = api.post(f"{base}/suggestions", content=huge)
    assert response.status_code == 413
    assert response.json()["status"] == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts as it reads
        yield b'{"metadata": {"a": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536
        yield b'"}}'

    response = api.post(f"{base}/suggestions", content=chunks())
    assert response.status_code == 413
    assert ok(api.get(f"{base}/suggestions", params={"limit": 0}))["count"] == 0
