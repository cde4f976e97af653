"""Reshaping spectrograms into model inputs: frame stacking, patches, mean normalisation.

All functions take a batch of spectrograms ``(B, F, T)`` (frequency first, time
last, as :func:`asdlib.features.log_mel` returns them) and work on any device.
:class:`ClipPatches` (:func:`patch_clips`) holds the patches of :func:`patches`
without copying them out: a batch is cut when it is taken (AEGAN-AD trains on every
window of every clip, which copied out would be 186 x the spectrograms).
"""

from __future__ import annotations

import numpy as np
import torch
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


class ClipPatches:
    """The ``size``-frame patches of each clip, cut on demand (no copy of the overlaps).

    Two ways to make one:

    - ``ClipPatches(spectrograms, size, hop)`` (or :func:`patch_clips`): from clip
      spectrograms ``(N, F, T)``; :meth:`view` is an ``unfold`` view ``(N, P, F, size)``
      with ``P = 1 + (T - size) // hop`` (the patches of
      :func:`asdlib.features.patches`), nothing is copied until a batch is taken;
    - ``ClipPatches.from_patches(p)``: already cut patches ``(N, P, H, W)``.

    :meth:`to` moves the underlying spectrograms (or patches); :meth:`take` gathers a
    batch ``(B, 1, H, W)`` of (clip, patch) pairs. ``len()`` is ``N * P``.
    """

    def __init__(self, spectrograms: Tensor | np.ndarray, size: int = 128, hop: int = 1) -> None:
        x = _as_tensor(spectrograms)
        if x.ndim != 3:
            raise ValueError(f"ClipPatches: spectrograms must be (N, F, T), got shape {tuple(x.shape)}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"ClipPatches: size={size!r} must be a positive integer")
        if isinstance(hop, bool) or not isinstance(hop, int) or hop < 1:
            raise ValueError(f"ClipPatches: hop={hop!r} must be a positive integer")
        if x.shape[0] == 0:
            raise ValueError("ClipPatches: no clips")
        if x.shape[-1] < size:
            raise ValueError(f"ClipPatches: clips of {x.shape[-1]} frames are shorter than one patch of {size}")
        self._source = x
        self.size: int | None = size
        self.hop: int | None = hop

    @classmethod
    def from_patches(cls, patches: Tensor | np.ndarray) -> ClipPatches:
        """Wrap already cut patches ``(N, P, H, W)`` (``(N, P, 1, H, W)`` is squeezed)."""
        p = _as_tensor(patches)
        if p.ndim == 5 and p.shape[2] == 1:
            p = p.squeeze(2)
        if p.ndim != 4:
            raise ValueError(f"ClipPatches.from_patches: patches must be (N, P, H, W), got shape {tuple(p.shape)}")
        if p.shape[0] == 0 or p.shape[1] == 0:
            raise ValueError(f"ClipPatches.from_patches: no patches (shape {tuple(p.shape)})")
        obj = cls.__new__(cls)
        obj._source = p
        obj.size = None
        obj.hop = None
        return obj

    @property
    def lazy(self) -> bool:
        """Whether the patches are cut from spectrograms on demand."""
        return self.size is not None

    def view(self) -> Tensor:
        """``(N, P, H, W)``: an ``unfold`` view of the spectrograms (lazy) or the patches."""
        if self.lazy:
            return self._source.unfold(-1, self.size, self.hop).permute(0, 2, 1, 3)
        return self._source

    @property
    def n_clips(self) -> int:
        return int(self._source.shape[0])

    @property
    def per_clip(self) -> int:
        """Patches per clip ``P``."""
        if self.lazy:
            return 1 + (int(self._source.shape[-1]) - self.size) // self.hop
        return int(self._source.shape[1])

    @property
    def patch_shape(self) -> tuple[int, int]:
        """``(H, W)`` of one patch."""
        if self.lazy:
            return int(self._source.shape[1]), int(self.size)
        return int(self._source.shape[2]), int(self._source.shape[3])

    @property
    def device(self) -> torch.device:
        return self._source.device

    def __len__(self) -> int:
        return self.n_clips * self.per_clip

    def to(self, device: torch.device | str) -> ClipPatches:
        """A copy on ``device`` (moves the spectrograms or patches, nothing else)."""
        obj = ClipPatches.__new__(ClipPatches)
        obj._source = self._source.to(device)
        obj.size, obj.hop = self.size, self.hop
        return obj

    def take(self, clips: Tensor, index: Tensor) -> Tensor:
        """Patches ``index[b]`` of clips ``clips[b]``: ``(B, 1, H, W)`` float32 (a copy)."""
        clips = clips.to(self._source.device)
        index = index.to(self._source.device)
        return self.view()[clips, index].unsqueeze(1).float()

    def clip(self, i: int) -> Tensor:
        """All patches of clip ``i``: ``(P, 1, H, W)`` float32."""
        return self.view()[i].unsqueeze(1).float()

    def materialize(self) -> Tensor:
        """All patches as one contiguous ``(N, P, H, W)`` tensor (:func:`asdlib.features.patches`)."""
        if self.lazy:
            return patches(self._source, hop=self.hop, size=self.size)
        return self._source.contiguous()

    def __repr__(self) -> str:
        how = f"size={self.size}, hop={self.hop}" if self.lazy else "pre-cut"
        return (
            f"ClipPatches(n_clips={self.n_clips}, per_clip={self.per_clip}, patch={self.patch_shape}, "
            f"{how}, device={self.device})"
        )


def _as_tensor(x: Tensor | np.ndarray) -> Tensor:
    return x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))


def patch_clips(log_mels: Tensor | np.ndarray, size: int = 128, hop: int = 1) -> ClipPatches:
    """Clip spectrograms ``(N, F, T)`` -> their ``size``-frame patches every ``hop`` frames, lazily.

    AEGAN-AD (:mod:`asdlib.models.aegan`): 128 x 128 patches of the scaled 128-mel
    spectrograms, every frame (``hop=1``: 186 patches per 313-frame clip) for training
    and testing.
    """
    return ClipPatches(log_mels, size=size, hop=hop)


def as_clip_patches(patches: ClipPatches | Tensor | np.ndarray) -> ClipPatches:
    """A :class:`ClipPatches` from one, or from patches ``(N, P, H, W)`` (or ``(N, H, W)``: one per clip)."""
    if isinstance(patches, ClipPatches):
        return patches
    p = _as_tensor(patches)
    if p.ndim == 3:
        p = p.unsqueeze(1)
    return ClipPatches.from_patches(p)
