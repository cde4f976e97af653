"""USTC's self-supervised classifier (Wang, Du and Wang, APSIPA ASC 2022, paper 002).

The system of the paper's Fig. 1 and Sec. II:

::

    waveform a (B, n_samples)
      -> F_L = log-mel(|STFT(a)|^2)                     (B, F, T)   eq. (1)
      -> F_T = TgramNet(a)                              (B, F, T)   eq. (2)
      -> F_P = PTM(a), projected to the F x T grid      (B, F, T)   eq. (3)
      -> F_LTP = Concatenate(F_L, F_T, F_P)             (B, 3, F, T) eq. (4)
      -> TDNN classifier -> embedding (B, D), section logits, attribute logits
    loss (eq. 5) = CE(sections) + batch-hard triplet + CE(attributes)
    score: eq. (6) posterior  log((1 - p) / p)
           eq. (7) distance   1 - max_k cos(E_test, E_train_k), same section

Paper facts used (Sec. III-B 1): log-mel with a 1024-point FFT, window 1024, hop
512, 128 mel bands (F = 128, T = 313 for a 10 s clip at 16 kHz); a TDNN as the
classifier; Adam, learning rate 2e-4, 100 epochs; CE + batch-hard triplet loss
(Hermans et al. 2017) in the baseline, the auxiliary attribute CE added in
experiment 5; the three losses of eq. (5) are summed with unit weights. The
ablation of Table I uses the feature subsets L, L+T, L+P and L+T+P, so the
classifier takes 1, 2 or 3 channels.

What the paper leaves open, and the choices made here:

- **TDNN** ("we choose the time-delay neural network (TDNN) as the baseline
  classifier", nothing more): the x-vector TDNN of Snyder et al. (ICASSP 2018),
  see :class:`TDNNClassifier`. The ``C x F`` input planes are stacked into
  ``C * F`` input channels of the 1-D (time) network.
- **TgramNet** (Liu et al., ICASSP 2022, ref. [23]; the STgram-MFN code): the
  STgram-MFN code normalises with ``nn.LayerNorm(313)`` over the *time* axis,
  which ties it to 10 s clips. :class:`TgramNet` normalises each channel over its
  frames without that tie (see the class); ``layer_norm_frames=313`` restores the
  original layer (and loads STgram-MFN weights: the parameter names are theirs).
- **wav2vec 2.0 features** (eq. 3; "the dimension of F_P is F x T", no mapping
  given): a learnable linear projection of the feature dimension to ``F`` followed
  by linear interpolation over time to ``T`` frames (:class:`FeatureStack`).
- The **embedding** is the classifier's D-dimensional bottleneck (D = 128), the
  section and attribute heads are linear layers on it (the paper names neither).

This module does not import :mod:`asdlib.train`; the training loop is
:func:`asdlib.train.ustc.train_ustc`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.utils import as_tensor as _as_tensor
from asdlib.features.spectral import LogMelConfig, log_mel

CHANNELS = ("logmel", "tgram", "wav2vec")
"""The feature planes of eq. (4), in the paper's order (F_L, F_T, F_P)."""


def _positive_int(name: str, value, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be a positive integer")
    return int(value)


# ----------------------------------------------------------------------------- TgramNet


class _TimeLayerNorm(nn.Module):
    """LayerNorm over the time axis of ``(B, C, T)``, for any ``T``.

    Each (clip, channel) row is normalised by its mean and (biased) variance over the
    frames, as ``nn.LayerNorm(T)`` applied to ``(B, C, T)`` does, then scaled and shifted
    by a learnable per-*channel* affine (``nn.LayerNorm(T)``'s affine is per frame,
    which fixes ``T``). Equivalent to ``nn.GroupNorm(C, C)`` / ``InstanceNorm1d(C,
    affine=True)``.
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x, x.shape[-1:], eps=self.eps)
        return x * self.weight[:, None] + self.bias[:, None]


class TgramNet(nn.Module):
    """TgramNet (Liu et al., ICASSP 2022; STgram-MFN): raw waveform -> a learnable "spectrogram".

    Layers (STgram-MFN's ``net.py``):

    ==============================================================  ==========
    layer                                                           output
    ==============================================================  ==========
    Conv1d(1 -> n_mels, kernel win_length, stride hop_length,
    centred zero padding, no bias)  ("conv_extrctor")               n_mels x T
    3 x [LayerNorm, LeakyReLU(0.2), Conv1d(n_mels -> n_mels, k3,
    padding 1, no bias)]  ("conv_encoder")                           n_mels x T
    ==============================================================  ==========

    **Frame count.** The log-mel of :func:`asdlib.features.log_mel` centres frame ``t``
    on sample ``t * hop`` by zero-padding ``n_fft // 2`` samples on both sides, which
    gives ``1 + n // hop`` frames for ``n`` samples (even ``n_fft``: 313 for 10 s,
    344 for 11 s, 63 for 2 s at 16 kHz and hop 512). The strided convolution here sees
    the same windows: the input is zero-padded by ``win_length // 2`` on the left and
    ``win_length - win_length // 2`` on the right (``512 + 512`` for the default, i.e.
    STgram-MFN's ``padding=win_len // 2``), so output frame ``t`` covers samples
    ``[t * hop - win // 2, t * hop - win // 2 + win)``, centred on ``t * hop``, and the
    count is ``(n + win - win) // hop + 1 = 1 + n // hop``, the log-mel's, for any ``n``
    and any window length (the asymmetric right pad keeps it exact for odd windows too).
    The three ``k3`` convolutions pad by 1 and keep ``T``. :meth:`n_frames` gives ``T``.
    (The log-mel must use the same ``hop_length`` and an even ``n_fft``, as its default.)

    **Normalisation.** STgram-MFN uses ``nn.LayerNorm(313)`` on ``(B, 128, 313)``: each
    channel is normalised over its 313 frames, with a per-frame affine, so it only runs
    on 10 s clips. With ``layer_norm_frames=None`` (default) the statistics are the same
    (per clip and channel, over all frames) and the affine is per channel
    (:class:`_TimeLayerNorm`), so any clip length works. ``layer_norm_frames=313`` uses
    the original ``nn.LayerNorm(313)`` (clips must then give exactly 313 frames); the
    parameter names match STgram-MFN's ``TgramNet``, so its weights load with
    ``load_state_dict``.

    Args:
        n_mels: output channels ``F`` (128, the log-mel's mel bands).
        win_length: kernel of the first convolution (1024, the STFT window).
        hop_length: its stride (512, the STFT hop).
        num_layers: encoder blocks (3).
        layer_norm_frames: ``None`` (length-agnostic) or the fixed frame count of the
            original ``nn.LayerNorm``.

    Input ``(B, n_samples)`` (or ``(B, 1, n_samples)``); output ``(B, n_mels, T)``.
    """

    def __init__(
        self,
        n_mels: int = 128,
        win_length: int = 1024,
        hop_length: int = 512,
        num_layers: int = 3,
        layer_norm_frames: int | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.n_mels = _positive_int("n_mels", n_mels, owner)
        self.win_length = _positive_int("win_length", win_length, owner)
        self.hop_length = _positive_int("hop_length", hop_length, owner)
        _positive_int("num_layers", num_layers, owner)
        if layer_norm_frames is not None:
            _positive_int("layer_norm_frames", layer_norm_frames, owner)
        self.layer_norm_frames = layer_norm_frames
        self.pad = (win_length // 2, win_length - win_length // 2)
        self.conv_extrctor = nn.Conv1d(1, n_mels, win_length, hop_length, bias=False)  # STgram-MFN's spelling
        self.conv_encoder = nn.Sequential(
            *[
                nn.Sequential(
                    nn.LayerNorm(layer_norm_frames) if layer_norm_frames else _TimeLayerNorm(n_mels),
                    nn.LeakyReLU(0.2, inplace=True),
                    nn.Conv1d(n_mels, n_mels, 3, 1, 1, bias=False),
                )
                for _ in range(num_layers)
            ]
        )

    def n_frames(self, n_samples: int) -> int:
        """``T`` for a clip of ``n_samples`` samples: ``1 + n_samples // hop_length``."""
        return 1 + int(n_samples) // self.hop_length

    def forward(self, x: Tensor) -> Tensor:
        """(B, n_samples) -> (B, n_mels, 1 + n_samples // hop_length)."""
        if x.ndim == 2:
            x = x.unsqueeze(1)
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"TgramNet expects waveforms (B, n_samples) or (B, 1, n_samples); got {tuple(x.shape)}")
        h = self.conv_extrctor(F.pad(x, self.pad))
        if self.layer_norm_frames is not None and h.shape[-1] != self.layer_norm_frames:
            raise ValueError(
                f"TgramNet(layer_norm_frames={self.layer_norm_frames}) got {x.shape[-1]} samples, i.e. "
                f"{h.shape[-1]} frames; use layer_norm_frames=None for other clip lengths"
            )
        return self.conv_encoder(h)


# ----------------------------------------------------------------------------- feature stack


class FeatureStack(nn.Module):
    """The feature extractor of Fig. 1: waveforms -> ``F_LTP`` ``(B, C, F, T)`` (eq. 4).

    ``channels`` picks and orders the planes (Table I's L, L+T, L+P, L+T+P are
    ``("logmel",)``, ``("logmel", "tgram")``, ``("logmel", "wav2vec")`` and
    ``("logmel", "tgram", "wav2vec")``):

    - ``"logmel"``: :func:`asdlib.features.log_mel` with ``logmel`` (default
      :class:`~asdlib.features.LogMelConfig`: 1024 FFT, hop 512, 128 mels, dB), no
      parameters, computed in float32 outside autocast;
    - ``"tgram"``: a trainable :class:`TgramNet` with the log-mel's ``n_mels`` and
      ``hop_length`` (``win_length = n_fft``): the same ``T`` for any clip length;
    - ``"wav2vec"``: *precomputed* features of a frozen pre-trained model, passed to
      :meth:`forward` as ``pretrained`` ``(B, D_p, T_p)`` (channels first, as
      :func:`asdlib.models.wav2vec.features` returns; transpose the ``(B, T_p, D_p)``
      output of a Hugging Face ``Wav2Vec2Model``). They are mapped to the ``F x T``
      grid by (1) a learnable ``nn.Linear(D_p, F)`` applied to every frame (the
      projection; trained with the classifier) and (2) linear interpolation over time
      from ``T_p`` to ``T`` frames (``F.interpolate(mode="linear",
      align_corners=False)``: frame centres are mapped proportionally, e.g. wav2vec
      2.0's 499 frames of 20 ms to the log-mel's 313 of 32 ms for 10 s). Both steps
      are linear and the interpolation weights sum to one, so the result does not
      depend on their order (the projection runs first). The frozen model itself is
      not part of this module: precompute its features once.

    Args:
        channels: names from ``("logmel", "tgram", "wav2vec")``, no repeats.
        pretrained_dim: ``D_p``, required with ``"wav2vec"`` (768 for wav2vec 2.0
            base, 512 for asdlib's wav2vec ``c``).
        logmel: the log-mel settings (``n_mels`` is ``F``).
        tgram: a :class:`TgramNet` to use (default: a new one matching ``logmel``).
    """

    def __init__(
        self,
        channels: Sequence[str] = ("logmel", "tgram"),
        *,
        pretrained_dim: int | None = None,
        logmel: LogMelConfig | None = None,
        tgram: TgramNet | None = None,
    ) -> None:
        super().__init__()
        if isinstance(channels, str):
            channels = (channels,)
        channels = tuple(channels)
        bad = [c for c in channels if c not in CHANNELS]
        if not channels or bad or len(set(channels)) != len(channels):
            raise ValueError(
                f"FeatureStack: channels={channels!r} must be distinct names from {CHANNELS} (at least one)"
            )
        self.channels = channels
        self.logmel = logmel or LogMelConfig()
        if self.logmel.n_fft % 2:
            raise ValueError("FeatureStack: the log-mel's n_fft must be even (its frame count is then 1 + n // hop)")
        self.n_freq = self.logmel.n_mels
        self.tgram: TgramNet | None = None
        if "tgram" in channels:
            self.tgram = tgram or TgramNet(self.logmel.n_mels, self.logmel.n_fft, self.logmel.hop_length)
            if self.tgram.n_mels != self.n_freq or self.tgram.hop_length != self.logmel.hop_length:
                raise ValueError(
                    f"FeatureStack: TgramNet(n_mels={self.tgram.n_mels}, hop_length={self.tgram.hop_length}) must "
                    f"match the log-mel's n_mels={self.n_freq} and hop_length={self.logmel.hop_length}"
                )
        elif tgram is not None:
            raise ValueError("FeatureStack: a TgramNet was given but 'tgram' is not in channels")
        self.projection: nn.Linear | None = None
        if "wav2vec" in channels:
            if pretrained_dim is None:
                raise ValueError("FeatureStack: channel 'wav2vec' needs pretrained_dim (the features' dimension)")
            self.projection = nn.Linear(_positive_int("pretrained_dim", pretrained_dim, "FeatureStack"), self.n_freq)
        self.pretrained_dim = pretrained_dim

    @property
    def n_channels(self) -> int:
        """``C``: the number of planes."""
        return len(self.channels)

    def n_frames(self, n_samples: int) -> int:
        """``T`` for clips of ``n_samples`` samples (the log-mel's frame count)."""
        return self.logmel.n_frames(n_samples)

    def project_pretrained(self, pretrained: Tensor, n_frames: int) -> Tensor:
        """``(B, D_p, T_p)`` -> ``(B, F, n_frames)``: linear projection, then linear interpolation in time."""
        if self.projection is None:
            raise ValueError("FeatureStack: 'wav2vec' is not among the channels")
        if pretrained.ndim != 3 or pretrained.shape[1] != self.pretrained_dim:
            raise ValueError(
                f"FeatureStack: pretrained features must be (B, D_p={self.pretrained_dim}, T_p); "
                f"got {tuple(pretrained.shape)}"
            )
        h = self.projection(pretrained.transpose(1, 2).to(self.projection.weight.dtype)).transpose(1, 2)
        if h.shape[-1] != n_frames:
            h = F.interpolate(h, size=n_frames, mode="linear", align_corners=False)
        return h

    def forward(self, waves: Tensor, pretrained: Tensor | None = None) -> Tensor:
        """(B, n_samples) [+ (B, D_p, T_p)] -> (B, C, F, T), ``T = 1 + n_samples // hop``."""
        if waves.ndim != 2:
            raise ValueError(f"FeatureStack expects waveforms (B, n_samples); got {tuple(waves.shape)}")
        if pretrained is None and self.projection is not None:
            raise ValueError("FeatureStack: channel 'wav2vec' needs the precomputed features (pretrained=...)")
        if pretrained is not None and self.projection is None:
            raise ValueError("FeatureStack: pretrained features were given but 'wav2vec' is not among the channels")
        t = self.n_frames(waves.shape[-1])
        planes = []
        for name in self.channels:
            if name == "logmel":
                planes.append(log_mel(waves, self.logmel))
            elif name == "tgram":
                planes.append(self.tgram(waves))
            else:
                planes.append(self.project_pretrained(pretrained, t))
        dtype = torch.promote_types(planes[0].dtype, torch.float32)
        return torch.stack([p.to(dtype) for p in planes], dim=1)


# ----------------------------------------------------------------------------- TDNN classifier


class USTCOutput(NamedTuple):
    """What the USTC classifier returns: ``embedding (B, D)``, ``logits (B, n_sections)``,
    ``aux_logits (B, n_attributes)`` or ``None`` without an attribute head."""

    embedding: Tensor
    logits: Tensor
    aux_logits: Tensor | None


class _TDNNLayer(nn.Sequential):
    """Conv1d (no padding) -> ReLU -> BatchNorm1d, the Kaldi x-vector frame layer."""

    def __init__(self, c_in: int, c_out: int, context: int, dilation: int) -> None:
        super().__init__(nn.Conv1d(c_in, c_out, context, dilation=dilation), nn.ReLU(), nn.BatchNorm1d(c_out))


class StatsPool(nn.Module):
    """Statistics pooling: ``(B, C, T)`` -> ``(B, 2C)``, mean and standard deviation over time."""

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(dim=-1)
        var = x.var(dim=-1, unbiased=False)
        return torch.cat([mean, var.clamp(min=self.eps).sqrt()], dim=-1)


class TDNNClassifier(nn.Module):
    """The paper's TDNN classifier: ``(B, C, F, T)`` -> embedding, section logits, attribute logits.

    The paper says only "the time-delay neural network (TDNN)"; this is the x-vector
    TDNN (Snyder et al., ICASSP 2018, Table 1) with the defaults:

    ====================================================  ============  ==========
    layer                                                 context       output
    ====================================================  ============  ==========
    input BatchNorm1d over the C * F rows (optional)                    C*F x T
    frame1 Conv1d k5, d1 -> ReLU -> BN                    [t-2, t+2]    512 x T-4
    frame2 Conv1d k3, d2 -> ReLU -> BN                    {t-2, t, t+2} 512 x T-8
    frame3 Conv1d k3, d3 -> ReLU -> BN                    {t-3, t, t+3} 512 x T-14
    frame4 Conv1d k1 -> ReLU -> BN                        {t}           512
    frame5 Conv1d k1 -> ReLU -> BN                        {t}           1500
    statistics pooling (mean, std over time)                            3000
    segment6 Linear -> ReLU -> BN                                       512
    embedding Linear                                                    D (128)
    section head Linear                                                 n_sections
    attribute head Linear (when n_attributes > 0)                       n_attributes
    ====================================================  ============  ==========

    The ``C`` planes of eq. (4) (1, 2 or 3: Table I's subsets) are stacked into the
    ``C * F`` input channels of the 1-D time network (each frame's feature vector is
    the concatenation of the planes' columns). The convolutions are unpadded, as in
    Kaldi: ``T`` must exceed the total context (14 frames by default). The input
    BatchNorm (``input_norm=True``, default; the paper does not say) puts the planes
    on one scale: the log-mel is in dB (about -100..+40), TgramNet's output and the
    projected features are near unit scale. The embedding is the affine output of the
    ``D``-unit bottleneck (the x-vector's "embedding a", before any non-linearity); the
    heads are linear layers on it, so the CE and triplet losses shape the same space
    that eq. (7) scores.

    Args:
        n_sections: classes of the section head (sections, or machine type x section).
        in_channels: ``C`` (1..3).
        n_freq: ``F`` (128).
        n_attributes: classes of the auxiliary attribute head (eq. 5); 0: none.
        embedding_dim: ``D`` (128).
        frame_channels: output channels of the frame layers (512, 512, 512, 512, 1500).
        contexts: their kernel sizes (5, 3, 3, 1, 1).
        dilations: their dilations (1, 2, 3, 1, 1).
        segment_dim: units of the segment-level layer before the embedding (512).
        input_norm: the input BatchNorm.

    Input ``(B, C, F, T)`` (``(B, F, T)`` is accepted when ``C == 1``); output a
    :class:`USTCOutput`. BatchNorm needs two or more clips per batch in training mode.
    """

    def __init__(
        self,
        n_sections: int,
        in_channels: int = 3,
        n_freq: int = 128,
        *,
        n_attributes: int = 0,
        embedding_dim: int = 128,
        frame_channels: Sequence[int] = (512, 512, 512, 512, 1500),
        contexts: Sequence[int] = (5, 3, 3, 1, 1),
        dilations: Sequence[int] = (1, 2, 3, 1, 1),
        segment_dim: int = 512,
        input_norm: bool = True,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.n_sections = _positive_int("n_sections", n_sections, owner)
        self.in_channels = _positive_int("in_channels", in_channels, owner)
        self.n_freq = _positive_int("n_freq", n_freq, owner)
        self.embedding_dim = _positive_int("embedding_dim", embedding_dim, owner)
        if isinstance(n_attributes, bool) or not isinstance(n_attributes, (int, np.integer)) or n_attributes < 0:
            raise ValueError(f"{owner}: n_attributes={n_attributes!r} must be a non-negative integer")
        self.n_attributes = int(n_attributes)
        channels, contexts, dilations = tuple(frame_channels), tuple(contexts), tuple(dilations)
        if not channels or not len(channels) == len(contexts) == len(dilations):
            raise ValueError(f"{owner}: frame_channels, contexts and dilations must be non-empty and of equal length")
        for name, seq in (("frame_channels", channels), ("contexts", contexts), ("dilations", dilations)):
            for v in seq:
                _positive_int(name, v, owner)
        self.receptive_field = 1 + sum((k - 1) * d for k, d in zip(contexts, dilations))
        c_in = in_channels * n_freq
        self.input_norm = nn.BatchNorm1d(c_in) if input_norm else nn.Identity()
        layers = []
        for c, k, d in zip(channels, contexts, dilations):
            layers.append(_TDNNLayer(c_in, c, k, d))
            c_in = c
        self.frames = nn.Sequential(*layers)
        self.pool = StatsPool()
        self.segment = nn.Sequential(nn.Linear(2 * c_in, segment_dim), nn.ReLU(), nn.BatchNorm1d(segment_dim))
        self.embedding = nn.Linear(segment_dim, embedding_dim)
        self.section_head = nn.Linear(embedding_dim, n_sections)
        self.attribute_head = nn.Linear(embedding_dim, self.n_attributes) if self.n_attributes else None

    def forward(self, x: Tensor) -> USTCOutput:
        """(B, C, F, T) -> USTCOutput(embedding (B, D), logits (B, n_sections), aux_logits or None)."""
        if x.ndim == 3 and self.in_channels == 1:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] != self.n_freq:
            raise ValueError(
                f"TDNNClassifier expects (B, C={self.in_channels}, F={self.n_freq}, T); got {tuple(x.shape)}"
            )
        if x.shape[-1] < self.receptive_field:
            raise ValueError(
                f"TDNNClassifier: {x.shape[-1]} frames are fewer than the TDNN's context of "
                f"{self.receptive_field} frames"
            )
        b, c, f, t = x.shape
        h = self.frames(self.input_norm(x.reshape(b, c * f, t)))
        emb = self.embedding(self.segment(self.pool(h)))
        aux = self.attribute_head(emb) if self.attribute_head is not None else None
        return USTCOutput(emb, self.section_head(emb), aux)


class USTCModel(nn.Module):
    """The whole trainable system: :class:`FeatureStack` then :class:`TDNNClassifier`.

    ``forward(waves (B, n_samples), pretrained=None)`` -> :class:`USTCOutput`. The
    TgramNet and the wav2vec projection train with the classifier.
    :meth:`build` makes one from the usual settings.
    """

    def __init__(self, features: FeatureStack, classifier: TDNNClassifier) -> None:
        super().__init__()
        if classifier.in_channels != features.n_channels or classifier.n_freq != features.n_freq:
            raise ValueError(
                f"USTCModel: the feature stack gives {features.n_channels} x {features.n_freq} planes, the "
                f"classifier expects {classifier.in_channels} x {classifier.n_freq}"
            )
        self.features = features
        self.classifier = classifier

    @classmethod
    def build(
        cls,
        n_sections: int,
        channels: Sequence[str] = ("logmel", "tgram"),
        *,
        n_attributes: int = 0,
        pretrained_dim: int | None = None,
        logmel: LogMelConfig | None = None,
        **tdnn_kwargs,
    ) -> USTCModel:
        """``FeatureStack(channels, ...)`` + ``TDNNClassifier(n_sections, C, F, n_attributes, **tdnn_kwargs)``."""
        features = FeatureStack(channels, pretrained_dim=pretrained_dim, logmel=logmel)
        classifier = TDNNClassifier(
            n_sections, features.n_channels, features.n_freq, n_attributes=n_attributes, **tdnn_kwargs
        )
        return cls(features, classifier)

    @property
    def embedding_dim(self) -> int:
        return self.classifier.embedding_dim

    def forward(self, waves: Tensor, pretrained: Tensor | None = None) -> USTCOutput:
        return self.classifier(self.features(waves, pretrained))


# ----------------------------------------------------------------------------- anomaly scores



def _labels(x, n: int, name: str, device: torch.device) -> Tensor:
    t = _as_tensor(x, name)
    if t.ndim != 1 or len(t) != n or t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be ({n},) integer codes; got shape {tuple(t.shape)}, dtype {t.dtype}")
    return t.to(device=device, dtype=torch.long)


def posterior_score(logits: Tensor, section) -> Tensor:
    """Eq. (6): ``A = log((1 - p) / p)``, ``p`` the softmax probability of the clip's own section.

    Computed from the logits as ``logsumexp_{j != s} z_j - z_s`` (the ``logsumexp`` of
    all logits cancels), which is exact and finite where ``p`` rounds to 1 or 0 (a
    float ``p`` would give ``log 0``). With a single class ``p`` is 1 for every clip and
    eq. (6) is undefined (``-inf``, whatever the clip): that raises. It is the case of a
    section head on DCASE 2023-2025 data, which has one section per machine type; there
    :func:`asdlib.train.ustc.ustc_classes` makes the head classify attribute classes,
    scored by :func:`max_posterior_score`.

    Args:
        logits: ``(N, n_sections)``, the section head's output (not softmaxed).
        section: ``(N,)`` integer section codes of the clips (the head's classes).

    Returns:
        ``(N,)`` float scores (the logits' float dtype, at least float32), higher =
        more anomalous.
    """
    z = _as_tensor(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, n_sections); got shape {tuple(z.shape)}")
    if z.shape[1] < 2:
        raise ValueError(
            f"posterior_score: the head has {z.shape[1]} class(es); with a single class every clip's "
            "posterior is 1 and eq. (6) is undefined (one section per machine type: classify attribute "
            "classes instead, asdlib.train.ustc.ustc_classes)")
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    s = _labels(section, len(z), "section", z.device)
    if len(s) and (int(s.min()) < 0 or int(s.max()) >= z.shape[1]):
        raise ValueError(f"section codes must lie in [0, {z.shape[1]}); got {int(s.min())}..{int(s.max())}")
    own = z.gather(1, s[:, None]).squeeze(1)
    others = z.scatter(1, s[:, None], float("-inf"))
    return torch.logsumexp(others, dim=1) - own


def max_posterior_score(logits: Tensor) -> Tensor:
    """Eq. (6) with ``p`` the largest class probability: ``A = log((1 - p_max) / p_max)``.

    The score where the clip's own class is not known at test time: the head
    classifies the attribute classes of a machine type's one section (DCASE
    2023-2025), and a test clip's attributes are not part of what a detector is
    given (the evaluation set's file names do not carry them). A clip that the head
    recognises as some class of its section gets a low score, one that it places
    between classes a high score. Computed as ``logsumexp_{j != k} z_j - z_k``,
    ``k = argmax z`` (exact, finite where ``p_max`` rounds to 1).

    Args:
        logits: ``(N, n_classes)``, ``n_classes >= 2``, all classes of the clips' section.

    Returns:
        ``(N,)`` float scores (at least float32), higher = more anomalous; at most
        ``log(n_classes - 1)`` (uniform posteriors).
    """
    z = _as_tensor(logits, "logits")
    if z.ndim != 2:
        raise ValueError(f"logits must be (N, n_classes); got shape {tuple(z.shape)}")
    if z.shape[1] < 2:
        raise ValueError(f"max_posterior_score: the head has {z.shape[1]} class(es); eq. (6) needs two or more")
    z = z.to(torch.promote_types(z.dtype, torch.float32))
    return posterior_score(z, z.argmax(dim=1))


def distance_score(
    test_emb: Tensor,
    train_emb: Tensor,
    test_sections,
    train_sections,
    *,
    chunk_size: int = 4096,
) -> Tensor:
    """Eq. (7): ``A = 1 - max_k cos(E_test, E_train_k)`` over the training clips of the same section.

    Args:
        test_emb: ``(N, D)`` test embeddings.
        train_emb: ``(K, D)`` training (normal) embeddings.
        test_sections, train_sections: ``(N,)`` and ``(K,)`` integer section codes.
        chunk_size: test rows per similarity block (memory ``chunk_size x K``).

    Returns:
        ``(N,)`` scores in ``[0, 2]`` (float32 or float64 as the embeddings), on the
        test embeddings' device; higher = more anomalous.

    Raises:
        ValueError: a test clip's section has no training embedding, or bad shapes.
    """
    a = _as_tensor(test_emb, "test_emb")
    b = _as_tensor(train_emb, "train_emb")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"embeddings must be (N, D) and (K, D); got {tuple(a.shape)} and {tuple(b.shape)}")
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
    a = F.normalize(a.to(dtype), dim=1)
    b = F.normalize(b.to(device=a.device, dtype=dtype), dim=1)
    sa = _labels(test_sections, len(a), "test_sections", a.device)
    sb = _labels(train_sections, len(b), "train_sections", a.device)
    missing = sorted(set(sa.unique().tolist()) - set(sb.unique().tolist()))
    if missing:
        raise ValueError(f"distance_score: no training embeddings for section(s) {missing}")
    out = []
    for start in range(0, len(a), max(1, int(chunk_size))):
        sim = a[start : start + chunk_size] @ b.T
        same = sa[start : start + chunk_size, None] == sb[None, :]
        out.append(1.0 - sim.masked_fill(~same, float("-inf")).amax(dim=1))
    return torch.cat(out) if out else a.new_empty(0)


__all__ = [
    "CHANNELS",
    "FeatureStack",
    "StatsPool",
    "TDNNClassifier",
    "TgramNet",
    "USTCModel",
    "USTCOutput",
    "distance_score",
    "max_posterior_score",
    "posterior_score",
]
