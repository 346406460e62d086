"""TrialBook: the totals a Scheduler round reads, kept from the trials that may still change,
equal what a scan of every trial gives, through any order of the trials' transitions."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from honed.scheduler.book import TrialBook
from honed.scheduler.results import Objective
from honed.scheduler.trial import REJECTABLE
from honed.scheduler.trial import TERMINAL
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

COSTS = {"cheap": 0.25, None: 1.0}


def scanned(book: TrialBook, objective: Objective) -> tuple[Counter[TrialStatus], float, float]:
    trials = list(book.values())
    counts = Counter(t.status for t in trials)
    cost = math.fsum(COSTS[t.task] for t in trials)
    terminal = math.fsum(COSTS[t.task] for t in trials if t.status.terminal)
    return counts, cost, terminal


@pytest.mark.parametrize("seed", range(10))
def test_the_totals_equal_a_scan_of_every_trial(seed: int) -> None:
    rng = random.Random(seed)
    objective = Objective("loss", -1.0)
    book = TrialBook({}, objective, COSTS.__getitem__)
    recorded = 0
    for step in range(400):
        trials = list(book.values())
        move = rng.random()
        if move < 0.25 or not trials:
            index = book.next_index()
            assert index == max(book, default=-1) + 1
            book[index] = Trial(index, str(index), {}, task=rng.choice(["cheap", None]))
            continue
        trial = rng.choice(trials)
        if trial.status is TrialStatus.PENDING and move < 0.6:
            trial.start({}, float(step), float(step))
        elif trial.status is TrialStatus.RUNNING and move < 0.6:
            trial.back_to_pending()
        elif not trial.status.terminal:
            status = rng.choice(sorted(TERMINAL))
            # Equal values now and then: of equally good trials the first is the best.
            trial.finish(status, float(step), {"loss": float(rng.randrange(20))})
        elif trial.observation_id is None:
            if trial.status in REJECTABLE and rng.random() < 0.2:
                trial.reject_result("refused")
            else:
                recorded += 1
                trial.observation_id = str(recorded)  # the store wrote it: it is settled
        counts, cost, terminal = scanned(book, objective)
        assert book.counts() == counts
        assert book.cost() == pytest.approx(cost)
        assert book.cost(terminal_only=True) == pytest.approx(terminal)
        assert book.best() is objective.best(book.values())
        assert book.unsettled() == [
            t for t in book.values() if not (t.status.terminal and t.observation_id)
        ]
    assert recorded > 30  # the totals were exercised, not only the scan


def test_trials_loaded_at_resume_are_counted_and_followed_by_the_next_index() -> None:
    done = Trial(4, "4", {}, status=TrialStatus.COMPLETED, values={"loss": 1.0})
    done.observation_id = "9"
    running = Trial(7, "7", {}, status=TrialStatus.RUNNING)
    book = TrialBook({4: done, 7: running}, Objective("loss", -1.0), COSTS.__getitem__)
    assert book.next_index() == 8
    assert book.counts() == Counter({TrialStatus.COMPLETED: 1, TrialStatus.RUNNING: 1})
    assert book.unsettled() == [running]
    assert book.best() is done
