"""Tenant checks shared by every use case: another client's objects do not exist, and for
a token bound to one experiment (a share link) neither do the client's other experiments."""

from __future__ import annotations

from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.projects import Project
from honed.domain.tenancy import Token
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import PermissionDeniedError
from honed.storage.experiments import ExperimentStore
from honed.storage.projects import ProjectStore

READ_ONLY_MESSAGE = "You don't have permission to do this action: this token is read-only."


def require_write(caller: Token) -> None:
    if not caller.can_write:
        raise PermissionDeniedError(READ_ONLY_MESSAGE)


def sees_experiment(caller: Token, experiment_id: int | None) -> bool:
    """Whether the caller may see the experiment ``experiment_id`` of its own client
    (None: something that belongs to no experiment, which only unbound tokens see)."""
    return caller.experiment_id is None or caller.experiment_id == experiment_id


def check_experiment(caller: Token, experiment: Experiment, write: bool = False) -> Experiment:
    """``experiment`` if the caller may use it, else NotFoundError for another client's.

    Development tokens see only development experiments and API tokens only the others,
    as in SigOpt, but the answer for a mismatch is 403 since the caller owns the object.
    """
    if experiment.client_id != caller.client_id or not sees_experiment(caller, experiment.id):
        raise NotFoundError()
    if experiment.spec.development != caller.development:
        raise PermissionDeniedError(
            "Development tokens may only use development experiments, and API tokens only "
            "non-development experiments."
        )
    if write:
        require_write(caller)
    return experiment


def check_classic(experiment: Experiment) -> Experiment:
    """AI experiments get suggestions and observations through their training runs only."""
    if experiment.spec.runs_only:
        raise PermissionDeniedError(
            f"Experiment {experiment.id} is an AI experiment: create training runs with "
            f"/v1/aiexperiments/{experiment.id}/training_runs instead"
        )
    return experiment


def check_ai_experiment(experiment: Experiment) -> Experiment:
    """The /v1/aiexperiments endpoints know only AI experiments."""
    if not experiment.spec.runs_only:
        raise NotFoundError()
    return experiment


def check_live_experiment(caller: Token, experiment: Experiment, what: str) -> Experiment:
    """As check_experiment, for creating ``what`` (e.g. "suggestions"): deleted ones refuse."""
    check_experiment(caller, experiment, write=True)
    if experiment.is_deleted:
        raise InvalidRequestError(f"Cannot create {what} for deleted experiment {experiment.id}")
    return experiment


def experiment_for(
    storage: ExperimentStore, caller: Token, experiment_id: int, write: bool = False
) -> Experiment:
    """The caller's experiment, read from the store and checked."""
    return check_experiment(caller, storage.get_experiment(experiment_id), write)


def live_experiment_for(
    storage: ExperimentStore, caller: Token, experiment_id: int, what: str
) -> Experiment:
    return check_live_experiment(caller, storage.get_experiment(experiment_id), what)


class _ProjectsOfExperiments(ExperimentStore, ProjectStore, Protocol):
    """What ``project_for`` reads."""


def project_for(storage: _ProjectsOfExperiments, caller: Token, reference: str) -> Project:
    """The caller's project; a token bound to an experiment sees only that one's project."""
    if caller.experiment_id is not None:
        bound = storage.get_experiment(caller.experiment_id)
        if bound.spec.project != reference:
            raise NotFoundError()
    return storage.get_project(caller.client_id, reference)
