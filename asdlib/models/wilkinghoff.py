"""Wilkinghoff's two-branch embedder (paper 003, ICASSP 2023, Sec. 2.2, Tables 1 and 2).

A waveform goes into two sub-networks, one per input representation, and each
gives a 128-d embedding; the two are concatenated (256-d) while training, with a
sub-cluster AdaCos loss on top (:mod:`asdlib.losses.adacos`):

::

    waveform (B, 160000)
      |-- |STFT| 1024/512, temporal mean removed (B, 311, 513) -> SpectrogramResNet (Table 1) -> (B, 128)
      |-- |FFT| of the whole clip, first half      (B, 80000)   -> SpectrumNet      (Table 2) -> (B, 128)
      concat -> (B, 256)

The features are computed inside :meth:`WilkinghoffEmbedder.forward` from the
waveform, on the waveform's device, in float32 even under bf16 autocast, so mixup
can mix waveforms (as the reference code does) and every branch sees the
features of exactly the mixed signal.

**No bias terms** (Sec. 2.2: "no bias terms ... no trainable hypersphere
centers", to avoid trivial projections onto a hypersphere, Ruff et al. 2018):
with ``bias=False`` no convolution and no dense layer has a bias. BatchNorm
layers keep their affine parameters by default, as the reference Keras code does
(``BatchNormalization()`` with its default ``center=True``). Strictly, a BN shift
followed by a bias-free linear layer *is* a learnable constant offset (the last
BN before the spectrogram branch's embedding layer gives the embedding a
constant ``W @ beta``), so the paper's "no bias terms" holds for conv/dense layers
only. ``bn_center=False`` removes every BN shift too (Keras ``center=False``:
scale only), for an ablation of that.

Deviations from the reference code (``wilkinghoff/icassp2023``, ``main.py``),
all small and deliberate:

- the residual blocks are one uniform pre-activation block (BN on the trunk,
  ReLU, conv, BN, ReLU, conv; the shortcut takes the BN'd trunk, as in the
  reference). The reference's first block has no BN between its two convolutions
  and its second block applies ReLU before BN;
- "same" padding: the stride-2 convolutions pad symmetrically (PyTorch) where
  TensorFlow pads one more sample at the end for even inputs; the output sizes
  are identical (checked against Table 1 below), the grid is shifted by one bin;
- BatchNorm momentum/eps are PyTorch's defaults (0.1, 1e-5), not Keras's
  (0.99 = PyTorch 0.01, 1e-3): with PyTorch's, the running statistics used at
  embedding time settle within a few dozen steps, which the short ``ci``/``demo``
  profiles need;
- the reference adds an L2 penalty of 1e-5 on every kernel (Keras
  ``kernel_regularizer``); :func:`asdlib.train.embedding.train_embedder` offers it
  as ``weight_decay`` (2e-5 with Adam's coupled decay is the same gradient), and the
  chapter as its setting ``kernel_l2`` (0 by default, as the paper names none).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.features import LogMelConfig, StftConfig, clip_spectrum, log_mel, magnitude_stft, temporal_mean_norm

BRANCHES = ("spectrum", "spectrogram", "logmel")
COMBINES = ("concat", "add")


def _batch_norm(kind: int, n: int, center: bool) -> nn.Module:
    """BatchNorm1d/2d over ``n`` channels; ``center=False`` drops the shift beta (scale only)."""
    bn = nn.BatchNorm1d(n) if kind == 1 else nn.BatchNorm2d(n)
    if not center:
        bn.register_parameter("bias", None)  # F.batch_norm accepts weight without bias
    return bn


# ----------------------------------------------------------------------------- Table 1


class _PreActBlock(nn.Module):
    """Pre-activation residual block (Table 1 "residual block": two 3x3 convolutions).

    ``h = BN(x)``; ``r = conv2(ReLU(BN(conv1(ReLU(h)))))``; output ``shortcut(h) + r``.
    With ``stride=2`` (first block of stages 2-4) ``conv1`` has stride 2 and the
    shortcut is a 2x2 max-pool ("same": ceil) followed by a 1x1 convolution;
    otherwise the shortcut is the identity.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, bias: bool, bn_center: bool) -> None:
        super().__init__()
        self.bn_in = _batch_norm(2, c_in, bn_center)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=bias)
        self.bn_mid = _batch_norm(2, c_out, bn_center)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=bias)
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.MaxPool2d(stride, stride, ceil_mode=True),
                nn.Conv2d(c_in, c_out, 1, bias=bias),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.bn_in(x)
        r = self.conv2(F.relu(self.bn_mid(self.conv1(F.relu(h)))))
        return self.shortcut(h) + r


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


class SpectrogramResNet(nn.Module):
    """The modified ResNet for (magnitude or log-mel) spectrograms: paper 003, Table 1.

    Input ``(B, T, F)`` (time, frequency), e.g. the temporally mean-normalised
    magnitude spectrogram ``(B, 311, 513)`` of a 10 s clip (no log), or a log-mel
    ``(B, 311, 128)``. Output ``(B, emb_dim)``.

    Layers and output sizes (``T x F x channels``) for the 10 s input, beside Table 1:

    ======================  =====================================  ================  ================
    layer                   structure                              ours              Table 1
    ======================  =====================================  ================  ================
    input                   BN per frequency bin                   311 x 513         311 x 513
    2D convolution          16, 7x7, stride 2 (BN, ReLU)           156 x 257 x 16    156 x 257 x 16
    max pooling             3x3, stride 2                          77 x 128 x 16     (not listed)
    residual stage 1        [3x3, 3x3] x 2, 16 ch, stride 1        77 x 128 x 16     77 x 128 x 16
    residual stage 2        [3x3, 3x3] x 2, 32 ch, 1st stride 2    39 x 64 x 32      39 x 64 x 32
    residual stage 3        [3x3, 3x3] x 2, 64 ch, 1st stride 2    20 x 32 x 64      20 x 32 x 64
    residual stage 4        [3x3, 3x3] x 2, 128 ch, 1st stride 2   10 x 16 x 128     10 x 16 x 128
    max pooling             over the whole time axis               1 x 16 x 128      1 x 16 x 128
    flatten                 BN                                     2048              2056 (sic)
    dense (embedding)       linear, 128                            128               128
    ======================  =====================================  ================  ================

    Table 1 lists every residual stage with "stride = 1" although the sizes halve:
    the reference code gives the first convolution of stages 2-4 stride 2 (and
    a shortcut of 2x2 max-pool + 1x1 convolution), which is what we do. Its
    "2056" is a typo for 16 x 128 = 2048. The max-pool before stage 1 is in the
    reference code but not in the table (the 156 -> 77 step needs it). The time
    axis is pooled with a max over all frames, so any clip length of at least
    5 frames works (the reference's ``MaxPooling2D((10, 1))`` is that for 10 s).

    Args:
        n_freq: frequency bins ``F`` (513 for the 1024-point STFT, 128 for log-mel).
        emb_dim: embedding size (128).
        bias: biases in convolutions and the dense layer (the paper: ``False``).
        bn_center: BatchNorm shifts (beta); see the module docstring.
    """

    channels = (16, 32, 64, 128)

    def __init__(self, n_freq: int = 513, emb_dim: int = 128, bias: bool = False, bn_center: bool = True) -> None:
        super().__init__()
        self.n_freq = n_freq
        # input: BN per frequency bin (BN over the F channels of (B, F, T))
        self.input_bn = _batch_norm(1, n_freq, bn_center)
        # 2D convolution 7x7/2, BN, ReLU, max-pool 3/2
        self.stem = nn.Sequential(
            nn.Conv2d(1, 16, 7, stride=2, padding=3, bias=bias),
            _batch_norm(2, 16, bn_center),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
        )
        blocks, c_in = [], 16
        for i, c in enumerate(self.channels):
            stride = 1 if i == 0 else 2
            blocks += [_PreActBlock(c_in, c, stride, bias, bn_center), _PreActBlock(c, c, 1, bias, bn_center)]
            c_in = c
        self.stages = nn.Sequential(*blocks)
        self.flat_dim = self.channels[-1] * self.freq_out(n_freq)
        self.flat_bn = _batch_norm(1, self.flat_dim, bn_center)
        self.embedding = nn.Linear(self.flat_dim, emb_dim, bias=bias)

    @staticmethod
    def freq_out(n_freq: int) -> int:
        """Frequency bins left after the stem and the three stride-2 stages (16 for 513)."""
        f = (_conv_out(n_freq, 7, 2, 3) - 3) // 2 + 1
        if f < 1:
            raise ValueError(f"SpectrogramResNet: n_freq={n_freq} is too small (need at least 5 bins)")
        for _ in range(3):
            f = _conv_out(f, 3, 2, 1)
        return f

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, F) -> (B, emb_dim)."""
        if x.ndim != 3 or x.shape[-1] != self.n_freq:
            raise ValueError(
                f"SpectrogramResNet expects (B, T, F={self.n_freq}) spectrograms; got shape {tuple(x.shape)}"
            )
        x = self.input_bn(x.transpose(1, 2)).transpose(1, 2)  # normalise each frequency bin
        x = self.stem(x.unsqueeze(1))  # (B, 16, T', F')
        x = self.stages(x)  # (B, 128, T'', F'')
        x = x.amax(dim=2)  # max over time -> (B, 128, F'')
        return self.embedding(self.flat_bn(x.flatten(1)))


# ----------------------------------------------------------------------------- Table 2


class _SameConv1d(nn.Conv1d):
    """Strided Conv1d with TensorFlow's "same" padding: ``ceil(n / stride)`` outputs.

    Pads ``max((out - 1) * stride + k - n, 0)`` zeros, the smaller half in front, as
    ``tf.keras.layers.Conv1D(padding="same")`` does.
    """

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, bias: bool) -> None:
        super().__init__(c_in, c_out, k, stride=stride, bias=bias)

    @staticmethod
    def out_len(n: int, k: int, stride: int) -> int:
        return -(-n // stride)

    def forward(self, x: Tensor) -> Tensor:
        n, k, s = x.shape[-1], self.kernel_size[0], self.stride[0]
        total = max((self.out_len(n, k, s) - 1) * s + k - n, 0)
        return super().forward(F.pad(x, (total // 2, total - total // 2)))


class SpectrumNet(nn.Module):
    """The network for whole-clip magnitude spectra: paper 003, Table 2.

    Input ``(B, n_bins)``: ``|FFT|`` of the whole clip, first half of the bins
    (80000 for a 10 s clip at 16 kHz). Output ``(B, emb_dim)``.

    ==================  =====================================  ==========  ============
    layer               structure                              ours        Table 2
    ==================  =====================================  ==========  ============
    input               -                                      80000       80000
    1D convolution      128, k256, stride 64, ReLU             1250 x 128  1250 x 128
    1D convolution      128, k64, stride 32, ReLU              40 x 128    40 x 128
    1D convolution      128, k16, stride 4, ReLU               10 x 128    10 x 128
    flatten             -                                      1280        1280
    dense x 4           128, BN, ReLU                          128         128 (one row)
    dense (embedding)   linear, 128                            128         128
    ==================  =====================================  ==========  ============

    Convolutions use TensorFlow's "same" padding (``ceil(n / stride)`` outputs), as
    the reference code does. Table 2 says "stride = 16" for the second convolution;
    its output size (40 = ceil(1250 / 32)) and the reference code say 32. Table 2
    shows one "dense, BN, ReLU" row, the text "five dense layers", and the
    reference code four ``Dense(128), BN, ReLU`` blocks plus the embedding layer:
    we follow the code (Wilkinghoff's ICASSP 2023 repository). The flatten size follows from
    ``n_bins`` (shorter clips work: 8000 bins give 1 x 128).

    Args:
        n_bins: spectrum bins (``n_samples // 2``).
        emb_dim: embedding size (128).
        bias: biases in convolutions and dense layers (the paper: ``False``).
        bn_center: BatchNorm shifts (beta); see the module docstring.
        n_dense: ``Dense, BN, ReLU`` blocks before the embedding layer (4).
    """

    convs = ((256, 64), (64, 32), (16, 4))  # (kernel, stride); 128 filters each
    width = 128

    def __init__(
        self, n_bins: int = 80_000, emb_dim: int = 128, bias: bool = False, bn_center: bool = True, n_dense: int = 4
    ) -> None:
        super().__init__()
        self.n_bins = n_bins
        layers: list[nn.Module] = []
        c_in, n = 1, n_bins
        for k, s in self.convs:
            layers += [_SameConv1d(c_in, self.width, k, s, bias), nn.ReLU()]
            c_in, n = self.width, _SameConv1d.out_len(n, k, s)
        self.conv = nn.Sequential(*layers)
        self.flat_dim = self.width * n
        dense: list[nn.Module] = []
        d_in = self.flat_dim
        for _ in range(n_dense):
            dense += [nn.Linear(d_in, self.width, bias=bias), _batch_norm(1, self.width, bn_center), nn.ReLU()]
            d_in = self.width
        self.dense = nn.Sequential(*dense)
        self.embedding = nn.Linear(d_in, emb_dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, n_bins) -> (B, emb_dim)."""
        if x.ndim != 2 or x.shape[-1] != self.n_bins:
            raise ValueError(f"SpectrumNet expects (B, n_bins={self.n_bins}) spectra; got shape {tuple(x.shape)}")
        x = self.conv(x.unsqueeze(1))  # (B, 128, L)
        return self.embedding(self.dense(x.flatten(1)))


# ----------------------------------------------------------------------------- the embedder


@dataclass(frozen=True)
class WilkinghoffConfig:
    """Settings of :class:`WilkinghoffEmbedder`; the defaults are the paper's system.

    Args:
        branches: input representations, each of ``"spectrum"`` (Table 2 on the
            whole-clip magnitude spectrum), ``"spectrogram"`` (Table 1 on the
            magnitude STFT, no log) and ``"logmel"`` (Table 1 on a 128-band
            log-mel); Table 4 compares them.
        combine: ``"concat"`` the branch embeddings (the paper) or ``"add"`` them
            ("add embeddings while training", Table 4).
        bias: biases in every convolution and dense layer (Table 3; paper: no).
        temporal_norm: subtract each frequency bin's temporal mean, per sample, from
            the spectrogram/log-mel input (Sec. 2.1, Table 5).
        emb_dim: embedding size of each branch.
        n_samples: clip length in samples (the spectrum branch's size depends on it).
        sr: sample rate (the log-mel filterbank depends on it).
        n_fft, hop_length: STFT of the spectrogram and log-mel branches (1024/512;
            frames are not centred, as ``tf.signal.stft``: 311 frames for 10 s).
        n_mels: log-mel bands.
        bn_center: BatchNorm shifts (beta); ``False`` removes every one (see the
            module docstring).
    """

    branches: tuple[str, ...] = ("spectrum", "spectrogram")
    combine: str = "concat"
    bias: bool = False
    temporal_norm: bool = True
    emb_dim: int = 128
    n_samples: int = 160_000
    sr: int = 16_000
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 128
    bn_center: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.branches, str) or not self.branches:
            raise ValueError(f"branches must be a non-empty tuple of {BRANCHES}; got {self.branches!r}")
        object.__setattr__(self, "branches", tuple(self.branches))
        bad = [b for b in self.branches if b not in BRANCHES]
        if bad or len(set(self.branches)) != len(self.branches):
            raise ValueError(f"branches must be distinct names from {BRANCHES}; got {self.branches!r}")
        if self.combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}; got {self.combine!r}")
        if self.n_samples < self.n_fft:
            raise ValueError(f"n_samples={self.n_samples} is shorter than n_fft={self.n_fft}")

    @property
    def embedding_dim(self) -> int:
        """Size of the combined embedding: ``emb_dim * len(branches)`` (concat) or ``emb_dim`` (add)."""
        return self.emb_dim * len(self.branches) if self.combine == "concat" else self.emb_dim

    @property
    def n_frames(self) -> int:
        """Spectrogram frames per clip (311 for 10 s)."""
        return 1 + (self.n_samples - self.n_fft) // self.hop_length

    def stft_config(self) -> StftConfig:
        return StftConfig(sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, center=False)

    def logmel_config(self) -> LogMelConfig:
        return LogMelConfig(sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels, center=False)


class WilkinghoffEmbedder(nn.Module):
    """The whole embedding network of paper 003 (Fig. 1), waveform in, embedding out.

    ``forward(waves)``: ``(B, n_samples)`` -> ``(B, config.embedding_dim)`` (256 with
    the defaults). Each branch computes its input from the waveform inside the
    forward pass, batched on the waveform's device and in float32 with autocast
    disabled (bf16 autocast then applies to the networks only):

    - ``"spectrogram"``: ``magnitude_stft`` (1024/512, not centred) ``(B, 513, 311)``,
      temporal mean removed, transposed to ``(B, 311, 513)`` -> :class:`SpectrogramResNet`;
    - ``"logmel"``: ``log_mel`` (128 bands, dB, not centred) ``(B, 128, 311)``,
      likewise -> :class:`SpectrogramResNet` with 128 bins;
    - ``"spectrum"``: ``clip_spectrum`` ``(B, n_samples // 2)`` -> :class:`SpectrumNet`.

    Branch embeddings are concatenated in ``config.branches`` order, or summed.
    """

    def __init__(self, config: WilkinghoffConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or WilkinghoffConfig()
        nets = {}
        for name in cfg.branches:
            if name == "spectrum":
                nets[name] = SpectrumNet(cfg.n_samples // 2, cfg.emb_dim, cfg.bias, cfg.bn_center)
            else:
                n_freq = cfg.n_fft // 2 + 1 if name == "spectrogram" else cfg.n_mels
                nets[name] = SpectrogramResNet(n_freq, cfg.emb_dim, cfg.bias, cfg.bn_center)
        self.branches = nn.ModuleDict(nets)

    @property
    def embedding_dim(self) -> int:
        return self.config.embedding_dim

    def branch_inputs(self, waves: Tensor) -> dict[str, Tensor]:
        """Each branch's input features: ``(B, T, F)`` spectrograms, ``(B, n_samples // 2)`` spectra."""
        cfg = self.config
        if waves.ndim != 2 or waves.shape[-1] != cfg.n_samples:
            raise ValueError(
                f"WilkinghoffEmbedder expects waveforms (B, n_samples={cfg.n_samples}); got shape "
                f"{tuple(waves.shape)} (set WilkinghoffConfig(n_samples=...) for other clip lengths)"
            )
        out = {}
        with torch.autocast(device_type=waves.device.type, enabled=False):
            x = waves.float()
            for name in cfg.branches:
                if name == "spectrum":
                    out[name] = clip_spectrum(x)
                    continue
                if name == "spectrogram":
                    spec = magnitude_stft(x, cfg.stft_config())  # (B, F, T)
                else:
                    spec = log_mel(x, cfg.logmel_config())
                if cfg.temporal_norm:
                    spec = temporal_mean_norm(spec)
                out[name] = spec.transpose(1, 2)  # (B, F, T) -> (B, T, F)
        return out

    def branch_embeddings(self, waves: Tensor) -> dict[str, Tensor]:
        """``{branch: (B, emb_dim)}``, one embedding per branch (before combining)."""
        return {name: self.branches[name](x) for name, x in self.branch_inputs(waves).items()}

    def forward(self, waves: Tensor) -> Tensor:
        """(B, n_samples) -> (B, embedding_dim)."""
        embs = list(self.branch_embeddings(waves).values())
        if self.config.combine == "concat":
            return torch.cat(embs, dim=1)
        out = embs[0]
        for e in embs[1:]:
            out = out + e
        return out


__all__ = ["BRANCHES", "SpectrogramResNet", "SpectrumNet", "WilkinghoffConfig", "WilkinghoffEmbedder"]
