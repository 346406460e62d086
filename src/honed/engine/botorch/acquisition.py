"""qLogNEI for one objective modelled by one GP, with the posterior at new points written out.

BoTorch's qLogNoisyExpectedImprovement asks GPyTorch for the joint posterior of the
baseline and the new points at every evaluation, through lazy operators whose Python costs
several times the arithmetic at these sizes. It only needs the new points' mean, their
covariance, and their covariance with the baseline: a few tensor operations against the
training Cholesky, which is computed once per acquisition function.

A GP with an input transform (the one-hot of categorical parameters, and before it the
constants of inactive conditional parameters: ``model._model``) gets it as BoTorch's
posterior applies it in eval mode: the training inputs are stored transformed, and new,
baseline and pending points pass through the transform module, gradients included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.models.transforms.input import InputTransform
from botorch.models.transforms.outcome import Standardize
from linear_operator.utils.cholesky import psd_safe_cholesky
from linear_operator.utils.errors import NotPSDError
from torch import Tensor

from honed.engine.botorch.model import written_out_kernel


@dataclass(frozen=True)
class _Posterior:
    """A GP's posterior over f, in the outcome's own units, from its training data: the
    GP's kernel (Matérn-5/2 or RBF with one lengthscale per input, no output scale), a
    constant mean, Standardize's untransform and the GP's input transform, if any.
    ``inputs`` maps points ``(*batch, q, d)`` to the kernel's ``(*batch, q, D)``; the other
    methods take its output."""

    #: ``(n, D)`` training inputs as the kernel sees them, divided by the lengthscales.
    scaled_train: Tensor
    #: ``(D,)``.
    lengthscale: Tensor
    rbf: bool
    #: ``(n, n)`` lower Cholesky factor of the training covariance with its noise.
    train_cholesky: Tensor
    #: ``(n,)``: (K + noise)^-1 (y - constant), in standardized units.
    weights: Tensor
    constant: float
    #: Standardize's mean and standard deviation of the outcome.
    offset: float
    scale: float
    #: The GP's input transform, ``(*batch, q, d) -> (*batch, q, D)``; None: none.
    transform: InputTransform | None

    @classmethod
    def of(cls, gp: torch.nn.Module) -> _Posterior | None:
        """None for a GP this does not cover (BoTorch's own posterior serves it)."""
        kind = written_out_kernel(gp)
        transform: Any = getattr(gp, "outcome_transform", None)
        if kind is None or type(transform) is not Standardize or transform._m != 1:
            return None
        input_transform: Any = getattr(gp, "input_transform", None)
        if input_transform is not None:
            # One-to-many transforms (n_w draws per point) change the posterior's shape.
            if not isinstance(input_transform, InputTransform) or input_transform.is_one_to_many:
                return None
            # BoTorch's posterior puts the GP in eval mode first (the acquisition's
            # constructor calls it next): then ``train_inputs`` hold the training points
            # through ``preprocess_transform``, while in train mode they are the raw ones.
            gp.eval()
            if not getattr(gp, "_has_transformed_inputs", False):
                return None
        kernel: Any = gp.covar_module
        mean: Any = gp.mean_module
        likelihood: Any = gp.likelihood
        inputs: Any = gp.train_inputs
        targets: Any = gp.train_targets
        if len(inputs) != 1 or inputs[0].dim() != 2:
            return None
        with torch.no_grad():
            train = inputs[0]
            lengthscale = kernel.lengthscale.detach().reshape(-1)
            scaled = train / lengthscale
            rbf = kind == "rbf"
            covariance = _kernel(scaled, scaled, rbf)
            noise = likelihood.noise.detach().reshape(-1)
            covariance = covariance + torch.diag_embed(noise.expand(train.shape[0]))
            cholesky = psd_safe_cholesky(covariance)
            constant = float(mean.constant.detach())
            residual = (targets.detach() - constant).unsqueeze(-1)
            weights = torch.cholesky_solve(residual, cholesky).squeeze(-1)
        return cls(
            scaled,
            lengthscale,
            rbf,
            cholesky,
            weights,
            constant,
            float(transform.means.reshape(())),
            float(transform.stdvs.reshape(())),
            input_transform,
        )

    def inputs(self, X: Tensor) -> Tensor:
        """``X: (*batch, q, d)`` as the kernel sees it, ``(*batch, q, D)``: through the
        input transform module as ``Model.transform_inputs`` does it (in eval mode: only
        with ``transform_on_eval``; autograd follows it). The transforms are pointwise, so
        rows can be transformed apart."""
        return X if self.transform is None else self.transform(X)

    @property
    def current(self) -> bool:
        """Whether ``inputs`` transforms as BoTorch's posterior would now: that sets the GP
        in eval mode first, and a transform in train mode follows ``transform_on_train``."""
        return self.transform is None or not self.transform.training

    def whiten(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """For ``X: (*batch, q, D)`` (``inputs``' output): the prior mean part
        ``(*batch, q)`` of the posterior mean and ``L^-1 k(train, X): (*batch, n, q)``,
        from which the posterior covariances follow."""
        cross = _kernel(X / self.lengthscale, self.scaled_train, self.rbf)  # (*batch, q, n)
        mean = self.constant + cross @ self.weights
        # One solve with every point as a column: a batched solve copies the (n, n) factor
        # once per batch element.
        n = cross.shape[-1]
        columns = torch.linalg.solve_triangular(
            self.train_cholesky, cross.reshape(-1, n).transpose(0, 1), upper=False
        )  # (n, batch * q)
        whitened = columns.transpose(0, 1).reshape(cross.shape).transpose(-1, -2)
        return mean, whitened

    def covariance(self, A: Tensor, whitened_A: Tensor, B: Tensor, whitened_B: Tensor) -> Tensor:
        """The posterior covariance of f between ``A: (*batch, p, D)`` and
        ``B: (*batch, r, D)`` (``inputs``' output), ``(*batch, p, r)``, in the outcome's
        units."""
        prior = _kernel(A / self.lengthscale, B / self.lengthscale, self.rbf)
        return (prior - whitened_A.transpose(-1, -2) @ whitened_B) * self.scale**2


def _kernel(A: Tensor, B: Tensor, rbf: bool) -> Tensor:
    """``(*batch, p, r)`` kernel values between ``A: (*batch, p, d)`` and
    ``B: (*batch, r, d)``, inputs already divided by the lengthscales."""
    squared = (A.unsqueeze(-2) - B.unsqueeze(-3)).pow(2).sum(-1)
    if rbf:
        return torch.exp(-0.5 * squared)
    # As GPyTorch: a floor under the squared distance keeps the gradient of its root finite.
    root5 = math.sqrt(5) * squared.clamp_min(1e-30).sqrt()
    return (1 + root5 + root5.pow(2) / 3) * torch.exp(-root5)


class DirectLogNEI(qLogNoisyExpectedImprovement):
    """BoTorch's qLogNEI (the same pruned baseline, cached baseline Cholesky, base samples
    and smoothing), with the new points' samples computed by ``_Posterior``. Build it with
    ``direct_log_nei``."""

    def __init__(self, model: ModelListGP, posterior: _Posterior, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self._direct = posterior
        #: The baseline, its inputs (transformed) and ``L^-1 k(train, baseline)`` for it: a
        #: new baseline (pending points join it) needs a new one.
        self._whitened_baseline: tuple[Tensor, Tensor, Tensor] | None = None
        #: ``X_pending: (p, d)``, its inputs ``(p, D)``, its prior mean part ``(p,)`` and
        #: ``L^-1 k(train, X_pending): (n, p)``: the same for every evaluation until the
        #: pending points change, and with many of them most of the work of one.
        self._whitened_pending: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
        # Reductions of the values ``(S, *batch, q)`` as BoTorch's, in fewer operations:
        # they were two fifths of an evaluation of a lone point.
        self._q_reduction = partial(_reduce_q, self._q_reduction)
        self._sample_reduction = partial(
            _log_mean, self._sample_reduction, tuple(range(len(self.sample_shape)))
        )

    def _get_samples_and_objectives(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """``samples: (S, *batch, q, 1)`` and ``obj: (S, *batch, q)`` at ``X: (*batch,
        q, d)``, as BoTorch's cached-root path computes them."""
        q = X.shape[-2]
        baseline = self.X_baseline
        points = baseline.shape[-2] + q
        base_samples = self._base_samples(q, points)
        if base_samples is None and self._cache_root and baseline.dim() == 2:
            # BoTorch's path sets the sampler up for q new points (first call per q). One
            # point of the batch does it: its joint posterior of the whole batch with the
            # baseline is slow (docs/decisions.md: Proposal speed: LAPACK called directly in
            # the fit; the sampler set up on one point).
            super()._get_samples_and_objectives(X.reshape(-1, q, X.shape[-1])[:1])
            base_samples = self._base_samples(q, points)
        if (
            not self._cache_root
            or not hasattr(self, "_baseline_L")
            or base_samples is None
            or baseline.dim() != 2
            or not self._direct.current
        ):
            return super()._get_samples_and_objectives(X)
        posterior = self._direct
        if self._whitened_baseline is None or self._whitened_baseline[0] is not baseline:
            with torch.no_grad():
                baseline_inputs = posterior.inputs(baseline)
                self._whitened_baseline = (
                    baseline,
                    baseline_inputs,
                    posterior.whiten(baseline_inputs)[1],
                )
        _, baseline_inputs, whitened_baseline = self._whitened_baseline
        inputs, prior_mean, whitened = self._whiten(X)
        mean = posterior.offset + posterior.scale * prior_mean
        # The q new rows of the joint covariance, then of its Cholesky factor (the
        # baseline's rows are cached), as botorch.utils.low_rank.sample_cached_cholesky.
        bottom_left = posterior.covariance(inputs, whitened, baseline_inputs, whitened_baseline)
        bottom_right = posterior.covariance(inputs, whitened, inputs, whitened)
        left = torch.linalg.solve_triangular(
            self._baseline_L, bottom_left.transpose(-1, -2), upper=False
        ).transpose(-1, -2)
        try:
            right = psd_safe_cholesky(bottom_right - left @ left.transpose(-1, -2))
        except NotPSDError:
            # BoTorch's path warns and samples without the cached root.
            return super()._get_samples_and_objectives(X)
        rows = torch.cat([left, right], dim=-1)
        # Laid out as (S, n + q) whatever the sampler's shape (one output).
        z = base_samples.reshape(*self.sample_shape, points)
        # (S, n + q) x (*batch, q, n + q) -> (S, *batch, q)
        draws = torch.einsum("sk,...qk->s...q", z, rows) + mean
        samples = draws.unsqueeze(-1)
        if not torch.isfinite(samples).all():
            return super()._get_samples_and_objectives(X)
        return samples, self.objective(samples, X=X)

    def _base_samples(self, q: int, points: int) -> Tensor | None:
        """The sampler's base samples if they are set up for the baseline and q new points
        (``points`` = n + q, n baseline points): ``S * points`` values in the sampler's own
        layout (``S``: the MC sample shape's size), which the caller reads as
        ``(S, points)``; else None."""
        base_samples: Tensor | None = getattr(self.sampler, "base_samples", None)
        if (
            self.q_in != q
            or base_samples is None
            or base_samples.numel() != self.sample_shape.numel() * points
        ):
            return None
        return base_samples

    def _whiten(self, X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``X: (*batch, q, d)``'s inputs ``(*batch, q, D)`` and ``posterior.whiten`` of
        them; its last rows are the pending points (BoTorch appends them): only the new
        rows are computed."""
        posterior = self._direct
        pending = self.X_pending
        new_rows = X.shape[-2] - (0 if pending is None else pending.shape[-2])
        if pending is None or pending.dim() != 2 or new_rows < 1:
            inputs = posterior.inputs(X)
            return (inputs, *posterior.whiten(inputs))
        if self._whitened_pending is None or self._whitened_pending[0] is not pending:
            with torch.no_grad():
                pending_inputs = posterior.inputs(pending)
                self._whitened_pending = (
                    pending,
                    pending_inputs,
                    *posterior.whiten(pending_inputs),
                )
        _, pending_inputs, pending_mean, pending_whitened = self._whitened_pending
        inputs = posterior.inputs(X[..., :new_rows, :])
        mean, whitened = posterior.whiten(inputs)
        batch = mean.shape[:-1]
        return (
            torch.cat([inputs, pending_inputs.expand(*batch, -1, -1)], dim=-2),
            torch.cat([mean, pending_mean.expand(*batch, -1)], dim=-1),
            torch.cat([whitened, pending_whitened.expand(*batch, -1, -1)], dim=-1),
        )


def _reduce_q(reduce: Callable[[Tensor], Tensor], values: Tensor) -> Tensor:
    """``reduce`` (BoTorch's smooth maximum over q, the last dimension) of ``values``: for
    one point its value itself (and a gradient of 1), without the infinity-safe form."""
    return values.squeeze(-1) if values.shape[-1] == 1 else reduce(values)


def _log_mean(reduce: Callable[[Tensor], Tensor], dims: tuple[int, ...], values: Tensor) -> Tensor:
    """``reduce`` (BoTorch's log of the mean of the exponentials over the sample
    dimensions ``dims``) of ``values``: with torch's logsumexp when every value is finite;
    BoTorch's infinity-safe form (a defined gradient at infinities) only when one is not."""
    if not torch.isfinite(values).all():
        return reduce(values)
    count = math.prod(values.shape[d] for d in dims)
    return torch.logsumexp(values, dim=dims) - math.log(count)


def direct_log_nei(model: ModelListGP, **kwargs: Any) -> qLogNoisyExpectedImprovement:
    """qLogNEI on ``model`` (keyword arguments as BoTorch's): a ``DirectLogNEI`` when its
    one outcome's GP is covered by ``_Posterior``, else BoTorch's own."""
    models = list(model.models)
    direct = _Posterior.of(models[0]) if len(models) == 1 else None
    if direct is None or kwargs.get("constraints"):
        return qLogNoisyExpectedImprovement(model, **kwargs)
    return DirectLogNEI(model, direct, **kwargs)
