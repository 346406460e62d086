"""ObservationStore.observation_totals and pareto_front in SQL: counts and the best
observation by aggregates and an indexed ORDER BY ... LIMIT 1, the Pareto front by window
functions, never a read of every observation.

The rules of which observation counts for best are honed.domain.ranking's
(``counts_for_best``, ``best_observations``, ``pareto_front``), put as SQL conditions here;
the storage conformance suite checks both give the same answers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.records import Observation
from honed.domain.trials import EARLY_STOPPED
from honed.domain.trials import STATUS_KEY
from honed.storage.observations import ObservationTotals
from honed.storage.sql import convert
from honed.storage.sql.models import ObservationRow


def observation_totals(session: Session, experiment: Experiment) -> ObservationTotals:
    spec = experiment.spec
    live = [ObservationRow.experiment_id == experiment.id, ~ObservationRow.deleted]
    stopped = _status() == EARLY_STOPPED
    per_task = session.execute(
        select(
            ObservationRow.task,
            func.count(),
            func.sum(case((ObservationRow.failed, 1), else_=0)),
            func.sum(case((stopped, 1), else_=0)),
            func.min(ObservationRow.id),
            func.max(ObservationRow.id),
        )
        .where(*live)
        .group_by(ObservationRow.task)
    ).all()
    optimized = spec.optimized_metrics
    best_id = front = None
    counted = [*live, *_counts_for_best(spec)]
    if len(optimized) == 1:
        metric = _value(spec, optimized[0])
        ranked = metric.desc() if optimized[0].objective is Objective.MAXIMIZE else metric.asc()
        best_id = session.scalar(
            select(ObservationRow.id).where(*counted).order_by(ranked, ObservationRow.id).limit(1)
        )
    elif len(optimized) == 2:
        front = session.scalar(select(func.count()).select_from(_front(experiment).subquery()))
    firsts = [row[4] for row in per_task]
    lasts = [row[5] for row in per_task]
    wanted = {i for i in (min(firsts, default=None), max(lasts, default=None), best_id) if i}
    found = _by_id(session, wanted)
    return ObservationTotals(
        count=sum(row[1] for row in per_task),
        failed=sum(int(row[2] or 0) for row in per_task),
        early_stopped=sum(int(row[3] or 0) for row in per_task),
        per_task=tuple((row[0], int(row[1])) for row in per_task),
        first=found.get(min(firsts, default=0)),
        last=found.get(max(lasts, default=0)),
        best=found.get(best_id or 0),
        front=front or 0,
    )


def pareto_front(session: Session, experiment: Experiment) -> list[Observation]:
    """honed.domain.ranking.pareto_front of the observations that count for best, in its
    order (best first by the first metric, then the second, then id): the front is found
    in SQL, and only its observations are read."""
    front = _front(experiment).subquery()
    ids = session.scalars(
        select(front.c.id).order_by(front.c.first.desc(), front.c.second.desc(), front.c.id)
    ).all()
    found = _by_id(session, set(ids))
    return [found[i] for i in ids]


def _front(experiment: Experiment) -> Select[Any]:
    """The id and both scores (larger is better) of each observation on the Pareto front
    of an experiment with two optimized metrics.

    An observation is dominated when another is at least as good on both scores and
    better on one. Ordered by the first score, best first: ``at_least`` is the best second
    score among those at least as good on the first (its ties included), ``better`` that
    among those strictly better on the first (the groups of ties before it). It is on the
    front when no tie on the first beats its second score and nothing better on the first
    equals it there: window functions over one scan, where a pairwise NOT EXISTS would
    compare every two (GROUPS frames need SQLite 3.28 and PostgreSQL 11)."""
    spec = experiment.spec
    first_metric, second_metric = spec.optimized_metrics
    counted = (
        select(
            ObservationRow.id.label("id"),
            (first_metric.sign() * _value(spec, first_metric)).label("first"),
            (second_metric.sign() * _value(spec, second_metric)).label("second"),
        )
        .where(
            ObservationRow.experiment_id == experiment.id,
            ~ObservationRow.deleted,
            *_counts_for_best(spec),
        )
        .subquery()
    )
    by_first = counted.c.first.desc()
    best_second = func.max(counted.c.second)
    ranked = select(
        counted,
        best_second.over(order_by=by_first, range_=(None, 0)).label("at_least"),
        best_second.over(order_by=by_first, groups=(None, -1)).label("better"),
    ).subquery()
    return select(ranked.c.id, ranked.c.first, ranked.c.second).where(
        ranked.c.second >= ranked.c.at_least,
        or_(ranked.c.better.is_(None), ranked.c.better < ranked.c.second),
    )


def _status() -> ColumnElement[Any]:
    """The trial status a scheduler stored in the observation's metadata (or NULL)."""
    status: ColumnElement[Any] = ObservationRow.meta[STATUS_KEY].as_string()
    return status


def _value(spec: ExperimentSpec, metric: Metric) -> ColumnElement[Any]:
    """The metric's value: values are stored one per metric, sorted by name
    (service.observations.checked_values), so its place is fixed."""
    index = sorted(str(m.name) for m in spec.metrics).index(str(metric.name))
    value: ColumnElement[Any] = ObservationRow.values[(index, "value")].as_float()
    return value


def _counts_for_best(spec: ExperimentSpec) -> list[ColumnElement[bool]]:
    """honed.domain.ranking.counts_for_best as conditions: not failed, not stopped early,
    every optimized and constraint metric within its threshold, and of a cost-1 task."""
    status = _status()
    conditions = [~ObservationRow.failed, or_(status.is_(None), status != EARLY_STOPPED)]
    for metric in (*spec.optimized_metrics, *spec.constraint_metrics):
        value = _value(spec, metric)
        conditions.append(value.is_not(None))
        if metric.threshold is not None:
            bound = metric.threshold
            conditions.append(
                value >= bound if metric.objective is Objective.MAXIMIZE else value <= bound
            )
    # An unknown task (or none) costs 1, as ExperimentSpec.task_cost has it.
    cheaper = [t.name for t in spec.tasks if t.cost != 1.0]
    if cheaper:
        conditions.append(or_(ObservationRow.task.is_(None), ObservationRow.task.not_in(cheaper)))
    return [and_(*conditions)]


def _by_id(session: Session, ids: set[int]) -> dict[int, Observation]:
    if not ids:
        return {}
    rows = session.scalars(select(ObservationRow).where(ObservationRow.id.in_(ids)))
    return {row.id: convert.observation(row) for row in rows}
