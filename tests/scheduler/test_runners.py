"""The runner conformance suite over every shipped runner, for real: subprocesses, worker
processes, and Ray and Dask clusters in processes of their own (as real clusters are, so
that their trials outlive a killed scheduler)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from honed.client import Client
from honed.scheduler import Scheduler
from honed.scheduler.runners import CallableRunner
from honed.scheduler.runners import SubprocessRunner
from honed.scheduler.trial import TrialSpec
from honed.testing.runner import COMMAND
from honed.testing.runner import Leftovers
from honed.testing.runner import RunnerConformance
from honed.testing.runner import RunnerFactory
from honed.testing.trial_task import task
from tests.scheduler.conftest import EXPERIMENT
from tests.support.clusters import dask_cluster
from tests.support.clusters import ray_cluster


def on_disk(workdir: Path) -> Leftovers:
    """What a local runner keeps on disk: its work directory and everything under it."""
    return lambda: sorted(p for p in [workdir, *workdir.rglob("*")] if p.exists())


class TestSubprocessRunner(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, tmp_path: Path) -> RunnerFactory:
        return partial(SubprocessRunner, COMMAND, workdir=tmp_path / "trials")

    @pytest.fixture
    def leftovers(self, tmp_path: Path) -> Leftovers:
        return on_disk(tmp_path / "trials")


class TestSubprocessRunnerResultFile(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, tmp_path: Path) -> RunnerFactory:
        command = COMMAND + " --result-file {result_file}"
        return partial(SubprocessRunner, command, workdir=tmp_path / "trials")

    @pytest.fixture
    def leftovers(self, tmp_path: Path) -> Leftovers:
        return on_disk(tmp_path / "trials")


class TestCallableRunner(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, tmp_path: Path) -> RunnerFactory:
        return partial(CallableRunner, task, max_workers=2, workdir=tmp_path / "trials")

    @pytest.fixture
    def leftovers(self, tmp_path: Path) -> Leftovers:
        return on_disk(tmp_path / "trials")


@pytest.fixture(scope="session")
def ray_address(trial_log: Path) -> Iterator[str]:
    import ray

    with ray_cluster() as address:
        ray.init(address=address, log_to_driver=False)
        try:
            yield address
        finally:
            ray.shutdown()


class TestRayRunner(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, ray_address: str) -> RunnerFactory:
        from honed.scheduler.runners.ray import RayRunner

        return partial(RayRunner, task, address=ray_address, log_to_driver=False)


@pytest.fixture(scope="session")
def dask_address(trial_log: Path) -> Iterator[str]:
    with dask_cluster() as address:
        yield address


class TestDaskRunner(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, dask_address: str) -> RunnerFactory:
        from honed.scheduler.runners.dask import DaskRunner

        return partial(DaskRunner, task, address=dask_address)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            "train --lr {lr}",
            r"names \{lr\}, which is neither a parameter of the experiment \(x, y\)",
        ),
        ("awk '{print $1}'", r"write \{\{ and \}\} for a literal brace"),
        ("train --x {}", r"a placeholder without a name"),
        ("train --x {x:.3f}", r"cannot fill in the command: Unknown format code 'f'"),
        ("train --x {x", r"cannot fill in the command: expected '\}'"),
    ],
)
def test_a_command_is_checked_against_the_parameters(command: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SubprocessRunner(command).check_command(["x", "y"])


def test_a_good_command_passes_the_check() -> None:
    command = "{python} train.py --x {x} --y {y} --out {result_file} --dir {trial_dir} {{}}"
    SubprocessRunner(command).check_command(["x", "y"])


def test_an_inactive_parameter_is_an_empty_argument_and_assignments_hold_the_active() -> None:
    runner = SubprocessRunner("train --model {model} --trees {trees} --rate {rate} {assignments}")
    runner.prepare(["model", "trees", "rate"])
    command = runner.command_for(TrialSpec("7", 0, {"model": "forest", "trees": 10}))
    assert shlex.split(command) == [
        *["train", "--model", "forest", "--trees", "10", "--rate", ""],
        '{"model": "forest", "trees": 10}',
    ]


def test_a_command_the_experiment_cannot_fill_in_creates_no_experiment(client: Client) -> None:
    with pytest.raises(ValueError, match=r"the command names \{lr\}"):
        Scheduler(EXPERIMENT, SubprocessRunner("train --lr {lr}"), connection=client)
    assert client.list_experiments() == []
