"""What one more optimizer process costs while it has nothing to fit: its start-up (CPU
seconds and wall time until torch is loaded and its use of the CPU settles), its resident
memory, and its CPU per minute when idle (it polls the queue every 0.1 s).

A ``honed optimizer`` on a fresh SQLite file holding ``--experiments`` experiments of 2
doubles with ``--observations`` observations each (fewer than a design: nothing to fit),
sampled from /proc every 0.5 s for ``--seconds`` (Linux only).

    PYTHONPATH=src .venv/bin/python benchmarks/optimizer_idle.py [--seconds 40]
        [--experiments 2] [--observations 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
#: Below this share of a core, the process has settled after its start.
SETTLED_SHARE = 0.05


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seed(database_url: str, experiments: int, observations: int) -> None:
    from honed.domain.experiment import ExperimentSpec
    from honed.domain.metrics import Metric
    from honed.domain.parameters import Parameter
    from honed.domain.parameters import ParameterType
    from honed.domain.parameters import SearchSpace
    from honed.domain.records import MetricValue
    from honed.domain.records import ObservationInput
    from honed.service.app import Services
    from honed.service.suggestions import ServingPolicy
    from honed.storage.sql.storage import SqlStorage

    storage = SqlStorage.from_url(database_url)
    services = Services(storage, ServingPolicy(max_wait_seconds=0.0))
    services.tokens.bootstrap("idle-token")
    token = services.tokens.authenticate("idle-token")
    space = SearchSpace(
        tuple(Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(2))
    )
    for e in range(experiments):
        spec = ExperimentSpec(f"idle {e}", space, (Metric("f"),))
        experiment = services.experiments.create(token, spec)
        for _ in range(observations):
            suggestion = services.suggestions.create(token, experiment.id)
            value = sum(float(v) for v in suggestion.assignments.values())
            services.observations.create(
                token,
                experiment.id,
                ObservationInput(suggestion_id=suggestion.id, values=(MetricValue("f", value),)),
            )
    storage.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--experiments", type=int, default=2)
    parser.add_argument("--observations", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="honed-idle-") as tmp:
        url = f"sqlite:///{tmp}/idle.db"
        seed(url, args.experiments, args.observations)
        began = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "honed", "optimizer", "--database-url", url],
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        samples: list[tuple[float, float, float]] = []  # (seconds, cpu, rss)
        try:
            while (now := time.monotonic() - began) < args.seconds:
                samples.append((now, cpu_seconds(process.pid), rss_mib(process.pid)))
                time.sleep(0.5)
        finally:
            process.terminate()
            process.wait(timeout=30)
    settled = next(
        (
            i
            for i in range(1, len(samples))
            if (samples[i][1] - samples[i - 1][1]) / (samples[i][0] - samples[i - 1][0])
            < SETTLED_SHARE
        ),
        len(samples) - 1,
    )
    start_wall, start_cpu, _ = samples[settled]
    end_wall, end_cpu, end_rss = samples[-1]
    idle = (end_cpu - start_cpu) / (end_wall - start_wall) * 60 if end_wall > start_wall else 0
    print(
        f"start-up: {start_cpu:.1f} CPU s in {start_wall:.1f} s; RSS {end_rss:.0f} MiB; idle "
        f"{idle:.2f} CPU s per minute over {end_wall - start_wall:.0f} s; load average "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
