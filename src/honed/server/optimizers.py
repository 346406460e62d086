"""The optimizer processes of a service, ``honed serve`` or an embedded client: one owner
starts them, starts again one that dies, and ends them with the service."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

#: A child that dies sooner than this after its start is restarted after a growing delay
#: (it may die at once again: a bad database URL, a broken install), up to MAX_DELAY.
STEADY_SECONDS = 60.0
FIRST_DELAY = 1.0
MAX_DELAY = 60.0
STOP_GRACE_SECONDS = 10.0


def optimizer_processes(
    database_url: str, count: int, quiet: bool = False, log_level: str = "warning"
) -> Supervisor:
    """``count`` ``honed optimizer`` processes on ``database_url``, one torch thread each
    (not started yet), logging at ``log_level`` (info: a line per model fit). ``quiet``:
    they log warnings only and run in a session of their own, so that Ctrl-C in a terminal
    reaches only the caller (an embedded client's user reads its own output), which ends
    them with ``stop``."""
    command = [sys.executable, "-m", "honed", "optimizer", "--database-url", database_url]
    command += ["--parent-pid", str(os.getpid())]
    command += ["--log-level", "warning" if quiet else log_level]
    options: dict[str, Any] = {"env": {**os.environ, "OMP_NUM_THREADS": "1"}}
    if quiet:
        options["start_new_session"] = True
    return Supervisor("optimizer", command, count, options)


class _Slot:
    def __init__(self, command: Sequence[str], options: dict[str, Any]) -> None:
        self.command = list(command)
        self.options = options
        self.process = subprocess.Popen(self.command, **options)
        self.started = time.monotonic()
        self.delay = FIRST_DELAY
        self.restart_at: float | None = None


class Supervisor:
    """Runs ``count`` copies of ``command`` and starts a new one when one exits (killed,
    out of memory, crashed), so that the server never silently loses its optimizer."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        count: int,
        popen_options: dict[str, Any] | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        self._name = name
        self._command = command
        self._options = popen_options or {}
        self._count = count
        self._poll = poll_seconds
        self._stop = threading.Event()
        self._slots: list[_Slot] = []
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        self._slots = [_Slot(self._command, self._options) for _ in range(self._count)]
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            for slot in self._slots:
                self._check(slot)

    def _check(self, slot: _Slot) -> None:
        code = slot.process.poll()
        if code is None:
            return
        now = time.monotonic()
        if slot.restart_at is None:
            if now - slot.started >= STEADY_SECONDS:
                wait, slot.delay = 0.0, FIRST_DELAY
            else:
                wait, slot.delay = slot.delay, min(slot.delay * 2, MAX_DELAY)
            slot.restart_at = now + wait
            print(
                f"honed: {self._name} process {slot.process.pid} exited with {code}; "
                f"starting another in {slot.restart_at - now:.0f}s",
                file=sys.stderr,
                flush=True,
            )
        if now >= slot.restart_at:
            slot.process = subprocess.Popen(slot.command, **slot.options)
            slot.started = now
            slot.restart_at = None

    def pids(self) -> list[int]:
        """The processes running now."""
        return [slot.process.pid for slot in self._slots if slot.process.poll() is None]

    def stop(self) -> None:
        """No more restarts; SIGTERM to every child, SIGKILL to those still running after
        STOP_GRACE_SECONDS."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        for slot in self._slots:
            if slot.process.poll() is None:
                slot.process.terminate()
        for slot in self._slots:
            try:
                slot.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()
