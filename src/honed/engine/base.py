"""The engine contract: a pure decision from an experiment's state to candidate points."""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

from honed.domain.analysis import ModelAnalysis
from honed.domain.experiment import Experiment
from honed.domain.parameters import Assignments
from honed.domain.parameters import AssignmentValue
from honed.domain.records import Observation


@dataclass(frozen=True)
class ProposalRequest:
    """What an engine may look at.

    ``cursor`` is the engine's own position in a deterministic sequence for this experiment
    (QMC index, grid index); ``pending`` are the open suggestions, to be treated as points
    being evaluated right now. ``count`` points are wanted at full quality; ``pool`` more
    may follow them, cheaper but still informed (an engine without such a mode ignores it),
    for requests that arrive before the next proposal is ready. ``pending_tasks``: for a
    multitask experiment, the task of each pending point (parallel to ``pending``).
    ``enough``: an engine that chooses a batch one point after the other asks it after each
    point, with the points chosen so far, and stops the batch there when it says so (the
    optimizer loop's turn is wanted elsewhere); None: the whole batch.
    """

    experiment: Experiment
    cursor: int
    pending: Sequence[Assignments] = ()
    observations: Sequence[Observation] = field(default=())
    count: int = 1
    pool: int = 0
    pending_tasks: Sequence[str | None] = ()
    enough: Callable[[int], bool] | None = None


@dataclass(frozen=True)
class Proposal:
    """Candidates, best first, and the cursor to hand back next time. ``tasks``: for a
    multitask experiment, the task each point is to be evaluated at (parallel to
    ``points``), or None where the engine does not choose tasks: the caller then picks
    (``honed.engine.tasks``)."""

    points: list[dict[str, AssignmentValue]]
    cursor: int
    tasks: list[str | None] | None = None


class Engine(ABC):
    """Proposes points for an experiment.

    Invariants every engine keeps: each point is a valid, complete assignment of the search
    space (it passes ``SearchSpace.check_assignments``, linear constraints included); the
    same request gives the same points unless the engine is documented as random; an
    engine never blocks for long, since it may be called under the experiment's lock. An
    engine may return a point equal to a pending one: the caller rejects it and asks again
    from the returned cursor.
    """

    #: Whether ``ProposalRequest.observations`` must be filled in for this engine.
    needs_observations: bool = False
    #: Whether ``ProposalRequest.pending`` must be filled in (else it may be left empty).
    needs_pending: bool = False

    @abstractmethod
    def propose(self, request: ProposalRequest) -> Proposal:
        """Return at least one candidate unless the space has no point at all, or (for an
        engine that reads the observations) every point of a finite space was observed or
        is pending."""

    def analyze(self) -> ModelAnalysis | None:
        """What the model behind this engine's last proposal says (parameter importance,
        slices), or None: an engine without a model, or a last proposal made without one
        (the initial design). Called after the proposal's points are stored, never on the
        way to them: it may take a few tens of milliseconds."""
        return None
