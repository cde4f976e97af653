"""The shared infrastructure under the paper recipes: inference, shared layers, the epoch skeleton,
class targets from the clip index, clip patches, and the old import paths that re-export them."""

from __future__ import annotations

import ast
import contextlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import asdlib.models.inference as inference
from asdlib.data.classes import (
    AttributeTask,
    attribute_tasks,
    auxiliary_classes,
    class_codes,
    encode_targets,
    section_codes,
    section_task,
)
from asdlib.features import patches
from asdlib.features.frames import ClipPatches, as_clip_patches, patch_clips
from asdlib.models.inference import autocast_bf16, eval_no_grad, inference_device, map_batches, module_device, predict
from asdlib.models.layers import DenseBlock, Float32ConvTranspose2d, Float32Linear, fc_decoder, fc_encoder
from asdlib.train.loop import format_means, frozen, run_epochs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ASDLIB = Path(__file__).resolve().parents[1] / "asdlib"


def bn_net(seed: int = 0) -> nn.Module:
    """Linear -> BatchNorm -> ReLU -> Linear, with running statistics far from a batch's own."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3))
    net[1].running_mean.fill_(0.7)
    net[1].running_var.fill_(3.0)
    return net


# ----------------------------------------------------------------------------- eval_no_grad, predict


@pytest.mark.parametrize("training", [True, False])
def test_predict_runs_in_eval_mode_without_grad_and_restores_the_mode(training):
    net = bn_net().train(training)
    x = torch.randn(11, 6)
    seen = []

    def fn(m, xb):
        seen.append((m.training, torch.is_grad_enabled()))
        return m(xb)

    out = predict(net, x, fn, batch_size=4)
    assert net.training is training  # restored
    assert seen == [(False, False)] * 3  # ceil(11 / 4) batches, all in eval mode, no grad
    assert out.shape == (11, 3) and out.dtype == torch.float32 and not out.requires_grad and out.device.type == "cpu"
    with torch.no_grad():
        expected = net.eval()(x)  # eval mode: the running statistics, not the batch's
    torch.testing.assert_close(out, expected)


def test_predict_restores_the_mode_after_an_error():
    net = bn_net().train()

    def fails(m, xb):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        predict(net, torch.randn(4, 6), fails, batch_size=2)
    assert net.training
    with pytest.raises(RuntimeError, match="boom"), eval_no_grad(net):
        raise RuntimeError("boom")
    assert net.training


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
def test_batches_give_the_result_of_one_pass(batch_size):
    net = bn_net(1)
    x = torch.randn(20, 6, dtype=torch.float64)  # cast to float32 per batch
    whole = predict(net, x, batch_size=len(x))
    torch.testing.assert_close(predict(net, x, batch_size=batch_size), whole)
    # to_cpu="batch" and None give the same values
    torch.testing.assert_close(predict(net, x, batch_size=batch_size, to_cpu="batch"), whole)
    torch.testing.assert_close(predict(net, x, batch_size=batch_size, to_cpu=None), whole)


def test_autocast_is_used_when_asked(monkeypatch):
    """amp=True enters autocast_bf16 (a bf16 CPU autocast stands in for CUDA's here); amp=False does not;
    outputs come back as float32 unless out_dtype=None."""
    calls = []

    def cpu_bf16(device, enabled=True):
        calls.append((device.type, enabled))
        return torch.autocast("cpu", dtype=torch.bfloat16)

    monkeypatch.setattr(inference, "autocast_bf16", cpu_bf16)
    net = nn.Linear(6, 3)
    x = torch.randn(5, 6)
    dtypes = []

    def fn(m, xb):
        y = m(xb)
        dtypes.append(y.dtype)
        return y

    out = predict(net, x, fn, batch_size=5, amp=True)
    assert calls == [("cpu", True)] and dtypes == [torch.bfloat16] and out.dtype == torch.float32
    assert predict(net, x, fn, batch_size=5, amp=True, out_dtype=None).dtype == torch.bfloat16
    calls.clear()
    dtypes.clear()
    assert predict(net, x, fn, batch_size=5).dtype == torch.float32
    assert calls == [] and dtypes == [torch.float32]


def test_autocast_bf16_is_a_no_op_on_the_cpu():
    assert isinstance(autocast_bf16(torch.device("cpu"), True), contextlib.nullcontext)
    assert isinstance(autocast_bf16(torch.device("cpu"), False), contextlib.nullcontext)


@pytest.mark.skipif(not torch.cuda.is_available() or not torch.cuda.is_bf16_supported(), reason="needs CUDA with bf16")
def test_predict_amp_on_cuda():
    net = bn_net().cuda()
    x = torch.randn(9, 6)
    seen = []

    def fn(m, xb):
        seen.append(torch.is_autocast_enabled("cuda"))
        return m(xb)

    out = predict(net, x, fn, batch_size=4, amp=True)
    assert seen == [True] * 3 and out.dtype == torch.float32 and out.device.type == "cpu"
    torch.testing.assert_close(out, predict(net, x, batch_size=9), atol=0.05, rtol=0.05)
    assert predict(net, x, fn, batch_size=4).shape == (9, 3) and seen[-1] is False


def test_map_batches_several_inputs_tuples_and_errors():
    feats = torch.arange(12.0, dtype=torch.float64).reshape(6, 2)
    labels = torch.arange(6)
    seen = []

    def fn(xb, yb):
        seen.append((xb.dtype, yb.dtype))
        return xb.sum(1), None, yb

    total, nothing, back = map_batches(fn, (feats, labels), batch_size=4, device="cpu", dtype=(torch.float32, None),
                                       out_dtype=None)
    assert seen == [(torch.float32, torch.int64)] * 2
    assert nothing is None and total.tolist() == [1, 5, 9, 13, 17, 21] and back.tolist() == list(range(6))
    with pytest.raises(ValueError, match="first dimension"):
        map_batches(fn, (feats, labels[:5]), batch_size=4, device="cpu")
    with pytest.raises(ValueError, match="no rows"):
        map_batches(lambda x: x, torch.zeros(0, 3), batch_size=4, device="cpu")
    with pytest.raises(ValueError, match="batch_size"):
        map_batches(lambda x: x, feats, batch_size=0, device="cpu")


def test_devices():
    assert module_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU
    assert inference_device(None, torch.device("cpu")) == torch.device("cpu")
    assert inference_device("cpu", torch.device("meta")) == torch.device("cpu")
    expected = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    assert inference_device("auto", torch.device("meta")) == expected


# ----------------------------------------------------------------------------- layers


def test_float32_layers_compute_in_float32_under_autocast():
    torch.manual_seed(0)
    lin, conv = Float32Linear(4, 3), Float32ConvTranspose2d(2, 1, 4, 2, 1)
    x, z = torch.randn(5, 4), torch.randn(2, 2, 3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert lin(x.bfloat16()).dtype == torch.float32
        assert conv(z.bfloat16()).dtype == torch.float32
        assert nn.Linear(4, 3)(x).dtype == torch.bfloat16  # what the float32 layers avoid
    torch.testing.assert_close(lin(x), nn.functional.linear(x, lin.weight, lin.bias))


def test_fc_blocks():
    enc, dec = fc_encoder(10, 6, 2, 3), fc_decoder(2, 6, 10, 3)
    assert [type(m) for m in enc] == [DenseBlock] * 4 and isinstance(dec[-1], Float32Linear)
    assert enc(torch.randn(4, 10)).shape == (4, 2) and dec(torch.randn(4, 2)).shape == (4, 10)
    assert isinstance(fc_encoder(10, 6, 2, 1, out_bn_relu=False)[-1], nn.Linear)


# ----------------------------------------------------------------------------- epoch skeleton


def test_frozen_sets_requires_grad_back_even_after_an_error():
    params = list(nn.Linear(2, 2).parameters())
    with frozen(params):
        assert not any(p.requires_grad for p in params)
    assert all(p.requires_grad for p in params)
    with pytest.raises(RuntimeError), frozen(params):
        raise RuntimeError
    assert all(p.requires_grad for p in params)


def test_run_epochs_history_modes_and_hooks():
    a, b = nn.Linear(1, 1).eval(), nn.Linear(1, 1).train()
    modes, synced, ended = [], [], []

    def step(epoch, i, batch):
        modes.append((a.training, b.training))
        values = {"x": float(batch)}
        if epoch == 2:
            values["late"] = 1.0  # a name only the second epoch has
        return values

    history = run_epochs(
        step, [1, 2, 3], 2, modules=[a, b], progress=False, sync_every=2, postfix=format_means,
        after_sync=synced.append, epoch_means=lambda e, m: {**m, "epoch": float(e)},
        on_epoch_end=lambda e, m: ended.append(e),
    )
    assert modes == [(True, True)] * 6 and not a.training and b.training  # train mode inside, restored after
    assert synced == [2, 2] and ended == [1, 2]
    assert history["x"] == [2.0, 2.0] and history["epoch"] == [1.0, 2.0]
    assert math.isnan(history["late"][0]) and history["late"][1] == 1.0
    assert run_epochs(step, [], 1, progress=False) == {}
    with pytest.raises(ValueError, match="no batch"):
        run_epochs(step, [], 1, progress=False, empty_epochs=False)
    assert format_means({"loss": 0.123456789}) == {"loss": "0.1235"}


# ----------------------------------------------------------------------------- class targets


def tiny_index() -> pd.DataFrame:
    return pd.DataFrame({
        "machine_type": ["fan", "fan", "valve", "fan", "fan"],
        "section": [1, 0, 0, 1, 0],
        "attribute_string": ["m_1", "m_2", "", "m_2", "m_2"],
        "domain": ["source", "source", "source", "target", "source"],
    })


def test_class_codes_rule():
    codes = class_codes(["b", None, "a", "z", "b"], ["a", "b"])
    assert codes.dtype == np.int64 and codes.tolist() == [1, -1, 0, -1, 1]
    assert class_codes([], ["a"]).shape == (0,)


def test_section_and_auxiliary_codes_of_a_hand_made_index():
    index = tiny_index()
    codes, names = section_codes(index)
    assert names == ["fan/section_00", "fan/section_01", "valve/section_00"]
    assert codes.dtype == np.int64 and codes.tolist() == [1, 0, 2, 1, 0]
    assert section_codes(index.iloc[::-1], names)[0].tolist() == [0, 1, 2, 0, 1]  # the training coding
    with pytest.raises(ValueError, match="not among"):
        section_codes(index, names[:2])

    aux, aux_names = auxiliary_classes(index)
    assert aux_names == [
        "fan/section_00/m_2/source", "fan/section_01/m_1/source", "fan/section_01/m_2/target",
        "valve/section_00/-/source",
    ]
    assert aux.tolist() == [1, 0, 3, 2, 0]
    no_domain, nd_names = auxiliary_classes(index, include_domain=False)
    assert nd_names == ["fan/section_00/m_2", "fan/section_01/m_1", "fan/section_01/m_2", "valve/section_00/-"]
    assert no_domain.tolist() == [1, 0, 3, 2, 0]


def test_attribute_tasks_of_a_hand_made_index():
    rows = pd.DataFrame({
        "machine_type": "fan",
        "section": [2, 0, 0, 2],
        "attribute_string": ["spd_10V_mic_b", "spd_20V_mic_a", "spd_30V_mic_b", "mic_a"],
    })
    tasks = attribute_tasks(rows)
    assert [(t.name, t.kind) for t in tasks] == [("section", "classification"), ("mic", "classification"),
                                                 ("spd", "regression")]
    sec, mic, spd = tasks
    assert isinstance(sec, AttributeTask) and sec.classes == (0, 2) and sec.targets.tolist() == [1, 0, 0, 1]
    assert mic.classes == ("a", "b") and mic.targets.dtype == torch.int64 and mic.targets.tolist() == [1, 0, 1, 0]
    assert spd.unit == "V" and spd.mean == 20.0 and torch.isnan(spd.targets[3])
    np.testing.assert_allclose(spd.targets[:3].numpy(), (np.array([10, 20, 30]) - 20) / np.std([10, 20, 30]),
                               rtol=1e-6)
    test_rows = pd.DataFrame({"machine_type": "fan", "section": [0, 1], "attribute_string": ["mic_c", "mic_b"]})
    enc = encode_targets(tasks, test_rows)
    assert enc["section"].tolist() == [0, -1] and enc["mic"].tolist() == [-1, 1]  # unseen classes: -1
    assert section_task(rows).targets.tolist() == sec.targets.tolist()


# ----------------------------------------------------------------------------- clip patches


def test_clip_patches_in_the_features_layer():
    spec = torch.arange(2 * 3 * 10, dtype=torch.float64).reshape(2, 3, 10)
    cp = patch_clips(spec, size=4, hop=3)
    assert isinstance(cp, ClipPatches) and cp.lazy and len(cp) == 2 * 3
    assert (cp.n_clips, cp.per_clip, cp.patch_shape) == (2, 3, (3, 4))
    torch.testing.assert_close(cp.materialize(), patches(spec, hop=3, size=4))
    batch = cp.take(torch.tensor([1, 0]), torch.tensor([2, 0]))
    assert batch.shape == (2, 1, 3, 4) and batch.dtype == torch.float32
    torch.testing.assert_close(batch[0, 0], spec[1, :, 6:10].float())
    torch.testing.assert_close(batch[1, 0], spec[0, :, 0:4].float())
    assert cp.clip(1).shape == (3, 1, 3, 4)
    pre = as_clip_patches(patches(spec, hop=3, size=4))
    assert not pre.lazy and torch.equal(pre.materialize(), cp.materialize())
    with pytest.raises(ValueError, match="shorter"):
        patch_clips(spec, size=11)


# ----------------------------------------------------------------------------- old import paths


def test_old_import_paths_reexport_the_same_objects():
    import asdlib.features
    import asdlib.features.frames as frames
    import asdlib.models
    import asdlib.models.aegan as models_aegan
    import asdlib.models.aithu_classifiers as aithu
    import asdlib.models.dcase_ae as dcase_ae
    import asdlib.models.layers as layers
    import asdlib.train
    import asdlib.train.aegan as train_aegan
    import asdlib.train.ustc as train_ustc
    from asdlib.data import classes

    pairs = [
        (dcase_ae.eval_no_grad, inference.eval_no_grad),
        (dcase_ae.module_device, inference.module_device),
        (dcase_ae.Float32Linear, layers.Float32Linear),
        (dcase_ae.DenseBlock, layers.DenseBlock),
        (dcase_ae.fc_encoder, layers.fc_encoder),
        (dcase_ae.fc_decoder, layers.fc_decoder),
        (asdlib.models.DenseBlock, layers.DenseBlock),
        (models_aegan.ClipPatches, frames.ClipPatches),
        (models_aegan.patch_clips, frames.patch_clips),
        (models_aegan.as_clip_patches, frames.as_clip_patches),
        (asdlib.models.ClipPatches, frames.ClipPatches),
        (asdlib.models.patch_clips, frames.patch_clips),
        (asdlib.features.ClipPatches, frames.ClipPatches),
        (train_aegan.patch_clips, frames.patch_clips),
        (train_ustc.section_codes, classes.section_codes),
        (asdlib.train.section_codes, classes.section_codes),
        (aithu.AttributeTask, classes.AttributeTask),
        (aithu.attribute_tasks, classes.attribute_tasks),
        (aithu.encode_targets, classes.encode_targets),
        (aithu.section_task, classes.section_task),
        (asdlib.models.attribute_tasks, classes.attribute_tasks),
    ]
    for old, new in pairs:
        assert old is new, (old, new)
    for module, names in [(dcase_ae, ["eval_no_grad", "module_device", "Float32Linear", "DenseBlock"]),
                          (models_aegan, ["ClipPatches", "patch_clips", "as_clip_patches"]),
                          (train_ustc, ["section_codes"]), (train_aegan, ["patch_clips"]),
                          (aithu, ["AttributeTask", "attribute_tasks", "encode_targets", "section_task"])]:
        assert set(names) <= set(module.__all__), module.__name__


def _asdlib_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("asdlib."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("asdlib."))
    return out


@pytest.mark.parametrize("layer, above", [
    ("data", {"features", "models", "losses", "train", "backends", "metrics"}),
    ("features", {"models", "losses", "train", "backends", "metrics"}),
    ("models", {"train", "backends", "metrics"}),
    ("losses", {"train", "backends", "metrics"}),
])
def test_lower_layers_import_no_higher_one(layer, above):
    """The import direction data -> features -> models/losses -> train -> backends -> metrics."""
    wrong = {str(p.relative_to(ASDLIB)): sorted(_asdlib_imports(p) & above) for p in (ASDLIB / layer).rglob("*.py")}
    assert not {k: v for k, v in wrong.items() if v}


def test_model_and_trainer_barrels_import_lazily_and_resolve_every_name():
    """`import asdlib.models` / `asdlib.train` loads no model module (zuko, torchaudio stay out)
    until a name is used; every name the barrels list resolves to its module's object."""
    import importlib
    import subprocess
    import sys

    code = ("import sys, asdlib.models, asdlib.train\n"
            "print(sorted(m for m in ('zuko', 'torchaudio', 'asdlib.models.imdn', 'asdlib.train.wav2vec2') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    for package in ("asdlib.models", "asdlib.train"):
        barrel = importlib.import_module(package)
        for name in barrel.__all__:
            module, _, attribute = barrel._EXPORTS[name].partition(":")
            assert getattr(barrel, name) is getattr(importlib.import_module(f"{package}.{module}"), attribute or name)
        with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
            barrel.nothing
