"""AITHU's IMDN (paper 000, Sec. 3.2): the mixture NLL (Eqs. 3-4), IGNN (Table 6), LRCGNN,
DFnet, the IDNN windows, training/scoring on a toy set, and the Tables 7-8 settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from asdlib.losses.mixture import gaussian_mixture_nll
from asdlib.models.imdn import (
    DFnet,
    IGNN,
    LRCGNN,
    build_imdn,
    gather_windows,
    imdn_windows,
)
from asdlib.chapters.tables import aithu_tables_7_8, aithu_tables_7_8_setting, aithu_tables_7_8_settings
from asdlib.train import score_imdn, train_imdn
from conftest import across_seeds

MACHINE_TYPES = {"ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- Eqs. (3)-(4)


def _log_normal(x, mu, sigma):
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def test_mixture_nll_hand_value():
    mu = [[0.0, 1.0], [2.0, -1.0]]  # (C=2, M=2)
    sigma = [[1.0, 0.5], [2.0, 1.5]]
    x = [0.5, 0.2]
    # equal weights 1/2; each component a diagonal Gaussian over the whole frame
    comp = [math.exp(sum(_log_normal(x[i], mu[m][i], sigma[m][i]) for i in range(2))) for m in range(2)]
    expected = -math.log(0.5 * comp[0] + 0.5 * comp[1])
    # per-bin reading: an independent 2-component mixture in each bin
    expected_bin = -sum(
        math.log(0.5 * sum(math.exp(_log_normal(x[i], mu[m][i], sigma[m][i])) for m in range(2))) for i in range(2)
    )
    mu_t, sigma_t, x_t = (torch.tensor(v, dtype=torch.float64) for v in (mu, sigma, x))
    got = gaussian_mixture_nll(mu_t, sigma_t.log(), x_t)
    assert got.shape == ()
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert gaussian_mixture_nll(mu_t, sigma_t, x_t, log_scale=False).item() == pytest.approx(expected, rel=1e-6)
    assert gaussian_mixture_nll(mu_t, sigma_t.log(), x_t, per_bin=True).item() == pytest.approx(expected_bin, rel=1e-6)
    # batch + reductions
    batch = gaussian_mixture_nll(mu_t.expand(3, 2, 2), sigma_t.log().expand(3, 2, 2), x_t.expand(3, 2))
    torch.testing.assert_close(batch, torch.full((3,), expected, dtype=torch.float32))
    total = gaussian_mixture_nll(mu_t, sigma_t.log(), x_t.expand(3, 2), reduction="sum")
    assert total.item() == pytest.approx(3 * expected, rel=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        gaussian_mixture_nll(mu_t, sigma_t, x_t, reduction="max")


def test_mixture_nll_matches_torch_distributions_and_is_stable():
    torch.manual_seed(0)
    mu, log_sigma, x = torch.randn(5, 3, 4), 0.3 * torch.randn(5, 3, 4), torch.randn(5, 4)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=torch.zeros(5, 3)),
        torch.distributions.Independent(torch.distributions.Normal(mu, log_sigma.exp()), 1),
    )
    torch.testing.assert_close(gaussian_mixture_nll(mu, log_sigma, x), -mix.log_prob(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        gaussian_mixture_nll(mu, log_sigma, x, reduction="mean"), -mix.log_prob(x).mean(), rtol=1e-5, atol=1e-5
    )
    # far from every component with tiny sigmas: each density underflows to 0, the LSE form does not
    far = gaussian_mixture_nll(torch.zeros(1, 2, 3), torch.full((1, 2, 3), -5.0), torch.full((1, 3), 10.0))
    expected = 3 * (0.5 * (10 / math.exp(-5)) ** 2 - 5 + 0.5 * math.log(2 * math.pi))
    assert torch.isfinite(far).all() and far.item() == pytest.approx(expected, rel=1e-5)


# ----------------------------------------------------------------------------- networks


def test_ignn_layer_shapes_table6():
    n_mels, n_frames, n_c = 64, 100, 2
    net = IGNN(n_mels, n_frames, n_c).eval()
    # Table 6's parameter sizes
    assert (net.fc_in.in_features, net.fc_in.out_features) == (64, 128)
    for gru in (net.gru1, net.gru2):
        assert (gru.input_size, gru.hidden_size, gru.num_layers, gru.batch_first) == (128, 128, 3, True)
    assert (net.fc_down.in_features, net.fc_down.out_features) == (128, 32)
    assert (net.fc_up.in_features, net.fc_up.out_features) == (32, 128)
    assert (net.head.in_features, net.head.out_features) == (99 * 128, 2 * 2 * 64)
    shapes = {}

    def record(name):
        def hook(module, inputs, out):
            shapes[name] = tuple((out[0] if isinstance(out, tuple) else out).shape)  # a GRU returns (out, h)

        return hook

    for name in ("fc_in", "gru1", "fc_down", "fc_up", "gru2", "head"):
        getattr(net, name).register_forward_hook(record(name))
    with torch.no_grad():
        mu, log_sigma = net(torch.randn(2, 99, 64))
    assert shapes == {
        "fc_in": (2, 99, 128), "gru1": (2, 99, 128), "fc_down": (2, 99, 32),
        "fc_up": (2, 99, 128), "gru2": (2, 99, 128), "head": (2, 256),
    }
    assert mu.shape == log_sigma.shape == (2, 2, 64)
    with pytest.raises(ValueError, match=r"\(B, 99, 64\)"):
        net(torch.randn(2, 100, 64))  # the centre frame must be left out


@pytest.mark.parametrize("n_mels, n_frames", [(64, 100), (30, 7)])
def test_lrcgnn_and_dfnet_shapes(n_mels, n_frames):
    x = torch.randn(3, n_frames - 1, n_mels)
    lrc = build_imdn("LRCGNN", n_mels, n_frames, 3).eval()
    assert isinstance(lrc, LRCGNN) and isinstance(lrc.conv, nn.Conv1d)
    conv_out = {}
    lrc.conv.register_forward_hook(lambda mod, inp, out: conv_out.__setitem__("shape", tuple(out.shape)))
    dfn = build_imdn("dfnet", n_mels, n_frames, 3).eval()
    assert isinstance(dfn, DFnet)
    with torch.no_grad():
        for net in (lrc, dfn):
            mu, log_sigma = net(x)
            assert mu.shape == log_sigma.shape == (3, 3, n_mels)
            assert net.nll(x, x[:, 0]).shape == (3,)
    assert conv_out["shape"] == (3, n_frames - 1, 128)  # Conv1d right after the first FC, frames as channels
    assert sum(p.numel() for p in lrc.parameters()) > sum(p.numel() for p in IGNN(n_mels, n_frames, 3).parameters())
    with pytest.raises(ValueError, match="unknown network"):
        build_imdn("IDNN", n_mels, n_frames)


def test_outputs_in_log_mel_units():
    net = IGNN(4, 5, 2)
    nn.init.zeros_(net.head.weight)
    nn.init.zeros_(net.head.bias)
    mean, std = torch.tensor([-3.0, 0.0, 1.0, 5.0]), torch.tensor([0.5, 1.0, 2.0, 4.0])
    net.set_normalization(mean, std)
    mu, log_sigma = net(torch.randn(2, 4, 4))
    torch.testing.assert_close(mu, mean.expand(2, 2, 4))
    torch.testing.assert_close(log_sigma, std.log().expand(2, 2, 4))


# ----------------------------------------------------------------------------- windows


@pytest.mark.parametrize("n_frames, stride", [(5, 1), (4, 3)])
def test_windows_centre_frames(n_frames, stride):
    n, m, t = 2, 3, 11
    x = 1000 * torch.arange(n)[:, None, None] + 100 * torch.arange(m)[None, :, None] + torch.arange(t)
    context, centre = imdn_windows(x, n_frames, stride)
    w = (t - n_frames) // stride + 1
    assert context.shape == (n, w, n_frames - 1, m) and centre.shape == (n, w, m)
    times = torch.arange(w) * stride + n_frames // 2
    torch.testing.assert_close(centre, x[:, :, times].transpose(1, 2).float())
    # the context is the window minus its centre, in time order
    starts = torch.arange(w) * stride
    ctx_t = context[0, :, :, 0]  # clip 0, bin 0: the frame times
    expected = torch.stack([torch.cat([torch.arange(s, s + n_frames)[: n_frames // 2],
                                       torch.arange(s, s + n_frames)[n_frames // 2 + 1 :]]) for s in starts.tolist()])
    torch.testing.assert_close(ctx_t, expected.float())
    # training's per-batch gather cuts the same windows
    clip = torch.tensor([1, 0, 1])
    win = torch.tensor([0, w - 1, w // 2])
    g_ctx, g_centre = gather_windows(x.float(), clip, win * stride, n_frames)
    torch.testing.assert_close(g_ctx, context[clip, win])
    torch.testing.assert_close(g_centre, centre[clip, win])
    with pytest.raises(ValueError, match="fewer than"):
        imdn_windows(x[..., :3], n_frames)


# ----------------------------------------------------------------------------- toy detection


def _toy_clips(n: int, anomalous: bool, seed: int, n_mels: int = 16, t: int = 40) -> torch.Tensor:
    """Normal: a drifting sinusoidal pattern (each frame predictable from its neighbours).
    Anomalous: 20% of the frames swapped for frames from elsewhere in the same clip: every frame
    stays a plausible normal frame, only the continuity (the predictability) is broken."""
    g = torch.Generator().manual_seed(seed)
    phase = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    x = torch.sin(2 * math.pi * torch.arange(t) / 12 + phase + 0.4 * torch.arange(n_mels)[:, None])
    x = x + 0.05 * torch.randn(n, n_mels, t, generator=g)
    if anomalous:
        swap = torch.rand(n, t, generator=g) < 0.2
        idx = torch.where(swap, torch.randint(0, t, (n, t), generator=g), torch.arange(t))
        x = torch.gather(x, 2, idx[:, None, :].expand(n, n_mels, t))
    return x


@pytest.mark.parametrize("name", ["IGNN", "LRCGNN", "DFnet"])
@across_seeds()
def test_planted_anomalies_score_higher(name, seed):
    # the seed: the toy clips (seed 0: data seeds 1, 2, 3), the weights and the window order
    train = _toy_clips(24, False, seed=10 * seed + 1)
    test = torch.cat([_toy_clips(12, False, seed=10 * seed + 2), _toy_clips(12, True, seed=10 * seed + 3)])
    labels = np.r_[np.zeros(12), np.ones(12)]
    torch.manual_seed(seed)
    model = build_imdn(name, 16, 5, 2)
    history = train_imdn(model, train, 5, epochs=8, batch_size=128, lr=3e-3, device="cpu", seed=seed, stride=2)
    assert len(history["loss"]) == 8 and history["loss"][-1] < history["loss"][0], history["loss"]
    scores, frame_nll = score_imdn(model, test, 5, per_frame=True, batch_size=100)
    assert scores.shape == (24,) and frame_nll.shape == (24, 36)
    torch.testing.assert_close(frame_nll.mean(1), scores)
    auc = roc_auc_score(labels, scores.numpy())
    print(f"{name}, seed {seed}: AUC {auc:.3f}, loss {history['loss']}")
    assert auc > 0.9, f"{name}: AUC {auc:.3f}"
    with pytest.raises(ValueError, match="n_frames"):
        score_imdn(model, test, 7)


# ----------------------------------------------------------------------------- Tables 7 and 8


def test_settings_tables_7_8():
    imdn = aithu_tables_7_8()
    assert set(imdn["machine_type"]) == MACHINE_TYPES and len(imdn) == 7
    assert set(imdn["table"]) == {"Table 8"} and set(imdn["subsystem"]) == {"IMDN"}
    valve = aithu_tables_7_8("valve").iloc[0]
    assert (valve.n_mels, valve.n_fft, valve.n_frames, valve.network, valve.hmean) == (64, 1024, 30, "IGNN", 86.19)
    fan = aithu_tables_7_8("fan").iloc[0]
    assert (fan.n_mels, fan.n_fft, fan.n_frames, fan.network) == (128, 2048, 60, "LRCGNN")
    assert set(imdn["network"]) == {"IGNN", "LRCGNN", "DFnet"}
    both = aithu_tables_7_8(table=None)
    assert len(both) == 14
    cols = ["machine_type", "n_mels", "n_fft", "n_frames", "network"]
    t7 = both[both.table == "Table 7"][cols].sort_values("machine_type").reset_index(drop=True)
    t8 = both[both.table == "Table 8"][cols].sort_values("machine_type").reset_index(drop=True)
    assert t7.equals(t8)  # the two tables print the same settings rows (the h-means differ)
    assert both["note"].str.contains("identical settings rows").all()
    for row in imdn.itertuples():  # every row builds its network
        assert build_imdn(row.network, row.n_mels, row.n_frames).n_frames == row.n_frames
    with pytest.raises(ValueError, match="unknown machine type 'pump'"):
        aithu_tables_7_8("pump")


def test_unlisted_type_gets_the_mode_of_tables_7_8():
    """A machine type Tables 7-8 do not list (a DCASE 2023-2025 type) gets each column's mode over the
    paper's seven types (UNLISTED_TYPE_RULE: log-mel, 64, 2048, 100, LRCGNN); a listed type its own row."""
    for table in ("Table 7", "Table 8"):
        for row in aithu_tables_7_8(table=table).to_dict("records"):   # listed: today's settings
            mine = aithu_tables_7_8_setting(row["machine_type"], table=table)
            assert mine["source"] == table
            assert {k: mine[k] for k in row} == row
        fallback = aithu_tables_7_8_setting("AirCompressor", table=table)
        assert (fallback["feature"], fallback["n_mels"], fallback["n_fft"], fallback["n_frames"],
                fallback["network"], fallback["hmean"]) == ("logmel", 64, 2048, 100, "LRCGNN", None)
        assert fallback["source"].startswith("fallback") and "deviation" in fallback["note"]
    assert build_imdn("LRCGNN", 64, 100).n_frames == 100
    settings = aithu_tables_7_8_settings(["valve", "3DPrinter"])
    assert list(settings.index) == ["valve", "3DPrinter"]
    assert (settings.loc["valve", "n_mels"], settings.loc["valve", "n_fft"], settings.loc["valve", "n_frames"],
            settings.loc["valve", "network"]) == (64, 1024, 30, "IGNN")
    assert (settings.loc["3DPrinter", "n_mels"], settings.loc["3DPrinter", "network"]) == (64, "LRCGNN")
    with pytest.raises(ValueError, match="table="):
        aithu_tables_7_8_setting("valve", table="Table 9")
