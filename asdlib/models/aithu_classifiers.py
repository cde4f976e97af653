"""AITHU's classification subsystems SC, MHCR and SC-wav2vec (paper 000, Sec. 3.1).

"The general idea of the first three approaches is to first train a neural network to
extract the embeddings of the samples by classifying labels extracted from the
metadata, and then use the outlier detection algorithm to score how abnormal the
embeddings are" (Sec. 3; Figure 1). The pieces:

- :func:`frames_from_clips` cuts each clip's spectrogram into ``nFrames``-long pieces
  (Table 3: 192 frames); the network sees pieces, and a clip's embedding is the mean
  of its pieces' embeddings (:func:`asdlib.train.classifier.embed_clips`);
- :class:`SectionClassifier` (SC, and SC-wav2vec with wav2vec features as input): a
  backbone (:mod:`asdlib.models.backbones`, Table 3) and one ArcFace head on the
  section IDs (:class:`~asdlib.losses.arcface.ArcFace`);
- :class:`MultiHeadClassifierRegressor` (MHCR): the same backbone with parallel heads,
  an ArcFace head per categorical label (section, and attributes such as factory noise
  or microphone position) and a fully connected regression head per numeric attribute
  (speed, weight...), trained on ``L = sum_i lambda_i L_i`` with ``lambda_i > 0`` (Eq. 1);
- :func:`~asdlib.data.classes.attribute_tasks` builds MHCR's tasks and targets from a
  machine type's rows of the clip index (:func:`asdlib.data.layout.index_dataset`);
  it lives, with every other coding of labels from the index, in
  :mod:`asdlib.data.classes` (re-exported here with :class:`~asdlib.data.classes.AttributeTask`,
  :func:`~asdlib.data.classes.section_task` and :func:`~asdlib.data.classes.encode_targets`).

Training (AdamW, lr 1e-3, weight decay 1e-4, 25 epochs: Sec. 3.1.1) is
:func:`asdlib.train.classifier.train_classifier`; the outlier detectors (k-NN, LOF,
cosine, Mahalanobis: Sec. 3.1.2) are :mod:`asdlib.backends`.

What the paper leaves open, and what we chose: the ArcFace scale and margin (``s = 30,
m = 0.7``, STgram-MFN's); the hop between pieces (a parameter; non-overlapping by
default); the regression loss (MSE on targets standardised with the training rows'
mean and standard deviation, so a regression head's loss is on the scale of a
variance, comparable across attributes); how a numeric attribute is recognised (see
:func:`attribute_tasks`); that a head's loss is averaged over the clips that carry its
label, so an attribute that only some sections have (DCASE 2022 sections each have
their own attributes) is learnt from those sections only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# the tasks from the clip index live in asdlib.data.classes; AttributeTask, attribute_tasks,
# encode_targets and section_task are re-exported here (__all__) for the notebooks and tests
from asdlib.data.classes import AttributeTask, attribute_tasks, check_task_weight, encode_targets, section_task
from asdlib.losses.arcface import ArcFace

__all__ = [
    "AttributeTask",
    "MultiHeadClassifierRegressor",
    "SectionClassifier",
    "attribute_tasks",
    "encode_targets",
    "frames_from_clips",
    "section_task",
]


# ----------------------------------------------------------------------------- pieces


def frames_from_clips(spec: Tensor, n_frames: int, hop: int | None = None) -> Tensor:
    """Cut spectrograms into ``n_frames``-long pieces: ``(N, F, T) -> (N, W, F, n_frames)``.

    Piece ``w`` of clip ``i`` is ``spec[i, :, w * hop : w * hop + n_frames]``, with
    ``W = 1 + (T - n_frames) // hop``; trailing frames that fill no whole piece are
    dropped (choose ``hop`` so that ``(T - n_frames) % hop == 0`` to cover every frame,
    e.g. ``hop = T - n_frames`` for two pieces). ``hop=None`` means ``n_frames``
    (non-overlapping pieces). One ``unfold``: a view of ``spec``, no copy;
    ``.reshape(-1, F, n_frames)`` gives a batch of pieces (a copy).

    Raises:
        ValueError: ``spec`` not 3-D, ``n_frames`` / ``hop`` not positive integers, or
            ``T < n_frames``.
    """
    if not isinstance(spec, Tensor) or spec.ndim != 3:
        shape = tuple(spec.shape) if isinstance(spec, Tensor) else type(spec).__name__
        raise ValueError(f"frames_from_clips expects spectrograms (N, F, T); got {shape}")
    hop = n_frames if hop is None else hop
    for name, v in (("n_frames", n_frames), ("hop", hop)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"frames_from_clips: {name}={v!r} must be a positive integer")
    t = spec.shape[-1]
    if t < n_frames:
        raise ValueError(f"frames_from_clips: clips of {t} frames are shorter than one piece of n_frames={n_frames}")
    return spec.unfold(-1, n_frames, hop).permute(0, 2, 1, 3)


# ----------------------------------------------------------------------------- heads


def _embedding_dim(backbone: nn.Module, embedding_dim: int | None) -> int:
    dim = embedding_dim if embedding_dim is not None else getattr(backbone, "embedding_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(
            "the backbone has no integer attribute 'embedding_dim' (the asdlib backbones do): "
            f"pass embedding_dim= (got {dim!r})"
        )
    return dim


class SectionClassifier(nn.Module):
    """SC (and SC-wav2vec): a backbone trained to classify section IDs with an ArcFace head.

    ``forward(x)`` is the backbone's embedding ``(B, D)`` (what the backends score);
    the head is used in training only. ``x`` is whatever the backbone takes: pieces of
    a spectrogram ``(B, F, nFrames)`` for SC (Table 3), wav2vec context features
    ``(B, 512, T)`` for SC-wav2vec (e.g. with :class:`~asdlib.models.backbones.ECAPATDNN`
    of ``n_freq=512``).

    Args:
        backbone: ``(B, ...) -> (B, D)``, e.g. :func:`~asdlib.models.backbones.build_backbone`.
        n_sections: ArcFace classes (a machine type's sections: 6 when training on the
            development and evaluation sets, as AITHU do).
        s, m: ArcFace scale and angular margin (paper: not given; STgram-MFN's 30, 0.7).
        embedding_dim: ``D`` when the backbone has no ``embedding_dim`` attribute.

    Methods: ``logits(x)`` = ``s cos(theta)`` per section (no margin); ``loss(x,
    sections)`` = ArcFace cross-entropy against the codes ``(B,)`` (a mapping with a
    ``"section"`` entry, as :func:`attribute_tasks` targets, is accepted too).
    """

    def __init__(
        self, backbone: nn.Module, n_sections: int, s: float = 30.0, m: float = 0.7, *,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.embedding_dim = _embedding_dim(backbone, embedding_dim)
        self.head = ArcFace(self.embedding_dim, n_sections, s, m)
        self.n_sections = n_sections

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def logits(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))

    def loss(self, x: Tensor, sections: Tensor | Mapping[str, Tensor]) -> Tensor:
        if isinstance(sections, Mapping):
            if "section" not in sections:
                raise KeyError(f"SectionClassifier.loss: targets have no 'section' entry (keys {list(sections)})")
            sections = sections["section"]
        return self.head.loss(self.backbone(x), sections.to(x.device))


class MultiHeadClassifierRegressor(nn.Module):
    """MHCR (paper 000, Sec. 3.1.1, Eq. (1)): one backbone, parallel classification and regression heads.

    For each task (from :func:`attribute_tasks`, or any objects with ``name``,
    ``kind`` and, for classification, ``n_classes``): a ``"classification"`` task gets
    an :class:`~asdlib.losses.arcface.ArcFace` head on the embedding, a
    ``"regression"`` task a fully connected layer ``Linear(D, 1)``. The training loss
    is Eq. (1)::

        L = sum_i lambda_i L_i,   lambda_i > 0

    - classification ``L_i``: ArcFace cross-entropy, mean over the batch's clips with a
      label (code ``>= 0``; ``-1`` = missing);
    - regression ``L_i``: mean squared error between the head's output and the
      *standardised* target (``(value - mean) / std`` with the training rows' mean and
      standard deviation, as :func:`attribute_tasks` returns them), mean over the
      clips with a value (NaN = missing).

    A head none of whose batch clips has a label adds nothing and is left out of the
    returned per-head dict for that batch.

    Args:
        backbone: ``(B, ...) -> (B, D)``.
        tasks: task specs, in head order; names must be unique.
        weights: ``lambda_i`` per task name (others: the task's ``weight``
            attribute, else 1). Each must be finite and > 0.
        s, m: ArcFace scale and margin of every classification head.
        embedding_dim: ``D`` when the backbone has no ``embedding_dim`` attribute.

    Methods: ``forward(x)`` -> embedding ``(B, D)``; ``predict(x)`` -> ``{name: logits
    (B, C) (s cos, no margin) or standardised prediction (B,)}``; ``head_losses(emb,
    targets)`` -> ``{name: L_i}``; ``loss(x, targets)`` -> ``(L, {name: L_i})``.
    """

    def __init__(
        self,
        backbone: nn.Module,
        tasks: Sequence[Any],
        weights: Mapping[str, float] | None = None,
        s: float = 30.0,
        m: float = 0.7,
        *,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        tasks = list(tasks)
        if not tasks:
            raise ValueError("MHCR needs at least one task")
        self.backbone = backbone
        self.embedding_dim = dim = _embedding_dim(backbone, embedding_dim)
        names = [str(t.name) for t in tasks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"MHCR: task names must be unique; repeated: {dup}")
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"MHCR: weights for unknown task(s) {unknown}; tasks are {names}")
        self.names: list[str] = names
        self.kinds: dict[str, str] = {}
        self.weights: dict[str, float] = {}
        heads = []
        for t, name in zip(tasks, names):
            kind = getattr(t, "kind", None)
            if kind == "classification":
                heads.append(ArcFace(dim, int(t.n_classes), s, m))
            elif kind == "regression":
                heads.append(nn.Linear(dim, 1))
            else:
                raise ValueError(f"MHCR: task {name!r} has kind {kind!r}; expected 'classification' or 'regression'")
            self.kinds[name] = kind
            self.weights[name] = check_task_weight(name, weights.get(name, getattr(t, "weight", 1.0)))
        self.heads = nn.ModuleList(heads)

    def extra_repr(self) -> str:
        parts = [f"{n} ({self.kinds[n]}, lambda={self.weights[n]:g})" for n in self.names]
        return "tasks: " + ", ".join(parts)

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def head(self, name: str) -> nn.Module:
        return self.heads[self.names.index(name)]

    def predict(self, x: Tensor) -> dict[str, Tensor]:
        emb = self.backbone(x)
        out = {}
        for name, head in zip(self.names, self.heads):
            out[name] = head(emb) if self.kinds[name] == "classification" else head(emb).squeeze(-1).float()
        return out

    def head_losses(self, embeddings: Tensor, targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{name: L_i}`` over the heads with at least one labelled clip in the batch."""
        missing = [n for n in self.names if n not in targets]
        if missing:
            raise KeyError(f"MHCR: targets lack task(s) {missing} (have {list(targets)})")
        b = embeddings.shape[0]
        losses: dict[str, Tensor] = {}
        for name, head in zip(self.names, self.heads):
            y = targets[name].to(embeddings.device)
            if y.ndim != 1 or y.shape[0] != b:
                raise ValueError(f"MHCR: targets[{name!r}] must have shape ({b},); got {tuple(y.shape)}")
            if self.kinds[name] == "classification":
                if y.is_floating_point():
                    raise ValueError(f"MHCR: targets[{name!r}] must be integer class codes (-1 = missing)")
                valid = y >= 0
                if valid.any():
                    losses[name] = head.loss(embeddings[valid], y[valid].long())
            else:
                y = y.float()
                valid = torch.isfinite(y)
                if valid.any():
                    pred = head(embeddings[valid]).squeeze(-1).float()
                    losses[name] = F.mse_loss(pred, y[valid])
        return losses

    def loss(self, x: Tensor, targets: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """``(sum_i lambda_i L_i, {name: L_i})`` for a batch ``x`` and targets ``{name: (B,)}``."""
        if not isinstance(targets, Mapping):
            raise TypeError("MHCR.loss: targets must be a mapping {task name: (B,) tensor}")
        emb = self.backbone(x)
        losses = self.head_losses(emb, targets)
        total = emb.sum() * 0.0  # keeps the graph when no head has a label in this batch
        for name, value in losses.items():
            total = total + self.weights[name] * value
        return total, losses
