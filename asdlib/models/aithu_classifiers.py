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
- :func:`attribute_tasks` builds MHCR's tasks and targets from a machine type's rows
  of the clip index (:func:`asdlib.data.layout.index_dataset`).

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

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.data.layout import parse_attributes
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


def _check_weight(name: str, value: Any) -> float:
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"MHCR: lambda for head {name!r} must be a number; got {value!r}") from None
    if not (w > 0 and math.isfinite(w)):
        raise ValueError(f"MHCR: lambda for head {name!r} must be positive and finite (Eq. (1): lambda_i > 0); "
                         f"got {value!r}")
    return w


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
            self.weights[name] = _check_weight(name, weights.get(name, getattr(t, "weight", 1.0)))
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


# ----------------------------------------------------------------------------- tasks from the index

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_RE_NUMBER = re.compile(rf"^({_NUMBER})$")
_RE_NUMBER_UNIT = re.compile(rf"^({_NUMBER})([A-Za-z%]+)$")
_RE_CODE = re.compile(r"^0\d+$")  # zero-padded integers ("00", "01") are identifiers, not quantities


def _parse_number(value: str) -> tuple[float, str] | None:
    """``"28"`` -> (28.0, ""), ``"28V"`` -> (28.0, "V"), ``"A1"`` -> None."""
    m = _RE_NUMBER.match(value)
    if m:
        return float(m[1]), ""
    m = _RE_NUMBER_UNIT.match(value)
    if m:
        return float(m[1]), m[2]
    return None


@dataclass(eq=False)
class AttributeTask:
    """One MHCR task: a label of the clips and its coding (from :func:`attribute_tasks`).

    Attributes:
        name: the head's name (the attribute key, or ``"section"``).
        kind: ``"classification"`` or ``"regression"``.
        key: where the label comes from: ``"section"`` (the index column) or the
            attribute key.
        classes: classification: the label values in code order (code ``i`` is
            ``classes[i]``); regression: empty.
        mean, std: regression: the training values' mean and (population) standard
            deviation, in ``unit``; targets are ``(value - mean) / std``.
        unit: regression: the unit suffix stripped from the values (``"V"`` for
            ``28V``), or ``""``.
        weight: ``lambda`` of the task in Eq. (1).
        targets: the training rows' targets ``(N,)``: int64 codes with ``-1`` for a
            missing label, or float32 standardised values with NaN for a missing one.
    """

    name: str
    kind: Literal["classification", "regression"]
    key: str
    classes: tuple = ()
    mean: float = 0.0
    std: float = 1.0
    unit: str = ""
    weight: float = 1.0
    targets: Tensor | None = field(default=None, repr=False)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def raw_values(self, index_rows: pd.DataFrame) -> list[Any]:
        """The label of each row (``None`` where missing): sections, or attribute strings."""
        if self.key == "section":
            return [None if _is_missing(v) else int(v) for v in index_rows["section"]]
        return [a.get(self.key) for a in _attribute_dicts(index_rows)]

    def encode(self, index_rows: pd.DataFrame) -> Tensor:
        """Targets of any rows (e.g. test clips) with this task's coding.

        A missing value, a class not seen in training, or a value that does not
        parse with the training unit is ``-1`` / NaN.
        """
        values = self.raw_values(index_rows)
        if self.kind == "classification":
            code = {c: i for i, c in enumerate(self.classes)}
            keys = [None if v is None else (v if self.key == "section" else str(v)) for v in values]
            return torch.tensor([code.get(k, -1) if k is not None else -1 for k in keys], dtype=torch.int64)
        out = np.full(len(values), np.nan, dtype=np.float64)
        for i, v in enumerate(values):
            if v is None:
                continue
            parsed = _parse_number(str(v).strip())
            if parsed is not None and parsed[1] == self.unit:
                out[i] = (parsed[0] - self.mean) / self.std
        return torch.from_numpy(out.astype(np.float32))


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _attribute_dicts(index_rows: pd.DataFrame) -> list[dict[str, str]]:
    """Each row's attributes as ``{key: value string}`` (missing/empty values dropped)."""
    if "attributes" in index_rows.columns:
        raw = list(index_rows["attributes"])
    elif "attribute_string" in index_rows.columns:
        raw = [parse_attributes(None if _is_missing(s) else str(s)) for s in index_rows["attribute_string"]]
    else:
        raise KeyError("attribute_tasks: the index has neither an 'attributes' nor an 'attribute_string' column")
    out = []
    for i, a in enumerate(raw):
        if a is None or (isinstance(a, float) and math.isnan(a)):
            a = {}
        if not isinstance(a, Mapping):
            raise TypeError(f"attribute_tasks: row {i} has attributes {a!r}; expected a dict of key -> value")
        out.append({str(k): str(v).strip() for k, v in a.items() if not _is_missing(v)})
    return out


def section_task(index_rows: pd.DataFrame, weight: float = 1.0) -> AttributeTask:
    """The section-ID task (SC's only label): codes number the sorted distinct sections."""
    if "section" not in index_rows.columns:
        raise KeyError(f"the index has no 'section' column; columns: {list(index_rows.columns)}")
    if len(index_rows) == 0:
        raise ValueError("section_task: no rows")
    values = index_rows["section"]
    if any(_is_missing(v) for v in values):
        raise ValueError("section_task: some rows have no section")
    sections = tuple(sorted({int(v) for v in values}))
    task = AttributeTask("section", "classification", "section", classes=sections, weight=float(weight))
    task.targets = task.encode(index_rows)
    return task


def attribute_tasks(
    index_rows: pd.DataFrame,
    *,
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
    exclude: Iterable[str] = (),
    weights: Mapping[str, float] | None = None,
) -> list[AttributeTask]:
    """MHCR's tasks for one machine type's (training) clips: the section, then one per attribute.

    The attributes are the ``attributes`` dicts of the clip index (one ``key -> value``
    string per attribute, parsed from DCASE 2022 names such as
    ``car_A1_spd_28V_mic_1_noise_1`` or from ``attributes_XX.csv``; a hand-made table
    may give ``attribute_string`` instead). For each attribute key, over the rows that
    have it:

    - it is **numeric** (a regression task) if every value is a number, optionally with
      one unit suffix shared by all values (``28V``, ``31V`` -> 28, 31 V), unless some
      value is a zero-padded integer code (``00``, ``01``: pattern IDs, categorical);
    - otherwise **categorical** (a classification task, classes in sorted order);
    - a key with a single distinct value carries no information and is dropped
      (``exclude`` drops others).

    ``categorical`` / ``numeric`` force the kind of the named keys. The paper lists
    factory noise and microphone position as classification tasks and speed and weight
    as regression (Sec. 3.1.1): where noise or microphone are numbered in the names
    (ToyCar's ``mic_1_noise_1``) pass ``categorical=("mic", "noise")`` to follow it.
    Forcing ``numeric`` on a key whose values do not parse raises ``ValueError``.

    The section task (name ``"section"``) always comes first, even with a single
    section (DCASE 2023+), where it teaches nothing. Attribute tasks follow in sorted
    key order (a key named ``"section"`` becomes ``"attr_section"``). Attribute keys
    differ between sections in DCASE 2022: a clip without a key gets a missing target,
    which the MHCR losses skip.

    Targets (``task.targets``, ``(N,)`` in row order): classification: int64 codes,
    ``-1`` where missing; regression: float32 ``(value - mean) / std`` with ``mean`` and
    ``std`` (population) of the rows given here, NaN where missing. Pass the
    **training** rows so the coding and standardisation are fitted on them; encode
    other rows with :func:`encode_targets`.

    Args:
        index_rows: rows of the clip index of **one** machine type (columns
            ``section`` and ``attributes`` or ``attribute_string``; ``machine_type``
            is checked when present).
        categorical, numeric: attribute keys whose kind is forced.
        exclude: attribute keys to leave out.
        weights: ``lambda`` per task name (default 1 each; validated > 0).

    Returns:
        The tasks, each with its ``targets``; :func:`encode_targets` turns rows into
        ``{name: targets}`` and ``{t.name: t.targets for t in tasks}`` is the training
        dict for :func:`asdlib.train.classifier.train_classifier`.
    """
    if "machine_type" in index_rows.columns:
        types = sorted({str(t) for t in index_rows["machine_type"] if not _is_missing(t)})
        if len(types) > 1:
            raise ValueError(f"attribute_tasks: pass the rows of one machine type; got {types}")
    categorical, numeric, exclude = set(categorical), set(numeric), set(exclude)
    both = sorted(categorical & numeric)
    if both:
        raise ValueError(f"attribute_tasks: key(s) {both} are both categorical and numeric")
    weights = dict(weights or {})
    for name, w in weights.items():
        _check_weight(name, w)

    tasks = [section_task(index_rows, weights.get("section", 1.0))]
    dicts = _attribute_dicts(index_rows)
    keys = sorted({k for d in dicts for k in d} - exclude)
    for key in keys:
        values = [d[key] for d in dicts if key in d]
        distinct = sorted(set(values))
        if len(distinct) < 2:
            continue
        name = "attr_section" if key == "section" else key
        parsed = [_parse_number(v) for v in distinct]
        units = {p[1] for p in parsed if p is not None}
        is_numeric = (
            all(p is not None for p in parsed) and len(units) == 1 and not any(_RE_CODE.match(v) for v in distinct)
        )
        if key in numeric:
            if not (all(p is not None for p in parsed) and len(units) == 1):
                raise ValueError(f"attribute_tasks: attribute {key!r} forced numeric, but its values {distinct} "
                                 "are not numbers with one shared unit")
            is_numeric = True
        if key in categorical:
            is_numeric = False
        if is_numeric:
            nums = np.array([_parse_number(v)[0] for v in values], dtype=np.float64)
            task = AttributeTask(name, "regression", key, mean=float(nums.mean()), std=float(nums.std()),
                                 unit=units.pop(), weight=float(weights.get(name, 1.0)))
        else:
            task = AttributeTask(name, "classification", key, classes=tuple(distinct),
                                 weight=float(weights.get(name, 1.0)))
        task.targets = task.encode(index_rows)
        tasks.append(task)
    unknown = sorted(set(weights) - {t.name for t in tasks})
    if unknown:
        raise ValueError(f"attribute_tasks: weights for unknown task(s) {unknown}; tasks are {[t.name for t in tasks]}")
    return tasks


def encode_targets(tasks: Sequence[AttributeTask], index_rows: pd.DataFrame) -> dict[str, Tensor]:
    """``{task name: targets (N,)}`` of ``index_rows`` with the tasks' (training) coding."""
    return {t.name: t.encode(index_rows) for t in tasks}
