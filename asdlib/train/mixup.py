"""Mixup on waveforms (Zhang et al., ICLR 2018), as in Wilkinghoff's code (paper 003).

The reference ``MixupLayer`` (``wilkinghoff/dcase2022``, used by ``icassp2023``)
draws **one lambda per sample**, ``lambda ~ U(0, 1)`` (Beta(1, 1)), mixes every
sample with the sample at the mirrored position of the batch (``tf.reverse`` on
axis 0, i.e. ``flip(0)``), and mixes always (``prob=1``). Mixing the raw waveform
(not the features) is exact here because the embedder computes its features from
the mixed waveform inside its forward pass.

Labels: the reference computes ``max(lam * y1, (1 - lam) * y2)`` element-wise, not
the sum. The two agree when the partners' classes differ; when they share a class
the reference's target is ``max(lam, 1 - lam) < 1`` (Keras' cross-entropy does not
renormalise it, so such a pair's loss is down-weighted). The default here is the
usual convex mixture (rows stay distributions); ``labels="max"`` reproduces the
reference.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mixup(
    waves: Tensor,
    targets: Tensor,
    generator: torch.Generator | None = None,
    *,
    labels: str = "sum",
) -> tuple[Tensor, Tensor, Tensor]:
    """Mix each sample with the reversed batch, one ``lambda ~ U(0, 1)`` per sample.

    Args:
        waves: ``(B, ...)`` inputs (waveforms ``(B, n_samples)``).
        targets: ``(B, C)`` soft labels (one-hot rows).
        generator: a :class:`torch.Generator` on ``waves``' device, or ``None`` for
            torch's global RNG of that device.
        labels: ``"sum"`` (``lam * y + (1 - lam) * y.flip(0)``) or ``"max"`` (the
            reference code's element-wise maximum; see the module docstring).

    Returns:
        ``(mixed_waves, mixed_targets, lam)``: ``mixed = lam * x + (1 - lam) * x.flip(0)``
        with ``lam`` of shape ``(B,)`` (float32) broadcast over the other axes; all on
        ``waves``' device. ``lam`` is drawn even for a batch of one (which then mixes
        with itself, as the reference does for the middle sample of an odd batch).
    """
    if not isinstance(waves, Tensor) or not isinstance(targets, Tensor):
        raise TypeError("mixup: waves and targets must be torch tensors")
    if targets.ndim != 2 or not targets.is_floating_point():
        raise ValueError(
            f"mixup: targets must be float soft labels (B, C); got shape {tuple(targets.shape)}, dtype "
            f"{targets.dtype} (make one-hot rows with F.one_hot(codes, n_classes).float())"
        )
    if waves.ndim < 1 or waves.shape[0] != targets.shape[0]:
        raise ValueError(f"mixup: waves {tuple(waves.shape)} and targets {tuple(targets.shape)} differ in batch size")
    if labels not in ("sum", "max"):
        raise ValueError(f"mixup: labels={labels!r} must be 'sum' or 'max'")
    b = waves.shape[0]
    lam = torch.rand(b, generator=generator, device=waves.device, dtype=torch.float32)
    lx = lam.view(b, *([1] * (waves.ndim - 1)))
    if waves.is_floating_point():
        lx = lx.to(waves.dtype)
    mixed = lx * waves + (1 - lx) * waves.flip(0)
    targets = targets.to(waves.device)
    ly = lam.to(targets.dtype).view(b, 1)
    if labels == "sum":
        mixed_targets = ly * targets + (1 - ly) * targets.flip(0)
    else:
        mixed_targets = torch.maximum(ly * targets, (1 - ly) * targets.flip(0))
    return mixed, mixed_targets, lam


__all__ = ["mixup"]
