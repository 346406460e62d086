"""A local runner's trial directories once the trials' outcomes are stored
(``Runner.release``): the tail of what each trial printed goes to the output log the user
named, if any, and the directory goes, so that 100,000 trials leave no 100,000 directories.

The output log is one JSON-lines file: per released trial one line ``{"trial": index, "id":
suggestion id, "key": trial key, ...}`` with the runner's streams (the last
``output_tail_bytes`` bytes of each, as text) and, where the runner keeps one apart from
its output, the curve the trial reported (its last ``CURVE_STEPS`` steps). A crash between
writing a trial's line and removing its directory repeats the line when a resumed scheduler
releases the trial again: the last line of a key is the one to read.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from honed.scheduler.trial import TrialSpec

OUTPUT_TAIL_BYTES = 8192
CURVE_STEPS = 200


class OutputLog:
    """Appends released trials' output tails to ``path`` (created when first written)."""

    def __init__(self, path: str | Path, tail_bytes: int = OUTPUT_TAIL_BYTES) -> None:
        if tail_bytes < 0:
            raise ValueError(f"output_tail_bytes must be >= 0, not {tail_bytes}")
        self.path = Path(path).resolve()
        self.tail_bytes = tail_bytes

    def entry(
        self,
        trial: TrialSpec,
        streams: Mapping[str, Path],
        curve: Mapping[float, Any] | None = None,
    ) -> dict[str, Any]:
        """The line for ``trial``: ``streams`` maps a name (stdout, stderr, output) to the
        file the trial printed to."""
        entry: dict[str, Any] = {"trial": trial.index, "id": trial.id, "key": trial.key}
        for name, path in streams.items():
            entry[name] = read_tail(path, self.tail_bytes)
        if curve:
            entry["curve"] = [[step, value] for step, value in sorted(curve.items())][
                -CURVE_STEPS:
            ]
        return entry

    def append(self, entries: Iterable[Mapping[str, Any]]) -> None:
        """One write per line in append mode: lines of schedulers sharing the log do not
        mix."""
        lines = [json.dumps(entry) + "\n" for entry in entries]
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for line in lines:
                os.write(fd, line.encode())
        finally:
            os.close(fd)


def read_tail(path: Path, limit: int) -> str:
    """The last ``limit`` bytes of ``path`` as text ("" if there is no such file)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(size - limit, 0))
            data = handle.read(limit)
    except FileNotFoundError:
        return ""
    # A cut through a multi-byte character at the start shows as one replacement mark.
    return data.decode("utf-8", errors="replace")


def is_trial_dir(directory: Path, name: str) -> bool:
    """Whether ``directory`` is the one a runner named ``name`` for its trial: anything
    else in a trial's metadata (another runner's, a hand-edited one) is never removed."""
    return directory.name == name and directory.is_dir()


def remove_tree(directory: Path) -> None:
    """Remove a trial directory whose every file is the runner's own; what cannot be
    removed now stays for the next release of the trial."""
    shutil.rmtree(directory, ignore_errors=True)


def remove_files(directory: Path, names: Iterable[str], patterns: Iterable[str] = ()) -> None:
    """Remove the runner's own files from a trial directory, then the directory if nothing
    else is left: files the trial's command wrote there itself are the user's, and stay.
    ``patterns``: temporary files of a write that a kill cut short, looked for only when
    the directory is not empty once ``names`` are gone."""
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()
        return
    with contextlib.suppress(OSError):  # what stays now is removed on a later release
        for path in directory.iterdir():
            if any(fnmatch.fnmatchcase(path.name, pattern) for pattern in patterns):
                path.unlink()
        directory.rmdir()  # fails while the user's own files are there


def remove_if_empty(workdir: Path) -> None:
    """The runner's work directory, once its trials are all released."""
    with contextlib.suppress(OSError):
        workdir.rmdir()
