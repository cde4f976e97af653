"""Training a vector autoencoder with MSE: the DCASE 2020 baseline's loop.

The baseline fits :class:`~asdlib.models.DCASEAutoencoder`
on the stacked log-mel vectors of a machine type's normal training clips: MSE, Adam
1e-3, batch 512, 100 epochs, shuffled. Built on
:func:`asdlib.train.loop.train_epochs` (bf16 autocast on CUDA, NaN/inf checks
without a GPU sync per step, progress bars) and
:class:`asdlib.train.batches.TensorBatches` (the vectors are copied to the device
once; batches are indexed there).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.models.inference import Amp, predict
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import History, train_epochs
from asdlib.train.seeding import make_generator


def as_vectors(vectors: Any, name: str = "vectors") -> Tensor:
    """``(N, D)`` float32 tensor from a tensor or array; ``(N, T, D)`` clip vectors are flattened."""
    if not isinstance(vectors, Tensor):
        try:
            vectors = torch.as_tensor(np.asarray(vectors))
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a tensor or an array; got {type(vectors).__name__}") from err
    if vectors.ndim == 3:
        vectors = vectors.reshape(-1, vectors.shape[-1])
    if vectors.ndim != 2:
        raise ValueError(f"{name} must be (N, D) vectors (or (N, T, D) per clip); got shape {tuple(vectors.shape)}")
    if len(vectors) < 2:
        raise ValueError(f"{name}: need at least 2 vectors (BatchNorm), got {len(vectors)}")
    return vectors


def train_autoencoder(
    model: nn.Module,
    vectors: Tensor | np.ndarray,
    *,
    epochs: int,
    batch_size: int = 512,
    lr: float = 1e-3,
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = True,
    desc: str = "autoencoder",
    amp: Amp = True,
    validation_split: float = 0.0,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Fit ``model`` (``(B, D) -> (B, D)``) to reconstruct ``vectors`` with MSE and Adam.

    Args:
        model: e.g. :class:`~asdlib.models.DCASEAutoencoder`; moved to ``device``.
        vectors: ``(N, D)`` training vectors (tensor or array; ``(N, T, D)`` clip
            vectors are flattened), copied to ``device`` once as float32.
        epochs, batch_size, lr: the baseline's are 100, 512, 1e-3.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the batch order (a generator on ``device``). The initial
            weights are whatever the model was created with (call
            :func:`~asdlib.train.seeding.seed_everything` before creating it).
        progress, desc: one tqdm bar per epoch (see :func:`~asdlib.train.loop.train_epochs`).
        amp: bf16 autocast on CUDA (the reconstruction layer and the loss stay float32);
            ``amp="always"``: on the CPU too.
        validation_split: hold out the last fraction of ``vectors`` (taken before
            shuffling, as Keras' ``validation_split`` in the baseline's ``fit``) and
            report its MSE (eval mode) per epoch as ``"val_loss"``; 0 (default) trains
            on everything.
        on_epoch_end: ``on_epoch_end(epoch, means)`` after each epoch.

    A last batch of a single vector (BatchNorm cannot train on it) is dropped.

    Returns:
        ``{"loss": [mean training MSE per epoch]}`` (plus ``"val_loss"``).
    """
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split={validation_split!r} must be in [0, 1)")
    dev = resolve_device(device)
    x = as_vectors(vectors)
    n_val = int(len(x) * validation_split)
    x_val = x[len(x) - n_val :].to(dev, torch.float32) if n_val else None
    x = x[: len(x) - n_val].to(dev, torch.float32)
    model.to(dev)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    batches = TensorBatches(
        x, batch_size=batch_size, generator=make_generator(seed, dev), drop_last=len(x) % batch_size == 1
    )

    def step(m: nn.Module, batch: tuple[Tensor]) -> Tensor:
        xb = batch[0]
        return F.mse_loss(m(xb).float(), xb)

    val_losses: list[float] = []

    def epoch_end(epoch: int, means: dict[str, float]) -> None:
        if x_val is not None:
            sums = predict(
                model, x_val, lambda m, xb: F.mse_loss(m(xb).float(), xb, reduction="sum").reshape(1),
                batch_size=8192, device=dev, out_dtype=None,
            )
            val_losses.append(sum(sums.tolist(), 0.0) / x_val.numel())
            means = {**means, "val_loss": val_losses[-1]}
        if on_epoch_end is not None:
            on_epoch_end(epoch, means)

    history = train_epochs(
        model, batches, step, optimizer, epochs, dev, amp=amp, progress=progress, desc=desc, on_epoch_end=epoch_end
    )
    if x_val is not None:
        history["val_loss"] = val_losses
    return history


__all__ = ["as_vectors", "train_autoencoder"]
