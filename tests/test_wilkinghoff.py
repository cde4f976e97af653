"""Wilkinghoff's system (paper 003): the two sub-networks, sub-cluster AdaCos, mixup,
auxiliary classes, the embedding loop, and a small end-to-end run on synthetic tones."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from asdlib.backends import KMeansCosineBackend
from asdlib.data.classes import auxiliary_classes
from asdlib.losses import AdaCos, SubClusterAdaCos
from asdlib.models import SpectrogramResNet, SpectrumNet, WilkinghoffConfig, WilkinghoffEmbedder
from asdlib.train import embed, mixup, seed_everything, train_embedder
from conftest import across_seeds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- networks


def test_resnet_shapes_table1():
    net = SpectrogramResNet(n_freq=513).eval()
    assert net.flat_dim == 16 * 128  # Table 1's "2056" is 16 x 128 = 2048
    with torch.no_grad():
        out = net(torch.randn(2, 311, 513))
    assert out.shape == (2, 128)
    stem = net.stem[0](torch.zeros(1, 1, 311, 513))
    assert stem.shape == (1, 16, 156, 257)
    with pytest.raises(ValueError, match="513"):
        net(torch.randn(2, 311, 128))


def test_spectrum_net_shapes_table2():
    net = SpectrumNet(n_bins=80_000).eval()
    assert net.flat_dim == 1280
    sizes, x = [], torch.zeros(1, 1, 80_000)
    for layer in net.conv:
        x = layer(x)
        sizes.append(x.shape[-1])
    assert sizes[::2] == [1250, 40, 10]
    with torch.no_grad():
        assert net(torch.randn(2, 80_000)).shape == (2, 128)
    assert SpectrumNet(n_bins=8_000).flat_dim == 128  # 1 s clips


@pytest.mark.parametrize("combine, dim", [("concat", 256), ("add", 128)])
def test_embedder_shapes(combine, dim):
    cfg = WilkinghoffConfig(combine=combine)
    assert cfg.embedding_dim == dim
    model = WilkinghoffEmbedder(cfg).eval()
    waves = torch.randn(2, 160_000)
    with torch.no_grad():
        inputs = model.branch_inputs(waves)
        assert inputs["spectrogram"].shape == (2, 311, 513)
        assert inputs["spectrum"].shape == (2, 80_000)
        # temporal mean normalisation: every bin has zero mean over time
        assert inputs["spectrogram"].mean(dim=1).abs().max() < 1e-3
        branch = model.branch_embeddings(waves)
        out = model(waves)
    assert {k: v.shape for k, v in branch.items()} == {"spectrum": (2, 128), "spectrogram": (2, 128)}
    assert out.shape == (2, dim)
    expected = torch.cat([branch["spectrum"], branch["spectrogram"]], 1) if combine == "concat" else (
        branch["spectrum"] + branch["spectrogram"]
    )
    torch.testing.assert_close(out, expected)


def test_embedder_logmel_branch_and_bad_input():
    cfg = WilkinghoffConfig(branches=("logmel",), n_samples=32_000)
    model = WilkinghoffEmbedder(cfg).eval()
    with torch.no_grad():
        assert model.branch_inputs(torch.randn(2, 32_000))["logmel"].shape == (2, cfg.n_frames, 128)
        assert model(torch.randn(2, 32_000)).shape == (2, 128)
    with pytest.raises(ValueError, match="n_samples=32000"):
        model(torch.randn(2, 16_000))
    with pytest.raises(ValueError, match="branches"):
        WilkinghoffConfig(branches=("mfcc",))


@pytest.mark.parametrize("bias", [False, True])
def test_bias_terms(bias):
    model = WilkinghoffEmbedder(WilkinghoffConfig(bias=bias, n_samples=16_000))
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    # spectrum: 3 conv + 5 dense; resnet: stem conv, 16 block convs, 3 shortcut convs, dense
    assert len(layers) == 3 + 5 + 1 + 16 + 3 + 1
    assert all((m.bias is not None) == bias for m in layers)
    names = [n for n, _ in model.named_parameters() if n.endswith("bias")]
    bn_names = {
        f"{n}.bias" for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
    }
    conv_bias = [n for n in names if n not in bn_names]
    assert bool(conv_bias) == bias
    # bn_center=False removes the BatchNorm shifts too: no bias-like parameter at all
    no_shift = WilkinghoffEmbedder(WilkinghoffConfig(bias=False, bn_center=False, n_samples=16_000))
    assert not [n for n, _ in no_shift.named_parameters() if n.endswith("bias")]
    no_shift.train()(torch.randn(3, 16_000))  # still runs


# ----------------------------------------------------------------------------- AdaCos


def test_subcluster_adacos_loss_and_fixed_centres():
    torch.manual_seed(0)
    head = SubClusterAdaCos(8, n_classes=3, n_subclusters=4, seed=0)
    assert head.centres.shape == (3, 4, 8)
    assert "centres" not in dict(head.named_parameters())
    torch.testing.assert_close(head.centres.norm(dim=-1), torch.ones(3, 4))
    assert float(head.scale) == pytest.approx(math.sqrt(2) * math.log(3 * 4 - 1))
    # the loss is the cross-entropy over class logits = logsumexp of s * cos over sub-clusters
    head.eval()
    emb = torch.randn(5, 8)
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1]), 3).float()
    logits = torch.logsumexp(head.scale * head.cosines(emb), dim=2)
    torch.testing.assert_close(head(emb, y), torch.nn.functional.cross_entropy(logits, y.argmax(1)))
    torch.testing.assert_close(head.logits(emb), logits)
    # fixed centres do not move under an optimizer step; the embedder's weights do
    lin = nn.Linear(8, 8, bias=False)
    before = head.centres.clone()
    opt = torch.optim.Adam(list(lin.parameters()) + list(head.parameters()), lr=0.1)
    head.train()
    head(lin(emb), y).backward()
    opt.step()
    torch.testing.assert_close(head.centres, before)
    assert lin.weight.grad is not None
    # trainable centres do
    trainable = SubClusterAdaCos(8, 3, 4, trainable_centres=True, seed=0)
    opt = torch.optim.Adam(trainable.parameters(), lr=0.1)
    trainable(emb, y).backward()
    opt.step()
    assert not torch.allclose(trainable.centres, before)


def test_adacos_scale_guard():
    head = SubClusterAdaCos(16, n_classes=4, n_subclusters=2, seed=1)
    codes = torch.tensor([0, 1, 2, 3] * 4)
    y = torch.nn.functional.one_hot(codes, 4).float()
    # embeddings exactly on a centre of their class: target angle 0
    on_centre = head.centres[codes, 0].clone()
    for _ in range(50):
        loss = head(on_centre, y)
        assert torch.isfinite(loss) and math.isfinite(float(head.scale))
    # embeddings on a centre of the *wrong* class: unguarded, s grows ~1.4x per batch to inf
    wrong = head.centres[(codes + 1) % 4, 0].clone()
    unguarded = float(head.initial_scale)
    for _ in range(300):
        loss = head(wrong, y)
        assert torch.isfinite(loss)
        cos = head.cosines(wrong)
        z = (unguarded * cos)[~y.bool()]  # non-target logits (K=2 per class)
        unguarded = float(torch.logsumexp(z.flatten(), 0) - math.log(16)) / math.cos(math.pi / 4)
        if not math.isfinite(unguarded):
            break
    assert not math.isfinite(unguarded) or unguarded > 1e6
    assert float(head.scale) == pytest.approx(head.max_scale)
    # a batch whose every class is a target has no non-target logit: the update is ignored
    single = SubClusterAdaCos(16, n_classes=1, n_subclusters=4, seed=0)
    s0 = float(single.scale)
    single(torch.randn(4, 16), torch.ones(4, 1))
    assert float(single.scale) == s0
    # eval mode never updates; AdaCos is the K = 1 case
    head.eval()
    s = float(head.scale)
    head(torch.randn(16, 16), y)
    assert float(head.scale) == s
    ada = AdaCos(16, n_classes=10)
    assert ada.n_subclusters == 1 and float(ada.scale) == pytest.approx(math.sqrt(2) * math.log(9))


# ----------------------------------------------------------------------------- mixup


def test_mixup():
    g = torch.Generator().manual_seed(0)
    waves = torch.randn(6, 100)
    targets = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).float()
    mixed, mixed_t, lam = mixup(waves, targets, generator=g)
    assert mixed.shape == waves.shape and mixed_t.shape == targets.shape and lam.shape == (6,)
    assert ((lam >= 0) & (lam <= 1)).all() and len(set(lam.tolist())) == 6  # one lambda per sample
    torch.testing.assert_close(mixed_t.sum(1), torch.ones(6))
    lx = lam[:, None]
    torch.testing.assert_close(mixed, lx * waves + (1 - lx) * waves.flip(0))
    torch.testing.assert_close(mixed_t, lx * targets + (1 - lx) * targets.flip(0))
    # the reference's element-wise maximum
    _, max_t, lam2 = mixup(waves, targets, generator=torch.Generator().manual_seed(1), labels="max")
    l2 = lam2[:, None]
    torch.testing.assert_close(max_t, torch.maximum(l2 * targets, (1 - l2) * targets.flip(0)))
    with pytest.raises(ValueError, match="soft labels"):
        mixup(waves, torch.tensor([0, 1, 2, 0, 1, 2]))


# ----------------------------------------------------------------------------- classes


def test_auxiliary_classes():
    index = pd.DataFrame(
        {
            "file": [f"f{i}.wav" for i in range(6)],
            "machine_type": ["fan", "fan", "fan", "bearing", "fan", "fan"],
            "section": [1, 0, 0, 0, 0, 0],
            "attribute_string": ["m-n_W", "m-n_W", "m-n_X", "vel_8", "m-n_W", None],
            "domain": ["source", "source", "source", "source", "target", "source"],
        }
    )
    codes, names = auxiliary_classes(index)
    assert names == [
        "bearing/section_00/vel_8/source",
        "fan/section_00/-/source",
        "fan/section_00/m-n_W/source",
        "fan/section_00/m-n_W/target",
        "fan/section_00/m-n_X/source",
        "fan/section_01/m-n_W/source",
    ]
    assert codes.tolist() == [5, 2, 4, 0, 3, 1]
    # order-independent
    codes_r, names_r = auxiliary_classes(index.iloc[::-1])
    assert names_r == names and codes_r.tolist() == codes.tolist()[::-1]
    codes_nd, names_nd = auxiliary_classes(index, include_domain=False)
    assert len(names_nd) == 5 and codes_nd[1] == codes_nd[4]
    unknown = index.assign(domain=["source", None, "source", "source", "target", "source"])
    with pytest.raises(ValueError, match="'domain'.*f1.wav"):
        auxiliary_classes(unknown)
    assert len(auxiliary_classes(unknown, include_domain=False)[1]) == 5
    with pytest.raises(KeyError, match="domain"):
        auxiliary_classes(index.drop(columns="domain"))


# ----------------------------------------------------------------------------- backend + end to end


def test_kmeans_cosine_backend_on_embeddings():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(40, 16)) + 5.0 * np.eye(16)[0]
    far = -train[:1]
    be = KMeansCosineBackend(n_clusters=4).fit(train)
    assert be.score_samples(train[:1])[0] < be.score_samples(far)[0]


def _tones(freqs, n_samples, sr, g):
    """Amplitude-modulated tones (random phase, +-0.5 % frequency jitter) in white noise."""
    t = torch.arange(n_samples) / sr
    f = torch.as_tensor(freqs, dtype=torch.float32)[:, None]
    b = f.shape[0]
    f = f * (1 + 0.01 * (torch.rand(b, 1, generator=g) - 0.5))
    phase = 2 * math.pi * torch.rand(b, 1, generator=g)
    am = 1 + 0.5 * torch.sin(2 * math.pi * (2 + 2 * torch.rand(b, 1, generator=g)) * t + phase)
    return 0.3 * am * torch.sin(2 * math.pi * f * t + phase) + 0.05 * torch.randn(b, n_samples, generator=g)


@across_seeds()
def test_end_to_end_toy(seed):
    """Train embedder + sub-cluster AdaCos on 3 tone classes (1 s clips); a new tone is anomalous.
    The seed: the toy clips, the weights, the sub-cluster centres, the batch order and mixup, k-means."""
    sr = n = 16_000
    g = torch.Generator().manual_seed(seed)
    class_freqs = [440.0, 1000.0, 2000.0]
    codes = torch.arange(3).repeat_interleave(8)
    waves = _tones([class_freqs[c] for c in codes], n, sr, g)
    seed_everything(seed)
    model = WilkinghoffEmbedder(WilkinghoffConfig(n_samples=n, sr=sr))
    head = SubClusterAdaCos(model.embedding_dim, 3, n_subclusters=4, seed=seed)
    history = train_embedder(model, head, waves, codes, epochs=4, batch_size=16, device="cpu", progress=False,
                             seed=seed)
    assert set(history) == {"loss", "scale"} and len(history["loss"]) == 4
    assert history["loss"][-1] < history["loss"][0], history["loss"]
    assert all(math.isfinite(s) for s in history["scale"])
    assert model.training and head.training  # modes restored (both were in training mode)

    train_emb = embed(model, waves, device="cpu", batch_size=10)
    assert train_emb.shape == (24, 256) and train_emb.dtype == torch.float32
    normal = _tones([440.0] * 20, n, sr, g)
    anomalous = _tones([3000.0] * 20, n, sr, g)
    test_emb = embed(model, torch.cat([normal, anomalous]), device="cpu")
    backend = KMeansCosineBackend(n_clusters=4, random_state=seed).fit(train_emb[codes == 0])
    scores = backend.score_samples(test_emb)
    auc = roc_auc_score(np.r_[np.zeros(20), np.ones(20)], scores)
    print(f"seed {seed}: AUC {auc:.3f}, loss {history['loss']}")
    assert auc > 0.9, f"AUC {auc:.3f}"


# ----------------------------------------------------------------------------- chapter settings


def test_chapter_settings_for_the_reference_rules_and_the_ensemble():
    from asdlib.chapters import chapter_settings
    from asdlib.chapters.wilkinghoff_design_choices import CLAIMS, ENSEMBLE, MIXUP_LABELS

    stem = "wilkinghoff_design_choices"
    paper, demo, ci = (chapter_settings(stem, p) for p in ("paper", "demo", "ci"))
    assert (paper.ensemble_members, demo.ensemble_members, ci.ensemble_members) == (5, 0, 2)  # Sec. 4.5: five
    for s in (paper, demo, ci):   # today's rules by default: the sum, no L2 penalty, bf16 autocast on CUDA
        assert (s.mixup_labels, s.kernel_l2, s.bf16_autocast) == ("sum", 0.0, True)
    assert MIXUP_LABELS == ("sum", "max")
    reference = chapter_settings(stem, "ci", {"mixup_labels": "max", "kernel_l2": 1e-5, "bf16_autocast": False})
    assert (reference.mixup_labels, reference.kernel_l2, reference.bf16_autocast) == ("max", 1e-5, False)
    for bad, match in (({"ensemble_members": 1}, "0 .no ensemble. or at least 2"),
                       ({"ensemble_members": -2}, "at least 2"),
                       ({"mixup_labels": "mean"}, "one of sum, max"),
                       ({"kernel_l2": -1e-5}, ">= 0")):
        with pytest.raises(ValueError, match=match):
            chapter_settings(stem, "demo", bad)
    w10 = {c.key: c for c in CLAIMS}["W10"]
    assert w10.better == f"Wilkinghoff: {ENSEMBLE}" and w10.worse == "Wilkinghoff: presented"
    assert w10.paper is None and "Fig. 2" in w10.where   # the paper says it in words, with no single-run number


def test_keras_l2_penalty_is_twice_as_large_a_coupled_weight_decay():
    """The chapter passes kernel_l2 (Keras ``l2(c)``: loss + c * |w|^2) as ``weight_decay = 2 * c``."""
    c, w0 = 1e-2, torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    grads = torch.tensor([[0.1, 0.2], [-0.3, 0.05]])
    a = nn.Parameter(w0.clone())
    opt = torch.optim.Adam([a], lr=0.1)
    ((a * grads).sum() + c * (a ** 2).sum()).backward()
    opt.step()
    b = nn.Parameter(w0.clone())
    opt = torch.optim.Adam([b], lr=0.1, weight_decay=2 * c)
    (b * grads).sum().backward()
    opt.step()
    torch.testing.assert_close(a, b)
