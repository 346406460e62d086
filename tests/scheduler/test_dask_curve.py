"""CurvePublisher, the sink that publishes a Dask trial's intermediate values."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from dask.distributed import Client
from dask.distributed import LocalCluster

from honed.scheduler.runners.dask import PUBLISH_SECONDS
from honed.scheduler.runners.dask import CurvePublisher


@pytest.fixture
def client() -> Iterator[Client]:
    with (
        LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_publishes_the_whole_curve(client: Client) -> None:
    publisher = CurvePublisher("honed-progress-a")
    publisher._client = client  # what get_client() returns inside the task
    publisher(1.0, 0.5)
    publisher(2.0, 0.25)  # within PUBLISH_SECONDS: left to the timer or close()
    publisher.close()
    published = client.get_dataset("honed-progress-a")
    assert published["curve"] == [(1.0, 0.5), (2.0, 0.25)]
    assert published["hostname"] == socket.gethostname()


def test_a_closed_client_loses_the_curve_without_failing_the_trial_or_the_timer(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopped trial's worker is killed while the trial still reports: neither its
    report() calls nor the publisher's timer thread may raise then."""
    thread_errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: thread_errors.append(args.exc_value))
    publisher = CurvePublisher("honed-progress-b")
    publisher._client = client
    client.close()
    publisher(1.0, 0.5)  # publishes at once
    publisher(2.0, 0.25)  # starts the timer
    time.sleep(PUBLISH_SECONDS + 0.5)
    publisher.close()
    assert thread_errors == []
