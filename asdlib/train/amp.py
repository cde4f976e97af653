"""Mixed precision: bf16 autocast on CUDA, nothing on the CPU."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from asdlib.train.device import DeviceLike, resolve_device


def autocast(device: DeviceLike, enabled: bool = True) -> ContextManager:
    """A context that runs the forward pass in bfloat16 autocast on CUDA.

    On CUDA (when ``enabled`` and the GPU supports bf16) this is
    ``torch.autocast("cuda", dtype=torch.bfloat16)``: matmuls and convolutions run
    in bf16, reductions and losses stay float32. bf16 has float32's exponent range,
    so no gradient scaler is needed. Compute the loss inside the context and call
    ``backward()`` outside it.

    On the CPU, with ``enabled=False``, or on a GPU without bf16, it is a no-op
    (:func:`contextlib.nullcontext`): CPU autocast gains little and changes numerics.
    """
    dev = resolve_device(device)
    if enabled and dev.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
