"""Training and scoring of the IMDN networks (paper 000, section 3.2; :mod:`asdlib.models.imdn`).

:func:`train_imdn` fits a network on normal clips by the mixture NLL of each window's
centre frame (equations (3) and (4)); :func:`score_imdn` gives a clip's mean NLL, and
optionally the NLL along the clip.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from asdlib.models.imdn import IMDNNetwork, _as_log_mels, gather_windows, imdn_windows
from asdlib.models.inference import Amp, module_device, predict
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.loop import History, train_epochs
from asdlib.train.seeding import make_generator


def train_imdn(
    model: IMDNNetwork,
    log_mels: Tensor | np.ndarray,
    n_frames: int | None = None,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    device: DeviceLike = "auto",
    seed: int = 0,
    stride: int = 1,
    progress: bool = False,
    *,
    normalize: bool = True,
    grad_clip: float | None = 5.0,
    amp: Amp = False,
) -> History:
    """Fit an IMDN network on normal clips by minimising the mixture NLL of the centre frames (Adam).

    Args:
        model: from :func:`build_imdn`; moved to ``device``.
        log_mels: ``(N, n_mels, T)`` training clips (tensor or array), copied to
            ``device`` once; windows are cut per batch by indexing there, so the
            ``N x W`` windows are never materialised.
        n_frames: window length; ``None`` takes ``model.n_frames`` (must match).
        epochs, batch_size, lr: the paper does not give them.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        seed: seeds the window order (the initial weights are the model's own).
        stride: hop between training windows.
        progress: tqdm bars.
        normalize: first set the model's per-bin input standardisation from the
            frames of ``log_mels``.
        grad_clip: max gradient norm (``None``: no clipping).
        amp: bf16 autocast on CUDA (off by default: the NLL is float32 anyway);
            ``amp="always"``: on the CPU too.

    Returns:
        ``{"loss": [mean NLL per window, per epoch]}``.
    """
    n_frames = _check_frames(model, n_frames)
    dev = resolve_device(device)
    x = _as_log_mels(log_mels).to(dev)
    if x.shape[1] != model.n_mels:
        raise ValueError(f"log_mels have {x.shape[1]} mel bins; the model expects {model.n_mels}")
    n_win = (x.shape[-1] - n_frames) // stride + 1
    if n_win < 1:
        raise ValueError(f"clips have T={x.shape[-1]} frames, fewer than n_frames={n_frames}")
    model.to(dev)
    if normalize:
        frames = x.transpose(1, 2).reshape(-1, x.shape[1])
        model.set_normalization(frames.mean(0), frames.std(0))
    ids = torch.arange(x.shape[0] * n_win, device=dev)
    batches = TensorBatches(ids, batch_size=batch_size, generator=make_generator(seed, dev))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(m: IMDNNetwork, batch: tuple[Tensor]) -> Tensor:
        clip, w = batch[0] // n_win, batch[0] % n_win
        context, centre = gather_windows(x, clip, w * stride, n_frames)
        return m.nll(context, centre).mean()

    return train_epochs(
        model, batches, step, optimizer, epochs, dev, grad_clip=grad_clip, amp=amp, progress=progress, desc="imdn"
    )


def score_imdn(
    model: IMDNNetwork,
    log_mels: Tensor | np.ndarray,
    n_frames: int | None = None,
    *,
    stride: int = 1,
    batch_size: int = 4096,
    device: DeviceLike | None = None,
    per_frame: bool = False,
    progress: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Anomaly scores: each clip's mean NLL of its centre frames (higher = more anomalous).

    Args:
        model: a trained IMDN network (evaluated in eval mode, mode restored).
        log_mels: ``(N, n_mels, T)`` clips (or one ``(n_mels, T)``).
        n_frames: ``None`` or ``model.n_frames``.
        stride: hop between scored windows.
        batch_size: windows per forward pass (whole clips per pass, at least one).
        device: ``None``: the model's device.
        per_frame: also return the NLL of every window.
        progress: a tqdm bar over the passes.

    Returns:
        ``(N,)`` float32 clip scores on the CPU; with ``per_frame`` also the
        ``(N, W)`` per-window NLL, window ``w`` predicting frame
        ``w * stride + n_frames // 2`` (for plotting along the clip).
    """
    n_frames = _check_frames(model, n_frames)
    dev = module_device(model) if device is None else resolve_device(device)
    model.to(dev)
    x = _as_log_mels(log_mels)
    n_win = (x.shape[-1] - n_frames) // stride + 1
    if n_win < 1:
        raise ValueError(f"clips have T={x.shape[-1]} frames, fewer than n_frames={n_frames}")
    clips_per_pass = max(1, batch_size // n_win)

    def window_nll(m: IMDNNetwork, clips: Tensor) -> Tensor:
        context, centre = imdn_windows(clips, n_frames, stride)
        return m.nll(context.flatten(0, 1), centre.flatten(0, 1)).view(centre.shape[:2])

    frame_nll = predict(
        model, x, window_nll, batch_size=clips_per_pass, device=dev, dtype=None, to_cpu="batch",
        progress=progress, desc="imdn score",
    )
    scores = frame_nll.mean(dim=1)
    return (scores, frame_nll) if per_frame else scores


def _check_frames(model: IMDNNetwork, n_frames: int | None) -> int:
    if n_frames is not None and n_frames != model.n_frames:
        raise ValueError(f"n_frames={n_frames} but the model was built for n_frames={model.n_frames}")
    return model.n_frames


__all__ = ["score_imdn", "train_imdn"]
