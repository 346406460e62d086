"""What the local runners leave once a Scheduler run is over: no trial's files, only the
output log the user named (a line per trial with the tail of its output, within the size
they set) and files a command wrote into its ``{trial_dir}`` itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from honed.client import Client
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialStatus
from honed.scheduler import report
from honed.scheduler.runners import CallableRunner
from honed.scheduler.runners import SubprocessRunner

EXPERIMENT = {
    "name": "trial files",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "loss", "objective": "minimize"}],
}
OPTIONS = SchedulerOptions(
    total_trials=4,
    max_pending_trials=2,
    tolerated_trial_failure_rate=1.0,
    init_seconds_between_polls=0.05,
    max_seconds_between_polls=0.5,
)
TAIL = 1000
NOISE = "noise " * 1000  # longer than TAIL

# Trial 1 fails; trial 2 keeps a file of its own in its trial directory.
TRAIN = """
import json, pathlib, sys
x, index, trial_dir = float(sys.argv[1]), int(sys.argv[2]), pathlib.Path(sys.argv[3])
print(NOISE)
print(json.dumps({"step": 1, "loss": x}))
print(f"stderr of trial {index}", file=sys.stderr)
if index == 1:
    sys.exit(2)
if index == 2:
    (trial_dir / "model.txt").write_text("the user's")
print(json.dumps({"loss": x}))
""".replace("NOISE", repr(NOISE))


def log_lines(path: Path) -> dict[int, dict[str, Any]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    by_trial = {line["trial"]: line for line in lines}
    assert len(by_trial) == len(lines), "a trial logged twice"
    return by_trial


def run(tmp_path: Path, runner: CallableRunner | SubprocessRunner) -> Scheduler:
    with Client(str(tmp_path / "honed.db"), optimizers=0) as client:
        scheduler = Scheduler(EXPERIMENT, runner, OPTIONS, client)
        with scheduler:
            scheduler.run_all_trials()
        return scheduler


def test_subprocess_trials_leave_their_output_tails_in_the_log_and_nothing_else(
    tmp_path: Path,
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    workdir, output_log = tmp_path / "trials", tmp_path / "logs" / "output.jsonl"
    runner = SubprocessRunner(
        f"{sys.executable} train.py {{x}} {{trial_index}} {{trial_dir}}",
        workdir=workdir,
        cwd=tmp_path,
        output_log=output_log,
        output_tail_bytes=TAIL,
    )
    scheduler = run(tmp_path, runner)
    trials = scheduler.trials
    assert [t.status for t in trials.values()] == [
        TrialStatus.COMPLETED,
        TrialStatus.FAILED,
        TrialStatus.COMPLETED,
        TrialStatus.COMPLETED,
    ]
    # The failure's reason, in the database, names the tail of its stderr.
    assert "stderr of trial 1" in (trials[1].reason or "")
    lines = log_lines(output_log)
    assert sorted(lines) == [0, 1, 2, 3]
    for index, line in lines.items():
        trial = trials[index]
        assert (line["id"], line["key"]) == (trial.id, trial.key)
        assert line["stderr"] == f"stderr of trial {index}\n"
        stdout = line["stdout"]
        assert len(stdout.encode()) == TAIL  # the last TAIL bytes of a longer output
        last = f'{{"step": 1, "loss": {trial.assignments["x"]}}}\n'
        if index != 1:
            last += f'{{"loss": {trial.assignments["x"]}}}\n'
        assert stdout.endswith(NOISE[-50:] + "\n" + last)
    # Only the file trial 2's command wrote itself is left.
    left = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    assert left == [Path(f"trial-{trials[2].key}"), Path(f"trial-{trials[2].key}/model.txt")]


def chatty(assignments: dict[str, Any]) -> float:
    x = float(assignments["x"])
    print(NOISE)
    for step in range(3):
        report(step, {"loss": x + step, "accuracy": 1 - x})
    print(f"the end of {x}", flush=True)
    return x


def test_callable_trials_leave_their_output_tails_and_curves_in_the_log_and_nothing_else(
    tmp_path: Path,
) -> None:
    workdir, output_log = tmp_path / "trials", tmp_path / "output.jsonl"
    runner = CallableRunner(
        chatty, max_workers=2, workdir=workdir, output_log=output_log, output_tail_bytes=TAIL
    )
    scheduler = run(tmp_path, runner)
    lines = log_lines(output_log)
    assert sorted(lines) == sorted(scheduler.trials)
    for index, line in lines.items():
        x = scheduler.trials[index].assignments["x"]
        assert len(line["output"].encode()) == TAIL
        assert line["output"].endswith(f"{NOISE[-50:]}\nthe end of {x}\n")
        assert line["curve"] == [
            [float(step), {"loss": x + step, "accuracy": 1 - x}] for step in range(3)
        ]
    assert not workdir.exists()


def test_without_an_output_log_a_run_leaves_no_file_at_all(tmp_path: Path) -> None:
    workdir = tmp_path / "trials"
    run(tmp_path, CallableRunner(chatty, max_workers=2, workdir=workdir))
    assert not workdir.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("honed.db")] == []
