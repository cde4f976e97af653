"""On-disk feature cache: one torch file per (feature config, file list), written atomically.

Layout: ``<cache_dir>/<feature name>-<slot>.pt`` where ``slot`` hashes the feature
config, the loading parameters and the list of absolute paths (in order). Inside,
next to the features, lies a ``key`` that also hashes every file's size and
modification time in nanoseconds and ends in the number of files; features whose
first dimension is not that number are a miss, with a warning naming the file. A lookup whose key differs (a file was
rewritten, touched, grown) is a miss and the slot is overwritten, so stale caches
do not pile up. What the key cannot see: a file rewritten with the same size
*and* the same mtime (e.g. restored with ``cp -p``/``rsync -t`` from a different
source); clear the cache folder after such surgery.

Files are written with :func:`asdlib.utils.atomic_path` (temporary file in the same
folder + rename): an interrupted or failed write leaves no partial cache file.
They are read with ``torch.load(weights_only=True)``, which unpickles only tensors
and plain containers.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from asdlib.data.errors import DataError
from asdlib.utils import atomic_path, stable_hash

CACHE_FORMAT = 1
"""Bump when a feature implementation changes its numbers: every old cache becomes a miss."""


def file_fingerprints(paths: Sequence[str | os.PathLike]) -> list[tuple[str, int, int]]:
    """``(absolute path, size in bytes, mtime in ns)`` per file, in order."""
    out = []
    for p in paths:
        ap = os.path.abspath(os.fspath(p))
        try:
            st = os.stat(ap)
        except FileNotFoundError as err:
            if os.path.islink(ap):
                raise DataError(
                    f"{ap}: dangling symbolic link (it points to {os.readlink(ap)}, which does not exist)"
                ) from err
            raise DataError(f"{ap}: audio file not found") from err
        out.append((ap, st.st_size, st.st_mtime_ns))
    return out


def feature_key(feature: Callable[..., Any]) -> dict:
    """A JSON-able description of a feature function, for cache keys.

    A dataclass config (like :class:`~asdlib.features.LogMelConfig`) is keyed by its
    class and field values; a module-level function by its qualified name (not its
    code: change the name or clear the cache when you change the function); a
    ``functools.partial`` by its function and arguments. Anything else (lambdas,
    local functions, arbitrary callables) raises ``TypeError``.
    """
    if dataclasses.is_dataclass(feature) and not isinstance(feature, type):
        cls = type(feature)
        fields = {f.name: getattr(feature, f.name) for f in dataclasses.fields(feature)}
        return {"type": f"{cls.__module__}.{cls.__qualname__}", "fields": fields}
    if isinstance(feature, functools.partial):
        return {
            "partial": feature_key(feature.func),
            "args": repr(feature.args),
            "keywords": repr(sorted(feature.keywords.items())),
        }
    qualname = getattr(feature, "__qualname__", "")
    module = getattr(feature, "__module__", None)
    if callable(feature) and module and qualname and "<" not in qualname:
        return {"function": f"{module}.{qualname}"}
    raise TypeError(
        f"cannot key {feature!r} for the feature cache: pass a frozen dataclass config "
        "(e.g. LogMelConfig), a module-level function or a functools.partial of one"
    )


def feature_name(feature: Callable[..., Any]) -> str:
    """Short readable name used as the cache file prefix."""
    name = getattr(feature, "name", None)
    if isinstance(name, str) and name:
        return name
    if isinstance(feature, functools.partial):
        return feature_name(feature.func)
    return getattr(feature, "__name__", None) or type(feature).__name__


def cache_slot(
    cache_dir: str | os.PathLike, feature: Callable[..., Any], paths: Sequence[str], load: dict
) -> Path:
    """The cache file for ``feature`` over ``paths`` (absolute, in order) loaded with ``load``."""
    spec = {"format": CACHE_FORMAT, "feature": feature_key(feature), "load": load, "paths": list(paths)}
    return Path(cache_dir) / f"{feature_name(feature)}-{stable_hash(spec)}.pt"


def cache_key(slot: Path, fingerprints: Sequence[tuple[str, int, int]]) -> str:
    """The validity key of ``slot``: a hash of its name and every file's size and mtime,
    followed by ``-<number of files>`` so that :func:`load_cached` can check the
    features' first dimension against it."""
    digest = stable_hash({"slot": slot.name, "files": [list(fp) for fp in fingerprints]})
    return f"{digest}-{len(fingerprints)}"


def _clips_in_key(key: str) -> int | None:
    """The number of files a :func:`cache_key` key was made from (None for other keys)."""
    m = re.fullmatch(r"[0-9a-f]+-(\d+)", key)
    return int(m[1]) if m else None


def load_cached(
    path: Path, key: str, map_location: str | torch.device = "cpu", n_clips: int | None = None
) -> Tensor | None:
    """The cached features in ``path`` if it exists and was written under ``key``, else ``None``.

    An unreadable file (corrupt, written by an incompatible version) is a miss, with a
    warning naming it; it will be overwritten. So is an entry whose features do not
    have one row per clip: ``n_clips`` (default: the count a :func:`cache_key` key
    carries) must equal the features' first dimension.
    """
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable cache is a miss
        warnings.warn(f"{path}: unreadable feature cache ({err}); recomputing", stacklevel=3)
        return None
    if not isinstance(payload, dict) or payload.get("key") != key:
        return None
    features = payload.get("features")
    if not isinstance(features, Tensor):
        return None
    if n_clips is None:
        n_clips = _clips_in_key(key)
    if n_clips is not None and (features.dim() == 0 or features.shape[0] != n_clips):
        warnings.warn(
            f"{path}: feature cache holds features of shape {tuple(features.shape)} for {n_clips} clips "
            "(expected one row per clip); treating it as a miss, recomputing and overwriting it",
            stacklevel=3,
        )
        return None
    return features


def save_cached(path: Path, key: str, features: Tensor, info: dict | None = None) -> None:
    """Write ``features`` (moved to the CPU) to ``path`` atomically, under ``key``."""
    payload = {"format": CACHE_FORMAT, "key": key, "features": features.detach().cpu().contiguous()}
    if info:
        payload["info"] = info
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
