"""Self-supervised pre-training of the original wav2vec, and loading fairseq wav2vec checkpoints
(AITHU's SC-wav2vec, paper 000, Sec. 3.1; the model is :mod:`asdlib.models.wav2vec`).

- :func:`pretrain_wav2vec` -- the contrastive objective on random crops of the training audio
  (AudioSet and its checkpoints cannot be fetched here);
- :func:`load_fairseq_wav2vec` -- a fairseq wav2vec (v1) checkpoint from a local path, every
  tensor mapped (our parameter names are fairseq's) or a clear :class:`CheckpointError`.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from asdlib.models.wav2vec import Wav2Vec, Wav2VecConfig, _as_waves
from asdlib.train.amp import Amp
from asdlib.train.batches import TensorBatches
from asdlib.train.device import DeviceLike, resolve_device
from asdlib.train.errors import CheckpointError
from asdlib.train.loop import History, train_epochs
from asdlib.train.seeding import make_generator


def _lr_lambda(lr: float, warmup_updates: int, warmup_init_lr: float, final_lr: float | None, total: int):
    """fairseq's warmup (linear from ``warmup_init_lr``) then cosine decay to ``final_lr``, as factors of ``lr``."""

    def factor(update: int) -> float:
        if update < warmup_updates:
            return (warmup_init_lr + (lr - warmup_init_lr) * update / warmup_updates) / lr
        if final_lr is None:
            return 1.0
        span = max(total - warmup_updates, 1)
        t = min((update - warmup_updates) / span, 1.0)
        return (final_lr + (lr - final_lr) * 0.5 * (1.0 + math.cos(math.pi * t))) / lr

    return factor


def pretrain_wav2vec(
    model: Wav2Vec,
    waveforms: Tensor | np.ndarray,
    epochs: int,
    batch_size: int = 10,
    lr: float = 5e-3,
    crop_samples: int = 150_000,
    device: DeviceLike = "auto",
    seed: int = 0,
    progress: bool = False,
    *,
    warmup_updates: int = 0,
    warmup_init_lr: float = 1e-7,
    final_lr: float | None = None,
    grad_clip: float | None = None,
    amp: Amp = True,
    desc: str = "wav2vec",
) -> History:
    """Self-supervised pre-training of ``model`` on raw audio (Adam, random crops).

    Each epoch visits every clip once in a shuffled order; each batch takes one
    random crop of ``crop_samples`` from each of its clips (the whole clip when it
    is shorter; fairseq's ``--max-sample-size 150000``) and minimises
    :meth:`Wav2Vec.loss`.

    Args:
        model: the network (moved to ``device``; left in its previous mode).
        waveforms: ``(N, n_samples)`` float waveforms at 16 kHz (tensor or array),
            copied to ``device`` once.
        epochs, batch_size, lr: Adam's settings.
        crop_samples: samples per crop.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` ...
        seed: seeds the clip order, the crop positions and the distractors (the
            model's initial weights are whatever it was created with).
        progress: tqdm bars per epoch.
        warmup_updates, warmup_init_lr, final_lr: the learning-rate schedule, per
            update: linear from ``warmup_init_lr`` to ``lr`` over ``warmup_updates``,
            then (``final_lr`` given) a cosine decay to ``final_lr`` at the last update.
            AITHU (paper 000, Sec. 3.1): ``lr=5e-3, warmup_updates=500,
            warmup_init_lr=1e-7, final_lr=1e-6``. Default: constant ``lr``.
        grad_clip: max gradient norm, or ``None``.
        amp: bf16 autocast on CUDA (the loss itself is float32); ``amp="always"``: on the CPU too.
        desc: progress bar label.

    Returns:
        ``{"loss": [mean loss per epoch]}``.
    """
    if not isinstance(model, Wav2Vec):
        raise TypeError(f"model must be a Wav2Vec, not {type(model).__name__}")
    for name, v in (("batch_size", batch_size), ("crop_samples", crop_samples)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} must be a positive integer")
    if isinstance(warmup_updates, bool) or not isinstance(warmup_updates, int) or warmup_updates < 0:
        raise ValueError(f"warmup_updates={warmup_updates!r} must be a non-negative integer")
    if not lr > 0 or (final_lr is not None and not final_lr > 0) or not warmup_init_lr > 0:
        raise ValueError(f"learning rates must be positive; got lr={lr}, warmup_init_lr={warmup_init_lr}, "
                         f"final_lr={final_lr}")
    dev = resolve_device(device)
    x = _as_waves(waveforms, "waveforms")
    crop = min(crop_samples, x.shape[1])
    n_frames = model.config.frames(crop)
    if n_frames < model.config.offset + 1:
        raise ValueError(
            f"crops of {crop} samples give {n_frames} frames; predicting step {model.config.offset} needs at least "
            f"{model.config.offset + 1} (use longer clips or crop_samples)"
        )
    model.to(dev)
    x = x.to(dev, torch.float32)
    batches = TensorBatches(x, batch_size=batch_size, generator=make_generator(seed, dev))
    crop_gen = make_generator((seed + 1) % 2**32, dev)
    neg_gen = make_generator((seed + 2) % 2**32, dev)
    window = torch.arange(crop, device=dev)

    def step(m: nn.Module, batch: tuple[Tensor]) -> Tensor:
        (xb,) = batch
        starts = torch.randint(0, xb.shape[1] - crop + 1, (len(xb), 1), device=dev, generator=crop_gen)
        return m.loss(torch.gather(xb, 1, starts + window), generator=neg_gen)

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = None
    if warmup_updates or final_lr is not None:
        total = epochs * len(batches)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _lr_lambda(lr, warmup_updates, warmup_init_lr, final_lr, total)
        )
    return train_epochs(
        model, batches, step, optimizer, epochs, dev, scheduler=scheduler, scheduler_interval="step",
        grad_clip=grad_clip, amp=amp, progress=progress, desc=desc,
    )


# ----------------------------------------------------------------------------- fairseq checkpoints

# fairseq's base_wav2vec_architecture: the values an argparse-era checkpoint falls back to.
_FAIRSEQ_DEFAULTS: dict[str, Any] = {
    "conv_feature_layers": "[(512, 10, 5)] + [(512, 8, 4)] + [(512, 4, 2)] * 3",
    "conv_aggregator_layers": "[(512, 3, 1)] * 9",
    "prediction_steps": 12,
    "num_negatives": 1,
    "offset": "auto",
    "log_compression": False,
    "skip_connections_feat": False,
    "skip_connections_agg": False,
    "residual_scale": 0.5,
    "agg_zero_pad": False,
    "no_conv_bias": False,
    "non_affine_group_norm": False,
    "activation": "relu",
    "dropout": 0.0,
    "dropout_features": 0.0,
    "dropout_agg": 0.0,
}
# the fields that change the features (compared when loading into a given model)
_STRUCTURAL = (
    "conv_feature_layers", "conv_aggregator_layers", "prediction_steps", "log_compression",
    "skip_connections_feat", "skip_connections_agg", "residual_scale", "agg_zero_pad", "no_conv_bias",
    "non_affine_group_norm", "activation",
)
_WAV2VEC2_MARKERS = ("encoder.", "quantizer.", "mask_emb", "post_extract_proj.", "project_q.", "final_proj.",
                     "w2v_encoder.", "layer_norm.")
_WAV2VEC2_ARCHS = ("wav2vec2", "wav2vec_ctc", "wav2vec_seq2seq", "data2vec", "hubert")


def _field(src: Any, name: str, default: Any = None) -> Any:
    if isinstance(src, Mapping):
        return src.get(name, default)
    return getattr(src, name, default)


def _weights_only_detail(exc: Exception) -> str:
    """The useful part of torch's weights-only refusal ("Unsupported global: GLOBAL x.Y ...")."""
    text = str(exc)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
        text = text.split(". Please use", 1)[0]
    return " ".join(text.split()) or type(exc).__name__


def _read_payload(path: Path, trusted: bool) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _weights_only_detail(exc)
        if "Unsupported global" not in str(exc):
            raise CheckpointError(f"cannot read checkpoint {path} (corrupt, or not a torch.save file): {detail}") from exc
        if not trusted:
            raise CheckpointError(
                f"{path} cannot be read safely: it pickles more than tensors, containers and argparse.Namespace "
                f"({detail}). If you trust this file, pass trusted=True to unpickle it fully "
                "(torch.load(weights_only=False): this can run code stored in the file)."
            ) from exc
    except Exception as exc:  # corrupt zip, truncated file, not a torch file ...
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:
        raise CheckpointError(
            f"{path} needs the module {exc.name!r} to be unpickled (some fairseq versions store 'cfg' as an "
            "omegaconf object: pip install omegaconf)"
        ) from exc
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc


def _fairseq_config(path: Path, payload: Mapping, state: Mapping) -> Wav2VecConfig:
    args = payload.get("args")
    cfg = payload.get("cfg")
    if args is not None:
        src, where = args, "'args'"
    elif cfg is not None:
        src, where = _field(cfg, "model"), "'cfg'['model']"
        if src is None:
            raise CheckpointError(f"{path}: its 'cfg' has no 'model' section (not a fairseq checkpoint?)")
    else:
        raise CheckpointError(
            f"{path} holds neither 'args' nor 'cfg' (the model configuration fairseq saves); keys: {sorted(payload)}"
        )
    arch = _field(src, "arch") or _field(src, "_name")
    arch = None if arch is None else str(arch)
    v2_keys = [k for k in state if k.startswith(_WAV2VEC2_MARKERS)]
    if (arch is not None and arch.startswith(_WAV2VEC2_ARCHS)) or (arch is None and v2_keys):
        raise CheckpointError(
            f"{path} is a wav2vec 2.0-family checkpoint (arch {arch!r}"
            + (f", tensors such as {v2_keys[0]!r}" if v2_keys else "")
            + "); load_fairseq_wav2vec reads only the original wav2vec (Schneider et al. 2019)"
        )
    if arch is not None and arch != "wav2vec":
        raise CheckpointError(f"{path} is not a wav2vec checkpoint: its {where} names the architecture {arch!r}")
    for name, ok in (("aggregator", ("cnn",)), ("encoder", ("cnn",)), ("vq_type", ("none",)),
                     ("project_features", ("none",))):
        value = _field(src, name)
        if value is not None and str(value) not in ok:
            what = "vq-wav2vec" if name == "vq_type" else f"{name}={value!r}"
            raise CheckpointError(
                f"{path}: {what} is not supported (only the convolutional wav2vec with {name}={ok[0]!r})"
            )
    values = {name: _field(src, name, default) for name, default in _FAIRSEQ_DEFAULTS.items()}
    for name, default in _FAIRSEQ_DEFAULTS.items():
        if values[name] is None:
            values[name] = default
    offset = values.pop("offset")
    try:
        cfg_obj = Wav2VecConfig(**values)
        if str(offset) == "auto":
            cfg_obj = dataclasses.replace(cfg_obj, offset=cfg_obj.fairseq_auto_offset)
        else:
            cfg_obj = dataclasses.replace(cfg_obj, offset=int(offset))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its {where} is not a valid wav2vec configuration: {exc}") from exc
    return cfg_obj


def _describe(keys: Sequence[str], limit: int = 5) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(repr(k) for k in keys[:limit]) + more


def load_fairseq_wav2vec(
    path: str | os.PathLike, model: Wav2Vec | None = None, *, trusted: bool = False
) -> Wav2Vec:
    """Load a fairseq wav2vec (v1) checkpoint (e.g. ``wav2vec_large.pt``) from a local file.

    The file is a ``torch.save``'d dict with ``"model"`` (the state dict, fairseq's
    key names, see the module docstring) and ``"args"`` (an ``argparse.Namespace``,
    fairseq < 0.10) or ``"cfg"`` (``cfg["model"]`` holds the same fields). The
    architecture is built from that configuration (layer lists, skip connections,
    log compression, padding, ``offset`` with ``"auto"`` resolved, missing fields
    taking fairseq's ``base_wav2vec_architecture`` defaults), every tensor of the
    checkpoint is mapped to one parameter of the model and vice versa, and every
    shape is checked before anything is copied.

    Reading: ``torch.load(weights_only=True)`` with ``argparse.Namespace`` allowed,
    so no code in the file runs. A checkpoint that pickles anything else (an
    omegaconf ``DictConfig``, NumPy scalars in its training state ...) is refused
    unless ``trusted=True``, which unpickles it fully (``weights_only=False``):
    only do that for a file you trust, as unpickling can run code stored in it.
    Nothing is downloaded.

    Args:
        path: the checkpoint file.
        model: load into this :class:`Wav2Vec` (its architecture must match the
            checkpoint's); ``None`` builds a new one (on the CPU).
        trusted: allow full unpickling (see above).

    Returns:
        The model, in eval mode; ``model.config`` is the checkpoint's configuration.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: unreadable, not a dict, no ``"model"``, no configuration,
            a wav2vec 2.0 / vq-wav2vec / other fairseq model, a tensor of the
            checkpoint without a parameter or a parameter without a tensor, a shape
            that does not match, or ``model`` built differently. The message names
            the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"fairseq checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    payload = _read_payload(path, trusted)
    if not isinstance(payload, Mapping):
        raise CheckpointError(
            f"{path} is not a fairseq checkpoint: it holds a {type(payload).__name__}, not a dict with "
            "'model' and 'args'/'cfg'"
        )
    if "model" not in payload:
        raise CheckpointError(
            f"{path} is not a fairseq checkpoint: no 'model' entry (the state dict); keys: {sorted(map(str, payload))}"
        )
    state = payload["model"]
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(f"{path}: its 'model' entry is not a non-empty state dict ({type(state).__name__})")
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{path}: its 'model' state holds non-tensor entries: {_describe(bad)}")
    cfg = _fairseq_config(path, payload, state)

    if model is None:
        target = Wav2Vec(cfg)
    else:
        if not isinstance(model, Wav2Vec):
            raise TypeError(f"model must be a Wav2Vec, not {type(model).__name__}")
        differ = [f"{n}: model {getattr(model.config, n)!r} vs checkpoint {getattr(cfg, n)!r}"
                  for n in _STRUCTURAL if getattr(model.config, n) != getattr(cfg, n)]
        if differ:
            raise CheckpointError(f"{path} does not fit the given model: " + "; ".join(differ))
        target = model
    ours = target.state_dict()
    unmapped = set(state) - set(ours)
    missing = set(ours) - set(state)
    if unmapped or missing:
        parts = []
        if unmapped:
            parts.append(f"{len(unmapped)} tensor(s) of the checkpoint map to no parameter: {_describe(unmapped)}")
        if missing:
            parts.append(f"{len(missing)} parameter(s) have no tensor in the checkpoint: {_describe(missing)}")
        raise CheckpointError(f"{path} does not match its wav2vec configuration: " + "; ".join(parts))
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
             for k, v in ours.items() if state[k].shape != v.shape]
    if wrong:
        raise CheckpointError(f"{path}: tensor shapes do not match the configuration: " + "; ".join(wrong[:5]))
    bad_dtype = [k for k in ours if not state[k].is_floating_point()]
    if bad_dtype:
        raise CheckpointError(f"{path}: non-float tensors: {_describe(bad_dtype)}")
    with torch.no_grad():
        for k, v in ours.items():
            v.copy_(state[k])
    if model is not None:
        # offset / negatives / dropout only affect further training: take the checkpoint's
        target.config = dataclasses.replace(model.config, offset=cfg.offset, num_negatives=cfg.num_negatives)
    return target.eval()


__all__ = ["load_fairseq_wav2vec", "pretrain_wav2vec"]
