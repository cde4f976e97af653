"""Training and scoring of WSP-NFCDEE (paper 000, section 3.2; :mod:`asdlib.models.wsp_nfcdee`).

Fitted per section on normal clips only, by maximum likelihood; the anomaly score is the
ensemble's negative log-likelihood.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from asdlib.models.inference import Amp, map_batches, module_device, predict
from asdlib.models.wsp_nfcdee import WSPNFCDEE, _check_log_mels, time_stats
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import train_epochs
from asdlib.train.seeding import make_generator


def _clip_stats(log_mels: Tensor | np.ndarray, n_mels: int, batch_size: int, dev: torch.device) -> Tensor:
    """:func:`time_stats` of all clips on ``dev``, ``batch_size`` clips sent at a time."""
    x = log_mels if isinstance(log_mels, Tensor) else torch.as_tensor(np.asarray(log_mels))
    _check_log_mels(x, n_mels)
    if len(x) == 0:
        raise ValueError("log_mels holds no clips")
    return map_batches(time_stats, x, batch_size=batch_size, device=dev, out_dtype=None, to_cpu=None)


def train_wsp_nfcdee(
    model: WSPNFCDEE,
    log_mels: Tensor | np.ndarray,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = False,
    *,
    amp: Amp = False,
    noise: float = 0.0,
) -> dict[str, list[float]]:
    """Fit ``model`` on one section's normal clips by maximum likelihood (unsupervised).

    The clips' time statistics ``(N, 2, n_mels)`` are computed once on ``device``
    (pooling weights act on them linearly), the standardiser is fitted on them, then
    WSP's logit and all flows are trained jointly with Adam on the mean ensemble NLL, in
    float32 by default (densities need the precision, and the flows' small networks gain
    little from bf16). A model with a fixed alpha (``train_alpha=False``, e.g. the NF-CDEE
    ablation) trains its flows alone.

    Args:
        model: a :class:`WSPNFCDEE`; moved to ``device``.
        log_mels: ``(N, n_mels, T)`` tensor or array of training clips, N >= 2.
        epochs, batch_size, lr: Adam's schedule.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the batch order. The initial weights are the model's (call
            :func:`asdlib.train.seed_everything` before creating it).
        progress: one tqdm bar per epoch.
        amp: bf16 autocast for the flows' hyper-networks, on CUDA (``True``) or on any
            device (``"always"``; :func:`~asdlib.train.amp.autocast`); the transforms,
            their log-determinants and the NLL stay float32 (:class:`NFCDEE`). Default
            ``False``: float32 throughout.
        noise: standard deviation of Gaussian noise added to the standardised pooled
            features of every training batch before the flows (ours, not the paper's; 0:
            none). A section has a few dozen clips and each flow conditions on the other
            bins, so without it the flows fit those clips' exact values and the training
            NLL falls without bound; with it they model the clips smoothed by the noise
            (a kernel density's bandwidth, in units of each bin's training std), the
            loss levels off, and scoring (no noise) is unchanged in form.

    Returns:
        ``{"loss": [mean NLL per epoch], "alpha": [alpha after each epoch]}``.
    """
    dev = resolve_device(device)
    model.to(dev)
    stats = _clip_stats(log_mels, model.n_mels, max(batch_size, 256), dev)
    model.fit_standardizer(stats)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    batches = TensorBatches(stats, batch_size=batch_size, generator=make_generator(seed, dev))
    if noise < 0:
        raise ValueError(f"noise={noise!r} must be >= 0")
    alphas: list[float] = []

    def step(m: WSPNFCDEE, batch: tuple[Tensor]) -> Tensor:
        if noise == 0:
            return m.nll_stats(batch[0]).mean()
        features = m.features_stats(batch[0])
        return m.flows.nll(features + noise * torch.randn_like(features)).mean()

    history = train_epochs(
        model, batches, step, optimizer, epochs, dev,
        amp=amp, progress=progress, desc="wsp-nfcdee", on_epoch_end=lambda epoch, means: alphas.append(model.alpha),
    )
    return {"loss": history["loss"], "alpha": alphas}


def score_wsp_nfcdee(
    model: WSPNFCDEE,
    log_mels: Tensor | np.ndarray,
    batch_size: int = 256,
    device: DeviceLike | None = None,
) -> np.ndarray:
    """Anomaly scores (ensemble NLL, higher = more anomalous) of ``(N, n_mels, T)`` clips.

    ``device``: where to score (the model is moved there); ``None`` keeps the model's
    device. Eval mode, no gradients. Returns ``(N,)`` float64.
    """
    if device is not None:
        model.to(resolve_device(device))
    dev = module_device(model)
    stats = _clip_stats(log_mels, model.n_mels, batch_size, dev)
    scores = predict(
        model, stats, lambda m, s: m.nll_stats(s), batch_size=batch_size, device=dev, dtype=None, out_dtype=None,
        to_cpu=None,
    )
    return scores.double().cpu().numpy()


__all__ = ["score_wsp_nfcdee", "train_wsp_nfcdee"]
