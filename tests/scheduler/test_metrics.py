"""``Scheduler.serve_metrics``: trials by state for Prometheus, as the loop sees them."""

from __future__ import annotations

import httpx
import pytest

from honed.client import Client
from honed.scheduler import FakeClock
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialStatus
from tests.scheduler.conftest import EXPERIMENT
from tests.scheduler.conftest import ClockRunner
from tests.support.metrics import Samples
from tests.support.metrics import scrape
from tests.support.metrics import value
from tests.support.server import free_port


def trials(samples: Samples, experiment: str) -> dict[str, float]:
    return {
        status.value: value(
            samples, "honed_scheduler_trials", experiment=experiment, state=status.value
        )
        for status in TrialStatus
    }


def test_trials_by_state_follow_the_loop(client: Client, clock: FakeClock) -> None:
    # Trials of different lengths: a round that ends one finds another still running.
    runner = ClockRunner(
        clock,
        duration=lambda a: 5.0 + 20.0 * float(a["x"]),
        fail=lambda t: "boom" if t.index == 1 else None,
    )
    options = SchedulerOptions(
        total_trials=6, max_pending_trials=2, tolerated_trial_failure_rate=0.9
    )
    scheduler = Scheduler(EXPERIMENT, runner, options, client, clock=clock)
    port = free_port()
    scheduler.serve_metrics(port)
    eid = scheduler.experiment.id
    try:
        assert set(trials(scrape(port), eid).values()) == {0}
        seen = []
        for report in scheduler.run_trials_and_yield_results():
            scraped = trials(scrape(port), eid)
            assert scraped == {status.value: report[status.value] for status in TrialStatus}
            seen.append(scraped)
        with pytest.raises(RuntimeError, match="already"):
            scheduler.serve_metrics(free_port())
    finally:
        scheduler.close()
    assert any(s["running"] > 0 for s in seen), seen
    assert seen[-1] == {
        "pending": 0,
        "running": 0,
        "completed": 5,
        "failed": 1,
        "early_stopped": 0,
    }
    with pytest.raises(httpx.ConnectError):  # close() ends the endpoint
        scrape(port)
