"""Bad requests through the official client: the right status, a message that names what is
wrong, and nothing stored changes (every list and object is compared before and after)."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.e2e.sigopt_worker import ApiException
from tests.e2e.sigopt_worker import ConnectionException
from tests.e2e.sigopt_worker import NanSendingSession
from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import everything
from tests.e2e.sigopt_worker import reset_throttle
from tests.e2e.sigopt_worker import start_servers
from tests.support.postgres import PostgresServer
from tests.support.server import RunningServer

pytestmark = pytest.mark.postgres

GAMMA: dict[str, Any] = {"name": "gamma", "type": "double", "bounds": {"min": 0.001, "max": 1.0}}
LAYERS: dict[str, Any] = {"name": "layers", "type": "int", "bounds": {"min": 1, "max": 10}}


@dataclass(frozen=True)
class World:
    """One server on PostgreSQL, two tenants, and some stored work of the first tenant."""

    server: RunningServer
    conn: Any  # the first tenant
    other: Any  # a second tenant, made with `honed token create --new-client`
    experiment_id: str  # metric "accuracy"; gamma (double) and layers (int)
    second_id: str  # another experiment of the first tenant
    open_suggestion_id: str  # open, in experiment_id
    second_suggestion_id: str  # open, in second_id


@pytest.fixture(scope="module")
def world(postgres_server: PostgresServer) -> Iterator[World]:
    with ExitStack() as stack:
        database = postgres_server.create_database()
        stack.callback(postgres_server.drop_database, database)
        (server,) = start_servers(stack, [database])
        conn = stack.enter_context(connection(server.url))
        experiment = conn.experiments().create(
            name="Classifier Accuracy",
            parameters=[GAMMA, LAYERS],
            metrics=[{"name": "accuracy", "objective": "maximize"}],
            observation_budget=10,
        )
        main = conn.experiments(experiment.id)
        for _ in range(2):
            done = main.suggestions().create()
            main.observations().create(
                suggestion=done.id,
                values=[{"name": "accuracy", "value": 0.5}],
                metadata={"hostname": "worker-1"},
            )
        main.suggestions(main.suggestions().create().id).delete()
        open_suggestion = main.suggestions().create()
        second = conn.experiments().create(name="Second", parameters=[GAMMA])
        second_suggestion = conn.experiments(second.id).suggestions().create()

        made = subprocess.run(
            [sys.executable, "-m", "honed", "token", "create", "--new-client", "other",
             "--database-url", database],
            capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        other = stack.enter_context(connection(server.url, made.stdout.strip()))
        other.experiments().create(name="Theirs", parameters=[GAMMA])
        yield World(
            server=server,
            conn=conn,
            other=other,
            experiment_id=experiment.id,
            second_id=second.id,
            open_suggestion_id=open_suggestion.id,
            second_suggestion_id=second_suggestion.id,
        )


def stored(world: World) -> dict[str, Any]:
    """Everything either tenant can read, as JSON."""
    state: dict[str, Any] = {}
    for tenant, conn in (("first", world.conn), ("other", world.other)):
        state[tenant] = [e.to_json() for e in everything(conn.experiments().fetch(state="all"))]
    for experiment_id in (world.experiment_id, world.second_id):
        experiment = world.conn.experiments(experiment_id)
        state[experiment_id] = {
            "experiment": experiment.fetch().to_json(),
            "observations": [o.to_json() for o in everything(experiment.observations().fetch())],
            "deleted observations": [
                o.to_json() for o in everything(experiment.observations().fetch(deleted=True))
            ],
            "suggestions": [s.to_json() for s in everything(experiment.suggestions().fetch())],
            "deleted suggestions": [
                s.to_json() for s in everything(experiment.suggestions().fetch(deleted=True))
            ],
            "queued": [q.to_json() for q in everything(experiment.queued_suggestions().fetch())],
        }
    return state


@contextmanager
def nothing_changes(world: World) -> Iterator[None]:
    before = stored(world)
    assert before["first"]
    assert before[world.experiment_id]["observations"]
    yield
    assert stored(world) == before


def rejected(call: Callable[[], object], status: int, *words: str) -> ApiException:
    """``call`` raises ApiException(status) whose message holds every one of ``words``."""
    reset_throttle()  # else the client sleeps after its fifth failure in a row
    with pytest.raises(ApiException) as caught:
        call()
    error = caught.value
    assert error.status_code == status, str(error)
    assert error.to_json() == {"message": error.message, "status": status}
    for word in words:
        assert word.lower() in error.message.lower(), f"{word!r} not in {error.message!r}"
    return error


def test_unknown_top_level_field_on_experiment_create(world: World) -> None:
    with nothing_changes(world):
        rejected(
            lambda: world.conn.experiments().create(
                name="x", parameters=[GAMMA], observation_budjet=10
            ),
            400,
            "observation_budjet",
        )


@pytest.mark.parametrize(("kind", "low", "high"), [("double", 1.0, 1.0), ("int", 5, 1)])
def test_bounds_min_not_below_max(world: World, kind: str, low: float, high: float) -> None:
    parameter = {"name": "dropout", "type": kind, "bounds": {"min": low, "max": high}}
    with nothing_changes(world):
        rejected(
            lambda: world.conn.experiments().create(name="x", parameters=[parameter]),
            400,
            "bounds",
            "dropout",
        )


def test_value_for_an_unknown_metric(world: World) -> None:
    observations = world.conn.experiments(world.experiment_id).observations()
    with nothing_changes(world):
        rejected(
            lambda: observations.create(
                suggestion=world.open_suggestion_id,
                values=[{"name": "accuracy", "value": 0.9}, {"name": "loss", "value": 0.1}],
            ),
            400,
            "loss",
        )
        rejected(
            lambda: observations.create(
                suggestion=world.open_suggestion_id, values=[{"name": "loss", "value": 0.1}]
            ),
            400,
            "loss",
        )


def rejected_non_finite(call: Callable[[], object], word: str) -> None:
    """400, and either sigopt-server's "Malformed json ... NaN" or a message naming the
    value field (a server may parse the number and then refuse it)."""
    message = rejected(call, 400).message
    assert ("Malformed json" in message and word in message) or "value" in message, message


def test_nan_value(world: World) -> None:
    # The client allows requests >= 2.25, which sent NaN as the bare JSON word `NaN`;
    # newer requests refuse before sending.  NanSendingSession sends it as the old ones did.
    with connection(world.server.url, session=NanSendingSession()) as nan_sender:
        experiment = nan_sender.experiments(world.experiment_id)
        with nothing_changes(world):
            for bad in (float("nan"), float("inf"), float("-inf")):

                def observe(bad: float = bad) -> object:
                    return experiment.observations().create(
                        suggestion=world.open_suggestion_id,
                        values=[{"name": "accuracy", "value": bad}],
                    )

                rejected_non_finite(observe, "NaN" if math.isnan(bad) else "Infinity")
            rejected_non_finite(
                lambda: experiment.observations().create_batch(
                    observations=[
                        {"assignments": {"gamma": 0.5, "layers": 2}, "values": [{"value": 1.0}]},
                        {
                            "assignments": {"gamma": 0.5, "layers": 3},
                            "values": [{"value": float("nan")}],
                        },
                    ]
                ),
                "NaN",
            )
            rejected_non_finite(
                lambda: experiment.observations().create(
                    suggestion=world.open_suggestion_id,
                    values=[{"name": "accuracy", "value": 0.5, "value_stddev": float("nan")}],
                ),
                "NaN",
            )
            rejected_non_finite(
                lambda: experiment.observations().create(
                    assignments={"gamma": float("nan"), "layers": 2},
                    values=[{"name": "accuracy", "value": 0.5}],
                ),
                "NaN",
            )
    # The client as installed: refused locally (requests >= 2.27) or by the server.
    with nothing_changes(world):
        reset_throttle()
        with pytest.raises((ConnectionException, ApiException)) as caught:
            world.conn.experiments(world.experiment_id).observations().create(
                suggestion=world.open_suggestion_id,
                values=[{"name": "accuracy", "value": float("nan")}],
            )
        if isinstance(caught.value, ApiException):
            assert caught.value.status_code == 400
        else:
            assert "not JSON compliant" in caught.value.message


@pytest.mark.parametrize(
    "body", [b'{"name": "x", ', b"{'name': 'x'}", b'{"name": "x"} trailing', b"\xff\xfe"]
)
def test_malformed_json_body(world: World, body: bytes) -> None:
    base = f"{world.server.url}/v1/experiments"
    with nothing_changes(world):
        for url in (base, f"{base}/{world.experiment_id}/observations"):
            response = requests.post(
                url,
                data=body,
                auth=(world.server.token, ""),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert response.status_code == 400, response.text
            error = response.json()
            assert error["status"] == 400
            assert error["message"].startswith("Malformed json")


def test_foreign_tenant_sees_404(world: World) -> None:
    theirs = world.other.experiments(world.experiment_id)
    suggestion = theirs.suggestions(world.open_suggestion_id)
    calls: list[Callable[[], object]] = [
        theirs.fetch,
        lambda: theirs.update(name="mine now"),
        lambda: theirs.update(observation_budget=1000),
        theirs.delete,
        lambda: theirs.suggestions().create(),
        lambda: theirs.suggestions().create(assignments={"gamma": 0.5, "layers": 2}),
        lambda: theirs.suggestions().fetch(),
        lambda: theirs.suggestions().delete(),
        lambda: theirs.suggestions().delete(state="open"),
        suggestion.fetch,
        lambda: suggestion.update(metadata={"owner": "other"}),
        suggestion.delete,
        lambda: theirs.observations().create(
            suggestion=world.open_suggestion_id, values=[{"name": "accuracy", "value": 1.0}]
        ),
        lambda: theirs.observations().create_batch(
            observations=[{"assignments": {"gamma": 0.5, "layers": 2}, "values": [{"value": 1.0}]}]
        ),
        lambda: theirs.observations().fetch(),
        lambda: theirs.observations().delete(),
        lambda: theirs.best_assignments().fetch(),
        lambda: theirs.queued_suggestions().create(assignments={"gamma": 0.5, "layers": 2}),
        lambda: (
            world.other.clients(world.conn.tokens("self").fetch().client).experiments().fetch()
        ),
    ]
    with nothing_changes(world):
        for call in calls:
            rejected(call, 404)
    # The first tenant's experiments are not in the other tenant's list, nor the reverse.
    mine = {e.id for e in everything(world.conn.experiments().fetch(state="all"))}
    theirs_list = {e.id for e in everything(world.other.experiments().fetch(state="all"))}
    assert mine
    assert theirs_list
    assert not mine & theirs_list
    own_id = next(iter(theirs_list))
    rejected(world.conn.experiments(own_id).fetch, 404)


def test_missing_token_is_401(world: World) -> None:
    with nothing_changes(world), connection(world.server.url) as conn:
        conn.set_client_token(None)  # the client then sends no Authorization header
        rejected(conn.experiments(world.experiment_id).fetch, 401, "token")
        rejected(lambda: conn.experiments().create(name="x", parameters=[GAMMA]), 401, "token")
        rejected(
            lambda: (
                conn.experiments(world.experiment_id)
                .observations()
                .create(suggestion=world.open_suggestion_id, value=1.0)
            ),
            401,
            "token",
        )
        raw = requests.get(f"{world.server.url}/v1/experiments", timeout=30)
        assert raw.status_code == 401
        assert raw.json()["status"] == 401


def test_wrong_token_is_403(world: World) -> None:
    with nothing_changes(world), connection(world.server.url, "not-a-token") as conn:
        rejected(conn.experiments(world.experiment_id).fetch, 403, "token")
        rejected(conn.experiments().fetch, 403, "token")
        rejected(lambda: conn.experiments().create(name="x", parameters=[GAMMA]), 403, "token")
        rejected(
            lambda: conn.experiments(world.experiment_id).suggestions().delete(state="open"),
            403,
            "token",
        )


def test_suggestion_of_another_experiment(world: World) -> None:
    experiment = world.conn.experiments(world.experiment_id)
    foreign = experiment.suggestions(world.second_suggestion_id)
    with nothing_changes(world):
        rejected(foreign.fetch, 404)
        rejected(lambda: foreign.update(metadata={"moved": "yes"}), 404)
        rejected(foreign.delete, 404)
        assert experiment.suggestions().fetch(id=world.second_suggestion_id).count == 0
        # Observing another experiment's suggestion is a bad field, as in sigopt-server.
        rejected(
            lambda: experiment.observations().create(
                suggestion=world.second_suggestion_id,
                values=[{"name": "accuracy", "value": 1.0}],
            ),
            400,
            "suggestion",
        )


def test_state_closed_filter_is_400(world: World) -> None:
    suggestions = world.conn.experiments(world.experiment_id).suggestions()
    with nothing_changes(world):
        rejected(lambda: suggestions.fetch(state="closed"), 400, "state")
        rejected(lambda: suggestions.delete(state="closed"), 400, "state")


def test_limit_over_1000_is_400(world: World) -> None:
    experiment = world.conn.experiments(world.experiment_id)
    with nothing_changes(world):
        rejected(lambda: experiment.suggestions().fetch(limit=5000), 400, "limit")
        rejected(lambda: experiment.observations().fetch(limit=5000), 400, "limit")
        rejected(lambda: world.conn.experiments().fetch(limit=5000), 400, "limit")
        rejected(lambda: experiment.suggestions().fetch(limit=-1), 400, "limit")
    assert experiment.suggestions().fetch(limit=1000).count > 0


def test_int_parameter_given_a_float_in_a_manual_suggestion(world: World) -> None:
    experiment = world.conn.experiments(world.experiment_id)
    with nothing_changes(world):
        rejected(
            lambda: experiment.suggestions().create(assignments={"gamma": 0.5, "layers": 2.5}),
            400,
            "layers",
        )
        rejected(
            lambda: experiment.queued_suggestions().create(
                assignments={"gamma": 0.5, "layers": 2.5}
            ),
            400,
            "layers",
        )
        rejected(
            lambda: experiment.observations().create(
                assignments={"gamma": 0.5, "layers": 7.25},
                values=[{"name": "accuracy", "value": 1.0}],
            ),
            400,
            "layers",
        )


@pytest.mark.parametrize("low", [0.0, -1.0])
def test_log_transformation_needs_positive_min(world: World, low: float) -> None:
    parameter = {
        "name": "learning_rate",
        "type": "double",
        "bounds": {"min": low, "max": 1.0},
        "transformation": "log",
    }
    with nothing_changes(world):
        rejected(
            lambda: world.conn.experiments().create(name="x", parameters=[parameter]),
            400,
            "learning_rate",
            "log",
        )


def test_boolean_query_parameters(world: World) -> None:
    conn = world.conn
    experiment = conn.experiments(conn.experiments().create(name="Flags", parameters=[GAMMA]).id)
    kept, dropped = (experiment.suggestions().create().id for _ in range(2))
    experiment.suggestions(dropped).delete()
    observation = experiment.observations().create(suggestion=kept, value=1.0)
    gone = experiment.observations().create(assignments={"gamma": 0.5}, value=2.0)
    experiment.observations(gone.id).delete()

    # The client sends Python's str(): True/False; curl users send true/false or 1/0.
    for flag in (True, "True", "true", "TRUE", 1, "1"):
        assert [s.id for s in everything(experiment.suggestions().fetch(deleted=flag))] == [
            dropped
        ]
        assert [o.id for o in everything(experiment.observations().fetch(deleted=flag))] == [
            gone.id
        ]
    for flag in (False, "False", "false", 0, "0"):
        assert [s.id for s in everything(experiment.suggestions().fetch(deleted=flag))] == [kept]
        assert [o.id for o in everything(experiment.observations().fetch(deleted=flag))] == [
            observation.id
        ]
    with nothing_changes(world):
        rejected(lambda: experiment.suggestions().fetch(deleted="maybe"), 400, "deleted")
        rejected(lambda: experiment.observations().fetch(deleted="yes please"), 400, "deleted")
