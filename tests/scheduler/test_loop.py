"""Behaviour of the loop (issue points 1-3), on a fake clock: no test sleeps."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from honed.client import Client
from honed.client.models import Suggestion
from honed.scheduler import FakeClock
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import Trial
from honed.scheduler import TrialStatus
from honed.scheduler.results import trials_frame
from tests.scheduler.conftest import EXPERIMENT
from tests.scheduler.conftest import ClockRunner
from tests.scheduler.conftest import loss
from tests.support.server import running_server


def make(client: Client, runner: ClockRunner, clock: FakeClock, **options: Any) -> Scheduler:
    return Scheduler(EXPERIMENT, runner, SchedulerOptions(**options), client, clock=clock)


def test_run_all_trials_records_suggestions_and_observations(
    client: Client, runner: ClockRunner, clock: FakeClock
) -> None:
    scheduler = make(client, runner, clock, total_trials=8, max_pending_trials=3)
    result = scheduler.run_all_trials()
    assert result.completed == 8
    assert result.stop_reason == "total_trials=8 reached"
    # The trials are the experiment's suggestions and observations, for API and dashboard.
    observations = client.list_observations(scheduler.experiment.id)
    assert len(observations) == 8
    assert {o.suggestion for o in observations} == {t.id for t in scheduler.trials.values()}
    for observation in observations:
        assert observation.metadata["honed_status"] == "completed"
        assert observation.values["loss"] == loss(observation.assignments)
    assert client.list_suggestions(scheduler.experiment.id, open_only=True) == []


def test_same_code_against_a_real_server(sqlite_url: str) -> None:
    clock = FakeClock()
    runner = ClockRunner(clock)
    with running_server(sqlite_url) as server:
        scheduler = Scheduler(
            EXPERIMENT,
            runner,
            SchedulerOptions(total_trials=3),
            server.url,
            token=server.token,
            clock=clock,
        )
        with scheduler:
            assert scheduler.run_all_trials().completed == 3
        with Client(server.url, server.token) as client:
            stored = client.list_suggestions(scheduler.experiment.id)
            assert [s.metadata["honed_trial"] for s in stored] == [0, 1, 2]
            # The runner's metadata is stored with the trial.
            assert all(s.metadata["honed_runner_0"].startswith('{"job":') for s in stored)


def test_runner_sees_plain_data_and_its_metadata_is_stored(
    client: Client, runner: ClockRunner, clock: FakeClock
) -> None:
    scheduler = make(client, runner, clock, total_trials=2)
    scheduler.run_all_trials()
    trial = scheduler.trials[0]
    assert trial.runner_metadata == {"job": f"job-{trial.id}", "started": trial.started}
    spec = trial.spec()
    assert (spec.id, spec.index, dict(spec.assignments)) == (trial.id, 0, trial.assignments)


def test_run_n_trials_adds_to_what_ran_before(
    client: Client, runner: ClockRunner, clock: FakeClock
) -> None:
    scheduler = make(client, runner, clock)
    scheduler.run_n_trials(1)
    scheduler.run_n_trials(3)
    assert sorted(scheduler.trials) == [0, 1, 2, 3]
    assert all(t.status is TrialStatus.COMPLETED for t in scheduler.trials.values())


def test_yields_after_each_round_of_completions(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, duration=lambda a: 10.0 + 10.0 * a["x"])
    scheduler = make(client, runner, clock, total_trials=6, max_pending_trials=2)
    reports = list(scheduler.run_trials_and_yield_results())
    completed = [r["completed"] for r in reports]
    assert completed == sorted(completed)
    assert completed[-1] == 6
    assert len(reports) >= 4  # rounds, not one report at the end


def test_report_results_is_a_hook(client: Client, runner: ClockRunner, clock: FakeClock) -> None:
    class Reporting(Scheduler):
        def report_results(self) -> dict[str, Any]:
            return {"done": sum(t.status.terminal for t in self.trials.values())}

    scheduler = Reporting(
        EXPERIMENT, runner, SchedulerOptions(total_trials=3), client, clock=clock
    )
    assert list(scheduler.run_trials_and_yield_results())[-1] == {"done": 3}


def test_best_trial_summary_and_dataframe(
    client: Client, runner: ClockRunner, clock: FakeClock
) -> None:
    scheduler = make(client, runner, clock, total_trials=5)
    result = scheduler.run_all_trials()
    best = scheduler.best_trial()
    assert best is not None
    assert best.values["loss"] == min(t.values["loss"] for t in scheduler.trials.values())
    assert result.best_trial is not None
    assert result.best_trial.index == best.index
    assert (result.completed, result.failed, result.running) == (5, 0, 0)

    frame = scheduler.to_dataframe()
    assert list(frame["trial_index"]) == [0, 1, 2, 3, 4]
    assert {"trial_id", "status", "x", "y", "loss", "runner_metadata", "start_time"} <= set(
        frame.columns
    )
    assert (frame["status"] == "completed").all()
    # Who chose each point: here the initial design, with no model behind it.
    assert set(frame["source"]) == {"engine"}
    assert list(frame.columns[:4]) == ["trial_index", "trial_id", "status", "generation_method"]
    assert set(frame["generation_method"]) == {"design"}
    assert frame["model_fresh"].isna().all()
    assert (frame["end_time"] - frame["start_time"] >= pd.Timedelta(seconds=10)).all()
    metadata: dict[str, str] = frame.loc[0, "runner_metadata"]  # type: ignore[assignment]
    assert metadata["job"].startswith("job-")


def test_generation_method_names_what_chose_each_point() -> None:
    """As Ax's exp_to_df: design, optimizer, fallback or manual (queued points too)."""
    sources = ["engine", "optimizer", "fallback", "manual", "queued", None]
    trials = [
        Trial(index=i, id=str(i), assignments={"x": 0.5}, key=str(i), source=source)
        for i, source in enumerate(sources)
    ]
    frame = trials_frame(trials)
    methods = frame["generation_method"]
    assert list(methods[:5]) == ["design", "optimizer", "fallback", "manual", "manual"]
    assert pd.isna(methods[5])  # a trial whose suggestion had no source on record


def test_the_dashboard_names_each_points_generator_as_to_dataframe_does(
    client: Client, runner: ClockRunner, clock: FakeClock
) -> None:
    """The dashboard's table and open-suggestions panel say what chose each point in the
    words of ``to_dataframe()``'s ``generation_method`` (``design``, not the wire's
    ``engine``): one mapping, honed.domain.records.generation_method."""
    scheduler = make(client, runner, clock, total_trials=3)
    scheduler.run_all_trials()
    frame = scheduler.to_dataframe()
    experiment_id = scheduler.experiment.id
    suggestion = client.create_suggestion(experiment_id)
    detail = client.request("GET", f"/dashboard/api/experiments/{experiment_id}")
    by_suggestion = {o["suggestion"]: o["source"] for o in detail["observations"]}
    assert [by_suggestion[t] for t in frame["trial_id"]] == list(frame["generation_method"])
    assert set(frame["generation_method"]) == {"design"}
    assert suggestion.source == "engine"  # the v1 API keeps its own field as it is
    [shown] = detail["open_suggestions"]
    assert (shown["id"], shown["source"]) == (suggestion.id, "design")


def test_embedded_postgres_runs_and_resumes(postgres_url: str) -> None:
    """The embedded store may be PostgreSQL: a second scheduler resumes the experiment."""
    clock = FakeClock()
    runner = ClockRunner(clock)
    options = SchedulerOptions(total_trials=6, max_pending_trials=2)
    with Client(postgres_url) as client:
        first = Scheduler(EXPERIMENT, runner, options, client, clock=clock)
        assert first.run_n_trials(max_trials=3).completed == 3
        resumed = Scheduler.from_stored_experiment(
            first.experiment.id, runner, options, client, clock=clock
        )
        assert resumed.run_all_trials().completed == 6
        observations = client.list_observations(first.experiment.id)
        assert len(observations) == 6
        assert len({o.suggestion for o in observations}) == 6  # each trial observed once
        assert client.list_suggestions(first.experiment.id, open_only=True) == []


def test_a_suggestion_waits_no_longer_than_the_run_has_left(
    client: Client, runner: ClockRunner, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each suggestion request carries what is left of the run's timeout, so waiting for
    a fresh model point cannot carry the run past it; a run without a timeout sends none."""
    asked: list[float | None] = []
    create = client.create_suggestion

    def recording(experiment_id: str, **kwargs: Any) -> Suggestion:
        asked.append(kwargs.get("max_wait"))
        return create(experiment_id, **kwargs)

    monkeypatch.setattr(client, "create_suggestion", recording)
    make(client, runner, clock, max_pending_trials=2).run_n_trials(max_trials=4, timeout=1000)
    waits = [wait for wait in asked if wait is not None]
    assert len(waits) == 4
    assert all(0 <= wait <= 1000 for wait in waits)
    assert waits == sorted(waits, reverse=True)  # the clock moved on between them
    asked.clear()
    make(client, runner, clock, max_pending_trials=2).run_n_trials(max_trials=2)
    assert asked == [None, None]


def test_each_suggestion_of_a_round_carries_what_is_left_when_it_is_asked(
    client: Client, runner: ClockRunner, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round's suggestions are asked one after another: the time one spent waiting is
    gone for the next, so a round's waits together cannot carry the run past its timeout."""
    asked: list[float | None] = []
    create = client.create_suggestion

    def slow(experiment_id: str, **kwargs: Any) -> Suggestion:
        asked.append(kwargs.get("max_wait"))
        clock.advance(300)  # the optimizer took its time
        return create(experiment_id, **kwargs)

    monkeypatch.setattr(client, "create_suggestion", slow)
    make(client, runner, clock, max_pending_trials=3).run_n_trials(max_trials=3, timeout=1000)
    assert asked == [1000, 700, 400]
