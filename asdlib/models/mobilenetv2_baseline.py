"""The DCASE 2022 Task 2 MobileNetV2 baseline: a section classifier on log-mel images.

Paper 000 (AITHU) compares its systems with the two official DCASE 2022 baselines
(Table 1: the autoencoder, :mod:`asdlib.models.dcase_ae`; Table 2: MobileNetV2). The
MobileNetV2 baseline (Dohi et al., ``dcase2022_task2_baseline_mobile_net_v2``:
``keras_model.py``, ``00_train.py``, ``01_test.py``, ``common.py``) is a
*self-supervised section classifier*: per machine type it learns to tell which
section a short log-mel image comes from, and a clip whose own section is not
recognised is anomalous.

**Features** (``baseline.yaml``; the 2022 repository reads the same keys as the
2021 one, ``y-kawagu/dcase2021_task2_baseline_mobile_net_v2``, whose file reads
``n_mels 128, n_frames 64, n_hop_frames 8, n_fft 1024, hop_length 512, power 2.0``;
:data:`BASELINE_FEATURE`): librosa log-mel, ``20 / power * log10(max(mel, eps))``
(= :func:`asdlib.features.log_mel` with the default :class:`~asdlib.features.LogMelConfig`),
cut into images of 64 consecutive frames x 128 mel bands (``common.file_to_vectors``
stacks 64 frames; ``00_train.py`` reshapes each vector to ``(n_frames, n_mels, 1)``:
time is the image height, mel the width). Training keeps every 8th image
(``vectors[::n_hop_frames]``); testing uses **every** image (hop 1): a 10 s clip (313
frames) gives 32 training and 250 test images. :func:`window_images` cuts them.

**Network** (``keras_model.get_model``): the 1-channel image is replicated to 3
channels (``Concatenate()([h, h, h])``) and fed to
``keras.applications.MobileNetV2(input_shape=(64, 128, 3), alpha=0.5,
weights=None, classes=n_sections)``: Sandler et al. (2018) with width multiplier
0.5, randomly initialised, softmax over the machine type's sections.
:class:`MobileNetV2Classifier` re-implements that Keras model (layer table in its
docstring); ``forward`` returns the logits (the softmax is applied in the loss and
the score).

**Training** (``baseline.yaml`` ``fit``; :data:`BASELINE_FIT`): categorical
cross-entropy on the section one-hot, Adam lr 1e-5, 20 epochs, batch 32, shuffled,
``validation_split=0.1`` (Keras holds out the *last* 10 % of the images, taken
before shuffling: the end of the last section, for monitoring only). With
:func:`asdlib.train.classifier.train_classifier`: ``lr=1e-5, weight_decay=0.0`` (AdamW
without decay is Adam), ``epochs=20, batch_size=32``.

**Score** (``01_test.py``): for a clip of section ``s`` and the softmax output ``p``
of its images for class ``s``::

    score = mean over images of  log(max(1 - p, eps)) - log(max(p, eps)),   eps = sys.float_info.epsilon

i.e. the mean log-odds *against* the clip's own section: higher = more anomalous
(:func:`section_posterior_score`). (``00_train.py`` computes the same quantity on
training clips to fit a gamma distribution for the decision threshold, with a
misplaced parenthesis, ``log(max(1 - p, eps) - log(max(p, eps)))``; that only
affects the threshold, which AUC and pAUC do not use.)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.models.inference import predict

__all__ = [
    "BASELINE_FEATURE",
    "BASELINE_FIT",
    "MobileNetV2Classifier",
    "make_divisible",
    "section_posterior_score",
    "window_images",
]

#: ``baseline.yaml`` ``feature`` of the DCASE 2021/2022 MobileNetV2 baselines.
BASELINE_FEATURE: dict[str, Any] = {
    "n_mels": 128, "n_frames": 64, "n_hop_frames": 8, "n_fft": 1024, "hop_length": 512, "power": 2.0,
}
#: ``baseline.yaml`` ``fit`` (Adam, categorical cross-entropy).
BASELINE_FIT: dict[str, Any] = {
    "lr": 1e-5, "epochs": 20, "batch_size": 32, "shuffle": True, "validation_split": 0.1,
}

#: Keras' MobileNetV2 blocks: (expansion t, output channels c before the width multiplier,
#: repeats n, stride of the first repeat s), Sandler et al. 2018, Table 2.
MOBILENETV2_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


# ----------------------------------------------------------------------------- images


def window_images(log_mels: Tensor, n_frames: int = 64, hop: int = 8) -> Tensor:
    """Cut log-mel spectrograms into the baseline's images: ``(N, F, T) -> (N, W, n_frames, F)``.

    Image ``w`` of clip ``i`` is ``log_mels[i, :, w * hop : w * hop + n_frames]``
    transposed (time is the height, mel the width, as the baseline's
    ``reshape(n_frames, n_mels)`` of stacked frames), ``W = 1 + (T - n_frames) // hop``;
    trailing frames that fill no whole image are dropped. ``hop=8`` is the baseline's
    training hop (``n_hop_frames``), ``hop=1`` its test hop. A view (no copy) where
    possible: ``.reshape(-1, 1, n_frames, F)`` makes a batch of images.

    Raises:
        ValueError: not 3-D, ``n_frames`` or ``hop`` not positive, or ``T < n_frames``.
    """
    if log_mels.ndim != 3:
        raise ValueError(f"window_images expects log-mels (N, F, T); got shape {tuple(log_mels.shape)}")
    _check_positive(n_frames=n_frames, hop=hop)
    t = log_mels.shape[-1]
    if t < n_frames:
        raise ValueError(f"window_images: {t} frames are fewer than one image of n_frames={n_frames}")
    return log_mels.unfold(-1, n_frames, hop).permute(0, 2, 3, 1)  # (N, W, n_frames, F)


def _check_positive(**values: Any) -> None:
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} must be a positive integer")


# ----------------------------------------------------------------------------- score


def section_posterior_score(logits: Tensor, section: int | Tensor, eps: float = sys.float_info.epsilon) -> Tensor:
    """The baseline's clip score: ``mean_w [log(max(1 - p_w, eps)) - log(max(p_w, eps))]``.

    ``p_w = softmax(logits_w)[section]`` is the posterior of the clip's own section
    for its image ``w``; higher = more anomalous. Computed in float32 from log-softmax
    values (``log p = log_softmax[s]``, ``log(1 - p) = logsumexp`` of the other
    classes' log-softmax), each clamped below at ``log(eps)``, which is the baseline's
    ``max(., eps)`` without the rounding of ``1 - p`` near ``p = 1``.

    Args:
        logits: ``(W, C)`` for one clip or ``(N, W, C)`` for ``N`` clips (any leading
            dimensions before ``W``): pre-softmax outputs for every image of a clip.
        section: the clip's section code in ``[0, C)``: an int, or a tensor of shape
            ``logits.shape[:-2]`` (one code per clip).
        eps: the floor of ``p`` and ``1 - p`` (``sys.float_info.epsilon``, as the baseline).

    Returns:
        Scores of shape ``logits.shape[:-2]`` (a 0-d tensor for one clip).
    """
    if logits.ndim < 2:
        raise ValueError(f"section_posterior_score expects logits (..., W, C); got shape {tuple(logits.shape)}")
    if not 0 < eps < 1:
        raise ValueError(f"eps={eps!r} must lie in (0, 1)")
    n_classes = logits.shape[-1]
    lead = logits.shape[:-2]
    sec = torch.as_tensor(section, device=logits.device)
    if sec.is_floating_point() or sec.dtype == torch.bool:
        raise ValueError(f"section must hold integer class codes; got dtype {sec.dtype}")
    sec = sec.long()
    if sec.numel() and (int(sec.min()) < 0 or int(sec.max()) >= n_classes):
        raise ValueError(f"section codes must lie in [0, {n_classes}); got {sec.min().item()}..{sec.max().item()}")
    try:
        sec = sec.expand(lead)
    except RuntimeError:
        raise ValueError(f"section of shape {tuple(sec.shape)} does not match clips {tuple(lead)}") from None
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    mine = F.one_hot(sec, n_classes).bool().unsqueeze(-2).expand_as(log_probs)  # (..., W, C)
    log_p = log_probs.masked_fill(~mine, 0.0).sum(-1)
    log_1mp = torch.logsumexp(log_probs.masked_fill(mine, -math.inf), dim=-1)  # -inf when C == 1
    floor = math.log(eps)
    return (log_1mp.clamp(min=floor) - log_p.clamp(min=floor)).mean(-1)


# ----------------------------------------------------------------------------- network


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Keras/TF ``_make_divisible``: round ``v`` to a multiple of ``divisor``, never below 90 % of ``v``."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class _SamePad2d(nn.Module):
    """TensorFlow ``padding='same'`` for a strided convolution: the odd pixel goes bottom/right.

    Keras' MobileNetV2 pads stride-2 convolutions with ``correct_pad`` (``(0, 1)`` on an
    even size, ``(1, 1)`` on an odd one for a 3x3 kernel), which is this.
    """

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        pads = []
        for n in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
            total = max((math.ceil(n / self.stride) - 1) * self.stride + self.kernel - n, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads)


def _bn(channels: int) -> nn.BatchNorm2d:
    # Keras BatchNormalization(epsilon=1e-3, momentum=0.999): torch momentum = 1 - 0.999
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.001)


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    if kernel > 1:
        if stride > 1:
            layers.append(_SamePad2d(kernel, stride))
            padding = 0
        else:
            padding = kernel // 2
    else:
        padding = 0
    layers += [nn.Conv2d(c_in, c_out, kernel, stride, padding, groups=groups, bias=False), _bn(c_out)]
    if relu6:
        layers.append(nn.ReLU6())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted residual block (Sandler et al. 2018, Table 1).

    ``[1x1 conv to t * c_in, BN, ReLU6]`` (left out when ``t = 1``) -> ``3x3 depthwise
    conv (stride s), BN, ReLU6`` -> ``1x1 conv to c_out, BN`` (linear bottleneck),
    plus the input when ``s = 1`` and ``c_in = c_out``.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv_bn(c_in, hidden, 1))
        layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, c_out, 1, relu6=False)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.residual else out


class MobileNetV2Classifier(nn.Module):
    """The DCASE 2022 MobileNetV2 baseline network: log-mel image -> section logits.

    Keras ``MobileNetV2(input_shape=(n_frames, n_mels, 3), alpha=0.5, weights=None,
    classes=n_sections)`` after replicating the 1-channel image to 3 channels. Layers
    (``alpha = 0.5``; sizes for a 64 x 128 image):

    ======================================================  ===============
    layer                                                   output
    ======================================================  ===============
    replicate the channel (``Concatenate([h, h, h])``)      3 x 64 x 128
    conv 3x3 / 2, 16, BN, ReLU6                             16 x 32 x 64
    inverted residual t=1, c=8, n=1, s=1                    8 x 32 x 64
    inverted residual t=6, c=16, n=2, s=2                   16 x 16 x 32
    inverted residual t=6, c=16, n=3, s=2                   16 x 8 x 16
    inverted residual t=6, c=32, n=4, s=2                   32 x 4 x 8
    inverted residual t=6, c=48, n=3, s=1                   48 x 4 x 8
    inverted residual t=6, c=80, n=3, s=2                   80 x 2 x 4
    inverted residual t=6, c=160, n=1, s=1                  160 x 2 x 4
    conv 1x1, 1280, BN, ReLU6                               1280 x 2 x 4
    global average pooling, dense (softmax in the loss)     n_sections
    ======================================================  ===============

    Channel counts are Keras': ``make_divisible(c * alpha, 8)`` per block, the stem
    ``make_divisible(32 * alpha, 8)``, the last convolution 1280 (widened only for
    ``alpha > 1``). As in Keras: no bias in the convolutions, BatchNorm with ``eps =
    1e-3`` and momentum 0.999 (torch ``momentum = 0.001``), TensorFlow "same" padding
    for the stride-2 convolutions (the extra pixel at the bottom/right), Glorot-uniform
    initialisation of every convolution and of the dense layer (zero bias), no dropout.
    Any image size works (global pooling); 64 x 128 is the baseline's.

    With Keras' slow BatchNorm momentum the running statistics lag far behind the
    weights in a short training run: :func:`asdlib.train.classifier.train_classifier`
    re-estimates them at the end (:func:`~asdlib.models.backbones.recalibrate_batchnorm`).

    Args:
        n_sections: classes of the softmax (the machine type's sections).
        alpha: width multiplier (0.5 in the baseline).
        in_channels: channels the stem convolution sees; 3 replicates the 1-channel
            input as the baseline does, 1 feeds it directly.
        n_frames, n_mels: the image size the model is meant for (64 x 128), used by
            :meth:`score_clips` to cut images and to check inputs.

    Inputs: ``(B, 1, n_frames, n_mels)`` images or ``(B, n_frames, n_mels)``.
    """

    def __init__(
        self, n_sections: int, alpha: float = 0.5, *, in_channels: int = 3, n_frames: int = 64, n_mels: int = 128
    ) -> None:
        super().__init__()
        _check_positive(n_sections=n_sections, in_channels=in_channels, n_frames=n_frames, n_mels=n_mels)
        if not (alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha={alpha!r} must be positive")
        self.n_sections, self.alpha, self.in_channels = n_sections, float(alpha), in_channels
        self.n_frames, self.n_mels = n_frames, n_mels
        c = make_divisible(32 * alpha, 8)
        layers: list[nn.Module] = [_conv_bn(in_channels, c, 3, 2)]
        for t, c_base, n, s in MOBILENETV2_SETTING:
            c_out = make_divisible(int(c_base * alpha), 8)
            for i in range(n):
                layers.append(InvertedResidual(c, c_out, s if i == 0 else 1, t))
                c = c_out
        self.last_channels = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
        layers.append(_conv_bn(c, self.last_channels, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(self.last_channels, n_sections)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)  # Keras glorot_uniform (same fans for depthwise kernels)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def extra_repr(self) -> str:
        return f"n_sections={self.n_sections}, alpha={self.alpha}, image={self.n_frames}x{self.n_mels}"

    def _images(self, x: Tensor) -> Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(
                f"MobileNetV2Classifier expects images (B, 1, n_frames, n_mels) or (B, n_frames, n_mels); "
                f"got shape {tuple(x.shape)}"
            )
        return x.expand(-1, self.in_channels, -1, -1) if self.in_channels != 1 else x

    def embedding(self, x: Tensor) -> Tensor:
        """The globally pooled 1280-d features before the dense layer: ``(B, last_channels)``."""
        return self.features(self._images(x)).mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        """Images -> section logits ``(B, n_sections)`` (pre-softmax)."""
        return self.classifier(self.embedding(x))

    def loss(self, x: Tensor, sections: Tensor) -> Tensor:
        """Categorical cross-entropy of the softmax against the section codes ``(B,)``."""
        if isinstance(sections, Mapping):
            sections = sections["section"]
        return F.cross_entropy(self(x).float(), sections.to(x.device).long())

    def score_clips(
        self, log_mels: Tensor, sections: int | Tensor, *, hop: int = 1, batch_size: int = 256,
        eps: float = sys.float_info.epsilon,
    ) -> Tensor:
        """Anomaly scores of whole clips, as ``01_test.py``: ``(N, F, T)`` log-mels -> ``(N,)``.

        Every clip is cut into ``n_frames``-frame images with hop ``hop`` (1 in the
        baseline's test), the images are classified in eval mode (batches of about
        ``batch_size`` images, on the model's device; ``log_mels`` may stay on the CPU)
        and :func:`section_posterior_score` averages the clip's log-odds against its
        ``sections`` code (an int for all clips or ``(N,)`` codes). The model's mode is
        restored. Returns float32 scores on the CPU.
        """
        if log_mels.ndim != 3 or log_mels.shape[1] != self.n_mels:
            raise ValueError(f"score_clips expects log-mels (N, n_mels={self.n_mels}, T); got {tuple(log_mels.shape)}")
        _check_positive(hop=hop, batch_size=batch_size)
        n = log_mels.shape[0]
        sec = torch.as_tensor(sections)
        if sec.ndim > 1 or (sec.ndim == 1 and len(sec) != n):
            raise ValueError(f"sections must be one code or ({n},) codes; got shape {tuple(sec.shape)}")
        sec = sec.long().expand(n)
        n_windows = 1 + (log_mels.shape[-1] - self.n_frames) // hop if log_mels.shape[-1] >= self.n_frames else 0
        clips_per_batch = max(1, batch_size // max(n_windows, 1))
        if n == 0:
            raise ValueError("score_clips: log_mels holds no clips")

        def chunk_scores(m: MobileNetV2Classifier, chunk: Tensor, sections: Tensor) -> Tensor:
            images = window_images(chunk, m.n_frames, hop)  # (b, W, n_frames, F)
            b, w = images.shape[:2]
            logits = m(images.reshape(b * w, 1, m.n_frames, m.n_mels)).reshape(b, w, -1)
            return section_posterior_score(logits, sections, eps)

        return predict(
            self, (log_mels, sec), chunk_scores, batch_size=clips_per_batch, dtype=(torch.float32, None),
            out_dtype=None, to_cpu="batch",
        )
