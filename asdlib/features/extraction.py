"""From a list of audio files to one feature tensor on the device, cached on disk."""

from __future__ import annotations

import json
import os
from collections import deque
from contextlib import closing
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from asdlib.data.audio import SAMPLE_RATE, clip_seconds, load_clips
from asdlib.data.errors import DataError
from asdlib.utils import progress_bar
from asdlib.features.cache import (
    cache_key,
    cache_slot,
    feature_key,
    feature_name,
    file_fingerprints,
    load_cached,
    save_cached,
)
from asdlib.features.spectral import LogMelConfig

PROGRESS_MIN_CLIPS = 512
"""``progress=None`` shows a progress bar from this many clips on."""


def default_batch_size(device: torch.device) -> int:
    """Clips per batch: small on a CPU (the working set stays in cache), large on a GPU."""
    return 128 if device.type == "cuda" else 8


def loader_threads(device: torch.device) -> int:
    """Threads reading audio ahead of the computation (0: read in the main thread).

    On a CPU none: the cores are busy computing, and a reader thread that takes
    one away stalls every multi-threaded torch kernel until it gives it back, which
    costs more than the overlap gains. On a GPU reading WAV files is the
    bottleneck, so up to 4 threads read chunks in parallel (libsndfile releases
    the GIL).
    """
    if device.type == "cpu":
        return 0
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _read_ahead(
    chunks: list[list[str]], load: Callable[[list[str]], np.ndarray], workers: int
) -> Iterator[np.ndarray]:
    """``load(chunk)`` for each chunk, in order, with up to ``workers`` chunks read ahead on threads."""
    if workers <= 0:
        for chunk in chunks:
            yield load(chunk)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="asdlib-load") as pool:
        pending = deque(pool.submit(load, c) for c in chunks[:workers])
        try:
            for i in range(len(chunks)):
                audio = pending.popleft().result()
                if i + workers < len(chunks):
                    pending.append(pool.submit(load, chunks[i + workers]))
                yield audio
        finally:
            for future in pending:  # stopped early (an error): do not read chunks nobody will use
                future.cancel()


def extract(
    paths: Sequence[str | os.PathLike] | Iterable[str | os.PathLike],
    feature: Callable[[Tensor], Tensor] | None = None,
    *,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    duration: float | None = None,
    sr: int | None = None,
    progress: bool | None = None,
) -> Tensor:
    """Features of every clip in ``paths``, in order: a tensor ``(n_clips, ...)`` on ``device``.

    ``feature`` maps a waveform batch ``(B, n_samples)`` to ``(B, ...)``; the default
    is :class:`LogMelConfig()` (DCASE log-mel, giving ``(n_clips, 128, n_frames)``).
    Clips are read with :func:`asdlib.data.load_clips` at ``sr`` (default: the
    feature's ``sr``, else 16 kHz), all brought to ``duration`` seconds (default: the
    longest clip of ``paths``, from the file headers), in chunks of ``batch_size``
    (default :func:`default_batch_size`); on a GPU background threads read the next
    chunks while one is computed (:func:`loader_threads`). Gradients are off.

    With ``cache_dir``, the result is stored there (see :mod:`asdlib.features.cache`)
    and returned from disk on the next call with the same feature config, files
    (path, size, mtime), ``duration`` and ``sr``. The device is not part of the
    key: a cache written on a GPU serves a CPU run (values agree to float32 rounding).
    ``progress=None`` shows a tqdm bar for long jobs.
    """
    feature = LogMelConfig() if feature is None else feature
    paths = [os.path.abspath(os.fspath(p)) for p in paths]
    if not paths:
        raise DataError("extract: no files given")
    device = torch.device(device)
    sr = int(sr or getattr(feature, "sr", SAMPLE_RATE))
    batch_size = default_batch_size(device) if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise ValueError(f"extract: batch_size must be positive, got {batch_size}")

    slot = key = None
    if cache_dir is not None:
        load = {"sr": sr, "duration": duration}
        slot = cache_slot(os.path.expanduser(cache_dir), feature, paths, load)
        key = cache_key(slot, file_fingerprints(paths))
        cached = load_cached(slot, key)
        if cached is not None:
            return cached.to(device)

    n_seconds = clip_seconds(paths, sr) if duration is None else float(duration)
    features = _compute(paths, feature, device, batch_size, n_seconds, sr, progress)

    if slot is not None:
        info = {"feature": json.dumps(feature_key(feature), default=str), "duration": n_seconds, "paths": paths}
        save_cached(slot, key, features, info)
    return features


def _compute(
    paths: list[str],
    feature: Callable[[Tensor], Tensor],
    device: torch.device,
    batch_size: int,
    duration: float,
    sr: int,
    progress: bool | None,
) -> Tensor:
    """Load ``paths`` in chunks (read ahead on :func:`loader_threads` threads); compute ``feature`` on ``device``."""
    n = len(paths)
    chunks = [paths[i : i + batch_size] for i in range(0, n, batch_size)]
    show = n >= PROGRESS_MIN_CLIPS if progress is None else progress
    out: Tensor | None = None
    start = 0
    audio_chunks = _read_ahead(chunks, lambda c: load_clips(c, sr, duration), loader_threads(device))
    with (
        progress_bar(total=n, desc=f"{feature_name(feature)} features", unit="clip", enabled=show, leave=False) as bar,
        torch.no_grad(),
        closing(audio_chunks),
    ):
        for chunk, audio in zip(chunks, audio_chunks):
            y = feature(torch.from_numpy(audio).to(device))
            if y.shape[0] != len(chunk):
                name = feature_name(feature)
                raise ValueError(f"feature {name!r} returned {y.shape[0]} rows for a batch of {len(chunk)} clips")
            if out is None:
                out = torch.empty((n, *y.shape[1:]), dtype=y.dtype, device=device)
            out[start : start + len(chunk)] = y
            start += len(chunk)
            bar.update(len(chunk))
    assert out is not None
    return out
