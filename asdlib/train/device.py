"""Choosing the torch device from a user-facing string."""

from __future__ import annotations

import torch

DeviceLike = str | torch.device

_VALID = "'auto', 'cpu', 'cuda' or 'cuda:N' (or a torch.device of those)"


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """Turn ``device`` into a concrete :class:`torch.device`.

    ``"auto"`` picks CUDA when it is available, else the CPU. ``"cuda"`` resolves to
    the current CUDA device with its index (``cuda:0`` usually), so the result
    compares equal to ``tensor.device`` of tensors created there.

    Raises:
        ValueError: the value is not one of the valid ones, or CUDA is requested
            (``"cuda"``, ``"cuda:N"``) but not available or ``N`` is out of range.
            The message names the parameter ``device`` and the valid values.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device.strip().lower() if isinstance(device, str) else device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a device; valid values: {_VALID}") from exc
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise ValueError(f"device={device!r} is not supported by asdlib; valid values: {_VALID}")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA, but CUDA is not available on this machine "
            f"(torch.cuda.is_available() is False; torch {torch.__version__}). "
            f"Valid values here: 'auto' or 'cpu'; in general {_VALID}."
        )
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if dev.index is None else dev.index
    if not 0 <= index < count:
        raise ValueError(
            f"device={device!r} asks for CUDA device {index}, but only {count} "
            f"CUDA device(s) are visible (cuda:0 .. cuda:{count - 1}); valid values: {_VALID}"
        )
    return torch.device("cuda", index)


def same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are the same, treating ``cuda`` without index as the current one."""
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    cur = torch.cuda.current_device() if (a.index is None or b.index is None) else None
    return (cur if a.index is None else a.index) == (cur if b.index is None else b.index)
