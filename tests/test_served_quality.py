"""What a suggestion request is served past the initial design, as users get it: a model
point that accounts for every stored observation, waiting for the fit when it must; a
stale model point only on request or when the wait runs out; Sobol only without a model."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.paging import PageRequest
from honed.domain.parameters import Assignments
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.server.app import create_app
from honed.service.app import Services
from honed.service.optimizer import LoopSettings
from honed.service.optimizer import OptimizerLoop
from honed.service.suggestions import Preference
from honed.service.suggestions import ServingPolicy
from honed.storage.sql.storage import SqlStorage
from tests.conftest import TEST_TOKEN
from tests.support.server import running_server
from tests.test_optimizer import STEPPED
from tests.test_optimizer import observe
from tests.test_optimizer import space
from tests.test_optimizer import unit

README = Path(__file__).resolve().parents[1] / "README.md"
DESIGN = 5  # the initial design of a space with up to 10 parameters


def bowl(assignments: Assignments) -> dict[str, float]:
    return {"f": (float(assignments["x0"]) - 0.3) ** 2 + (float(assignments["x1"]) - 0.6) ** 2}


def bowl_spec(name: str) -> ExperimentSpec:
    return ExperimentSpec(name, space(unit("x0"), unit("x1")), (Metric("f", Objective.MINIMIZE),))


@pytest.fixture
def loop_thread(
    storage: SqlStorage, engine_factory: Callable[[], Engine]
) -> Iterator[Callable[[], OptimizerLoop]]:
    """Starts an optimizer loop in a thread when called, as an optimizer process runs."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start() -> OptimizerLoop:
        loop = OptimizerLoop(storage, engine_factory, settings=LoopSettings(idle_seconds=0.02))
        stop = threading.Event()
        thread = threading.Thread(target=loop.run, args=(stop,))
        thread.start()
        started.append((stop, thread))
        return loop

    yield start
    for stop, thread in started:
        stop.set()
        thread.join()


def test_a_sequential_instant_loop_gets_only_fresh_model_points(
    storage: SqlStorage, token: Token, loop_thread: Callable[[], OptimizerLoop]
) -> None:
    """The worker reports and asks again at once, faster than any fit: every point past
    the design waits for the model that saw the worker's last result (or had its point
    pending), instead of taking a stale candidate or a Sobol point."""
    loop_thread()
    served = Services(storage, ServingPolicy(max_wait_seconds=600.0, optimizers_expected=True))
    experiment = served.experiments.create(token, bowl_spec("sequential"))
    handed_out: list[tuple[int, Suggestion]] = []
    for observed in range(DESIGN + 8):
        suggestion = served.suggestions.create(token, experiment.id)
        handed_out.append((observed, suggestion))
        observe(served, token, suggestion, bowl)
    design, rest = handed_out[:DESIGN], handed_out[DESIGN:]
    assert {s.source for _, s in design} == {SuggestionSource.ENGINE}
    assert {s.source for _, s in rest} == {SuggestionSource.OPTIMIZER}
    for observed, suggestion in rest:
        model = suggestion.model
        assert model is not None
        assert (model.fresh, model.unaccounted, model.pool) == (True, 0, False)
        # Fitted on every result, or on all but the last with its point pending.
        assert observed - 1 <= model.observations <= observed
    # What users read back is what was served.
    listed = storage.list_suggestions(experiment.id, PageRequest(limit=100)).items
    assert {s.id: s.model for s in listed} == {s.id: s.model for _, s in handed_out}


def stale_experiment(services: Services, token: Token, loop: OptimizerLoop) -> int:
    """An experiment whose ready candidates missed its newest observation."""
    services.storage.heartbeat(loop.name)  # alive, but it will not fit again here
    experiment = services.experiments.create(token, bowl_spec("stale"))
    for _ in range(DESIGN):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    assert loop.step() == experiment.id
    manual = services.suggestions.create(token, experiment.id, assignments={"x0": 0.5, "x1": 0.5})
    observe(services, token, manual, bowl)
    return experiment.id


@pytest.mark.parametrize("prefer", list(Preference))
def test_a_stale_model_point_is_served_on_request_or_when_the_wait_runs_out(
    storage: SqlStorage,
    token: Token,
    engine_factory: Callable[[], Engine],
    prefer: Preference,
) -> None:
    """``latency`` takes the ready point at once; ``quality`` waits, and when its wait runs
    out (here at once) takes the newest model point, never Sobol. Either way the
    suggestion says that its model missed a result."""
    services = Services(storage, ServingPolicy(max_wait_seconds=0.0, prefer=prefer))
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    eid = stale_experiment(services, token, loop)
    served = services.suggestions.create(token, eid)
    assert served.source is SuggestionSource.OPTIMIZER
    assert served.model is not None
    assert (served.model.observations, served.model.unaccounted) == (DESIGN, 1)
    assert served.model.fresh is False


def test_a_stale_point_after_the_wait_is_a_warning_once_a_minute(
    storage: SqlStorage,
    token: Token,
    engine_factory: Callable[[], Engine],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The optimizer does not keep up: the operator is told, at warning (``honed serve``'s
    default level), but not once per request of a thousand workers. A user who asked for
    latency chose stale points and is not warned."""
    services = Services(storage, ServingPolicy(max_wait_seconds=0.0))
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    eid = stale_experiment(services, token, loop)
    with caplog.at_level(logging.WARNING, logger="honed.service.suggestions"):
        for _ in range(3):  # a sequential worker: each point misses the results before it
            served = services.suggestions.create(token, eid)
            assert served.model is not None
            assert served.model.fresh is False
            observe(services, token, served, bowl)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"experiment {eid}" in warnings[0]
    assert "misses some observations" in warnings[0]

    caplog.clear()
    latency = Services(storage, ServingPolicy(max_wait_seconds=0.0, prefer=Preference.LATENCY))
    with caplog.at_level(logging.WARNING, logger="honed.service.suggestions"):
        served = latency.suggestions.create(token, eid)
    assert served.model is not None
    assert served.model.fresh is False
    assert not caplog.records


def test_a_fit_that_began_after_the_request_ends_its_wait_even_if_others_reported_meanwhile(
    storage: SqlStorage, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    """Many workers: results keep arriving during every fit, so a fit that misses none may
    never come. A waiting request takes the point of the first fit that read the store
    after it arrived (it saw all this worker reported), marked stale, instead of waiting
    out its bound (ten minutes here)."""
    services = Services(storage, ServingPolicy(max_wait_seconds=600.0))
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    eid = stale_experiment(services, token, loop)
    request = services.suggestions.request(token, eid)
    assert isinstance(request.step_here(), float)  # the ready candidates missed a result: wait
    time.sleep(0.01)  # the next fit begins after the request arrived
    assert loop.step() == eid
    other = services.suggestions.create(token, eid, assignments={"x0": 0.1, "x1": 0.9})
    observe(services, token, other, bowl)  # another worker reports after that fit read
    served = None
    for _ in range(10):
        step = request.step_here()
        if isinstance(step, Suggestion):
            served = step
            break
    assert served is not None
    assert served.source is SuggestionSource.OPTIMIZER
    assert served.model is not None
    assert (served.model.observations, served.model.unaccounted) == (DESIGN + 1, 1)
    assert served.model.fresh is False


def test_a_request_waits_for_an_optimizer_that_is_starting(
    storage: SqlStorage, token: Token, loop_thread: Callable[[], OptimizerLoop]
) -> None:
    """Optimizers were started with the service but none is alive yet (importing torch):
    a request past the design waits for them instead of serving Sobol."""
    services = Services(storage, ServingPolicy(optimizers_expected=True))
    experiment = services.experiments.create(token, bowl_spec("starting"))
    for _ in range(DESIGN):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    result: list[Suggestion] = []
    waiting = threading.Thread(
        target=lambda: result.append(services.suggestions.create(token, experiment.id))
    )
    waiting.start()
    time.sleep(0.5)  # the request is waiting; now the optimizer comes up
    assert not result
    loop_thread()
    waiting.join()
    assert result[0].source is SuggestionSource.OPTIMIZER
    assert result[0].model is not None
    assert result[0].model.fresh


def test_without_a_live_optimizer_the_wait_ends_in_sobol_with_a_warning(
    storage: SqlStorage, token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    services = Services(storage, ServingPolicy(max_wait_seconds=0.2, optimizers_expected=True))
    experiment = services.experiments.create(token, bowl_spec("no optimizer"))
    for _ in range(DESIGN):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    with caplog.at_level(logging.WARNING, logger="honed.service.suggestions"):
        served = services.suggestions.create(token, experiment.id)
        again = services.suggestions.create(token, experiment.id)
    assert served.source is SuggestionSource.FALLBACK
    assert again.source is SuggestionSource.FALLBACK
    assert served.model is None
    assert "no optimizer process alive" in caplog.text
    assert len(caplog.records) == 1  # once a minute per experiment, not per request
    # The optimizer was asked for candidates, and told the request no longer waits.
    work = next(w for w in storage.optimizer_work() if w.experiment.id == experiment.id)
    assert (work.demand_at is not None, work.waiting) == (True, 0)


def test_a_handed_out_point_is_pending_in_the_next_fit(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    """While a worker evaluates, the loop computes the next candidate with its point
    pending: the worker's report then finds a fresh point ready, with no wait."""
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    services.storage.heartbeat(loop.name)
    experiment = services.experiments.create(token, bowl_spec("ahead"))
    for _ in range(DESIGN):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    assert loop.step() == experiment.id
    out = services.suggestions.create(token, experiment.id)
    assert out.model is not None
    assert out.model.observations == DESIGN
    # The dashboard's open-suggestions panel shows what the model knew.
    with TestClient(create_app(services=services)) as client:
        client.auth = (TEST_TOKEN, "")
        detail = client.get(f"/dashboard/api/experiments/{experiment.id}").json()
    (shown,) = detail["open_suggestions"]
    assert shown["model"] == {
        "observations": DESIGN,
        "candidate": "batch",
        "unaccounted": 0,
        "fresh": True,
    }
    assert loop.step() == experiment.id  # the handed-out point is not in the last fit
    assert loop.step() is None  # and then nothing is due
    observe(services, token, out, bowl)
    services.storage.heartbeat(loop.name)
    # No fit since the report, yet the next point accounts for it: it was pending.
    following = services.suggestions.create(token, experiment.id)
    assert following.source is SuggestionSource.OPTIMIZER
    assert following.model is not None
    assert (following.model.observations, following.model.unaccounted) == (DESIGN, 0)
    assert following.model.fresh


def test_a_loop_started_with_the_server_gets_no_sobol_point_past_the_design(
    sqlite_url: str,
) -> None:
    """The official client's loop, begun the moment ``honed serve`` answers: its optimizer
    process is still importing torch, and the requests past the design wait for it."""
    with (
        running_server(sqlite_url, optimizers=1, candidate_wait=300.0) as server,
        httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=600) as http,
    ):
        experiment = http.post(
            "/v1/experiments",
            json={
                "name": "at once",
                "parameters": [
                    {"name": n, "type": "double", "bounds": {"min": 0, "max": 1}}
                    for n in ("x0", "x1")
                ],
                "metrics": [{"name": "f", "objective": "minimize"}],
            },
        ).json()
        path = f"/v1/experiments/{experiment['id']}"
        served = []
        for _ in range(DESIGN + 3):
            suggestion = http.post(f"{path}/suggestions", json={}).json()
            served.append(suggestion)
            value = bowl(suggestion["assignments"])["f"]
            reply = http.post(
                f"{path}/observations", json={"suggestion": suggestion["id"], "value": value}
            )
            assert reply.status_code == 200, reply.text
    assert [s["source"] for s in served] == ["engine"] * DESIGN + ["optimizer"] * 3
    for suggestion in served[DESIGN:]:
        assert suggestion["model"]["fresh"] is True
        assert suggestion["model"]["candidate"] == "batch"
    assert all(s["model"] is None for s in served[:DESIGN])


def readme_block(name: str) -> str:
    """The README's Python block that starts with ``# NAME:``."""
    text = README.read_text()
    match = re.search(rf"```python\n(# {re.escape(name)}:.*?)```", text, re.DOTALL)
    assert match is not None, name
    return match.group(1)


def test_the_readme_scheduler_example_gets_model_points_after_its_design(
    tmp_path: Path,
) -> None:
    """``tune.py`` as a new user runs it: an embedded SQLite file and an optimizer process
    that starts with it. Past the design every trial is the optimizer's."""
    (tmp_path / "tune.py").write_text(readme_block("tune.py"))
    run = subprocess.run(
        [sys.executable, "tune.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    storage = SqlStorage.from_url(f"sqlite:///{tmp_path / 'tune.db'}")
    try:
        (experiment,) = storage.list_experiments(1, PageRequest()).items
        listed = storage.list_suggestions(experiment.id, PageRequest(limit=100)).items
    finally:
        storage.close()
    sources = [s.source for s in sorted(listed, key=lambda s: s.id)]
    assert len(sources) == 20
    assert sources[:DESIGN] == [SuggestionSource.ENGINE] * DESIGN
    assert set(sources[DESIGN:]) == {SuggestionSource.OPTIMIZER}, sources
    # And the user sees it in the table the example prints.
    assert "optimizer" in run.stdout


def test_a_fit_waits_a_moment_after_a_result_for_the_workers_next_request(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    """Right after a result, with nobody waiting, the loop holds off a moment: the worker
    asks again at once, and the fit then has its new point pending too, so one fit (not
    two) is ready for the worker's next report."""
    loop = OptimizerLoop(services.storage, engine_factory)  # the production settings
    services.storage.heartbeat(loop.name)
    experiment = services.experiments.create(token, bowl_spec("settle"))
    for _ in range(DESIGN):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    time.sleep(LoopSettings().settle_seconds)
    assert loop.step() == experiment.id
    first = services.suggestions.create(token, experiment.id)
    assert loop.step() == experiment.id  # with ``first`` pending
    observe(services, token, first, bowl)
    assert loop.step() is None  # a result just now, and nobody waits yet
    second = services.suggestions.create(token, experiment.id)
    assert second.model is not None
    assert (second.model.observations, second.model.fresh) == (DESIGN, True)
    assert loop.step() == experiment.id  # the new result, with ``second`` pending
    assert services.storage.optimizer_status(experiment.id).fitted_count == DESIGN + 1
    observe(services, token, second, bowl)
    third = services.suggestions.create(token, experiment.id)
    assert third.model is not None
    assert (third.model.observations, third.model.unaccounted) == (DESIGN + 1, 0)


def test_a_request_may_cap_its_own_wait(
    storage: SqlStorage, token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    """``X-Honed-Max-Wait`` (a Scheduler sends what is left of its timeout) ends the wait
    sooner than the server's bound: here an optimizer that never starts, which the server
    would wait ten minutes for. A value that is not a number of seconds is refused."""
    services = Services(storage, ServingPolicy(max_wait_seconds=600.0, optimizers_expected=True))
    experiment = services.experiments.create(token, bowl_spec("capped"))
    for _ in range(DESIGN):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    path = f"/v1/experiments/{experiment.id}/suggestions"
    with TestClient(create_app(services=services)) as client:
        client.auth = (TEST_TOKEN, "")
        for bad in ("-1", "soon", "nan"):
            refused = client.post(path, json={}, headers={"X-Honed-Max-Wait": bad})
            assert refused.status_code == 400
            assert "X-Honed-Max-Wait" in refused.json()["message"]
        with caplog.at_level(logging.WARNING, logger="honed.service.suggestions"):
            served = client.post(path, json={}, headers={"X-Honed-Max-Wait": "0.2"})
    assert served.status_code == 200
    assert served.json()["source"] == "fallback"
    assert "no optimizer process alive" in caplog.text
    assert storage.count_observations(experiment.id) == DESIGN  # nothing lost or added


def test_an_optimizer_that_never_started_costs_no_wait_after_the_startup_window(
    storage: SqlStorage, token: Token
) -> None:
    """Optimizers were started with the service but none ever sent a heartbeat, and the
    startup window is over: requests serve Sobol at once (as with no optimizer at all),
    instead of each waiting out the bound."""
    policy = ServingPolicy(max_wait_seconds=600.0, optimizers_expected=True, startup_seconds=0)
    services = Services(storage, policy)
    experiment = services.experiments.create(token, bowl_spec("never started"))
    for _ in range(DESIGN):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    served = services.suggestions.create(token, experiment.id)
    assert (served.source, served.model) == (SuggestionSource.ENGINE, None)
    assert storage.optimizer_status(experiment.id).ready_candidates == 0
