"""What a run yields: the objective's direction, the best trial, the summary and the table."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from honed.client import Experiment
from honed.domain.records import generation_method
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SchedulerResult:
    """What ``run_n_trials`` / ``summarize_final_result`` return."""

    best_trial: Trial | None
    completed: int
    failed: int
    early_stopped: int
    running: int
    pending: int
    stop_reason: str | None
    seconds: float


@dataclass(frozen=True)
class Objective:
    """The experiment's first optimized metric (None: it optimizes none), seen as "larger
    is better": ``sign`` is -1 for a minimized one, so stopping rules need no direction."""

    name: str | None
    sign: float

    @classmethod
    def of(cls, experiment: Experiment) -> Objective:
        optimized = experiment.optimized_metrics
        if not optimized:
            return cls(None, 1.0)
        return cls(optimized[0].name, -1.0 if optimized[0].objective == "minimize" else 1.0)

    def has_value(self, trial: Trial) -> bool:
        return self.name is not None and self.name in trial.values

    def signed(self, trial: Trial) -> float:
        """The trial's objective value, larger is better; only for ``has_value`` trials."""
        return self.sign * trial.values[self.name or ""]

    def best(self, trials: Iterable[Trial]) -> Trial | None:
        """The best completed trial by the objective."""
        done = [t for t in trials if t.status is TrialStatus.COMPLETED and self.has_value(t)]
        return max(done, key=self.signed) if done else None


def runner_values(raw: Mapping[str, float] | float, experiment: Experiment) -> dict[str, float]:
    """A runner's result as ``{metric: value}``; a bare number is the only metric's."""
    if isinstance(raw, Mapping):
        return {str(k): float(v) for k, v in raw.items()}
    if len(experiment.metrics) != 1:
        raise ValueError(
            f"the runner returned one number, but the experiment has {len(experiment.metrics)}"
            " metrics: return a {metric: value} mapping"
        )
    return {experiment.metrics[0].name: float(raw)}


def trials_frame(trials: Iterable[Trial]) -> pd.DataFrame:
    """One row per trial, by index (the columns ``Scheduler.to_dataframe`` documents)."""
    import pandas as pd

    ordered = sorted(trials, key=lambda t: t.index)
    # Multitask: the task each trial evaluated, before its assignments.
    multitask = any(t.task is not None for t in ordered)
    rows = []
    for trial in ordered:
        model = trial.model
        rows.append(
            {
                "trial_index": trial.index,
                "trial_id": trial.id,
                "status": trial.status.value,
                "generation_method": generation_method(trial.source),
                **({"task": trial.task} if multitask else {}),
                **{f"{name}": value for name, value in trial.assignments.items()},
                **{f"{name}": value for name, value in trial.values.items()},
                "reason": trial.reason,
                "runner_metadata": dict(trial.runner_metadata),
                "start_time": _timestamp(trial.started),
                "end_time": _timestamp(trial.ended),
                "source": trial.source,
                "model_observations": model.observations if model else None,
                "model_candidate": model.candidate if model else None,
                "model_fresh": model.fresh if model else None,
            }
        )
    return pd.DataFrame(rows)


def _timestamp(epoch: float | None) -> Any:
    import pandas as pd

    return pd.Timestamp(epoch, unit="s", tz="UTC") if epoch is not None else pd.NaT
