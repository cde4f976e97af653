"""Self-supervised wav2vec 2.0 pre-training and local wav2vec 2.0 checkpoints (USTC's pre-trained
features, paper 002, Sec. II.A; the model and the objective are :mod:`asdlib.models.wav2vec2`).

- :func:`pretrain_wav2vec2` -- wav2vec 2.0's masked contrastive objective (Baevski et al. 2020)
  for a torchaudio :class:`~torchaudio.models.Wav2Vec2Model` on random crops of the
  training audio (no pre-trained checkpoint can be fetched here);
- :func:`save_wav2vec2_checkpoint` / :func:`load_wav2vec2_checkpoint` -- our torchaudio
  format (builder configuration + state dict), a bare state dict of a torchaudio builder
  (``wav2vec2_base`` ...), or a Hugging Face directory (``config.json`` + weights) read
  without ``transformers``, through torchaudio's own importer.

The torchaudio format (``torch.save`` of a dict; read with ``weights_only=True``)::

    {"format": "torchaudio-wav2vec2", "version": 1,
     "config": {the keyword arguments of torchaudio.models.wav2vec2_model},
     "state_dict": model.state_dict(),
     "versions": {"torch": ..., "torchaudio": ...}}
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import types
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio
from torch import Tensor
from torchaudio.models import Wav2Vec2Model, wav2vec2_model

from asdlib.models.wav2vec2 import (
    CONFIG_KEYS,
    DROPOUT_KEYS,
    Wav2Vec2Pretrainer,
    conv_geometry,
    normalize_config,
    wav2vec2_config,
)
from asdlib.train.amp import Amp
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.errors import CheckpointError
from asdlib.train.loop import History, train_epochs
from asdlib.train.seeding import make_generator
from asdlib.utils import atomic_path

FORMAT = "torchaudio-wav2vec2"
VERSION = 1

# ----------------------------------------------------------------------------- pre-training

_OBJECTIVE_DEFAULTS: dict[str, Any] = {
    "mask_prob": 0.65,
    "mask_length": 10,
    "n_negatives": 100,
    "codebook_groups": 2,
    "codebook_entries": 320,
    "final_dim": 256,
    "gumbel_temperature": (2.0, 0.5, 0.999995),
    "logit_temperature": 0.1,
    "diversity_weight": 0.1,
    "feature_penalty": 10.0,
    "feature_grad_mult": 0.1,
}


def _as_waves(x: Any) -> Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, Tensor):
        raise TypeError(f"waveforms must be a tensor or an array, not {type(x).__name__}")
    if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"waveforms must be (N, n_samples) with N, n_samples >= 1, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("waveforms contain NaN or inf")
    return x.float()


def _lr_factor(warmup_updates: int, final_lr_ratio: float | None, total: int):
    """Linear warm-up from 0 to ``lr`` over ``warmup_updates``, then constant or linear decay
    to ``final_lr_ratio * lr`` at the last update (fairseq's ``polynomial_decay``, power 1)."""

    def factor(update: int) -> float:
        if update < warmup_updates:
            return (update + 1) / warmup_updates
        if final_lr_ratio is None:
            return 1.0
        t = min((update - warmup_updates) / max(total - warmup_updates, 1), 1.0)
        return 1.0 + (final_lr_ratio - 1.0) * t

    return factor


def pretrain_wav2vec2(
    model: Wav2Vec2Model | Wav2Vec2Pretrainer,
    waveforms: Tensor | np.ndarray,
    epochs: int,
    batch_size: int = 8,
    lr: float = 5e-4,
    crop_samples: int = 250_000,
    device: DeviceLike = "auto",
    seed: int = 0,
    *,
    mask_prob: float | None = None,
    mask_length: int | None = None,
    n_negatives: int | None = None,
    codebook_groups: int | None = None,
    codebook_entries: int | None = None,
    final_dim: int | None = None,
    gumbel_temperature: Sequence[float] | None = None,
    logit_temperature: float | None = None,
    diversity_weight: float | None = None,
    feature_penalty: float | None = None,
    feature_grad_mult: float | None = None,
    warmup_updates: int = 0,
    final_lr: float | None = None,
    weight_decay: float = 0.01,
    grad_clip: float | None = None,
    amp: Amp = True,
    progress: bool = False,
    desc: str = "wav2vec 2.0",
) -> History:
    """Self-supervised wav2vec 2.0 pre-training (Baevski et al., NeurIPS 2020) of a torchaudio model.

    The objective is :class:`~asdlib.models.wav2vec2.Wav2Vec2Pretrainer`'s: span masking
    of the projected features with a learned mask embedding (torchaudio's
    ``MaskGenerator``: each frame starts a span of ``mask_length`` = 10 frames with
    probability ``mask_prob`` = 0.65), a Gumbel-softmax product quantizer of the
    (layer-normalised) feature-encoder outputs giving the targets (``codebook_groups``
    ``G`` = 2 codebooks of ``codebook_entries`` ``V`` = 320 entries; temperature
    ``gumbel_temperature`` = ``(2, 0.5, 0.999995)``: ``max(2 * 0.999995**update, 0.5)``),
    the contrastive loss (cosine similarity / ``logit_temperature`` 0.1, ``n_negatives``
    = 100 distractors drawn with replacement from the other masked frames of the same
    crop: with few masked frames -- short crops, small data -- they repeat, which only
    weights the same distractors more; lower it to save memory), plus
    ``diversity_weight`` (0.1) times the codebook diversity loss and
    ``feature_penalty`` (10) times the mean squared feature-encoder output. The
    values in parentheses are the defaults (those of the paper / fairseq's base
    recipe) used when ``model`` is a plain :class:`~torchaudio.models.Wav2Vec2Model`;
    pass a :class:`Wav2Vec2Pretrainer` to keep training with its heads, codebooks
    and update count (then leave these arguments ``None``).

    Optimiser: AdamW (fairseq's Adam with decoupled weight decay), betas
    ``(0.9, 0.98)``, eps ``1e-6``, ``weight_decay`` 0.01; learning rate ``lr``, with an
    optional linear warm-up over ``warmup_updates`` and linear decay to ``final_lr``
    at the last update (fairseq: 5e-4, 8 % warm-up, decay to 0). Each epoch visits
    every clip once in shuffled order; each batch takes one random crop of
    ``crop_samples`` (fairseq's ``max_sample_size`` 250 000; the whole clip when
    shorter) from each of its clips.

    Differences from fairseq (``fairseq/models/wav2vec/wav2vec2.py``): no
    ``dropout_features`` on the quantizer input (fairseq's ``dropout_input`` is the
    model's own ``encoder_projection_dropout``); the mask spans come from torchaudio's HuBERT
    ``MaskGenerator`` (same algorithm: static spans, overlaps allowed, at least two
    spans, every utterance trimmed to the same number of masked frames); losses are
    means over masked frames rather than sums normalised by the optimiser
    (equivalent); no padding (equal-length crops); the codebook entries are not shared
    across groups (fairseq's default too).

    Randomness: ``seed`` seeds the clip order, the crops, the masks and the distractors
    (their own generators), and -- in a forked RNG, so torch's global state is left
    as it was -- the new heads' initialisation, dropout, LayerDrop and the Gumbel noise.
    The model's own initial weights are whatever it was created with.

    Args:
        model: a :class:`~torchaudio.models.Wav2Vec2Model` (trained in place; fresh
            pre-training heads are created) or a :class:`Wav2Vec2Pretrainer`. Moved to
            ``device``; left in its previous mode.
        waveforms: ``(N, n_samples)`` float waveforms at 16 kHz, copied to ``device`` once.
        epochs, batch_size, lr: training length, clips per update, peak learning rate.
        crop_samples: samples per crop.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` ...
        seed: see above.
        warmup_updates, final_lr, weight_decay, grad_clip: the optimiser (see above;
            ``grad_clip`` a max gradient norm or ``None``).
        amp: bf16 autocast on CUDA (the quantizer and the losses run in float32);
            ``amp="always"``: on the CPU too.
        progress: tqdm bars per epoch.

    Returns:
        Per-epoch means: ``{"loss", "contrastive", "diversity", "feature_penalty",
        "code_perplexity" (of the hard codeword choices, at most G V), "temperature"}``.
    """
    objective = {
        "mask_prob": mask_prob, "mask_length": mask_length, "n_negatives": n_negatives,
        "codebook_groups": codebook_groups, "codebook_entries": codebook_entries, "final_dim": final_dim,
        "gumbel_temperature": gumbel_temperature, "logit_temperature": logit_temperature,
        "diversity_weight": diversity_weight, "feature_penalty": feature_penalty,
        "feature_grad_mult": feature_grad_mult,
    }
    given = {k: v for k, v in objective.items() if v is not None}
    if isinstance(model, Wav2Vec2Pretrainer):
        if given:
            raise ValueError(f"model is a Wav2Vec2Pretrainer, which carries its own objective settings; "
                             f"do not pass {sorted(given)} (set them when building it)")
    elif not isinstance(model, Wav2Vec2Model):
        raise TypeError(f"model must be a torchaudio Wav2Vec2Model or a Wav2Vec2Pretrainer, not {type(model).__name__}")
    for name, v in (("batch_size", batch_size), ("crop_samples", crop_samples)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} must be a positive integer")
    if isinstance(warmup_updates, bool) or not isinstance(warmup_updates, int) or warmup_updates < 0:
        raise ValueError(f"warmup_updates={warmup_updates!r} must be a non-negative integer")
    if not lr > 0 or (final_lr is not None and not 0 <= final_lr <= lr) or weight_decay < 0:
        raise ValueError(f"need lr > 0, 0 <= final_lr <= lr and weight_decay >= 0; got lr={lr}, "
                         f"final_lr={final_lr}, weight_decay={weight_decay}")
    dev = resolve_device(device)
    x = _as_waves(waveforms)
    crop = min(crop_samples, x.shape[1])
    cuda_devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        if isinstance(model, Wav2Vec2Pretrainer):
            trainer = model
        else:
            settings = {**_OBJECTIVE_DEFAULTS, **given}
            trainer = Wav2Vec2Pretrainer(model, **settings)
            trainer.train(model.training)  # train_epochs restores this mode
        receptive_field, _ = conv_geometry(trainer.wav2vec2)
        if crop < receptive_field:
            raise ValueError(f"crops of {crop} samples are shorter than the feature encoder's receptive field "
                             f"({receptive_field} samples)")
        trainer.to(dev)
        x = x.to(dev)
        batches = TensorBatches(x, batch_size=batch_size, generator=make_generator(seed, dev))
        crop_gen = make_generator((seed + 1) % 2**32, dev)
        loss_gen = make_generator((seed + 2) % 2**32, dev)
        window = torch.arange(crop, device=dev)

        def step(m: Wav2Vec2Pretrainer, batch: tuple[Tensor]) -> dict[str, Tensor]:
            (xb,) = batch
            starts = torch.randint(0, xb.shape[1] - crop + 1, (len(xb), 1), device=dev, generator=crop_gen)
            return m.step(torch.gather(xb, 1, starts + window), generator=loss_gen)

        optimizer = torch.optim.AdamW(
            [p for p in trainer.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.98), eps=1e-6,
            weight_decay=weight_decay,
        )
        scheduler = None
        if warmup_updates or final_lr is not None:
            total = epochs * len(batches)
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, _lr_factor(warmup_updates, None if final_lr is None else final_lr / lr, total)
            )
        return train_epochs(
            trainer, batches, step, optimizer, epochs, dev, scheduler=scheduler, scheduler_interval="step",
            grad_clip=grad_clip, amp=amp, progress=progress, desc=desc,
        )


# ----------------------------------------------------------------------------- checkpoints

#: torchaudio's builders a bare state dict is matched against, in this order.
KNOWN_BUILDERS: tuple[str, ...] = (
    "wav2vec2_base", "wav2vec2_large", "wav2vec2_large_lv60k", "wav2vec2_xlsr_300m", "wav2vec2_xlsr_1b",
    "wav2vec2_xlsr_2b",
)


def _describe(keys, limit: int = 5) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(repr(k) for k in keys[:limit]) + more


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _meta_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of ``wav2vec2_model(**config)``, built on the meta device (no memory)."""
    with torch.device("meta"):
        return _shapes(wav2vec2_model(**config))


@cache
def _builder_reference(name: str, aux_num_out: int | None) -> tuple[dict[str, tuple[int, ...]], dict[str, Any]]:
    with torch.device("meta"):
        model = getattr(torchaudio.models, name)(aux_num_out=aux_num_out)
    return _shapes(model), wav2vec2_config(model)


def _mismatch(state: Mapping[str, Tensor], expected: Mapping[str, tuple[int, ...]],
              rename=lambda k: k) -> list[str]:
    """Human-readable differences between a state dict and the expected shapes (empty if it fits)."""
    have = set(state)
    missing, unexpected = set(expected) - have, have - set(expected)
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing: {_describe(rename(k) for k in missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s): {_describe(rename(k) for k in unexpected)}")
    wrong = [f"{rename(k)!r}: file {tuple(state[k].shape)} vs model {expected[k]}"
             for k in sorted(have & set(expected)) if tuple(state[k].shape) != expected[k]]
    if wrong:
        problems.append(f"{len(wrong)} wrong shape(s): " + "; ".join(wrong[:5]) + (" ..." if len(wrong) > 5 else ""))
    not_float = [rename(k) for k in sorted(have & set(expected)) if not state[k].is_floating_point()]
    if not_float:
        problems.append(f"non-float tensor(s): {_describe(not_float)}")
    return problems


def _read(path: Path) -> Any:
    """``torch.load(weights_only=True)`` on the CPU; any failure becomes a :class:`CheckpointError` naming ``path``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported global" in text:  # a real pickle that stores more than tensors and containers
            detail = text.split("WeightsUnpickler error:", 1)[-1].split("Check the documentation", 1)[0]
            detail = " ".join(detail.split(". Please use", 1)[0].split())
            raise CheckpointError(
                f"cannot read checkpoint {path} safely: it pickles objects other than tensors and plain "
                f"containers ({detail}); re-save the weights with save_wav2vec2_checkpoint"
            ) from exc
        raise CheckpointError(f"cannot read checkpoint {path}: corrupt, or not a torch.save file") from exc
    except Exception as exc:  # truncated zip, garbage bytes ...
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt, or not a torch.save file): "
                              f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc


def _check_state(path: Path, state: Any, where: str) -> dict[str, Tensor]:
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{path}: {where} is not a non-empty state dict ({type(state).__name__})")
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{path}: {where} holds non-tensor entries: {_describe(bad)}")
    return dict(state)


def _load_checked(path: Path, model: Wav2Vec2Model, state: Mapping[str, Tensor], what: str) -> Wav2Vec2Model:
    problems = _mismatch(state, _shapes(model))
    if problems:
        raise CheckpointError(f"{path} does not fit {what}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)
    return model.eval()


def save_wav2vec2_checkpoint(path: str | os.PathLike, model: Wav2Vec2Model,
                             config: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` in the torchaudio format (module docstring), atomically (temp file + ``os.replace``).

    Args:
        path: the file (parent folders are created).
        model: a torchaudio :class:`~torchaudio.models.Wav2Vec2Model` (for a
            :class:`~asdlib.models.wav2vec2.Wav2Vec2Grid` or a ``Wav2Vec2Pretrainer``
            pass its ``.wav2vec2``).
        config: the :func:`torchaudio.models.wav2vec2_model` keyword arguments it was
            built with; ``None`` reads them from the model
            (:func:`~asdlib.models.wav2vec2.wav2vec2_config`). A given config must
            describe the model (only the dropout rates may differ).

    Returns:
        The path written.
    """
    if not isinstance(model, Wav2Vec2Model):
        raise TypeError(f"model must be a torchaudio Wav2Vec2Model, not {type(model).__name__}")
    actual = wav2vec2_config(model)
    if config is None:
        config = actual
    else:
        config = normalize_config(config)
        differ = [f"{k}: config {config[k]!r} vs model {actual[k]!r}"
                  for k in CONFIG_KEYS if k not in DROPOUT_KEYS and config[k] != actual[k]]
        if differ:
            raise ValueError("config does not describe the model: " + "; ".join(differ))
    plain = dict(config)
    plain["extractor_conv_layer_config"] = [list(layer) for layer in config["extractor_conv_layer_config"]]
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": plain,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "versions": {"torch": str(torch.__version__), "torchaudio": str(torchaudio.__version__)},
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def _load_torchaudio_format(path: Path, payload: Mapping) -> Wav2Vec2Model:
    version = payload.get("version")
    if not isinstance(version, int) or not 1 <= version <= VERSION:
        raise CheckpointError(f"{path}: {FORMAT} version {version!r} is not supported (this asdlib reads 1..{VERSION})")
    for key in ("config", "state_dict"):
        if key not in payload:
            raise CheckpointError(f"{path}: {FORMAT} checkpoint without {key!r}; keys: {sorted(map(str, payload))}")
    try:
        config = normalize_config(payload["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid configuration: {exc}") from exc
    state = _check_state(path, payload["state_dict"], "'state_dict'")
    try:
        model = wav2vec2_model(**config)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: torchaudio cannot build its configuration: {type(exc).__name__}: {exc}"
        ) from exc
    return _load_checked(path, model, state, "its configuration")


_HF_KEY_MARKERS = ("wav2vec2.", "feature_projection.", "encoder.pos_conv_embed.", "encoder.layers.")
_FAIRSEQ_KEY_MARKERS = ("w2v_model.", "post_extract_proj.", "encoder.pos_conv.0.", "quantizer.", "mask_emb")


def _load_bare(path: Path, state: dict[str, Tensor]) -> Wav2Vec2Model:
    if any(k.startswith(_HF_KEY_MARKERS) for k in state):
        raise CheckpointError(
            f"{path} is not a torchaudio wav2vec 2.0 state dict: its keys (such as "
            f"{next(k for k in state if k.startswith(_HF_KEY_MARKERS))!r}) are those of a Hugging Face model (pass "
            "the directory holding it and its config.json) or of a module wrapping the model (Wav2Vec2Grid, "
            "Wav2Vec2Pretrainer: save its .wav2vec2 with save_wav2vec2_checkpoint)"
        )
    if any(k.startswith(_FAIRSEQ_KEY_MARKERS) for k in state):
        raise CheckpointError(
            f"{path} looks like a fairseq wav2vec 2.0 state dict; fairseq checkpoints are not read here "
            "(convert with torchaudio.models.wav2vec2.utils.import_fairseq_model, which needs fairseq, then "
            "save_wav2vec2_checkpoint)"
        )
    aux = state.get("aux.weight")
    aux_num_out = int(aux.shape[0]) if isinstance(aux, Tensor) and aux.dim() == 2 else None
    best: tuple[int, str, list[str]] | None = None
    for name in KNOWN_BUILDERS:
        shapes, _ = _builder_reference(name, aux_num_out)
        problems = _mismatch(state, shapes)
        if not problems:
            return _load_checked(path, getattr(torchaudio.models, name)(aux_num_out=aux_num_out), state, name)
        score = len(set(state) ^ set(shapes)) + sum(
            tuple(state[k].shape) != shapes[k] for k in set(state) & set(shapes))
        if best is None or score < best[0]:
            best = (score, name, problems)
    assert best is not None
    raise CheckpointError(
        f"{path} is a bare state dict that fits none of torchaudio's builders ({', '.join(KNOWN_BUILDERS)}); "
        f"closest, {best[1]}: " + "; ".join(best[2])
        + ". A model of another configuration must be saved with save_wav2vec2_checkpoint (it records the config)"
    )


# --- Hugging Face ---------------------------------------------------------------------------------

#: transformers' Wav2Vec2Config defaults for the fields torchaudio's importer reads (used when absent).
HF_CONFIG_DEFAULTS: dict[str, Any] = {
    "model_type": "wav2vec2", "vocab_size": 32, "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout": 0.1,
    "activation_dropout": 0.1, "attention_dropout": 0.1, "feat_proj_dropout": 0.0, "layerdrop": 0.1,
    "layer_norm_eps": 1e-5, "feat_extract_norm": "group", "feat_extract_activation": "gelu",
    "conv_dim": [512] * 7, "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False, "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": False, "add_adapter": False,
}
_HF_IGNORED_HEADS = ("quantizer.", "project_hid.", "project_q.", "projector.", "classifier.", "tdnn.",
                     "objective.", "layer_weights", "masked_spec_embed")
_POS_CONV_RENAMES = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


def _hf_to_torchaudio_key(key: str) -> str | None:
    """A Hugging Face ``Wav2Vec2Model`` key (``wav2vec2.`` prefix removed) -> torchaudio's, or None if unknown.

    The mapping torchaudio's ``import_huggingface_model`` applies through its
    ``_build`` (sub-module by sub-module): ``feature_extractor.*`` unchanged,
    ``feature_projection.*`` -> ``encoder.feature_projection.*``, ``encoder.*`` ->
    ``encoder.transformer.*``, ``lm_head.*`` -> ``aux.*``; plus the older weight-norm
    names ``weight_g`` / ``weight_v`` of the positional convolution -> the
    ``parametrizations.weight.original0`` / ``original1`` torch now uses.
    """
    if key.startswith("feature_extractor."):
        return key
    if key.startswith("feature_projection."):
        return "encoder." + key
    if key.startswith("encoder."):
        head, _, leaf = key.rpartition(".")
        if head == "encoder.pos_conv_embed.conv" and leaf in _POS_CONV_RENAMES:
            key = f"{head}.{_POS_CONV_RENAMES[leaf]}"
        return "encoder.transformer." + key[len("encoder."):]
    if key.startswith("lm_head."):
        return "aux." + key[len("lm_head."):]
    return None


def _torchaudio_to_hf_key(key: str) -> str:
    """The inverse of :func:`_hf_to_torchaudio_key` (for messages), ``wav2vec2.`` prefix not added."""
    if key.startswith("encoder.feature_projection."):
        return key[len("encoder."):]
    if key.startswith("encoder.transformer."):
        return "encoder." + key[len("encoder.transformer."):]
    if key.startswith("aux."):
        return "lm_head." + key[len("aux."):]
    return key


def _hf_config(path: Path) -> types.SimpleNamespace:
    file = path / "config.json"
    if not file.is_file():
        raise CheckpointError(f"{path} is a directory without config.json (not a Hugging Face model directory)")
    try:
        raw = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {file}: {exc}") from exc
    if not isinstance(raw, dict):
        raise CheckpointError(f"{file} holds a {type(raw).__name__}, not a JSON object")
    cfg = {**HF_CONFIG_DEFAULTS, **raw}
    problems = []
    if cfg["model_type"] != "wav2vec2":
        problems.append(f"model_type {cfg['model_type']!r} is not 'wav2vec2'")
    if cfg["feat_extract_norm"] not in ("group", "layer"):
        problems.append(f"feat_extract_norm {cfg['feat_extract_norm']!r} is not 'group' or 'layer'")
    for name in ("hidden_act", "feat_extract_activation"):
        if cfg[name] != "gelu":
            problems.append(f"{name} {cfg[name]!r}: torchaudio's model uses GELU")
    if not math.isclose(float(cfg["layer_norm_eps"]), 1e-5):
        problems.append(f"layer_norm_eps {cfg['layer_norm_eps']!r}: torchaudio's layer norms use 1e-5")
    if cfg["add_adapter"] or cfg.get("adapter_attn_dim"):
        problems.append("adapter layers are not supported by torchaudio's model")
    if not (len(cfg["conv_dim"]) == len(cfg["conv_kernel"]) == len(cfg["conv_stride"]) >= 1):
        problems.append("conv_dim, conv_kernel and conv_stride differ in length")
    if problems:
        raise CheckpointError(f"{file}: not a wav2vec 2.0 configuration torchaudio can build: " + "; ".join(problems))
    return types.SimpleNamespace(**cfg)


def _hf_state(path: Path) -> dict[str, Tensor]:
    try:
        import safetensors.torch as st
    except ImportError:
        st = None
    candidates = []
    if st is not None:
        candidates += [("model.safetensors", "model.safetensors.index.json", st.load_file)]
    candidates += [("pytorch_model.bin", "pytorch_model.bin.index.json", _read)]
    for single, index, reader in candidates:
        if (path / single).is_file():
            return _check_state(path / single, reader(path / single), "the weights")
        if (path / index).is_file():
            try:
                weight_map = json.loads((path / index).read_text())["weight_map"]
                files = sorted(set(weight_map.values()))
            except Exception as exc:
                raise CheckpointError(f"cannot read the shard index {path / index}: {exc}") from exc
            state: dict[str, Tensor] = {}
            for name in files:
                state.update(_check_state(path / name, reader(path / name), "the shard"))
            return state
    if st is None and any((path / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json")):
        raise CheckpointError(f"{path} holds its weights as model.safetensors: pip install safetensors to read them")
    raise CheckpointError(f"{path} holds config.json but no weights (pytorch_model.bin or model.safetensors)")


class _StateView:
    """Stands in for a transformers sub-module: torchaudio's ``_build`` only calls ``state_dict()``."""

    def __init__(self, state: Mapping[str, Tensor]) -> None:
        self._state = dict(state)

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self._state)


def _split(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _load_huggingface(path: Path) -> Wav2Vec2Model:
    from torchaudio.models.wav2vec2.utils import import_huggingface as hf

    cfg = _hf_config(path)
    raw = _hf_state(path)
    has_prefix = any(k.startswith("wav2vec2.") for k in raw)
    state: dict[str, Tensor] = {}
    unknown = []
    for key, value in raw.items():
        if has_prefix and not key.startswith("wav2vec2."):
            if key.startswith("lm_head."):
                state[key] = value
            elif not key.startswith(_HF_IGNORED_HEADS):
                unknown.append(key)
            continue
        key = key[len("wav2vec2."):] if has_prefix else key
        if key.startswith("masked_spec_embed"):
            continue
        state[key] = value
    ctc = "lm_head.weight" in state
    config = hf._get_config(cfg)  # torchaudio's own HF config -> builder kwargs
    aux_num_out = int(cfg.vocab_size) if ctc else None
    ours: dict[str, Tensor] = {}
    for key, value in state.items():
        mapped = _hf_to_torchaudio_key(key)
        if mapped is None:
            unknown.append(key)
        else:
            ours[mapped] = value

    def rename(key: str) -> str:  # torchaudio's key -> the file's, for messages
        return ("wav2vec2." if has_prefix and not key.startswith("aux.") else "") + _torchaudio_to_hf_key(key)

    if unknown:
        raise CheckpointError(f"{path}: {len(unknown)} tensor(s) of no wav2vec 2.0 part: {_describe(unknown)}")
    not_float = [rename(k) for k, v in ours.items() if not v.is_floating_point()]
    if not_float:
        raise CheckpointError(f"{path}: non-float tensor(s): {_describe(not_float)}")
    # torchaudio's importer, given a stand-in for the transformers model it expects
    back = {_torchaudio_to_hf_key(k): v for k, v in ours.items()}
    body = types.SimpleNamespace(
        feature_extractor=_StateView(_split(back, "feature_extractor.")),
        feature_projection=_StateView(_split(back, "feature_projection.")),
        encoder=_StateView(_split(back, "encoder.")),
    )
    if ctc:
        original = type("Wav2Vec2ForCTC", (), {})()
        original.wav2vec2, original.lm_head, original.config = body, _StateView(_split(back, "lm_head.")), cfg
    else:
        original = type("Wav2Vec2Model", (), {})()
        original.__dict__.update(vars(body), config=cfg)
    logger = logging.getLogger(hf.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)  # _build warns that a model without lm_head has no head to import
    try:
        model = hf._build(config, original)
    except Exception as exc:
        # say precisely what does not fit (the shapes of a model built on the meta device: no memory)
        try:
            problems = _mismatch(ours, _meta_shapes({**config, "aux_num_out": aux_num_out}), rename)
        except Exception as build_exc:
            raise CheckpointError(f"{path}: torchaudio cannot build the model of its config.json: "
                                  f"{type(build_exc).__name__}: {build_exc}") from build_exc
        if problems:
            raise CheckpointError(f"{path}: the weights do not fit config.json: " + "; ".join(problems)) from exc
        raise CheckpointError(f"{path}: torchaudio's importer failed: {type(exc).__name__}: {exc}") from exc
    finally:
        logger.setLevel(level)
    return model.eval()


def load_wav2vec2_checkpoint(path: str | os.PathLike) -> Wav2Vec2Model:
    """Load a local wav2vec 2.0 checkpoint into a torchaudio :class:`~torchaudio.models.Wav2Vec2Model`.

    Nothing is downloaded; files are read with ``torch.load(weights_only=True)`` (no
    code in them runs). Accepted:

    - **our torchaudio format** (a file, see the module docstring): the model is
      built with ``torchaudio.models.wav2vec2_model(**config)``;
    - **a bare torchaudio state dict** (a file, ``torch.save(model.state_dict())``)
      of one of torchaudio's builders (:data:`KNOWN_BUILDERS`; ``hubert_base`` etc. have
      the shapes of these), recognised by its keys and shapes and built with that
      builder (and ``aux_num_out`` from an ``aux`` head); its dropout rates are the
      builder's defaults;
    - **a Hugging Face directory** with ``config.json`` and ``pytorch_model.bin`` (or
      ``model.safetensors`` when the ``safetensors`` package is installed; sharded
      ``*.index.json`` too) of a ``Wav2Vec2Model`` / ``ForCTC`` / ``ForPreTraining`` /
      ... (``model_type`` "wav2vec2"; ``transformers`` is not needed). Reused from
      torchaudio's ``import_huggingface_model``: ``_get_config`` (HF config -> builder
      arguments, fed a namespace of ``config.json`` over transformers' defaults) and
      ``_build`` (builds the model and loads the sub-modules' states, fed a stand-in
      object whose sub-modules only answer ``state_dict()``). Our glue: reading the
      files, the ``wav2vec2.`` prefix, the old ``weight_g`` / ``weight_v`` names, and
      the checks. ``lm_head`` becomes torchaudio's ``aux`` (``Wav2Vec2ForCTC``); other
      heads (quantizer, projections, classifiers) are ignored.

    Returns:
        The model on the CPU, in eval mode (:func:`~asdlib.models.wav2vec2.wav2vec2_config`
        gives its configuration).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unreadable or garbage file, unknown format or version, an
            invalid configuration, missing or unexpected tensors, wrong shapes, a bare
            state dict of no known builder, a Hugging Face configuration torchaudio
            cannot build. The message names the path and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"wav2vec 2.0 checkpoint not found: {path}")
    if path.is_dir():
        return _load_huggingface(path)
    payload = _read(path)
    if isinstance(payload, Mapping) and "format" in payload:
        if payload["format"] == FORMAT:
            return _load_torchaudio_format(path, payload)
        raise CheckpointError(f"{path}: unknown checkpoint format {payload['format']!r} (expected {FORMAT!r}; "
                              "an asdlib training checkpoint is read with asdlib.train.load_checkpoint)")
    if isinstance(payload, Mapping) and "model" in payload and ("cfg" in payload or "args" in payload):
        raise CheckpointError(
            f"{path} is a fairseq checkpoint; fairseq checkpoints are not read here (convert with "
            "torchaudio.models.wav2vec2.utils.import_fairseq_model, which needs fairseq, then save_wav2vec2_checkpoint)"
        )
    if isinstance(payload, Mapping) and payload and all(isinstance(v, Tensor) for v in payload.values()):
        return _load_bare(path, _check_state(path, payload, "the state dict"))
    what = type(payload).__name__
    if isinstance(payload, Mapping):
        what += f" with keys {_describe(map(str, payload))}"
    raise CheckpointError(f"{path}: unknown checkpoint format: a {what}, neither a {FORMAT!r} checkpoint nor a "
                          "torchaudio wav2vec 2.0 state dict")


__all__ = ["FORMAT", "KNOWN_BUILDERS", "load_wav2vec2_checkpoint", "pretrain_wav2vec2", "save_wav2vec2_checkpoint"]
