"""AITHU's SC subsystem (paper 000, Sec. 3.1, Table 3): the four embedding backbones, the
ArcFace head, the Table 3 settings file, and a small training run on synthetic tones."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from asdlib.losses.arcface import ArcFace
from asdlib.models.backbones import (
    BACKBONES,
    ECAPATDNN,
    Cnn6,
    MobileFaceNet,
    MobileFaceNetSE,
    build_backbone,
    recalibrate_batchnorm,
)
from asdlib.chapters.tables import aithu_table3
from conftest import across_seeds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


NETWORKS = ("MFN", "MFNSE", "Ecapa-tdnn", "Cnn6")


# ----------------------------------------------------------------------------- Table 3


def test_sc_settings_table3():
    df = aithu_table3()
    assert list(df.index) == ["bearing", "fan", "gearbox", "slider", "ToyCar", "ToyTrain", "valve"]
    assert list(df["feature"]) == ["STFT"] * 4 + ["logmel", "STFT", "STFT"]
    assert list(df["network"]) == ["MFN", "MFNSE", "MFN", "MFNSE", "Ecapa-tdnn", "Cnn6", "MFNSE"]
    assert set(df["n_fft"]) == {2048} and set(df["n_frames"]) == {192}
    assert df["n_mels"].isna().sum() == 6 and df.loc["ToyCar", "n_mels"] == 64
    assert (df["table"] == "Table 3").all() and (df["page"] == 2).all() and df["note"].str.len().min() > 0
    # the backbone input: mel bands for log-mel, n_fft // 2 + 1 bins for STFT
    assert df.loc["ToyCar", "n_freq"] == 64 and (df.drop(index="ToyCar")["n_freq"] == 1025).all()
    fan = aithu_table3("fan")
    assert {k: fan[k] for k in ("feature", "n_mels", "n_fft", "n_frames", "network", "n_freq")} == {
        "feature": "STFT", "n_mels": None, "n_fft": 2048, "n_frames": 192, "network": "MFNSE", "n_freq": 1025,
    }
    assert aithu_table3("ToyCar")["n_mels"] == 64
    with pytest.raises(ValueError, match="unknown machine type 'pump'.*ToyCar"):
        aithu_table3("pump")


def _table3_shapes() -> list[tuple[int, int]]:
    df = aithu_table3()
    return sorted({(int(f), int(t)) for f, t in zip(df["n_freq"], df["n_frames"])})


def test_table3_networks_build():
    expected = {"MFN": MobileFaceNet, "MFNSE": MobileFaceNetSE, "Ecapa-tdnn": ECAPATDNN, "Cnn6": Cnn6}
    assert BACKBONES == expected
    for machine_type, row in aithu_table3().iterrows():
        net = build_backbone(row["network"], int(row["n_freq"]), int(row["n_frames"]))
        assert type(net) is expected[row["network"]], machine_type
        assert net.embedding_dim == 128


# ----------------------------------------------------------------------------- backbones


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("shape", _table3_shapes(), ids=lambda s: f"{s[0]}x{s[1]}")
def test_backbone_output_shape_table3_inputs(name, shape):
    n_freq, n_frames = shape
    net = build_backbone(name, n_freq, n_frames, embedding_dim=128).eval()
    with torch.no_grad():
        out = net(torch.rand(2, n_freq, n_frames))
    assert out.shape == (2, 128) and torch.isfinite(out).all()


def test_build_backbone_names():
    assert type(build_backbone("ECAPA-TDNN", 64, 192, channels=64)) is ECAPATDNN
    assert type(build_backbone("ecapa_tdnn", 64, 192, channels=64)) is ECAPATDNN
    assert type(build_backbone("MobileFaceNetSE", 64, 192)) is MobileFaceNetSE
    assert type(build_backbone("mfn", 64, 192)) is MobileFaceNet
    assert build_backbone("cnn6", 64, 192, embedding_dim=32).fc.out_features == 32
    with pytest.raises(ValueError, match="unknown backbone 'ResNet18'.*'MFN'.*'MFNSE'.*'Ecapa-tdnn'.*'Cnn6'"):
        build_backbone("ResNet18", 64, 192)


def test_mobilefacenet_structure():
    mfn = MobileFaceNet(1025, 192)
    assert mfn.gdc_size == (65, 12)  # ceil(F / 16) x ceil(T / 16): the GDC covers the whole map
    assert mfn.gdc[0].kernel_size == (65, 12) and mfn.gdc[0].groups == 512
    assert MobileFaceNet(64, 192).gdc_size == (4, 12)
    assert len(mfn.blocks) == 5 + 1 + 6 + 1 + 2  # STgram-MFN's bottleneck setting
    se = [m for m in MobileFaceNetSE(64, 192).modules() if type(m).__name__ == "_SqueezeExcite2d"]
    assert len(se) == 15  # one per bottleneck
    assert not [m for m in mfn.modules() if type(m).__name__ == "_SqueezeExcite2d"]
    # adaptive pooling: built for 64 x 192, any other F x T still gives an embedding
    net = MobileFaceNet(64, 192).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 128, 100)).shape == (2, 128)
        assert net(torch.rand(2, 40, 50)).shape == (2, 128)
    with pytest.raises(ValueError, match=r"\(B, F, T\)"):
        net(torch.rand(2, 1, 64, 192))


def test_ecapa_and_cnn6_structure():
    ecapa = ECAPATDNN(64, channels=64).eval()
    assert [b.block[1].convs[0][0].dilation[0] for b in ecapa.blocks] == [2, 3, 4]
    assert ecapa.pool_bn.num_features == 2 * 3 * 64  # mean + std of the 3C aggregated channels
    with torch.no_grad():
        assert ecapa(torch.rand(2, 64, 37)).shape == (2, 128)  # any number of frames
    with pytest.raises(ValueError, match="F=64"):
        ecapa(torch.rand(2, 65, 37))
    cnn6 = Cnn6(64).eval()
    assert [b[0].out_channels for b in cnn6.blocks if isinstance(b, nn.Sequential)] == [64, 128, 256, 512]
    with torch.no_grad():
        assert cnn6(torch.rand(2, 64, 50)).shape == (2, 128)
    with pytest.raises(ValueError, match="F, T >= 16"):
        cnn6(torch.rand(2, 64, 8))


# ----------------------------------------------------------------------------- ArcFace


def _unit(deg: float) -> torch.Tensor:
    rad = math.radians(deg)
    return torch.tensor([math.cos(rad), math.sin(rad)])


def test_arcface_logits_hand_built():
    s, m = 30.0, 0.7
    head = ArcFace(2, 4, s=s, m=m)
    with torch.no_grad():  # class directions 0, 90, 180, 270 degrees; norms do not matter
        head.weight.copy_(torch.stack([2.0 * _unit(0), 0.5 * _unit(90), _unit(180), 3.0 * _unit(270)]))
    emb = torch.stack([3.0 * _unit(30), _unit(170), _unit(190)])
    labels = torch.tensor([0, 0, 1])
    logits = head(emb, labels)
    rad = math.radians
    # sample 0: theta_y = 30 deg, theta + m < pi -> s cos(theta + m); others s cos(theta)
    expected0 = [s * math.cos(rad(30) + m), s * math.cos(rad(60)), s * math.cos(rad(150)), s * math.cos(rad(120))]
    # sample 1: theta_y = 170 deg, theta + m > pi -> s (cos(theta) - m sin(m))  (InsightFace, easy_margin off)
    expected1 = [s * (math.cos(rad(170)) - m * math.sin(m)), s * math.cos(rad(80)), s * math.cos(rad(10)),
                 s * math.cos(rad(100))]
    # sample 2: label 1 (90 deg), theta_y = 100 deg, theta + m = 140.1 deg < pi -> s cos(theta + m)
    expected2 = [s * math.cos(rad(170)), s * math.cos(rad(100) + m), s * math.cos(rad(10)), s * math.cos(rad(80))]
    torch.testing.assert_close(logits, torch.tensor([expected0, expected1, expected2]), atol=1e-4, rtol=0)
    # without labels: s cos(theta), no margin; cosine() is unscaled
    torch.testing.assert_close(head(emb), s * head.cosine(emb))
    assert head.cosine(emb)[0, 1].item() == pytest.approx(0.5, abs=1e-6)
    # loss: cross-entropy of the margin logits
    torch.testing.assert_close(head.loss(emb, labels), F.cross_entropy(logits, labels))
    # the margin logit decreases monotonically over theta in [0, pi] (the point of the fallback)
    psi = head.margin(torch.cos(torch.linspace(0, math.pi, 721, dtype=torch.float64)).float())
    assert (psi.diff() <= 1e-6).all()
    # m = 0: plain scaled cosine
    plain = ArcFace(2, 4, s=s, m=0.0)
    plain.weight.data.copy_(head.weight.data)
    torch.testing.assert_close(plain(emb, labels), s * plain.cosine(emb))
    with pytest.raises(ValueError, match="class codes"):
        head(emb, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="margin"):
        ArcFace(2, 4, m=2.0)


def test_arcface_gradients_finite_on_class_direction():
    head = ArcFace(8, 3)
    emb = head.weight.detach()[[0, 1, 2]].clone().requires_grad_(True)  # theta_y = 0 exactly
    head.loss(emb, torch.tensor([0, 1, 2])).backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


@pytest.mark.parametrize("name", NETWORKS)
def test_gradients_flow_backbone_and_head(name):
    torch.manual_seed(0)
    kw = {"channels": 64} if name == "Ecapa-tdnn" else {}
    net = build_backbone(name, 32, 32, embedding_dim=16, **kw)
    head = ArcFace(16, 3)
    head.loss(net(torch.rand(4, 32, 32)), torch.tensor([0, 1, 2, 0])).backward()
    for pname, p in [*net.named_parameters(), *(("head." + n, p) for n, p in head.named_parameters())]:
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


# ----------------------------------------------------------------------------- toy training


def _tones(codes: torch.Tensor, n_freq: int, n_frames: int, g: torch.Generator) -> torch.Tensor:
    """Magnitude-like spectrograms: uniform noise plus one class-specific tone (a bright
    frequency row) of random amplitude."""
    rows = torch.tensor([3, 11, 19, 27])[codes]
    x = 0.1 * torch.rand(len(codes), n_freq, n_frames, generator=g)
    x[torch.arange(len(codes)), rows] += 0.5 + torch.rand(len(codes), 1, generator=g)
    return x


@pytest.mark.parametrize("name", NETWORKS)
@across_seeds()
def test_backbone_with_arcface_learns_tones(name, seed):
    """10 full-batch AdamW steps on 24 clips of 4 tone classes; eval-mode accuracy on new clips.
    The seed: the weights and the toy clips."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    n_freq, n_frames = 32, 16
    codes = torch.arange(4).repeat(6)
    train = _tones(codes, n_freq, n_frames, g)
    kw = {"channels": 64} if name == "Ecapa-tdnn" else {}
    net = build_backbone(name, n_freq, n_frames, embedding_dim=32, **kw)
    head = ArcFace(32, 4)
    opt = torch.optim.AdamW([*net.parameters(), *head.parameters()], lr=3e-3, weight_decay=1e-4)
    losses = []
    for _ in range(10):
        loss = head.loss(net(train), codes)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    # a short run leaves the running BatchNorm statistics near their initial values:
    # re-estimate them on the training clips before using the network in eval mode
    recalibrate_batchnorm(net, train)
    assert net.training  # mode restored
    net.eval()
    test_codes = torch.arange(4).repeat(10)
    with torch.no_grad():
        pred = head(net(_tones(test_codes, n_freq, n_frames, g))).argmax(1)
    accuracy = (pred == test_codes).float().mean().item()
    print(f"{name}, seed {seed}: accuracy {accuracy:.3f}, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert accuracy > 0.9, f"{name}: accuracy {accuracy:.3f} on new clips (want > 0.9, chance 0.25)"


def test_recalibrate_batchnorm_exact_statistics():
    bn = nn.BatchNorm1d(3, momentum=0.1)
    x = torch.randn(10, 3) * 5 + 2
    recalibrate_batchnorm(bn, x, batch_size=5)
    halves = x.split(5)
    torch.testing.assert_close(bn.running_mean, torch.stack([h.mean(0) for h in halves]).mean(0))
    torch.testing.assert_close(bn.running_var, torch.stack([h.var(0) for h in halves]).mean(0))
    assert bn.momentum == 0.1
