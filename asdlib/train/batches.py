"""Mini-batches of tensors that already live on the training device."""

from __future__ import annotations

import math
from typing import Any, Iterator

import torch

from asdlib.train.device import same_device
from asdlib.train.seeding import make_generator


class TensorBatches:
    """Shuffled mini-batches over tensors that share their first dimension.

    The tensors stay where they are (put a machine type's features on the GPU
    once); each epoch draws one permutation with :func:`torch.randperm` on that same
    device and indexes every tensor with slices of it, so no data crosses the bus
    and there is no per-sample Python work and no ``DataLoader``.

    Args:
        *tensors: one or more tensors of shapes ``(N, ...)``, all on one device,
            e.g. features ``(N, n_mels, T)`` and labels ``(N,)``.
        batch_size: samples per batch (a positive integer).
        shuffle: draw a new permutation each epoch; ``False`` keeps the order and
            yields slices (views, no copy).
        drop_last: leave out the last batch when it holds fewer than ``batch_size``
            samples (with ``shuffle``, which samples are left out changes per epoch).
        generator: a :class:`torch.Generator` on the tensors' device, or an int seed
            to make one (:func:`~asdlib.train.seeding.make_generator`). With a seeded
            generator the sequence of epoch orders is reproducible; ``None`` uses
            torch's global RNG for that device (seeded by ``seed_everything``).

    Iterating yields tuples ``(t1[idx], t2[idx], ...)`` with batch shapes
    ``(B, ...)``, ``B == batch_size`` except possibly for the last batch.
    ``len()`` is the number of batches per epoch.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        generator: torch.Generator | int | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"TensorBatches: argument {i} is a {type(t).__name__}, not a torch.Tensor")
            if t.dim() == 0:
                raise ValueError(
                    f"TensorBatches: argument {i} is a 0-d tensor; every tensor needs a first (sample) dimension"
                )
        shapes = [tuple(t.shape) for t in tensors]
        if len({s[0] for s in shapes}) != 1:
            raise ValueError(
                f"TensorBatches: tensors must share their first (sample) dimension; got shapes {shapes}"
            )
        devices = [t.device for t in tensors]
        if not all(same_device(d, devices[0]) for d in devices):
            raise ValueError(f"TensorBatches: tensors must be on one device; got {[str(d) for d in devices]}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"TensorBatches: batch_size={batch_size!r} must be a positive integer")
        n = shapes[0][0]
        if n == 0:
            raise ValueError(f"TensorBatches: the tensors hold no samples (shapes {shapes})")
        if drop_last and n < batch_size:
            raise ValueError(
                f"TensorBatches: drop_last=True with batch_size={batch_size} > {n} samples leaves no batches"
            )
        self.device = devices[0]
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = make_generator(generator, self.device)
        elif generator is not None:
            if not isinstance(generator, torch.Generator):
                raise TypeError(
                    "TensorBatches: generator must be a torch.Generator, an int seed or None, "
                    f"not {type(generator).__name__}"
                )
            if not same_device(generator.device, self.device):
                raise ValueError(
                    f"TensorBatches: the generator is on {generator.device} but the tensors are on "
                    f"{self.device}; make one there with make_generator(seed, device={str(self.device)!r})"
                )
        self.tensors = tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator

    @property
    def n_samples(self) -> int:
        """Number of samples ``N``."""
        return self.tensors[0].shape[0]

    def __len__(self) -> int:
        n, b = self.n_samples, self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n, b = self.n_samples, self.batch_size
        stop = len(self) * b if self.drop_last else n
        if not self.shuffle:
            for start in range(0, stop, b):
                yield tuple(t[start : start + b] for t in self.tensors)
            return
        perm = torch.randperm(n, device=self.device, generator=self.generator)
        for idx in perm[:stop].split(b):
            yield tuple(t[idx] for t in self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(t.shape)) for t in self.tensors)
        return (
            f"TensorBatches({shapes}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, device={self.device}, batches={len(self)})"
        )


def move_to(obj: Any, device: torch.device, non_blocking: bool = True) -> Any:
    """Move tensors inside ``obj`` (a tensor, tuple, list or dict, nested) to ``device``.

    Tensors already there are returned as they are (no copy); other objects pass
    through unchanged. Lets the training loop also take a ``DataLoader``'s CPU batches.
    """
    if isinstance(obj, torch.Tensor):
        # non_blocking only towards CUDA: a non-blocking copy to the CPU may be read early
        return obj.to(device, non_blocking=non_blocking and torch.device(device).type == "cuda")
    if isinstance(obj, tuple):
        return tuple(move_to(o, device, non_blocking) for o in obj)
    if isinstance(obj, list):
        return [move_to(o, device, non_blocking) for o in obj]
    if isinstance(obj, dict):
        return {k: move_to(v, device, non_blocking) for k, v in obj.items()}
    return obj
