"""Ray and Dask clusters in processes of their own, as real clusters are: a driver or
client that dies does not take them along. Each is a helper process that prints the
cluster's address and shuts the cluster down when its stdin closes (also when the test
process dies)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

RAY = """
import sys, ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=sys.argv[1])
print(ray.get_runtime_context().gcs_address, flush=True)
sys.stdin.read()
ray.shutdown()
"""

# A lost-worker-timeout past any test: the timer a worker's restart (a stopped trial)
# starts would otherwise close its nanny for good if the worker is down again, restarted
# for another trial, when it fires 15 s later (see DaskRunner._restart).
DASK = """
import sys
import dask
from dask.distributed import LocalCluster
if __name__ == "__main__":
    dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"})
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        scheduler_port=0,
    ) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()
"""


@contextmanager
def _cluster(script: str, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    helper = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert helper.stdout is not None
    assert helper.stdin is not None
    try:
        address = helper.stdout.readline().strip()
        if not address:
            raise RuntimeError(f"the cluster did not start (exit code {helper.wait()})")
        yield address
    finally:
        helper.stdin.close()
        try:
            helper.wait(timeout=60)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()
        helper.stdout.close()


@contextmanager
def ray_cluster() -> Iterator[str]:
    """A two-CPU Ray head; yields its address for ``ray.init(address=...)``."""
    # Without token authentication, which a local ray.init() turns on by default: drivers
    # read the auth mode once, when ray is imported, and it is local to this machine.
    # A short directory: Ray's socket paths must fit in 107 characters.
    with (
        tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as temp,
        _cluster(RAY, temp, env={"RAY_AUTH_MODE": "disabled"}) as address,
    ):
        yield address


@contextmanager
def dask_cluster() -> Iterator[str]:
    """A Dask scheduler with two single-threaded worker processes; yields its address."""
    with _cluster(DASK) as address:
        yield address
