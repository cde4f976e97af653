"""Training classifier-based embedders (AITHU's SC, MHCR, SC-wav2vec; the MobileNetV2 baseline).

One loop for every model with a ``loss(x, targets)`` method that returns a scalar
loss or ``(loss, {name: partial loss})``:

- :class:`~asdlib.models.aithu_classifiers.SectionClassifier` (SC, SC-wav2vec):
  targets = section codes ``(N,)``;
- :class:`~asdlib.models.aithu_classifiers.MultiHeadClassifierRegressor` (MHCR):
  targets = ``{task name: (N,)}`` (:func:`~asdlib.models.aithu_classifiers.attribute_tasks`);
- :class:`~asdlib.models.mobilenetv2_baseline.MobileNetV2Classifier` (the DCASE 2022
  baseline): images and their section codes (``lr=1e-5, weight_decay=0, epochs=20,
  batch_size=32``: :data:`~asdlib.models.mobilenetv2_baseline.BASELINE_FIT`).

AITHU's settings are the defaults (paper 000, Sec. 3.1.1): AdamW, learning rate 1e-3,
weight decay 1e-4, 25 epochs. The paper gives no batch size; 64 is ours. Built on
:func:`asdlib.train.loop.train_epochs` (bf16 autocast on CUDA, NaN/inf checks without
a GPU sync per step, progress bars) and :class:`asdlib.train.batches.TensorBatches`
(the inputs are copied to the device once; batches are indexed there).

**BatchNorm.** The backbones are full of BatchNorm layers whose running statistics
(exponential averages starting at mean 0, variance 1) lag behind the weights after a
short run, and MobileNetV2's Keras momentum (0.999) makes them lag for thousands of
steps; eval-mode embeddings would then differ wildly from the training-mode ones. So
:func:`train_classifier` ends by re-estimating every BatchNorm's statistics on the
training inputs with the final weights
(:func:`~asdlib.models.backbones.recalibrate_batchnorm`, "precise BN";
``recalibrate_bn=False`` keeps the running averages).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from asdlib.utils import as_tensor as _as_tensor
from asdlib.models.aithu_classifiers import frames_from_clips
from asdlib.models.backbones import recalibrate_batchnorm
from asdlib.models.inference import Amp, predict
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import History, train_epochs
from asdlib.train.seeding import make_generator

__all__ = ["embed_clips", "train_classifier"]



def _positive_int(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}={v!r} must be a positive integer")


def _split_loss(out: Any) -> tuple[Tensor, dict[str, Tensor]]:
    if isinstance(out, tuple):
        if len(out) != 2 or not isinstance(out[1], Mapping):
            raise TypeError("model.loss must return a scalar tensor or (scalar, {name: partial loss})")
        return out[0], dict(out[1])
    return out, {}


def train_classifier(
    model: nn.Module,
    spec: Tensor | np.ndarray,
    targets: Tensor | np.ndarray | Mapping[str, Tensor | np.ndarray],
    *,
    epochs: int = 25,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = False,
    n_frames: int | None = None,
    hop: int | None = None,
    validation_split: float = 0.0,
    recalibrate_bn: bool = True,
    amp: Amp = True,
    grad_clip: float | None = None,
    desc: str = "classifier",
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train ``model`` on ``model.loss(x_batch, targets_batch)`` with AdamW.

    Args:
        model: has ``loss(x, targets)`` returning a scalar or ``(scalar, {name:
            scalar})``; moved to ``device``. All its parameters (backbone and heads)
            are optimised, all with the same weight decay.
        spec: inputs ``(N, ...)``: spectrograms ``(N, F, T)``, wav2vec features
            ``(N, C, T)``, images ``(N, 1, H, W)``; copied to ``device`` once as float32.
        targets: ``(N,)`` integer codes, or ``{name: (N,)}`` (MHCR; ``-1`` / NaN =
            missing); batches pass the same type to ``model.loss``.
        epochs, batch_size, lr, weight_decay: AdamW's settings (AITHU: 25, -, 1e-3,
            1e-4; ``weight_decay=0`` is Adam).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the batch order (a generator on ``device``). Initial weights are
            whatever the model was created with (call
            :func:`~asdlib.train.seeding.seed_everything` before creating it).
        progress: one tqdm bar per epoch.
        n_frames, hop: when ``n_frames`` is set, each clip ``(F, T)`` is cut into
            ``n_frames``-long pieces (:func:`~asdlib.models.aithu_classifiers.frames_from_clips`,
            hop ``hop``, default ``n_frames``) and every piece is a training example
            with its clip's targets (AITHU: ``nFrames = 192``, Table 3).
        validation_split: hold out the last fraction of the **clips** (before cutting
            and shuffling, as Keras' ``validation_split``) and report the mean loss on
            them (eval mode) per epoch as ``"val_loss"``; 0 trains on everything.
        recalibrate_bn: re-estimate BatchNorm statistics on the training inputs after
            the last epoch (see the module docstring).
        amp: bf16 autocast on CUDA (ArcFace and the losses compute in float32); ``amp="always"``: on the CPU too.
        grad_clip: max gradient norm, or ``None``.
        desc, on_epoch_end: as in :func:`~asdlib.train.loop.train_epochs`.

    A last batch of a single example (BatchNorm cannot train on it) is dropped.

    Returns:
        The history: ``{"loss": [...], "loss_<name>": [...] (per head, MHCR), "val_loss": [...]}``
        per epoch (a head's entry is the mean over the steps where it had labels).
    """
    if not callable(getattr(model, "loss", None)):
        raise TypeError(f"{type(model).__name__} has no loss(x, targets) method")
    _positive_int("batch_size", batch_size)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split={validation_split!r} must be in [0, 1)")
    dev = resolve_device(device)
    x = _as_tensor(spec, "spec")
    if isinstance(targets, Mapping):
        names = [str(k) for k in targets]
        ys = [_as_tensor(v, f"targets[{k!r}]") for k, v in targets.items()]
        if not names:
            raise ValueError("targets is an empty mapping")
    else:
        names, ys = None, [_as_tensor(targets, "targets")]
    n = len(x)
    for i, y in enumerate(ys):
        label = "targets" if names is None else f"targets[{names[i]!r}]"
        if y.ndim != 1 or len(y) != n:
            raise ValueError(f"{label} must have shape ({n},) (one per clip of spec); got {tuple(y.shape)}")
    n_val = int(n * validation_split)
    if n - n_val < 2:
        raise ValueError(f"train_classifier needs at least 2 training clips (BatchNorm); got {n - n_val}")

    def prepare(xs: Tensor, targets_: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        xs = xs.to(dev, torch.float32)
        targets_ = [y.to(dev) for y in targets_]
        if n_frames is not None:
            pieces = frames_from_clips(xs, n_frames, hop)  # (N, W, F, n_frames)
            w = pieces.shape[1]
            xs = pieces.reshape(-1, *pieces.shape[2:])
            targets_ = [y.repeat_interleave(w) for y in targets_]
        return xs, targets_

    x_train, y_train = prepare(x[: n - n_val], [y[: n - n_val] for y in ys])
    x_val, y_val = prepare(x[n - n_val :], [y[n - n_val :] for y in ys]) if n_val else (None, None)

    def as_targets(parts: list[Tensor] | tuple[Tensor, ...]) -> Tensor | dict[str, Tensor]:
        return parts[0] if names is None else dict(zip(names, parts))

    model.to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    batches = TensorBatches(
        x_train, *y_train, batch_size=batch_size, generator=make_generator(seed, dev),
        drop_last=len(x_train) % batch_size == 1,
    )

    def step(m: nn.Module, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        total, parts = _split_loss(m.loss(batch[0], as_targets(batch[1:])))
        return {"loss": total, **{f"loss_{k}": v.detach().float() for k, v in parts.items()}}

    val_losses: list[float] = []

    def epoch_end(epoch: int, means: dict[str, float]) -> None:
        if x_val is not None:
            losses = predict(
                model, (x_val, *y_val), lambda m, xb, *yb: _split_loss(m.loss(xb, as_targets(yb)))[0].reshape(1),
                batch_size=batch_size, device=dev, amp=amp, dtype=None, out_dtype=None,
            )
            total, count = 0.0, 0
            for start, loss in zip(range(0, len(x_val), batch_size), losses.tolist()):  # weighted by batch size
                b = min(batch_size, len(x_val) - start)
                total, count = total + loss * b, count + b
            val_losses.append(total / count)
            means = {**means, "val_loss": val_losses[-1]}
        if on_epoch_end is not None:
            on_epoch_end(epoch, means)

    history = train_epochs(
        model, batches, step, optimizer, epochs, dev, amp=amp, progress=progress, desc=desc,
        grad_clip=grad_clip, on_epoch_end=epoch_end,
    )
    if x_val is not None:
        history["val_loss"] = val_losses
    if recalibrate_bn and epochs > 0:
        recalibrate_batchnorm(model, x_train, batch_size=max(batch_size, 2))
    return history


def embed_clips(
    model: nn.Module,
    spec: Tensor | np.ndarray,
    n_frames: int | None = None,
    hop: int | None = None,
    *,
    batch_size: int = 256,
    device: DeviceLike = "auto",
    amp: Amp = False,
) -> Tensor:
    """Clip embeddings ``(N, D)``: the mean of the embeddings of each clip's pieces.

    Each clip ``(F, T)`` of ``spec`` is cut into ``n_frames``-long pieces with hop
    ``hop`` (:func:`~asdlib.models.aithu_classifiers.frames_from_clips`; default hop
    ``n_frames``), ``model`` (``(B, F, n_frames) -> (B, D)``, e.g. a
    :class:`~asdlib.models.aithu_classifiers.SectionClassifier`) embeds the pieces in
    eval mode without gradients, and a clip's embedding is the mean over its pieces
    (AITHU, Table 3: 192-frame pieces). ``n_frames=None`` embeds whole inputs
    (``spec`` of any shape ``(N, ...)``).

    ``model`` is moved to ``device``; ``spec`` may stay on the CPU (clips are copied
    batch by batch, about ``batch_size`` pieces at a time); the model's mode is
    restored. ``amp=True`` runs in bf16 on CUDA. Returns float32 on the CPU.
    """
    _positive_int("batch_size", batch_size)
    dev = resolve_device(device)
    x = _as_tensor(spec, "spec")
    if len(x) == 0:
        raise ValueError("spec holds no clips")
    if n_frames is not None:
        if x.ndim != 3:
            raise ValueError(f"embed_clips with n_frames expects spectrograms (N, F, T); got {tuple(x.shape)}")
        n_pieces = frames_from_clips(x[:1], n_frames, hop).shape[1]  # validates n_frames, hop, T
    else:
        n_pieces = 1
    clips_per_batch = max(1, batch_size // n_pieces)
    model.to(dev)

    def embed_batch(m: nn.Module, xb: Tensor) -> Tensor:
        if n_frames is None:
            return m(xb)
        pieces = frames_from_clips(xb, n_frames, hop)  # (b, W, F, n_frames)
        b, w = pieces.shape[:2]
        return m(pieces.reshape(b * w, *pieces.shape[2:])).float().reshape(b, w, -1).mean(dim=1)

    return predict(model, x, embed_batch, batch_size=clips_per_batch, device=dev, amp=amp)
