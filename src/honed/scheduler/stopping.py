"""Stopping rules: global (stop the whole run) and early (stop one trial).

Both see the objective as "larger is better" (``sign`` flips minimized metrics), so rules
need no case for the direction.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class GlobalStoppingRule(ABC):
    @abstractmethod
    def should_stop(self, values: Sequence[float]) -> str | None:
        """``values``: the objective of completed trials in completion order (larger is
        better). A reason to stop deploying new trials, or None."""


@dataclass(frozen=True)
class NoImprovement(GlobalStoppingRule):
    """Stop when the last ``window`` completed trials improved the best value by less than
    ``min_improvement`` times the interquartile range of all values (at least ``min_trials``
    completed first). Like Ax's ImprovementGlobalStoppingStrategy, single objective."""

    window: int = 5
    min_improvement: float = 0.01
    min_trials: int = 10

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError("NoImprovement.window must be at least 1")
        if self.min_trials < self.window + 1:
            raise ValueError("NoImprovement.min_trials must exceed window")
        if not self.min_improvement >= 0:
            raise ValueError("NoImprovement.min_improvement must be >= 0")

    def should_stop(self, values: Sequence[float]) -> str | None:
        if len(values) < self.min_trials:
            return None
        before = max(values[: -self.window])
        best = max(values)
        q75, q25 = np.percentile(values, [75, 25])
        scale = float(q75 - q25) or abs(before) or 1.0
        improvement = (best - before) / scale
        if improvement < self.min_improvement:
            return (
                f"no improvement over the last {self.window} trials "
                f"({improvement:.3g} of the interquartile range < {self.min_improvement})"
            )
        return None


class EarlyStoppingRule(ABC):
    @abstractmethod
    def should_stop(
        self, curve: Mapping[float, float], others: Sequence[Mapping[float, float]]
    ) -> str | None:
        """``curve``: a running trial's intermediate objective by step (larger is better);
        ``others``: the curves of every other trial. A reason to stop it, or None."""

    def oriented(self, sign: float) -> EarlyStoppingRule:
        """The rule the scheduler applies to curves multiplied by ``sign`` (-1 for a
        minimized metric): itself, for a rule that compares curves only with each other.
        A rule with a value in the metric's own units returns one that reads it so."""
        return self

    def stop_reasons(
        self, judged: Iterable[int], curves: Mapping[int, Mapping[float, float]]
    ) -> dict[int, str]:
        """The reasons to stop, by trial index, of the ``judged`` trials: keys of
        ``curves``, which holds every trial's curve (larger is better). Each is judged by
        ``should_stop`` against every other curve; a rule that can judge many trials at
        once for less than that overrides it (the scheduler calls this every round)."""
        reasons = {}
        for index in judged:
            others = [curve for other, curve in curves.items() if other != index]
            reason = self.should_stop(curves[index], others)
            if reason is not None:
                reasons[index] = reason
        return reasons


def _in_window(curve: Mapping[float, float], min_step: float, max_step: float | None) -> bool:
    """Whether a rule may judge this curve: it reached ``min_step``, and not ``max_step``
    (a trial that reported its last step is about to finish: stopping it then would
    throw away a complete run and call it stopped early; Ax's max_progression)."""
    if not curve:
        return False
    step = max(curve)
    return step >= min_step and (max_step is None or step < max_step)


def _check_window(rule: str, min_step: float, max_step: float | None) -> None:
    if max_step is not None and not max_step > min_step:
        raise ValueError(f"{rule}.max_step ({max_step}) must exceed min_step ({min_step})")


def _value_at(curve: Mapping[float, float], step: float) -> float | None:
    """The curve's value at its last step <= ``step``."""
    steps = [s for s in curve if s <= step]
    return curve[max(steps)] if steps else None


def _peer_value(curve: Mapping[float, float], step: float) -> float | None:
    """What a curve says at ``step`` to a trial judged there: its value at its last step
    <= ``step``, if it reached ``step``."""
    if not curve or max(curve) < step:
        return None
    return _value_at(curve, step)


@dataclass(frozen=True)
class PercentileEarlyStopping(EarlyStoppingRule):
    """Stop a trial whose latest value is worse than the ``percentile`` of the other trials'
    values at the same step, once it reached ``min_step`` and ``min_curves`` other trials
    reached that step too, and until it reaches ``max_step`` (when given: the last step,
    say) (Ax's PercentileEarlyStoppingStrategy)."""

    percentile: float = 50.0
    min_step: float = 0.0
    min_curves: int = 3
    max_step: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.percentile <= 100:
            raise ValueError("PercentileEarlyStopping.percentile must be in [0, 100]")
        if self.min_curves < 1:
            raise ValueError("PercentileEarlyStopping.min_curves must be at least 1")
        _check_window("PercentileEarlyStopping", self.min_step, self.max_step)

    def should_stop(
        self, curve: Mapping[float, float], others: Sequence[Mapping[float, float]]
    ) -> str | None:
        if not _in_window(curve, self.min_step, self.max_step):
            return None
        step = max(curve)
        peers = [value for other in others if (value := _peer_value(other, step)) is not None]
        return self._judge(curve[step], step, np.asarray(peers, dtype=float))

    def stop_reasons(
        self, judged: Iterable[int], curves: Mapping[int, Mapping[float, float]]
    ) -> dict[int, str]:
        """As ``should_stop`` for each judged trial, with the other curves' values read once
        per step the judged trials are at, not once per trial: with thousands of trials,
        every round of a Scheduler judged each running trial against all of them."""
        at_step: dict[float, list[int]] = {}
        for index in judged:
            curve = curves[index]
            if _in_window(curve, self.min_step, self.max_step):
                at_step.setdefault(max(curve), []).append(index)
        reasons = {}
        for step, indices in at_step.items():
            read = (_peer_value(curve, step) for curve in curves.values())
            values = np.sort([value for value in read if value is not None])
            for index in indices:
                own = curves[index][step]
                # The judged trial's own value is among them once: the others' are the rest.
                peers = np.delete(values, int(np.searchsorted(values, own)))
                reason = self._judge(own, step, peers)
                if reason is not None:
                    reasons[index] = reason
        return reasons

    def _judge(self, value: float, step: float, peers: np.ndarray) -> str | None:
        if len(peers) < self.min_curves:
            return None
        cutoff = float(np.percentile(peers, self.percentile))
        if value < cutoff:
            # Curves are in the larger-is-better sense (a minimized loss negated), so
            # "below" would read backwards for a loss: say "worse", true either way.
            return (
                f"at step {step:g} its value is worse than the {self.percentile:g}th "
                f"percentile (counted from the worst) of {len(peers)} other trials' values"
            )
        return None


@dataclass(frozen=True)
class ThresholdEarlyStopping(EarlyStoppingRule):
    """Stop a trial whose value at or after ``min_step`` (and before ``max_step``, when
    given) is worse than ``threshold``, in the metric's own units: below it for a
    maximized metric, above it for a minimized one (a loss above 5: ``threshold=5``)."""

    threshold: float
    min_step: float = 0.0
    max_step: float | None = None

    def __post_init__(self) -> None:
        _check_window("ThresholdEarlyStopping", self.min_step, self.max_step)

    def should_stop(
        self, curve: Mapping[float, float], others: Sequence[Mapping[float, float]]
    ) -> str | None:
        """For a maximized metric (``curve`` as reported); the scheduler applies
        ``oriented(sign)``."""
        return self.oriented(1.0).should_stop(curve, others)

    def oriented(self, sign: float) -> EarlyStoppingRule:
        return _SignedThreshold(self, sign)


@dataclass(frozen=True)
class _SignedThreshold(EarlyStoppingRule):
    """A ThresholdEarlyStopping on curves multiplied by ``sign``."""

    rule: ThresholdEarlyStopping
    sign: float

    def stop_reasons(
        self, judged: Iterable[int], curves: Mapping[int, Mapping[float, float]]
    ) -> dict[int, str]:
        """Each judged curve alone: a threshold needs no other curve."""
        reasons = {}
        for index in judged:
            reason = self.should_stop(curves[index], ())
            if reason is not None:
                reasons[index] = reason
        return reasons

    def should_stop(
        self, curve: Mapping[float, float], others: Sequence[Mapping[float, float]]
    ) -> str | None:
        rule = self.rule
        if not _in_window(curve, rule.min_step, rule.max_step):
            return None
        step = max(curve)
        # The curve is signed (larger is better); so is the threshold here.
        if curve[step] < self.sign * rule.threshold:
            value = self.sign * curve[step]  # as the trial reported it
            side = "below" if self.sign > 0 else "above"
            return f"at step {step:g} its value {value:g} is {side} {rule.threshold:g}"
        return None
