"""Mixed precision: bf16 autocast on CUDA, nothing on the CPU (unless asked for ``"always"``)."""

from __future__ import annotations

from typing import ContextManager

from asdlib.models.inference import Amp, autocast_bf16
from asdlib.train.device import DeviceLike, resolve_device


def autocast(device: DeviceLike, enabled: Amp = True) -> ContextManager:
    """A context that runs the forward pass in bfloat16 autocast on CUDA.

    On CUDA (when ``enabled`` and the GPU supports bf16) this is
    ``torch.autocast("cuda", dtype=torch.bfloat16)``: matmuls and convolutions run
    in bf16, reductions and losses stay float32. bf16 has float32's exponent range,
    so no gradient scaler is needed. Compute the loss inside the context and call
    ``backward()`` outside it.

    On the CPU, with ``enabled=False``, or on a GPU without bf16, it is a no-op
    (:func:`contextlib.nullcontext`): CPU autocast gains little and changes numerics.
    ``enabled="always"`` runs bf16 autocast on the CPU too, so that the bf16 path of
    every trainer (whose ``amp`` argument is passed here) can be checked without a
    GPU (``tests/test_bf16.py``). The same context serves inference
    (:func:`asdlib.models.inference.autocast_bf16`, which this calls once ``device``
    is resolved).
    """
    return autocast_bf16(resolve_device(device), enabled)


__all__ = ["Amp", "autocast"]
