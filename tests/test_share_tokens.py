"""Tokens bound to one experiment (dashboard share links, ``honed token create
--experiment``): they read that experiment and nothing else of their client, and never
write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from honed.cli.main import main
from honed.server.app import create_app
from honed.service.app import Services
from honed.storage.sql.storage import SqlStorage
from tests.scale.helpers import new_experiment
from tests.scale.test_security import BODIES
from tests.scale.test_security import POINT as SECURITY_POINT
from tests.scale.test_security import SIGNED
from tests.scale.test_security import routes
from tests.test_api import PARAMETERS
from tests.test_api import POINT
from tests.test_api import create_experiment
from tests.test_api import error
from tests.test_api import observe
from tests.test_api import ok
from tests.test_api import suggest
from tests.test_api_runs import PROJECTS
from tests.test_api_runs import create_ai
from tests.test_api_runs import create_project
from tests.test_api_runs import merge
from tests.test_api_runs import new_run

JSON = dict[str, Any]


def share(api: TestClient, experiment_id: str) -> tuple[str, str]:
    made = ok(api.post(f"/dashboard/api/share?experiment={experiment_id}"))
    assert made["permissions"] == "read"
    return made["token"], ""


def listed_ids(page: JSON) -> list[str]:
    return [item["id"] for item in page["data"]]


@pytest.fixture
def two(api: TestClient) -> tuple[str, str]:
    """Experiments A and B of one client, each with an observation and an open suggestion."""
    ids = []
    for name in ("A", "B"):
        eid = create_experiment(api, name=name, metrics=[{"name": "accuracy"}])["id"]
        observe(api, eid, assignments=POINT, values=[{"name": "accuracy", "value": 1.0}])
        suggest(api, eid)
        ids.append(eid)
    return ids[0], ids[1]


def test_a_share_token_reads_its_experiment_only(api: TestClient, two: tuple[str, str]) -> None:
    a, b = two
    reader = share(api, a)
    me = ok(api.get("/v1/tokens/self", auth=reader))
    assert (me["all_experiments"], me["experiment"], me["permissions"]) == (False, a, "read")
    assert me["scope"] == "shared_experiment"
    owner = ok(api.get("/v1/tokens/self"))
    assert (owner["all_experiments"], owner["experiment"], owner["scope"]) == (
        True,
        None,
        "all_endpoints",
    )

    assert ok(api.get(f"/v1/experiments/{a}", auth=reader))["name"] == "A"
    for path in ("suggestions", "observations", "best_assignments"):
        assert len(ok(api.get(f"/v1/experiments/{a}/{path}", auth=reader))["data"]) == 1
        error(api.get(f"/v1/experiments/{b}/{path}", auth=reader), 404)
    error(api.get(f"/v1/experiments/{b}", auth=reader), 404)
    observation = ok(api.get(f"/v1/experiments/{b}/observations"))["data"][0]["id"]
    error(api.get(f"/v1/experiments/{b}/observations/{observation}", auth=reader), 404)
    assert ok(api.get(f"/dashboard/api/experiments/{a}", auth=reader))["experiment"]["id"] == a
    error(api.get(f"/dashboard/api/experiments/{b}", auth=reader), 404)

    # Lists hold A alone, while the owner's hold both.
    for path in ("/v1/experiments", "/v1/clients/1/experiments"):
        for query in ("", "?state=all"):
            page = ok(api.get(path + query, auth=reader))
            assert (listed_ids(page), page["count"]) == ([a], 1)
        assert listed_ids(ok(api.get(path))) == [b, a]
    dashboard = ok(api.get("/dashboard/api/experiments?state=all", auth=reader))
    assert [e["id"] for e in dashboard["experiments"]] == [a]
    assert [e["id"] for e in ok(api.get("/dashboard/api/experiments"))["experiments"]] == [b, a]

    # Writes: 403 on its experiment (and wherever no experiment is named), 404 on others.
    body = {"assignments": POINT, "values": [{"name": "accuracy", "value": 2.0}]}
    for method, path, json in (
        ("POST", f"/v1/experiments/{a}/observations", body),
        ("POST", f"/v1/experiments/{a}/suggestions", {}),
        ("PUT", f"/v1/experiments/{a}", {"name": "renamed"}),
        ("DELETE", f"/v1/experiments/{a}", None),
        ("DELETE", f"/v1/experiments/{a}/suggestions", None),
        ("POST", "/v1/experiments", {"name": "new", "parameters": PARAMETERS}),
        ("POST", "/dashboard/api/share", None),
        ("POST", f"/dashboard/api/share?experiment={a}", None),
        ("POST", PROJECTS, {"id": "p", "name": "p"}),
    ):
        error(api.request(method, path, json=json, auth=reader), 403)
    error(api.post(f"/v1/experiments/{b}/observations", json=body, auth=reader), 404)
    error(api.post(f"/v1/experiments/{b}/suggestions", json={}, auth=reader), 404)
    error(api.delete(f"/v1/experiments/{b}", auth=reader), 404)
    assert ok(api.get(f"/v1/experiments/{a}"))["name"] == "A"  # nothing changed
    assert len(ok(api.get(f"/v1/experiments/{a}/observations"))["data"]) == 1

    # A share link for the experiments list still sees every experiment (and no more).
    everything = (ok(api.post("/dashboard/api/share"))["token"], "")
    assert ok(api.get("/v1/tokens/self", auth=everything))["all_experiments"] is True
    assert listed_ids(ok(api.get("/v1/experiments", auth=everything))) == [b, a]


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_a_share_token_downloads_its_experiments_observations_only(
    api: TestClient, two: tuple[str, str], kind: str
) -> None:
    """The dashboard's downloads (observations.csv and .json) check access as its detail
    route does: a token bound to A gets A's file, the very bytes the owner gets; B's is a
    404 as B's detail is; without a token both answer 401 as the detail does."""
    a, b = two
    reader = share(api, a)

    def download(experiment: str, auth: tuple[str, str] | None) -> Any:
        return api.get(f"/dashboard/api/experiments/{experiment}/observations.{kind}", auth=auth)

    def detail(experiment: str, auth: tuple[str, str] | None) -> Any:
        return api.get(f"/dashboard/api/experiments/{experiment}", auth=auth)

    mine = download(a, reader)
    assert mine.status_code == 200, mine.text
    assert mine.text == download(a, api.auth).text
    assert f"experiment-{a}-observations.{kind}" in mine.headers["content-disposition"]
    if kind == "json":
        exported = mine.json()
        assert exported["experiment"]["id"] == a
        assert [o["experiment"] for o in exported["observations"]] == [a]
    else:
        assert len(mine.text.splitlines()) == 2  # the header and A's one observation
    for experiment, auth, status in ((b, reader, 404), (a, None, 401), (b, None, 401)):
        refused, expected = download(experiment, auth), detail(experiment, auth)
        assert (refused.status_code, refused.json()) == (expected.status_code, expected.json())
        error(refused, status)


def test_a_share_token_for_an_ai_experiment_sees_its_project_and_runs_only(
    api: TestClient,
) -> None:
    create_project(api, "proj")
    create_project(api, "other")
    mine, theirs = create_ai(api, name="mine"), create_ai(api, name="theirs")
    classic = create_experiment(api, name="classic", metrics=[{"name": "accuracy"}])["id"]
    my_run, their_run = new_run(api, mine), new_run(api, theirs)
    loose = ok(api.post(f"{PROJECTS}/proj/training_runs", json={"name": "no experiment"}))
    reader = share(api, mine["id"])

    assert ok(api.get(f"/v1/aiexperiments/{mine['id']}", auth=reader))["name"] == "mine"
    error(api.get(f"/v1/aiexperiments/{theirs['id']}", auth=reader), 404)
    error(api.get(f"/v1/aiexperiments/{theirs['id']}/best_training_runs", auth=reader), 404)
    error(api.get(f"/v1/experiments/{classic}", auth=reader), 404)
    assert listed_ids(ok(api.get(f"{PROJECTS}", auth=reader))) == ["proj"]
    assert ok(api.get(f"{PROJECTS}/proj", auth=reader))["id"] == "proj"
    error(api.get(f"{PROJECTS}/other", auth=reader), 404)
    error(api.get(f"{PROJECTS}/other/training_runs", auth=reader), 404)
    for path in ("aiexperiments", "experiments?include_ai=true"):
        assert listed_ids(ok(api.get(f"{PROJECTS}/proj/{path}", auth=reader))) == [mine["id"]]
    assert listed_ids(ok(api.get("/v1/aiexperiments", auth=reader))) == [mine["id"]]
    runs = ok(api.get(f"{PROJECTS}/proj/training_runs", auth=reader))
    assert (listed_ids(runs), runs["count"]) == ([my_run["id"]], 1)
    other_filter = f'[{{"field": "experiment", "operator": "==", "value": "{theirs["id"]}"}}]'
    ok(api.get(f"{PROJECTS}/proj/training_runs", params={"filters": other_filter}))
    error(
        api.get(f"{PROJECTS}/proj/training_runs", params={"filters": other_filter}, auth=reader),
        404,
    )
    assert ok(api.get(f"/v1/training_runs/{my_run['id']}", auth=reader))["id"] == my_run["id"]
    for run in (their_run, loose):
        error(api.get(f"/v1/training_runs/{run['id']}", auth=reader), 404)
        error(api.get(f"/v1/training_runs/{run['id']}/checkpoints", auth=reader), 404)
    finish = {"state": "completed"}
    error(api.request("MERGE", f"/v1/training_runs/{my_run['id']}", json=finish, auth=reader), 403)
    ok(merge(api, my_run["id"], finish))
    error(
        api.post(f"/v1/aiexperiments/{mine['id']}/training_runs", json={"name": "r"}, auth=reader),
        403,
    )

    # A classic experiment's share token sees no project at all.
    classic_reader = share(api, classic)
    assert listed_ids(ok(api.get(PROJECTS, auth=classic_reader))) == []
    error(api.get(f"{PROJECTS}/proj", auth=classic_reader), 404)


def honed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "honed", *args], capture_output=True, text=True, check=True
    )


def test_token_create_for_an_experiment_from_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    owner = honed("token", "create", "--database-url", url).stdout.strip()
    storage = SqlStorage.from_url(url)
    try:
        with TestClient(create_app(services=Services(storage))) as client:
            client.auth = (owner, "")
            a = create_experiment(client, name="A", metrics=[{"name": "accuracy"}])["id"]
            b = create_experiment(client, name="B", metrics=[{"name": "accuracy"}])["id"]
            made = honed("token", "create", "--database-url", url, "--experiment", a)
            assert f"experiment {a} only" in made.stderr
            client.auth = (made.stdout.strip(), "")
            me = ok(client.get("/v1/tokens/self"))
            assert (me["experiment"], me["all_experiments"], me["permissions"]) == (
                a,
                False,
                "read",
            )
            assert listed_ids(ok(client.get("/v1/experiments"))) == [a]
            error(client.get(f"/v1/experiments/{b}"), 404)
            error(client.post(f"/v1/experiments/{a}/suggestions", json={}), 403)
    finally:
        storage.close()
    # The rest in-process (same command code), to spare three interpreter starts.
    runner = CliRunner()
    listed = runner.invoke(main, ["token", "list", "--database-url", url])
    assert f"read\tactive\tshare token for experiment {a}\texperiment {a}" in listed.output
    create = ["token", "create", "--database-url", url, "--experiment"]
    missing = runner.invoke(main, [*create, "999"])
    assert missing.exit_code == 2
    assert "experiment 999 does not exist" in missing.output
    other_client = runner.invoke(main, [*create, a, "--client", "2"])
    assert other_client.exit_code == 2
    assert f"experiment {a} belongs to client 1, not 2" in other_client.output


def test_every_route_hides_the_clients_other_objects_from_a_share_token(api: TestClient) -> None:
    """Every /v1 route (with test_security's valid bodies, so that no 404 or 403 hides
    behind a 400), with the ids of the client's objects that a token bound to
    experiment A must not see: 404. Routes that name none of them: lists answer (with A
    only) and writes 403. The owner reads the same URLs."""
    a = new_experiment(api)
    b = new_experiment(api)
    suggestion = ok(api.post(f"/v1/experiments/{b}/suggestions"))
    observation = ok(
        api.post(
            f"/v1/experiments/{b}/observations", json={"suggestion": suggestion["id"], "value": 1}
        )
    )
    open_suggestion = ok(api.post(f"/v1/experiments/{b}/suggestions"))
    queued = ok(
        api.post(f"/v1/experiments/{b}/queued_suggestions", json={"assignments": SECURITY_POINT})
    )
    create_project(api, "other")
    ai = create_ai(api, "other")
    run = new_run(api, ai)
    declared = {**BODIES[("POST", "/v1/training_runs/{run_id}/files")], "content_length": 1}
    file = ok(api.post(f"/v1/training_runs/{run['id']}/files", json=declared))
    ok(api.put(file["upload"]["url"], content=b"x", headers=file["upload"]["headers"]))
    client_id = ok(api.get("/v1/tokens/self"))["client"]
    tag = ok(api.post(f"/v1/clients/{client_id}/tags", json={"name": "t", "color": "#ffffff"}))
    ok(api.post(f"/v1/training_runs/{run['id']}/tags", json={"id": tag["id"]}))
    hidden = {
        "client_id": client_id,
        "experiment_id": b,
        "suggestion_id": open_suggestion["id"],
        "observation_id": observation["id"],
        "queued_id": queued["id"],
        "project_id": "other",
        "run_id": run["id"],
        "file_id": file["id"],
        "tag_id": tag["id"],
    }
    reader = share(api, a)
    checked = 0
    for method, path in routes(api.app):
        if (method, path) in SIGNED:  # no token: its signature is the test
            continue
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert names <= set(hidden), f"{method} {path}: unknown path parameter in {names}"
        values = dict(hidden)
        if path.startswith("/v1/aiexperiments/"):
            values["experiment_id"] = ai["id"]
        url = path.format(**{name: values[name] for name in names})
        response = api.request(method, url, json=BODIES.get((method, path)), auth=reader)
        expected = 404 if names - {"client_id"} else 200 if method == "GET" else 403
        assert response.status_code == expected, (method, url, response.text)
        if method == "GET":
            assert api.get(url).status_code == 200, url
        checked += 1
    assert checked >= 40
    # Nothing was written, and A is all the token lists.
    assert ok(api.get(f"/v1/experiments/{b}"))["progress"]["observation_count"] == 1
    assert listed_ids(ok(api.get("/v1/experiments", auth=reader))) == [a]
    assert listed_ids(ok(api.get("/v1/aiexperiments", auth=reader))) == []
    assert ok(api.get("/v1/aiexperiments"))["count"] == 1
