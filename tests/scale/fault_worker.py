"""The worker process of the fault test: the SigOpt worker loop with plain httpx, retrying
through connection errors and 503s, moving to the other server when its own is gone.

Runs in processes forked from a forkserver that imported this module once. Each worker
appends one line per event to its own file, flushed at once, so a worker killed with
SIGKILL still leaves what it had acknowledged:

    ack <suggestion id> <observation id>    an observation the server acknowledged (200)
    bad <status> <method> <path> <body>     any answer other than 200, 429 and 503
    retry <reason>                          a retried request (transport error, 503, 429)

SIGUSR1 makes a worker write its threads' stacks to the same file: the test sends it to a
worker that outlived the run, to show where it hangs.
"""

from __future__ import annotations

import faulthandler
import signal
import time
import uuid
from pathlib import Path
from typing import Any
from typing import TextIO

import httpx

RETRYABLE = (429, 503)
TRANSPORT_ERRORS = (httpx.TransportError,)


class Worker:
    def __init__(self, index: int, urls: list[str], token: str, experiment_id: str, log: TextIO):
        self.urls = urls
        self.current = index % len(urls)
        self.clients = [httpx.Client(base_url=u, auth=(token, ""), timeout=30) for u in urls]
        self.base = f"/v1/experiments/{experiment_id}"
        self.log = log

    def write(self, line: str) -> None:
        self.log.write(line + "\n")
        self.log.flush()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send until a 200 (returns its JSON) or a non-retryable answer (returns None)."""
        delay = 0.05
        while True:
            try:
                response = self.clients[self.current].request(method, path, **kwargs)
            except TRANSPORT_ERRORS as error:
                # The server is gone (or restarting): the other one takes the request.
                self.write(f"retry {type(error).__name__}")
                self.current = (self.current + 1) % len(self.urls)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            if response.status_code == 200:
                return response.json()
            if response.status_code in RETRYABLE:
                self.write(f"retry {response.status_code}")
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self.write(f"bad {response.status_code} {method} {path} {response.text[:200]!r}")
            return None

    def cycle(self) -> None:
        suggestion = self.request("POST", f"{self.base}/suggestions")
        if suggestion is None:
            return
        x = float(suggestion["assignments"]["x"])
        body = {"suggestion": suggestion["id"], "values": [{"value": -((x - 0.3) ** 2)}]}
        headers = {"Idempotency-Key": str(uuid.uuid4())}  # the same key for every retry
        observation = self.request("POST", f"{self.base}/observations", json=body, headers=headers)
        if observation is None:
            return
        if observation["suggestion"] != suggestion["id"]:
            self.write(f"bad mismatch POST observations {observation!r}")
        self.write(f"ack {suggestion['id']} {observation['id']}")


def run(
    index: int, urls: list[str], token: str, experiment_id: str, stop_at: float, log_path: str
) -> None:
    """Entry point: cycle until the wall clock reaches ``stop_at`` (time.time())."""
    with Path(log_path).open("a") as log:
        faulthandler.register(signal.SIGUSR1, file=log, all_threads=True)
        worker = Worker(index, urls, token, experiment_id, log)
        worker.write("ready")
        while time.time() < stop_at:
            worker.cycle()
