"""WGAN-GP and feature matching: the losses of AEGAN-AD (paper 000, Sec. 3.3, equations (5) and (6)).

AITHU's AEGAN-AD trains, for gearbox and slider, a critic ``D`` against the
autoencoder ``G`` (the generator):

- critic, eq. (5), WGAN-GP (Gulrajani et al. 2017)::

      L_D = E[D(G(x))] - E[D(x)] + lambda * E_{x~ ~ P_x~}[(||grad_x~ D(x~)||_2 - 1)^2]

  :func:`wgan_critic_loss` (the first two terms) + :func:`gradient_penalty`
  (the last; ``x~ = a x + (1 - a) G(x)``, ``a ~ U(0, 1)`` per sample, lambda = 10);
- generator, eq. (6)::

      L_G = E[||x - G(x)||_2^2] + mu * ||E[f(x)] - E[f(G(x))]||_2^2

  :func:`aegan_generator_loss` = MSE + ``mu`` x :func:`feature_matching` (mu = 0.1),
  ``f`` = the output of D's last convolution (:meth:`asdlib.models.AEGANDiscriminator.features`).

Reductions follow the AEGAN-AD code (``jianganbai/AEGAN-AD``, ``dcase22/train.py``),
which the paper's ``mu = 0.1`` was tuned with: the MSE is ``F.mse_loss`` (a mean
over elements, not the per-sample sum of eq. (6)) and the feature matching is
``F.mse_loss`` of the batch-mean features (a mean over the ``F`` features, i.e. eq.
(6)'s squared norm divided by ``F``); ``reduction="sum"`` gives the paper's norm.
All losses are computed in float32 (inputs are cast up), so they are safe under
bf16 autocast. :func:`wgan_generator_loss` (``-E[D(G(z))]``, the plain WGAN
generator loss) is here for completeness; AEGAN-AD's generator does not use it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

FM_REDUCTIONS = ("mean", "sum")


def _critic_values(out: Tensor | tuple) -> Tensor:
    """The critic values of a critic's output: the tensor itself or the first item of a tuple."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, Tensor):
        raise TypeError(f"the critic must return a tensor (or a tuple starting with one), got {type(out).__name__}")
    return out


def gradient_penalty(
    critic: Callable[[Tensor], Tensor | tuple],
    real: Tensor,
    fake: Tensor,
    lambda_: float = 10.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP's penalty (Gulrajani et al. 2017, Algorithm 1; the last term of eq. (5)).

    ``x~ = a * real + (1 - a) * fake`` with one ``a ~ U(0, 1)`` per sample (drawn
    with ``generator`` on the inputs' device when given); the penalty is
    ``lambda_ * mean_b (||grad_{x~} D(x~)_b||_2 - 1)^2``, the gradient norm taken
    over all non-batch dimensions of each sample. The graph is kept
    (``create_graph=True``) so that the penalty's gradient reaches the critic's
    parameters. ``fake`` is detached (the penalty trains the critic only).

    Args:
        critic: ``critic(x)`` -> values ``(B,)`` or ``(B, 1)``, or a tuple whose first
            item they are (:class:`~asdlib.models.AEGANDiscriminator` returns
            ``(values, features)``).
        real, fake: ``(B, ...)`` batches of the same shape.
        lambda_: the penalty weight (10 in WGAN-GP and AEGAN-AD).
        generator: a :class:`torch.Generator` on the inputs' device for ``a``.

    Returns:
        a scalar float32 tensor.

    For a linear critic ``f(x) = w . x`` the input gradient is ``w`` everywhere, so the
    penalty is exactly ``lambda_ * (||w|| - 1)^2`` whatever ``a`` is.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    if real.ndim < 1 or real.shape[0] == 0:
        raise ValueError(f"gradient_penalty: need a non-empty batch, got shape {tuple(real.shape)}")
    real = real.detach().float()
    fake = fake.detach().float()
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    mixed = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    values = _critic_values(critic(mixed)).float()
    (grad,) = torch.autograd.grad(values.sum(), mixed, create_graph=True)
    norms = grad.reshape(grad.shape[0], -1).norm(2, dim=1)
    return float(lambda_) * (norms - 1.0).pow(2).mean()


def wgan_critic_loss(critic_real: Tensor, critic_fake: Tensor) -> Tensor:
    """``E[D(fake)] - E[D(real)]`` (eq. (5) without the penalty); the critic minimises it.

    Its negative is the critic's estimate of the Wasserstein-1 distance.
    """
    return critic_fake.float().mean() - critic_real.float().mean()


def wgan_generator_loss(critic_fake: Tensor) -> Tensor:
    """``-E[D(fake)]``, the plain WGAN generator loss (not used by AEGAN-AD's generator)."""
    return -critic_fake.float().mean()


def feature_matching(
    critic_features_real: Tensor, critic_features_fake: Tensor, reduction: str = "mean"
) -> Tensor:
    """Feature matching (Salimans et al. 2016), the second term of eq. (6) without ``mu``.

    ``|| mean_b f(x) - mean_b f(G(x)) ||^2`` over the ``(B, F)`` critic features (any
    trailing shape is flattened). ``reduction="mean"`` divides by the number of
    features (the AEGAN-AD code's ``F.mse_loss`` of the means, the default),
    ``"sum"`` is the paper's squared L2 norm.
    """
    if critic_features_real.shape[1:] != critic_features_fake.shape[1:]:
        raise ValueError(
            f"feature_matching: feature shapes differ, {tuple(critic_features_real.shape)} vs "
            f"{tuple(critic_features_fake.shape)}"
        )
    if reduction not in FM_REDUCTIONS:
        raise ValueError(f"feature_matching: reduction={reduction!r} must be one of {FM_REDUCTIONS}")
    real = critic_features_real.float().reshape(critic_features_real.shape[0], -1).mean(dim=0)
    fake = critic_features_fake.float().reshape(critic_features_fake.shape[0], -1).mean(dim=0)
    sq = (real - fake).pow(2)
    return sq.mean() if reduction == "mean" else sq.sum()


def aegan_generator_loss(
    x: Tensor,
    x_hat: Tensor,
    critic_features_real: Tensor | None = None,
    critic_features_fake: Tensor | None = None,
    mu: float = 0.1,
    reduction: str = "mean",
) -> dict[str, Tensor]:
    """AEGAN-AD's generator loss, eq. (6): ``MSE(x_hat, x) + mu * feature_matching``.

    Without critic features (the autoencoder trained alone, as for the machine types
    other than gearbox and slider) it is the MSE alone.

    Returns:
        ``{"total", "mse", "fm"}`` (``fm`` is 0 without features; unweighted).
    """
    if x.shape != x_hat.shape:
        raise ValueError(f"aegan_generator_loss: x {tuple(x.shape)} and x_hat {tuple(x_hat.shape)} differ")
    mse = F.mse_loss(x_hat.float(), x.float())
    if critic_features_real is None or critic_features_fake is None:
        if (critic_features_real is None) != (critic_features_fake is None):
            raise ValueError("aegan_generator_loss: give both critic feature batches or neither")
        fm = mse.new_zeros(())
    else:
        fm = feature_matching(critic_features_real, critic_features_fake, reduction)
    return {"total": mse + float(mu) * fm, "mse": mse, "fm": fm}


__all__ = [
    "FM_REDUCTIONS",
    "aegan_generator_loss",
    "feature_matching",
    "gradient_penalty",
    "wgan_critic_loss",
    "wgan_generator_loss",
]
