"""USTC's self-supervised classifier (paper 002): TgramNet framing, the TDNN classifier,
the feature stack of eq. (4), batch-hard triplet loss, the scores of eqs. (6) and (7),
and a small end-to-end run on synthetic tones."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from asdlib.features.spectral import LogMelConfig, log_mel
from asdlib.losses.triplet import batch_hard_triplet_loss
from asdlib.models.ustc import (
    FeatureStack,
    TDNNClassifier,
    TgramNet,
    USTCModel,
    USTCOutput,
    distance_score,
    max_posterior_score,
    posterior_score,
)
from asdlib.train import seed_everything
from asdlib.train.ustc import embed_ustc, section_codes, train_ustc, ustc_classes
from conftest import across_seeds

SR = 16_000
SMALL_TDNN = {"frame_channels": (32, 32, 32, 32, 64), "segment_dim": 32, "embedding_dim": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- TgramNet


@pytest.mark.parametrize("seconds, frames", [(10, 313), (11, 344), (2, 63)])
def test_tgram_frames_match_logmel(seconds, frames):
    n = seconds * SR
    net = TgramNet().eval()
    assert net.n_frames(n) == LogMelConfig().n_frames(n) == frames
    x = torch.randn(1, n)
    with torch.no_grad():
        tgram = net(x)
    assert tgram.shape == (1, 128, frames) == log_mel(x).shape


@pytest.mark.parametrize("win, hop, n", [(1024, 512, 5000), (1023, 500, 5000), (400, 160, 16_000), (400, 160, 16_159)])
def test_tgram_frames_any_window(win, hop, n):
    """The padding (win // 2, win - win // 2) gives 1 + n // hop frames, also for odd windows."""
    net = TgramNet(n_mels=8, win_length=win, hop_length=hop).eval()
    with torch.no_grad():
        assert net(torch.randn(2, n)).shape == (2, 8, 1 + n // hop)
    cfg = LogMelConfig(n_fft=win + win % 2, hop_length=hop, n_mels=8)
    assert cfg.n_frames(n) == 1 + n // hop


def test_tgram_first_frame_is_centred():
    """Frame t of the strided convolution sees samples [t*hop - win/2, t*hop + win/2), like the centred STFT."""
    net = TgramNet(n_mels=1, win_length=8, hop_length=4, num_layers=1).eval()
    with torch.no_grad():
        net.conv_extrctor.weight.zero_()
        net.conv_extrctor.weight[0, 0, 4] = 1.0  # picks the window's centre sample
        x = torch.arange(20.0)[None]
        h = net.conv_extrctor(torch.nn.functional.pad(x[:, None], net.pad))
    # centres 0, 4, 8, 12, 16, 20; sample 20 lies in the right padding (zeros), as in the centred STFT
    torch.testing.assert_close(h[0, 0], torch.tensor([0.0, 4.0, 8.0, 12.0, 16.0, 0.0]))
    assert h.shape[-1] == 1 + 20 // 4


def test_tgram_original_layernorm_and_names():
    """layer_norm_frames=313 is STgram-MFN's nn.LayerNorm(313); parameter names are STgram-MFN's."""
    net = TgramNet(layer_norm_frames=313)
    names = set(net.state_dict())
    assert "conv_extrctor.weight" in names and "conv_encoder.0.0.weight" in names
    assert net.state_dict()["conv_encoder.0.0.weight"].shape == (313,)
    assert net.conv_extrctor.weight.shape == (128, 1, 1024) and net.conv_extrctor.bias is None
    with pytest.raises(ValueError, match="layer_norm_frames"):
        net(torch.randn(1, 2 * SR))
    # the default normalisation: each channel over its frames, per-channel affine
    default = TgramNet(n_mels=4, num_layers=1)
    norm = default.conv_encoder[0][0]
    h = torch.randn(2, 4, 37) * 5 + 3
    out = norm(h)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out, torch.nn.functional.layer_norm(h, (37,)))


# ----------------------------------------------------------------------------- classifier and features


@pytest.mark.parametrize("c", [1, 2, 3])
def test_tdnn_shapes(c):
    net = TDNNClassifier(6, in_channels=c, n_freq=16, n_attributes=5, **SMALL_TDNN).eval()
    assert net.receptive_field == 15
    with torch.no_grad():
        out = net(torch.randn(3, c, 16, 40))
    assert isinstance(out, USTCOutput)
    assert out.embedding.shape == (3, 16) and out.logits.shape == (3, 6) and out.aux_logits.shape == (3, 5)
    with pytest.raises(ValueError, match="C="):
        net(torch.randn(3, c + 1, 16, 40))
    with pytest.raises(ValueError, match="context"):
        net(torch.randn(3, c, 16, 14))


def test_tdnn_default_sizes():
    net = TDNNClassifier(3, in_channels=1, n_freq=128)
    assert net.attribute_head is None
    assert [layer[0].out_channels for layer in net.frames] == [512, 512, 512, 512, 1500]
    assert [layer[0].kernel_size[0] for layer in net.frames] == [5, 3, 3, 1, 1]
    assert [layer[0].dilation[0] for layer in net.frames] == [1, 2, 3, 1, 1]
    assert net.segment[0].in_features == 3000 and net.embedding.out_features == 128
    with torch.no_grad():
        out = net.eval()(torch.randn(2, 128, 20))  # (B, F, T) accepted for one channel
    assert out.embedding.shape == (2, 128) and out.aux_logits is None


def test_feature_stack_channels_and_projection():
    n = SR // 2
    waves = torch.randn(2, n)
    t = 1 + n // 512
    stack = FeatureStack(("logmel", "tgram", "wav2vec"), pretrained_dim=12).eval()
    pre = torch.randn(2, 12, 24)
    with torch.no_grad():
        x = stack(waves, pre)
        assert x.shape == (2, 3, 128, t)
        torch.testing.assert_close(x[:, 0], log_mel(waves))
        torch.testing.assert_close(x[:, 1], stack.tgram(waves))
        # projection over the feature dim, then linear interpolation over time
        proj = torch.einsum("fd,bdt->bft", stack.projection.weight, pre) + stack.projection.bias[:, None]
        torch.testing.assert_close(x[:, 2], torch.nn.functional.interpolate(proj, size=t, mode="linear"))
        # a constant-in-time input stays constant after interpolation
        const = stack.project_pretrained(torch.ones(1, 12, 5), t)
        torch.testing.assert_close(const, const[..., :1].expand_as(const))
    assert FeatureStack(("logmel",)).n_channels == 1
    with pytest.raises(ValueError, match="pretrained"):
        stack(waves)
    with pytest.raises(ValueError, match="pretrained_dim"):
        FeatureStack(("logmel", "wav2vec"))
    with pytest.raises(ValueError, match="distinct"):
        FeatureStack(("logmel", "logmel"))
    model = USTCModel.build(4, ("logmel", "wav2vec"), pretrained_dim=12, **SMALL_TDNN)
    with torch.no_grad():
        out = model.eval()(waves, pre)
    assert out.logits.shape == (2, 4) and out.embedding.shape == (2, 16)


# ----------------------------------------------------------------------------- triplet loss


POINTS = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 0.0], [0.0, 2.0], [10.0, 10.0]])
LABELS = torch.tensor([0, 0, 1, 1, 2])


def test_batch_hard_triplet_by_hand():
    """Anchors 0-3 have a positive and negatives; anchor 4 (label 2) has no positive and is skipped.

    d(0,1) = 5, d(0,2) = 1, d(0,3) = 2, d(1,2) = sqrt(20), d(1,3) = sqrt(13), d(2,3) = sqrt(5);
    anchor 0: positive 1 (5), negative 2 (1); anchor 1: positive 0 (5), negative 3 (sqrt 13);
    anchor 2: positive 3 (sqrt 5), negative 0 (1); anchor 3: positive 2 (sqrt 5), negative 0 (2).
    """
    m = 0.3
    loss, pos, neg = batch_hard_triplet_loss(POINTS, LABELS, margin=m, return_indices=True)
    expected = np.mean([5 - 1 + m, 5 - math.sqrt(13) + m, math.sqrt(5) - 1 + m, math.sqrt(5) - 2 + m])
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    assert pos.tolist() == [1, 0, 3, 2, -1]
    assert neg.tolist() == [2, 3, 0, 0, 1]  # anchor 4: d(4,1) = sqrt(85) < d(4,3) = sqrt(164) (reported, not used)
    # the hinge clips satisfied anchors: with margin 0 anchor 3 (sqrt 5 - 2 > 0) still counts, and
    # moving point 3 far from point 0 removes anchor 3's term
    assert batch_hard_triplet_loss(POINTS, LABELS, margin=0.0).item() == pytest.approx(
        np.mean([4, 5 - math.sqrt(13), math.sqrt(5) - 1, math.sqrt(5) - 2]), abs=1e-5
    )
    soft = batch_hard_triplet_loss(POINTS, LABELS, margin="soft")
    assert soft.item() == pytest.approx(
        np.mean(np.log1p(np.exp([4, 5 - math.sqrt(13), math.sqrt(5) - 1, math.sqrt(5) - 2]))), abs=1e-5
    )


def test_batch_hard_triplet_cosine_and_edge_cases():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    loss, pos, neg = batch_hard_triplet_loss(x, y, margin=0.1, distance="cosine", return_indices=True)
    c45 = 1 - 1 / math.sqrt(2)
    # anchor 0: pos 1 (d 1), neg 2 (d c45); anchor 1: pos 0 (1), neg 2 (c45);
    # anchor 2: pos 3 (1 + 1/sqrt 2), neg 0 (c45); anchor 3: pos 2 (1 + 1/sqrt 2), neg 1 (d 1; 0 at d 2)
    assert pos.tolist() == [1, 0, 3, 2] and neg.tolist() == [2, 2, 0, 1]
    terms = [1 - c45 + 0.1, 1 - c45 + 0.1, 2 - 2 * c45 + 0.1, 2 - c45 - 1 + 0.1]
    assert loss.item() == pytest.approx(np.mean(terms), abs=1e-5)
    loss.backward()
    assert torch.isfinite(x.grad).all()
    # no anchor with both a positive and a negative: zero loss that still back-propagates
    z = torch.randn(3, 4, requires_grad=True)
    empty = batch_hard_triplet_loss(z, torch.tensor([0, 1, 2]))
    assert empty.item() == 0.0
    empty.backward()
    # well separated clusters: every hinge is inactive
    far = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.1, 0.0]])
    assert batch_hard_triplet_loss(far, torch.tensor([0, 0, 1, 1]), margin=1.0).item() == 0.0
    # a duplicate point (distance 0) keeps the euclidean gradient finite
    dup = torch.tensor([[1.0, 2.0], [1.0, 2.0], [3.0, 0.0]], requires_grad=True)
    batch_hard_triplet_loss(dup, torch.tensor([0, 0, 1])).backward()
    assert torch.isfinite(dup.grad).all()


# ----------------------------------------------------------------------------- scores


def test_posterior_score_eq6():
    p = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.6, 0.3]])
    logits = p.log() + 7.0  # any shift: the softmax is unchanged
    scores = posterior_score(logits, torch.tensor([0, 2]))
    torch.testing.assert_close(scores, torch.tensor([math.log(0.25), math.log(0.7 / 0.3)]))
    # stable where p rounds to 1: log((1 - p) / p) = log(2 e^-100) = log 2 - 100 exactly
    big = posterior_score(torch.tensor([[100.0, 0.0, 0.0]]), np.array([0]))
    assert big.item() == pytest.approx(math.log(2) - 100, abs=1e-4)
    # ... and where p rounds to 0
    assert posterior_score(torch.tensor([[100.0, 0.0]]), [1]).item() == pytest.approx(100.0)
    with pytest.raises(ValueError, match="lie in"):
        posterior_score(logits, torch.tensor([0, 3]))


def test_posterior_score_single_class_raises():
    """One section per machine type (DCASE 2023-2025): a one-class head gives p = 1 for every clip, eq. (6) is
    undefined (it was -inf, which the records refuse); it raises, naming the way out."""
    with pytest.raises(ValueError, match="single class"):
        posterior_score(torch.randn(4, 1), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="two or more"):
        max_posterior_score(torch.randn(4, 1))


def test_max_posterior_score():
    """Eq. (6) with p the largest class probability: log((1 - p_max) / p_max), exact where p_max rounds to 1."""
    p = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.3, 0.6], [1 / 3, 1 / 3, 1 / 3]])
    scores = max_posterior_score(p.log() - 3.0)
    torch.testing.assert_close(scores, torch.tensor([math.log(0.25), math.log(0.4 / 0.6), math.log(2.0)]))
    assert max_posterior_score(torch.tensor([[0.0, 100.0, 0.0]])).item() == pytest.approx(math.log(2) - 100, abs=1e-4)
    assert torch.isfinite(max_posterior_score(torch.tensor([[1e4, -1e4]]))).all()


def _rows(machine_type, sections, attributes, label=None):
    return pd.DataFrame({"machine_type": machine_type, "section": sections, "attribute_string": attributes,
                         "label": label or ["normal"] * len(sections)})


def test_ustc_classes_sections_or_attributes():
    # several sections (DCASE 2022): the sections, exactly section_codes
    train = _rows("fan", [0, 1, 2, 0], ["a", "b", "a", "b"])
    test = _rows("fan", [2, 0], ["a", "c"])
    classes = ustc_classes(train, test)
    assert classes.kind == "section" and classes.names == section_codes(train)[1]
    assert classes.train.tolist() == section_codes(train)[0].tolist() and classes.test.tolist() == [2, 0]
    # one section (DCASE 2023-2025): its attribute classes; an unseen or unknown test attribute -> -1
    train = _rows("gearbox", [0, 0, 0, 0], ["v_1", "v_2", "v_1", "v_3"])
    test = _rows("gearbox", [0, 0, 0, 0], ["v_2", "v_9", None, "v_1"])
    classes = ustc_classes(train, test)
    assert classes.kind == "attribute" and classes.n_classes == 3
    assert classes.train.tolist() == [0, 1, 0, 2] and classes.test.tolist() == [1, -1, -1, 0]
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(classes.posterior(logits, torch.zeros(2, dtype=torch.long)), max_posterior_score(logits))
    # one section, one attribute class: nothing to classify
    with pytest.raises(ValueError, match="nothing to tell apart"):
        ustc_classes(_rows("pump", [0, 0], ["noAttribute", "noAttribute"]), _rows("pump", [0], ["noAttribute"]))


def test_distance_score_eq7():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -3.0]])
    train_sec = torch.tensor([0, 0, 1, 1])
    test = torch.tensor([[1.0, 1.0], [2.0, 0.0], [1.0, 0.0], [5.0, -5.0]])
    test_sec = np.array([0, 0, 1, 1])
    scores = distance_score(test, train, test_sec, train_sec)
    # (1,1) vs section 0: max cos 1/sqrt 2; (2,0): cos 1 with (1,0); (1,0) vs section 1:
    # cos -1 with (-1,0), 0 with (0,-3) -> 1 - 0; (5,-5) vs (0,-3): cos 1/sqrt 2
    torch.testing.assert_close(scores, torch.tensor([1 - 1 / math.sqrt(2), 0.0, 1.0, 1 - 1 / math.sqrt(2)]))
    # the other section's embeddings are ignored: (1,0) in section 1 is not matched with (1,0) of section 0
    torch.testing.assert_close(distance_score(test, train, test_sec, train_sec, chunk_size=1), scores)
    with pytest.raises(ValueError, match="section"):
        distance_score(test, train, np.array([0, 0, 1, 2]), train_sec)


def test_section_codes():
    index = pd.DataFrame({"machine_type": ["fan", "fan", "fan", "valve"], "section": [1, 0, 1, 0]})
    codes, names = section_codes(index)
    assert names == ["fan/section_00", "fan/section_01", "valve/section_00"]
    assert codes.tolist() == [1, 0, 1, 2]
    test_codes, _ = section_codes(index.iloc[:2], names)
    assert test_codes.tolist() == [1, 0]
    with pytest.raises(ValueError, match="not among"):
        section_codes(pd.DataFrame({"machine_type": ["pump"], "section": [0]}), names)


# ----------------------------------------------------------------------------- end to end


def _clips(section_freqs, am_rates, n, g):
    """Tones (1 % frequency jitter) with amplitude modulation at ``am_rates`` Hz and light noise."""
    t = torch.arange(n) / SR
    f = torch.as_tensor(section_freqs, dtype=torch.float32)[:, None]
    b = f.shape[0]
    f = f * (1 + 0.01 * (torch.rand(b, 1, generator=g) - 0.5))
    phase = 2 * math.pi * torch.rand(b, 1, generator=g)
    rate = torch.as_tensor(am_rates, dtype=torch.float32)[:, None]
    am = 1 + 0.5 * torch.sin(2 * math.pi * rate * t + phase)
    return 0.3 * am * torch.sin(2 * math.pi * f * t + phase) + 0.05 * torch.randn(b, n, generator=g)


@across_seeds()
def test_end_to_end_toy(seed):
    """Log-mel + Tgram TDNN on 3 tone sections (1 s clips, 2 AM-rate attributes each); a noise burst is anomalous.
    The seed: the toy clips, the weights and the batch order."""
    n = SR
    g = torch.Generator().manual_seed(seed)
    freqs, rates = [440.0, 1000.0, 2000.0], [2.0, 6.0]
    sections = torch.arange(3).repeat_interleave(8)
    attr = torch.arange(2).repeat(12)  # attribute within the section
    waves = _clips([freqs[s] for s in sections], [rates[a] for a in attr], n, g)
    seed_everything(seed)
    model = USTCModel.build(3, ("logmel", "tgram"), n_attributes=6, **SMALL_TDNN)
    # 10 epochs (20 updates): in 5 the attribute head's CE had not always started to fall (seed 2, SSE
    # kernels: 1.73 -> 1.75); in 10 it falls by 0.14-0.49 (seeds 0-5, AVX-512 and SSE kernels)
    history = train_ustc(
        model, waves, sections, sections * 2 + attr, epochs=10, batch_size=12, lr=1e-3, device="cpu", seed=seed
    )
    assert set(history) == {"loss", "ce", "triplet", "aux", "acc"} and len(history["loss"]) == 10
    assert history["loss"][-1] < history["loss"][0], history
    assert history["ce"][-1] < history["ce"][0] and history["aux"][-1] < history["aux"][0], history
    assert model.training  # mode restored

    train_out = embed_ustc(model, waves, device="cpu", batch_size=10)
    assert train_out.embedding.shape == (24, 16) and train_out.logits.shape == (24, 3)
    assert train_out.aux_logits.shape == (24, 6)

    n_test = 15
    test_sec = torch.arange(3).repeat_interleave(n_test)
    test_rates = [rates[i % 2] for i in range(3 * n_test)]
    normal = _clips([freqs[s] for s in test_sec], test_rates, n, g)
    anomalous = _clips([freqs[s] for s in test_sec], test_rates, n, g)
    burst = torch.zeros(n)
    burst[n // 4 : n // 2] = 1.0
    anomalous = anomalous + 0.5 * burst * torch.randn(anomalous.shape, generator=g)
    test_out = embed_ustc(model, torch.cat([normal, anomalous]), device="cpu")
    secs = torch.cat([test_sec, test_sec])
    y = np.r_[np.zeros(3 * n_test), np.ones(3 * n_test)]
    dist = distance_score(test_out.embedding, train_out.embedding, secs, sections)
    auc = roc_auc_score(y, dist.numpy())
    print(f"seed {seed}: AUC {auc:.3f}, ce {history['ce']}, aux {history['aux']}")
    assert auc > 0.9, f"AUC {auc:.3f}"
    post = posterior_score(test_out.logits, secs)
    p = torch.softmax(test_out.logits.double(), 1).gather(1, secs[:, None]).squeeze(1)
    torch.testing.assert_close(post.double(), torch.log((1 - p) / p), atol=1e-4, rtol=1e-4)


@across_seeds()
def test_one_section_per_type_attribute_classes(seed):
    """One section per machine type, as in the DCASE 2023-2025 layouts. The section head would have one class: zero
    cross-entropy and triplet loss (no negatives), nothing learnt, a posterior of 1 for every clip. With
    ustc_classes the head learns the section's three attribute classes (planes whose energy lies in one band of
    three), the posterior score of eq. (6) is finite, and clips between two classes (half the energy in each of two
    bands) score above the normal test clips. The seed: the toy clips, the weights and the batch order."""
    g = torch.Generator().manual_seed(seed)

    def planes(bands, n):
        x = 0.3 * torch.randn(n, 1, 8, 20, generator=g)
        for band, weight in bands:
            x[:, :, band] += weight
        return x

    train = torch.cat([planes([(2 * k, 2.0)], 8) for k in range(3)])
    train_rows = _rows("toy", [0] * len(train), [f"spd_{k}" for k in range(3) for _ in range(8)])
    normal = torch.cat([planes([(2 * k, 2.0)], 5) for k in range(3)])
    between = torch.cat([planes([(2 * k, 1.0), (2 * ((k + 1) % 3), 1.0)], 5) for k in range(3)])
    test_rows = _rows("toy", [0] * 30, [f"spd_{k}" for k in range(3) for _ in range(5)] + [None] * 15,
                      ["normal"] * 15 + ["anomaly"] * 15)
    with pytest.raises(ValueError, match="single class"):   # the paper's section head here: one class
        posterior_score(torch.zeros(30, 1), torch.zeros(30, dtype=torch.long))
    classes = ustc_classes(train_rows, test_rows)
    assert classes.kind == "attribute" and classes.n_classes == 3
    assert classes.test.tolist() == [k for k in range(3) for _ in range(5)] + [-1] * 15
    seed_everything(seed)
    net = TDNNClassifier(classes.n_classes, in_channels=1, n_freq=8, **SMALL_TDNN)
    history = train_ustc(net, train, classes.train, epochs=30, batch_size=8, lr=1e-3, device="cpu", seed=seed)
    assert history["ce"][-1] < history["ce"][0] and history["triplet"][0] > 0, history
    out = embed_ustc(net, torch.cat([normal, between]), device="cpu")
    score = classes.posterior(out.logits, torch.zeros(30, dtype=torch.long))
    assert torch.isfinite(score).all()
    auc = roc_auc_score(test_rows["label"] == "anomaly", score.numpy())
    print(f"seed {seed}: AUC {auc:.3f}, ce {history['ce'][0]:.2f} -> {history['ce'][-1]:.2f}")
    assert auc > 0.8, f"AUC {auc:.3f}"


def test_train_on_precomputed_planes_and_errors():
    """train_ustc also trains a bare TDNNClassifier on (N, C, F, T) planes; triplet only, no aux."""
    g = torch.Generator().manual_seed(1)
    y = torch.arange(2).repeat(6)
    x = torch.randn(12, 2, 8, 20, generator=g) + 2.0 * y[:, None, None, None]
    seed_everything(0)
    net = TDNNClassifier(2, in_channels=2, n_freq=8, **SMALL_TDNN)
    hist = train_ustc(net, x, y, epochs=3, batch_size=5, ce_weight=0.0, device="cpu", margin="soft")
    assert set(hist) == {"loss", "ce", "triplet", "acc"}
    assert hist["loss"] == pytest.approx(hist["triplet"])  # CE weighted 0
    out = embed_ustc(net, x.numpy(), device="cpu")
    assert out.aux_logits is None and out.embedding.shape == (12, 16)
    with pytest.raises(ValueError, match="attribute logits"):
        train_ustc(net, x, y, y, epochs=1, batch_size=4, device="cpu")
    with pytest.raises(ValueError, match="codes for"):
        train_ustc(net, x, y[:5], epochs=1, device="cpu")


def test_train_with_pretrained_features_tuple_inputs():
    """All three planes of eq. (4): waveforms plus precomputed (float16-stored) wav2vec features as a tuple."""
    g = torch.Generator().manual_seed(2)
    n = SR // 2  # 16 frames, above the TDNN's context of 15
    waves = torch.randn(8, n, generator=g) * 0.1
    pre = torch.randn(8, 12, 25, generator=g).half()
    y = torch.arange(2).repeat(4)
    seed_everything(0)
    model = USTCModel.build(2, ("logmel", "tgram", "wav2vec"), pretrained_dim=12, n_attributes=3, **SMALL_TDNN)
    before = model.features.projection.weight.detach().clone()
    hist = train_ustc(model, (waves, pre), y, torch.tensor([0, 1, 2, -1] * 2), epochs=2, batch_size=4, device="cpu")
    assert all(math.isfinite(v) for vs in hist.values() for v in vs)
    assert not torch.equal(model.features.projection.weight, before)  # the projection trains with the classifier
    out = embed_ustc(model, (waves, pre), device="cpu", batch_size=3)
    assert out.embedding.shape == (8, 16) and out.aux_logits.shape == (8, 3)
