"""Training AEGAN-AD (paper 000, Sec. 3.3): the autoencoder alone (MSE) or against a WGAN-GP critic.

:func:`train_aegan` takes an :class:`~asdlib.models.AEGANAutoencoder` and the
training clips' patches (:func:`~asdlib.features.frames.patch_clips`: cut lazily from
the scaled spectrograms, so every-frame patches need no copy), and:

- without a discriminator (bearing, fan, ToyCar, ToyTrain, valve): minimises
  ``MSE(G(x), x)`` with Adam;
- with an :class:`~asdlib.models.AEGANDiscriminator` (gearbox, slider): each batch,

  1. ``x_hat = G(x)`` (once, its graph kept for step 3);
  2. critic step, eq. (5): ``E[D(x_hat)] - E[D(x)] + lambda * GP`` with ``x_hat``
     detached (:func:`~asdlib.losses.wgan.wgan_critic_loss`,
     :func:`~asdlib.losses.wgan.gradient_penalty`, lambda = 10, computed in float32
     outside autocast: it differentiates through D twice);
  3. every ``n_critic``-th batch, generator step, eq. (6):
     ``MSE(x_hat, x) + mu * ||mean f(x) - mean f(x_hat)||^2 / F`` with ``f`` = D's
     features after the critic step (D's parameters frozen; ``f(x)`` without
     gradient, it does not depend on G).

  This is the order of the AEGAN-AD code (``dcase22/train.py``): critic first, then
  the generator on the same batch. ``n_critic`` is the code's ``ncritic`` (default 1):
  the critic is updated on every batch and the generator on batches
  ``1, 1 + n_critic, 1 + 2 n_critic, ...`` of the run, so there are ``n_critic``
  critic updates per generator update, each on its own batch (WGAN-GP's paper uses 5;
  AEGAN-AD uses 1). Reusing step 1's ``x_hat`` in step 3 is exact: G has not changed
  in between.

Adam (lr 2e-4, betas (0.5, 0.999)) for both networks, batch 512, as the code.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from asdlib.features.frames import ClipPatches, as_clip_patches, patch_clips  # patch_clips: re-exported (__all__)
from asdlib.losses.wgan import aegan_generator_loss, gradient_penalty, wgan_critic_loss
from asdlib.train.amp import Amp, autocast
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import History, format_means, frozen, run_epochs
from asdlib.train.seeding import make_generator


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")


def train_aegan(
    model: nn.Module,
    patches: ClipPatches | Tensor | np.ndarray,
    sections: Tensor | np.ndarray | None = None,
    discriminator: nn.Module | None = None,
    *,
    epochs: int,
    batch_size: int = 512,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    n_critic: int = 1,
    mu: float = 0.1,
    gp_lambda: float = 10.0,
    fm_reduction: str = "mean",
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = False,
    desc: str = "aegan",
    amp: Amp = True,
    sync_every: int = 10,
    drop_last: bool = False,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train AEGAN-AD on normal patches; return the per-epoch loss means.

    Args:
        model: an :class:`~asdlib.models.AEGANAutoencoder` (anything with
            ``forward(x, sections)``); moved to ``device``, train mode during the loop,
            its previous mode restored.
        patches: the training clips' patches: a :class:`~asdlib.features.frames.ClipPatches`
            (:func:`~asdlib.features.frames.patch_clips` of the spectrograms scaled with
            :func:`~asdlib.models.aegan.scale_to_unit`) or a tensor ``(n_clips, P, H, W)``.
            Lazy patches are cut on the device from the spectrograms moved there once;
            pre-cut patches stay where they are and each batch is copied over.
        sections: section id per clip ``(n_clips,)``; needed when the model has an
            adaptive LayerNorm (ToyCar, gearbox), otherwise unused.
        discriminator: an :class:`~asdlib.models.AEGANDiscriminator` to train WGAN-GP +
            feature matching (gearbox, slider), or ``None`` for MSE only.
        epochs: passes over all patches.
        batch_size, lr, betas: Adam for both networks (2e-4, (0.5, 0.999), batch 512).
        n_critic: critic updates per generator update (module docstring; default 1).
        mu: feature-matching weight of eq. (6) (0.1).
        gp_lambda: gradient-penalty weight of eq. (5) (10).
        fm_reduction: ``"mean"`` (the code) or ``"sum"`` (the paper's norm), see
            :func:`~asdlib.losses.wgan.feature_matching`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the patch order (generator ``seed``) and the penalty's
            interpolation weights (``seed + 1``), both on ``device``. Initial weights are
            whatever the networks were created with.
        progress, desc: one tqdm bar per epoch (the last one stays).
        amp: bf16 autocast on CUDA for the forward passes (the decoder's output layer,
            the losses and the gradient penalty stay float32); ``amp="always"``: on the CPU too.
        sync_every: read the losses from the device every this many steps.
        drop_last: leave out the last, smaller batch of each epoch (the code does).
        on_epoch_end: ``on_epoch_end(epoch, means)`` after each epoch.

    Returns:
        ``{"g_loss", "mse"}`` and, with a discriminator, ``"fm"`` (unweighted feature
        matching), ``"d_loss"`` (eq. (5)), ``"gp"`` (the weighted penalty) and
        ``"wasserstein"`` (``E[D(x)] - E[D(x_hat)]``, the critic's distance estimate):
        one float per epoch, each the mean over the steps that computed it.

    Raises:
        NonFiniteLossError: a loss became NaN/inf (names the epoch and step).
    """
    _check_int("epochs", epochs, 0)
    _check_int("batch_size", batch_size, 1)
    _check_int("n_critic", n_critic, 1)
    _check_int("sync_every", sync_every, 1)
    dev = resolve_device(device)
    cp = as_clip_patches(patches)
    if cp.lazy:
        cp = cp.to(dev)
    size = getattr(model, "size", None)
    if size is not None and cp.patch_shape != (size, size):
        raise ValueError(f"patches are {cp.patch_shape}, the model takes ({size}, {size})")
    n, per_clip = cp.n_clips, cp.per_clip
    needs_sections = getattr(model, "ada_norm", None) is not None
    sec = None
    if sections is not None:
        sec = torch.as_tensor(np.asarray(sections) if not isinstance(sections, Tensor) else sections)
        sec = sec.long().reshape(-1).to(dev)
        if sec.shape[0] != n:
            raise ValueError(f"sections: {sec.shape[0]} ids for {n} clips (one per clip)")
    elif needs_sections:
        raise ValueError("the model has an adaptive LayerNorm: pass sections (one id per clip)")
    if not needs_sections:
        sec = None

    model.to(dev)
    g_params = [p for p in model.parameters() if p.requires_grad]
    if not g_params:
        raise ValueError("the model has no trainable parameters")
    opt_g = torch.optim.Adam(g_params, lr=lr, betas=betas)
    d_params: list[nn.Parameter] = []
    opt_d = None
    if discriminator is not None:
        discriminator.to(dev)
        d_params = [p for p in discriminator.parameters() if p.requires_grad]
        if not d_params:
            raise ValueError("the discriminator has no trainable parameters")
        opt_d = torch.optim.Adam(d_params, lr=lr, betas=betas)

    index = torch.arange(n * per_clip, device=dev)
    if drop_last and len(index) < batch_size:
        raise ValueError(f"drop_last=True with batch_size={batch_size} > {len(index)} patches leaves no batch")
    batches = TensorBatches(index, batch_size=batch_size, generator=make_generator(seed, dev), drop_last=drop_last)
    noise = make_generator((seed + 1) % 2**32, dev)

    g_step = [0]  # batches seen over the whole run, for n_critic

    def step(epoch: int, i: int, batch: tuple[Tensor]) -> dict[str, Tensor]:
        (idx,) = batch
        clips = torch.div(idx, per_clip, rounding_mode="floor")
        x = cp.take(clips, idx % per_clip).to(dev, torch.float32, non_blocking=True)
        sb = None if sec is None else sec[clips]
        with autocast(dev, enabled=amp):
            x_hat = model(x, sb) if needs_sections else model(x)
        values: dict[str, Tensor] = {}
        if discriminator is None:
            losses = aegan_generator_loss(x, x_hat)
            opt_g.zero_grad(set_to_none=True)
            losses["total"].backward()
            opt_g.step()
            values = {"g_loss": losses["total"], "mse": losses["mse"]}
        else:
            # critic, eq. (5)
            fake = x_hat.detach()
            opt_d.zero_grad(set_to_none=True)
            with autocast(dev, enabled=amp):
                real_v, _ = discriminator(x)
                fake_v, _ = discriminator(fake)
            w = wgan_critic_loss(real_v, fake_v)
            with torch.autocast(device_type=dev.type, enabled=False):
                gp = gradient_penalty(discriminator, x, fake, gp_lambda, generator=noise)
            d_loss = w + gp
            d_loss.backward()
            opt_d.step()
            values.update(d_loss=d_loss.detach(), gp=gp.detach(), wasserstein=-w.detach())
            # generator, eq. (6), every n_critic-th batch
            if g_step[0] % n_critic == 0:
                with frozen(d_params):
                    with autocast(dev, enabled=amp):
                        f_fake = discriminator.features(x_hat)
                        with torch.no_grad():
                            f_real = discriminator.features(x)
                    losses = aegan_generator_loss(x, x_hat, f_real, f_fake, mu, fm_reduction)
                    opt_g.zero_grad(set_to_none=True)
                    losses["total"].backward()
                    opt_g.step()
                values.update(g_loss=losses["total"], mse=losses["mse"], fm=losses["fm"])
        g_step[0] += 1
        return values

    return run_epochs(
        step, batches, epochs, modules=[m for m in (model, discriminator) if m is not None], progress=progress,
        desc=desc, sync_every=sync_every, postfix=format_means, on_epoch_end=on_epoch_end,
    )


__all__ = ["patch_clips", "train_aegan"]
