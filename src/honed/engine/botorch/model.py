"""Gaussian processes per outcome, fitted with warm-started hyperparameters."""

from __future__ import annotations

import logging
import warnings
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import torch
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models.gp_regression import SingleTaskGP
from botorch.models.gp_regression_mixed import MixedSingleTaskGP
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood

from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import Encoding

logger = logging.getLogger(__name__)

# Hyperparameters are refitted when the data grew by this share since their last fit;
# in between, new observations only condition the model (a fit costs ~30% of a proposal).
REFIT_GROWTH = 0.1


@dataclass
class Fitted:
    hyperparameters: dict[str, torch.Tensor]
    observations: int


#: Fitted hyperparameters by outcome name, reused as the starting point of the next fit.
WarmStart = MutableMapping[str, Fitted]


def fit_outcome(encoding: Encoding, outcome: Outcome, warm: WarmStart | None) -> GPyTorchModel:
    cat_dims = sorted(encoding.cat_dims)
    kwargs: dict[str, Any] = {"outcome_transform": Standardize(m=1)}
    if outcome.Yvar is not None:
        kwargs["train_Yvar"] = outcome.Yvar
    with warnings.catch_warnings():
        # Inputs are already scaled to the unit cube (categorical indices excepted).
        warnings.simplefilter("ignore", InputDataWarning)
        model: GPyTorchModel
        if cat_dims:
            model = MixedSingleTaskGP(outcome.X, outcome.Y, cat_dims=cat_dims, **kwargs)
        else:
            model = SingleTaskGP(outcome.X, outcome.Y, **kwargs)
    previous = warm.get(outcome.name) if warm is not None else None
    n = outcome.X.shape[0]
    # Loading is the warm start of a refit too; the fit is skipped while the data is close
    # to what the hyperparameters were fitted on.
    if (
        previous is not None
        and _load_hyperparameters(model, previous.hyperparameters)
        and n <= previous.observations * (1 + REFIT_GROWTH)
    ):
        model.eval()
        return model
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": 200}})
    if warm is not None:
        warm[outcome.name] = Fitted(_hyperparameters(model), n)
    model.eval()
    return model


def _hyperparameters(model: GPyTorchModel) -> dict[str, torch.Tensor]:
    """Only learned parameters: transform buffers and training data are rebuilt each fit."""
    return {
        name: value.detach().clone()
        for name, value in model.state_dict().items()
        if "raw_" in name or name.endswith("constant")
    }


def _load_hyperparameters(model: GPyTorchModel, state: dict[str, torch.Tensor]) -> bool:
    """Load what fits; True when every saved hyperparameter applied."""
    current = model.state_dict()
    compatible = {k: v for k, v in state.items() if k in current and current[k].shape == v.shape}
    try:
        model.load_state_dict(compatible, strict=False)
    except RuntimeError:  # a changed search space; start from the defaults
        logger.debug("warm start skipped", exc_info=True)
        return False
    return len(compatible) == len(state)


def fit_models(encoding: Encoding, outcomes: list[Outcome], warm: WarmStart | None) -> ModelListGP:
    return ModelListGP(*[fit_outcome(encoding, outcome, warm) for outcome in outcomes])
