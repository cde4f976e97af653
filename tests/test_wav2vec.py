"""wav2vec (v1, Schneider et al. 2019), the SC-wav2vec feature extractor of paper 000:
frame arithmetic, receptive fields, the contrastive loss, pre-training on a toy signal,
and loading fairseq checkpoints (written here in fairseq's layout, no fairseq needed)."""

from __future__ import annotations

import argparse
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from asdlib.models.wav2vec import Wav2Vec, Wav2VecConfig, features, sample_negatives, wav2vec_loss
from asdlib.train.wav2vec import _lr_lambda, load_fairseq_wav2vec, pretrain_wav2vec
from asdlib.train import CheckpointError, seed_everything
from conftest import across_seeds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def conv_frames(n: int, layers) -> int:
    """Output length of unpadded 1-d convolutions, written out independently of the module."""
    for _, k, s in layers:
        n = math.floor((n - k) / s) + 1
    return n


# ----------------------------------------------------------------------------- architecture


def test_frames_for_1s_and_10s():
    cfg = Wav2VecConfig()
    assert [(k, s) for _, k, s in cfg.conv_feature_layers] == [(10, 5), (8, 4), (4, 2), (4, 2), (4, 2)]
    assert len(cfg.conv_aggregator_layers) == 9 and {k for _, k, _ in cfg.conv_aggregator_layers} == {3}
    # 16000 -> 3199 -> 798 -> 398 -> 198 -> 98; 160000 -> ... -> 998
    assert conv_frames(16_000, cfg.conv_feature_layers) == cfg.frames(16_000) == 98
    assert conv_frames(160_000, cfg.conv_feature_layers) == cfg.frames(160_000) == 998
    for n in (465, 466, 624, 625, 12_345):
        assert cfg.frames(n) == conv_frames(n, cfg.conv_feature_layers)
    assert cfg.frames(464) == 0

    model = Wav2Vec().eval()  # the paper's size: 512 channels
    with torch.no_grad():
        z = model.encode(torch.randn(2, 16_000))
        c = model(torch.randn(2, 16_000))
    assert z.shape == c.shape == (2, 512, 98)
    tiny = Wav2Vec(channels=8, n_context_layers=2, prediction_steps=3).eval()
    with torch.no_grad():
        assert tiny(torch.randn(1, 160_000)).shape == (1, 8, 998)
        assert tiny(torch.randn(16_000)).shape == (1, 8, 98)  # a single waveform
    with pytest.raises(ValueError, match="465"):
        tiny(torch.randn(1, 400))


def test_receptive_field_and_hop():
    cfg = Wav2VecConfig()
    assert cfg.hop == 160 and cfg.hop / 16 == 10.0  # 10 ms at 16 kHz
    assert cfg.receptive_field == 465 and abs(cfg.receptive_field / 16 - 30) < 1  # "about 30 ms"
    assert cfg.context_receptive_field == 465 + 18 * 160 and abs(cfg.context_receptive_field / 16 - 210) < 1.5
    large = Wav2VecConfig.large()
    assert large.receptive_field == 465 and abs(large.context_receptive_field / 16 - 810) < 1.5
    assert cfg.fairseq_auto_offset == 3

    # behaviourally: an impulse at sample p reaches exactly the frames t with 160 t <= p < 160 t + 465
    model = Wav2Vec(channels=4, n_context_layers=1, prediction_steps=2)
    convs = [block[0] for block in model.feature_extractor.conv_layers]
    for p in (0, 300, 1_000, 1_234):
        x = torch.zeros(1, 1, 2_000)
        x[..., p] = 1.0
        with torch.no_grad():
            for conv in convs:
                x = F.conv1d(x, conv.weight.abs() + 0.01, stride=conv.stride)
        reached = set((x[0].sum(0) > 0).nonzero().flatten().tolist())
        assert reached == {t for t in range(x.shape[-1]) if 160 * t <= p < 160 * t + 465}, p


def test_context_network_is_causal_and_keeps_length():
    model = Wav2Vec(channels=6, n_context_layers=3, prediction_steps=2).eval()
    z = torch.randn(1, 6, 20)
    with torch.no_grad():
        assert model.aggregate(z).shape == (1, 6, 20)
        for block in model.feature_aggregator.conv_layers:  # pad + convolution: no look-ahead
            pad_conv = torch.nn.Sequential(block[0], block[1])
            changed = z.clone()
            changed[..., 12] += 5.0
            diff = (pad_conv(changed) - pad_conv(z)).abs().sum(1)[0]
            assert diff[:12].max() == 0 and diff[12] > 0
    # GroupNorm has one group: normalised over channels and time of each example
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert len(norms) == 5 + 3 and all(n.num_groups == 1 for n in norms)
    # the scale and offset of the input do not matter
    wave = torch.randn(2, 4_000)
    with torch.no_grad():
        torch.testing.assert_close(model(wave), model(3.0 * wave + 0.0), atol=1e-4, rtol=1e-4)


# ----------------------------------------------------------------------------- objective


def test_negatives_come_from_the_same_sequence_and_never_the_target():
    b, t = 3, 7
    z = (100.0 * torch.arange(b)[:, None] + torch.arange(t)[None, :]).unsqueeze(1).repeat(1, 2, 1)  # (B, 2, T)
    negs = sample_negatives(z, num_negatives=50, generator=torch.Generator().manual_seed(0))
    assert negs.shape == (b, 50, 2, t)
    assert torch.equal(negs[:, :, 0], negs[:, :, 1])  # whole frames are copied
    seq, frame = negs[:, :, 0] // 100, negs[:, :, 0] % 100
    assert torch.equal(seq, torch.arange(b).view(b, 1, 1).expand(b, 50, t).float())
    assert not (frame == torch.arange(t).float()).any()
    assert set(frame[0, :, 0].long().tolist()) == set(range(1, t))  # uniform over the other frames


def test_loss_value_on_orthogonal_frames():
    # z_t = e_t (one-hot, orthonormal frames): a perfect prediction h_k(c_i) = a * z_{i+k} has
    # positive logit a and negative logits 0, so every term is softplus(-a) + N log 2 (lambda = N).
    b, t, n, k, a = 2, 9, 10, 12, 4.0
    z = torch.eye(t).expand(b, t, t).clone()
    pred = torch.zeros(b, t, t, k)
    for s in range(k):
        for i in range(t - (s + 1)):
            pred[:, :, i, s] = a * z[:, :, i + s + 1]
    loss = wav2vec_loss(pred, z, offset=1, num_negatives=n, generator=torch.Generator().manual_seed(0))
    assert float(loss) == pytest.approx(F.softplus(torch.tensor(-a)).item() + n * math.log(2), rel=1e-5)
    zero = wav2vec_loss(torch.zeros(b, t, t, k), z, num_negatives=n)
    assert float(zero) == pytest.approx((1 + n) * math.log(2), rel=1e-6)
    # a wrong prediction (one frame late) costs more than a random guess
    late = torch.zeros(b, t, t, k)
    late[:, :, : t - 2, 0] = a * z[:, :, 2:]
    wrong = wav2vec_loss(late, z, num_negatives=n, generator=torch.Generator().manual_seed(0))
    assert float(wrong) > float(zero)
    # explicit negatives give the same value; too few frames for the offset is an error
    negs = sample_negatives(z, n, torch.Generator().manual_seed(1))
    torch.testing.assert_close(wav2vec_loss(pred, z, negatives=negs), loss)
    with pytest.raises(ValueError, match="too short"):
        wav2vec_loss(pred[:, :, :3], z[:, :, :3], offset=3)


def toy_signal(n_clips: int, n_samples: int, seed: int, segment: int = 480) -> np.ndarray:
    """A periodic toy signal: a cycle of four tones (3 frames each, different pitch and level),
    each clip starting at a random point of the cycle with a random phase."""
    rng = np.random.default_rng(seed)
    freqs, levels = np.array([300.0, 700.0, 1500.0, 3100.0]), np.array([1.0, 0.05, 0.5, 0.2])
    t = np.arange(n_samples)
    out = np.zeros((n_clips, n_samples), dtype=np.float32)
    for i in range(n_clips):
        which = ((t + rng.integers(0, 4 * segment)) // segment) % 4
        out[i] = levels[which] * np.sin(2 * np.pi * freqs[which] * t / 16_000 + rng.uniform(0, 2 * np.pi))
    return out + 0.01 * rng.standard_normal(out.shape).astype(np.float32)


def chance_floor(n: int) -> float:
    """The loss when positives and distractors are indistinguishable (one logit l for all, at its
    optimum l = -log N): log(1 + N) + N log(1 + 1/N) (3.35 for N = 10)."""
    return math.log(1 + n) + n * math.log(1 + 1 / n)


@across_seeds()
def test_pretraining_lowers_the_contrastive_loss(seed):
    # the seed: the toy signal, the weights, and the clip order, crops and distractors
    waves = toy_signal(32, 8_000, seed=seed)
    kwargs = {"batch_size": 8, "lr": 3e-3, "crop_samples": 3_000, "device": "cpu", "seed": seed}

    # the paper's objective (10 distractors, lambda = 10): the loss falls from the first epoch
    seed_everything(seed)
    model = Wav2Vec(channels=32, n_context_layers=2, prediction_steps=4)
    assert model.training
    history = pretrain_wav2vec(model, waves, epochs=6, **kwargs)
    assert set(history) == {"loss"} and len(history["loss"]) == 6
    assert all(math.isfinite(v) for v in history["loss"])
    print(f"seed {seed}, 10 distractors: loss {[round(v, 3) for v in history['loss']]} (floor {chance_floor(10):.3f})")
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    assert model.training  # mode restored

    # ... down to about the chance floor (all logits equal), where a tiny model stays for a few
    # hundred updates (the lambda = 10 weighting makes it sticky). With one distractor it predicts
    # the next tones at once and goes well below chance: future frames are actually told apart.
    seed_everything(seed)
    model = Wav2Vec(channels=32, n_context_layers=2, prediction_steps=4, num_negatives=1)
    history = pretrain_wav2vec(model, waves, epochs=12, **kwargs)
    print(f"seed {seed}, 1 distractor: loss {[round(v, 3) for v in history['loss']]} (floor {chance_floor(1):.3f})")
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    assert history["loss"][-1] < chance_floor(1) - 0.5, history["loss"]

    # frozen features: eval mode, no gradients, on the CPU, equal to the model's output
    model.train()
    c = features(model, waves[:3], batch_size=2)
    assert c.shape == (3, 32, 48) and c.device.type == "cpu" and not c.requires_grad
    assert model.training
    with torch.no_grad():
        torch.testing.assert_close(c, model.eval()(torch.as_tensor(waves[:3])))
        torch.testing.assert_close(features(model, waves[:1], layer="z"), model.encode(torch.as_tensor(waves[:1])))


def test_pretraining_schedule_and_arguments():
    waves = toy_signal(4, 3_000, seed=1)
    seed_everything(1)
    model = Wav2Vec(channels=8, n_context_layers=1, prediction_steps=2)
    h1 = pretrain_wav2vec(model, waves, epochs=2, batch_size=2, lr=1e-3, crop_samples=2_000, device="cpu",
                          seed=3, warmup_updates=2, final_lr=1e-5)
    seed_everything(1)
    again = Wav2Vec(channels=8, n_context_layers=1, prediction_steps=2)
    h2 = pretrain_wav2vec(again, waves, epochs=2, batch_size=2, lr=1e-3, crop_samples=2_000, device="cpu",
                          seed=3, warmup_updates=2, final_lr=1e-5)
    assert h1 == h2  # same seeds, same run
    # AITHU's schedule: 1e-7 -> 5e-3 linearly over 500 updates, then cosine down to 1e-6
    factor = _lr_lambda(5e-3, 500, 1e-7, 1e-6, total=10_500)
    lrs = {u: 5e-3 * factor(u) for u in (0, 250, 500, 5_500, 10_500)}
    assert lrs[0] == pytest.approx(1e-7) and lrs[500] == pytest.approx(5e-3) and lrs[10_500] == pytest.approx(1e-6)
    assert lrs[250] == pytest.approx((1e-7 + 5e-3) / 2) and lrs[5_500] == pytest.approx((5e-3 + 1e-6) / 2)
    with pytest.raises(ValueError, match="frames"):
        pretrain_wav2vec(model, waves[:, :500], epochs=1, crop_samples=500, device="cpu")
    with pytest.raises(ValueError, match="crop_samples"):
        pretrain_wav2vec(model, waves, epochs=1, crop_samples=0, device="cpu")


# ----------------------------------------------------------------------------- fairseq checkpoints


class _Opaque:
    """Something weights_only unpickling refuses."""


def fairseq_state(enc, agg, steps, *, skip_agg=False, conv_bias=True, seed=0) -> dict[str, torch.Tensor]:
    """A wav2vec state dict with fairseq's key names, built from the layer lists (not from asdlib)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.3

    state, in_d = {}, 1
    for i, (dim, k, _) in enumerate(enc):
        state[f"feature_extractor.conv_layers.{i}.0.weight"] = rnd(dim, in_d, k)
        state[f"feature_extractor.conv_layers.{i}.2.weight"] = 1 + rnd(dim)
        state[f"feature_extractor.conv_layers.{i}.2.bias"] = rnd(dim)
        in_d = dim
    for j, (dim, k, _) in enumerate(agg):
        if skip_agg and in_d != dim:
            state[f"feature_aggregator.residual_proj.{j}.weight"] = rnd(dim, in_d, 1)
        state[f"feature_aggregator.conv_layers.{j}.1.weight"] = rnd(dim, in_d, k)
        if conv_bias:
            state[f"feature_aggregator.conv_layers.{j}.1.bias"] = rnd(dim)
        state[f"feature_aggregator.conv_layers.{j}.3.weight"] = 1 + rnd(dim)
        state[f"feature_aggregator.conv_layers.{j}.3.bias"] = rnd(dim)
        in_d = dim
    state["wav2vec_predictions.project_to_steps.weight"] = rnd(in_d, enc[-1][0], 1, steps)
    state["wav2vec_predictions.project_to_steps.bias"] = rnd(enc[-1][0])
    return state


def reference_features(state, enc, agg, wave, *, log_compression=False, skip_agg=False, zero_pad=False):
    """fairseq's forward pass written out with torch.nn.functional."""
    x = wave.unsqueeze(1)
    for i, (_, _, s) in enumerate(enc):
        x = F.conv1d(x, state[f"feature_extractor.conv_layers.{i}.0.weight"], stride=s)
        x = F.group_norm(x, 1, state[f"feature_extractor.conv_layers.{i}.2.weight"],
                         state[f"feature_extractor.conv_layers.{i}.2.bias"])
        x = F.relu(x)
    if log_compression:
        x = torch.log(x.abs() + 1)
    for j, (_, k, _) in enumerate(agg):
        res = x
        h = F.pad(x, (k - 1, 0)) if zero_pad else F.pad(x, (k - 1, 0), mode="replicate")
        h = F.conv1d(h, state[f"feature_aggregator.conv_layers.{j}.1.weight"],
                     state.get(f"feature_aggregator.conv_layers.{j}.1.bias"))
        h = F.relu(F.group_norm(h, 1, state[f"feature_aggregator.conv_layers.{j}.3.weight"],
                                state[f"feature_aggregator.conv_layers.{j}.3.bias"]))
        if skip_agg:
            proj = state.get(f"feature_aggregator.residual_proj.{j}.weight")
            res = F.conv1d(res, proj) if proj is not None else res
            h = (h + res) * math.sqrt(0.5)
        x = h
    return x


BASE_ENC = [(16, 10, 5), (16, 8, 4), (16, 4, 2), (16, 4, 2), (16, 4, 2)]
BASE_AGG = [(16, 3, 1)] * 2


def base_args(**kw) -> argparse.Namespace:
    args = {
        "arch": "wav2vec", "task": "audio_pretraining", "criterion": "wav2vec",
        "conv_feature_layers": "[(16, 10, 5)] + [(16, 8, 4)] + [(16, 4, 2)] * 3",
        "conv_aggregator_layers": "[(16, 3, 1)] * 2", "prediction_steps": 4, "num_negatives": 10, "offset": "auto",
        "aggregator": "cnn", "encoder": "cnn", "vq_type": "none", "project_features": "none", "log_compression": False,
        "skip_connections_agg": False, "sample_distance": None, "lr": [0.005], "max_sample_size": 150_000,
    }
    args.update(kw)
    return argparse.Namespace(**args)


def save_fairseq(path, model_state, args=None, cfg=None, **extra):
    payload = {
        "args": args, "model": model_state,
        "optimizer_history": [{"criterion_name": "BinaryCrossEntropyCriterion", "optimizer_name": "FairseqAdam",
                               "lr_scheduler_state": {"best": 2.5}, "num_updates": 1000}],
        "extra_state": {"epoch": 3, "train_iterator": {"epoch": 3, "iterations_in_epoch": 0}},
        "last_optimizer_state": {"state": {}, "param_groups": [{"lr": 0.005}]},
    }
    if cfg is not None:
        payload["cfg"] = cfg
    payload.update(extra)
    torch.save(payload, path)
    return path


def test_load_argparse_era_checkpoint(tmp_path):
    state = fairseq_state(BASE_ENC, BASE_AGG, steps=4)
    path = save_fairseq(tmp_path / "wav2vec_small.pt", state, args=base_args())
    model = load_fairseq_wav2vec(path)
    assert not model.training
    cfg = model.config
    assert cfg.conv_feature_layers == tuple(BASE_ENC) and cfg.conv_aggregator_layers == tuple(BASE_AGG)
    assert cfg.prediction_steps == 4 and cfg.num_negatives == 10 and cfg.offset == 3  # "auto"
    # every checkpoint tensor mapped, every parameter filled
    ours = model.state_dict()
    assert set(ours) == set(state)
    for k, v in state.items():
        assert torch.equal(ours[k], v), k
    wave = torch.randn(2, 6_000)
    with torch.no_grad():
        torch.testing.assert_close(model(wave), reference_features(state, BASE_ENC, BASE_AGG, wave))
        torch.testing.assert_close(features(model, wave), model(wave))
    # into an existing model of the same architecture
    target = Wav2Vec(Wav2VecConfig.base(channels=16, n_context_layers=2, prediction_steps=4))
    assert load_fairseq_wav2vec(path, target) is target
    with torch.no_grad():
        torch.testing.assert_close(target(wave), model(wave))
    assert target.config.offset == 3
    # ... but not into a different one
    with pytest.raises(CheckpointError, match="conv_aggregator_layers") as err:
        load_fairseq_wav2vec(path, Wav2Vec(channels=16, n_context_layers=3, prediction_steps=4))
    assert str(path) in str(err.value)


def test_load_hydra_era_large_style_checkpoint(tmp_path):
    # "wav2vec large" structure: 1x1 encoder layers, growing kernels, skip connections with
    # 1x1 projections where the width changes, log compression, zero padding; cfg instead of args
    enc = [(8, 10, 5), (8, 8, 4), (8, 4, 2), (8, 4, 2), (8, 4, 2), (8, 1, 1)]
    agg = [(12, 2, 1), (12, 3, 1), (16, 4, 1)]
    state = fairseq_state(enc, agg, steps=3, skip_agg=True, seed=1)
    assert {"feature_aggregator.residual_proj.0.weight", "feature_aggregator.residual_proj.2.weight"} <= set(state)
    cfg = {
        "model": {
            "_name": "wav2vec", "prediction_steps": 3, "num_negatives": 10, "offset": "auto",
            "conv_feature_layers": str(enc), "conv_aggregator_layers": str(agg), "skip_connections_agg": True,
            "residual_scale": 0.5, "log_compression": True, "agg_zero_pad": True, "aggregator": "cnn",
            "vq_type": "none", "project_features": "none", "activation": "relu",
        },
        "task": {"_name": "audio_pretraining"},
    }
    path = save_fairseq(tmp_path / "large.pt", state, args=None, cfg=cfg)
    model = load_fairseq_wav2vec(path)
    assert model.config.log_compression and model.config.skip_connections_agg and model.config.agg_zero_pad
    assert set(model.state_dict()) == set(state)
    wave = torch.randn(2, 5_000)
    with torch.no_grad():
        expected = reference_features(state, enc, agg, wave, log_compression=True, skip_agg=True, zero_pad=True)
        torch.testing.assert_close(model(wave), expected)
    assert expected.shape == (2, 16, conv_frames(5_000, enc))


def raises_checkpoint_error(path, *fragments, **kwargs):
    with pytest.raises(CheckpointError) as err:
        load_fairseq_wav2vec(path, **kwargs)
    message = str(err.value)
    assert str(path) in message, message
    for fragment in fragments:
        assert re.search(fragment, message), (fragment, message)
    return message


def test_rejects_wrong_checkpoints(tmp_path):
    good = fairseq_state(BASE_ENC, BASE_AGG, steps=4)

    missing = dict(good)
    del missing["feature_aggregator.conv_layers.1.1.bias"]
    raises_checkpoint_error(save_fairseq(tmp_path / "missing.pt", missing, base_args()),
                            "no tensor", re.escape("feature_aggregator.conv_layers.1.1.bias"))

    extra = dict(good, **{"feature_aggregator.conv_layers.5.1.weight": torch.zeros(16, 16, 3)})
    raises_checkpoint_error(save_fairseq(tmp_path / "extra.pt", extra, base_args()),
                            "map to no parameter", re.escape("feature_aggregator.conv_layers.5.1.weight"))

    shape = dict(good, **{"wav2vec_predictions.project_to_steps.weight": torch.zeros(16, 16, 1, 5)})
    raises_checkpoint_error(save_fairseq(tmp_path / "shape.pt", shape, base_args()),
                            "shape", re.escape("(16, 16, 1, 5)"))

    no_model = tmp_path / "no_model.pt"
    torch.save({"args": base_args(), "state_dict": good}, no_model)
    raises_checkpoint_error(no_model, "no 'model'")

    not_dict = tmp_path / "list.pt"
    torch.save([good], not_dict)
    raises_checkpoint_error(not_dict, "not a fairseq checkpoint", "list")

    no_config = tmp_path / "no_config.pt"
    torch.save({"model": good}, no_config)
    raises_checkpoint_error(no_config, "neither 'args' nor 'cfg'")

    v2_state = {"feature_extractor.conv_layers.0.0.weight": torch.zeros(512, 1, 10),
                "encoder.layers.0.self_attn.k_proj.weight": torch.zeros(768, 768), "mask_emb": torch.zeros(768)}
    raises_checkpoint_error(save_fairseq(tmp_path / "w2v2.pt", v2_state, cfg={"model": {"_name": "wav2vec2"}}),
                            "wav2vec 2.0")
    raises_checkpoint_error(save_fairseq(tmp_path / "w2v2_noarch.pt", v2_state, args=argparse.Namespace()),
                            "wav2vec 2.0", "encoder.layers")
    raises_checkpoint_error(save_fairseq(tmp_path / "vq.pt", good, base_args(vq_type="gumbel")), "vq-wav2vec")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    raises_checkpoint_error(garbage, "cannot read")

    opaque = save_fairseq(tmp_path / "opaque.pt", good, base_args(), extra_state={"thing": _Opaque()})
    raises_checkpoint_error(opaque, "cannot be read safely", "trusted=True", "_Opaque")
    assert set(load_fairseq_wav2vec(opaque, trusted=True).state_dict()) == set(good)

    with pytest.raises(FileNotFoundError):
        load_fairseq_wav2vec(tmp_path / "absent.pt")


def test_config_validation():
    with pytest.raises(ValueError, match="stride 1"):
        Wav2VecConfig(conv_aggregator_layers=((8, 3, 2),))
    with pytest.raises(ValueError, match="activation"):
        Wav2VecConfig(activation="tanh")
    with pytest.raises(ValueError, match="layer list"):
        Wav2VecConfig(conv_feature_layers="__import__('os').system('true')")
    assert Wav2VecConfig(conv_feature_layers="[(8, 10, 5)] + [(8, 4, 2)] * 2").conv_feature_layers == (
        (8, 10, 5), (8, 4, 2), (8, 4, 2))
