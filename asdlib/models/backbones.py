"""Embedding backbones of AITHU's section-classification (SC) subsystem (paper 000, Sec. 3.1, Table 3).

AITHU (Liu et al., DCASE 2022 Task 2 technical report) trains an embedding network
to classify section IDs with an ArcFace head (:class:`asdlib.losses.arcface.ArcFace`)
and scores the embeddings with an outlier detector (k-NN, LOF, cosine, Mahalanobis).
"the optimal network architecture is different for different machine types, so we
select the best performing network from MobileFaceNet (MFN), MFNSE, Ecapa-tddn and
Cnn6 for each machine type" (Sec. 3.1.1). The four networks:

===============  ========================  ===============================================
Table 3 name     class                     reference
===============  ========================  ===============================================
``MFN``          :class:`MobileFaceNet`    Chen et al. 2018 (ref. [13]), as the MFN of
                                           STgram-MFN (Liu et al., ICASSP 2022)
``MFNSE``        :class:`MobileFaceNetSE`  MFN with a squeeze-excitation block (Hu et
                                           al. 2018, ref. [15]) in each bottleneck
``Ecapa-tdnn``   :class:`ECAPATDNN`        Desplanques et al. 2020 (ref. [14])
``Cnn6``         :class:`Cnn6`             Kong et al. 2020, PANNs (ref. [16])
===============  ========================  ===============================================

Every backbone maps a spectrogram ``(B, F, T)`` (frequency, time) to an embedding
``(B, D)``. The spectrogram is whatever the caller computed: an STFT magnitude
spectrogram without logarithm (Table 3: six machine types, ``F = n_fft // 2 + 1 =
1025``) or a log-mel spectrogram (ToyCar, ``F = 64``); Table 3 uses ``T = 192`` frames
for all types. :func:`build_backbone` builds one by its Table 3 name
(:func:`asdlib.chapters.tables.aithu_table3` reads Table 3)::

    cfg = aithu_table3("fan")  # {'feature': 'STFT', 'n_fft': 2048, 'n_freq': 1025, 'network': 'MFNSE', ...}
    net = build_backbone(cfg["network"], cfg["n_freq"], cfg["n_frames"])
    net(torch.rand(8, 1025, 192)).shape  # (8, 128)

The paper gives no layer-level details beyond the network names; what is not in the
cited papers is our choice and is said so in the class docstrings (SE placement in
MFNSE, a linear embedding layer for Cnn6, the adaptive pooling). Input shapes:

- :class:`MobileFaceNet` / :class:`MobileFaceNetSE`: any ``F x T`` (at least 1 x 1); the
  global depthwise convolution's kernel is the feature-map size of the ``(n_freq,
  n_frames)`` the network was built for, and an adaptive average pooling in front of it
  maps other input sizes onto that grid (identity at the built size);
- :class:`ECAPATDNN`: ``F = n_freq`` (the input channels of its first 1-D convolution),
  any ``T``;
- :class:`Cnn6`: ``F = n_freq`` (its input BatchNorm normalises each frequency bin, as in
  PANNs), any ``F, T >= 16`` (four 2 x 2 poolings).

All four are full of BatchNorm layers whose running statistics start far from the
activations' (e.g. variances of 1e-3 against the initial 1): after a short training run
call :func:`recalibrate_batchnorm` on the training spectrograms before extracting
embeddings in eval mode. ECAPA-TDNN (final BatchNorm) and the MobileFaceNets (BatchNorm
after the 1 x 1 GDC output) need at least 2 clips per batch in training mode.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BACKBONES",
    "ECAPATDNN",
    "MFN_BOTTLENECKS",
    "Cnn6",
    "MobileFaceNet",
    "MobileFaceNetSE",
    "build_backbone",
    "recalibrate_batchnorm",
]


def _check_input(x: Tensor, name: str, n_freq: int | None = None) -> None:
    if x.ndim != 3 or (n_freq is not None and x.shape[1] != n_freq):
        want = f"(B, F={n_freq}, T)" if n_freq is not None else "(B, F, T)"
        raise ValueError(f"{name} expects spectrograms {want}; got shape {tuple(x.shape)}")


def _positive_int(name: str, value: Any, owner: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name}={value!r} must be a positive integer")


# ----------------------------------------------------------------------------- MobileFaceNet


class _ConvBNPReLU(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> PReLU (per channel); ``linear=True`` drops the PReLU.

    ``depthwise=True`` makes it a depthwise convolution (``groups = in = out`` channels).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        depthwise: bool = False,
        linear: bool = False,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=c_in if depthwise else 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        if not linear:
            layers.append(nn.PReLU(c_out))
        super().__init__(*layers)


class _SqueezeExcite2d(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): ``x * sigmoid(W2 relu(W1 mean_hw(x)))``.

    ``(B, C, H, W) -> (B, C, H, W)``; the bottleneck has ``max(C // reduction, 8)`` units.
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class _Bottleneck(nn.Module):
    """MobileFaceNet bottleneck: the inverted residual block of MobileNetV2 with PReLU.

    ``1x1 conv (expand t) -> BN -> PReLU -> 3x3 depthwise (stride s) -> BN -> PReLU ->
    1x1 conv (project, linear) -> BN [-> SE]``, plus the input when ``s = 1`` and the
    channel count is unchanged. With ``se_reduction`` set, a squeeze-excitation block
    rescales the projected output before the residual addition (the SE-ResNet
    integration of Hu et al. 2018, Fig. 3).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, se_reduction: int | None = None) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.residual = stride == 1 and c_in == c_out
        self.conv = nn.Sequential(
            _ConvBNPReLU(c_in, hidden, 1),
            _ConvBNPReLU(hidden, hidden, 3, stride, 1, depthwise=True),
            _ConvBNPReLU(hidden, c_out, 1, linear=True),
        )
        self.se = _SqueezeExcite2d(c_out, se_reduction) if se_reduction else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = self.se(self.conv(x))
        return x + out if self.residual else out


#: STgram-MFN's bottleneck setting (liuyoude/STgram-MFN, ``net.py``): rows of
#: (expansion t, output channels c, repeats n, stride of the first block s).
MFN_BOTTLENECKS: tuple[tuple[int, int, int, int], ...] = (
    (2, 64, 5, 2),
    (4, 128, 1, 2),
    (2, 128, 6, 1),
    (4, 128, 1, 2),
    (2, 128, 2, 1),
)


class MobileFaceNet(nn.Module):
    """MobileFaceNet (Chen et al. 2018; paper 000's "MFN", ref. [13]) for spectrograms.

    The network is the MFN of STgram-MFN (Liu et al., ICASSP 2022, the common MFN of
    DCASE anomalous sound detection) on a one-channel spectrogram. Input ``(B, F, T)``,
    output ``(B, embedding_dim)``. Layers and output sizes (``channels x F x T``) for
    Table 3's two input shapes:

    ==========================================  =================  ================
    layer                                       STFT 1025 x 192    log-mel 64 x 192
    ==========================================  =================  ================
    input (one channel)                         1 x 1025 x 192     1 x 64 x 192
    conv 3x3 / 2, BN, PReLU                     64 x 513 x 96      64 x 32 x 96
    depthwise conv 3x3, BN, PReLU               64 x 513 x 96      64 x 32 x 96
    bottleneck t=2, c=64, n=5, s=2              64 x 257 x 48      64 x 16 x 48
    bottleneck t=4, c=128, n=1, s=2             128 x 129 x 24     128 x 8 x 24
    bottleneck t=2, c=128, n=6, s=1             128 x 129 x 24     128 x 8 x 24
    bottleneck t=4, c=128, n=1, s=2             128 x 65 x 12      128 x 4 x 12
    bottleneck t=2, c=128, n=2, s=1             128 x 65 x 12      128 x 4 x 12
    conv 1x1, BN, PReLU                         512 x 65 x 12      512 x 4 x 12
    adaptive average pooling to the GDC grid    512 x 65 x 12      512 x 4 x 12
    linear GDC: depthwise conv F' x T', BN      512 x 1 x 1        512 x 1 x 1
    linear conv 1x1, BN (embedding)             D x 1 x 1          D x 1 x 1
    ==========================================  =================  ================

    The global depthwise convolution (GDC) has a kernel as large as the last feature
    map, ``F' x T' = ceil(F / 16) x ceil(T / 16)`` for the ``(n_freq, n_frames)`` given
    here (STgram-MFN hard-codes ``(8, 20)`` for its 128 x 313 input). The adaptive
    average pooling before it is the identity at that size and maps any other input
    size onto the ``F' x T'`` grid, so one network accepts any ``F x T``.
    The embedding is the output of the last (linear, batch-normalised) 1x1
    convolution, STgram-MFN's ``feature``; its classification layer is replaced by the
    ArcFace head, outside the backbone. Convolution weights are initialised
    ``N(0, 2 / (k^2 * c_out))`` as in STgram-MFN.

    Args:
        n_freq: frequency bins ``F`` the network is built for (1025 for a 2048-point
            STFT, 64 for 64 mel bands).
        n_frames: frames ``T`` it is built for (192 in Table 3).
        embedding_dim: ``D`` (128 in MobileFaceNet and STgram-MFN).
        in_channels: input channels (1 here; STgram-MFN stacks log-mel and Tgram: 2).
        se_reduction: ``None`` for MFN; an integer adds squeeze-excitation to every
            bottleneck (:class:`MobileFaceNetSE`).
        bottlenecks: the bottleneck setting, rows ``(t, c, n, s)``.
    """

    def __init__(
        self,
        n_freq: int,
        n_frames: int,
        embedding_dim: int = 128,
        *,
        in_channels: int = 1,
        se_reduction: int | None = None,
        bottlenecks: tuple[tuple[int, int, int, int], ...] = MFN_BOTTLENECKS,
    ) -> None:
        super().__init__()
        for name, v in (("n_freq", n_freq), ("n_frames", n_frames), ("embedding_dim", embedding_dim)):
            _positive_int(name, v, type(self).__name__)
        self.n_freq, self.n_frames, self.embedding_dim = n_freq, n_frames, embedding_dim
        self.in_channels = in_channels
        self.conv1 = _ConvBNPReLU(in_channels, 64, 3, stride=2, padding=1)
        self.dw_conv1 = _ConvBNPReLU(64, 64, 3, stride=1, padding=1, depthwise=True)
        blocks, c_in, n_strides = [], 64, 1
        for t, c, n, s in bottlenecks:
            for i in range(n):
                blocks.append(_Bottleneck(c_in, c, s if i == 0 else 1, t, se_reduction))
                c_in = c
            n_strides += s == 2
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = _ConvBNPReLU(c_in, 512, 1)
        self.gdc_size = (self._reduce(n_freq, n_strides), self._reduce(n_frames, n_strides))
        self.pool = nn.AdaptiveAvgPool2d(self.gdc_size)
        self.gdc = _ConvBNPReLU(512, 512, self.gdc_size, depthwise=True, linear=True)
        self.embedding = _ConvBNPReLU(512, embedding_dim, 1, linear=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))

    @staticmethod
    def _reduce(n: int, n_strides: int) -> int:
        """Size after ``n_strides`` convolutions 3x3 / 2 with padding 1: ``ceil(n / 2)`` each."""
        for _ in range(n_strides):
            n = (n + 1) // 2
        return n

    def forward(self, x: Tensor) -> Tensor:
        """(B, F, T) -> (B, embedding_dim)."""
        _check_input(x, type(self).__name__)
        x = self.dw_conv1(self.conv1(x.unsqueeze(1)))
        x = self.conv2(self.blocks(x))
        x = self.gdc(self.pool(x))
        return self.embedding(x).flatten(1)


class MobileFaceNetSE(MobileFaceNet):
    """MFNSE: :class:`MobileFaceNet` with squeeze-excitation in every bottleneck (paper 000).

    "The MFNSE is an improved network from the MFN, the difference between the MFNSE
    and MFN is that we add a squeeze-excitation [15] block to the bone block of the
    MFN" (Sec. 3.1.1). The paper does not say where in the block or with which
    reduction; we use SENet's residual-block integration (SE on the block's projected
    output, before the residual addition) with reduction 4 (bottleneck of
    ``max(c / 4, 8)`` units: 16 for the 64-channel blocks, 32 for the 128-channel
    ones; SENet's usual 16 would leave 4 units). Same arguments as
    :class:`MobileFaceNet`.
    """

    def __init__(self, n_freq: int, n_frames: int, embedding_dim: int = 128, *, se_reduction: int = 4,
                 **kwargs: Any) -> None:
        super().__init__(n_freq, n_frames, embedding_dim, se_reduction=se_reduction, **kwargs)


# ----------------------------------------------------------------------------- ECAPA-TDNN


class _Conv1dReLUBN(nn.Sequential):
    """Conv1d -> ReLU -> BatchNorm1d, the frame layer of ECAPA-TDNN ("Conv1D + ReLU + BN")."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, dilation: int = 1) -> None:
        super().__init__(
            nn.Conv1d(c_in, c_out, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2),
            nn.ReLU(),
            nn.BatchNorm1d(c_out),
        )


class _Res2Conv1d(nn.Module):
    """Res2Net dilated convolution (Gao et al. 2019) over ``scale`` channel groups.

    The channels are split into ``scale`` groups ``x_1 .. x_s``; ``y_1 = x_1``,
    ``y_2 = K_2(x_2)``, ``y_i = K_i(x_i + y_{i-1})``; the output concatenates the ``y_i``.
    Each ``K_i`` is a Conv1d (``kernel``, ``dilation``) -> ReLU -> BN on ``C / scale``
    channels.
    """

    def __init__(self, channels: int, kernel: int, dilation: int, scale: int) -> None:
        super().__init__()
        if channels % scale:
            raise ValueError(f"ECAPATDNN: channels={channels} must be divisible by scale={scale}")
        self.scale, width = scale, channels // scale
        self.convs = nn.ModuleList(_Conv1dReLUBN(width, width, kernel, dilation) for _ in range(scale - 1))

    def forward(self, x: Tensor) -> Tensor:
        chunks = x.chunk(self.scale, dim=1)
        out, y = [chunks[0]], None
        for conv, xi in zip(self.convs, chunks[1:]):
            y = conv(xi if y is None else xi + y)
            out.append(y)
        return torch.cat(out, dim=1)


class _SqueezeExcite1d(nn.Module):
    """SE over time (ECAPA-TDNN, Eqs. 1-2): ``h * sigmoid(W2 relu(W1 mean_t(h) + b1) + b2)``."""

    def __init__(self, channels: int, bottleneck: int = 128) -> None:
        super().__init__()
        self.fc1 = nn.Conv1d(channels, bottleneck, 1)
        self.fc2 = nn.Conv1d(bottleneck, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean(dim=2, keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class _SERes2Block(nn.Module):
    """SE-Res2Block (ECAPA-TDNN, Fig. 1): 1x1 frame layer -> Res2 dilated conv -> 1x1 frame
    layer -> SE, plus the block input (residual). ``(B, C, T) -> (B, C, T)``."""

    def __init__(self, channels: int, kernel: int, dilation: int, scale: int = 8, se_bottleneck: int = 128) -> None:
        super().__init__()
        self.block = nn.Sequential(
            _Conv1dReLUBN(channels, channels, 1),
            _Res2Conv1d(channels, kernel, dilation, scale),
            _Conv1dReLUBN(channels, channels, 1),
            _SqueezeExcite1d(channels, se_bottleneck),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class _AttentiveStatsPool(nn.Module):
    """Channel- and context-dependent attentive statistics pooling (ECAPA-TDNN, Sec. 3.1).

    For frames ``h_t`` (``(B, C, T)``) the attention input is ``[h_t, mean(h), std(h)]``
    (global context, ``3C`` channels); ``e_t = V tanh(BN(relu(W [..] + b))) + k`` with ``R``
    hidden units, ``alpha = softmax_t(e)`` per channel; the output is the attention-weighted
    mean and standard deviation, concatenated: ``(B, 2C)``. (The Conv -> ReLU -> BN ->
    tanh projection is that of the SpeechBrain and wespeaker implementations.)
    """

    def __init__(self, channels: int, attention_channels: int = 128, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.attention = nn.Sequential(
            nn.Conv1d(3 * channels, attention_channels, 1),
            nn.ReLU(),
            nn.BatchNorm1d(attention_channels),
            nn.Tanh(),
            nn.Conv1d(attention_channels, channels, 1),
        )

    @staticmethod
    def _stats(x: Tensor, w: Tensor, eps: float) -> tuple[Tensor, Tensor]:
        mean = (w * x).sum(dim=2, keepdim=True)
        var = (w * (x - mean).pow(2)).sum(dim=2, keepdim=True)
        return mean, var.clamp(min=eps).sqrt()

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[2]
        mean, std = self._stats(x, torch.full_like(x[:, :1], 1.0 / t), self.eps)
        context = torch.cat([x, mean.expand(-1, -1, t), std.expand(-1, -1, t)], dim=1)
        alpha = torch.softmax(self.attention(context), dim=2)
        mean, std = self._stats(x, alpha, self.eps)
        return torch.cat([mean, std], dim=1).squeeze(2)


class ECAPATDNN(nn.Module):
    """ECAPA-TDNN (Desplanques et al., Interspeech 2020; paper 000's "Ecapa-tdnn", ref. [14]).

    The spectrogram's frequency bins are the input channels of a 1-D (time) network.
    Input ``(B, F, T)``, ``F = n_freq``, any ``T``; output ``(B, embedding_dim)``.
    Layers (Desplanques et al., Fig. 2; ``C = channels``, 512 there and here by default):

    =====================================================  ==============
    layer                                                  output
    =====================================================  ==============
    Conv1D (k=5, d=1) + ReLU + BN                          C x T
    SE-Res2Block (k=3, d=2), scale 8, SE bottleneck 128    C x T
    SE-Res2Block (k=3, d=3)                                C x T
    SE-Res2Block (k=3, d=4)                                C x T
    multi-layer feature aggregation: concatenate the
    three SE-Res2Block outputs, Conv1D (k=1) + ReLU        3C x T
    attentive statistics pooling (R=128) + BN              6C
    FC + BN (embedding)                                    D
    =====================================================  ==============

    Each SE-Res2Block's input is the sum of the outputs of the first convolution and
    of all preceding SE-Res2Blocks (Desplanques et al., Sec. 3.3: "the sum of the
    outputs of all preceding SE-Res2Blocks and the initial convolutional layer").
    The paper's speaker embedding is 192-d; here ``D = embedding_dim`` (128).
    The final BatchNorm makes the network need at least 2 clips per batch in
    training mode.

    Args:
        n_freq: input frequency bins ``F`` (64 mel bands in Table 3).
        embedding_dim: ``D``.
        channels: ``C`` of the frame layers (512; 1024 is the paper's larger model).
        scale: Res2Net groups (8).
        se_bottleneck: SE bottleneck units (128).
        attention_channels: ``R`` of the attentive statistics pooling (128).
        dilations: the SE-Res2Blocks' dilations (2, 3, 4).
    """

    def __init__(
        self,
        n_freq: int,
        embedding_dim: int = 128,
        channels: int = 512,
        *,
        scale: int = 8,
        se_bottleneck: int = 128,
        attention_channels: int = 128,
        dilations: tuple[int, ...] = (2, 3, 4),
    ) -> None:
        super().__init__()
        for name, v in (("n_freq", n_freq), ("embedding_dim", embedding_dim), ("channels", channels)):
            _positive_int(name, v, type(self).__name__)
        self.n_freq, self.embedding_dim, self.channels = n_freq, embedding_dim, channels
        self.conv1 = _Conv1dReLUBN(n_freq, channels, 5)
        self.blocks = nn.ModuleList(_SERes2Block(channels, 3, d, scale, se_bottleneck) for d in dilations)
        mfa = channels * len(dilations)
        self.mfa = nn.Sequential(nn.Conv1d(mfa, mfa, 1), nn.ReLU())
        self.pool = _AttentiveStatsPool(mfa, attention_channels)
        self.pool_bn = nn.BatchNorm1d(2 * mfa)
        self.fc = nn.Linear(2 * mfa, embedding_dim)
        self.fc_bn = nn.BatchNorm1d(embedding_dim)

    def forward(self, x: Tensor) -> Tensor:
        """(B, F, T) -> (B, embedding_dim)."""
        _check_input(x, type(self).__name__, self.n_freq)
        h = self.conv1(x)
        total, outs = h, []
        for block in self.blocks:
            out = block(total)
            outs.append(out)
            total = total + out
        h = self.mfa(torch.cat(outs, dim=1))
        return self.fc_bn(self.fc(self.pool_bn(self.pool(h))))


# ----------------------------------------------------------------------------- Cnn6


class _ConvBlock5x5(nn.Sequential):
    """PANNs' ConvBlock5x5: Conv2d 5x5 (padding 2, no bias) -> BN -> ReLU -> average pooling 2x2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 5, padding=2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.AvgPool2d(2),
        )


class Cnn6(nn.Module):
    """Cnn6 of PANNs (Kong et al. 2020; paper 000's "Cnn6", ref. [16]) as an embedder.

    Input ``(B, F, T)``, ``F = n_freq``; output ``(B, embedding_dim)``. Layers (output
    ``channels x F x T``) for Table 3's STFT input (ToyTrain):

    ======================================================  ================
    layer                                                   1025 x 192 input
    ======================================================  ================
    BN per frequency bin (PANNs' ``bn0``)                   1 x 1025 x 192
    conv 5x5, 64, BN, ReLU, avg-pool 2x2, dropout 0.2       64 x 512 x 96
    conv 5x5, 128, BN, ReLU, avg-pool 2x2, dropout 0.2      128 x 256 x 48
    conv 5x5, 256, BN, ReLU, avg-pool 2x2, dropout 0.2      256 x 128 x 24
    conv 5x5, 512, BN, ReLU, avg-pool 2x2, dropout 0.2      512 x 64 x 12
    mean over frequency                                     512 x 12
    max + mean over time, dropout 0.5                       512
    linear (embedding)                                      D
    ======================================================  ================

    The global pooling is PANNs' (mean over frequency, then the sum of the max and the
    mean over time), so any ``F, T >= 16`` works. Deviations from PANNs' Cnn6: no
    SpecAugment and no mixup inside the network (augmentation is the caller's); the
    head is one linear layer ``512 -> D`` without ReLU (PANNs: ``fc1`` 512 -> 512 with
    ReLU, then the AudioSet classifier), so the embedding is not confined to the
    positive orthant before the ArcFace head. Weights are initialised as in PANNs
    (Xavier-uniform convolutions and linear layer, zero biases).

    Args:
        n_freq: frequency bins ``F`` (size of the input BatchNorm).
        embedding_dim: ``D``.
        dropout: dropout after each conv block (PANNs: 0.2).
        fc_dropout: dropout before the embedding layer (PANNs: 0.5).
    """

    channels = (64, 128, 256, 512)

    def __init__(self, n_freq: int, embedding_dim: int = 128, *, dropout: float = 0.2, fc_dropout: float = 0.5) -> None:
        super().__init__()
        for name, v in (("n_freq", n_freq), ("embedding_dim", embedding_dim)):
            _positive_int(name, v, type(self).__name__)
        self.n_freq, self.embedding_dim = n_freq, embedding_dim
        self.bn0 = nn.BatchNorm1d(n_freq)
        blocks, c_in = [], 1
        for c in self.channels:
            blocks += [_ConvBlock5x5(c_in, c), nn.Dropout(dropout)]
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.fc_dropout = nn.Dropout(fc_dropout)
        self.fc = nn.Linear(c_in, embedding_dim)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, F, T) -> (B, embedding_dim)."""
        _check_input(x, type(self).__name__, self.n_freq)
        if min(x.shape[1:]) < 16:
            raise ValueError(f"Cnn6 needs F, T >= 16 (four 2x2 poolings); got shape {tuple(x.shape)}")
        x = self.blocks(self.bn0(x).unsqueeze(1))  # (B, 512, F/16, T/16)
        x = x.mean(dim=2)  # mean over frequency -> (B, 512, T')
        x = x.amax(dim=2) + x.mean(dim=2)  # max + mean over time -> (B, 512)
        return self.fc(self.fc_dropout(x))


# ----------------------------------------------------------------------------- BatchNorm statistics


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, spectrograms: Tensor, batch_size: int = 64) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance on ``spectrograms`` ("precise BN").

    In eval mode a BatchNorm uses running statistics, exponential averages (momentum
    0.1) that start at mean 0, variance 1. The backbones' pre-BN activations have
    variances far from 1 (1e-3 after MobileFaceNet's depthwise convolutions with
    STgram-MFN's initialisation; STFT magnitudes entering Cnn6's ``bn0``), so after a
    short training (tens of steps) the running variances are still dominated by their
    initial 1 and eval-mode embeddings differ wildly from training-mode ones. This
    resets the statistics and recomputes them as plain averages over the batches of
    ``spectrograms`` (``momentum=None``, one forward pass in training mode without
    gradients; Wu & Johnson 2021, "Rethinking 'batch' in BatchNorm"). Weights are not
    changed; the model's mode and the BatchNorms' momenta are restored. A last batch
    of one clip is skipped.

    Args:
        model: any module (a backbone, or a backbone and its head in a ``Sequential``).
        spectrograms: training inputs ``(N, F, T)``, moved batch by batch to the
            model's device.
        batch_size: clips per forward pass.

    Returns:
        ``model``.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    if len(spectrograms) < 2:
        raise ValueError("recalibrate_batchnorm needs at least 2 clips")
    device = next(model.parameters()).device
    was_training, momenta = model.training, [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
    model.train()
    try:
        for i in range(0, len(spectrograms), batch_size):
            batch = spectrograms[i : i + batch_size]
            if len(batch) > 1:
                model(batch.to(device))
    finally:
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
        model.train(was_training)
    return model


# ----------------------------------------------------------------------------- factory


#: Table 3's network names (as printed) -> classes.
BACKBONES: dict[str, type[nn.Module]] = {
    "MFN": MobileFaceNet,
    "MFNSE": MobileFaceNetSE,
    "Ecapa-tdnn": ECAPATDNN,
    "Cnn6": Cnn6,
}


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


_ALIASES: dict[str, str] = {_key(k): k for k in BACKBONES} | {
    _key(cls.__name__): k for k, cls in BACKBONES.items()
}


def build_backbone(name: str, n_freq: int, n_frames: int, embedding_dim: int = 128, **kwargs: Any) -> nn.Module:
    """A backbone by its Table 3 name, for ``(B, n_freq, n_frames)`` spectrograms.

    ``name`` is one of ``MFN``, ``MFNSE``, ``Ecapa-tdnn``, ``Cnn6`` (Table 3's spelling)
    or a class name (``MobileFaceNet``, ``MobileFaceNetSE``, ``ECAPATDNN``); case,
    spaces, ``-`` and ``_`` are ignored (``"ECAPA-TDNN"``, ``"ecapa_tdnn"`` work).
    ``n_frames`` sets MobileFaceNet's GDC kernel; ECAPA-TDNN and Cnn6 take any number
    of frames and ignore it. Extra keyword arguments go to the class (e.g.
    ``channels=1024`` for ECAPA-TDNN).

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    canonical = _ALIASES.get(_key(str(name)))
    if canonical is None:
        valid = ", ".join(f"{k!r} ({cls.__name__})" for k, cls in BACKBONES.items())
        raise ValueError(f"unknown backbone {name!r}; valid names: {valid} (case, '-', '_' and spaces ignored)")
    cls = BACKBONES[canonical]
    if issubclass(cls, MobileFaceNet):
        return cls(n_freq, n_frames, embedding_dim, **kwargs)
    return cls(n_freq, embedding_dim, **kwargs)
