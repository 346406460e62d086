"""The runner conformance suite over every shipped runner, for real: subprocesses, worker
processes, a local Ray and a Dask LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from honed.scheduler.runners import CallableRunner
from honed.scheduler.runners import SubprocessRunner
from honed.testing.runner import COMMAND
from honed.testing.runner import RunnerConformance
from honed.testing.runner import RunnerFactory
from honed.testing.trial_task import task


class TestSubprocessRunner(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, tmp_path: Path) -> RunnerFactory:
        return lambda: SubprocessRunner(COMMAND, workdir=tmp_path / "trials")


class TestSubprocessRunnerResultFile(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, tmp_path: Path) -> RunnerFactory:
        command = COMMAND + " --result-file {result_file}"
        return lambda: SubprocessRunner(command, workdir=tmp_path / "trials")


class TestCallableRunner(RunnerConformance):
    resumable = True

    @pytest.fixture
    def make_runner(self, tmp_path: Path) -> RunnerFactory:
        return lambda: CallableRunner(task, max_workers=2, workdir=tmp_path / "trials")


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


class TestRayRunner(RunnerConformance):
    @pytest.fixture
    def make_runner(self, ray_session: None) -> RunnerFactory:
        from honed.scheduler.runners.ray import RayRunner

        return lambda: RayRunner(task)


@pytest.fixture(scope="session")
def dask_client() -> Iterator[Any]:
    from dask.distributed import Client
    from dask.distributed import LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


class TestDaskRunner(RunnerConformance):
    @pytest.fixture
    def make_runner(self, dask_client: Any) -> RunnerFactory:
        from honed.scheduler.runners.dask import DaskRunner

        return lambda: DaskRunner(task, client=dask_client)
