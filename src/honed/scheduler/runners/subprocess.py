"""SubprocessRunner: each trial is a shell command on this machine."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import socket
import string
import subprocess
import sys
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honed.scheduler.runner import Runner
from honed.scheduler.runners.durable import alive
from honed.scheduler.runners.durable import file_name
from honed.scheduler.runners.durable import kill_group
from honed.scheduler.runners.durable import start_time
from honed.scheduler.runners.results import last_result_line
from honed.scheduler.runners.results import progress_lines
from honed.scheduler.runners.results import tail
from honed.scheduler.runners.results import to_values
from honed.scheduler.runners.trial_files import OUTPUT_TAIL_BYTES
from honed.scheduler.runners.trial_files import OutputLog
from honed.scheduler.runners.trial_files import is_trial_dir
from honed.scheduler.runners.trial_files import remove_files
from honed.scheduler.runners.trial_files import remove_if_empty
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec

#: Placeholders every command may use besides the experiment's parameters.
TRIAL_FIELDS = (
    "trial_id",
    "trial_index",
    "trial_dir",
    "result_file",
    "python",
    "assignments",
    "task",
)

# The command runs in its own session, so Ctrl-C on the scheduler and a killed scheduler
# leave it alone; its exit code is written to a file, because a resumed scheduler is not its
# parent and cannot wait() for it. The shell records its pid first thing, so that a trial
# is on file even if the scheduler dies the moment it has started it.
WRAPPER = (
    "echo $$ >{pid}.tmp; mv {pid}.tmp {pid}; "
    "( {command} ) >{stdout} 2>{stderr} </dev/null; echo $? >{code}.tmp; mv {code}.tmp {code}"
)


# What the runner writes in a trial's directory (and the command's {result_file}); the
# temporary names are of writes a kill cut short.
OWN_FILES = ("pid", "stdout", "stderr", "exit_code", "result.json", "stopped")
OWN_TEMPORARY_FILES = ("pid.tmp", "exit_code.tmp", ".pid.*.tmp")


class SubprocessRunner(Runner):
    """Runs ``command`` per trial, e.g. ``"python train.py --lr {lr}"``.

    Placeholders: every parameter (shell-quoted), ``{assignments}`` (the trial's
    assignments as one shell-quoted JSON object), ``{trial_id}``, ``{trial_index}``,
    ``{trial_dir}`` (the trial's own directory under ``workdir``), ``{result_file}``,
    ``{python}`` (this interpreter) and ``{task}`` (a multitask experiment's task to
    evaluate at, by name, empty otherwise; a plain experiment's parameter called ``task``
    wins over it, and a multitask experiment has none).
    A conditional parameter that is inactive in a trial
    (its conditions do not hold) fills in as an empty argument, ``''``; ``{assignments}``
    holds only the active ones. The result is the JSON written to ``{result_file}`` if
    the command wrote one, else the last JSON object line on stdout (``{"loss": 0.1}``, or a
    bare number for a single metric). Lines with a ``"step"`` key are intermediate values
    (``{"step": 3, "loss": 0.4}``) for early stopping. A non-zero exit fails the trial with
    the tail of stderr as its reason.

    All state is in the trial directory (pid, stdout, stderr, exit code), so a scheduler in
    another process can poll, fetch and stop trials this one started, and ``run`` adopts a
    trial that is already running there instead of starting it twice. Once the scheduler
    has stored a trial's outcome, ``release`` removes these files, after appending the last
    ``output_tail_bytes`` of its stdout and of its stderr to ``output_log`` if one is named
    (``honed.scheduler.runners.trial_files`` has the format); the directory goes with them
    unless the command wrote files of its own there. ``close`` removes ``workdir`` once it
    is empty.
    """

    def __init__(
        self,
        command: str,
        workdir: str | Path = ".honed-trials",
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        output_log: str | Path | None = None,
        output_tail_bytes: int = OUTPUT_TAIL_BYTES,
    ) -> None:
        self.command = command
        self.workdir = Path(workdir).resolve()
        self.output_log = (
            OutputLog(output_log, output_tail_bytes) if output_log is not None else None
        )
        self.cwd = Path(cwd).resolve() if cwd is not None else None
        self.env = dict(env) if env is not None else None
        self._parameters: list[str] = []  # the experiment's, from prepare()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._watched: set[int] = set()  # pids of trials last seen running

    def _dir(self, trial: TrialSpec) -> Path:
        stored = trial.metadata.get("dir")
        return Path(stored) if stored else self._new_dir(trial)

    def _new_dir(self, trial: TrialSpec) -> Path:
        return self.workdir / f"trial-{file_name(trial.key)}"

    def command_for(self, trial: TrialSpec) -> str:
        directory = self._new_dir(trial)
        fields = {"task": shlex.quote(trial.task or "")}  # unless a parameter has the name
        fields |= dict.fromkeys(self._parameters, shlex.quote(""))  # inactive in this trial
        fields |= {name: shlex.quote(str(value)) for name, value in trial.assignments.items()}
        assignments = json.dumps(dict(trial.assignments), sort_keys=True)
        fields |= {
            "assignments": shlex.quote(assignments),
            "trial_id": shlex.quote(trial.id),
            "trial_index": str(trial.index),
            "trial_dir": shlex.quote(str(directory)),
            "result_file": shlex.quote(str(directory / "result.json")),
            "python": shlex.quote(sys.executable),
        }
        return self._fill(fields, self._parameters or list(trial.assignments))

    def prepare(self, parameters: Sequence[str]) -> None:
        if not parameters:
            return  # the server refuses an experiment without parameters, and says so
        self.check_command(parameters)
        self._parameters = list(parameters)

    def check_command(self, parameters: Iterable[str]) -> None:
        """Raise ValueError, naming what to fix, unless the command can be filled in for an
        experiment with these parameters: callers check before they create anything, since
        otherwise every trial would fail only once it is deployed."""
        names = list(parameters)
        self._fill(dict.fromkeys([*names, *TRIAL_FIELDS], "x"), names)

    def _fill(self, fields: dict[str, str], parameters: Sequence[str]) -> str:
        names = ", ".join(parameters)
        if _positional(self.command):
            raise ValueError(
                "the command has a placeholder without a name ({} or {0}): name a "
                f"parameter, one of {names}"
            )
        try:
            return self.command.format_map(fields)
        except KeyError as error:
            name = str(error.args[0])
            # {print $1} of awk is no placeholder at all: say how to keep its braces.
            literal = "" if name.isidentifier() else "; write {{ and }} for a literal brace"
            raise ValueError(
                f"the command names {{{name}}}, which is neither a parameter of the "
                f"experiment ({names}) nor one of {', '.join(TRIAL_FIELDS)}{literal}"
            ) from None
        except (ValueError, AttributeError) as error:
            # A lone brace, or a format spec or attribute the quoted value has not ({lr:.3f}).
            raise ValueError(
                f"cannot fill in the command: {error} (placeholders are {{name}} only; write "
                "{{ and }} for a literal brace)"
            ) from None

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        directory = self._new_dir(trial)
        command = self.command_for(trial)
        metadata = {
            "dir": str(directory),
            "command": tail(command, 300),
            "hostname": socket.gethostname(),
        }
        pid_file = directory / "pid"
        # Started before (a crash came before the scheduler stored it), and not stopped
        # since: adopt it if it runs or has ended, rather than start it twice.
        if pid_file.exists() and not (directory / "stopped").exists():
            pid = int(pid_file.read_text())
            if (directory / "exit_code").exists() or alive(pid, None):
                return metadata | {"pid": pid, "pid_started": start_time(pid)}
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("exit_code", "result.json", "stopped", "pid"):
            (directory / name).unlink(missing_ok=True)
        wrapper = WRAPPER.format(
            pid=shlex.quote(str(pid_file)),
            command=command,
            stdout=shlex.quote(str(directory / "stdout")),
            stderr=shlex.quote(str(directory / "stderr")),
            code=shlex.quote(str(directory / "exit_code")),
        )
        env = {**os.environ, **(self.env or {}), "HONED_TRIAL_ID": trial.id}
        child = subprocess.Popen(
            ["/bin/sh", "-c", wrapper],
            cwd=self.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started = start_time(child.pid)
        # The shell writes it too, but may not have yet when run() is called again.
        temporary = directory / f".pid.{os.getpid()}.tmp"
        temporary.write_text(str(child.pid))
        os.replace(temporary, pid_file)
        self._children[trial.id] = child
        self._watched.add(child.pid)
        return metadata | {"pid": child.pid, "pid_started": started}

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        self._watched.clear()
        return {trial.id: self._poll_one(trial) for trial in trials}

    def _poll_one(self, trial: TrialSpec) -> Poll:
        directory = self._dir(trial)
        pid = trial.metadata.get("pid")
        if not directory.exists() or not isinstance(pid, int):
            return Poll(PollStatus.LOST)
        progress = _progress(directory)
        child = self._children.get(trial.id)
        if child is not None:
            child.poll()  # reap it, so that a finished child is not a zombie
        code_file = directory / "exit_code"
        if not code_file.exists():
            if child is not None:
                running = child.returncode is None
            else:
                running = alive(pid, trial.metadata.get("pid_started"))
            if running:
                self._watched.add(pid)
                return Poll(PollStatus.RUNNING, progress=progress)
            if not code_file.exists():  # it may have written the file just now
                return Poll(
                    PollStatus.FAILED,
                    "the process ended without an exit code "
                    "(killed by a signal?)" + _stderr(directory),
                    progress,
                )
        if child is not None:
            # The shell wrote the exit code as its last act: reap it as it exits.
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
            self._children.pop(trial.id, None)
        code = int(code_file.read_text().strip() or "-1")
        ended = code_file.stat().st_mtime  # the shell wrote it as the command ended
        if code != 0:
            reason = f"exit code {code}" + _stderr(directory)
            return Poll(PollStatus.FAILED, reason, progress, ended=ended)
        return Poll(PollStatus.COMPLETED, progress=progress, ended=ended)

    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float:
        directory = self._dir(trial)
        result_file = directory / "result.json"
        if result_file.exists() and result_file.stat().st_size > 0:
            return to_values(json.loads(result_file.read_text()))
        stdout = directory / "stdout"
        text = stdout.read_text(errors="replace") if stdout.exists() else ""
        return to_values(last_result_line(text))

    def stop(self, trial: TrialSpec, reason: str) -> None:
        pid = trial.metadata.get("pid")
        if not isinstance(pid, int):
            return
        kill_group(pid, trial.metadata.get("pid_started"), signal.SIGTERM)
        directory = self._dir(trial)
        if directory.exists():  # deployed again (after Ctrl-C), it starts afresh
            (directory / "stopped").write_text(tail(reason))
        child = self._children.pop(trial.id, None)
        if child is not None:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(pid, signal.SIGKILL)
                child.wait()

    def wait(self, timeout: float) -> bool:
        """Wake when a running trial's process ends (Linux pidfds; elsewhere the scheduler
        sleeps its poll interval)."""
        if not hasattr(os, "pidfd_open") or not self._watched:
            return False
        fds = []
        try:
            for pid in self._watched:
                with contextlib.suppress(ProcessLookupError):
                    fds.append(os.pidfd_open(pid))
            if len(fds) < len(self._watched):
                return True  # one has ended already: poll now
            select.select(fds, [], [], timeout)
        except OSError:
            return False
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def release(self, trials: Sequence[TrialSpec]) -> None:
        directories = []
        entries = []
        for trial in trials:
            child = self._children.pop(trial.id, None)
            if child is not None:
                child.poll()  # reap it
            directory = self._dir(trial)
            if not is_trial_dir(directory, self._new_dir(trial).name):
                continue
            directories.append(directory)
            if self.output_log is not None:
                streams = {name: directory / name for name in ("stdout", "stderr")}
                entries.append(self.output_log.entry(trial, streams))
        if self.output_log is not None:
            self.output_log.append(entries)
        for directory in directories:
            remove_files(directory, OWN_FILES, OWN_TEMPORARY_FILES)

    def close(self) -> None:
        for child in self._children.values():
            child.poll()
        remove_if_empty(self.workdir)


def _positional(command: str) -> bool:
    """Whether the command has a ``{}`` or ``{0}`` (a lone brace: format_map says so)."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(command) if f is not None]
    except ValueError:
        return False
    return any(field == "" or field[0].isdigit() for field in fields)


def _stderr(directory: Path) -> str:
    path = directory / "stderr"
    text = path.read_text(errors="replace").strip() if path.exists() else ""
    return f"; stderr: {tail(text)}" if text else ""


def _progress(directory: Path) -> dict[float, float | Mapping[str, float]] | None:
    path = directory / "stdout"
    if not path.exists():
        return None
    progress = progress_lines(path.read_text(errors="replace"))
    return dict(progress) if progress else None
