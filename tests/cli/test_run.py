"""`honed run experiment.yaml` with real processes: a full run, Ctrl-C then re-run, and
SIGKILL then resume (running trials are polled again, not run twice)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from honed.cli.run_config import ConfigError
from honed.cli.run_config import build_options
from honed.cli.run_config import load_config
from honed.client import Client
from honed.scheduler import NoImprovement
from honed.scheduler import PercentileEarlyStopping
from honed.scheduler import ThresholdEarlyStopping
from tests.support.metrics import scrape
from tests.support.metrics import total
from tests.support.server import free_port

TRAIN = """
import argparse, json, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
parser.add_argument("--seconds", type=float)
args = parser.parse_args()
with open("runs.log", "a") as log:
    log.write(os.environ["HONED_TRIAL_ID"] + "\\n")
time.sleep(args.seconds)
print(json.dumps({"loss": (args.x - 0.3) ** 2}))
"""


def write_experiment(
    tmp_path: Path,
    seconds: float,
    budget: int = 6,
    optimizers: int = 0,
    output_log: str | None = None,
) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    config: dict[str, Any] = {
        "name": "cli run",
        "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "command": f"{sys.executable} train.py --x {{x}} --seconds {seconds}",
        "parallelism": 3,
        "budget": budget,
        "timeout": 120,
        "database": "honed.db",
        "optimizers": optimizers,  # 0, Sobol: no torch import in a test of the loop
        "options": {"init_seconds_between_polls": 0.05, "max_seconds_between_polls": 0.5},
    }
    if output_log is not None:
        config["output_log"] = output_log
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def interruptible() -> None:
    """In the child: Ctrl-C's default action. A suite started in the background by a shell
    without job control inherits SIGINT ignored, and so would `honed run` (as Python
    leaves an ignored SIGINT ignored); a terminal's Ctrl-C is what these tests play."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def reap() -> Iterator[Callable[[subprocess.Popen[str]], subprocess.Popen[str]]]:
    """Registers a process to end and close at teardown, whatever the test did: a test
    that failed with its process alive would leave an open pipe, reported as a
    ResourceWarning in whichever test runs when it is collected."""
    started: list[subprocess.Popen[str]] = []

    def register(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
        started.append(process)
        return process

    yield register
    for process in started:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own group, or honed run's
            process.kill()
        process.communicate()


def honed_run(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "honed", "run", str(path)],
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=interruptible,
    )


def wait_for_runs(tmp_path: Path, count: int, process: subprocess.Popen[str]) -> list[str]:
    # Generous: on a loaded machine `honed run` and its trials take long to start.
    deadline = time.monotonic() + 240
    log = tmp_path / "runs.log"
    while time.monotonic() < deadline:
        runs = log.read_text().split() if log.exists() else []
        if len(runs) >= count:
            return runs
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.05)
    raise AssertionError("the trials did not start")


def stored(tmp_path: Path) -> tuple[list[str], dict[str, int]]:
    """Suggestion ids of the experiment's observations, and observations per suggestion."""
    with Client(str(tmp_path / "honed.db")) as client:
        (experiment,) = client.list_experiments()
        observations = client.list_observations(experiment.id)
    # The config's budget is the experiment's, as the dashboard's "done / budget" shows.
    assert (
        experiment.observation_budget
        == yaml.safe_load((tmp_path / "experiment.yaml").read_text())["budget"]
    )
    per: dict[str, int] = {}
    for observation in observations:
        assert observation.suggestion is not None
        assert not observation.failed
        # Where the trial ran, for the dashboard's timeline and workers panel.
        assert observation.metadata["hostname"] == socket.gethostname()
        per[observation.suggestion] = per.get(observation.suggestion, 0) + 1
    return list(per), per


def test_ctrl_c_stops_cleanly_and_rerunning_resumes(
    tmp_path: Path, reap: Callable[[subprocess.Popen[str]], subprocess.Popen[str]]
) -> None:
    path = write_experiment(tmp_path, seconds=30)
    process = reap(honed_run(path))
    wait_for_runs(tmp_path, 3, process)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "run the same command again to resume" in output
    # The trials it started were stopped, and none was recorded as finished.
    pids = [int(p.read_text()) for p in (tmp_path / ".honed-trials").glob("*/pid")]
    assert len(pids) == 3
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert stored(tmp_path)[0] == []

    # Resumed with a raised budget: the experiment's budget follows the config's.
    fast = write_experiment(tmp_path, seconds=0, budget=7)
    rerun = subprocess.run(
        [sys.executable, "-m", "honed", "run", str(fast)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "resuming experiment" in rerun.stderr
    assert "best trial" in rerun.stdout
    assert "7 / 7" in rerun.stderr  # the progress display's last state
    suggestions, per = stored(tmp_path)
    assert len(suggestions) == 7
    assert set(per.values()) == {1}
    # Every trial is stored, the stopped ones included: none of their files is left.
    assert not (tmp_path / ".honed-trials").exists()


def command_lines() -> list[str]:
    lines = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # ended meanwhile
            lines.append(path.read_text())
    return lines


def test_ctrl_c_in_a_terminal_is_clean_with_an_optimizer(
    tmp_path: Path, reap: Callable[[subprocess.Popen[str]], subprocess.Popen[str]]
) -> None:
    """Ctrl-C in a terminal signals the whole foreground process group, which includes
    the embedded database's optimizer process: it must not print a traceback (it may still
    be importing torch), nor log over the display, nor outlive `honed run`."""
    path = write_experiment(tmp_path, seconds=30, optimizers=1)
    process = reap(
        subprocess.Popen(
            [sys.executable, "-m", "honed", "run", str(path)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # a process group of its own, as a terminal's job
            preexec_fn=interruptible,
        )
    )
    wait_for_runs(tmp_path, 3, process)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "Traceback" not in output
    assert " optimizer " not in output  # its log lines: "<time> optimizer <message>"
    assert "stopped: run the same command again to resume" in output.splitlines()
    database = str(tmp_path / "honed.db")
    assert not [p for p in command_lines() if database in p], "a process still uses it"


def test_sigkill_then_resume_runs_nothing_twice(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, seconds=3, output_log="output.jsonl")
    process = honed_run(path)
    started = wait_for_runs(tmp_path, 3, process)
    time.sleep(0.3)  # let it record the three as running
    process.kill()
    process.communicate()
    # The trials outlive the scheduler (their own sessions) ...
    pids = [int(p.read_text()) for p in (tmp_path / ".honed-trials").glob("*/pid")]
    assert len(pids) == 3
    alive = 0
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive += 1
        except ProcessLookupError:
            pass
    assert alive >= 1
    # ... and the resumed scheduler polls them instead of starting them again.
    rerun = subprocess.run(
        [sys.executable, "-m", "honed", "run", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "resuming experiment" in rerun.stderr
    runs = (tmp_path / "runs.log").read_text().split()
    assert len(runs) == len(set(runs)) == 6  # six trials, each started once
    assert set(started) <= set(runs)
    suggestions, per = stored(tmp_path)
    assert sorted(suggestions) == sorted(runs)
    assert set(per.values()) == {1}
    # Those that finished while no scheduler ran were released by the resumed one; each
    # left the tail of its stdout in the output log.
    assert not (tmp_path / ".honed-trials").exists()
    lines = [json.loads(line) for line in (tmp_path / "output.jsonl").read_text().splitlines()]
    assert sorted({line["id"] for line in lines}) == sorted(runs)
    for line in lines:
        assert line["stdout"].startswith('{"loss": ')


def test_bad_config_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "parameters": [],
                "metrics": [],
                "command": "true",
                "budget": 1,
                "paralelism": 2,
            }
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "honed", "run", str(path)], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "unknown settings ['paralelism']" in result.stderr


def test_stopping_rules_are_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "experiment.yaml"
    config: dict[str, Any] = {"budget": 4, "options": {}}
    config["options"] = {
        "early_stopping": {"percentile": 25, "min_step": 3},
        "global_stopping": {"window": 4, "min_trials": 8},
    }
    options = build_options(path, config)
    assert options.early_stopping == PercentileEarlyStopping(percentile=25, min_step=3)
    assert options.global_stopping == NoImprovement(window=4, min_trials=8)
    config["options"] = {"early_stopping": {"threshold": -1.0, "min_step": 2}}
    rule = build_options(path, config).early_stopping
    assert rule == ThresholdEarlyStopping(threshold=-1.0, min_step=2)
    config["options"] = {"early_stopping": {"percentil": 25}}
    with pytest.raises(ConfigError, match=r"sets \['percentil'\]: PercentileEarlyStopping takes"):
        build_options(path, config)


def run_to_the_end(tmp_path: Path, config: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """``honed run`` on ``config``, written to tmp_path, until it succeeds."""
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "honed", "run", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


CURVE = """
import json, sys, time
print(json.dumps({"step": 1, "loss": 5.0}), flush=True)
time.sleep(60)
print(json.dumps({"loss": 5.0}))
"""


def test_the_live_panel_counts_early_stopped_trials(tmp_path: Path) -> None:
    (tmp_path / "curve.py").write_text(CURVE)
    config = {
        "name": "stopped early",
        "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "command": f"{sys.executable} curve.py --x {{x}}",
        "parallelism": 2,
        "budget": 2,
        "database": "honed.db",
        "optimizers": 0,
        "options": {
            "init_seconds_between_polls": 0.05,
            "max_seconds_between_polls": 0.2,
            # A loss above 1 at step 1 stops the trial (in the loss's own units).
            "early_stopping": {"threshold": 1.0, "min_step": 1},
        },
    }
    result = run_to_the_end(tmp_path, config)
    # The display's last frame: both trials finished, both stopped early.
    assert re.search(r"finished\s+│\s+2 / 2", result.stderr), result.stderr
    assert re.search(r"stopped early\s+│\s+2", result.stderr), result.stderr


SOMETIMES_FAILS = """
import json, sys
index = int(sys.argv[1])
if index % 4 == 3:
    sys.exit("out of memory")
print(json.dumps({"loss": index / 10}))
"""


def test_the_panel_and_the_summary_account_for_every_trial_also_resumed(
    tmp_path: Path,
) -> None:
    """Failed trials spend the budget too: the panel's count of finished trials includes
    them, and its parts (completed, stopped early, failed) add up to it, in the first run
    and in a resumed one, which counts the trials of the run before."""
    (tmp_path / "sometimes_fails.py").write_text(SOMETIMES_FAILS)
    config = {
        "name": "some fail",
        "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "command": f"{sys.executable} sometimes_fails.py {{trial_index}}",
        "parallelism": 2,
        "budget": 8,
        "database": "honed.db",
        "optimizers": 0,
        "options": {
            "init_seconds_between_polls": 0.05,
            "max_seconds_between_polls": 0.2,
            "tolerated_trial_failure_rate": 0.9,
        },
    }
    first = run_to_the_end(tmp_path, config)
    for row in (r"finished\s+│\s+8 / 8", r"completed\s+│\s+6", r"failed\s+│\s+2"):
        assert re.search(row, first.stderr), first.stderr
    assert "8 trials: 6 completed, 2 failed" in first.stderr
    resumed = run_to_the_end(tmp_path, {**config, "budget": 12})
    assert "(so far 8 trials: 6 completed, 2 failed)" in resumed.stderr
    for row in (r"finished\s+│\s+12 / 12", r"completed\s+│\s+9", r"failed\s+│\s+3"):
        assert re.search(row, resumed.stderr), resumed.stderr
    assert "12 trials: 9 completed, 3 failed" in resumed.stderr


BRANCHES = """
import json, sys
# argv: the {assignments} JSON, then --trees {trees} (empty where trees is inactive).
active = json.loads(sys.argv[1])
expected = {"forest": {"model", "trees"}, "linear": {"model", "penalty"}}[active["model"]]
assert set(active) == expected, active
assert sys.argv[2:] == ["--trees", str(active.get("trees", ""))], sys.argv
print(json.dumps({"loss": active.get("penalty", active.get("trees", 0) / 100)}))
"""


def test_a_conditional_experiment_runs_from_a_config(tmp_path: Path) -> None:
    (tmp_path / "branches.py").write_text(BRANCHES)
    config = {
        "name": "branches",
        "conditionals": [{"name": "model", "values": ["forest", "linear"]}],
        "parameters": [
            {
                "name": "trees",
                "type": "int",
                "bounds": {"min": 1, "max": 100},
                "conditions": {"model": "forest"},
            },
            {
                "name": "penalty",
                "type": "double",
                "bounds": {"min": 0, "max": 1},
                "conditions": {"model": ["linear"]},
            },
        ],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "command": f"{sys.executable} branches.py {{assignments}} --trees {{trees}}",
        "parallelism": 2,
        "budget": 6,
        "database": "honed.db",
        "optimizers": 0,
        "options": {"init_seconds_between_polls": 0.05, "max_seconds_between_polls": 0.2},
    }
    run_to_the_end(tmp_path, config)
    with Client(str(tmp_path / "honed.db")) as client:
        (experiment,) = client.list_experiments()
        observations = client.list_observations(experiment.id)
    # Every trial ran (the script fails on assignments that break the conditions), and
    # both branches were tried.
    assert len(observations) == 6
    assert not any(o.failed for o in observations), [o.metadata for o in observations]
    assert {o.assignments["model"] for o in observations} == {"forest", "linear"}


FIDELITIES = """
import json, sys
# argv: --task {task} --x {x}; the cheap task is a rougher estimate of the loss.
task, x = sys.argv[2], float(sys.argv[4])
assert task in ("quick", "full"), sys.argv
loss = (x - 0.3) ** 2 + (0.2 if task == "quick" else 0.0)
print(json.dumps({"loss": loss}))
"""


def test_a_multitask_experiment_runs_from_a_config_until_its_budget_in_cost(
    tmp_path: Path,
) -> None:
    (tmp_path / "fidelities.py").write_text(FIDELITIES)
    config = {
        "name": "fidelities",
        "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "tasks": [{"name": "quick", "cost": 0.5}, {"name": "full", "cost": 1}],
        "command": f"{sys.executable} fidelities.py --task {{task}} --x {{x}}",
        "parallelism": 1,
        "budget": 4,
        "database": "honed.db",
        "optimizers": 0,
        "options": {"init_seconds_between_polls": 0.05, "max_seconds_between_polls": 0.2},
    }
    result = run_to_the_end(tmp_path, config)
    with Client(str(tmp_path / "honed.db")) as client:
        (experiment,) = client.list_experiments()
        observations = client.list_observations(experiment.id)
    # One trial at a time: the design alternates quick and full (cheapest first), then
    # full; the budget of 4 holds 3.5 after five trials, so a sixth (of cost 1) runs,
    # where a plain experiment's budget of 4 would have been four trials.
    tasks = [o.task for o in sorted(observations, key=lambda o: int(o.id))]
    assert tasks == ["quick", "full"] * 3
    assert not any(o.failed for o in observations), [o.metadata for o in observations]
    assert experiment.observation_budget_consumed == 4.5
    assert re.search(r"budget used\s+│\s+4\.5 / 4 \(task costs\)", result.stderr), result.stderr


def test_metrics_port_serves_trials_by_state_while_it_runs(
    tmp_path: Path, reap: Callable[[subprocess.Popen[str]], subprocess.Popen[str]]
) -> None:
    path = write_experiment(tmp_path, seconds=1.0, budget=4)
    port = free_port()
    config = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**config, "metrics_port": port}))
    process = reap(honed_run(path))
    running = []
    deadline = time.monotonic() + 240
    while process.poll() is None:
        assert time.monotonic() < deadline, "honed run did not end"
        with contextlib.suppress(httpx.HTTPError):  # not listening yet, or any more
            running.append(total(scrape(port), "honed_scheduler_trials", state="running"))
        time.sleep(0.1)
    assert process.stdout is not None
    output = process.stdout.read()
    assert process.returncode == 0, output
    assert f"metrics: http://127.0.0.1:{port}/metrics" in output
    assert max(running) > 0, running  # while its trials ran
    with pytest.raises(httpx.ConnectError):  # the endpoint ends with the run
        scrape(port)


def test_a_metrics_port_that_is_no_port_is_refused(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, seconds=0.1)
    config = yaml.safe_load(path.read_text())
    for bad in ("9100", 0, 70000, True):
        path.write_text(yaml.safe_dump({**config, "metrics_port": bad}))
        with pytest.raises(ConfigError, match="'metrics_port' must be a port number"):
            load_config(path)
