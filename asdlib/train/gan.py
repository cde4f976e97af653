"""Adversarial training of the GAN-based detectors (paper 001): two optimisers, one loop.

Works with any "system" that has the interface of :mod:`asdlib.models.gan_detectors`
(:class:`~asdlib.models.GANomaly`, :class:`~asdlib.models.SkipGANomaly`,
:class:`~asdlib.models.EGBAD`): ``generator_losses(x, rng=, cache=) -> dict`` with a
``"total"``, ``discriminator_loss(x, rng=, cache=)``, ``generator_parameters()``,
``discriminator_parameters()``.

Each step, on one batch (the originals' order: generator first, then discriminator,
on the fakes the generator made before its update):

1. generator side: D's parameters are frozen (``requires_grad=False``: no wasted
   gradients for D), ``generator_losses`` under bf16 autocast on CUDA,
   ``total.backward()``, generator Adam step;
2. ``d_steps`` times: ``discriminator_loss`` on the same batch and the cached fakes,
   backward, discriminator Adam step.

Losses are read from the GPU every ``sync_every`` steps (:class:`EpochMeter`), so
the GPU does not wait on the host each step; a NaN/inf raises
:class:`~asdlib.train.errors.NonFiniteLossError` naming the epoch and step.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from asdlib.train.amp import Amp, autocast
from asdlib.train.autoencoder import as_vectors
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import History, format_means, frozen, run_epochs
from asdlib.train.seeding import make_generator


def train_adversarial(
    system: nn.Module,
    vectors: Tensor | np.ndarray,
    *,
    epochs: int,
    batch_size: int = 512,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    d_steps: int = 1,
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = True,
    desc: str = "adversarial",
    amp: Amp = True,
    sync_every: int = 10,
    d_reset_below: float | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train a GAN-based detector on normal ``vectors``; return the per-epoch loss means.

    Args:
        system: a :class:`~asdlib.models.GANomaly`, :class:`~asdlib.models.SkipGANomaly`
            or :class:`~asdlib.models.EGBAD` (or anything with their interface);
            moved to ``device``, in train mode during the loop, its previous mode
            restored afterwards.
        vectors: ``(N, D)`` training vectors (``(N, T, D)`` clip vectors are
            flattened), copied to ``device`` once as float32.
        epochs: number of epochs.
        batch_size, lr, betas: Adam for both optimisers (the originals: 2e-4, (0.5, 0.999)).
        d_steps: discriminator updates per generator update (same batch, same fakes).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the batch order (generator ``seed``) and EGBAD's noise
            (generator ``seed + 1``), both on ``device``. Initial weights are
            whatever the system was created with (call
            :func:`~asdlib.train.seeding.seed_everything` before creating it).
        progress, desc: one tqdm bar per epoch, labelled ``"{desc} {epoch}/{epochs}"``,
            running means of the losses in the postfix; only the last bar stays.
        amp: bf16 autocast on CUDA for the forward passes (losses in float32); ``amp="always"``: on the CPU too.
        sync_every: read the losses from the device every this many steps.
        d_reset_below: if set (the GANomaly / Skip-GANomaly code uses 1e-5),
            re-initialise D (``system.reset_discriminator()``) when its loss falls
            below this value. Checked at the sync points (every ``sync_every``
            steps, on that step's loss), not every step as the originals do.
            Default ``None``: never.
        on_epoch_end: ``on_epoch_end(epoch, means)`` after each epoch.

    A last batch of a single vector (BatchNorm cannot train on it) is dropped.

    Returns:
        ``{"g_<component>": [...], "g_total": [...], "d_loss": [...]}``: one float per
        epoch, the per-step means; the components are the keys of
        ``system.generator_losses`` (GANomaly ``adv, con, enc``; Skip-GANomaly
        ``adv, con, lat``; EGBAD ``gen, enc``), unweighted, ``g_total`` weighted.
        With ``d_reset_below``, also ``"d_resets"`` (count per epoch).

    Raises:
        NonFiniteLossError: a loss became NaN/inf (names the epoch and step).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs={epochs!r} must be a non-negative integer")
    if isinstance(d_steps, bool) or not isinstance(d_steps, int) or d_steps < 1:
        raise ValueError(f"d_steps={d_steps!r} must be a positive integer")
    if sync_every < 1:
        raise ValueError(f"sync_every={sync_every!r} must be >= 1")
    for name in ("generator_losses", "discriminator_loss", "generator_parameters", "discriminator_parameters"):
        if not callable(getattr(system, name, None)):
            raise TypeError(f"system must have a method {name}() (see asdlib.models.gan_detectors)")
    dev = resolve_device(device)
    x = as_vectors(vectors).to(dev, torch.float32)
    system.to(dev)
    g_params = [p for p in system.generator_parameters() if p.requires_grad]
    d_params = [p for p in system.discriminator_parameters() if p.requires_grad]
    if not g_params or not d_params:
        raise ValueError("the system has no trainable generator or discriminator parameters")
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=betas)
    opt_d = torch.optim.Adam(d_params, lr=lr, betas=betas)
    batches = TensorBatches(
        x, batch_size=batch_size, generator=make_generator(seed, dev), drop_last=len(x) % batch_size == 1
    )
    noise = make_generator((seed + 1) % 2**32, dev)

    last: dict[str, Tensor] = {}  # the latest step's discriminator loss, for d_reset_below
    resets = [0]  # re-initialisations of D in the current epoch

    def step(epoch: int, i: int, batch: tuple[Tensor]) -> dict[str, Tensor]:
        (xb,) = batch
        cache: dict[str, Any] = {}
        # 1. generator side, D frozen
        with frozen(d_params):
            opt_g.zero_grad(set_to_none=True)
            with autocast(dev, enabled=amp):
                losses = system.generator_losses(xb, rng=noise, cache=cache)
            if "total" not in losses:
                raise ValueError(f"generator_losses must return a 'total' entry; got {list(losses)}")
            losses["total"].backward()
            opt_g.step()
        # 2. discriminator
        for _ in range(d_steps):
            opt_d.zero_grad(set_to_none=True)
            with autocast(dev, enabled=amp):
                d_loss = system.discriminator_loss(xb, rng=noise, cache=cache)
            d_loss.backward()
            opt_d.step()
        last["d_loss"] = d_loss
        values = {f"g_{k}": v for k, v in losses.items() if k != "total"}
        values["g_total"] = losses["total"]
        values["d_loss"] = d_loss
        return values

    def reset_weak_discriminator(i: int) -> None:
        if d_reset_below is not None and last["d_loss"].item() < d_reset_below:
            system.reset_discriminator()
            resets[0] += 1

    def count_resets(epoch: int, means: dict[str, float]) -> dict[str, float]:
        if d_reset_below is not None:
            means["d_resets"] = float(resets[0])
        resets[0] = 0
        return means

    return run_epochs(
        step, batches, epochs, modules=[system], progress=progress, desc=desc, sync_every=sync_every,
        postfix=format_means, after_sync=reset_weak_discriminator, epoch_means=count_resets, on_epoch_end=on_epoch_end,
    )


__all__ = ["train_adversarial"]
