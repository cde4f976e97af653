"""Reshaping spectrograms into model inputs: frame stacking, patches, mean normalisation.

All functions take a batch of spectrograms ``(B, F, T)`` (frequency first, time
last, as :func:`asdlib.features.log_mel` returns them) and work on any device.
"""

from __future__ import annotations

from torch import Tensor


def _check_3d(x: Tensor, what: str) -> None:
    if x.ndim != 3:
        raise ValueError(f"{what}: expected spectrograms of shape (B, F, T), got {tuple(x.shape)}")


def stack_frames(x: Tensor, n_frames: int = 5) -> Tensor:
    """Stack consecutive frames as the DCASE autoencoder baseline does.

    (B, F, T) -> (B, T - n_frames + 1, n_frames * F). Vector ``j`` is the
    concatenation of frames ``j, j + 1, ..., j + n_frames - 1``, frame by frame:
    entries ``[k * F, (k + 1) * F)`` hold frame ``j + k``. With 128 mels and 5
    frames this gives the baseline's 640-dimensional vectors.
    """
    _check_3d(x, "stack_frames")
    b, f, t = x.shape
    if not 1 <= n_frames <= t:
        raise ValueError(f"stack_frames: n_frames must be in 1..{t} (the number of frames), got {n_frames}")
    windows = x.unfold(-1, n_frames, 1)  # (B, F, T', n_frames)
    return windows.permute(0, 2, 3, 1).reshape(b, t - n_frames + 1, n_frames * f)


def patches(x: Tensor, hop: int, size: int = 128) -> Tensor:
    """Cut spectrograms into fixed-width patches along time (AEGAN-AD's 128 x 128 inputs).

    (B, F, T) -> (B, n_patches, F, size) with ``n_patches = 1 + (T - size) // hop``;
    patch ``i`` is ``x[:, :, i * hop : i * hop + size]``. Trailing frames that do not
    fill a whole patch are dropped. The result is a copy (contiguous).
    """
    _check_3d(x, "patches")
    t = x.shape[-1]
    if size < 1 or hop < 1:
        raise ValueError(f"patches: size and hop must be positive, got size={size}, hop={hop}")
    if t < size:
        raise ValueError(f"patches: {t} frames are fewer than one patch of {size}")
    return x.unfold(-1, size, hop).permute(0, 2, 1, 3).contiguous()


def temporal_mean_norm(x: Tensor) -> Tensor:
    """Subtract each frequency bin's mean over time, per sample (Wilkinghoff).

    (B, F, T) -> (B, F, T): ``x - x.mean(dim=-1, keepdim=True)``, the
    spectrogram analogue of cepstral mean normalisation.
    """
    _check_3d(x, "temporal_mean_norm")
    return x - x.mean(dim=-1, keepdim=True)
