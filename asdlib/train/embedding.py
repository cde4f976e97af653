"""Training an embedder with a classification head on waveforms, and embedding clips.

The loop of Wilkinghoff's system (paper 003, Sec. 2.2, and its code): Adam
(lr 1e-3) over the network *and* the loss head, batch 64, 10 epochs, mixup on the
waveform in every batch, a sub-cluster AdaCos head on the auxiliary classes.
Built on :func:`asdlib.train.loop.train_epochs` (bf16 autocast on CUDA, NaN/inf
checks without a GPU sync per step, progress bars) and
:class:`asdlib.train.batches.TensorBatches` (the waveforms stay on the device;
batches are indexed there).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.models.inference import Amp, predict
from asdlib.utils import as_tensor as _as_tensor
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import History, train_epochs
from asdlib.train.mixup import mixup
from asdlib.train.seeding import make_generator



def train_embedder(
    model: nn.Module,
    head: nn.Module,
    waves: Tensor | np.ndarray,
    targets: Tensor | np.ndarray,
    *,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    use_mixup: bool = True,
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
    weight_decay: float = 0.0,
    mixup_labels: str = "sum",
    amp: Amp = True,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train ``model`` (waveform -> embedding) with the loss ``head`` on class codes.

    Args:
        model: e.g. :class:`~asdlib.models.WilkinghoffEmbedder`; moved to ``device``.
        head: a loss head ``head(embeddings, soft_targets) -> loss`` with an
            ``n_classes`` attribute, e.g. :class:`~asdlib.losses.SubClusterAdaCos`;
            moved to ``device`` and kept in training mode during the loop (so its
            adaptive scale updates), its previous mode restored afterwards. Its
            ``scale`` (when it has one) is logged.
        waves: ``(N, n_samples)`` float waveforms (tensor or array); copied to
            ``device`` once (a DCASE 2022 training set, 42 000 x 10 s in float32,
            is 27 GB: fine on an 80+ GB GPU; use fewer machine types otherwise).
        targets: ``(N,)`` integer class codes in ``[0, head.n_classes)``, e.g. from
            :func:`asdlib.data.classes.auxiliary_classes`; made one-hot inside.
        epochs, batch_size, lr: Adam's settings (paper: 10, 64, 1e-3).
        use_mixup: mix each batch with :func:`~asdlib.train.mixup.mixup`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the batch order (generator ``seed``) and the mixup lambdas
            (generator ``seed + 1``), both on ``device``. The model's and head's
            initial weights are whatever they were created with (call
            :func:`~asdlib.train.seeding.seed_everything` before creating them).
        progress, desc: progress bars, as in :func:`~asdlib.train.loop.train_epochs`.
        weight_decay: Adam's (coupled, L2) weight decay on the model's weights with
            two or more dimensions (convolution and dense kernels, not BatchNorm).
            The reference code's Keras ``l2(1e-5)`` kernel penalty is
            ``weight_decay=2e-5``; default 0.
        mixup_labels: ``"sum"`` or ``"max"`` (the reference), see :func:`mixup`.
        amp: bf16 autocast on CUDA (features and the loss stay float32); ``amp="always"``: on the CPU too.
        on_epoch_end: ``on_epoch_end(epoch, means)`` after each epoch.

    A last batch of a single sample (BatchNorm cannot train on it) is dropped:
    ``drop_last`` is set when ``N % batch_size == 1``.

    Returns:
        The history ``{"loss": [...], "scale": [...]}``: per epoch, the mean loss and
        the mean of the head's scale over the epoch's steps.
    """
    dev = resolve_device(device)
    x = _as_tensor(waves, "waves")
    y = _as_tensor(targets, "targets")
    if x.ndim != 2:
        raise ValueError(f"waves must be (N, n_samples); got shape {tuple(x.shape)}")
    if y.ndim != 1 or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"targets must be (N,) integer class codes; got shape {tuple(y.shape)}, dtype {y.dtype}")
    if len(x) != len(y):
        raise ValueError(f"waves ({len(x)} clips) and targets ({len(y)} codes) differ in length")
    n_classes = getattr(head, "n_classes", None)
    if not isinstance(n_classes, int):
        raise TypeError("head must have an integer attribute n_classes (e.g. asdlib.losses.SubClusterAdaCos)")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"targets must lie in [0, head.n_classes={n_classes}); got {int(y.min())}..{int(y.max())}")
    if len(x) < 2:
        raise ValueError("train_embedder needs at least 2 clips (BatchNorm)")

    model.to(dev)
    head.to(dev)
    x = x.to(dev, torch.float32)
    onehot = F.one_hot(y.to(dev, torch.long), n_classes).float()

    decay, no_decay, seen = [], [], set()
    for module, is_model in ((model, True), (head, False)):
        for p in module.parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (decay if is_model and p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": no_decay, "weight_decay": 0.0}]
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    optimizer = torch.optim.Adam(groups, lr=lr)

    batches = TensorBatches(
        x, onehot, batch_size=batch_size, generator=make_generator(seed, dev), drop_last=len(x) % batch_size == 1
    )
    mix_gen = make_generator((seed + 1) % 2**32, dev)
    has_scale = isinstance(getattr(head, "scale", None), Tensor)

    def step(m: nn.Module, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        xb, yb = batch
        if use_mixup:
            xb, yb, _ = mixup(xb, yb, generator=mix_gen, labels=mixup_labels)
        loss = head(m(xb), yb)
        out = {"loss": loss}
        if has_scale:
            out["scale"] = head.scale.detach().clone()  # the buffer changes in place next step
        return out

    head_was_training = head.training
    head.train()
    try:
        return train_epochs(
            model, batches, step, optimizer, epochs, dev, amp=amp, progress=progress, desc=desc,
            on_epoch_end=on_epoch_end,
        )
    finally:
        head.train(head_was_training)


def embed(
    model: nn.Module,
    waves: Tensor | np.ndarray,
    *,
    batch_size: int = 256,
    device: DeviceLike = "auto",
    amp: Amp = False,
) -> Tensor:
    """Embeddings of ``waves`` ``(N, n_samples)`` -> ``(N, D)`` float32 on the CPU.

    ``model`` is moved to ``device`` and run in eval mode (BatchNorm running
    statistics) without gradients, batch by batch (``waves`` may stay on the CPU;
    each batch is copied to ``device``); its previous mode is restored.
    ``amp=True`` runs the network in bf16 on CUDA (faster, embeddings to about 3
    significant digits); the default is float32.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    dev = resolve_device(device)
    x = _as_tensor(waves, "waves")
    if x.ndim != 2:
        raise ValueError(f"waves must be (N, n_samples); got shape {tuple(x.shape)}")
    model.to(dev)
    if len(x) == 0:
        raise ValueError("waves holds no clips")
    return predict(model, x, batch_size=batch_size, device=dev, amp=amp)  # one transfer to the CPU at the end


__all__ = ["embed", "train_embedder"]
