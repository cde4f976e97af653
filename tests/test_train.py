"""Behaviour of asdlib.train: seeding, batches, the loop, checkpoints, device, AMP."""

from __future__ import annotations

import contextlib
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asdlib.train import (
    CheckpointError,
    EpochMeter,
    NonFiniteLossError,
    TensorBatches,
    autocast,
    check_finite,
    load_checkpoint,
    make_generator,
    resolve_device,
    save_checkpoint,
    seed_everything,
    train_epochs,
)
from conftest import across_seeds

# ---------------------------------------------------------------- seeding


def _draws() -> tuple[float, np.ndarray, torch.Tensor]:
    return random.random(), np.random.rand(5), torch.randn(5)


def test_same_seed_gives_identical_draws_and_different_seed_differs():
    seed_everything(123)
    a = _draws()
    seed_everything(123)
    b = _draws()
    seed_everything(124)
    c = _draws()
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])
    assert a[0] != c[0] and not np.array_equal(a[1], c[1]) and not torch.equal(a[2], c[2])


def test_same_seed_gives_identical_model_init():
    seed_everything(7)
    w1 = nn.Linear(8, 4).weight.detach().clone()
    seed_everything(7)
    w2 = nn.Linear(8, 4).weight.detach().clone()
    assert torch.equal(w1, w2)


def test_deterministic_mode_sets_torch_flags_and_off_restores():
    try:
        seed_everything(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        import os

        assert os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    finally:
        seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert not torch.backends.cudnn.deterministic


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "3", True])
def test_bad_seed_raises(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


def test_make_generator_is_reproducible():
    a = torch.randperm(20, generator=make_generator(5))
    b = torch.randperm(20, generator=make_generator(5))
    c = torch.randperm(20, generator=make_generator(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ---------------------------------------------------------------- batches


def _epoch_indices(batches: TensorBatches) -> list[torch.Tensor]:
    return [b[0] for b in batches]


@pytest.mark.parametrize("n,bs", [(10, 3), (12, 4), (7, 10), (1, 1)])
def test_batches_cover_every_index_exactly_once(n, bs):
    idx = torch.arange(n)
    x = torch.randn(n, 2, 3)
    tb = TensorBatches(idx, x, batch_size=bs, generator=0)
    got = list(tb)
    assert len(got) == len(tb) == math.ceil(n / bs)
    assert all(isinstance(b, tuple) and len(b) == 2 for b in got)
    assert [b[0].shape[0] for b in got[:-1]] == [bs] * (len(got) - 1)
    seen = torch.cat([b[0] for b in got])
    assert torch.equal(torch.sort(seen).values, idx)
    for i_b, x_b in got:  # rows stay aligned across tensors
        assert x_b.shape[1:] == (2, 3)
        assert torch.equal(x_b, x[i_b])


def test_drop_last_drops_the_partial_batch():
    tb = TensorBatches(torch.arange(10), batch_size=3, drop_last=True, generator=1)
    batches = _epoch_indices(tb)
    assert len(tb) == len(batches) == 3
    assert all(b.shape == (3,) for b in batches)
    seen = torch.cat(batches)
    assert seen.unique().numel() == 9  # 9 distinct of 10, none repeated
    assert len(TensorBatches(torch.arange(9), batch_size=3, drop_last=True)) == 3


def test_no_shuffle_keeps_order():
    batches = _epoch_indices(TensorBatches(torch.arange(7), batch_size=3, shuffle=False))
    assert [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    batches = _epoch_indices(TensorBatches(torch.arange(7), batch_size=3, shuffle=False, drop_last=True))
    assert [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5]]


def test_shuffle_differs_per_epoch_and_is_reproducible_with_seeded_generator():
    def orders(seed: int, epochs: int = 3) -> list[torch.Tensor]:
        tb = TensorBatches(torch.arange(50), batch_size=8, generator=make_generator(seed))
        return [torch.cat(_epoch_indices(tb)) for _ in range(epochs)]

    a, b, c = orders(0), orders(0), orders(1)
    assert not torch.equal(a[0], a[1]) and not torch.equal(a[1], a[2])  # new order each epoch
    assert all(torch.equal(x, y) for x, y in zip(a, b))  # same seed, same sequence
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], torch.arange(50))


def test_batches_reject_mismatched_first_dimensions_naming_shapes():
    with pytest.raises(ValueError, match=r"\(10, 3\).*\(9,\)"):
        TensorBatches(torch.zeros(10, 3), torch.zeros(9), batch_size=4)


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"batch_size": 20, "drop_last": True}])
def test_batches_reject_bad_batch_settings(kwargs):
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatches(torch.zeros(10), **kwargs)


# ---------------------------------------------------------------- loop


def _blobs(n: int = 400, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    centers = torch.tensor([[-2.0, -2.0], [2.0, 2.0]])
    x = centers[y] + torch.randn(n, 2, generator=g)
    return x, y


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))


@pytest.mark.usefixtures("one_torch_thread")  # two threads on a busy 2-core machine: 17 s a seed instead of 0.3
@across_seeds()
def test_mlp_learns_two_blobs_and_loss_decreases(seed):
    seed_everything(seed)  # the weights; the blobs and the batch order from their own generators
    x, y = _blobs(seed=seed)
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = TensorBatches(x, y, batch_size=32, generator=seed)
    seen_epochs = []

    def step(m, batch):
        xb, yb = batch
        logits = m(xb)
        return {"loss": F.cross_entropy(logits, yb), "acc": (logits.argmax(1) == yb).float().mean()}

    hist = train_epochs(
        model, batches, step, opt, epochs=6, device="cpu", progress=False,
        on_epoch_end=lambda e, means: seen_epochs.append(e),
    )
    assert list(hist) == ["loss", "acc"]
    assert len(hist["loss"]) == len(hist["acc"]) == 6
    assert all(isinstance(v, float) for v in hist["loss"])
    assert seen_epochs == [1, 2, 3, 4, 5, 6]
    assert hist["loss"][-1] < hist["loss"][0] * 0.5, hist["loss"]
    assert hist["acc"][-1] > 0.95, hist["acc"]
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.95, acc


def test_loop_accepts_plain_loss_scheduler_clipping_and_restores_mode():
    seed_everything(1)
    x, y = _blobs(64)
    model = _mlp().eval()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    modes = []

    def step(m, b):
        modes.append(m.training)
        return F.cross_entropy(m(b[0]), b[1])

    hist = train_epochs(model, TensorBatches(x, y, batch_size=16), step, opt, 2,
                        scheduler=sched, grad_clip=1.0, progress=False, sync_every=3)
    assert list(hist) == ["loss"] and len(hist["loss"]) == 2
    assert all(modes) and not model.training  # train mode inside, previous mode after
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)


def test_loop_progress_bar_runs():
    x, y = _blobs(32)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hist = train_epochs(model, TensorBatches(x, y, batch_size=8), lambda m, b: F.cross_entropy(m(b[0]), b[1]),
                        opt, 2, progress=True, desc="blobs")
    assert len(hist["loss"]) == 2


def test_nan_loss_raises_naming_epoch_and_step():
    x, y = _blobs(40)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = {"n": 0}

    def step(m, b):
        calls["n"] += 1
        loss = F.cross_entropy(m(b[0]), b[1])
        return loss * float("nan") if calls["n"] == 7 else loss  # epoch 2 (5 steps/epoch), step 2

    with pytest.raises(NonFiniteLossError, match=r"epoch 2/3, step 2/5") as info:
        train_epochs(model, TensorBatches(x, y, batch_size=8), step, opt, 3, progress=False)
    assert info.value.epoch == 2 and info.value.step == 2 and info.value.name == "loss"
    assert math.isnan(info.value.value)


def test_inf_extra_raises_with_its_name():
    x, y = _blobs(16)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step(m, b):
        return {"loss": F.cross_entropy(m(b[0]), b[1]), "ratio": torch.tensor(float("inf"))}

    with pytest.raises(NonFiniteLossError, match=r"ratio became inf at epoch 1/1, step 1/2"):
        train_epochs(model, TensorBatches(x, y, batch_size=8), step, opt, 1, progress=False)


def test_loop_rejects_bad_step_outputs():
    x, y = _blobs(16)
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tb = TensorBatches(x, y, batch_size=8)
    with pytest.raises(ValueError, match="scalar loss"):
        train_epochs(model, tb, lambda m, b: F.cross_entropy(m(b[0]), b[1], reduction="none"), opt, 1,
                     progress=False)
    with pytest.raises(ValueError, match="does not require grad"):
        train_epochs(model, tb, lambda m, b: F.cross_entropy(m(b[0]), b[1]).detach(), opt, 1, progress=False)
    with pytest.raises(ValueError, match="'loss' key"):
        train_epochs(model, tb, lambda m, b: {"l": F.cross_entropy(m(b[0]), b[1])}, opt, 1, progress=False)


def test_check_finite_and_epoch_meter():
    assert check_finite(torch.tensor(2.5)) == 2.5
    with pytest.raises(NonFiniteLossError, match="d_loss became nan at epoch 4, step 9"):
        check_finite(float("nan"), name="d_loss", epoch=4, step=9)
    meter = EpochMeter(epoch=1)
    meter.add(1, {"loss": torch.tensor(1.0), "acc": 0.5})
    meter.add(2, {"loss": torch.tensor(3.0), "acc": 1.0})
    assert meter.means() == {"loss": 2.0, "acc": 0.75}
    meter.add(3, {"loss": torch.tensor(float("-inf"))})
    with pytest.raises(NonFiniteLossError, match="step 3"):
        meter.sync()


# ---------------------------------------------------------------- checkpoints


def _trained_model_and_opt(seed: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    model = _mlp()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = _blobs(32, seed)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, opt


def _assert_state_equal(a, b):
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_state_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            _assert_state_equal(u, v)
    else:
        assert a == b


def test_checkpoint_round_trip_restores_parameters_optimizer_and_metadata(tmp_path):
    model, opt = _trained_model_and_opt(0)
    meta = {"epoch": 3, "config": {"lr": 0.01, "layers": [2, 16, 2], "name": "mlp"}, "pair": (1, 2), "x": None}
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", model, opt, **meta)
    assert path.is_file()

    other, other_opt = _trained_model_and_opt(1)
    assert not torch.equal(other[0].weight, model[0].weight)
    got = load_checkpoint(path, other, other_opt)
    assert got == meta
    _assert_state_equal(model.state_dict(), other.state_dict())
    _assert_state_equal(opt.state_dict(), other_opt.state_dict())
    assert load_checkpoint(path) == meta  # metadata only


def test_checkpoint_numpy_float_metadata_is_stored_as_float(tmp_path):
    model, _ = _trained_model_and_opt(0)
    path = save_checkpoint(tmp_path / "c.pt", model, auc=np.float64(0.75))
    got = load_checkpoint(path, model)
    assert got == {"auc": 0.75} and type(got["auc"]) is float


def test_failed_save_with_unpicklable_metadata_keeps_previous_file(tmp_path):
    model, opt = _trained_model_and_opt(0)
    path = save_checkpoint(tmp_path / "c.pt", model, opt, epoch=1)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"metadata\['cfg'\]\['fn'\].*JSON-like"):
        save_checkpoint(path, model, opt, epoch=2, cfg={"fn": lambda z: z})
    with pytest.raises(TypeError, match="JSON-like"):
        save_checkpoint(path, model, opt, weights=torch.zeros(3))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]  # no temp files left


def test_failed_save_midway_keeps_previous_file(tmp_path, monkeypatch):
    model, opt = _trained_model_and_opt(0)
    path = save_checkpoint(tmp_path / "c.pt", model, opt, epoch=1)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, model, opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path, model, opt) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_missing_and_corrupt_checkpoints_name_the_file(tmp_path):
    model = _mlp()
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(missing, model)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        load_checkpoint(corrupt, model)
    good = save_checkpoint(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated, model)
    foreign = tmp_path / "foreign.pt"
    torch.save(model.state_dict(), foreign)
    with pytest.raises(CheckpointError, match="foreign.pt.*not an asdlib checkpoint"):
        load_checkpoint(foreign, model)


def test_checkpoint_that_does_not_fit_raises_naming_file(tmp_path):
    path = save_checkpoint(tmp_path / "small.pt", _mlp())
    with pytest.raises(CheckpointError, match="small.pt"):
        load_checkpoint(path, nn.Linear(3, 3))
    with pytest.raises(CheckpointError, match="no optimizer state"):
        m = _mlp()
        load_checkpoint(path, m, torch.optim.SGD(m.parameters(), lr=0.1))


# ---------------------------------------------------------------- device and AMP


def test_resolve_device_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_resolve_device_cuda_without_cuda_raises_clearly(spec):
    with pytest.raises(ValueError, match=r"device=.*CUDA is not available.*'auto'.*'cpu'"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["gpu", "tpu", "cuda:x"])
def test_resolve_device_rejects_unknown_values(spec):
    with pytest.raises(ValueError, match=r"device=.*valid values"):
        resolve_device(spec)


def test_autocast_on_cpu_is_a_noop():
    ctx = autocast("cpu")
    assert isinstance(ctx, contextlib.nullcontext)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast("cpu"):
        out = a @ b
        assert not torch.is_autocast_enabled("cpu")
    assert out.dtype == torch.float32
    assert isinstance(autocast("cpu", enabled=False), contextlib.nullcontext)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_bf16_and_batches_on_device():
    dev = resolve_device("cuda")
    with autocast(dev):
        out = torch.randn(4, 4, device=dev) @ torch.randn(4, 4, device=dev)
    assert out.dtype == torch.bfloat16
    tb = TensorBatches(torch.arange(10, device=dev), batch_size=4, generator=0)
    batches = [b[0] for b in tb]
    assert all(b.device == dev for b in batches)
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(10, device=dev))
    with pytest.raises(ValueError, match="make_generator"):
        TensorBatches(torch.arange(10, device=dev), batch_size=4, generator=torch.Generator())
