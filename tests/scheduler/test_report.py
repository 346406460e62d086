"""``honed.scheduler.report`` itself: where it may be called and what it accepts. That the
values reach the scheduler through every runner is the conformance suite's part."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import honed
from honed.scheduler import NotInTrialError
from honed.scheduler import report
from honed.scheduler.progress import Value
from honed.scheduler.progress import reporting
from honed.scheduler.runners.pool_worker import PROGRESS
from honed.scheduler.runners.pool_worker import ProgressFile
from honed.scheduler.runners.pool_worker import ProgressReader


class Curve:
    """A sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.values: dict[float, Value] = {}

    def __call__(self, step: float, value: Value) -> None:
        self.values[step] = value


def test_outside_a_trial_it_says_where_to_call_it() -> None:
    with pytest.raises(NotInTrialError, match="outside a trial") as raised:
        report(1, 0.5)
    message = str(raised.value)
    assert "CallableRunner, RayRunner or DaskRunner" in message
    assert '{"step": 3, "loss": 0.4}' in message  # what SubprocessRunner commands do


def test_in_a_trial_values_go_to_the_trials_sink_as_plain_floats() -> None:
    curve = Curve()
    with reporting(curve):
        honed.report(0, 2)  # also at the top level, as honed.Scheduler
        report(np.int64(1), np.float32(0.5))  # type: ignore[arg-type]  # numpy scalars too
        report(2.5, {"loss": np.float64(0.25), "accuracy": 1})
        report(1, 0.4)  # a step again: its new value
    assert curve.values == {0.0: 2.0, 1.0: 0.4, 2.5: {"loss": 0.25, "accuracy": 1.0}}
    assert all(type(step) is float for step in curve.values)
    with pytest.raises(NotInTrialError):
        report(3, 0.1)  # the trial is over


@pytest.mark.parametrize(
    ("step", "value", "error", "message"),
    [
        ("1", 0.5, TypeError, "step must be a number, not str"),
        (True, 0.5, TypeError, "step must be a number, not bool"),
        (float("inf"), 0.5, ValueError, "step is inf: report finite numbers"),
        (1, None, TypeError, "value must be a number, not NoneType"),
        (1, [0.5], TypeError, "value must be a number, not list"),
        (1, float("nan"), ValueError, "value is nan: report finite numbers"),
        (1, {}, ValueError, "empty dict"),
        (1, {"loss": "0.5"}, TypeError, "the value of 'loss' must be a number"),
        (1, {"loss": float("nan")}, ValueError, "the value of 'loss' is nan"),
        (1, {0: 0.5}, TypeError, "metric names are strings"),
    ],
)
def test_bad_values_are_refused_naming_what_to_fix(
    step: Any, value: Any, error: type[Exception], message: str
) -> None:
    curve = Curve()
    with reporting(curve), pytest.raises(error, match=message):
        report(step, value)
    assert curve.values == {}


def test_threads_a_trial_starts_report_to_it() -> None:
    curve = Curve()

    def data_loader_thread() -> None:
        report(7, 0.1)

    with reporting(curve):
        thread = threading.Thread(target=data_loader_thread)
        thread.start()
        thread.join()
    assert curve.values == {7.0: 0.1}


def test_with_several_trials_in_a_process_each_thread_reports_to_its_own() -> None:
    """As on a Dask worker with several threads: two trials at once, and a stray thread
    that belongs to neither."""
    curves = [Curve(), Curve()]
    inside = threading.Barrier(3)
    done = threading.Event()
    errors: list[Exception] = []

    def trial(curve: Curve, value: float) -> None:
        with reporting(curve):
            report(1, value)
            inside.wait()
            done.wait()

    threads = [
        threading.Thread(target=trial, args=(c, v)) for c, v in zip(curves, (1, 2), strict=True)
    ]
    for thread in threads:
        thread.start()
    inside.wait()
    try:
        report(1, 3.0)
    except NotInTrialError as error:
        errors.append(error)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert [c.values for c in curves] == [{1.0: 1.0}, {1.0: 2.0}]
    assert len(errors) == 1
    assert "from the thread that runs the trial function" in str(errors[0])


def test_a_callable_runners_progress_file_is_read_as_it_grows(tmp_path: Path) -> None:
    """A poll reads only complete lines (a trial may be writing one) and only new ones,
    and a file written afresh (the trial ran again) replaces the old curve."""
    reader = ProgressReader(tmp_path)
    assert reader.read() is None
    sink = ProgressFile(tmp_path / PROGRESS)
    sink(0, 1.0)
    sink(1, {"loss": 0.5})
    sink.close()
    with open(tmp_path / PROGRESS, "a") as handle:
        handle.write("[2, 0.2")  # half written
    assert reader.read() == {0.0: 1.0, 1.0: {"loss": 0.5}}
    with open(tmp_path / PROGRESS, "a") as handle:
        handle.write("5]\n")
    assert reader.read() == {0.0: 1.0, 1.0: {"loss": 0.5}, 2.0: 0.25}
    (tmp_path / PROGRESS).write_text("[0, 9.0]\n")
    assert reader.read() == {0.0: 9.0}
