"""An observation create on PostgreSQL waits for the database twice: once for what it
reads (the experiment, the suggestions it closes, a retry's key), once for its writes
with COMMIT. Counted on the wire (libpq's protocol trace, tests/support/wire.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import MetricValue
from honed.domain.records import ObservationInput
from honed.domain.records import SuggestionState
from honed.domain.tenancy import Token
from honed.service.app import Services
from honed.service.suggestions import ServingPolicy
from honed.storage.sql.storage import SqlStorage
from tests.support.wire import wire_trace

pytestmark = pytest.mark.postgres

SPEC = ExperimentSpec(
    "wire",
    SearchSpace((Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),)),
    (Metric("f", Objective.MINIMIZE),),
)


@pytest.fixture
def storage(postgres_url: str) -> Iterator[SqlStorage]:
    store = SqlStorage.from_url(postgres_url)
    yield store
    store.close()


@pytest.fixture
def services(storage: SqlStorage) -> Services:
    return Services(storage, ServingPolicy(max_wait_seconds=0.0))


def value(f: float) -> tuple[MetricValue, ...]:
    return (MetricValue("f", f),)


@pytest.mark.parametrize("key", [None, "retry-key"], ids=["plain", "idempotent"])
def test_an_observation_create_takes_two_round_trips(
    storage: SqlStorage, services: Services, token: Token, tmp_path: Path, key: str | None
) -> None:
    eid = services.experiments.create(token, SPEC).id
    # A process's first keyed create also forgets old keys: not the create's own cost.
    services.observations.create(token, eid, ObservationInput(None, {"x": 0.5}, value(0)), "k")
    suggestion = services.suggestions.create(token, eid)
    given = ObservationInput(suggestion.id, values=value(1.0))
    with wire_trace(storage.database.write_engine, tmp_path) as wire:
        _, observation = services.observations.create(token, eid, given, key)
    assert wire.round_trips == 2, wire.summary()
    statements = [sql.split(" ")[0] for sql in wire.statements]
    assert statements.count("BEGIN") == statements.count("COMMIT") == 1, wire.statements
    # What it did, as before.
    assert storage.get_suggestion(eid, suggestion.id).state is SuggestionState.CLOSED
    assert storage.get_observation(eid, observation.id) == observation
    if key is not None:  # the key was stored with the observation's id
        again = services.observations.create(token, eid, given, key)[1]
        assert again == observation
        assert storage.count_observations(eid) == 2


def test_a_batch_takes_two_round_trips(
    storage: SqlStorage, services: Services, token: Token, tmp_path: Path
) -> None:
    eid = services.experiments.create(token, SPEC).id
    services.observations.create(token, eid, ObservationInput(None, {"x": 0.5}, value(0)), "k")
    first, second = (services.suggestions.create(token, eid) for _ in range(2))
    given = [
        ObservationInput(first.id, values=value(1.0)),
        ObservationInput(None, {"x": 0.25}, value(2.0)),
        ObservationInput(second.id, values=value(3.0)),
    ]
    with wire_trace(storage.database.write_engine, tmp_path) as wire:
        _, created = services.observations.create_batch(token, eid, given, idempotency_key="b")
    assert wire.round_trips == 2, wire.summary()
    assert [o.suggestion_id for o in created] == [first.id, None, second.id]
    assert created == sorted(created, key=lambda o: o.id)
    assert services.observations.create_batch(token, eid, given, idempotency_key="b")[1] == (
        created
    )
