"""What local runners keep outside their own process, so that a runner in another process
(a scheduler resumed after a crash) can take their trials over: JSON files written
atomically, and processes named by pid *and* start time (a pid alone may be reused)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

PROC = os.path.isdir("/proc/self")


def write_json(path: Path, data: Any, sync: bool = True) -> None:
    """Write ``data`` so that a reader sees all of it or nothing, even if this process is
    killed halfway: a temporary file renamed over ``path``. ``sync`` also flushes it to
    disk first (some milliseconds), so that it survives a crash of the machine."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "w") as handle:
        json.dump(data, handle)
        if sync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None if there is no such file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return json.loads(text)


def file_name(key: str) -> str:
    """``key`` as one safe path component (characters other than letters, digits, ``-``,
    ``_`` and ``.`` become ``%xx``)."""
    return re.sub(r"[^A-Za-z0-9_.-]|^\.", lambda m: f"%{ord(m.group()):02x}", key) or "%"


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, from /proc), or None if it does not run
    or has finished (a zombie). Off Linux: 0 for any process that exists."""
    if not PROC:
        return _exists(pid)
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    # After the command name: state is field 3 of proc(5), starttime field 22.
    return None if fields[0] in {"Z", "X"} else int(fields[19])


def alive(pid: int, started: int | None) -> bool:
    """Whether the process ``pid`` that started at ``started`` still runs (not a process
    that got the same pid later). ``started`` None: any process with that pid."""
    now = start_time(pid)
    return now is not None and (started is None or not now or now == started)


def kill_group(pid: int, started: int | None, signal_number: int) -> bool:
    """Signal the process group led by ``pid`` if that process still runs."""
    if not alive(pid, started):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal_number)
        return True
    return False


def wait_gone(pid: int, started: int | None, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for a signalled process to end; whether it has. A
    process killed with SIGKILL still runs until the kernel has torn it down (milliseconds,
    more on a busy machine), and a caller that reuses its slot (a GPU, a port) must not
    start the next trial beside it."""
    deadline = time.monotonic() + timeout
    while alive(pid, started):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def _exists(pid: int) -> int | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return 0
    return 0
