"""Each outcome is modelled by Matern-5/2 unless RBF explains it much better: RBF for a
smooth function seen at enough points, Matern-5/2 for one with a kink or ripples, and for a
smooth one seen at few (real BoTorch fits, up to 25 points in 2 dimensions)."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.fit import fit_gpytorch_mll
from gpytorch.kernels import MaternKernel
from gpytorch.kernels import RBFKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

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


@pytest.mark.parametrize("kernel", model_module.KERNELS)
@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("noise", [None, 0.01])
def test_the_direct_likelihood_is_gpytorchs(
    kernel: model_module.Kernel, categorical: bool, noise: float | None
) -> None:
    """The written-out loss and gradient of _fit_direct equal GPyTorch's (autograd through
    its marginal likelihood), away from the defaults, for every model _model builds."""
    parameters = [Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(3)]
    if categorical:
        parameters.append(
            Parameter("c", ParameterType.CATEGORICAL, categorical_values=("a", "b", "c"))
        )
    encoding = Encoding.of(SearchSpace(tuple(parameters)))
    generator = torch.Generator().manual_seed(3)
    points = torch.rand(12, encoding.dim, generator=generator, dtype=DTYPE)
    if categorical:
        points[:, -1] = torch.randint(0, 3, (12,), generator=generator).to(DTYPE)
    values = torch.sin(5 * points[:, :1]) + points[:, 1:2]
    Yvar = torch.full_like(values, noise) if noise is not None else None
    model = model_module._model(encoding, points, values, Yvar, kernel)
    direct = model_module._direct_loss(model)
    assert direct is not None
    function, x0, bounds, write = direct
    moved = x0 + 0.5 * torch.rand(len(x0), generator=generator, dtype=DTYPE).numpy()
    write(moved)
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    inputs: tuple[torch.Tensor, ...] = model.train_inputs  # type: ignore[assignment]
    loss = -mll(model(*inputs), model.train_targets)
    loss.backward()
    names = ["mean_module.raw_constant", "covar_module.raw_lengthscale"]
    if noise is None:
        names.append("likelihood.noise_covar.raw_noise")
    named = dict(model.named_parameters())
    grads = [named[name].grad for name in names]
    expected = torch.cat([g.reshape(-1) for g in grads if g is not None])
    value, gradient = function(moved)
    assert value == pytest.approx(float(loss.detach()), abs=1e-7)
    assert torch.from_numpy(gradient) == pytest.approx(expected, abs=1e-7)
    assert len(bounds) == len(x0)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("kernel", model_module.KERNELS)
def test_the_direct_fit_ends_where_gpytorchs_ends(
    function: str, kernel: model_module.Kernel
) -> None:
    Y, _ = FUNCTIONS[function]
    build = partial(model_module._model, Encoding.of(SPACE), X, Y, None, kernel)
    direct = build()
    loss = model_module._fit_direct(direct)
    assert loss is not None
    reference = build()
    fit_gpytorch_mll(ExactMarginalLogLikelihood(reference.likelihood, reference))
    assert loss == pytest.approx(-log_likelihood(reference), abs=1e-4)
