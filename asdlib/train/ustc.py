"""Training USTC's self-supervised classifier (paper 002, eq. 5) and embedding clips.

The loss of eq. (5), ``Loss = L_CE + L_Triplet + L_Auxiliary``: cross-entropy over
the section labels, the batch-hard triplet loss (Hermans et al. 2017) on the
embeddings with the section labels, and cross-entropy over the attribute labels
(experiments 5 and 6 of Table I; the baseline has no auxiliary term). The paper
sums the three with unit weights (no weights appear in eq. 5); the weights here
default to 1 and can be changed for ablations. Optimiser (Sec. III-B 1): Adam,
learning rate 2e-4, 100 epochs; the batch size is not given (64 here).

Built on :func:`asdlib.train.loop.train_epochs` (bf16 autocast on CUDA, NaN/inf
checks, progress bars) and :class:`asdlib.train.batches.TensorBatches` (the inputs
are copied to the device once; batches are indexed there). Batches are drawn
uniformly at random (not Hermans et al.'s P x K sampling): with a few sections per
model and batches of 64 nearly every anchor has positives and negatives, and
anchors without them are skipped by the loss.

Public API: :func:`train_ustc`, :func:`embed_ustc`; the section labels come from
:func:`asdlib.data.classes.section_codes` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.utils import as_tensor as _as_tensor
from asdlib.data.classes import auxiliary_classes, class_codes
from asdlib.data.classes import section_codes  # re-exported (__all__) for the notebooks and tests
from asdlib.losses.triplet import batch_hard_triplet_loss
from asdlib.models.inference import Amp, predict
from asdlib.models.ustc import USTCOutput, max_posterior_score, posterior_score
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import History, train_epochs
from asdlib.train.seeding import make_generator

PAPER_LR = 2e-4
PAPER_EPOCHS = 100



def _inputs(inputs: Any) -> tuple[Tensor, ...]:
    """A tensor, or a tuple/list of tensors sharing the first dimension -> a tuple."""
    items = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    if not items:
        raise ValueError("inputs holds no tensor")
    out = tuple(_as_tensor(x, f"inputs[{i}]") for i, x in enumerate(items))
    n = {len(x) if x.ndim else -1 for x in out}
    if len(n) != 1 or -1 in n:
        raise ValueError(f"inputs must share their first (clip) dimension; got shapes {[tuple(x.shape) for x in out]}")
    return out


def _upcast(x: Tensor) -> Tensor:
    """float16/bfloat16 storage (e.g. precomputed wav2vec features) -> float32, per batch."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _codes(x: Any, n: int, name: str, allow_ignore: bool = False) -> Tensor:
    t = _as_tensor(x, name)
    if t.ndim != 1 or t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be (N,) integer codes; got shape {tuple(t.shape)}, dtype {t.dtype}")
    if len(t) != n:
        raise ValueError(f"{name} has {len(t)} codes for {n} clips")
    lo = -1 if allow_ignore else 0
    if len(t) and int(t.min()) < lo:
        raise ValueError(f"{name} must be >= {lo}; got {int(t.min())}")
    return t.long()


def _unpack(out: Any) -> USTCOutput:
    if isinstance(out, USTCOutput):
        return out
    if isinstance(out, (tuple, list)) and len(out) in (2, 3):
        return USTCOutput(out[0], out[1], out[2] if len(out) == 3 else None)
    raise TypeError(
        "the model must return USTCOutput(embedding, logits, aux_logits) or a tuple (embedding, logits[, aux]); "
        f"got {type(out).__name__}"
    )


@dataclass(frozen=True)
class USTCClasses:
    """The classes of USTC's classifier head for one model (:func:`ustc_classes`).

    ``kind``: ``"section"`` (the paper's eq. 5 and 6: the sections of the machine
    type) or ``"attribute"`` (one section per machine type, DCASE 2023-2025: the
    attribute classes of that section, machine type x section x attribute string, as
    :func:`~asdlib.data.classes.auxiliary_classes` without the domain). ``names``: the
    class names; ``train``: the training clips' codes; ``test``: the test clips'
    codes, ``-1`` where a test clip's class is not known or not among the training
    classes (attribute classes only; such clips are still scored).
    """

    kind: Literal["section", "attribute"]
    names: list[str]
    train: np.ndarray
    test: np.ndarray

    @property
    def n_classes(self) -> int:
        return len(self.names)

    def posterior(self, logits: Tensor, sections: Any) -> Tensor:
        """Eq. (6) for clips with the head's ``logits`` and their ``sections`` (the section codes of
        :func:`~asdlib.data.classes.section_codes`): the posterior of the clip's own section
        (:func:`~asdlib.models.ustc.posterior_score`) for section classes; for attribute
        classes, whose test clips' classes a detector is not given, the posterior of the most
        probable class (:func:`~asdlib.models.ustc.max_posterior_score`)."""
        if self.kind == "section":
            return posterior_score(logits, sections)
        return max_posterior_score(logits)


def ustc_classes(train_rows: pd.DataFrame, test_rows: pd.DataFrame) -> USTCClasses:
    """The classes of the section head of one USTC model, from the training and test rows of the clip index.

    With two or more sections among ``train_rows``: the sections (the paper's setting,
    DCASE 2022: six per machine type), coded by
    :func:`~asdlib.data.classes.section_codes`. With a single section (the DCASE
    2023-2025 "first-shot" layouts), the section task has one class: its
    cross-entropy and the triplet loss (no negatives) are zero, nothing is learnt,
    and the posterior of eq. (6) is 1 for every clip. The head then classifies the
    section's attribute classes (machine type x section x attribute string of the
    training clips' names, :func:`~asdlib.data.classes.auxiliary_classes` without the
    domain): what the paper's auxiliary task is when a type has one section.

    Raises:
        ValueError: one section whose training clips share a single attribute string
            (nothing to classify), or test clips of a section without training clips.
    """
    section_train, section_names = section_codes(train_rows)
    section_test, _ = section_codes(test_rows, section_names)
    if len(section_names) > 1:
        return USTCClasses("section", section_names, section_train, section_test)
    train, names = auxiliary_classes(train_rows, include_domain=False)
    if len(names) < 2:
        raise ValueError(
            f"ustc_classes: {section_names[0]} is the only section and its training clips share one attribute "
            f"class ({names[0]}): the classifier has nothing to tell apart, and eq. (6) is undefined")
    if len(test_rows):
        codes, test_names = auxiliary_classes(test_rows, include_domain=False)
        test = class_codes([test_names[c] for c in codes], names)
        test[test_rows["attribute_string"].isna().to_numpy()] = -1   # unknown, not "no attributes"
    else:
        test = np.zeros(0, dtype=np.int64)
    return USTCClasses("attribute", names, train, test)


def train_ustc(
    model: nn.Module,
    inputs: Tensor | np.ndarray | Sequence[Tensor],
    section_labels: Tensor | np.ndarray,
    attribute_labels: Tensor | np.ndarray | None = None,
    *,
    epochs: int = PAPER_EPOCHS,
    batch_size: int = 64,
    lr: float = PAPER_LR,
    ce_weight: float = 1.0,
    triplet_weight: float = 1.0,
    aux_weight: float = 1.0,
    margin: float | Literal["soft"] = 0.3,
    triplet_distance: Literal["euclidean", "cosine"] = "euclidean",
    weight_decay: float = 0.0,
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = False,
    amp: Amp = True,
    desc: str = "ustc",
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train ``model`` with eq. (5): ``ce_weight * CE + triplet_weight * triplet + aux_weight * CE_aux``.

    Args:
        model: called as ``model(*batch_inputs)``, returning a
            :class:`~asdlib.models.ustc.USTCOutput` (or a tuple ``(embedding, logits[,
            aux_logits])``): e.g. a :class:`~asdlib.models.ustc.USTCModel` on waveforms
            ``(N, n_samples)`` (plus precomputed wav2vec features ``(N, D_p, T_p)`` with
            the ``"wav2vec"`` channel), or a :class:`~asdlib.models.ustc.TDNNClassifier`
            on precomputed planes ``(N, C, F, T)``. Moved to ``device``.
        inputs: one tensor/array or a tuple of them, sharing the first dimension;
            copied to ``device`` once, in their dtype (float16/bfloat16 storage, e.g. of
            wav2vec features, halves the memory; batches are cast to float32).
        section_labels: ``(N,)`` integer codes in ``[0, n_sections)`` (CE and triplet).
        attribute_labels: ``(N,)`` integer attribute codes for the auxiliary CE
            (``-1``: unknown, left out of the term), or ``None`` for no auxiliary loss
            (the model's attribute head, if any, is then not trained).
        epochs, lr: Adam's (paper: 100, 2e-4); batch_size: 64 (the paper does not say).
        ce_weight, triplet_weight, aux_weight: the terms' weights (paper: all 1).
        margin, triplet_distance: of :func:`~asdlib.losses.triplet.batch_hard_triplet_loss`.
        weight_decay: Adam's (coupled) weight decay, 0 by default (the paper names none).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the batch order (a generator on ``device``). Initial weights are
            whatever the model was created with (seed before creating it).
        progress, desc, amp, on_epoch_end: as in :func:`~asdlib.train.loop.train_epochs`.

    A last batch of a single clip (BatchNorm cannot train on it) is dropped.

    Returns:
        Per-epoch means ``{"loss", "ce", "triplet", "acc"}`` (``acc``: section
        accuracy of the training batches), plus ``"aux"`` with attribute labels. The
        logged terms are unweighted; ``loss`` is the weighted sum.
    """
    dev = resolve_device(device)
    xs = _inputs(inputs)
    n = len(xs[0])
    y = _codes(section_labels, n, "section_labels")
    use_aux = attribute_labels is not None
    tensors = list(xs) + [y]
    if use_aux:
        tensors.append(_codes(attribute_labels, n, "attribute_labels", allow_ignore=True))
    if n < 2:
        raise ValueError("train_ustc needs at least 2 clips (BatchNorm)")
    for name, w in (("ce_weight", ce_weight), ("triplet_weight", triplet_weight), ("aux_weight", aux_weight)):
        if not w >= 0:
            raise ValueError(f"{name}={w!r} must be >= 0")

    model.to(dev)
    tensors = [t.to(dev) for t in tensors]
    n_in = len(xs)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    batches = TensorBatches(
        *tensors, batch_size=batch_size, generator=make_generator(seed, dev), drop_last=n % batch_size == 1
    )
    checked = []

    def step(m: nn.Module, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        out = _unpack(m(*(_upcast(x) for x in batch[:n_in])))
        yb = batch[n_in]
        logits = out.logits.float()
        if not checked:
            if int(yb.max()) >= logits.shape[1]:
                raise ValueError(f"section_labels reach {int(yb.max())} but the model has {logits.shape[1]} sections")
            if use_aux and out.aux_logits is None:
                raise ValueError("attribute_labels were given but the model returns no attribute logits")
            checked.append(True)
        ce = F.cross_entropy(logits, yb)
        triplet = batch_hard_triplet_loss(out.embedding, yb, margin=margin, distance=triplet_distance)
        loss = ce_weight * ce + triplet_weight * triplet
        result = {"ce": ce.detach(), "triplet": triplet.detach()}
        if use_aux:
            ab = batch[n_in + 1]
            known = ab >= 0
            aux_sum = F.cross_entropy(out.aux_logits.float(), ab.clamp(min=0), reduction="none")
            aux = (aux_sum * known).sum() / known.sum().clamp(min=1)  # mean over the clips with a known attribute
            loss = loss + aux_weight * aux
            result["aux"] = aux.detach()
        result["acc"] = (logits.detach().argmax(1) == yb).float().mean()
        result["loss"] = loss
        return result

    return train_epochs(
        model, batches, step, optimizer, epochs, dev, amp=amp, progress=progress, desc=desc,
        on_epoch_end=on_epoch_end,
    )


def embed_ustc(
    model: nn.Module,
    inputs: Tensor | np.ndarray | Sequence[Tensor],
    *,
    batch_size: int = 256,
    device: DeviceLike = "auto",
    amp: Amp = False,
) -> USTCOutput:
    """Embeddings and logits of every clip: ``USTCOutput(embedding (N, D), logits (N, S), aux (N, A) | None)``.

    ``inputs`` as for :func:`train_ustc` (they may stay on the CPU; each batch is
    copied to ``device``). The model runs in eval mode (BatchNorm running statistics)
    without gradients; its previous mode is restored. Outputs are float32 on the CPU.
    Score with :func:`~asdlib.models.ustc.distance_score` (eq. 7) on the embeddings or
    :func:`~asdlib.models.ustc.posterior_score` (eq. 6) on the logits.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    dev = resolve_device(device)
    xs = _inputs(inputs)
    model.to(dev)
    if len(xs[0]) == 0:
        raise ValueError("inputs hold no clips")
    return USTCOutput(*predict(
        model, xs, lambda m, *xb: tuple(_unpack(m(*(_upcast(x) for x in xb)))),
        batch_size=batch_size, device=dev, amp=amp, dtype=None,
    ))


__all__ = ["PAPER_EPOCHS", "PAPER_LR", "USTCClasses", "embed_ustc", "section_codes", "train_ustc", "ustc_classes"]
