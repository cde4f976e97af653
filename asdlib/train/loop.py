"""A thin, general training loop and the pieces it is made of.

:func:`train_epochs` covers the common case: one model, one optimizer, a function
that computes the loss of a batch (classifiers with an ArcFace head,
autoencoders, flows). Loops that do not fit (a GAN with two optimizers:
:func:`asdlib.train.gan.train_adversarial`, :func:`asdlib.train.aegan.train_aegan`)
write only their step and hand it to :func:`run_epochs`, the epoch skeleton
:func:`train_epochs` is built on too (train mode and its restoration, one progress
bar per epoch, :class:`EpochMeter`'s running means and NaN/inf checks without a GPU
sync per step, the per-epoch history). Other pieces: :func:`frozen` (a network's
parameters without gradients for the other network's step), :func:`format_means`,
:func:`check_finite`, :func:`~asdlib.train.amp.autocast`.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

import torch
from torch import nn

from asdlib.models.inference import module_device
from asdlib.train.amp import Amp, autocast
from asdlib.train.batches import move_to
from asdlib.train.device import DeviceLike, resolve_device, same_device
from asdlib.train.errors import NonFiniteLossError
from asdlib.train.progress import progress_bar

Scalar = torch.Tensor | float | int
StepOutput = torch.Tensor | Mapping[str, Scalar]
History = dict[str, list[float]]


def _where(epoch: int | None, epochs: int | None, step: int | None, steps: int | None) -> str:
    parts = []
    if epoch is not None:
        parts.append(f"epoch {epoch}" + (f"/{epochs}" if epochs else ""))
    if step is not None:
        parts.append(f"step {step}" + (f"/{steps}" if steps else ""))
    return ", ".join(parts) if parts else "an unknown step"


def _raise_non_finite(name: str, value: float, epoch, epochs, step, steps) -> None:
    hint = (
        " Usual causes: a learning rate too high, log/sqrt/division of zero in the loss, "
        "or NaN/inf in the input features."
    )
    raise NonFiniteLossError(
        f"{name} became {value} at {_where(epoch, epochs, step, steps)}.{hint}",
        epoch=epoch,
        step=step,
        name=name,
        value=value,
    )


def check_finite(
    value: Scalar,
    *,
    name: str = "loss",
    epoch: int | None = None,
    step: int | None = None,
    epochs: int | None = None,
    steps: int | None = None,
) -> float:
    """Return ``value`` as a float; raise :class:`NonFiniteLossError` if it is NaN or inf.

    ``value`` is a Python number or a one-element tensor (reading a CUDA tensor
    waits for the GPU). ``epoch`` and ``step`` (1-based) and the optional totals
    ``epochs`` and ``steps`` go into the message.
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.detach().float().item()
    value = float(value)
    if not math.isfinite(value):
        _raise_non_finite(name, value, epoch, epochs, step, steps)
    return value


class EpochMeter:
    """Running means of per-step scalars for one epoch, read from the GPU in batches.

    :meth:`add` only keeps references to the (detached) step tensors, so the GPU is
    not made to wait each step; :meth:`sync` copies the pending values to the CPU in
    one transfer, checks them in step order and raises :class:`NonFiniteLossError`
    naming the first step and scalar that is NaN or inf, then returns the running
    means (for a progress bar postfix). Means are per step (each step counts the
    same, whatever its batch size).

    Args:
        epoch: the 1-based epoch, for messages.
        epochs: total epochs, for messages.
        steps: steps per epoch if known, for messages.
    """

    def __init__(self, epoch: int | None = None, epochs: int | None = None, steps: int | None = None) -> None:
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self._pending: list[tuple[int, str, Scalar]] = []
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    def add(self, step: int, values: Mapping[str, Scalar]) -> None:
        """Record the scalars of 1-based step ``step`` (tensors are detached, not read)."""
        for name, v in values.items():
            if isinstance(v, torch.Tensor):
                if v.numel() != 1:
                    raise ValueError(
                        f"'{name}' at {_where(self.epoch, self.epochs, step, self.steps)} must be a scalar, "
                        f"got a tensor of shape {tuple(v.shape)}"
                    )
                v = v.detach()
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"'{name}' must be a number or a one-element tensor, not {type(v).__name__}")
            self._pending.append((step, name, v))

    def sync(self) -> dict[str, float]:
        """Read pending values (one GPU sync), check them, return running means so far."""
        if self._pending:
            tensors = [v for _, _, v in self._pending if isinstance(v, torch.Tensor)]
            if tensors:
                dev = tensors[0].device
                read = iter(torch.stack([t.reshape(()).float().to(dev) for t in tensors]).cpu().tolist())
            for step, name, v in self._pending:
                x = next(read) if isinstance(v, torch.Tensor) else float(v)
                if not math.isfinite(x):
                    self._pending.clear()
                    _raise_non_finite(name, x, self.epoch, self.epochs, step, self.steps)
                self._sums[name] = self._sums.get(name, 0.0) + x
                self._counts[name] = self._counts.get(name, 0) + 1
            self._pending.clear()
        return {k: self._sums[k] / self._counts[k] for k in self._sums}

    def means(self) -> dict[str, float]:
        """The epoch's per-step means of every scalar (syncs and checks first)."""
        return self.sync()


def _n_batches(batches: Iterable) -> int | None:
    try:
        return len(batches)  # type: ignore[arg-type]
    except TypeError:
        return None


@contextlib.contextmanager
def frozen(params: Iterable[nn.Parameter]) -> Iterator[None]:
    """Context: ``params`` do not require gradients inside (one network's step of a GAN); afterwards they do.

    Pass trainable parameters (``requires_grad`` is set back to ``True``, also on an
    error): the other network's backward then computes no gradients for them.
    """
    params = list(params)
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def format_means(means: Mapping[str, float]) -> dict[str, str]:
    """Running means for a progress bar postfix, 4 significant digits."""
    return {k: f"{v:.4g}" for k, v in means.items()}


def run_epochs(
    step_fn: Callable[[int, int, Any], Mapping[str, Scalar]],
    batches: Iterable,
    epochs: int,
    *,
    modules: Sequence[nn.Module] = (),
    start_epoch: int = 0,
    progress: bool = True,
    desc: str = "train",
    sync_every: int = 10,
    postfix: Callable[[dict[str, float]], Mapping[str, Any]] | None = None,
    after_sync: Callable[[int], None] | None = None,
    epoch_means: Callable[[int, dict[str, float]], dict[str, float]] | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    empty_epochs: bool = True,
) -> History:
    """The epoch skeleton of every training loop: ``step_fn(epoch, step, batch)`` on each batch, ``epochs`` times.

    ``step_fn`` does a step's work (forward passes, backward, optimiser steps) and
    returns the step's scalars ``{name: loss tensor or number}``; everything around it
    is here: the ``modules`` in train mode (their previous modes restored, also on an
    error), one progress bar per epoch labelled ``"{desc} {epoch}/{epochs}"`` (the last
    one stays), an :class:`EpochMeter` read every ``sync_every`` steps (NaN/inf raise
    :class:`NonFiniteLossError` naming the epoch and step), and the history.

    Args:
        step_fn: ``step_fn(epoch, step, batch)``, ``epoch`` 1-based and ``step`` 1-based
            within the epoch.
        batches: re-iterable batches (``len()`` is used for the bar when it has one).
        epochs: total number of epochs (including ``start_epoch`` already done).
        modules: put in train mode for the loop.
        start_epoch: epochs already done (when resuming).
        progress, desc: the bars.
        sync_every: read the scalars from the device (check them, update the bar's
            postfix) every this many steps and at the end of each epoch.
        postfix: formats the running means for the bar (e.g. :func:`format_means`);
            ``None`` passes them as they are.
        after_sync: ``after_sync(step)`` right after each of those reads (e.g. a
            check of the last loss).
        epoch_means: ``epoch_means(epoch, means) -> means`` at the end of an epoch,
            before the means are shown and recorded (to add epoch-level values).
        on_epoch_end: ``on_epoch_end(epoch, means)`` after each epoch is recorded.
        empty_epochs: ``False``: an epoch without a batch raises ``ValueError``.

    Returns:
        ``{name: [mean per epoch]}``, one float per epoch run (``nan`` for a name
        missing in an epoch).
    """
    steps = _n_batches(batches)
    show = postfix if postfix is not None else (lambda means: means)
    history: History = {}
    was_training = [m.training for m in modules]
    for m in modules:
        m.train()
    try:
        for epoch in range(start_epoch + 1, epochs + 1):
            meter = EpochMeter(epoch, epochs, steps)
            step = 0
            with progress_bar(
                desc=f"{desc} {epoch}/{epochs}", total=steps, enabled=progress, leave=epoch == epochs
            ) as bar:
                for step, batch in enumerate(batches, start=1):
                    meter.add(step, step_fn(epoch, step, batch))
                    bar.update(1)
                    if step % sync_every == 0:
                        bar.set_postfix(show(meter.sync()), refresh=False)
                        if after_sync is not None:
                            after_sync(step)
                if step == 0 and not empty_epochs:
                    raise ValueError(f"batches yielded no batch in epoch {epoch}/{epochs}")
                means = meter.means()
                if epoch_means is not None:
                    means = epoch_means(epoch, means)
                bar.set_postfix(show(means), refresh=False)
            done = epoch - start_epoch - 1  # epochs recorded before this one
            for k in [k for k in means if k not in history]:
                history[k] = [math.nan] * done
            for k, series in history.items():
                series.append(means.get(k, math.nan))
            if on_epoch_end is not None:
                on_epoch_end(epoch, means)
    finally:
        for m, flag in zip(modules, was_training):
            m.train(flag)
    return history


def _split_output(out: StepOutput, where: str) -> tuple[torch.Tensor, dict[str, Scalar]]:
    if isinstance(out, Mapping):
        if "loss" not in out:
            raise ValueError(f"step_fn returned a mapping without a 'loss' key (keys: {list(out)}) at {where}")
        extras = {k: v for k, v in out.items() if k != "loss"}
        loss = out["loss"]
    else:
        loss, extras = out, {}
    if not isinstance(loss, torch.Tensor):
        raise TypeError(f"step_fn must return the loss as a tensor, got {type(loss).__name__} at {where}")
    if loss.numel() != 1:
        raise ValueError(
            f"step_fn must return a scalar loss, got shape {tuple(loss.shape)} at {where} (forgot .mean()?)"
        )
    if not loss.requires_grad:
        raise ValueError(
            f"the loss returned by step_fn does not require grad at {where}: was it computed under "
            "torch.no_grad(), detached, or from a model without trainable parameters?"
        )
    return loss, extras


def _model_device(model: nn.Module, device: DeviceLike | None) -> torch.device:
    if device is None:
        return module_device(model)
    params = list(model.parameters()) + list(model.buffers())
    dev = resolve_device(device)
    elsewhere = sorted({str(p.device) for p in params if not same_device(p.device, dev)})
    if elsewhere:
        raise ValueError(
            f"device={str(dev)!r} but the model has parameters/buffers on {elsewhere}; "
            "call model.to(device) before creating the optimizer"
        )
    return dev


def train_epochs(
    model: nn.Module,
    batches: Iterable,
    step_fn: Callable[[nn.Module, Any], StepOutput],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    device: DeviceLike | None = None,
    *,
    scheduler: Any | None = None,
    scheduler_interval: Literal["epoch", "step"] = "epoch",
    grad_clip: float | None = None,
    amp: Amp = True,
    progress: bool = True,
    desc: str = "train",
    sync_every: int = 10,
    start_epoch: int = 0,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` epochs; return per-epoch means of the loss and extras.

    Each step: move the batch to ``device`` (a no-op for
    :class:`~asdlib.train.batches.TensorBatches` already there), ``zero_grad``, run
    ``step_fn(model, batch)`` under :func:`~asdlib.train.amp.autocast` (bf16 on CUDA
    when ``amp``), ``backward``, clip gradients, ``optimizer.step()``.

    Args:
        model: the network; put in train mode during the loop, its previous mode
            restored afterwards. Must already be on ``device``.
        batches: re-iterable batches, e.g. ``TensorBatches(x, y, batch_size=64)``
            (yields tuples ``(x_b, y_b)``) or a ``DataLoader``.
        step_fn: ``step_fn(model, batch)`` returns the scalar loss tensor, or a
            mapping ``{"loss": loss, "acc": ..., ...}`` whose other entries
            (scalar tensors or numbers, same keys every step) are averaged per epoch
            too. Modules outside ``model`` (an ArcFace head) can be closed over; their
            parameters must be in ``optimizer``.
        optimizer: updates the parameters; gradient clipping covers all its params.
        epochs: total number of epochs (including ``start_epoch`` already done).
        device: where the model lives; ``None`` takes the device of its parameters.
        scheduler: optional LR scheduler, stepped per ``scheduler_interval``
            (``"epoch"`` or ``"step"``); ``ReduceLROnPlateau`` gets the epoch's
            mean loss.
        grad_clip: max total gradient norm (``clip_grad_norm_``), or ``None``.
        amp: bf16 autocast on CUDA (no effect on the CPU); ``"always"``: bf16 autocast
            on any device, the CPU included, to check the bf16 path without a GPU
            (:func:`~asdlib.train.amp.autocast`).
        progress: show one tqdm bar per epoch, running means in the postfix; the
            bars of earlier epochs are cleared, the last one stays.
        desc: progress bar label, shown as ``"{desc} {epoch}/{epochs}"``.
        sync_every: read losses from the GPU (check NaN/inf, update the bar) every
            this many steps and at the end of each epoch. The error names the exact
            step, but up to ``sync_every - 1`` later steps may already have run.
        start_epoch: epochs already done (when resuming from a checkpoint).
        on_epoch_end: called as ``on_epoch_end(epoch, means)`` after each epoch
            (``epoch`` 1-based), e.g. to save a checkpoint or evaluate.

    Returns:
        ``{"loss": [mean per epoch], "<extra>": [...], ...}``, one float per epoch run
        (``nan`` for an extra missing in an epoch).

    Raises:
        NonFiniteLossError: the loss or an extra became NaN/inf; names epoch and step.
        ValueError: bad arguments, an empty epoch, or a ``step_fn`` output that is
            not a scalar loss requiring grad.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs={epochs!r} must be a non-negative integer")
    if not 0 <= start_epoch <= epochs:
        raise ValueError(f"start_epoch={start_epoch!r} must be in [0, epochs={epochs}]")
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if scheduler_interval not in ("epoch", "step"):
        raise ValueError(f"scheduler_interval={scheduler_interval!r} must be 'epoch' or 'step'")
    if plateau and scheduler_interval == "step":
        raise ValueError("ReduceLROnPlateau needs scheduler_interval='epoch' (it is stepped with the epoch loss)")
    if sync_every < 1:
        raise ValueError(f"sync_every={sync_every!r} must be >= 1")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip={grad_clip!r} must be positive or None")
    dev = _model_device(model, device)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    steps = _n_batches(batches)

    def step(epoch: int, i: int, batch: Any) -> dict[str, Scalar]:
        batch = move_to(batch, dev)
        optimizer.zero_grad(set_to_none=True)
        with autocast(dev, enabled=amp):
            out = step_fn(model, batch)
        loss, extras = _split_output(out, _where(epoch, epochs, i, steps))
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        if scheduler is not None and scheduler_interval == "step":
            scheduler.step()
        return {"loss": loss, **extras}

    def epoch_end(epoch: int, means: dict[str, float]) -> None:
        if scheduler is not None and scheduler_interval == "epoch":
            if plateau:
                scheduler.step(means["loss"])
            else:
                scheduler.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch, means)

    history = run_epochs(
        step, batches, epochs, modules=[model], start_epoch=start_epoch, progress=progress, desc=desc,
        sync_every=sync_every, on_epoch_end=epoch_end, empty_epochs=False,
    )
    if "loss" not in history:
        history["loss"] = []
    return history
