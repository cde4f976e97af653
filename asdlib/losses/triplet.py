"""Batch-hard triplet loss (Hermans, Beyer and Leibe, "In defense of the triplet loss
for person re-identification", 2017), as used by USTC (paper 002, eq. 5, ref. [26]).

For every anchor ``a`` of a mini-batch, the *hardest positive* is the farthest
sample with the same label (other than ``a``) and the *hardest negative* the closest
sample with a different label::

    L = mean over valid anchors a of  [ m + max_{p: y_p = y_a, p != a} d(a, p)
                                          - min_{n: y_n != y_a} d(a, n) ]_+

An anchor is *valid* when the batch holds at least one positive and one negative for
it; the others are skipped (not counted in the mean). With no valid anchor the loss
is 0 (still connected to the graph, so ``backward`` works).

Distances: ``"euclidean"``, ``sqrt(|a - b|^2 + 1e-12)`` (Hermans et al. use the plain,
not squared, Euclidean distance; the ``1e-12`` inside the root is their reference
code's guard against the infinite gradient of ``sqrt`` at 0), or ``"cosine"``,
``1 - cos(a, b)``. The margin: USTC gives none; Hermans et al.'s reference code
defaults to the *soft* margin ``softplus(d_ap - d_an)`` (``margin="soft"`` here). The
default here is a hinge with ``m = 0.3``, the usual value in re-identification code
(e.g. Luo et al.'s "bag of tricks" baseline); it suits both distances on
normalised embeddings. Distances are computed in float32 (float64 stays float64)
with autocast disabled.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["batch_hard_triplet_loss", "pairwise_distances"]

EUCLIDEAN_EPS = 1e-12


def pairwise_distances(x: Tensor, distance: Literal["euclidean", "cosine"] = "euclidean") -> Tensor:
    """``(B, D)`` -> ``(B, B)`` distances: Euclidean ``sqrt(|a-b|^2 + 1e-12)`` or ``1 - cos``.

    The squared Euclidean distance is computed from the differences (not from the
    Gram matrix, whose cancellation loses precision for nearby points): ``B * B * D``
    memory, fine for training batches.
    """
    if distance == "euclidean":
        diff = x[:, None, :] - x[None, :, :]
        return (diff.square().sum(-1) + EUCLIDEAN_EPS).sqrt()
    if distance == "cosine":
        xn = F.normalize(x, dim=1)
        return 1.0 - xn @ xn.T
    raise ValueError(f"distance={distance!r} must be 'euclidean' or 'cosine'")


def batch_hard_triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float | Literal["soft"] = 0.3,
    distance: Literal["euclidean", "cosine"] = "euclidean",
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """Batch-hard triplet loss of ``embeddings`` ``(B, D)`` with integer ``labels`` ``(B,)``.

    Args:
        embeddings: the batch's embeddings.
        labels: their classes (sections, for USTC).
        margin: the hinge margin ``m >= 0``, or ``"soft"`` for ``softplus(d_ap - d_an)``.
        distance: ``"euclidean"`` or ``"cosine"`` (see the module).
        return_indices: also return the chosen indices.

    Returns:
        The mean loss over the valid anchors (a scalar); with ``return_indices``,
        ``(loss, positives, negatives)``: ``(B,)`` long tensors with the index of each
        anchor's hardest positive and hardest negative, ``-1`` where the anchor has
        none (such anchors are skipped). Ties go to the lowest index.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (B, D); got shape {tuple(embeddings.shape)}")
    if labels.ndim != 1 or len(labels) != len(embeddings) or labels.is_floating_point():
        raise ValueError(
            f"labels must be ({len(embeddings)},) integer codes; got shape {tuple(labels.shape)}, dtype {labels.dtype}"
        )
    soft = isinstance(margin, str)
    if soft and margin != "soft":
        raise ValueError(f"margin={margin!r} must be a non-negative number or 'soft'")
    if not soft and not margin >= 0:
        raise ValueError(f"margin={margin!r} must be a non-negative number or 'soft'")
    x = embeddings
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    with torch.autocast(device_type=x.device.type, enabled=False):
        d = pairwise_distances(x, distance)
        y = labels.to(x.device)
        same = y[:, None] == y[None, :]
        eye = torch.eye(len(y), dtype=torch.bool, device=x.device)
        pos_mask = same & ~eye
        neg_mask = ~same
        valid = pos_mask.any(1) & neg_mask.any(1)
        # hardest positive: the largest distance among positives; hardest negative: the smallest
        d_pos, i_pos = d.masked_fill(~pos_mask, float("-inf")).max(dim=1)
        d_neg, i_neg = d.masked_fill(~neg_mask, float("inf")).min(dim=1)
        if valid.any():
            gap = d_pos[valid] - d_neg[valid]
            losses = F.softplus(gap) if soft else F.relu(gap + float(margin))
            loss = losses.mean()
        else:
            loss = x.sum() * 0.0
    if not return_indices:
        return loss
    minus = torch.full_like(i_pos, -1)
    return loss, torch.where(pos_mask.any(1), i_pos, minus), torch.where(neg_mask.any(1), i_neg, minus)
