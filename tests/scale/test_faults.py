"""Faults under load: 32 worker processes against 2 ``honed serve`` processes on one
PostgreSQL. Mid-run one server is killed with SIGKILL (its workers move to the other),
PostgreSQL is restarted, and some workers are killed. Afterwards every acknowledged
observation is stored exactly once, no suggestion has two observations, no two open
suggestions are equal, and no answer was a 500 (or any error other than 429/503)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import ExitStack
from multiprocessing.process import BaseProcess
from pathlib import Path

import httpx
import pytest

from honed.domain.optimizer import OptimizerStatus
from honed.storage.sql.storage import SqlStorage
from tests.scale import fault_worker
from tests.scale.helpers import all_items
from tests.scale.helpers import new_experiment
from tests.support.postgres import PostgresServer
from tests.support.postgres import start_cluster
from tests.support.postgres import start_cluster_again
from tests.support.postgres import stop_cluster
from tests.support.server import optimizer_children
from tests.support.server import running_server

pytestmark = pytest.mark.postgres

WORKERS = 32
KILLED_WORKERS = 4
# Seconds after the workers start.
KILL_SERVER_AT = 6.0
STOP_DATABASE_AT = 12.0
DATABASE_DOWN_SECONDS = 2.0
KILL_WORKERS_AT = 20.0
RUN_SECONDS = 28.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresServer]:
    """A cluster of this module's own: restarting it disturbs no other test."""
    with start_cluster() as server:
        yield server


def _kill_alive(workers: Sequence[BaseProcess]) -> None:
    for worker in workers:
        if worker.is_alive():
            worker.kill()


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def test_faults_lose_nothing_and_duplicate_nothing(
    cluster: PostgresServer, tmp_path: Path
) -> None:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([fault_worker.__name__])
    with ExitStack() as stack:
        database = cluster.create_database()
        # Latency over freshness: the faults must land among many requests in flight, and
        # with fresh points each of 32 instant workers waits for a fit in turn (fewer than
        # 100 cycles in the run). Waiting requests are tested in tests/test_served_quality.py.
        latency = ["--prefer", "latency"]
        doomed = stack.enter_context(running_server(database, extra_args=latency))
        # The optimizer process (BoTorch) runs beside the survivor and lives through the
        # database restart like the API processes.
        survivor = stack.enter_context(running_server(database, optimizers=1, extra_args=latency))
        urls = [doomed.url, survivor.url]
        client = stack.enter_context(
            httpx.Client(base_url=survivor.url, auth=(survivor.token, ""), timeout=60)
        )
        experiment_id = new_experiment(client)
        logs = [tmp_path / f"worker-{i}.log" for i in range(WORKERS)]
        # Workers start cycling once all are up; the faults are timed from then.
        start = time.time() + 15.0
        stop_at = start + RUN_SECONDS
        workers = [
            context.Process(
                target=fault_worker.run,
                args=(i, urls, survivor.token, experiment_id, stop_at, str(logs[i])),
                daemon=True,
            )
            for i in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        stack.callback(_kill_alive, workers)
        wait_until(start + KILL_SERVER_AT)
        os.killpg(doomed.process.pid, signal.SIGKILL)
        wait_until(start + STOP_DATABASE_AT)
        stop_cluster(cluster)
        time.sleep(DATABASE_DOWN_SECONDS)
        start_cluster_again(cluster)
        restarted = time.time()
        wait_until(start + KILL_WORKERS_AT)
        for worker in workers[:KILLED_WORKERS]:
            worker.kill()
        for worker, log in zip(workers[KILLED_WORKERS:], logs[KILLED_WORKERS:], strict=True):
            worker.join(timeout=RUN_SECONDS + 90)
            if worker.is_alive():
                hung_worker(worker, log, cluster, survivor.log())
            assert worker.exitcode == 0, f"worker {worker.pid} exited with {worker.exitcode}"

        acknowledged: dict[str, str] = {}
        bad: list[str] = []
        retries: Counter[str] = Counter()
        for log in logs:
            text = log.read_text()
            assert text.startswith("ready"), f"{log.name} never started"
            for line in text.splitlines(keepends=True):
                if not line.endswith("\n"):
                    continue  # a write cut short by SIGKILL
                kind, _, rest = line.strip().partition(" ")
                if kind == "ack":
                    suggestion_id, observation_id = rest.split()
                    assert suggestion_id not in acknowledged
                    acknowledged[suggestion_id] = observation_id
                elif kind == "bad":
                    bad.append(rest)
                elif kind == "retry":
                    retries[rest] += 1
        assert bad == [], bad
        base = f"/v1/experiments/{experiment_id}"
        observations = all_items(client, f"{base}/observations")
        stored = {o["id"]: o["suggestion"] for o in observations}
        per_suggestion = Counter(o["suggestion"] for o in observations)
        suggestions = all_items(client, f"{base}/suggestions")
        sources_after_restart = Counter(
            s["source"] for s in suggestions if s["created"] > restarted + 1
        )
        summary = {
            "acknowledged": len(acknowledged),
            "stored": len(observations),
            "suggestions": len(suggestions),
            "sources after the restart": dict(sources_after_restart),
            "retries": dict(retries),
        }
        print("fault test:", json.dumps(summary))
        # Enough work happened on both sides of every fault to mean something.
        assert len(acknowledged) >= 100, summary
        # The workers felt both faults: the dead server and the database restart.
        assert retries["503"] > 0, summary
        assert sum(n for reason, n in retries.items() if not reason.isdigit()) > 0, summary
        # The optimizer process reconnected after the restart and went on fitting.
        status = status_after_fit(database, int(experiment_id), restarted)
        if (status.fitted_at or 0.0) <= restarted:
            dump_stacks(survivor.process.pid)
            pytest.fail(
                f"no optimizer fit after the restart: {summary} {status}\n"
                f"sessions: {sessions(cluster)}\nprocesses:\n{processes()}\n"
                f"survivor's log:\n{survivor.log()[-8000:]}"
            )
        for suggestion_id, observation_id in acknowledged.items():
            assert stored.get(observation_id) == suggestion_id
        repeated = {s: n for s, n in per_suggestion.items() if n > 1}
        assert repeated == {}, repeated
        open_points = Counter(
            json.dumps(s["assignments"], sort_keys=True)
            for s in all_items(client, f"{base}/suggestions", state="open")
        )
        assert all(n == 1 for n in open_points.values()), open_points.most_common(3)


def hung_worker(worker: BaseProcess, log: Path, cluster: PostgresServer, server_log: str) -> None:
    """Fail with what shows where a worker that outlived the run hangs: its stacks (SIGUSR1,
    see fault_worker), its last events, the database's sessions and the survivor's log."""
    assert worker.pid is not None
    os.kill(worker.pid, signal.SIGUSR1)
    time.sleep(1.0)
    pytest.fail(
        f"worker {worker.pid} still running {RUN_SECONDS + 90:.0f} s after the faults\n"
        f"its log (events, then stacks):\n{log.read_text()[-6000:]}\n"
        f"sessions: {sessions(cluster)}\nprocesses:\n{processes()}\n"
        f"survivor's log:\n{server_log[-8000:]}"
    )


def sessions(cluster: PostgresServer) -> list[tuple[object, ...]]:
    """What the database's sessions are doing (a fit stuck on a lock shows here)."""
    with cluster.connect_admin() as conn:
        return conn.execute(
            "SELECT application_name, state, wait_event_type, wait_event, "
            "now() - xact_start, left(query, 120) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend'"
        ).fetchall()


def processes() -> str:
    """CPU hogs at the time of the failure (a busy machine makes fits slow)."""
    return subprocess.run(
        ["ps", "-eo", "pid,ppid,pcpu,etime,args", "--sort=-pcpu"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout[:3000]


def dump_stacks(parent: int) -> None:
    """Have the optimizer processes under ``parent`` print their threads' stacks to the
    server's log (``honed optimizer`` registers SIGUSR1 with faulthandler)."""
    for pid in optimizer_children(parent):
        os.kill(pid, signal.SIGUSR1)
    time.sleep(1.0)


def status_after_fit(database: str, experiment_id: int, moment: float) -> OptimizerStatus:
    """The optimizer's status of the experiment once it finished a fit after ``moment``, or
    after two minutes without one (one may be under way when the workers stop)."""
    storage = SqlStorage.from_url(database, migrate=False)
    try:
        deadline = time.monotonic() + 120
        while True:
            status = storage.optimizer_status(experiment_id)
            fitted = status.fitted_at is not None and status.fitted_at > moment
            if fitted or time.monotonic() > deadline:
                return status
            time.sleep(0.5)
    finally:
        storage.close()
