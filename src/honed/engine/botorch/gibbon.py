"""GIBBON per unit cost that conditions on pending points, for one posterior per evaluation.

BoTorch 0.18's ``qMultiFidelityLowerBoundMaxValueEntropy`` drops the ``X_pending`` of its
constructor. Set afterwards, its diversity term (Moss et al. 2021: the log-determinant of
the correlation of a candidate's and the pending points' noisy observations) asks for two
more posteriors per evaluation, the pending points' own among them, the same every time.
It also mixes units: the cross-covariance comes from the GP's latent, standardized outputs
and inputs before the input transform (``model(X)`` in eval mode), the pending points'
covariance and the candidate's variance from the posterior in the metric's units, so the
term grew or vanished with the metric's scale.

``PendingGIBBON`` has the same value where those units agree (a test compares it with
BoTorch's, pending points set, on a model whose outcome transform is the identity), all
of it from one posterior in the metric's units: the pending points' noisy covariance and
its Cholesky factor are computed when they are set (once per batch point), and each
evaluation asks for one joint posterior of the candidate, its projection to the target
cost and the pending points, from which come the target's mean and variance, the
candidate's correlation with the target and its cross-covariance with the pending points.

Its best-value samples are drawn over the candidates, the training points and the pending
points it is built with (the open suggestions), all at the target cost, as BoTorch's
max-value acquisitions draw them from their pending points: what an open suggestion may
find counts. BoTorch's multi-fidelity GIBBON dropped those as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.cost_aware import CostAwareUtility
from botorch.acquisition.max_value_entropy_search import CLAMP_LB
from botorch.acquisition.max_value_entropy_search import qMultiFidelityLowerBoundMaxValueEntropy
from botorch.models.gp_regression_fidelity import SingleTaskMultiFidelityGP
from botorch.posteriors.gpytorch import GPyTorchPosterior
from botorch.utils.transforms import t_batch_mode_transform
from linear_operator.utils.cholesky import psd_safe_cholesky

# Pending points the acquisition conditions on, at most: each is a row of every joint
# posterior an evaluation asks for. The last are kept: the pending points it is built with
# (the open suggestions) are ordered by what their evaluations tell about the target's best
# value, the least first, and points set later (a batch's own) come after them.
MAX_PENDING = 64
# Points are evaluated in chunks of at most this many kernel values against the training
# points (points x their 2 + m rows x training points, 32 MiB of doubles), as the engine
# scores raw samples: 512 raw samples with 64 pending points at 2,000 observations would
# hold 540 MB at once.
CHUNK_VALUES = 2**22


class PendingGIBBON(qMultiFidelityLowerBoundMaxValueEntropy):
    """Multi-fidelity GIBBON with ``X_pending: (m, d)`` (at their own fidelities) kept.

    The GP's likelihood is homoskedastic: the observation noise is the same at every
    point, and is measured once.
    """

    def __init__(
        self,
        model: SingleTaskMultiFidelityGP,
        candidate_set: torch.Tensor,
        cost_aware_utility: CostAwareUtility,
        project: Callable[[torch.Tensor], torch.Tensor],
        X_pending: torch.Tensor | None = None,
    ) -> None:
        super().__init__(
            model,
            candidate_set=candidate_set,
            cost_aware_utility=cost_aware_utility,
            project=project,
        )
        probe = self.candidate_set[:1]
        with torch.no_grad():
            noisy = model.posterior(probe, observation_noise=True).variance
            latent = model.posterior(probe, observation_noise=False).variance
        self._noise = float((noisy - latent).reshape(()))
        self._training_points = model.train_inputs[0].shape[-2]
        if X_pending is not None and X_pending.shape[0] > 0:
            # The best value drawn with the pending points as candidates (see the module's
            # docstring). Every one, past MAX_PENDING too: each is a row of one marginal
            # posterior per batch, not of every evaluation's joint one.
            self._sample_max_values(num_samples=self.num_mv_samples, X_pending=X_pending)
            X_pending = self._by_information(X_pending)
        self.set_X_pending(X_pending)

    def set_X_pending(self, X_pending: torch.Tensor | None = None) -> None:
        """Conditions on ``X_pending: (m, d)``, its last MAX_PENDING past the limit."""
        if X_pending is not None and X_pending.shape[0] == 0:
            X_pending = None
        if X_pending is not None:
            X_pending = X_pending[-MAX_PENDING:]
        AcquisitionFunction.set_X_pending(self, X_pending)
        self._pending_root: torch.Tensor | None = None
        if self.X_pending is not None:
            with torch.no_grad():
                _, covariance = self._joint(self.X_pending, observation_noise=True)  # (m, m)
            # Detached: the likelihood's noise keeps a graph to its parameter even under
            # no_grad, which a constant of the acquisition must not.
            self._pending_root = psd_safe_cholesky(covariance.detach())

    @t_batch_mode_transform(expected_q=1)  # type: ignore[arg-type]
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``X: (b, 1, d)`` -> ``(b,)``: the information about the target's best value per
        unit cost, less what the pending points' evaluations will tell."""
        rows = 2 + (0 if self.X_pending is None else self.X_pending.shape[0])
        chunk = max(1, CHUNK_VALUES // (rows * self._training_points))
        if X.shape[0] <= chunk:
            return self._value(X)
        return torch.cat([self._value(part) for part in torch.split(X, chunk)])

    def _value(self, X: torch.Tensor) -> torch.Tensor:
        parts = [X, self.project(X)]
        if self.X_pending is not None:
            parts.append(self.X_pending.expand(*X.shape[:-2], *self.X_pending.shape))
        mean, covariance = self._joint(torch.cat(parts, dim=-2), observation_noise=False)
        # The candidate's observation, noise included.
        variance = (covariance[..., 0, 0] + self._noise).clamp_min(CLAMP_LB)
        gain = self._quality(mean, covariance, variance)
        if self._pending_root is not None:
            gain = gain + self._diversity(covariance[..., 0, 2:], variance)
        utility = self.cost_aware_utility(X=X, deltas=gain.unsqueeze(0), sampler=self.cost_sampler)
        value: torch.Tensor = utility.mean(dim=0)
        return value

    def _joint(
        self, X: torch.Tensor, observation_noise: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The posterior means ``(*batch, k)`` and covariance ``(*batch, k, k)`` of ``X: (*batch,
        k, d)`` in the metric's units."""
        posterior = self.model.posterior(X, observation_noise=observation_noise)
        assert isinstance(posterior, GPyTorchPosterior)  # a GP's
        covariance: torch.Tensor = posterior.distribution.covariance_matrix
        return posterior.mean[..., 0], covariance

    def _by_information(self, X: torch.Tensor) -> torch.Tensor:
        """``X: (m, d)`` ordered by what an evaluation of each tells about the target's best
        value (GIBBON's information, not per cost, with nothing pending), the least first.
        Dropped first past MAX_PENDING, those that tell little lie where new points are
        worth little too, so they change the choice least."""
        chunk = max(1, CHUNK_VALUES // (2 * self._training_points))
        gains = []
        with torch.no_grad():
            for part in torch.split(X, chunk):
                mean, covariance = self._joint(
                    torch.stack([part, self.project(part)], dim=-2), observation_noise=False
                )
                variance = (covariance[..., 0, 0] + self._noise).clamp_min(CLAMP_LB)
                gains.append(self._quality(mean, covariance, variance))
        return X[torch.sort(torch.cat(gains), stable=True).indices]

    def _quality(
        self, mean: torch.Tensor, covariance: torch.Tensor, variance: torch.Tensor
    ) -> torch.Tensor:
        """``(b,)``: GIBBON's information about the target's best value from one noisy
        observation, averaged over the best-value samples, as
        ``qLowerBoundMaxValueEntropy`` computes it; from the joint posterior ``mean: (b,
        k)``, ``covariance: (b, k, k)`` of a point and its projection to the target (its
        first two rows) and the point's noisy ``variance: (b,)``."""
        mean_target = self.weight * mean[..., 1]
        variance_target = covariance[..., 1, 1].clamp_min(CLAMP_LB)
        with_target = covariance[..., 0, 1]
        best = self.posterior_max_values.transpose(0, 1)  # (1, s)
        normalized = (best - mean_target.unsqueeze(-1)) / variance_target.sqrt().unsqueeze(-1)
        density = torch.exp(-0.5 * normalized.pow(2)) / math.sqrt(2 * math.pi)
        ratio = density / torch.special.ndtr(normalized).clamp_min(CLAMP_LB)
        correlation = with_target.pow(2) / (variance * variance_target)
        inner = 1 - correlation.unsqueeze(-1) * ratio * (normalized + ratio)
        gain: torch.Tensor = (-0.5 * inner.clamp_min(CLAMP_LB).log()).mean(dim=-1)
        return gain

    def _diversity(self, with_pending: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """``(b,)``: half the log of the share of the candidate's noisy variance that the
        pending points' observations leave unexplained (0 when uncorrelated), from its
        cross-covariance with them ``(b, m)``; clamped as BoTorch clamps it."""
        assert self._pending_root is not None
        whitened = torch.linalg.solve_triangular(
            self._pending_root, with_pending.unsqueeze(-1), upper=False
        )
        explained = whitened.pow(2).sum(dim=(-2, -1))
        eps = 1e-6 if explained.dtype == torch.float32 else 1e-12
        remaining = variance.clamp(explained * (1 + eps)) - explained
        diversity: torch.Tensor = 0.5 * (remaining.log() - variance.log())
        return diversity
