"""WSP-NFCDEE: weighted statistic pooling + an ensemble of conditional normalizing flows.

The fourth subsystem of the AITHU DCASE 2022 Task 2 report (paper 000, section 3.2),
built on the NF-CDEE of Lopez et al. (DCASE 2021, the report's reference [3]):

1. **WSP** (section 3.2, constraint (2)): a log-mel spectrogram ``X`` ``(M, T)`` is
   pooled over time into ``alpha * mean_t(X) + beta * std_t(X)``, ``(M,)``, with
   ``alpha + beta = 1`` and ``alpha, beta > 0`` trained (:class:`WeightedStatPooling`).
2. **NF-CDEE**: the ``M`` pooled mel bins are split into ``G`` contiguous groups; for
   each group a conditional flow (zuko MAF or NSF) models ``p(group | other bins)``.
   A clip's NLL is the **sum** over groups of ``-log p(group | rest)`` (a
   pseudo-likelihood; the mean is the sum / G, the same ranking and AUC)
   (:class:`NFCDEE`).
3. :class:`WSPNFCDEE` chains them (with a standardisation in between), trained per
   section on normal clips only by maximum likelihood (:func:`train_wsp_nfcdee`);
   the anomaly score is the NLL (:func:`score_wsp_nfcdee`, higher = more anomalous).

The report gives no flow architecture, group count or training schedule; the
defaults here (4 groups, 3 MAF transforms, 2 x 64 hidden units) are ours.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import zuko
from torch import Tensor, nn


def _float32_output(module: nn.Module, args: tuple, output: Tensor) -> Tensor:
    """Forward hook: a hyper-network's output (a flow transform's parameters) as float32."""
    return output.float()


def _check_log_mels(x: Tensor, n_mels: int | None = None) -> None:
    if x.ndim != 3:
        raise ValueError(f"log-mels must be (B, n_mels, T); got shape {tuple(x.shape)}")
    if n_mels is not None and x.shape[1] != n_mels:
        raise ValueError(f"log-mels have {x.shape[1]} mel bins (dim 1), the model expects n_mels={n_mels}")


def time_stats(log_mels: Tensor) -> Tensor:
    """Mean and (population) standard deviation over time: ``(B, M, T)`` -> ``(B, 2, M)``.

    ``[:, 0]`` is the mean vector ``y``, ``[:, 1]`` the std vector ``z`` of section 3.2.
    Neither depends on the pooling weights, so training computes them once per clip.
    """
    _check_log_mels(log_mels)
    std, mean = torch.std_mean(log_mels.float(), dim=-1, correction=0)
    return torch.stack([mean, std], dim=1)


class WeightedStatPooling(nn.Module):
    """Weighted statistic pooling (paper 000, section 3.2, constraint (2)).

    ``(B, M, T)`` log-mels -> ``alpha * mean_t + beta * std_t``, ``(B, M)``
    (:meth:`forward`); :meth:`combine` does the same from :func:`time_stats` ``(B, 2, M)``.

    One trainable logit parameterises both weights::

        alpha = eps + (1 - 2 eps) * sigmoid(logit),   beta = 1 - alpha

    so ``alpha + beta = 1`` and ``eps <= alpha, beta <= 1 - eps`` after any optimiser
    step, however large (a bare sigmoid rounds to exactly 0 or 1 in float32 once
    ``|logit| > ~17``, making a weight 0).

    **Fixed weights** (``trainable=False``): ``alpha`` is stored as given (a buffer, no
    logit, no floor) and may be anywhere in ``[0, 1]``, the ends included. ``alpha=1`` is
    plain time-mean pooling, the input of the NF-CDEE of Lopez et al. that WSP extends
    (:data:`NFCDEE_ALPHA`, the chapter's ablation "NF-CDEE"); ``alpha=0`` the time std
    alone. Constraint (2)'s ``alpha, beta > 0`` is then the caller's choice, not enforced.

    Args:
        alpha: ``alpha``: the initial value, in ``(eps, 1 - eps)``, when trainable; the
            fixed value, in ``[0, 1]``, when not. 0.5 weighs mean and std equally.
        eps: the floor of both trained weights (``0 < eps < 0.5``).
        trainable: ``False`` fixes ``alpha`` (no parameter; see above).
    """

    def __init__(self, alpha: float = 0.5, eps: float = 1e-3, trainable: bool = True) -> None:
        super().__init__()
        if not 0.0 < eps < 0.5:
            raise ValueError(f"eps={eps!r} must be in (0, 0.5)")
        self.eps = eps
        if not trainable:
            if not 0.0 <= alpha <= 1.0:
                raise ValueError(f"alpha={alpha!r}: a fixed alpha must be in [0, 1]")
            self.register_parameter("logit", None)
            self.register_buffer("fixed_alpha", torch.tensor(float(alpha)))
            return
        if not eps < alpha < 1.0 - eps:
            raise ValueError(f"alpha={alpha!r} must be in (eps, 1 - eps) = ({eps}, {1 - eps})")
        p = (alpha - eps) / (1.0 - 2.0 * eps)
        self.logit = nn.Parameter(torch.tensor(math.log(p / (1.0 - p))))

    @property
    def trainable(self) -> bool:
        """Whether ``alpha`` is trained (a logit parameter) or fixed (a buffer)."""
        return self.logit is not None

    @property
    def alpha(self) -> Tensor:
        """Weight of the time mean, a 0-d tensor: trained, in ``[eps, 1 - eps]`` (differentiable);
        fixed, the given value."""
        if self.logit is None:
            return self.fixed_alpha
        return self.eps + (1.0 - 2.0 * self.eps) * torch.sigmoid(self.logit)

    @property
    def beta(self) -> Tensor:
        """Weight of the time std, ``1 - alpha``, a 0-d tensor."""
        return 1.0 - self.alpha

    def combine(self, stats: Tensor) -> Tensor:
        """``(B, 2, M)`` ``[mean, std]`` (:func:`time_stats`) -> ``(B, M)`` pooled."""
        a = self.alpha
        return a * stats[:, 0] + (1.0 - a) * stats[:, 1]

    def forward(self, log_mels: Tensor) -> Tensor:
        """``(B, M, T)`` -> ``(B, M)``."""
        return self.combine(time_stats(log_mels))

    def extra_repr(self) -> str:
        return f"alpha={float(self.alpha.detach()):.4f}, eps={self.eps}, trainable={self.trainable}"


NFCDEE_ALPHA = 1.0
"""The fixed pooling of the ablation "NF-CDEE" (WSP-NFCDEE without WSP): the time mean alone.

The report builds WSP-NFCDEE on the NF-CDEE of its reference [3] (Lopez et al., DCASE 2021)
and says "the difference between the NFCDEE and the WSP-NFCDEE is that we add a Weighted
Statistic Pooling (WSP) layer before the normalizing flows". The flows model one vector per
clip; NF-CDEE's is the clip's log-mel spectrum averaged over time (the ``y`` of WSP; the
std ``z`` is what WSP adds), so without WSP ``alpha = 1, beta = 0``. [3]'s own text is not
among the project's papers: this follows the report's sentence and the chapter's reading of [3].
"""


def _group_slices(n_features: int, n_groups: int) -> list[slice]:
    """Contiguous groups, sizes as equal as possible (larger first), like ``np.array_split``."""
    size, extra = divmod(n_features, n_groups)
    starts = np.cumsum([0] + [size + (i < extra) for i in range(n_groups)])
    return [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


class NFCDEE(nn.Module):
    """Normalizing-flow conditional density estimation ensemble (Lopez et al., DCASE 2021).

    The ``n_features`` inputs are split into ``n_groups`` contiguous groups (sizes
    differ by at most one, larger groups first); group ``g`` gets its own zuko flow
    modelling ``p(x_g | x_rest)`` with the other ``n_features - |g|`` features as
    context (``n_groups=1``: one unconditional flow of the whole vector).

    Shapes: :meth:`group_log_prob` ``(B, n_features)`` -> ``(B, n_groups)``;
    :meth:`log_prob` -> ``(B,)`` the sum over groups; :meth:`nll` = ``-log_prob``;
    ``forward`` = :meth:`nll`. Feed roughly standardised features (NSF's splines act
    on ``[-5, 5]`` only).

    **Under bf16 autocast** the flows' hyper-networks (MADE) run in bf16, but their
    outputs, the transforms' parameters, are cast to float32 (a forward hook), so the
    transforms, their log-determinants and the base log-density are float32. Left in
    bf16 (CPU autocast, 128 bins, 4 groups, 3 transforms), the ensemble NLL of about
    190 nats moved by up to 0.16 nats from float32's; with the cast, by 0.02. Outside
    autocast the cast changes nothing.

    Args:
        n_features: input size ``M`` (mel bins).
        n_groups: number of groups ``G``, ``1 <= G <= M``.
        transforms: autoregressive transforms per flow.
        hidden: width of the two hidden layers of each transform's MADE.
        flow: ``"maf"`` (affine, :class:`zuko.flows.MAF`) or ``"nsf"``
            (rational-quadratic splines, :class:`zuko.flows.NSF`).
    """

    def __init__(
        self,
        n_features: int,
        n_groups: int = 4,
        transforms: int = 3,
        hidden: int = 64,
        flow: Literal["maf", "nsf"] = "maf",
    ) -> None:
        super().__init__()
        if not 1 <= n_groups <= n_features:
            raise ValueError(f"n_groups={n_groups!r} must be in [1, n_features={n_features}]")
        if flow not in ("maf", "nsf"):
            raise ValueError(f"flow={flow!r} must be 'maf' or 'nsf'")
        self.n_features, self.n_groups = n_features, n_groups
        self.groups = _group_slices(n_features, n_groups)
        make = zuko.flows.MAF if flow == "maf" else zuko.flows.NSF
        self.flows = nn.ModuleList(
            make(features=g.stop - g.start, context=n_features - (g.stop - g.start), transforms=transforms,
                 hidden_features=(hidden, hidden))
            for g in self.groups
        )
        # bf16 autocast: the transforms' parameters in float32 (see the class docstring). zuko keeps
        # each transform's conditioner network in ``hyper`` (MaskedMLP, or MLP for one-feature groups).
        for module in self.flows.modules():
            hyper = getattr(module, "hyper", None)
            if isinstance(hyper, nn.Module):
                hyper.register_forward_hook(_float32_output)

    def group_log_prob(self, x: Tensor) -> Tensor:
        """``log p(x_g | x_rest)`` of every group: ``(B, n_features)`` -> ``(B, n_groups)``."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must be (B, {self.n_features}); got shape {tuple(x.shape)}")
        out = []
        for g, flow in zip(self.groups, self.flows):  # a loop over the G groups, not over samples
            rest = torch.cat([x[:, : g.start], x[:, g.stop :]], dim=1)
            out.append(flow(rest if rest.shape[1] else None).log_prob(x[:, g]))
        return torch.stack(out, dim=1)

    def log_prob(self, x: Tensor) -> Tensor:
        """Ensemble log-likelihood: the sum over groups, ``(B, n_features)`` -> ``(B,)``."""
        return self.group_log_prob(x).sum(dim=1)

    def nll(self, x: Tensor) -> Tensor:
        """Ensemble NLL ``sum_g -log p(x_g | x_rest)``: ``(B, n_features)`` -> ``(B,)``."""
        return -self.log_prob(x)

    forward = nll


class WSPNFCDEE(nn.Module):
    """WSP-NFCDEE (paper 000, section 3.2): WSP -> standardisation -> NF-CDEE.

    ``(B, n_mels, T)`` log-mels -> pooled ``(B, n_mels)`` -> standardised
    (:meth:`features`) -> ensemble NLL ``(B,)`` (:meth:`nll`, ``forward``), the
    anomaly score. :meth:`features_stats` and :meth:`nll_stats` take :func:`time_stats`
    ``(B, 2, n_mels)`` instead (training precomputes those once).

    **Standardisation.** The pooled bins are in log-mel units (tens of dB), the flows
    want ~unit scale. With ``y`` and ``z`` the time mean and std, the pooled bin
    ``u = alpha y + beta z`` has, over the training clips, mean
    ``alpha E[y] + beta E[z]`` and variance
    ``alpha^2 Var[y] + beta^2 Var[z] + 2 alpha beta Cov[y, z]``. :meth:`fit_standardizer`
    stores these five per-bin moments of ``(y, z)`` as buffers (fitted once on the
    training clips before training; they do not depend on alpha, so refitting on the
    same clips changes nothing), and :meth:`features` standardises ``u`` with the
    mean and std implied at the *current* alpha, differentiably. Every bin then has
    mean 0 and variance 1 on the training clips whatever alpha is. A standardisation
    frozen at the initial alpha would not: moving alpha would rescale the flows'
    inputs, and the likelihood would reward the rescaling itself.

    **Caveat: likelihood-trained pooling weights can be degenerate.** Pooling is a
    non-invertible, alpha-dependent map, so the flows' densities for different alphas
    live in different spaces and are not comparable measures of fit. Without the
    standardisation maximum likelihood mostly shrinks the spread of ``u`` (it drifts
    to whichever statistic varies least across clips); with it that volume term is
    gone, but alpha still goes where the bins are most predictable from one another,
    which need not be where anomalies show. When ``y`` and ``z`` are nearly collinear
    the standardised features hardly depend on alpha and it barely moves. Pass
    ``train_alpha=False`` to keep alpha fixed (e.g. chosen on validation data).

    **NF-CDEE without WSP** (the ablation of the report's claim that WSP "improves the
    performance on most machine types"): ``alpha=NFCDEE_ALPHA, train_alpha=False`` pools
    the time mean alone (``beta = 0``, the std drops out exactly), everything else (the
    flows, their initial weights under the same seed, the standardisation, the training)
    as in WSP-NFCDEE. With ``standardize="each"`` the features are then the standardised
    time mean, the same as with ``"pooled"`` up to the ``var_eps`` terms.

    **Which statistic alpha weighs** (``standardize``). ``"pooled"`` (the default, the
    paper's pooling of the raw statistics): ``u = alpha y + beta z`` in log-mel units,
    then standardised as above. Where the time mean of a bin varies across a section's
    clips several times more than its time std, ``u`` is then almost the mean alone
    whatever alpha is near 0.5. ``"each"`` (ours) standardises ``y`` and ``z`` per bin
    first (with the same five training moments) and pools those,
    ``u = alpha y' + beta z'``, then standardises ``u`` at the current alpha as above
    (its variance is ``alpha^2 + beta^2 + 2 alpha beta rho``, ``rho`` the per-bin
    correlation of ``y`` and ``z``): alpha then weighs the two statistics' deviations
    in comparable units.

    Args:
        n_mels: mel bins ``M``.
        n_groups, transforms, hidden, flow: of the :class:`NFCDEE`.
        alpha: initial WSP weight of the mean (``beta = 1 - alpha``); with
            ``train_alpha=False`` the fixed weight, in ``[0, 1]`` (:class:`WeightedStatPooling`).
        train_alpha: train the WSP weights with the flows (the paper) or fix them.
        var_eps: added to the pooled variance before the square root (a bin constant
            over the training clips is not blown up); with ``standardize="each"`` also to
            the variances of ``y`` and ``z``.
        standardize: ``"pooled"`` (pool the raw statistics, then standardise) or
            ``"each"`` (standardise the mean and the std per bin, pool, standardise
            again); see above.
    """

    def __init__(
        self,
        n_mels: int,
        n_groups: int = 4,
        transforms: int = 3,
        hidden: int = 64,
        flow: Literal["maf", "nsf"] = "maf",
        alpha: float = 0.5,
        train_alpha: bool = True,
        var_eps: float = 1e-5,
        standardize: Literal["pooled", "each"] = "pooled",
    ) -> None:
        super().__init__()
        if standardize not in ("pooled", "each"):
            raise ValueError(f"standardize={standardize!r} must be 'pooled' or 'each'")
        self.n_mels, self.var_eps, self.standardize = n_mels, var_eps, standardize
        self.pool = WeightedStatPooling(alpha, trainable=train_alpha)
        self.flows = NFCDEE(n_mels, n_groups=n_groups, transforms=transforms, hidden=hidden, flow=flow)
        for name in ("mean_y", "mean_z", "var_y", "var_z", "cov_yz"):
            self.register_buffer(name, torch.zeros(n_mels))
        self.register_buffer("fitted", torch.tensor(False))

    @property
    def alpha(self) -> float:
        """The current WSP weight of the time mean, a float."""
        return float(self.pool.alpha.detach())

    @property
    def beta(self) -> float:
        """The current WSP weight of the time std, ``1 - alpha``, a float."""
        return float(self.pool.beta.detach())

    @torch.no_grad()
    def fit_standardizer(self, stats: Tensor) -> None:
        """Store the per-bin moments of ``(y, z)`` from training :func:`time_stats` ``(N, 2, M)``."""
        if stats.ndim != 3 or stats.shape[1:] != (2, self.n_mels) or len(stats) < 2:
            raise ValueError(f"stats must be (N >= 2, 2, {self.n_mels}); got shape {tuple(stats.shape)}")
        s = stats.to(self.mean_y.device, torch.float64)
        mean = s.mean(dim=0)
        c = s - mean
        self.mean_y.copy_(mean[0])
        self.mean_z.copy_(mean[1])
        self.var_y.copy_(c[:, 0].pow(2).mean(dim=0))
        self.var_z.copy_(c[:, 1].pow(2).mean(dim=0))
        self.cov_yz.copy_((c[:, 0] * c[:, 1]).mean(dim=0))
        self.fitted.fill_(True)

    def features_stats(self, stats: Tensor) -> Tensor:
        """``(B, 2, M)`` -> standardised pooled features ``(B, M)``."""
        if not bool(self.fitted):
            raise RuntimeError("call fit_standardizer(time_stats(train_log_mels)) first (train_wsp_nfcdee does)")
        a = self.pool.alpha
        b = 1.0 - a
        if self.standardize == "each":
            sd_y, sd_z = (self.var_y + self.var_eps).sqrt(), (self.var_z + self.var_eps).sqrt()
            stats = torch.stack([(stats[:, 0] - self.mean_y) / sd_y, (stats[:, 1] - self.mean_z) / sd_z], dim=1)
            var = a * a * self.var_y / sd_y**2 + b * b * self.var_z / sd_z**2 + 2.0 * a * b * self.cov_yz / (sd_y * sd_z)
            return self.pool.combine(stats) / (var.clamp_min(0.0) + self.var_eps).sqrt()
        mean = a * self.mean_y + b * self.mean_z
        var = a * a * self.var_y + b * b * self.var_z + 2.0 * a * b * self.cov_yz
        return (self.pool.combine(stats) - mean) / (var.clamp_min(0.0) + self.var_eps).sqrt()

    def nll_stats(self, stats: Tensor) -> Tensor:
        """``(B, 2, M)`` -> ensemble NLL ``(B,)``."""
        return self.flows.nll(self.features_stats(stats))

    def features(self, log_mels: Tensor) -> Tensor:
        """``(B, M, T)`` -> standardised pooled features ``(B, M)``."""
        _check_log_mels(log_mels, self.n_mels)
        return self.features_stats(time_stats(log_mels))

    def nll(self, log_mels: Tensor) -> Tensor:
        """``(B, M, T)`` -> ensemble NLL ``(B,)``, the anomaly score (higher = more anomalous)."""
        return self.flows.nll(self.features(log_mels))

    def log_prob(self, log_mels: Tensor) -> Tensor:
        """``(B, M, T)`` -> ``-nll`` ``(B,)``."""
        return -self.nll(log_mels)

    forward = nll


__all__ = ["NFCDEE", "NFCDEE_ALPHA", "WSPNFCDEE", "WeightedStatPooling", "time_stats"]
