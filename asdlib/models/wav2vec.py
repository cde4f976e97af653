"""The original wav2vec (Schneider et al., Interspeech 2019), the feature extractor of
AITHU's SC-wav2vec subsystem (paper 000, DCASE 2022, Sec. 3.1).

AITHU pre-train wav2vec with fairseq on (balanced) AudioSet and feed its context
features ``c`` to a section-ID classifier. This module is that wav2vec, in plain
PyTorch (fairseq is not needed), **not** wav2vec 2.0:

::

    waveform (B, n_samples), 16 kHz
      -> encoder f: 5 x [Conv1d(k, s) -> GroupNorm(1 group) -> ReLU]   z (B, 512, T)
           kernels (10, 8, 4, 4, 4), strides (5, 4, 2, 2, 2):
           receptive field 465 samples = 29 ms ("about 30 ms"), hop 160 = 10 ms
      -> context g: 9 x [causal pad -> Conv1d(3, 1) -> GroupNorm(1 group) -> ReLU]   c (B, 512, T)
           receptive field 465 + 18 * 160 = 3345 samples = 209 ms ("about 210 ms")

``T = frames(n_samples)`` follows the convolution arithmetic (no padding in the
encoder): 98 frames for 1 s, 998 for 10 s. The normalisation is GroupNorm with a
single group, i.e. "across the feature and temporal dimension for each sample"
(Sec. 2.1 of the wav2vec paper): each clip's activations are normalised over all
channels and frames, which makes the features invariant to the input's scale
and offset (and means a frame depends on the statistics of the whole crop, as in
fairseq).

**Objective** (wav2vec, Eq. 1): for every step ``k = 1..K`` (``K = 12``) a
step-specific affine map ``h_k(c_i) = W_k c_i + b`` predicts ``z_{i+k}``::

    L_k = - sum_i ( log sigmoid(z_{i+k}^T h_k(c_i))
                    + lambda * E_{z~ ~ p_n} [ log sigmoid(-z~^T h_k(c_i)) ] )

with the expectation approximated by ten distractors ``z~`` drawn uniformly from
the same sequence (``p_n(z) = 1/T``) and ``lambda`` = the number of negatives
(10), so ``lambda * mean = sum`` over the negatives. :func:`wav2vec_loss`
returns ``sum_k L_k`` divided by the number of (i, k) terms (fairseq divides the
summed binary cross-entropy by the number of positives).

Details taken from fairseq's implementation (``fairseq/models/wav2vec/wav2vec.py``,
written by the paper's authors), so that fairseq checkpoints load unchanged:

- the K maps are one ``ConvTranspose2d(C_c, C_z, (1, K))`` (``project_to_steps``):
  ``W_k = weight[:, :, 0, k]``, and its bias is **shared** across the steps (one
  ``b``, not one ``b_k`` per step as the paper writes);
- the distractors of target frame ``j`` are drawn once and reused for every step
  ``k``, and never include frame ``j`` itself;
- the context network pads causally by **replicating** the first frame
  (``nn.ReplicationPad1d((k - 1, 0))``; ``agg_zero_pad=True`` pads with zeros);
  its convolutions have a bias, the encoder's do not;
- ``offset``: the paper predicts ``k = 1..K`` (``offset=1``, our default);
  fairseq's default ``--offset auto`` starts at ``ceil(receptive field / hop)``
  = 3 (steps 3..14), skipping frames that overlap the context's own window. The
  loader keeps a checkpoint's offset.

The "wav2vec large" variant (two extra 1x1 encoder layers, 12 context layers with
kernels 2..13, skip connections, log compression: the fairseq README recipe that
AITHU's learning-rate schedule matches) is :meth:`Wav2VecConfig.large`.

**Parameter names mirror fairseq's**, so the fairseq -> asdlib key map is the
identity. For a model with ``E`` encoder and ``A`` context layers:

================================================  ===========================================
fairseq key (= ours)                              tensor
================================================  ===========================================
``feature_extractor.conv_layers.{i}.0.weight``    encoder conv i ``(C_i, C_{i-1}, k_i)``, no bias
``feature_extractor.conv_layers.{i}.2.weight``    encoder GroupNorm scale ``(C_i,)`` (affine only)
``feature_extractor.conv_layers.{i}.2.bias``      encoder GroupNorm shift ``(C_i,)`` (affine only)
``feature_aggregator.conv_layers.{j}.1.weight``   context conv j ``(D_j, D_{j-1}, k_j)``
``feature_aggregator.conv_layers.{j}.1.bias``     context conv bias (unless ``no_conv_bias``)
``feature_aggregator.conv_layers.{j}.3.weight``   context GroupNorm scale (affine only)
``feature_aggregator.conv_layers.{j}.3.bias``     context GroupNorm shift (affine only)
``feature_aggregator.residual_proj.{j}.weight``   1x1 skip projection ``(D_j, D_{j-1}, 1)``, only
                                                  with ``skip_connections_agg`` and ``D_j != D_{j-1}``
``wav2vec_predictions.project_to_steps.weight``   ``(D_A, C_E, 1, K)``: ``W_k``
``wav2vec_predictions.project_to_steps.bias``     ``(C_E,)``: ``b``
================================================  ===========================================

(sub-module indices: encoder block = Conv1d, Dropout, GroupNorm, ReLU; context
block = pad, Conv1d, Dropout, GroupNorm, ReLU; the pads, dropouts and ReLUs hold
no tensors).

Public API: :class:`Wav2VecConfig`, :class:`Wav2Vec`, :func:`wav2vec_loss`,
:func:`pretrain_wav2vec`, :func:`features`, :func:`load_fairseq_wav2vec`.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asdlib.models.inference import predict

DeviceLike = str | torch.device

Layer = tuple[int, int, int]  # (channels, kernel, stride), fairseq's convention

PAPER_ENCODER: tuple[Layer, ...] = ((512, 10, 5), (512, 8, 4), (512, 4, 2), (512, 4, 2), (512, 4, 2))
PAPER_CONTEXT: tuple[Layer, ...] = ((512, 3, 1),) * 9
ACTIVATIONS = ("relu", "gelu")


def _layers(value: Any, name: str) -> tuple[Layer, ...]:
    if isinstance(value, str):
        value = _parse_layers(value, name)
    try:
        layers = tuple(tuple(int(v) for v in layer) for layer in value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of (channels, kernel, stride); got {value!r}") from exc
    if not layers or any(len(layer) != 3 or min(layer) < 1 for layer in layers):
        raise ValueError(f"{name} must be a non-empty sequence of positive (channels, kernel, stride); got {value!r}")
    return layers


def _parse_layers(text: str, name: str) -> list:
    """Evaluate fairseq's layer expression, e.g. ``"[(512, 10, 5)] + [(512, 4, 2)] * 3"``, without ``eval``.

    Only integer literals, lists, tuples, ``+`` and ``*`` are accepted.
    """

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Add) and isinstance(left, list) and isinstance(right, list):
                return left + right
            if isinstance(node.op, ast.Mult):
                seq, n = (left, right) if isinstance(left, list) else (right, left)
                if isinstance(seq, list) and type(n) is int and 0 <= n <= 10_000:
                    return seq * n
        raise ValueError(f"unsupported element {ast.dump(node)[:80]}")

    try:
        return ev(ast.parse(text.strip(), mode="eval"))
    except (SyntaxError, ValueError, RecursionError) as exc:
        raise ValueError(f"{name}={text!r} is not a layer list like '[(512, 10, 5), (512, 8, 4)]': {exc}") from exc


@dataclass(frozen=True)
class Wav2VecConfig:
    """Architecture and objective of a wav2vec (v1) model.

    Field names are fairseq's (``Wav2VecConfig`` / ``--conv-feature-layers`` ...), so a
    checkpoint's configuration maps one to one. The defaults are the paper's base
    model (as fairseq's ``base_wav2vec_architecture``), with the paper's 10 negatives
    and steps ``k = 1..12``.

    Attributes:
        conv_feature_layers: encoder layers ``(channels, kernel, stride)``.
        conv_aggregator_layers: context layers ``(channels, kernel, stride)``; stride 1.
        prediction_steps: ``K``, the number of future steps predicted.
        num_negatives: distractors per target frame (also the weight ``lambda``).
        offset: the first step predicted (paper: 1; fairseq "auto": 3).
        log_compression: ``z = log(1 + |z|)`` at the encoder's output (large model).
        skip_connections_feat: residual connections in the encoder (same-width layers).
        skip_connections_agg: residual connections in the context network (large model);
            a 1x1 convolution ``residual_proj`` where the width changes.
        residual_scale: the sum ``x + residual`` is scaled by ``sqrt(residual_scale)``.
        agg_zero_pad: causal padding with zeros instead of replicating the first frame.
        no_conv_bias: context convolutions without bias.
        non_affine_group_norm: GroupNorm without scale and shift.
        activation: ``"relu"`` (paper) or ``"gelu"``.
        dropout: dropout inside the context blocks and on the predictions.
        dropout_features, dropout_agg: dropout on ``z`` before the context network /
            on ``c`` before the predictions (training only).
    """

    conv_feature_layers: tuple[Layer, ...] = PAPER_ENCODER
    conv_aggregator_layers: tuple[Layer, ...] = PAPER_CONTEXT
    prediction_steps: int = 12
    num_negatives: int = 10
    offset: int = 1
    log_compression: bool = False
    skip_connections_feat: bool = False
    skip_connections_agg: bool = False
    residual_scale: float = 0.5
    agg_zero_pad: bool = False
    no_conv_bias: bool = False
    non_affine_group_norm: bool = False
    activation: str = "relu"
    dropout: float = 0.0
    dropout_features: float = 0.0
    dropout_agg: float = 0.0

    def __post_init__(self) -> None:
        enc = _layers(self.conv_feature_layers, "conv_feature_layers")
        agg = _layers(self.conv_aggregator_layers, "conv_aggregator_layers")
        object.__setattr__(self, "conv_feature_layers", enc)
        object.__setattr__(self, "conv_aggregator_layers", agg)
        if any(s != 1 for _, _, s in agg):
            raise ValueError(f"conv_aggregator_layers must have stride 1 (causal padding); got {agg}")
        for name in ("prediction_steps", "num_negatives", "offset"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}={v!r} must be a positive integer")
            object.__setattr__(self, name, int(v))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} must be one of {ACTIVATIONS}")
        if not self.residual_scale > 0:
            raise ValueError(f"residual_scale={self.residual_scale!r} must be positive")
        for name in ("dropout", "dropout_features", "dropout_agg"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}={getattr(self, name)!r} must be in [0, 1)")

    # ------------------------------------------------------------------ presets

    @classmethod
    def base(cls, channels: int = 512, n_context_layers: int = 9, context_kernel: int = 3, **fields: Any):
        """The paper's base model with ``channels`` everywhere and ``n_context_layers`` context layers."""
        enc = tuple((channels, k, s) for _, k, s in PAPER_ENCODER)
        return cls(conv_feature_layers=enc, conv_aggregator_layers=((channels, context_kernel, 1),) * n_context_layers,
                   **fields)

    @classmethod
    def large(cls, channels: int = 512, **fields: Any):
        """"wav2vec large" (fairseq README recipe): 7 encoder layers (two 1x1), 12 context
        layers with kernels 2..13, skip connections in the context network, log compression."""
        enc = tuple((channels, k, s) for _, k, s in PAPER_ENCODER) + ((channels, 1, 1),) * 2
        agg = tuple((channels, k, 1) for k in range(2, 14))
        kw = {"skip_connections_agg": True, "log_compression": True, "residual_scale": 0.5}
        kw.update(fields)
        return cls(conv_feature_layers=enc, conv_aggregator_layers=agg, **kw)

    # ------------------------------------------------------------------ geometry

    @property
    def embed_dim(self) -> int:
        """Channels of ``z`` (the encoder's last layer)."""
        return self.conv_feature_layers[-1][0]

    @property
    def context_dim(self) -> int:
        """Channels of ``c`` (the context network's last layer)."""
        return self.conv_aggregator_layers[-1][0]

    @property
    def hop(self) -> int:
        """Samples between consecutive frames (product of the encoder strides; 160 = 10 ms)."""
        return math.prod(s for _, _, s in self.conv_feature_layers)

    @property
    def receptive_field(self) -> int:
        """Samples seen by one encoder frame ``z_i`` (465 = 29 ms for the paper's encoder)."""
        rf, jump = 1, 1
        for _, k, s in self.conv_feature_layers:
            rf += (k - 1) * jump
            jump *= s
        return rf

    @property
    def context_receptive_field(self) -> int:
        """Samples seen by one context frame ``c_i`` (3345 = 209 ms for the paper's model)."""
        return self.receptive_field + sum(k - 1 for _, k, _ in self.conv_aggregator_layers) * self.hop

    @property
    def fairseq_auto_offset(self) -> int:
        """fairseq's ``--offset auto``: ``ceil(receptive_field / hop)`` (3 for the paper's encoder)."""
        return math.ceil(self.receptive_field / self.hop)

    def frames(self, n_samples: int) -> int:
        """Frames ``T`` of ``z`` and ``c`` for a waveform of ``n_samples`` (0 if too short)."""
        n = int(n_samples)
        for _, k, s in self.conv_feature_layers:
            if n < k:
                return 0
            n = (n - k) // s + 1
        return n


# ----------------------------------------------------------------------------- network


def _activation(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.GELU()


def _group_norm(dim: int, affine: bool) -> nn.GroupNorm:
    """One group: normalises over every channel and frame of each example (fairseq ``Fp32GroupNorm(1, dim)``)."""
    return nn.GroupNorm(1, dim, affine=affine)


class _FeatureExtractor(nn.Module):
    """The encoder network ``f`` (fairseq ``ConvFeatureExtractionModel``)."""

    def __init__(self, cfg: Wav2VecConfig) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList()
        in_d = 1
        for dim, k, stride in cfg.conv_feature_layers:
            self.conv_layers.append(
                nn.Sequential(
                    nn.Conv1d(in_d, dim, k, stride=stride, bias=False),
                    nn.Dropout(p=0.0),  # fairseq builds the encoder with dropout 0
                    _group_norm(dim, not cfg.non_affine_group_norm),
                    _activation(cfg.activation),
                )
            )
            in_d = dim
        self.log_compression = cfg.log_compression
        self.skip_connections = cfg.skip_connections_feat
        self.residual_scale = math.sqrt(cfg.residual_scale)

    def forward(self, x: Tensor) -> Tensor:
        x = x.unsqueeze(1)  # (B, T) -> (B, 1, T)
        for conv in self.conv_layers:
            residual = x
            x = conv(x)
            if self.skip_connections and x.size(1) == residual.size(1):
                tsz, r_tsz = x.size(2), residual.size(2)
                residual = residual[..., :: r_tsz // tsz][..., :tsz]
                x = (x + residual) * self.residual_scale
        if self.log_compression:
            x = (x.abs() + 1).log()
        return x


class _Aggregator(nn.Module):
    """The context network ``g`` (fairseq ``ConvAggegator``): causal convolutions, stride 1."""

    def __init__(self, cfg: Wav2VecConfig) -> None:
        super().__init__()
        in_d = cfg.embed_dim
        blocks = []
        self.residual_proj = nn.ModuleList()
        for dim, k, stride in cfg.conv_aggregator_layers:
            if in_d != dim and cfg.skip_connections_agg:
                self.residual_proj.append(nn.Conv1d(in_d, dim, 1, bias=False))
            else:
                self.residual_proj.append(None)
            pad = nn.ConstantPad1d((k - 1, 0), 0.0) if cfg.agg_zero_pad else nn.ReplicationPad1d((k - 1, 0))
            blocks.append(
                nn.Sequential(
                    pad,
                    nn.Conv1d(in_d, dim, k, stride=stride, bias=not cfg.no_conv_bias),
                    nn.Dropout(p=cfg.dropout),
                    _group_norm(dim, not cfg.non_affine_group_norm),
                    _activation(cfg.activation),
                )
            )
            in_d = dim
        self.conv_layers = nn.Sequential(*blocks)
        self.skip_connections = cfg.skip_connections_agg
        self.residual_scale = math.sqrt(cfg.residual_scale)

    def forward(self, x: Tensor) -> Tensor:
        for rproj, conv in zip(self.residual_proj, self.conv_layers):
            residual = x
            x = conv(x)
            if self.skip_connections:
                if rproj is not None:
                    residual = rproj(residual)
                x = (x + residual) * self.residual_scale
        return x


class _Predictions(nn.Module):
    """The step-specific affine maps ``h_k`` (fairseq ``Wav2VecPredictionsModel.project_to_steps``)."""

    def __init__(self, cfg: Wav2VecConfig) -> None:
        super().__init__()
        self.project_to_steps = nn.ConvTranspose2d(cfg.context_dim, cfg.embed_dim, (1, cfg.prediction_steps))
        self.dropout = nn.Dropout(p=cfg.dropout)

    def forward(self, c: Tensor) -> Tensor:
        """``c (B, D, T)`` -> predictions ``(B, C, T, K)``: ``[..., i, k-1] = W_k c_i + b``."""
        return self.dropout(self.project_to_steps(c.unsqueeze(-1)))


class Wav2Vec(nn.Module):
    """wav2vec (v1): encoder ``f`` (waveform -> ``z``), context network ``g`` (``z`` -> ``c``).

    Args:
        config: the architecture; ``None`` builds :meth:`Wav2VecConfig.base` with
            ``**overrides`` (e.g. ``Wav2Vec(channels=32, n_context_layers=2,
            prediction_steps=4)`` for a tiny model); defaults = the paper's.

    ``model(wave)`` returns the context features ``c`` ``(B, D, T)``;
    :meth:`encode` gives ``z`` ``(B, C, T)``; :meth:`loss` is the contrastive
    objective. Input: ``(B, n_samples)`` or ``(n_samples,)`` float waveforms at
    16 kHz (any scale: GroupNorm removes it), at least ``receptive_field`` long.
    """

    def __init__(self, config: Wav2VecConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        if config is None:
            config = Wav2VecConfig.base(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        if not isinstance(config, Wav2VecConfig):
            raise TypeError(f"config must be a Wav2VecConfig, not {type(config).__name__}")
        self.config = config
        self.feature_extractor = _FeatureExtractor(config)
        self.feature_aggregator = _Aggregator(config)
        self.wav2vec_predictions = _Predictions(config)
        self.dropout_feats = nn.Dropout(p=config.dropout_features)
        self.dropout_agg = nn.Dropout(p=config.dropout_agg)

    def _check(self, wave: Tensor) -> Tensor:
        if not isinstance(wave, Tensor):
            raise TypeError(f"wave must be a tensor, not {type(wave).__name__}")
        if wave.ndim == 1:
            wave = wave.unsqueeze(0)
        if wave.ndim != 2:
            raise ValueError(f"wave must be (B, n_samples) or (n_samples,); got shape {tuple(wave.shape)}")
        if wave.shape[-1] < self.config.receptive_field:
            raise ValueError(
                f"wave has {wave.shape[-1]} samples; wav2vec needs at least {self.config.receptive_field} "
                f"(one encoder frame)"
            )
        return wave

    def encode(self, wave: Tensor) -> Tensor:
        """The encoder output ``z`` ``(B, C, T)``."""
        return self.feature_extractor(self._check(wave))

    def aggregate(self, z: Tensor) -> Tensor:
        """The context network on ``z`` (dropout on ``z`` first in training): ``c`` ``(B, D, T)``."""
        return self.feature_aggregator(self.dropout_feats(z))

    def forward(self, wave: Tensor) -> Tensor:
        """The context features ``c`` ``(B, D, T)`` of ``wave``."""
        return self.aggregate(self.encode(wave))

    def loss(self, wave: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The contrastive loss (:func:`wav2vec_loss`) of a batch of waveforms (crops).

        ``generator`` (on the waveform's device) draws the distractors; ``None``
        uses torch's global RNG.
        """
        z = self.encode(wave)
        c = self.dropout_agg(self.aggregate(z))
        return wav2vec_loss(
            self.wav2vec_predictions(c), z, offset=self.config.offset,
            num_negatives=self.config.num_negatives, generator=generator,
        )


# ----------------------------------------------------------------------------- objective


def sample_negatives(z: Tensor, num_negatives: int, generator: torch.Generator | None = None) -> Tensor:
    """Distractors for every frame: ``(B, N, C, T)``, ``[b, :, :, j] = z[b, :, m]`` with ``m``
    uniform over the *other* frames ``m != j`` of the same sequence."""
    b, c, t = z.shape
    if t < 2:
        raise ValueError(f"negative sampling needs at least 2 frames per sequence; got {t}")
    idx = torch.randint(0, t - 1, (b, num_negatives, t), device=z.device, generator=generator)
    idx = idx + (idx >= torch.arange(t, device=z.device)).long()  # skip the target's own frame
    src = z.unsqueeze(1).expand(b, num_negatives, c, t)
    return torch.gather(src, 3, idx.unsqueeze(2).expand(b, num_negatives, c, t))


def wav2vec_loss(
    predictions: Tensor,
    z: Tensor,
    *,
    offset: int = 1,
    num_negatives: int = 10,
    generator: torch.Generator | None = None,
    negatives: Tensor | None = None,
) -> Tensor:
    """wav2vec's contrastive loss, averaged over the (frame, step) terms.

    Args:
        predictions: ``(B, C, T, K)``, ``predictions[b, :, i, s] = h_{offset+s}(c_i)``.
        z: the encoder output ``(B, C, T)`` (targets and distractors).
        offset: the step of ``predictions[..., 0]`` (paper: 1).
        num_negatives: ``N`` distractors per target frame; ``lambda = N``.
        generator: for drawing the distractors (:func:`sample_negatives`).
        negatives: ``(B, N, C, T)`` distractors to use instead of drawing them.

    Returns:
        ``mean over (b, i, k) of -[log sigmoid(z_{i+k} . h_k(c_i)) + sum_n log sigmoid(-z~_n . h_k(c_i))]``
        for ``k = offset .. offset+K-1`` and ``i + k < T`` (steps beyond the sequence
        are dropped), computed in float32.
    """
    if predictions.ndim != 4 or z.ndim != 3 or predictions.shape[:3] != z.shape:
        raise ValueError(
            f"predictions (B, C, T, K) and z (B, C, T) do not fit: {tuple(predictions.shape)} vs {tuple(z.shape)}"
        )
    _, _, t, k_max = predictions.shape
    steps = min(k_max, t - offset)
    if steps < 1:
        raise ValueError(f"a sequence of {t} frames is too short to predict step {offset}: use longer crops")
    with torch.autocast(z.device.type, enabled=False):
        z = z.float()
        predictions = predictions.float()
        if negatives is None:
            negatives = sample_negatives(z, num_negatives, generator)
        elif negatives.ndim != 4 or negatives.shape[0] != z.shape[0] or negatives.shape[2:] != z.shape[1:]:
            raise ValueError(f"negatives must be (B, N, C, T) for z {tuple(z.shape)}; got {tuple(negatives.shape)}")
        targets = torch.cat([z.unsqueeze(1), negatives.float()], dim=1)  # (B, 1+N, C, T)
        total = z.new_zeros(())
        count = 0
        for s in range(steps):
            d = s + offset
            logits = torch.einsum("bct,bnct->bnt", predictions[:, :, : t - d, s], targets[..., d:])
            total = total - F.logsigmoid(logits[:, 0]).sum() - F.logsigmoid(-logits[:, 1:]).sum()
            count += logits.shape[0] * logits.shape[2]
    return total / count


# ----------------------------------------------------------------------------- training and features


def _as_waves(x: Any, name: str) -> Tensor:
    t = x if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or not (t.is_floating_point() or t.dtype in (torch.int16, torch.int32)):
        raise ValueError(f"{name} must be float waveforms (N, n_samples); got shape {tuple(t.shape)}, {t.dtype}")
    if len(t) == 0:
        raise ValueError(f"{name} holds no clips")
    return t


def features(
    model: Wav2Vec,
    waveforms: Tensor | np.ndarray,
    *,
    batch_size: int = 16,
    device: DeviceLike | None = None,
    layer: str = "c",
) -> Tensor:
    """Frozen wav2vec features of ``waveforms`` ``(N, n_samples)`` -> ``(N, D, T)`` float32 on the CPU.

    ``layer="c"`` (default): the context network's output, the SC-wav2vec input;
    ``"z"``: the encoder's. The model runs in eval mode without gradients, batch by
    batch, where it is (``device`` given: it is moved there first); its mode is restored.
    A single waveform ``(n_samples,)`` gives ``(1, D, T)``.
    """
    if layer not in ("c", "z"):
        raise ValueError(f"layer={layer!r} must be 'c' (context) or 'z' (encoder)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    x = _as_waves(waveforms, "waveforms")
    if device is not None:
        model.to(device)
    return predict(
        model, x, lambda m, xb: m.encode(xb) if layer == "z" else m(xb), batch_size=batch_size, to_cpu="batch"
    )


__all__ = ["Wav2Vec", "Wav2VecConfig", "features", "sample_negatives", "wav2vec_loss"]
