"""Gaussian-mixture negative log-likelihood of a predicted frame (AITHU IMDN, paper 000, Sec. 3.2).

The IMDN subsystem (:mod:`asdlib.models.imdn`) maps the context frames of a window
to the parameters of a mixture of ``C`` Gaussians with diagonal covariance and
equal weights, and is trained (and scores clips) with the negative log-likelihood
of the true centre frame ``x_p`` (``M`` mel bins) under that mixture.

How we read Eqs. (3) and (4)
----------------------------
Eq. (3) is the mixture density ``p(x_p | X) = sum_m p_m(x_p | X)``; the text adds
that "the component weights are selected the same value", so the weights are
``1/C`` (as printed, without weights, it would not integrate to one). Eq. (4) as
printed reads

    L = -log sum_{i=1..M} exp( sum_{m=1..C} log p_m(x_p | X) ),   "M is the number of Mel bins"

which taken literally sums log-densities over the *components* inside the
exponential and log-sum-exps over the *mel bins*: that is not the log of any
density (a product of the components, summed over bins). We read the two indices
as swapped:

    L = -log sum_{m=1..C} (1/C) exp( sum_{i=1..M} log N(x_{p,i}; mu_{m,i}, sigma_{m,i}^2) )

i.e. each component is a full diagonal Gaussian over the whole frame (the product
over mel bins, a sum of per-bin log-densities, sits *inside* the mixture sum) and
the outer log-sum-exp runs over the components. Reasons: (a) it is exactly
``-log`` of Eq. (3) with equal weights and diagonal covariance, which is what the
sentence after Eq. (4) claims the loss is equivalent to ("when the covariance
matrix of GMM is taken as diagonal matrix, this loss function is ... maximization
of the log likelihood"); (b) it is the standard mixture-density-network loss
written with the LSE trick the text names ("the LSE function"); (c) the printed
form has no probabilistic meaning. The other meaningful reading, a separate
``C``-component mixture per mel bin (``-sum_i log sum_m (1/C) N(x_{p,i}; ...)``,
components mixing independently in every bin) is available as ``per_bin=True``.

Both include every constant (``log C``, ``0.5 log 2 pi`` per bin), so the value is
a true NLL in nats of the frame (a density, so it can be negative).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)
REDUCTIONS = ("none", "mean", "sum")


def gaussian_mixture_nll(
    mu: Tensor,
    log_sigma_or_sigma: Tensor,
    target: Tensor,
    *,
    log_scale: bool = True,
    per_bin: bool = False,
    reduction: str = "none",
) -> Tensor:
    """NLL of ``target`` under an equal-weight mixture of diagonal Gaussians (Eqs. 3-4, see module doc).

    Args:
        mu: component means ``(..., C, M)`` (``C`` components, ``M`` mel bins).
        log_sigma_or_sigma: component standard deviations, same shape as ``mu``:
            their logarithm (``log_scale=True``, default; what the IMDN networks
            output) or the standard deviations themselves (``log_scale=False``,
            must be positive).
        target: the true frames ``(..., M)``; leading dims broadcast with ``mu``'s.
        log_scale: whether the second argument is ``log sigma`` (True) or ``sigma``.
        per_bin: False (default): each component is a diagonal Gaussian over the
            whole frame, ``-log (1/C) sum_m prod_i N(x_i; mu_mi, sigma_mi)``.
            True: an independent ``C``-component mixture in each bin,
            ``-sum_i log (1/C) sum_m N(x_i; mu_mi, sigma_mi)``.
        reduction: ``"none"`` (per-sample NLL, shape ``(...)``), ``"mean"`` or ``"sum"``.

    Computed in float32 (inputs cast up) with ``torch.logsumexp`` over the components.

    Returns:
        per-sample NLL ``(...)`` in nats, or its mean/sum (a scalar).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"gaussian_mixture_nll: reduction={reduction!r} must be one of {REDUCTIONS}")
    if mu.dim() < 2 or mu.shape != log_sigma_or_sigma.shape:
        raise ValueError(
            "gaussian_mixture_nll: mu and log_sigma_or_sigma must share a shape (..., C, M); got "
            f"{tuple(mu.shape)} and {tuple(log_sigma_or_sigma.shape)}"
        )
    if target.shape[-1] != mu.shape[-1]:
        raise ValueError(
            f"gaussian_mixture_nll: target (..., M={target.shape[-1]}) does not match mu (..., C, M={mu.shape[-1]})"
        )
    mu, target = mu.float(), target.float()
    scale = log_sigma_or_sigma.float()
    log_sigma = scale if log_scale else scale.log()
    n_components = mu.shape[-2]
    z = (target.unsqueeze(-2) - mu) * torch.exp(-log_sigma)
    log_pdf = -0.5 * z.square() - log_sigma - 0.5 * LOG_2PI  # (..., C, M): log N per component and bin
    if per_bin:
        nll = -(torch.logsumexp(log_pdf, dim=-2) - math.log(n_components)).sum(dim=-1)
    else:
        nll = -(torch.logsumexp(log_pdf.sum(dim=-1), dim=-1) - math.log(n_components))
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    return nll


__all__ = ["gaussian_mixture_nll"]
