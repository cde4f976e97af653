"""Running a network for inference: eval mode, no gradients, batches, mixed precision.

The one place for what every embedding, scoring and validation pass of asdlib does
(models and trainers alike; it sits in :mod:`asdlib.models` so that both may import
it, models never importing :mod:`asdlib.train`):

- :func:`eval_no_grad`: a context that puts a module in eval mode (BatchNorm running
  statistics, no dropout) under ``torch.no_grad()``, optionally under bf16 autocast
  on CUDA, and restores the module's previous mode on the way out;
- :func:`map_batches`: ``fn`` over ``batch_size``-row slices of one or more inputs,
  each slice copied to the device (and cast), the outputs concatenated;
- :func:`predict`: both at once, ``module(batch)`` (or ``fn(module, *batch)``) over
  all rows in eval mode without gradients;
- :func:`module_device`, :func:`inference_device`: where a module lives, and where a
  scoring function with a ``device=None | "auto" | "cpu" | "cuda"...`` argument runs;
- :func:`autocast_bf16`: bf16 autocast on CUDA, nothing elsewhere, unless asked for
  ``"always"`` (what :func:`asdlib.train.amp.autocast` uses); :data:`Amp` is the type of
  every ``amp`` argument of asdlib: ``True``, ``False`` or ``"always"``.

Typical use::

    emb = predict(model, waves, batch_size=256, device=dev, amp=amp)        # (N, D) on the CPU
    with eval_no_grad(model):
        scores = model.score(x)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ContextManager, Literal

import torch
from torch import Tensor, nn

from asdlib.utils import progress_bar

DeviceLike = str | torch.device
DtypeSpec = torch.dtype | None | Sequence[torch.dtype | None]
ToCpu = Literal["end", "batch"] | None
Amp = bool | Literal["always"]
"""An ``amp`` argument: ``True`` bf16 autocast on a CUDA device with bf16 (a no-op elsewhere),
``False`` never, ``"always"`` bf16 autocast on any device, the CPU included (:func:`autocast_bf16`)."""


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter or buffer (CPU when it has none)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def inference_device(device: DeviceLike | None, default: torch.device) -> torch.device:
    """The device a scoring function runs on: ``default`` for ``None`` (usually the model's).

    ``"auto"`` is CUDA when available, else the CPU; anything else goes through
    :class:`torch.device`, and ``"cuda"`` gets the current device's index (``cuda:0``),
    so it compares equal to the device of tensors created there.
    """
    if device is None:
        dev = default
    elif isinstance(device, str) and device.strip().lower() == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def autocast_bf16(device: torch.device, enabled: Amp = True) -> ContextManager:
    """``torch.autocast("cuda", dtype=torch.bfloat16)`` on a CUDA ``device`` with bf16 support, when ``enabled``.

    Otherwise (the CPU, ``enabled=False``, a GPU without bf16) a no-op
    (:func:`contextlib.nullcontext`): CPU autocast gains little and changes numerics.

    ``enabled="always"`` asks for ``torch.autocast(device.type, dtype=torch.bfloat16)`` on
    any device, the CPU included: the bf16 path of a trainer or a scoring function can
    then be run and checked without a GPU (``tests/test_bf16.py`` does). CPU autocast
    follows its own op lists (not CUDA's), and is slow on most CPUs.

    Open one context per step, as the trainers do: autocast caches the bf16 copies of
    the weights until the outermost context exits, so one context around several
    optimiser steps would keep computing with the weights of the first step.

    Raises:
        ValueError: ``enabled`` is a string other than ``"always"``.
    """
    if isinstance(enabled, str):
        if enabled != "always":
            raise ValueError(f"amp={enabled!r} must be True, False or 'always'")
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if enabled and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_no_grad(module: nn.Module, *, amp: Amp = False, device: DeviceLike | None = None) -> Iterator[None]:
    """Context: ``module.eval()`` under ``torch.no_grad()``; the previous mode is restored.

    ``amp=True`` also runs the block under bf16 autocast when ``device`` (default: the
    module's) is a CUDA device, ``amp="always"`` on any device (:func:`autocast_bf16`).
    """
    was_training = module.training
    module.eval()
    try:
        if amp:
            amp_context = autocast_bf16(module_device(module) if device is None else torch.device(device), amp)
        else:
            amp_context = contextlib.nullcontext()
        with torch.no_grad(), amp_context:
            yield
    finally:
        module.train(was_training)


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")


def _concat(parts: list[Tensor | None], position: int) -> Tensor | None:
    if all(p is None for p in parts):
        return None
    if any(p is None for p in parts):
        raise ValueError(f"output {position} is None for some batches only")
    return torch.cat(parts)


def map_batches(
    fn: Callable[..., Tensor | tuple[Tensor | None, ...]],
    inputs: Tensor | Sequence[Tensor],
    *,
    batch_size: int,
    device: DeviceLike,
    dtype: DtypeSpec = torch.float32,
    out_dtype: torch.dtype | None = torch.float32,
    to_cpu: ToCpu = "end",
    progress: bool = False,
    desc: str | None = None,
) -> Tensor | tuple[Tensor | None, ...]:
    """``fn(*batch)`` over consecutive ``batch_size``-row slices of ``inputs``; outputs concatenated in order.

    No mode switch and no ``no_grad`` (see :func:`predict` for a module). Each slice is
    copied to ``device`` (asynchronously to a GPU) and cast to ``dtype``.

    Args:
        fn: takes one batch per input, returns a tensor ``(b, ...)`` or a tuple of them
            (``None`` entries stay ``None``: an output a model does not have).
        inputs: one tensor or a tuple/list of tensors sharing their first dimension;
            they may stay on the CPU.
        batch_size: rows per call of ``fn`` (the last call may get fewer).
        device: where the batches are sent.
        dtype: the batches' dtype (default float32); ``None`` keeps each input's; a
            sequence gives one per input (e.g. ``(torch.float32, None)`` for features
            and integer labels).
        out_dtype: the outputs' dtype (default float32, which also undoes bf16
            autocast); ``None`` keeps them as ``fn`` returns them.
        to_cpu: ``"end"`` (default): the concatenated outputs are copied to the CPU
            once; ``"batch"``: each batch's outputs as they come (large outputs never
            pile up on the GPU); ``None``: they stay where ``fn`` made them.
        progress, desc: a tqdm bar over the batches.

    Returns:
        The concatenated output(s): a tensor, or a tuple when ``fn`` returns tuples.

    Raises:
        ValueError: a bad ``batch_size``, inputs of different lengths, or no rows.
    """
    _check_batch_size(batch_size)
    xs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    dtypes = tuple(dtype) if isinstance(dtype, (tuple, list)) else (dtype,) * len(xs)
    if not xs or len(dtypes) != len(xs):
        raise ValueError(f"map_batches: {len(xs)} input(s) and {len(dtypes)} dtype(s)")
    n = len(xs[0])
    if any(len(x) != n for x in xs):
        raise ValueError(f"map_batches: inputs must share their first dimension; got {[len(x) for x in xs]}")
    if n == 0:
        raise ValueError("map_batches: the inputs hold no rows")
    dev = torch.device(device)
    non_blocking = dev.type == "cuda"
    starts: Any = range(0, n, batch_size)
    if progress:
        starts = progress_bar(starts, desc=desc)
    parts: list[tuple[Tensor | None, ...]] = []
    single = True
    for start in starts:
        batch = [
            x[start : start + batch_size].to(dev, dt, non_blocking=non_blocking)
            if dt is not None
            else x[start : start + batch_size].to(dev, non_blocking=non_blocking)
            for x, dt in zip(xs, dtypes)
        ]
        out = fn(*batch)
        single = not isinstance(out, tuple)
        outs = []
        for o in (out,) if single else out:
            if o is not None:
                if out_dtype is not None:
                    o = o.to(out_dtype)
                if to_cpu == "batch":
                    o = o.cpu()
            outs.append(o)
        parts.append(tuple(outs))
    result = tuple(_concat([p[j] for p in parts], j) for j in range(len(parts[0])))
    if to_cpu == "end":
        result = tuple(None if r is None else r.cpu() for r in result)
    return result[0] if single else result


def predict(
    module: nn.Module,
    inputs: Tensor | Sequence[Tensor],
    fn: Callable[..., Tensor | tuple[Tensor | None, ...]] | None = None,
    *,
    batch_size: int,
    device: DeviceLike | None = None,
    amp: Amp = False,
    dtype: DtypeSpec = torch.float32,
    out_dtype: torch.dtype | None = torch.float32,
    to_cpu: ToCpu = "end",
    progress: bool = False,
    desc: str | None = None,
) -> Tensor | tuple[Tensor | None, ...]:
    """``module`` over all rows of ``inputs``, batch by batch, in eval mode without gradients.

    ``fn(module, *batch)`` (default ``module(*batch)``) runs under
    :func:`eval_no_grad` (bf16 autocast on CUDA with ``amp``, on any device with
    ``amp="always"``); the module's previous mode is restored, even on an error.
    ``device`` (default: the module's) is where the batches go; the module is not
    moved. The other arguments are :func:`map_batches`'s: by default the batches are
    cast to float32 and the float32 outputs come back concatenated on the CPU.
    """
    dev = module_device(module) if device is None else torch.device(device)
    call = (lambda *batch: module(*batch)) if fn is None else (lambda *batch: fn(module, *batch))
    with eval_no_grad(module, amp=amp, device=dev):
        return map_batches(
            call, inputs, batch_size=batch_size, device=dev, dtype=dtype, out_dtype=out_dtype, to_cpu=to_cpu,
            progress=progress, desc=desc,
        )


__all__ = ["Amp", "autocast_bf16", "eval_no_grad", "inference_device", "map_batches", "module_device", "predict"]
