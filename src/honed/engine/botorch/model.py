"""Gaussian processes per outcome, fitted with warm-started hyperparameters."""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from collections.abc import MutableMapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from typing import Literal

import numpy
import scipy.linalg
import scipy.optimize
import torch
from botorch.exceptions.errors import ModelFittingError
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models.gp_regression import SingleTaskGP
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.models.transforms.input import ChainedInputTransform
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.input import NumericToCategoricalEncoding
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel
from gpytorch.kernels import RBFKernel
from gpytorch.likelihoods import FixedNoiseGaussianLikelihood
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from linear_operator.utils.errors import NotPSDError

from honed.engine.botorch import budget
from honed.engine.botorch.conditional import category_encoder
from honed.engine.botorch.conditional import inactive_to_constant
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import Encoding

logger = logging.getLogger(__name__)

# Hyperparameters are refitted on every new observation up to this many observations: a
# skipped refit can leave the marginal likelihood far below a fresh fit's, and a fit of so
# few points is cheap. Past it they are refitted when the data grew by REFIT_GROWTH since
# their last fit; in between, new observations only condition the model (docs/decisions.md:
# Hyperparameters refitted on every observation up to 100, past it after 10% growth).
REFIT_EVERY_UP_TO = 100
REFIT_GROWTH = 0.1
# Hyperparameters are fitted on at most this many of a model's points (see fit_outcome).
FIT_POINTS = 300
FIT_MAXITER = 200
# The relative difference allowed between _fit_direct's likelihood and GPyTorch's.
DIRECT_TOLERANCE = 1e-6
# _fit_direct keeps points x points x dimensions differences: past this many, GPyTorch fits.
DIRECT_MAX_ELEMENTS = 10_000_000


#: The kernels fitted to each outcome, the default first. Matern-5/2 suits objectives that
#: are not infinitely smooth (a kink at the optimum, ripples: an RBF fitted to such values
#: is overconfident between points); RBF pins the optimum of a smooth one down more
#: precisely. Either alone lost a benchmark cell to Ax (docs/decisions.md: Two kernels per
#: outcome; RBF replaces Matérn only on strong evidence).
Kernel = Literal["matern", "rbf"]
KERNELS: tuple[Kernel, ...] = ("matern", "rbf")
#: RBF replaces Matern only when it explains the data much better: by this many nats of
#: marginal log likelihood in all ("strong" evidence on Kass and Raftery's scale of Bayes
#: factors). Early on the likelihood favours the smoother kernel by a little on most
#: functions, and its confidence between few points misled the search (docs/decisions.md:
#: Two kernels per outcome; RBF replaces Matérn only on strong evidence).
STRONG_EVIDENCE = 3.0


@dataclass
class Fitted:
    #: Hyperparameters by kernel: each kernel's next fit starts from its own.
    hyperparameters: dict[Kernel, dict[str, torch.Tensor]]
    #: Observations behind the outcome when fitted (Outcome.observed).
    observations: int
    #: The kernel chosen for the outcome.
    kernel: Kernel


#: Fitted hyperparameters by outcome name, reused as the starting point of the next fit.
WarmStart = MutableMapping[str, Fitted]


def fit_outcome(encoding: Encoding, outcome: Outcome, warm: WarmStart | None) -> GPyTorchModel:
    """A single-output GP on ``outcome.X: (n, d)`` and ``outcome.Y: (n, 1)``, in eval
    mode: its posterior at ``X: (*batch, q, d)`` has mean ``(*batch, q, 1)``. ``warm``
    gives the starting hyperparameters and receives the fitted ones."""
    previous = warm.get(outcome.name) if warm is not None else None
    # The fit is skipped while the data is close to what the hyperparameters were fitted
    # on (and they still fit the model: a changed search space needs a fit).
    if previous is not None and not _refit_due(outcome.observed, previous.observations):
        model = _model(encoding, outcome.X, outcome.Y, outcome.Yvar, previous.kernel)
        if _load_hyperparameters(model, previous.hyperparameters[previous.kernel]):
            model.eval()
            return model
    X, Y, Yvar = outcome.X, outcome.Y, outcome.Yvar
    if outcome.X.shape[0] > FIT_POINTS:
        # Each step of the fit costs O(n^3): fit on a representative part, then condition
        # the model on all its points with those hyperparameters (one Cholesky).
        rows = representative_rows(outcome.Y, FIT_POINTS)
        X, Y = X[rows], Y[rows]
        Yvar = Yvar[rows] if Yvar is not None else None
    fits: dict[Kernel, tuple[GPyTorchModel, float]] = {}
    for kernel in KERNELS:
        start = previous.hyperparameters.get(kernel) if previous is not None else None
        try:
            fits[kernel] = _best_fit(
                partial(_model, encoding, X, Y, Yvar, kernel), start, outcome.observed
            )
        except ModelFittingError:
            logger.debug("the %s fit of %s failed", kernel, outcome.name, exc_info=True)
    if not fits:
        raise ModelFittingError(f"no kernel could be fitted to {outcome.name!r}")
    kernel = min(fits, key=lambda k: fits[k][1])  # losses are per point
    default = KERNELS[0]
    if default in fits and (fits[default][1] - fits[kernel][1]) * len(X) < STRONG_EVIDENCE:
        kernel = default
    model = fits[kernel][0]
    hyperparameters = {k: _hyperparameters(m) for k, (m, _) in fits.items()}
    if X is not outcome.X:
        model = _model(encoding, outcome.X, outcome.Y, outcome.Yvar, kernel)
        _load_hyperparameters(model, hyperparameters[kernel])
    if warm is not None:
        warm[outcome.name] = Fitted(hyperparameters, outcome.observed, kernel)
    model.eval()
    return model


def _best_fit(
    build: Callable[[], GPyTorchModel], start: dict[str, torch.Tensor] | None, observed: int
) -> tuple[GPyTorchModel, float]:
    """The fitted model and its loss (see _fit). From the previous hyperparameters
    (``start``) and, while fits are cheap (or if that one fails), from the prior's
    defaults too: the higher marginal likelihood wins. A warm start alone can stay in a
    mode the data has left, and a failed fit keeps the old hyperparameters, so every later
    refit would start from the same point (docs/decisions.md: Refits up to 100
    observations also start from the prior's defaults)."""
    if start is None:
        cold = build()
        return cold, _fit(cold)
    model = build()
    _load_hyperparameters(model, start)
    try:
        warm_loss = _fit(model)
    except ModelFittingError:
        logger.debug("the warm-started fit failed; fitting from the defaults", exc_info=True)
        warm_loss = math.inf
    if observed > REFIT_EVERY_UP_TO and warm_loss < math.inf:
        return model, warm_loss
    cold = build()
    try:
        cold_loss = _fit(cold)
    except ModelFittingError:
        if warm_loss == math.inf:
            raise
        return model, warm_loss
    return (cold, cold_loss) if cold_loss < warm_loss else (model, warm_loss)


def _fit(model: GPyTorchModel) -> float:
    """Fit the hyperparameters (their posterior mode); returns the negative marginal log
    likelihood per point, priors included, as the fit minimised it."""
    direct = _fit_direct(model)
    if direct is not None:
        return direct
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll(
            mll,
            # budget.check: past the proposal's deadline the fit gives up.
            optimizer_kwargs={"options": {"maxiter": FIT_MAXITER}, "callback": budget.check},
        )
    return -log_likelihood(model)


def _fit_direct(model: GPyTorchModel) -> float | None:
    """_fit's optimization (L-BFGS-B, the same start, bounds and tolerances) on the marginal
    likelihood written out in a few tensor operations: GPyTorch's lazy operators cost
    milliseconds of Python per step, several times the arithmetic at these sizes. The
    result is checked against GPyTorch's own value. None for a model this does not cover
    (or a fit that ended badly: then fit_gpytorch_mll fits it, with its retries).
    (docs/decisions.md: The GP fit on a written-out marginal likelihood; raw samples scored
    in large batches)"""
    loss = _direct_loss(model)
    if loss is None:
        return None
    function, x0, bounds, write = loss
    try:
        result = scipy.optimize.minimize(
            function,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": FIT_MAXITER},
            callback=budget.check,
        )
    except (NotPSDError, RuntimeError, ValueError):
        logger.debug("the direct fit failed", exc_info=True)
        return None
    # 1: the iteration limit, which fit_gpytorch_mll accepts too.
    if not (result.success or result.status == 1) or not math.isfinite(result.fun):
        write(x0)
        return None
    write(result.x)
    checked = -log_likelihood(model)
    if not abs(checked - result.fun) <= DIRECT_TOLERANCE * max(1.0, abs(checked)):
        logger.warning("the direct likelihood %s differs from GPyTorch's %s", result.fun, checked)
        write(x0)
        return None
    return checked


def _direct_loss(
    model: GPyTorchModel,
) -> (
    tuple[
        Callable[[numpy.ndarray], tuple[float, numpy.ndarray]],
        numpy.ndarray,
        list[tuple[float | None, float | None]],
        Callable[[numpy.ndarray], None],
    ]
    | None
):
    """The negative marginal log likelihood per point (priors included) of an unbatched
    SingleTaskGP as _model builds it, as a function of its hyperparameters in one vector,
    with its gradient; the starting vector, its bounds and a writer back into the model.
    None for any other structure."""
    kernel: Any = model.covar_module
    mean: Any = model.mean_module
    likelihood: Any = model.likelihood
    targets: Any = model.train_targets
    if written_out_kernel(model) is None:
        return None
    parts: list[tuple[torch.nn.Parameter, Any, Any]] = [
        (mean.raw_constant, None, None),
        (kernel.raw_lengthscale, kernel.raw_lengthscale_constraint, kernel.lengthscale_prior),
    ]
    if isinstance(likelihood, GaussianLikelihood) and not isinstance(
        likelihood, FixedNoiseGaussianLikelihood
    ):
        noise = likelihood.noise_covar
        parts.append((noise.raw_noise, noise.raw_noise_constraint, noise.noise_prior))
    bounds: list[tuple[float | None, float | None]] = []
    for parameter, constraint, prior in parts:
        if constraint is None:
            if prior is not None:
                return None
            bounds += [(None, None)] * parameter.numel()
            continue
        # Constraints enforced by bounds (no transform), as BoTorch sets them.
        if not isinstance(constraint, GreaterThan) or constraint.enforced:
            return None
        if type(prior) is not LogNormalPrior or getattr(prior, "_transform", None) is not None:
            return None
        bounds += [(float(constraint.lower_bound), None)] * parameter.numel()
    if sum(1 for p in model.parameters() if p.requires_grad) != len(parts):
        return None
    model.train()
    with torch.no_grad():
        inputs: tuple[torch.Tensor, ...] = model.train_inputs  # type: ignore[assignment]
        X = model.transform_inputs(inputs[0])
    y: torch.Tensor = targets.detach()
    n = y.shape[-1]
    if n * n * X.shape[-1] > DIRECT_MAX_ELEMENTS:
        return None
    fixed = likelihood.noise.detach().reshape(-1) if len(parts) == 2 else None
    sizes = [p.numel() for p, _, _ in parts]
    rbf = isinstance(kernel, RBFKernel)
    priors = [(float(prior.loc), float(prior.scale)) for _, _, prior in parts[1:] if prior]

    # Squared differences per dimension, (n, n, D): the kernel and its gradient need them.
    # In NumPy: at these sizes each torch operation costs more in dispatch than in arithmetic.
    differences = (X.unsqueeze(-2) - X.unsqueeze(-3)).pow(2).numpy()
    targets_np = y.numpy()
    fixed_np = fixed.numpy() if fixed is not None else None
    log_2pi = math.log(2 * math.pi)
    splits = numpy.cumsum(sizes)[:-1]
    diagonal_index = numpy.diag_indices(n)
    # LAPACK's routines as scipy.linalg.cholesky and cho_solve call them, without those
    # wrappers' checks, which cost much of a step at small n (docs/decisions.md: Proposal
    # speed: LAPACK called directly in the fit; the sampler set up on one point).
    potrf, potrs, potri = scipy.linalg.get_lapack_funcs(
        ("potrf", "potrs", "potri"), (differences,)
    )
    # (n * n, D): the lengthscales' gradient as one matrix-vector product (BLAS), cheaper
    # than an einsum over (n, n, D) (docs/decisions.md: qLogNEI's reductions and the fit's
    # inverse in fewer operations (a looser L-BFGS-B stop for the acquisition tried)).
    flat_differences = differences.reshape(n * n, -1)
    lower = numpy.tril_indices(n, -1)

    def function(vector: numpy.ndarray) -> tuple[float, numpy.ndarray]:
        """The loss and its gradient, written out: autograd's bookkeeping cost more than
        the arithmetic at these sizes."""
        constant, lengthscale, *noise = numpy.split(vector, splits)
        squared = differences @ lengthscale**-2
        if rbf:
            K = numpy.exp(-0.5 * squared)
            slope = K  # dK/d(lengthscale_j) = slope * difference_j^2 / lengthscale_j^3
        else:
            root5 = math.sqrt(5) * numpy.sqrt(squared)
            decay = numpy.exp(-root5)
            K = (1 + root5 + root5**2 / 3) * decay
            slope = 5 / 3 * (1 + root5) * decay
        K[diagonal_index] += noise[0] if noise or fixed_np is None else fixed_np
        L, info = potrf(K, lower=True, overwrite_a=True, clean=True)
        if info != 0:
            raise NotPSDError("not positive definite")
        residual = targets_np - constant[0]
        alpha, _ = potrs(L, residual, lower=True)
        loss = 0.5 * float(residual @ alpha) + float(numpy.log(L.diagonal()).sum())
        loss += n * log_2pi / 2
        # d loss / dK = (K^-1 - alpha alpha^T) / 2, the trace term of the gradient. K^-1
        # from the factor (potri: half the work of solving against the identity), which
        # fills one triangle: mirrored into the other.
        inverse, info = potri(L, lower=True)
        if info != 0:
            raise NotPSDError("not positive definite")
        inverse[lower[1], lower[0]] = inverse[lower]
        weights = 0.5 * (inverse - numpy.outer(alpha, alpha))
        gradients = [
            -alpha.sum().reshape(1),
            (weights * slope).reshape(-1) @ flat_differences / lengthscale**3,
        ]
        if noise:
            gradients.append(weights.diagonal().sum().reshape(1))
        # Minus the log densities of the LogNormal priors and their gradients.
        for index, (loc, scale) in enumerate(priors, start=1):
            value = (lengthscale, *noise)[index - 1]
            log_value = numpy.log(value)
            z = (log_value - loc) / scale
            loss += float((log_value + math.log(scale) + log_2pi / 2 + z**2 / 2).sum())
            gradients[index] = gradients[index] + (1 + z / scale) / value
        return loss / n, numpy.concatenate(gradients) / n

    def write(vector: numpy.ndarray) -> None:
        values = torch.split(torch.as_tensor(vector, dtype=y.dtype), sizes)
        with torch.no_grad():
            for (parameter, _, _), value in zip(parts, values, strict=True):
                parameter.copy_(value.reshape(parameter.shape))

    x0 = torch.cat([p.detach().reshape(-1) for p, _, _ in parts]).numpy().copy()
    return function, x0, bounds, write


def written_out_kernel(model: torch.nn.Module) -> Kernel | None:
    """The kernel of a GP of the structure that _model builds and that this package's
    written-out computations cover (a Matérn-5/2 or RBF kernel with no output scale on all
    inputs, a constant mean, Gaussian noise learned or known, one output); else None."""
    kernel: Any = getattr(model, "covar_module", None)
    mean: Any = getattr(model, "mean_module", None)
    likelihood: Any = getattr(model, "likelihood", None)
    targets: Any = getattr(model, "train_targets", None)
    if type(kernel) not in (MaternKernel, RBFKernel) or type(mean) is not ConstantMean:
        return None
    if isinstance(kernel, MaternKernel) and kernel.nu != 2.5:
        return None
    if type(likelihood) not in (GaussianLikelihood, FixedNoiseGaussianLikelihood):
        return None
    if kernel.active_dims is not None or targets is None or targets.dim() != 1:
        return None
    return "rbf" if isinstance(kernel, RBFKernel) else "matern"


def log_likelihood(model: GPyTorchModel) -> float:
    """The marginal log likelihood per point of the model's training data, priors included
    (what a fit maximises); leaves the model in training mode."""
    model.train()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    inputs: tuple[torch.Tensor, ...] = model.train_inputs  # type: ignore[assignment]
    with torch.no_grad():
        return float(mll(model(*inputs), model.train_targets).sum())


def _refit_due(observed: int, fitted_on: int) -> bool:
    if observed <= REFIT_EVERY_UP_TO:
        return observed != fitted_on
    return observed > fitted_on * (1 + REFIT_GROWTH)


def _model(
    encoding: Encoding,
    X: torch.Tensor,
    Y: torch.Tensor,
    Yvar: torch.Tensor | None,
    kernel: Kernel,
) -> GPyTorchModel:
    """An unfitted SingleTaskGP on ``X: (n, d)``, ``Y: (n, 1)`` and ``Yvar: (n, 1)``
    (None: a noise level is learned). With categorical parameters its kernel sees
    ``d - c + sum(k_i)`` columns: each of the ``c`` categorical indices one-hot over its
    ``k_i`` categories."""
    kwargs: dict[str, Any] = {"outcome_transform": Standardize(m=1)}
    kernel_dims = encoding.dim
    if Yvar is not None:
        kwargs["train_Yvar"] = Yvar
    if encoding.cat_dims:
        # Categories reach the kernel one-hot, each with a lengthscale of its own: the model
        # learns which categories behave alike and how each shifts the other parameters'
        # optimum (docs/decisions.md: Categories one-hot inside the GP, a lengthscale
        # each). The optimizers keep the index, so a candidate is always one category.
        sizes = {d: len(values) for d, values in encoding.cat_dims.items()}
        encode: InputTransform = NumericToCategoricalEncoding(
            dim=encoding.dim,
            categorical_features=sizes,
            encoders={d: category_encoder(encoding, d) for d in sizes},
        )
        # Conditionals are categories too; before the one-hot, inactive parameters'
        # columns become constants (engine/botorch/conditional.py).
        inactive = inactive_to_constant(encoding)
        if inactive is not None:
            encode = ChainedInputTransform(inactive=inactive, one_hot=encode)
        kwargs["input_transform"] = encode
        kernel_dims += sum(sizes.values()) - len(sizes)
    # BoTorch's dimension-scaled lengthscale prior, whichever the kernel.
    kwargs["covar_module"] = get_covar_module_with_dim_scaled_prior(
        ard_num_dims=kernel_dims, use_rbf_kernel=kernel == "rbf"
    )
    with warnings.catch_warnings():
        # Inputs are already scaled to the unit cube (categorical indices excepted).
        warnings.simplefilter("ignore", InputDataWarning)
        return SingleTaskGP(X, Y, **kwargs)


def representative_rows(Y: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` row indices of ``Y: (n, 1)`` (``n > count``), as a sorted ``(count,)``
    long tensor: the best quarter by value (larger is better) and an even spread over the
    others in their original order."""
    order = torch.argsort(Y.reshape(-1), descending=True, stable=True)
    best = order[: count // 4]
    rest = torch.sort(order[count // 4 :]).values
    spread = rest[torch.linspace(0, len(rest) - 1, count - len(best)).round().long()]
    return torch.sort(torch.cat([best, spread])).values


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
    """One GP per outcome (each on its own points): a model with ``m = len(outcomes)``
    outputs in that order, whose posterior at ``X: (*batch, q, d)`` has mean
    ``(*batch, q, m)``."""
    return ModelListGP(*[fit_outcome(encoding, outcome, warm) for outcome in outcomes])
