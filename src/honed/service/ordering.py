"""How a list request's ``sort`` names an order, checked against the experiment."""

from __future__ import annotations

from honed.domain.experiment import Experiment
from honed.domain.paging import PageRequest
from honed.domain.parameters import ParameterType
from honed.errors import InvalidRequestError
from honed.storage.observations import ObservationOrder

#: SigOpt's observation sorts; ``-<metric>``/``-<name>`` pick a metric or parameter.
OBSERVATION_SORTS = (
    "id",
    "timestamp",
    "value",
    "value-<metric>",
    "value_stddev",
    "value_stddev-<metric>",
    "parameter-<name>",
    "task",
)


def _invalid_sort(sort: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid sort: {sort!r} {why}; expected one of {', '.join(OBSERVATION_SORTS)}"
    )


def observation_order(experiment: Experiment, sort: str) -> ObservationOrder:
    """The order ``sort`` names for observations of ``experiment`` (SigOpt's sort keys;
    plain ``value`` is the first metric's; ``task`` the task's cost)."""
    if sort == "id":
        return ObservationOrder()
    if sort == "timestamp":
        return ObservationOrder(field="created")
    if sort == "task":
        # By the task's cost: the cost-1 task first in the default (descending) order.
        tasks = experiment.spec.tasks
        if not tasks:
            raise _invalid_sort(sort, "sorts the observations of multitask experiments only")
        return ObservationOrder(field="task", task_costs=tuple((t.name, t.cost) for t in tasks))
    field, dash, name = sort.partition("-")
    if field in ("value", "value_stddev"):
        # Stored values are one per metric, sorted by name (service.observations).
        names = sorted(str(m.name) for m in experiment.spec.metrics)
        metric = name if dash else str(experiment.spec.metrics[0].name)
        if metric not in names:
            raise _invalid_sort(sort, f"names no metric of this experiment ({', '.join(names)})")
        return ObservationOrder(field=field, metric_index=names.index(metric))
    if field == "parameter" and dash:
        # Whether each assigned name sorts as text: categoricals and conditionals do.
        space = experiment.spec.space
        text = {p.name: p.type is ParameterType.CATEGORICAL for p in space.parameters}
        text |= {c.name: True for c in space.conditionals}
        if name not in text:
            known = ", ".join(sorted(text))
            raise _invalid_sort(sort, f"names no parameter of this experiment ({known})")
        return ObservationOrder(field="parameter", parameter=name, text=text[name])
    raise _invalid_sort(sort, "is not a sort")


def check_marker_values(page: PageRequest, text: bool) -> None:
    """A marker's sort value must be of the sort's type (a number, or text for a
    categorical parameter): the database would refuse to compare them otherwise."""
    for name, value in (("before", page.before_value), ("after", page.after_value)):
        if value is not None and isinstance(value, str) != text:
            raise InvalidRequestError(f"Invalid {name}: not a paging marker of this sort")
