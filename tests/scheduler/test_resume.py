"""A scheduler whose trials run in a CallableRunner's pool is killed (SIGKILL) mid-run; a
new one in this process resumes it: trials that were running are polled through their
stored metadata and adopted, none is lost or runs twice, and once the resumed run is over
no trial's files are left."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from honed.client import Client
from honed.scheduler import Scheduler
from honed.scheduler import TrialStatus
from honed.testing.trial_task import LOG
from honed.testing.trial_task import expected_loss
from tests.scheduler import crashing

DEADLINE_SECONDS = 60.0


def start_scheduler(
    database: str, workdir: Path, crash: str | None = None
) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("spawn").Process(
        target=crashing.run_scheduler, args=(database, workdir, crash)
    )
    process.start()
    return process


def wait_until_running(database: str, process: multiprocessing.process.BaseProcess) -> None:
    """Until the scheduler has stored two trials as running."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    with Client(database, optimizers=0) as client:
        while True:
            assert process.is_alive(), f"the scheduler ended early ({process.exitcode})"
            assert time.monotonic() < deadline, "no trial was recorded as running"
            experiments = client.list_experiments()
            if experiments:
                suggestions = client.list_suggestions(experiments[0].id, open_only=True)
                statuses = [s.metadata.get("honed_status") for s in suggestions]
                if statuses.count("running") >= 2:
                    return
            time.sleep(0.1)


@contextlib.contextmanager
def resume(database: str, workdir: Path) -> Iterator[Scheduler]:
    """The resumed scheduler, its run over. Once it is closed, every trial being stored,
    none of their files may be left."""
    with Client(database, optimizers=0) as client:
        (experiment,) = client.list_experiments()
    with Scheduler.from_stored_experiment(
        experiment.id, crashing.runner(workdir), crashing.OPTIONS, database, optimizers=0
    ) as scheduler:
        assert scheduler.run_all_trials().completed == crashing.OPTIONS.total_trials
        yield scheduler
    assert not workdir.exists(), sorted(workdir.rglob("*"))


def runs_per_trial(log: Path) -> dict[float, int]:
    counts: dict[float, int] = {}
    for line in log.read_text().split():
        counts[float(line)] = counts.get(float(line), 0) + 1
    return counts


def check_each_trial_ran_once(scheduler: Scheduler, log: Path) -> None:
    counts = runs_per_trial(log)
    assert set(counts.values()) == {1}
    xs = sorted(t.assignments["x"] for t in scheduler.trials.values())
    assert sorted(counts) == xs
    for trial in scheduler.trials.values():
        assert trial.status is TrialStatus.COMPLETED
        assert trial.values["loss"] == expected_loss(trial.assignments["x"])
    observations = scheduler.client.list_observations(scheduler.experiment.id)
    assert sorted(o.suggestion or "" for o in observations) == sorted(
        t.id for t in scheduler.trials.values()
    )


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own run log, for the scheduler's child process and the workers."""
    path = tmp_path / "runs.log"
    monkeypatch.setenv(LOG, str(path))
    return path


def test_sigkill_then_resume_polls_running_trials_instead_of_rerunning(
    tmp_path: Path, log: Path
) -> None:
    database, workdir = str(tmp_path / "honed.db"), tmp_path / "trials"
    process = start_scheduler(database, workdir)
    try:
        wait_until_running(database, process)
    finally:
        process.kill()
        process.join()
    assert len(runs_per_trial(log)) >= 2  # they outlived their scheduler
    with resume(database, workdir) as scheduler:
        check_each_trial_ran_once(scheduler, log)


def test_a_crash_between_launch_and_record_neither_loses_nor_reruns_the_trial(
    tmp_path: Path, log: Path
) -> None:
    """The scheduler dies right after the runner launched a trial, before it stored the
    runner's metadata: the trial is still PENDING in the store, so the resumed scheduler
    deploys it, and the runner adopts the running one instead of calling it again."""
    database, workdir = str(tmp_path / "honed.db"), tmp_path / "trials"
    process = start_scheduler(database, workdir, crash="after launch")
    process.join(DEADLINE_SECONDS)
    assert process.exitcode == -signal.SIGKILL
    with Client(database, optimizers=0) as client:
        (experiment,) = client.list_experiments()
        (launched, *_) = client.list_suggestions(experiment.id, open_only=True)
    assert launched.metadata["honed_status"] == "pending"
    assert not any(k.startswith("honed_runner_") for k in launched.metadata)
    with resume(database, workdir) as scheduler:
        check_each_trial_ran_once(scheduler, log)
        first = min(scheduler.trials.values(), key=lambda t: t.index)
        assert first.id == launched.id


def test_a_crash_between_storing_and_releasing_leaves_files_the_resumed_run_removes(
    tmp_path: Path, log: Path
) -> None:
    """The scheduler dies right after it stored the first finished trials, before their
    files were removed: the resumed scheduler neither runs them again nor leaves their
    files behind."""
    database, workdir = str(tmp_path / "honed.db"), tmp_path / "trials"
    process = start_scheduler(database, workdir, crash="on release")
    process.join(DEADLINE_SECONDS)
    assert process.exitcode == -signal.SIGKILL
    with Client(database, optimizers=0) as client:
        (experiment,) = client.list_experiments()
        stored = client.list_observations(experiment.id)
    assert stored  # the outcomes that were to be released
    assert len(list(workdir.iterdir())) >= len(stored)  # with their files
    with resume(database, workdir) as scheduler:
        check_each_trial_ran_once(scheduler, log)
