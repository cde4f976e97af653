"""Checkpoints: model and optimizer state plus JSON-like metadata, written atomically.

File format (``torch.save`` of a dict, read back with ``weights_only=True``)::

    {"format": "asdlib-checkpoint", "version": 1,
     "model": model.state_dict(), "optimizer": optimizer.state_dict() or None,
     "metadata": {...}, "versions": {"torch": ..., "asdlib": ...}}

Metadata is limited to JSON-like values — ``None``, ``bool``, ``int``, ``float``,
``str``, and lists, tuples and dicts (with ``str`` keys) of those — so loading never
has to unpickle arbitrary objects. Store tensors as model buffers instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

import asdlib

from asdlib.train.errors import CheckpointError
from asdlib.utils import atomic_path

FORMAT = "asdlib-checkpoint"
VERSION = 1

_JSON_HINT = (
    "checkpoint metadata must be JSON-like: None, bool, int, float, str, and lists, "
    "tuples or dicts with str keys of those (convert NumPy scalars with .item(); "
    "store tensors as model buffers)"
)


def _json_like(value: Any, where: str) -> Any:
    """Validate ``value`` recursively; return a copy with plain built-in types."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, str):  # str subclasses, e.g. a (str, Enum) member
        return str.__str__(value)
    for base in (int, float):  # subclasses, e.g. numpy.float64, IntEnum
        if isinstance(value, base):
            return base(value)
    if isinstance(value, (list, tuple)):
        items = [_json_like(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{where} has a key {k!r} of type {type(k).__name__}; {_JSON_HINT}")
            out[str(k)] = _json_like(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where} is of type {type(value).__name__}; {_JSON_HINT}")


def _unwrap(model: nn.Module) -> nn.Module:
    """The module under ``torch.compile`` (so state-dict keys carry no ``_orig_mod.``)."""
    return getattr(model, "_orig_mod", model)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    **metadata: Any,
) -> Path:
    """Save ``model`` (and ``optimizer``) state with ``metadata`` to ``path``, atomically.

    The file is written to a temporary name in the same folder, flushed to disk and
    renamed over ``path``, so a failure at any point (bad metadata, a full disk, an
    interrupt) leaves any previous file at ``path`` unchanged.

    Args:
        path: the file to write (parent folders are created).
        model: its ``state_dict()`` is saved (tensors keep their device).
        optimizer: its ``state_dict()`` is saved too when given.
        **metadata: JSON-like values (see the module doc), e.g. ``epoch=10,
            config={...}, history={...}``. Validated before anything is written;
            anything else raises :class:`TypeError` naming the offending entry.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    meta = _json_like(metadata, "metadata")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model": _unwrap(model).state_dict(),
        "optimizer": None if optimizer is None else optimizer.state_dict(),
        "metadata": meta,
        "versions": {
            "torch": str.__str__(torch.__version__),  # TorchVersion is not weights_only-loadable
            "asdlib": str(getattr(asdlib, "__version__", "unknown")),
        },
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    map_location: str | torch.device | None = "cpu",
    strict: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` into ``model`` / ``optimizer``.

    Reads with ``torch.load(..., weights_only=True)`` (no arbitrary code runs).
    Tensors are mapped to ``map_location`` first (``"cpu"`` is safe everywhere);
    ``model.load_state_dict`` then copies them onto the model's own device and the
    optimizer moves its state to its parameters' devices.

    Args:
        path: the checkpoint file.
        model: module to restore into, or ``None`` to only read the metadata.
        optimizer: optimizer to restore into (the checkpoint must hold one).
        map_location: passed to ``torch.load``.
        strict: passed to ``model.load_state_dict``.

    Returns:
        The metadata dict given to :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointError: the file is corrupt or not an asdlib checkpoint, or its
            state does not fit ``model`` / ``optimizer``; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, truncated pickle, disallowed type, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an asdlib checkpoint (written by asdlib.train.save_checkpoint)")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('version')}; this asdlib reads up to {VERSION}"
        )
    if model is not None:
        try:
            _unwrap(model).load_state_dict(payload["model"], strict=strict)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"model state in {path} does not fit the model: {exc}") from exc
    if optimizer is not None:
        if payload.get("optimizer") is None:
            raise CheckpointError(f"{path} holds no optimizer state (saved without an optimizer)")
        try:
            optimizer.load_state_dict(payload["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"optimizer state in {path} does not fit the optimizer: {exc}") from exc
    return payload.get("metadata", {})
