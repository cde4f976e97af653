"""wav2vec 2.0 (Baevski et al., NeurIPS 2020) as the "pre-trained features" of USTC's
DCASE 2022 system (paper 002, Sec. II.A, Eq. 3-4), built on torchaudio's own model.

The paper feeds a classifier ``F_LTP = Concatenate(F_L, F_T, F_P)`` (Eq. 4), three
``F x T`` maps: the log-mel spectrogram, the Tgram, and ``F_P = PTM(a)`` (Eq. 3), "latent
representations" of a wav2vec 2.0 that was pre-trained and then "fine-tuned on the
dataset used in our experiments"; it states only that "the dimension of ``F_P`` is
``F x T``" (F = 128 mels, T = frames of the 1024/512 log-mel), not how the hidden states
are brought to that grid. :class:`Wav2Vec2Grid` does it with the two simplest linear
maps (our choice, documented there): a learned linear projection of each frame's
hidden state ``D -> F``, and linear interpolation over time from wav2vec 2.0's 50 Hz
frames to the log-mel frames, aligned on the frames' centres.

The network is torchaudio's :class:`torchaudio.models.Wav2Vec2Model`, built with
:func:`torchaudio.models.wav2vec2_model` (no weights are downloaded):

::

    waveform (B, n_samples), 16 kHz
      -> feature_extractor: 7 x [Conv1d(k, s) -> norm -> GELU]        (B, T', C)
           kernels (10, 3, 3, 3, 3, 2, 2), strides (5, 2, 2, 2, 2, 2, 2):
           receptive field 400 samples (25 ms), hop 320 (20 ms): T' = 499 for 10 s
      -> encoder.feature_projection: LayerNorm(C) -> Linear(C, D) -> dropout
      -> encoder.transformer: x + GELU(grouped conv positional embedding) -> LayerNorm
           -> L x [self-attention, feed-forward] (post-norm for base, pre-norm for large)
      -> hidden states of every layer (B, T', D)   (``extract_features``)

:func:`small_wav2vec2` is a small configuration of that builder (the base model's
convolutional geometry with fewer channels, a 4-layer 256-dim transformer) for
pre-training on DCASE-sized data here (:func:`asdlib.train.wav2vec2.pretrain_wav2vec2`);
:func:`wav2vec2_config` reads the builder arguments back from any such model.

Self-supervised pre-training needs what torchaudio's model lacks: a product quantizer
(:class:`GumbelVectorQuantizer`), the masking, the heads and the loss
(:class:`Wav2Vec2Pretrainer`; the span masking reuses torchaudio's HuBERT
:class:`~torchaudio.models.wav2vec2.components.MaskGenerator`).

Public API: :func:`small_wav2vec2`, :func:`small_wav2vec2_config`, :func:`wav2vec2_config`,
:func:`normalize_config`, :func:`conv_geometry`, :func:`logmel_frames`, :func:`align_frames`, :class:`Wav2Vec2Grid`,
:class:`GumbelVectorQuantizer`, :func:`diversity_loss`, :func:`sample_negatives`,
:func:`contrastive_loss`, :class:`Wav2Vec2Pretrainer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchaudio.models import Wav2Vec2Model, wav2vec2_model
from torchaudio.models.wav2vec2 import components as _components
from torchaudio.models.wav2vec2.model import _init_hubert_pretrain_model

#: the convolutional feature encoder of every torchaudio / fairseq wav2vec 2.0:
#: (kernel, stride) per layer; receptive field 400 samples, hop 320 samples.
BASE_CONV_GEOMETRY: tuple[tuple[int, int], ...] = ((10, 5),) + ((3, 2),) * 4 + ((2, 2),) * 2

#: the keyword arguments of :func:`torchaudio.models.wav2vec2_model`, in order.
CONFIG_KEYS: tuple[str, ...] = (
    "extractor_mode", "extractor_conv_layer_config", "extractor_conv_bias", "encoder_embed_dim",
    "encoder_projection_dropout", "encoder_pos_conv_kernel", "encoder_pos_conv_groups", "encoder_num_layers",
    "encoder_num_heads", "encoder_attention_dropout", "encoder_ff_interm_features", "encoder_ff_interm_dropout",
    "encoder_dropout", "encoder_layer_norm_first", "encoder_layer_drop", "aux_num_out",
)
#: the arguments that only set dropout rates (they change training, not the weights' shapes or the features).
DROPOUT_KEYS: tuple[str, ...] = (
    "encoder_projection_dropout", "encoder_attention_dropout", "encoder_ff_interm_dropout", "encoder_dropout",
    "encoder_layer_drop",
)


# ----------------------------------------------------------------------------- the model


def small_wav2vec2_config(
    *,
    conv_channels: int = 256,
    embed_dim: int = 256,
    num_layers: int = 4,
    num_heads: int = 4,
    ff_dim: int = 1024,
    pos_conv_kernel: int = 64,
    pos_conv_groups: int = 16,
    extractor_mode: str = "group_norm",
    conv_bias: bool = False,
    dropout: float = 0.1,
    layer_drop: float = 0.05,
    aux_num_out: int | None = None,
) -> dict[str, Any]:
    """The keyword arguments of :func:`torchaudio.models.wav2vec2_model` for a small wav2vec 2.0.

    Defaults (4.5 M parameters; the base model has 95 M): the base model's
    convolutional feature encoder geometry (:data:`BASE_CONV_GEOMETRY`: 7 layers,
    receptive field 25 ms, hop 20 ms) with ``conv_channels`` = 256 channels instead of
    512, group norm in the first layer and no conv bias (``extractor_mode="group_norm"``,
    as the base model); a post-norm transformer (base model style) of
    ``num_layers`` = 4 layers, ``embed_dim`` = 256, ``num_heads`` = 4, feed-forward
    ``ff_dim`` = 1024, a convolutional positional embedding of ``pos_conv_kernel`` = 64
    frames (1.28 s; base: 128) in ``pos_conv_groups`` = 16 groups; ``dropout`` (0.1) for
    the projection, attention, feed-forward and residual dropouts, ``layer_drop`` 0.05.

    ``aux_num_out``: an optional linear head on the last layer (torchaudio's ``aux``, for
    CTC-style fine-tuning); ``None`` for none.
    """
    for name, v in (("conv_channels", conv_channels), ("embed_dim", embed_dim), ("num_layers", num_layers),
                    ("num_heads", num_heads), ("ff_dim", ff_dim), ("pos_conv_kernel", pos_conv_kernel),
                    ("pos_conv_groups", pos_conv_groups)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} must be a positive integer")
    if embed_dim % num_heads or embed_dim % pos_conv_groups:
        raise ValueError(
            f"embed_dim={embed_dim} must be divisible by num_heads={num_heads} and pos_conv_groups={pos_conv_groups}"
        )
    if extractor_mode not in ("group_norm", "layer_norm"):
        raise ValueError(f"extractor_mode={extractor_mode!r} must be 'group_norm' or 'layer_norm'")
    for name, v in (("dropout", dropout), ("layer_drop", layer_drop)):
        if not 0.0 <= v < 1.0:
            raise ValueError(f"{name}={v!r} must be in [0, 1)")
    return {
        "extractor_mode": extractor_mode,
        "extractor_conv_layer_config": [(conv_channels, k, s) for k, s in BASE_CONV_GEOMETRY],
        "extractor_conv_bias": bool(conv_bias),
        "encoder_embed_dim": embed_dim,
        "encoder_projection_dropout": float(dropout),
        "encoder_pos_conv_kernel": pos_conv_kernel,
        "encoder_pos_conv_groups": pos_conv_groups,
        "encoder_num_layers": num_layers,
        "encoder_num_heads": num_heads,
        "encoder_attention_dropout": float(dropout),
        "encoder_ff_interm_features": ff_dim,
        "encoder_ff_interm_dropout": float(dropout),
        "encoder_dropout": float(dropout),
        "encoder_layer_norm_first": False,
        "encoder_layer_drop": float(layer_drop),
        "aux_num_out": aux_num_out,
    }


def small_wav2vec2(**overrides: Any) -> Wav2Vec2Model:
    """A small :class:`torchaudio.models.Wav2Vec2Model`: ``wav2vec2_model(**small_wav2vec2_config(**overrides))``,
    initialised for pre-training from scratch.

    See :func:`small_wav2vec2_config` for the configuration and its keyword arguments.
    torchaudio's ``wav2vec2_model`` keeps PyTorch's default initialisation, which is meant
    to be overwritten by trained weights: its seven convolutions each shrink their input,
    the feature encoder's outputs end up around 1e-4 (variance far below the next
    LayerNorm's eps) and the contrastive loss stays at chance for hundreds of updates.
    So the model gets wav2vec 2.0's own initialisation, as torchaudio applies it to its
    pre-training models (``_init_hubert_pretrain_model``: Kaiming-normal convolutions,
    the positional convolution and attention as in fairseq). Seed torch first for
    reproducible weights.
    """
    model = wav2vec2_model(**small_wav2vec2_config(**overrides))
    if next(model.parameters()).device.type != "meta":   # a shape-only build (the checkpoint loader) has no data
        model.apply(_init_hubert_pretrain_model)
    return model


def normalize_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as the exact keyword arguments of :func:`torchaudio.models.wav2vec2_model`.

    The convolution layers become a list of ``(channels, kernel, stride)`` int tuples
    (a JSON or ``torch.save`` round trip turns them into lists). Raises
    :class:`ValueError` naming unknown or missing keys and :class:`TypeError` for a
    malformed layer list.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"a wav2vec 2.0 config must be a mapping, not {type(config).__name__}")
    unknown = sorted(set(map(str, config)) - set(CONFIG_KEYS))
    missing = [k for k in CONFIG_KEYS if k not in config]
    if unknown or missing:
        parts = ([f"unknown keys {unknown}"] if unknown else []) + ([f"missing keys {missing}"] if missing else [])
        raise ValueError("not a torchaudio wav2vec2_model configuration: " + "; ".join(parts))
    out = {k: config[k] for k in CONFIG_KEYS}
    layers = out["extractor_conv_layer_config"]
    if layers is not None:
        try:
            layers = [tuple(int(v) for v in layer) for layer in layers]
        except (TypeError, ValueError) as exc:
            raise TypeError(f"extractor_conv_layer_config must be a list of (channels, kernel, stride): {exc}") from exc
        if not layers or any(len(layer) != 3 for layer in layers):
            raise TypeError(f"extractor_conv_layer_config must be a non-empty list of (channels, kernel, stride) "
                            f"triples, got {config['extractor_conv_layer_config']!r}")
        out["extractor_conv_layer_config"] = layers
    return out


def wav2vec2_config(model: Wav2Vec2Model) -> dict[str, Any]:
    """Read the :func:`torchaudio.models.wav2vec2_model` arguments back from a built model.

    Works for any model that builder (or ``wav2vec2_base`` / ``_large`` /
    ``_large_lv60k`` / ``_xlsr_*`` / ``hubert_*``, which call it) made:
    ``wav2vec2_model(**wav2vec2_config(m))`` has ``m``'s structure, dropout rates
    included. WavLM (relative-position attention) is refused.
    """
    if not isinstance(model, Wav2Vec2Model):
        raise TypeError(f"model must be a torchaudio Wav2Vec2Model, not {type(model).__name__}")
    blocks = model.feature_extractor.conv_layers
    encoder = model.encoder
    projection, transformer = encoder.feature_projection, encoder.transformer
    layers = transformer.layers
    if len(layers) == 0:
        raise ValueError("a wav2vec 2.0 without transformer layers has no recoverable configuration")
    first = layers[0]
    if type(first.attention) is not _components.SelfAttention:
        raise ValueError(f"unsupported attention {type(first.attention).__name__} (WavLM?): only wav2vec 2.0 / HuBERT")
    aux = model.aux
    if aux is not None and not isinstance(aux, nn.Linear):
        raise ValueError(f"unsupported aux module {type(aux).__name__} (expected nn.Linear)")
    return {
        "extractor_mode": "group_norm" if isinstance(blocks[0].layer_norm, nn.GroupNorm) else "layer_norm",
        "extractor_conv_layer_config": [(b.conv.out_channels, b.conv.kernel_size[0], b.conv.stride[0]) for b in blocks],
        "extractor_conv_bias": blocks[0].conv.bias is not None,
        "encoder_embed_dim": projection.projection.out_features,
        "encoder_projection_dropout": float(projection.dropout.p),
        "encoder_pos_conv_kernel": int(transformer.pos_conv_embed.kernel_size),
        "encoder_pos_conv_groups": int(transformer.pos_conv_embed.conv.groups),
        "encoder_num_layers": len(layers),
        "encoder_num_heads": int(first.attention.num_heads),
        "encoder_attention_dropout": float(first.attention.dropout),
        "encoder_ff_interm_features": first.feed_forward.intermediate_dense.out_features,
        "encoder_ff_interm_dropout": float(first.feed_forward.intermediate_dropout.p),
        "encoder_dropout": float(transformer.dropout.p),
        # the builder passes layer_norm_first to the layers and its negation to the transformer
        "encoder_layer_norm_first": bool(first.layer_norm_first),
        "encoder_layer_drop": float(transformer.layer_drop),
        "aux_num_out": None if aux is None else aux.out_features,
    }


def conv_geometry(model: Wav2Vec2Model) -> tuple[int, int]:
    """``(receptive_field, hop)`` in samples of the model's convolutional feature encoder.

    ``(400, 320)`` for every standard wav2vec 2.0 (25 ms windows every 20 ms at 16 kHz);
    frame ``t`` covers samples ``[hop * t, hop * t + receptive_field)``.
    """
    field, hop = 1, 1
    for block in model.feature_extractor.conv_layers:
        field += (block.conv.kernel_size[0] - 1) * hop
        hop *= block.conv.stride[0]
    return field, hop


def logmel_frames(n_samples: int, hop_length: int = 512) -> int:
    """Frames of a centred (``center=True``) STFT: ``1 + n_samples // hop_length``.

    313 for 10 s at 16 kHz with hop 512, 344 for 11 s.
    """
    return 1 + int(n_samples) // int(hop_length)


def align_frames(x: Tensor, n_frames: int, src_hop: float, src_centre: float, dst_hop: float = 512,
                 dst_centre: float = 0.0) -> Tensor:
    """Linearly interpolate frame features ``(B, T_src, C)`` onto another frame grid ``(B, n_frames, C)``.

    Source frame ``t`` is centred at sample ``src_hop * t + src_centre``; output frame
    ``j`` at ``dst_hop * j + dst_centre``. Output ``j`` takes the source at fractional
    index ``p_j = (dst_hop * j + dst_centre - src_centre) / src_hop``, clamped to
    ``[0, T_src - 1]`` (the edges repeat the first / last frame), interpolating
    linearly between its two neighbours. For wav2vec 2.0 -> a centred log-mel with hop
    512: ``src_hop=320, src_centre=199.5, dst_hop=512, dst_centre=0``.
    """
    if x.dim() != 3:
        raise ValueError(f"expected frame features (B, T, C), got shape {tuple(x.shape)}")
    n_src = x.shape[1]
    if n_src < 1:
        raise ValueError("no source frames to interpolate")
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"n_frames={n_frames!r} must be a positive integer")
    j = torch.arange(n_frames, device=x.device, dtype=torch.float64)
    pos = ((dst_hop * j + dst_centre - src_centre) / src_hop).clamp(0, n_src - 1)
    i0 = pos.floor().long().clamp(max=n_src - 1)
    i1 = (i0 + 1).clamp(max=n_src - 1)
    w = (pos - i0).to(x.dtype)[None, :, None]
    return x[:, i0] * (1 - w) + x[:, i1] * w


class Wav2Vec2Grid(nn.Module):
    """wav2vec 2.0 hidden states on the log-mel's ``F x T`` grid: ``F_P`` of paper 002 (Eq. 3).

    ::

        waveform (B, n_samples)
          -> model.extract_features(...)[layer]      hidden states (B, T', D), T' = 1 + (n - 400) // 320
          -> align_frames: linear interpolation over time onto the T log-mel frames,
             aligned on frame centres (wav2vec 2.0 frame t: sample 320 t + 199.5;
             log-mel frame j with center=True: sample 512 j)            (B, T, D)
          -> projection: nn.Linear(D, n_freq) on each frame               (B, T, F)
          -> transpose                                                    (B, F, T)

    The paper only says "latent representations ``F_P`` ... the dimension of ``F_P`` is
    ``F x T``, which is the same as that of the log-mel spectrogram"; the linear
    projection ``D -> F`` (learned with the downstream classifier; it has no
    pre-trained weights) and the linear time interpolation are our choices. The
    projection and the interpolation commute (interpolation weights sum to one), so
    projecting first or last gives the same map. ``T = 1 + n_samples // hop_length``
    (313 for 10 s, 344 for 11 s) unless ``n_frames`` is given.

    Args:
        model: a torchaudio :class:`~torchaudio.models.Wav2Vec2Model` (pre-trained /
            fine-tuned / loaded with :func:`asdlib.train.wav2vec2.load_wav2vec2_checkpoint`).
        n_freq: ``F``, the output rows (128 = the log-mel's mels).
        layer: which transformer layer's output: an index into the list
            ``extract_features`` returns (0 = first layer, -1 = last). Only the layers
            up to it are computed.
        freeze: ``True`` (default): the wav2vec 2.0 weights get ``requires_grad=False``,
            it stays in eval mode (no dropout) whatever :meth:`train` is called with,
            and runs without autograd; only :attr:`projection` trains. ``False``: it is
            fine-tuned with the rest (the paper fine-tunes wav2vec 2.0 on the DCASE data).
        hop_length: the log-mel hop (512), for ``T``'s default and the alignment.

    Attributes:
        wav2vec2: the wrapped model; projection: the ``nn.Linear(D, n_freq)``.
    """

    def __init__(self, model: Wav2Vec2Model, n_freq: int = 128, layer: int = -1, *, freeze: bool = True,
                 hop_length: int = 512) -> None:
        super().__init__()
        if not isinstance(model, Wav2Vec2Model):
            raise TypeError(f"model must be a torchaudio Wav2Vec2Model, not {type(model).__name__}")
        for name, v in (("n_freq", n_freq), ("hop_length", hop_length)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be a positive integer")
        n_layers = len(model.encoder.transformer.layers)
        if isinstance(layer, bool) or not isinstance(layer, int) or not -n_layers <= layer < n_layers:
            raise ValueError(f"layer={layer!r} must index one of the model's {n_layers} transformer layers "
                             f"({-n_layers} .. {n_layers - 1})")
        self.wav2vec2 = model
        self.layer = layer
        self.layer_index = layer % n_layers
        self.n_freq = n_freq
        self.hop_length = hop_length
        self.freeze = bool(freeze)
        self.receptive_field, self.src_hop = conv_geometry(model)
        self.embed_dim = model.encoder.feature_projection.projection.out_features
        self.projection = nn.Linear(self.embed_dim, n_freq)
        if self.freeze:
            model.requires_grad_(False)
            model.eval()

    def train(self, mode: bool = True) -> Wav2Vec2Grid:
        super().train(mode)
        if self.freeze:
            self.wav2vec2.eval()
        return self

    def n_frames(self, n_samples: int) -> int:
        """The log-mel frames of a clip: ``1 + n_samples // hop_length``."""
        return logmel_frames(n_samples, self.hop_length)

    def _check(self, waveform: Tensor) -> Tensor:
        if not isinstance(waveform, Tensor):
            raise TypeError(f"waveform must be a tensor, not {type(waveform).__name__}")
        if waveform.dim() == 1:
            waveform = waveform.unsqueeze(0)
        if waveform.dim() != 2:
            raise ValueError(f"waveform must be (B, n_samples) or (n_samples,), got shape {tuple(waveform.shape)}")
        if waveform.shape[1] < self.receptive_field:
            raise ValueError(f"clips of {waveform.shape[1]} samples are shorter than the receptive field of "
                             f"wav2vec 2.0's feature encoder ({self.receptive_field} samples)")
        return waveform

    def hidden_states(self, waveform: Tensor) -> Tensor:
        """The chosen layer's hidden states ``(B, T', D)`` at wav2vec 2.0's frame rate."""
        waveform = self._check(waveform)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            states, _ = self.wav2vec2.extract_features(waveform, num_layers=self.layer_index + 1)
        return states[self.layer_index]

    def forward(self, waveform: Tensor, n_frames: int | None = None) -> Tensor:
        """``(B, n_samples)`` -> ``(B, n_freq, T)``; ``T = n_frames`` or ``1 + n_samples // hop_length``."""
        waveform = self._check(waveform)
        if n_frames is None:
            n_frames = self.n_frames(waveform.shape[1])
        h = self.hidden_states(waveform)
        h = align_frames(h, n_frames, self.src_hop, (self.receptive_field - 1) / 2, self.hop_length, 0.0)
        return self.projection(h).transpose(1, 2)


# ----------------------------------------------------------------------------- pre-training pieces


def diversity_loss(perplexity: Tensor, groups: int, entries: int) -> Tensor:
    """wav2vec 2.0's codebook diversity loss, fairseq's form: ``(G V - perplexity) / (G V)``.

    ``perplexity = sum_g exp(H(p_g))`` with ``p_g`` the codeword probabilities of group
    ``g`` averaged over the batch (softmax, no Gumbel noise). Uniform use of all ``V``
    entries of every group gives the maximal perplexity ``G V`` and the loss's minimum
    0; all frames on one entry per group give ``G`` and ``1 - 1/V``. (The paper's Eq. 4,
    ``1/(GV) sum_g -H(p_g)``, is minimised by the same uniform use; at that point it is
    ``-log(V) / V``.)
    """
    n = groups * entries
    return (n - perplexity) / n


class GumbelVectorQuantizer(nn.Module):
    """wav2vec 2.0's product quantizer with straight-through Gumbel-softmax (fairseq's ``GumbelVectorQuantizer``).

    Each input frame ``(C,)`` is mapped to ``G x V`` logits (``weight_proj``, a linear
    layer initialised ``N(0, 1)``, bias 0); in training one entry per group is chosen
    with hard Gumbel-softmax at temperature ``tau`` (straight-through gradients), in
    eval mode the argmax; the output concatenates the chosen entries of the ``G``
    codebooks ``(V, codeword_dim / G)`` (``codebooks``, uniform init) into
    ``(codeword_dim,)``.

    :meth:`forward` returns ``(quantized (..., codeword_dim), info)`` with ``info``:
    ``"codes"`` (``(..., G)`` chosen entries), ``"prob_perplexity"`` (softmax, for
    :func:`diversity_loss`), ``"code_perplexity"`` (of the hard choices), ``"diversity"``.
    """

    def __init__(self, input_dim: int, groups: int = 2, entries: int = 320, codeword_dim: int = 256) -> None:
        super().__init__()
        for name, v in (("input_dim", input_dim), ("groups", groups), ("entries", entries),
                        ("codeword_dim", codeword_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be a positive integer")
        if codeword_dim % groups:
            raise ValueError(f"codeword_dim={codeword_dim} must be divisible by groups={groups}")
        self.groups, self.entries, self.codeword_dim = groups, entries, codeword_dim
        self.codebooks = nn.Parameter(torch.empty(groups, entries, codeword_dim // groups))
        nn.init.uniform_(self.codebooks)
        self.weight_proj = nn.Linear(input_dim, groups * entries)
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)
        nn.init.zeros_(self.weight_proj.bias)

    @staticmethod
    def perplexity(probs: Tensor) -> Tensor:
        """``sum_g exp(H(probs_g))`` of per-group distributions ``(G, V)`` (fairseq's +1e-7 inside the log)."""
        return torch.exp(-(probs * torch.log(probs + 1e-7)).sum(-1)).sum()

    def forward(self, x: Tensor, tau: float = 2.0) -> tuple[Tensor, dict[str, Tensor]]:
        lead = x.shape[:-1]
        logits = self.weight_proj(x).float().reshape(-1, self.groups, self.entries)  # (N, G, V)
        codes = logits.argmax(-1)  # (N, G)
        hard = F.one_hot(codes, self.entries).to(logits.dtype)
        avg_probs = logits.softmax(-1).mean(0)  # (G, V)
        prob_perplexity = self.perplexity(avg_probs)
        code_perplexity = self.perplexity(hard.mean(0))
        onehot = F.gumbel_softmax(logits, tau=tau, hard=True, dim=-1) if self.training else hard
        # (N, G, V) x (G, V, d) -> (N, G, d)
        q = torch.einsum("ngv,gvd->ngd", onehot, self.codebooks.float()).reshape(*lead, self.codeword_dim)
        info = {
            "codes": codes.reshape(*lead, self.groups),
            "prob_perplexity": prob_perplexity,
            "code_perplexity": code_perplexity,
            "diversity": diversity_loss(prob_perplexity, self.groups, self.entries),
        }
        return q.to(x.dtype), info


def sample_negatives(n_utterances: int, n_positions: int, n_negatives: int, *, device: torch.device | str = "cpu",
                     generator: torch.Generator | None = None) -> Tensor:
    """Distractor indices ``(B, M, K)``: for each masked position ``m`` of each utterance,
    ``K`` positions drawn uniformly, with replacement, from the *other* ``M - 1`` masked
    positions of the same utterance (fairseq's ``sample_negatives``)."""
    if n_positions < 2:
        raise ValueError(f"distractors need at least 2 masked frames per utterance, got {n_positions}")
    idx = torch.randint(0, n_positions - 1, (n_utterances, n_positions, n_negatives), device=device,
                        generator=generator)
    own = torch.arange(n_positions, device=device)[None, :, None]
    return idx + (idx >= own).long()  # skip the position itself


def contrastive_loss(context: Tensor, targets: Tensor, negatives: Tensor, temperature: float = 0.1) -> Tensor:
    """wav2vec 2.0's contrastive loss (Eq. 3 of Baevski et al.), mean over masked frames.

    ``-log [exp(sim(c, q) / kappa) / sum_{q~ in {q} + Q} exp(sim(c, q~) / kappa)]`` with cosine
    similarity ``sim``. ``context`` and ``targets``: ``(..., M, D)``; ``negatives``
    ``(..., M, K, D)``. A distractor identical to its target (the same codeword) is left
    out (logit ``-inf``), as in fairseq.
    """
    context, targets, negatives = context.float(), targets.float(), negatives.float()
    candidates = torch.cat([targets.unsqueeze(-2), negatives], dim=-2)  # (..., M, K+1, D)
    logits = F.cosine_similarity(context.unsqueeze(-2), candidates, dim=-1) / temperature
    same = (negatives == targets.unsqueeze(-2)).all(-1)
    logits = torch.cat([logits[..., :1], logits[..., 1:].masked_fill(same, float("-inf"))], dim=-1)
    return -logits.log_softmax(-1)[..., 0].mean()


class Wav2Vec2Pretrainer(nn.Module):
    """A torchaudio :class:`~torchaudio.models.Wav2Vec2Model` with wav2vec 2.0's pre-training heads and loss.

    :meth:`forward` (``waves (B, n)`` -> dict of scalars, ``"loss"`` included)::

        z = feature_extractor(waves)                         (B, T, C); feature penalty mean(z^2)
            (gradient into the extractor scaled by feature_grad_mult, torchaudio's GradMultiply)
        u = feature_projection.layer_norm(z)                 quantizer input (the targets' source)
        x = dropout(feature_projection.projection(u))        (B, T, D)
        x[mask] = mask embedding                              span masking: torchaudio's MaskGenerator
                                                              (mask_prob, mask_length, static spans, >= 2 spans,
                                                              the same number of masked frames per utterance)
        c = encoder.transformer(x)                           (B, T, D)
        q = project_q(quantizer(u[mask]))                    targets (B, M, final_dim)
        loss = contrastive(final_proj(c[mask]), q, K distractors of q from the same utterance)
               + diversity_weight * diversity + feature_penalty * mean(z^2)

    The quantizer's Gumbel temperature follows fairseq's schedule per update,
    ``tau = max(tau_0 * decay ** updates, tau_min)`` with ``(tau_0, tau_min, decay)`` =
    ``gumbel_temperature`` (fairseq: ``(2, 0.5, 0.999995)``, i.e. 2 -> 0.5 over ~280k
    updates; for short runs pass a faster decay). :attr:`num_updates` (a buffer, saved
    with the state) counts the calls of :meth:`step`.

    Args:
        model: the network being pre-trained (its parameters are shared, not copied).
        final_dim: the space of the contrastive loss (fairseq base: 256).
        codebook_groups, codebook_entries: ``G`` = 2, ``V`` = 320 (the paper's values).
        codeword_dim: quantizer output size (fairseq: ``final_dim``).
        mask_prob, mask_length: the span masking (0.65 and 10: with overlaps about half the frames are masked).
        n_negatives: ``K`` distractors per masked frame (100 in the paper), drawn with
            replacement from the other masked frames of the utterance: when a crop has
            fewer masked frames than ``K``, frames repeat among the distractors (harmless:
            each still counts once per draw).
        logit_temperature: ``kappa`` = 0.1.
        diversity_weight: ``alpha`` = 0.1.
        feature_penalty: weight of ``mean(z^2)`` (fairseq base: 10; 0 turns it off).
        feature_grad_mult: scale of the gradient into the conv feature encoder (fairseq base: 0.1; 1 = none).
    """

    def __init__(
        self,
        model: Wav2Vec2Model,
        *,
        final_dim: int = 256,
        codebook_groups: int = 2,
        codebook_entries: int = 320,
        codeword_dim: int | None = None,
        mask_prob: float = 0.65,
        mask_length: int = 10,
        n_negatives: int = 100,
        logit_temperature: float = 0.1,
        gumbel_temperature: Sequence[float] = (2.0, 0.5, 0.999995),
        diversity_weight: float = 0.1,
        feature_penalty: float = 10.0,
        feature_grad_mult: float = 0.1,
    ) -> None:
        super().__init__()
        if not isinstance(model, Wav2Vec2Model):
            raise TypeError(f"model must be a torchaudio Wav2Vec2Model, not {type(model).__name__}")
        if not 0.0 < mask_prob <= 1.0:
            raise ValueError(f"mask_prob={mask_prob!r} must be in (0, 1]")
        for name, v in (("mask_length", mask_length), ("n_negatives", n_negatives), ("final_dim", final_dim)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} must be a positive integer")
        tau = tuple(float(t) for t in gumbel_temperature)
        if len(tau) != 3 or not (tau[0] >= tau[1] > 0 and 0 < tau[2] <= 1):
            raise ValueError(f"gumbel_temperature={gumbel_temperature!r} must be (start, end, decay) with "
                             "start >= end > 0 and 0 < decay <= 1")
        if not logit_temperature > 0 or diversity_weight < 0 or feature_penalty < 0 or not 0 <= feature_grad_mult <= 1:
            raise ValueError("need logit_temperature > 0, diversity_weight >= 0, feature_penalty >= 0 and "
                             "0 <= feature_grad_mult <= 1")
        self.wav2vec2 = model
        channels = model.feature_extractor.conv_layers[-1].conv.out_channels
        embed_dim = model.encoder.feature_projection.projection.out_features
        codeword_dim = final_dim if codeword_dim is None else codeword_dim
        self.quantizer = GumbelVectorQuantizer(channels, codebook_groups, codebook_entries, codeword_dim)
        self.project_q = nn.Linear(codeword_dim, final_dim)
        self.final_proj = nn.Linear(embed_dim, final_dim)
        # torchaudio's HuBERT span masking: static spans, overlaps allowed, no channel masking
        self.mask_generator = _components.MaskGenerator(
            embed_dim, mask_prob, "static", 0.0, mask_length, False, 0, 0.0, "static", 0.0, 1, False, 0
        )
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self.mask_prob, self.mask_length, self.n_negatives = float(mask_prob), mask_length, n_negatives
        self.logit_temperature = float(logit_temperature)
        self.gumbel_temperature = tau
        self.diversity_weight = float(diversity_weight)
        self.feature_penalty = float(feature_penalty)
        self.feature_grad_mult = float(feature_grad_mult)

    @property
    def temperature(self) -> float:
        """The Gumbel temperature at the current update."""
        start, end, decay = self.gumbel_temperature
        return max(start * decay ** int(self.num_updates), end)

    def compute_mask(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Mask ``x (B, T, D)`` with torchaudio's MaskGenerator: ``(masked x, mask (B, T) bool)``.

        torchaudio draws the spans with torch's global CPU generator; with a
        ``generator`` (any device) they are drawn in a forked CPU RNG seeded from it,
        so the masks depend on it alone and the global state is left as it was.
        """
        if generator is None:
            return self.mask_generator(x, None)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.mask_generator(x, None)

    def forward(self, waves: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        if waves.dim() != 2:
            raise ValueError(f"waves must be (B, n_samples), got shape {tuple(waves.shape)}")
        w2v = self.wav2vec2
        z, _ = w2v.feature_extractor(waves, None)  # (B, T, C)
        if self.feature_grad_mult < 1.0:
            z = _components.GradMultiply.apply(z, self.feature_grad_mult) if self.feature_grad_mult > 0 else z.detach()
        feature_pen = z.float().pow(2).mean()
        fp = w2v.encoder.feature_projection
        u = fp.layer_norm(z)
        x = fp.dropout(fp.projection(u))
        x, mask = self.compute_mask(x, generator)
        B, T = mask.shape
        n_masked = int(mask[0].sum())
        if n_masked < 2:
            raise ValueError(f"only {n_masked} of {T} frames masked: crops are too short for the contrastive loss "
                             f"(use longer crops, mask_prob or a shorter mask_length)")
        c = w2v.encoder.transformer(x)
        c = self.final_proj(c[mask].view(B, n_masked, -1))
        q, info = self.quantizer(u[mask].view(B, n_masked, -1), tau=self.temperature)
        q = self.project_q(q)
        neg_idx = sample_negatives(B, n_masked, self.n_negatives, device=q.device, generator=generator)
        negatives = q[torch.arange(B, device=q.device)[:, None, None], neg_idx]  # (B, M, K, final_dim)
        contrastive = contrastive_loss(c, q, negatives, self.logit_temperature)
        loss = contrastive + self.diversity_weight * info["diversity"] + self.feature_penalty * feature_pen
        return {
            "loss": loss,
            "contrastive": contrastive.detach(),
            "diversity": info["diversity"].detach(),
            "feature_penalty": feature_pen.detach(),
            "code_perplexity": info["code_perplexity"].detach(),
            "temperature": torch.tensor(self.temperature),
        }

    def step(self, waves: Tensor, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """:meth:`forward`, then count one update for the temperature schedule."""
        out = self(waves, generator)
        self.num_updates += 1
        return out


__all__ = [
    "BASE_CONV_GEOMETRY", "CONFIG_KEYS", "DROPOUT_KEYS", "GumbelVectorQuantizer", "Wav2Vec2Grid",
    "Wav2Vec2Pretrainer", "align_frames", "contrastive_loss", "conv_geometry", "diversity_loss", "logmel_frames",
    "normalize_config", "sample_negatives", "small_wav2vec2", "small_wav2vec2_config", "wav2vec2_config",
]
