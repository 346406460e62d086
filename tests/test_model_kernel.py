"""Each outcome is modelled by Matern-5/2 unless RBF explains it much better: RBF for a
smooth function seen at enough points, Matern-5/2 for one with a kink or ripples, and for a
smooth one seen at few (real BoTorch fits, up to 25 points in 2 dimensions)."""

from __future__ import annotations

import pytest
import torch
from botorch.exceptions.errors import ModelFittingError
from gpytorch.kernels import MaternKernel
from gpytorch.kernels import RBFKernel

from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.engine.botorch import model as model_module
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.model import WarmStart
from honed.engine.botorch.model import fit_outcome
from honed.engine.botorch.model import log_likelihood

SPACE = SearchSpace(
    parameters=tuple(Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(2))
)
X = torch.rand(25, 2, generator=torch.Generator().manual_seed(0), dtype=DTYPE)
FUNCTIONS = {
    "smooth": (torch.sin(3 * X[:, :1]) + torch.cos(2 * X[:, 1:]), RBFKernel),
    "kinked": ((X - 0.37).abs().sum(-1, keepdim=True), MaternKernel),
    "rippled": (
        (X - 0.4).norm(dim=-1, keepdim=True) + 0.2 * torch.cos(20 * X).sum(-1, keepdim=True),
        MaternKernel,
    ),
}


def outcome(Y: torch.Tensor, points: int = len(X)) -> Outcome:
    return Outcome("f", X[:points], Y[:points], None, observed=points)


def likelihoods(Y: torch.Tensor, points: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """The marginal log likelihood of each kernel fitted alone, in all (not per point)."""
    found: dict[str, float] = {}
    for kernel in model_module.KERNELS:
        with monkeypatch.context() as patch:
            patch.setattr(model_module, "KERNELS", (kernel,))
            model = fit_outcome(Encoding.of(SPACE), outcome(Y, points), None)
            found[kernel] = log_likelihood(model) * points
    return found


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_gets_the_kernel_that_suits_it(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Y, expected = FUNCTIONS[function]
    alone = likelihoods(Y, len(X), monkeypatch)
    warm: WarmStart = {}
    chosen = fit_outcome(Encoding.of(SPACE), outcome(Y), warm)
    assert isinstance(chosen.covar_module, expected)
    assert log_likelihood(chosen) * len(X) == pytest.approx(alone[warm["f"].kernel])
    # Every kernel keeps its hyperparameters for its next (warm-started) fit.
    assert set(warm["f"].hyperparameters) == set(model_module.KERNELS)


def test_rbf_needs_strong_evidence(monkeypatch: pytest.MonkeyPatch) -> None:
    """At 10 points the smooth function's RBF fit is ahead, but by less than
    STRONG_EVIDENCE: Matern stays (RBF's confidence between so few points is a gamble)."""
    smooth = FUNCTIONS["smooth"][0]
    alone = likelihoods(smooth, 10, monkeypatch)
    assert 0 < alone["rbf"] - alone["matern"] < model_module.STRONG_EVIDENCE
    assert isinstance(
        fit_outcome(Encoding.of(SPACE), outcome(smooth, 10), None).covar_module, MaternKernel
    )
    alone = likelihoods(smooth, 25, monkeypatch)
    assert alone["rbf"] - alone["matern"] > model_module.STRONG_EVIDENCE
    assert isinstance(
        fit_outcome(Encoding.of(SPACE), outcome(smooth), None).covar_module, RBFKernel
    )


def test_a_kernel_that_cannot_be_fitted_leaves_the_outcome_to_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fit = model_module._fit

    def failing_for_rbf(model: object) -> float:
        if isinstance(model.covar_module, RBFKernel):  # type: ignore[attr-defined]
            raise ModelFittingError("no convergence")
        return fit(model)  # type: ignore[arg-type]

    monkeypatch.setattr(model_module, "_fit", failing_for_rbf)
    warm: WarmStart = {}
    smooth = FUNCTIONS["smooth"][0]  # where RBF would be chosen
    model = fit_outcome(Encoding.of(SPACE), outcome(smooth), warm)
    assert isinstance(model.covar_module, MaternKernel)
    assert warm["f"].kernel == "matern"
    assert set(warm["f"].hyperparameters) == {"matern"}

    def failing(model: object) -> float:
        raise ModelFittingError("no convergence")

    monkeypatch.setattr(model_module, "_fit", failing)
    with pytest.raises(ModelFittingError, match="no kernel"):
        fit_outcome(Encoding.of(SPACE), outcome(smooth), None)
