"""Conditional search spaces in the model: inactive parameters are one constant to the kernel.

A parameter that the conditionals' values leave inactive has no value at a point, so its
column must not tell two points apart: it is replaced by a constant before the kernel sees
it (a number: its placeholder; a category: no category, an all-zero one-hot). Gaussian
processes then share what they learn across points of one branch whatever the other
branches' columns hold, and an optimizer that moves an inactive column changes nothing.
The acquisition's first candidate is searched per combination of the conditionals' values,
over its active parameters only (``Encoding.combinations`` gives the fixed features).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from functools import partial

import torch
from botorch.models.transforms.input import InputTransform
from torch.nn.functional import one_hot

from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.encoding import Requirements

# The first candidate is searched combination by combination up to this many combinations
# of the conditionals' values; past it the mixed optimizer searches the conditionals as
# categories (the inactive columns are flat to it). Each combination's search gets a
# share of the restarts and raw samples, at least these: as good as the full effort per
# branch or the mixed optimizer alone, in half the time or less (docs/decisions.md:
# Conditional spaces: inactive parameters a constant to the kernel, the best candidate per
# branch).
MAX_SEARCHED_COMBINATIONS = 16
MIN_RESTARTS = 4
MIN_RAW_SAMPLES = 256


class InactiveToConstant(InputTransform):
    """``X: (*batch, n, d)`` in model space to the same shape, each inactive parameter's
    column at its constant. ``rules``: per conditioned parameter's dimension, its
    requirements and its constant."""

    def __init__(self, rules: Mapping[int, tuple[Requirements, float]]) -> None:
        super().__init__()
        self.transform_on_train = True
        self.transform_on_eval = True
        self.transform_on_fantasize = True
        self._rules = {
            dim: (
                [(c, torch.tensor(allowed, dtype=DTYPE)) for c, allowed in requirements],
                constant,
            )
            for dim, (requirements, constant) in rules.items()
        }

    def transform(self, X: torch.Tensor) -> torch.Tensor:
        """``X: (*batch, n, d)`` to ``(*batch, n, d)``: an inactive parameter's column at
        its constant where its conditionals' columns (rounded indices) leave it inactive."""
        columns = list(X.unbind(dim=-1))
        for dim, (requirements, constant) in self._rules.items():
            active = torch.ones_like(columns[dim], dtype=torch.bool)
            for conditional, allowed in requirements:
                active &= torch.isin(X[..., conditional].round(), allowed.to(X))
            columns[dim] = torch.where(
                active, columns[dim], torch.full_like(columns[dim], constant)
            )
        return torch.stack(columns, dim=-1)


def inactive_to_constant(encoding: Encoding) -> InactiveToConstant | None:
    """The model's first input transform for a conditional space (None: nothing is ever
    inactive): numbers at their placeholder, categories at index ``k``, which
    ``category_encoder`` encodes as no category."""
    if not encoding.requirements:
        return None
    rules = {
        dim: (
            requirements,
            float(len(encoding.cat_dims[dim]))
            if dim in encoding.cat_dims
            else encoding.placeholder(dim),
        )
        for dim, requirements in encoding.requirements.items()
    }
    return InactiveToConstant(rules)


def category_encoder(encoding: Encoding, dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """One-hot over a categorical dimension's ``k`` categories; for a conditioned
    parameter, index ``k`` (inactive) is all zeros."""
    size = len(encoding.cat_dims[dim])
    if dim in encoding.requirements:
        return partial(_one_hot_or_none, num_classes=size)
    return partial(one_hot, num_classes=size)


def _one_hot_or_none(indices: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``indices: (*batch, n)`` long in ``[0, num_classes]`` to ``(*batch, n, num_classes)``:
    one-hot, with index ``num_classes`` (inactive) all zeros."""
    return one_hot(indices, num_classes + 1)[..., :num_classes]


def searched_combinations(encoding: Encoding) -> list[dict[int, float]] | None:
    """The combinations the first candidate is searched over one by one (their fixed
    features), or None: no conditional dimension, or too many combinations."""
    if not encoding.conditional_dims:
        return None
    combinations = encoding.combinations()
    return combinations if len(combinations) <= MAX_SEARCHED_COMBINATIONS else None


def effort_per_combination(restarts: int, raw_samples: int, combinations: int) -> tuple[int, int]:
    """Restarts and raw samples of one combination's search: the total shared out, each
    with a floor (a combination searches only its active parameters)."""
    return (
        max(MIN_RESTARTS, -(-restarts // combinations)),
        max(MIN_RAW_SAMPLES, -(-raw_samples // combinations)),
    )
