"""Seeding every random number generator, and optional deterministic mode."""

from __future__ import annotations

import os
import random
import warnings

import numpy as np
import torch

from asdlib.train.device import DeviceLike, resolve_device

_CUBLAS_KEY = "CUBLAS_WORKSPACE_CONFIG"


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed={seed!r} must be an integer in [0, 2**32)")
    return int(seed)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python's ``random``, NumPy's global RNG, torch's CPU and all CUDA generators.

    Args:
        seed: an integer in ``[0, 2**32)``.
        deterministic: also make torch pick deterministic kernels:
            ``torch.use_deterministic_algorithms(True, warn_only=True)`` (ops with no
            deterministic kernel warn instead of failing), ``cudnn.deterministic =
            True``, ``cudnn.benchmark = False`` and ``CUBLAS_WORKSPACE_CONFIG=:4096:8``
            (kept if already set; it only takes effect if set before CUDA starts, so
            call this first). Slower on GPU. ``False`` turns the first two back off
            and leaves ``cudnn.benchmark`` as it is.

    Same seed, same code, same device and library versions give the same numbers;
    across CPU and GPU they differ. ``PYTHONHASHSEED`` cannot be set from inside a
    running interpreter, so it is not touched.
    """
    seed = _check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and every CUDA device
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        if _CUBLAS_KEY not in os.environ:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                warnings.warn(
                    f"seed_everything(deterministic=True) set {_CUBLAS_KEY} after CUDA was "
                    "initialised; cuBLAS may ignore it. Call seed_everything first.",
                    RuntimeWarning,
                    stacklevel=2,
                )
            os.environ[_CUBLAS_KEY] = ":4096:8"
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False


def make_generator(seed: int, device: DeviceLike = "cpu") -> torch.Generator:
    """A fresh :class:`torch.Generator` on ``device`` seeded with ``seed``.

    Use it for shuffling (:class:`~asdlib.train.batches.TensorBatches`) so batch
    order depends only on this seed, not on how much randomness the model's
    initialisation or dropout consumed. ``torch.randperm`` on a CUDA tensor needs a
    generator on that CUDA device.
    """
    gen = torch.Generator(device=resolve_device(device))
    gen.manual_seed(_check_seed(seed))
    return gen
