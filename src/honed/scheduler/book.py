"""The trials of a Scheduler by index, with what every round of its loop asks of them.

A round deploys, polls and decides whether the run is over: it needs the trials that may
still change, the counts by state, the budget spent and the best trial. Scanning every trial
for these made a round cost O(trials): a 100,000-trial run slowed from 125 to 56 trials per
second by its 60,000th (docs/decisions.md: The Scheduler's rounds touch only unsettled
trials). A trial that is terminal and recorded (its observation stored) never changes again
(``TrialStatus``), so ``TrialBook`` keeps such *settled* trials as totals and a round looks
at the unsettled ones only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping

from honed.scheduler.results import Objective
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus


class TrialBook(dict[int, Trial]):
    """Every trial by index (a dict, as the scheduler's other parts read it), plus the
    totals of the settled ones. New trials come in through ``[index] = trial``."""

    def __init__(
        self,
        trials: Mapping[int, Trial],
        objective: Objective,
        cost: Callable[[str | None], float],
    ) -> None:
        super().__init__()
        self._objective = objective
        self._cost = cost
        self._unsettled: dict[int, Trial] = {}
        self._next = 0
        self._settled_counts: Counter[TrialStatus] = Counter()
        self._settled_cost = 0.0
        self._settled_best: Trial | None = None
        for index, trial in trials.items():
            self[index] = trial

    def __setitem__(self, index: int, trial: Trial) -> None:
        super().__setitem__(index, trial)
        self._unsettled[index] = trial
        self._next = max(self._next, index + 1)

    def next_index(self) -> int:
        """The index of the next new trial."""
        return self._next

    def unsettled(self) -> list[Trial]:
        """The trials that may still change (all but the terminal, recorded ones), by
        index; those that settled since the last call move into the totals."""
        settled = [t for t in self._unsettled.values() if _settled(t)]
        for trial in settled:
            del self._unsettled[trial.index]
            self._settled_counts[trial.status] += 1
            self._settled_cost += self._cost(trial.task)
            self._settled_best = self._objective.best(_by_index([self._settled_best, trial]))
        return list(self._unsettled.values())

    def counts(self) -> Counter[TrialStatus]:
        """How many trials are in each state."""
        unsettled = self.unsettled()  # first: it moves what settled into the totals
        counts = self._settled_counts.copy()
        counts.update(t.status for t in unsettled)
        return counts

    def cost(self, terminal_only: bool = False) -> float:
        """What the trials cost of ``total_trials`` (failed, pending and running ones too,
        or the terminal ones only): their tasks' costs for a multitask experiment, as its
        ``observation_budget`` counts them, so their number for a plain one."""
        unsettled = self.unsettled()
        open_cost = math.fsum(
            self._cost(t.task) for t in unsettled if t.status.terminal or not terminal_only
        )
        return self._settled_cost + open_cost

    def best(self) -> Trial | None:
        """The best completed trial by the objective (results.Objective.best)."""
        unsettled = self.unsettled()
        return self._objective.best(_by_index([self._settled_best, *unsettled]))


def _settled(trial: Trial) -> bool:
    return trial.status.terminal and trial.observation_id is not None


def _by_index(trials: Iterable[Trial | None]) -> list[Trial]:
    """By index, as the dict holds them: of equally good trials the first is the best."""
    return sorted((t for t in trials if t is not None), key=lambda t: t.index)
