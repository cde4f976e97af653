"""AdaCos and sub-cluster AdaCos: cosine-softmax losses with an adaptive scale.

- AdaCos: Zhang et al., "AdaCos: Adaptively scaling cosine logits for effectively
  learning deep face representations", CVPR 2019 (paper 003's reference [6]).
- Sub-cluster AdaCos: Wilkinghoff, IJCNN 2021 (reference [7]); used with 16
  sub-clusters per class and fixed random centres in paper 003 (Sec. 2.2).

Each class ``c`` has ``K`` unit-norm centres ``w_ck``; for an embedding ``x`` the
cosines are ``cos_ck = <x/|x|, w_ck>``. A class's logit is the log-sum-exp of its
scaled sub-cluster cosines, ``l_c = log sum_k exp(s * cos_ck)``, and the loss is the
cross-entropy of ``softmax(l)`` against soft targets (one-hot or mixup mixtures).
This is exactly the reference code's "softmax over all ``C * K`` sub-clusters,
then sum the probabilities of each class's sub-clusters". With ``K = 1`` it is AdaCos.

**The adaptive scale** starts at ``s0 = sqrt(2) * ln(C*K - 1)`` and, in training
mode, is recomputed from every batch before that batch's loss (AdaCos, Eq. 16),
without gradient::

    B_avg   = mean_i  sum_{non-target sub-clusters j of sample i} exp(s_old * cos_ij)
    theta_i = sum_c y_ic * arccos(max_k cos_ick)       (mixup-weighted target angle,
                                                        nearest sub-cluster per class)
    s_new   = ln(B_avg) / cos(min(pi/4, median_i theta_i))

A sub-cluster is "non-target" for a sample when its class has target weight 0
(both classes of a mixup pair are targets). The median is torch's lower median.

**Why it needs a guard.** ``s_new`` feeds back into the next update. The reference
code (``SCAdaCos``) sums ``exp(s * cos)`` over *all* sub-clusters, target ones
included, so ``ln B_avg >= s * cos(theta_target)``; its target angle is summed over
the 16 sub-clusters, so ``min(pi/4, .)`` is pi/4 in practice; then once embeddings
sit near their centres (small target angle) ``s_new >= s * cos(theta) / cos(pi/4)``,
about ``1.41 s`` per batch: the scale grows geometrically to inf and the loss to
NaN. The AdaCos rule above (non-target logits only) removes that mechanism, but the
same growth happens whenever embeddings sit closer to non-target centres than
``cos(min(pi/4, theta_med)) >= 0.71``, ``ln B_avg`` is negative (few classes,
negative non-target cosines: ``s_new < 0`` flips the loss), and ``B_avg`` is empty
when every class of the batch is a target. The guard:

1. ``ln B_avg`` is computed as a log-sum-exp, so ``B_avg`` neither underflows to 0
   (``ln 0 = -inf``) nor overflows, whatever ``s`` is;
2. a non-finite ``s_new`` (empty non-target set, NaN inputs) is ignored: the scale
   keeps its previous value;
3. ``s_new`` is clamped to ``[min_scale, max_scale]`` (default ``[1, 64]``; 64 is
   the largest fixed scale in common use, ArcFace/CosFace's). ``s0`` is clamped
   the same way (``C*K <= 2`` gives ``s0 <= 0``).

The update runs on the device without a host sync (``torch.where``), in float32
with autocast disabled, like the rest of the loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SubClusterAdaCos(nn.Module):
    """Sub-cluster AdaCos loss head (Wilkinghoff 2021; paper 003 Sec. 2.2).

    Args:
        emb_dim: embedding size ``D``.
        n_classes: number of classes ``C``.
        n_subclusters: centres per class ``K`` (16 in paper 003).
        trainable_centres: learn the centres (an ``nn.Parameter``); the paper keeps
            them fixed at their random initialisation (then they are a buffer, saved
            in the ``state_dict`` but never seen by an optimizer).
        max_scale: upper clamp of the adaptive scale (see the module docstring).
        seed: seed of the centres' random initialisation (``None``: torch's global RNG).
        min_scale: lower clamp of the adaptive scale.
        adaptive: update the scale per training batch (``False``: fixed ``s0``, the
            "fixed AdaCos" of Zhang et al.).

    Attributes:
        centres: ``(C, K, D)`` unit-norm centres, Gaussian directions (uniform on the
            sphere; nearly orthogonal in high dimension; the reference draws
            Glorot-uniform weights and normalises them).
        scale: 0-d float32 buffer, the current scale ``s`` (``float(head.scale)``
            to log it; reading it from a GPU waits for the GPU).
        initial_scale: ``s0`` as a Python float.

    ``forward(embeddings (B, D), targets (B, C)) -> scalar loss``; targets are soft
    labels (rows of one-hot vectors or mixup mixtures); integer class codes ``(B,)``
    are accepted and made one-hot. The scale is updated only in training mode.
    """

    def __init__(
        self,
        emb_dim: int,
        n_classes: int,
        n_subclusters: int = 16,
        trainable_centres: bool = False,
        max_scale: float = 64.0,
        seed: int | None = None,
        *,
        min_scale: float = 1.0,
        adaptive: bool = True,
    ) -> None:
        super().__init__()
        for name, v in (("emb_dim", emb_dim), ("n_classes", n_classes), ("n_subclusters", n_subclusters)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{type(self).__name__}: {name}={v!r} must be a positive integer")
        if not 0 < min_scale <= max_scale or not math.isfinite(max_scale):
            raise ValueError(f"need 0 < min_scale <= max_scale < inf; got min_scale={min_scale}, max_scale={max_scale}")
        self.emb_dim, self.n_classes, self.n_subclusters = emb_dim, n_classes, n_subclusters
        self.trainable_centres = trainable_centres
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)
        self.adaptive = adaptive
        gen = None if seed is None else torch.Generator().manual_seed(int(seed))
        centres = F.normalize(torch.randn(n_classes, n_subclusters, emb_dim, generator=gen), dim=-1)
        if trainable_centres:
            self.centres = nn.Parameter(centres)
        else:
            self.register_buffer("centres", centres)
        s0 = math.sqrt(2.0) * math.log(max(n_classes * n_subclusters - 1, 1))
        self.initial_scale = min(max(s0, self.min_scale), self.max_scale)
        self.register_buffer("scale", torch.tensor(self.initial_scale, dtype=torch.float32))

    def extra_repr(self) -> str:
        return (
            f"emb_dim={self.emb_dim}, n_classes={self.n_classes}, n_subclusters={self.n_subclusters}, "
            f"trainable_centres={self.trainable_centres}, scale=[{self.min_scale}, {self.max_scale}], "
            f"adaptive={self.adaptive}"
        )

    def cosines(self, embeddings: Tensor) -> Tensor:
        """Cosine of each embedding with each centre: (B, D) -> (B, C, K), float32."""
        if embeddings.ndim != 2 or embeddings.shape[1] != self.emb_dim:
            raise ValueError(
                f"{type(self).__name__} expects embeddings (B, {self.emb_dim}); got shape {tuple(embeddings.shape)}"
            )
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            x = F.normalize(embeddings.float(), dim=1)
            w = F.normalize(self.centres.float(), dim=-1)
            return torch.einsum("bd,ckd->bck", x, w)

    def logits(self, embeddings: Tensor) -> Tensor:
        """Class logits ``log sum_k exp(s * cos_ck)``: (B, D) -> (B, C), with the current scale."""
        return torch.logsumexp(self.scale * self.cosines(embeddings), dim=2)

    def _targets(self, targets: Tensor, batch: int) -> Tensor:
        if targets.ndim == 1 and not targets.is_floating_point():
            if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= self.n_classes):
                raise ValueError(f"class codes must lie in [0, {self.n_classes}); got {targets.min()}..{targets.max()}")
            targets = F.one_hot(targets.long(), self.n_classes)
        if targets.shape != (batch, self.n_classes):
            raise ValueError(
                f"targets must be soft labels (B={batch}, C={self.n_classes}) or class codes (B,); "
                f"got shape {tuple(targets.shape)}"
            )
        return targets.float()

    @torch.no_grad()
    def update_scale(self, cos: Tensor, targets: Tensor) -> Tensor:
        """One guarded AdaCos update of :attr:`scale` from a batch's cosines ``(B, C, K)``
        and soft targets ``(B, C)``; returns the new scale (see the module docstring)."""
        s_old = self.scale
        # mixup-weighted angle to the nearest sub-cluster of the target classes
        theta = torch.acos(cos.amax(dim=2).clamp(-1.0 + 1e-7, 1.0 - 1e-7))  # (B, C)
        weights = targets / targets.sum(dim=1, keepdim=True)
        theta_med = (weights * theta).sum(dim=1).median()
        # ln B_avg over the sub-clusters of non-target classes, as a log-sum-exp
        non_target = (targets <= 0).unsqueeze(2).expand_as(cos)
        z = (s_old * cos).masked_fill(~non_target, -math.inf)
        log_b_avg = torch.logsumexp(z.flatten(), dim=0) - math.log(cos.shape[0])
        s_new = log_b_avg / torch.cos(theta_med.clamp(max=math.pi / 4))
        s_new = torch.where(torch.isfinite(s_new), s_new.clamp(self.min_scale, self.max_scale), s_old)
        self.scale.copy_(s_new)
        return self.scale

    def forward(self, embeddings: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of the sub-cluster softmax: (B, D), (B, C) -> scalar loss (float32)."""
        y = self._targets(targets, embeddings.shape[0]).to(embeddings.device)
        cos = self.cosines(embeddings)
        with torch.autocast(device_type=cos.device.type, enabled=False):
            if self.training and self.adaptive:
                self.update_scale(cos.detach(), y)
            # a copy: a later in-place update must not touch this graph's saved scale
            logits = torch.logsumexp(self.scale.clone() * cos, dim=2)  # (B, C)
            return -(y * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class AdaCos(SubClusterAdaCos):
    """AdaCos (Zhang et al. 2019): :class:`SubClusterAdaCos` with one centre per class.

    ``s0 = sqrt(2) * ln(C - 1)``; same guarded scale update, same arguments.
    Zhang et al. learn the class weights (``trainable_centres=True``); the default
    here keeps them fixed, as paper 003 does for its centres.
    """

    def __init__(
        self,
        emb_dim: int,
        n_classes: int,
        n_subclusters: int = 1,
        trainable_centres: bool = False,
        max_scale: float = 64.0,
        seed: int | None = None,
        *,
        min_scale: float = 1.0,
        adaptive: bool = True,
    ) -> None:
        super().__init__(
            emb_dim,
            n_classes,
            n_subclusters,
            trainable_centres,
            max_scale,
            seed,
            min_scale=min_scale,
            adaptive=adaptive,
        )


__all__ = ["AdaCos", "SubClusterAdaCos"]
