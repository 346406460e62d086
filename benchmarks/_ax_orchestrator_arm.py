"""The Ax arm of scheduler_overhead.py, run by the python of benchmarks/.venv-ax.

Reads ``{"trials", "parallelism", "variant"}`` on stdin, runs Ax 1.3.1's ``Orchestrator``
over a Client-built experiment with a Sobol-only generation strategy and an in-process
``IRunner``/``IMetric`` whose trials are complete at once, in memory (no SQL storage), and
prints ``{"seconds", "completed"}`` as one JSON line. Ax's logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any


def main() -> None:
    request = json.loads(sys.stdin.read())
    from ax.adapter.registry import Generators
    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig
    from ax.api.protocols.metric import IMetric
    from ax.api.protocols.runner import IRunner
    from ax.core.trial_status import TrialStatus
    from ax.generation_strategy.generation_strategy import GenerationStep
    from ax.generation_strategy.generation_strategy import GenerationStrategy
    from ax.orchestration.orchestrator import Orchestrator
    from ax.orchestration.orchestrator_options import OrchestratorOptions

    logging.getLogger("ax").setLevel(logging.WARNING)

    class InstantRunner(IRunner):
        def run_trial(
            self, trial_index: int, parameterization: Mapping[str, Any]
        ) -> dict[str, Any]:
            return {"x1": parameterization["x1"], "x2": parameterization["x2"]}

        def poll_trial(self, trial_index: int, trial_metadata: Mapping[str, Any]) -> TrialStatus:
            return TrialStatus.COMPLETED

        def stop_trial(
            self, trial_index: int, trial_metadata: Mapping[str, Any]
        ) -> dict[str, Any]:
            return {}

    class Branin(IMetric):
        def fetch(self, trial_index: int, trial_metadata: Mapping[str, Any]) -> tuple[int, float]:
            x1, x2 = trial_metadata["x1"], trial_metadata["x2"]
            return 0, float((x2 - 0.129 * x1**2 + 1.59 * x1 - 6) ** 2 + 9.6 * (x1 > 0) + 10)

    client = Client(random_seed=0)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig(name="x1", bounds=(-5.0, 10.0), parameter_type="float"),
            RangeParameterConfig(name="x2", bounds=(0.0, 15.0), parameter_type="float"),
        ],
        name="scheduler-overhead",
    )
    client.configure_optimization(objective="-f")
    client.configure_runner(InstantRunner())
    client.configure_metrics([Branin(name="f")])
    client.set_generation_strategy(
        GenerationStrategy(nodes=[GenerationStep(generator=Generators.SOBOL, num_trials=-1)])
    )
    options: dict[str, Any] = {"max_pending_trials": request["parallelism"]}
    if request["variant"] == "tuned":
        options |= {
            "init_seconds_between_polls": 0,
            "min_seconds_before_poll": 0,
            "run_trials_in_batches": True,
        }
    orchestrator = Orchestrator(
        experiment=client._experiment,
        generation_strategy=client._generation_strategy,
        options=OrchestratorOptions(**options),
    )
    start = time.perf_counter()
    cpu = time.process_time()
    orchestrator.run_n_trials(max_trials=request["trials"])
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    completed = sum(t.status == TrialStatus.COMPLETED for t in client._experiment.trials.values())
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "completed": completed}))


if __name__ == "__main__":
    main()
