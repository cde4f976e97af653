"""AEGAN-AD (paper 000, Sec. 3.3): WGAN-GP and feature matching, the networks, the adaptive
LayerNorm, the 18 reconstruction scores, lazy patches, and a short run on a planted anomaly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from asdlib.features import patches as cut_patches
from asdlib.losses.wgan import (
    aegan_generator_loss,
    feature_matching,
    gradient_penalty,
    wgan_critic_loss,
    wgan_generator_loss,
)
from asdlib.models.aegan import (
    SCORE_NAMES,
    AdaptiveLayerNorm,
    AEGANAutoencoder,
    AEGANDecoder,
    AEGANDiscriminator,
    AEGANEncoder,
    ClipPatches,
    aegan_clip_scores,
    aggregate_patches,
    discriminator_embeddings,
    minmax_range,
    patch_clips,
    patch_distance,
    pyramid,
    scale_to_unit,
)
from asdlib.train.aegan import train_aegan
from conftest import across_seeds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- losses


@pytest.mark.parametrize("norm", [1.0, 0.5, 2.5])
def test_gradient_penalty_on_a_linear_critic(norm):
    """f(x) = w.x has input gradient w everywhere: GP = lambda (||w|| - 1)^2 exactly,
    and dGP/dw = 2 lambda (||w|| - 1) w / ||w||."""
    torch.manual_seed(0)
    direction = torch.randn(16, dtype=torch.float64)
    w = (norm * direction / direction.norm()).requires_grad_(True)
    real = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    fake = torch.randn(5, 1, 4, 4, dtype=torch.float64)

    def critic(x):
        return x.reshape(x.shape[0], -1).double() @ w

    lam = 10.0
    gp = gradient_penalty(critic, real, fake, lambda_=lam, generator=torch.Generator().manual_seed(3))
    expected = lam * (norm - 1.0) ** 2
    assert gp.item() == pytest.approx(expected, abs=1e-5)
    (grad,) = torch.autograd.grad(gp, w)
    hand = 2 * lam * (norm - 1.0) * w.detach() / norm
    torch.testing.assert_close(grad.double(), hand, atol=1e-5, rtol=1e-5)
    if norm == 1.0:
        assert abs(gp.item()) < 1e-6 and grad.abs().max() < 1e-5


def test_gradient_penalty_reaches_the_critic_and_takes_tuples():
    torch.manual_seed(0)
    d = AEGANDiscriminator(size=8, width=4)
    real, fake = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    gp = gradient_penalty(d, real, fake)  # d returns (values, features)
    gp.backward()
    assert all(p.grad is not None for p in d.gdconv.parameters())
    with pytest.raises(ValueError, match="shape"):
        gradient_penalty(d, real, fake[:2])


def test_wgan_and_generator_losses_by_hand():
    real_v, fake_v = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert float(wgan_critic_loss(real_v, fake_v)) == pytest.approx(-1.0 - 2.0)  # E[fake] - E[real]
    assert float(wgan_generator_loss(fake_v)) == pytest.approx(1.0)
    f_real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # batch mean (2, 3)
    f_fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]])  # batch mean (1, 1)
    assert float(feature_matching(f_real, f_fake)) == pytest.approx((1 + 4) / 2)
    assert float(feature_matching(f_real, f_fake, reduction="sum")) == pytest.approx(5.0)
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.full((2, 1, 2, 2), 0.5)
    out = aegan_generator_loss(x, x_hat, f_real, f_fake, mu=0.1)
    assert float(out["mse"]) == pytest.approx(0.25)
    assert float(out["fm"]) == pytest.approx(2.5)
    assert float(out["total"]) == pytest.approx(0.25 + 0.1 * 2.5)
    alone = aegan_generator_loss(x, x_hat)
    assert float(alone["total"]) == pytest.approx(0.25) and float(alone["fm"]) == 0.0


# ----------------------------------------------------------------------------- networks


def test_default_shapes_128():
    enc, dec, disc = AEGANEncoder(), AEGANDecoder(), AEGANDiscriminator()
    assert pyramid(128, 32) == [(32, 64), (64, 32), (128, 16), (256, 8), (512, 4)]
    convs = [m for m in enc.body if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 32, (4, 4), (2, 2), (1, 1)), (32, 64, (4, 4), (2, 2), (1, 1)), (64, 128, (4, 4), (2, 2), (1, 1)),
        (128, 256, (4, 4), (2, 2), (1, 1)), (256, 512, (4, 4), (2, 2), (1, 1)),
    ]
    norms = [m for m in enc.body if isinstance(m, nn.LayerNorm)]
    assert [tuple(m.normalized_shape) for m in norms] == [(32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8),
                                                           (512, 4, 4)]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in [*enc.modules(), *dec.modules(), *disc.modules()])
    x = torch.randn(1, 1, 128, 128)
    with torch.no_grad():
        z = enc(x)
        assert z.shape == (1, 256)
        x_hat = dec(z)
        assert x_hat.shape == (1, 1, 128, 128) and x_hat.abs().max() <= 1.0  # tanh
        values, feats = disc(x)
        assert values.shape == (1,) and feats.shape == (1, 512) and disc.embedding_dim == 512
        assert disc.embed(x.squeeze(1)).shape == (1, 512)  # (B, H, W) accepted
        ae = AEGANAutoencoder(latent=64)
        rec, z, z_hat = ae.reconstruct(x)
    assert rec.shape == (1, 1, 128, 128) and z.shape == z_hat.shape == (1, 64)
    with pytest.raises(ValueError, match="power of two"):
        AEGANEncoder(size=96)
    with pytest.raises(ValueError, match="128"):
        enc(torch.randn(1, 1, 64, 64))


def test_first_norm_option_and_tiny_sizes():
    no_first = AEGANEncoder(size=32, latent=8, width=4, first_norm=False)
    assert not isinstance(no_first.body[1], nn.LayerNorm)
    assert sum(isinstance(m, nn.LayerNorm) for m in no_first.body) == 2  # 16x16 dropped, 8x8 and 4x4 kept
    ae = AEGANAutoencoder(size=32, latent=8, width=4)
    assert ae(torch.randn(3, 1, 32, 32)).shape == (3, 1, 32, 32)
    assert AEGANDiscriminator(size=32, width=4).embedding_dim == 16


def test_adaptive_layer_norm_is_per_section():
    torch.manual_seed(0)
    norm = AdaptiveLayerNorm(4, n_sections=3)
    with torch.no_grad():
        norm.weight[1] = torch.tensor([2.0, 1.0, 0.5, 1.0])
        norm.bias[1] = torch.tensor([0.0, 1.0, 0.0, -1.0])
    z = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    normed = (z - z.mean()) / torch.sqrt(z.var(unbiased=False) + 1e-5)
    torch.testing.assert_close(norm(z, torch.tensor([0])), normed)  # identity affine at init
    torch.testing.assert_close(norm(z, torch.tensor([1])), normed * norm.weight[1] + norm.bias[1])
    batch = z.repeat(4, 1)
    out = norm(batch, torch.tensor([0, 1, 1, 2]))
    assert not torch.allclose(out[0], out[1])  # different sections, different transforms
    torch.testing.assert_close(out[1], out[2])  # same section, same output
    torch.testing.assert_close(out[0], out[3])  # sections 0 and 2 still share the initial (1, 0)
    with pytest.raises(ValueError, match="0..2"):
        norm(z, torch.tensor([3]))

    ae = AEGANAutoencoder(size=16, latent=8, width=4, n_sections=2)
    with torch.no_grad():
        # not a uniform rescaling: the decoder's first LayerNorm would cancel it
        ae.ada_norm.bias[1] = torch.linspace(-1.0, 1.0, 8)
        x = torch.randn(1, 1, 16, 16)
        assert not torch.allclose(ae(x, torch.tensor([0])), ae(x, torch.tensor([1])))
        torch.testing.assert_close(ae(x, torch.tensor([1])), ae(x, torch.tensor([1])))
    with pytest.raises(ValueError, match="section"):
        ae(x)


# ----------------------------------------------------------------------------- scaling, patches


def test_scale_to_unit_and_patches():
    train = torch.tensor([[-80.0, -20.0], [-50.0, -30.0]])
    lo, hi = minmax_range(train)
    assert (lo, hi) == (-80.0, -20.0)
    torch.testing.assert_close(scale_to_unit(train, lo, hi), torch.tensor([[-1.0, 1.0], [0.0, 2.0 / 3.0]]))
    assert scale_to_unit(np.array([-110.0]), lo, hi)[0] == pytest.approx(-2.0)  # not clipped

    spec = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10)
    cp = patch_clips(spec, size=4, hop=3)
    assert (cp.n_clips, cp.per_clip, cp.patch_shape, len(cp)) == (2, 3, (3, 4), 6)
    torch.testing.assert_close(cp.materialize(), cut_patches(spec, hop=3, size=4))
    got = cp.take(torch.tensor([1, 0]), torch.tensor([2, 1]))
    torch.testing.assert_close(got[:, 0], torch.stack([spec[1, :, 6:10], spec[0, :, 3:7]]))
    pre = ClipPatches.from_patches(cut_patches(spec, hop=3, size=4))
    torch.testing.assert_close(pre.take(torch.tensor([1]), torch.tensor([2])), got[:1])
    with pytest.raises(ValueError, match="shorter"):
        patch_clips(spec, size=11)


# ----------------------------------------------------------------------------- scores


def test_patch_distances_by_hand():
    a = torch.tensor([[1.0, 2.0, 0.0, -1.0], [1.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 2.0, 1.0, 1.0], [0.0, 3.0, 0.0, 0.0]])
    torch.testing.assert_close(patch_distance(a, b, "l1"), torch.tensor([1 + 0 + 1 + 2.0, 1 + 3.0]))
    torch.testing.assert_close(patch_distance(a, b, "l2"), torch.tensor([1 + 0 + 1 + 4.0, 1 + 9.0]))
    cos0 = (0 + 4 + 0 - 1) / (math.sqrt(6) * math.sqrt(6))
    torch.testing.assert_close(patch_distance(a, b, "cos"), torch.tensor([1 - cos0, 1.0]))
    # patches (B, 1, H, W) are flattened
    torch.testing.assert_close(patch_distance(a.reshape(2, 1, 2, 2), b.reshape(2, 1, 2, 2), "l1"),
                               patch_distance(a, b, "l1"))
    values = np.array([[1.0, 4.0, 2.0], [0.5, 0.5, 3.5]])
    np.testing.assert_allclose(aggregate_patches(values, "mean"), [7 / 3, 1.5])
    np.testing.assert_allclose(aggregate_patches(values, "min"), [1.0, 0.5])
    np.testing.assert_allclose(aggregate_patches(torch.tensor(values), "max"), [4.0, 3.5])
    with pytest.raises(ValueError, match="distance"):
        patch_distance(a, b, "l3")


class _ShiftModel(nn.Module):
    """E(x) = (x flattened, sum of x); G(x) = D(E(x)) = x + 0.5: every score computable by hand."""

    size = 2

    def encode(self, x):
        flat = x.reshape(x.shape[0], -1)
        return torch.cat([flat, flat.sum(1, keepdim=True)], dim=1)

    def decode(self, z, sections=None):
        return z[:, :-1].reshape(-1, 1, 2, 2) + 0.5


def test_clip_scores_match_hand_values():
    """Two clips of two 2x2 patches each; G adds 0.5 to each of the 4 elements."""
    patches = torch.tensor([
        [[[1.0, 0.0], [0.0, 0.0]], [[2.0, 2.0], [0.0, 0.0]]],
        [[[0.0, 0.0], [0.0, 1.0]], [[-1.0, 0.0], [3.0, 0.0]]],
    ])
    scores = aegan_clip_scores(_ShiftModel(), patches, batch_size=3, device="cpu")
    assert list(scores) == list(SCORE_NAMES) and len(SCORE_NAMES) == 18
    # input space: x_hat - x = 0.5 in 4 elements, for every patch
    np.testing.assert_allclose(scores["input_l1_mean"], [2.0, 2.0])
    np.testing.assert_allclose(scores["input_l2_max"], [1.0, 1.0])
    # latent space: E(x + 0.5) - E(x) = (0.5, 0.5, 0.5, 0.5, 2.0)
    np.testing.assert_allclose(scores["latent_l1_min"], [4.0, 4.0])
    np.testing.assert_allclose(scores["latent_l2_mean"], [5.0, 5.0])

    def cos_dist(a, b):
        return 1 - float(a @ b) / float(a.norm() * b.norm())

    inp = [[cos_dist(patches[c, i].reshape(-1), patches[c, i].reshape(-1) + 0.5) for i in range(2)] for c in range(2)]
    lat = []
    for c in range(2):
        row = []
        for i in range(2):
            x = patches[c, i].reshape(-1)
            z, z_hat = torch.cat([x, x.sum(0, keepdim=True)]), torch.cat([x + 0.5, (x + 0.5).sum(0, keepdim=True)])
            row.append(cos_dist(z, z_hat))
        lat.append(row)
    # patch 0 of clip 0: (1, 0, 0, 0) vs (1.5, .5, .5, .5): cos = 1.5 / sqrt(3)
    assert inp[0][0] == pytest.approx(1 - 1.5 / math.sqrt(3.0))
    for how, fn in (("mean", np.mean), ("min", np.min), ("max", np.max)):
        np.testing.assert_allclose(scores[f"input_cos_{how}"], fn(inp, axis=1), rtol=1e-5)
        np.testing.assert_allclose(scores[f"latent_cos_{how}"], fn(lat, axis=1), rtol=1e-5)


def test_discriminator_embeddings_are_clip_means():
    torch.manual_seed(0)
    disc = AEGANDiscriminator(size=8, width=4)
    spec = torch.randn(3, 8, 20)
    cp = patch_clips(spec, size=8, hop=4)
    emb = discriminator_embeddings(disc, cp, batch_size=5)
    assert emb.shape == (3, disc.embedding_dim)
    with torch.no_grad():
        expected = disc.embed(cp.clip(1)).double().mean(0).numpy()
    np.testing.assert_allclose(emb[1], expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- training


def _toy_clips(n: int, g: torch.Generator, anomaly: bool = False, n_mels: int = 32, frames: int = 64) -> torch.Tensor:
    """Log-mel-like clips: two steady harmonic lines plus noise; anomalies add a third, weaker line."""
    x = 0.1 * torch.randn(n, n_mels, frames, generator=g)
    x[:, n_mels // 4, :] += 1.0  # bins 8 and 20 of 32
    x[:, 5 * n_mels // 8, :] += 0.7
    if anomaly:
        x[:, 7 * n_mels // 16, :] += 0.5  # bin 14 of 32
    return x


@pytest.mark.parametrize("adversarial", [False, True])
@across_seeds()
def test_planted_anomaly_scores_higher(adversarial, seed):
    # the seed: the weights, the toy clips, the patch order and the penalty's interpolation weights
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    train = _toy_clips(32, g)
    lo, hi = minmax_range(train)
    cp = patch_clips(scale_to_unit(train, lo, hi), size=32, hop=8)
    sections = np.arange(32) % 2
    model = AEGANAutoencoder(size=32, latent=16, width=8, n_sections=2 if adversarial else None)
    disc = AEGANDiscriminator(size=32, width=8) if adversarial else None
    d_before = None if disc is None else [p.detach().clone() for p in disc.parameters()]
    # a tiny model and a short run: lr 1e-3 instead of the paper's 2e-4
    history = train_aegan(model, cp, sections=sections, discriminator=disc, epochs=12, batch_size=32, lr=1e-3,
                          device="cpu", seed=seed)
    expected = {"g_loss", "mse"} | ({"fm", "d_loss", "gp", "wasserstein"} if adversarial else set())
    assert set(history) == expected
    assert all(len(v) == 12 and all(math.isfinite(x) for x in v) for v in history.values())
    assert history["mse"][-1] < 0.5 * history["mse"][0], history["mse"]
    if adversarial:
        assert any(not torch.equal(a, b) for a, b in zip(d_before, disc.parameters()))
    test = torch.cat([_toy_clips(16, g), _toy_clips(16, g, anomaly=True)])
    y = np.r_[np.zeros(16), np.ones(16)]
    scores = aegan_clip_scores(model, patch_clips(scale_to_unit(test, lo, hi), size=32, hop=8),
                               sections=np.arange(32) % 2)
    aucs = {k: roc_auc_score(y, scores[k]) for k in ("input_l2_mean", "input_l1_max")}
    print(f"adversarial={adversarial}, seed {seed}: AUC {aucs}, mse {history['mse'][0]:.4f} -> {history['mse'][-1]:.4f}")
    assert all(auc > 0.9 for auc in aucs.values()), f"AUC {aucs}"


def test_train_aegan_checks_sections_and_is_reproducible():
    g = torch.Generator().manual_seed(1)
    cp = patch_clips(_toy_clips(4, g, n_mels=16, frames=24), size=16, hop=8)
    with pytest.raises(ValueError, match="sections"):
        train_aegan(AEGANAutoencoder(size=16, latent=4, width=4, n_sections=2), cp, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="one per clip"):
        train_aegan(AEGANAutoencoder(size=16, latent=4, width=4, n_sections=2), cp, sections=[0, 1], epochs=1,
                    device="cpu")
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = AEGANAutoencoder(size=16, latent=4, width=4)
        disc = AEGANDiscriminator(size=16, width=4)
        runs.append(train_aegan(model, cp, discriminator=disc, epochs=2, batch_size=3, n_critic=2,
                                device="cpu", seed=7))
    assert runs[0] == runs[1]


def test_n_critic_counts_updates():
    """n_critic=2: the critic learns on every batch, the generator on batches 1, 3, 5 of the run."""
    g = torch.Generator().manual_seed(2)
    cp = patch_clips(_toy_clips(4, g, n_mels=16, frames=24), size=16, hop=8)  # 8 patches: 3 batches of <= 3
    torch.manual_seed(0)
    model = AEGANAutoencoder(size=16, latent=4, width=4)
    disc = AEGANDiscriminator(size=16, width=4)
    counts = {"g": 0, "d": 0}
    model.decoder.out.weight.register_hook(lambda grad: counts.__setitem__("g", counts["g"] + 1))
    disc.head[-1].weight.register_hook(lambda grad: counts.__setitem__("d", counts["d"] + 1))
    train_aegan(model, cp, discriminator=disc, epochs=2, batch_size=3, n_critic=2, device="cpu")
    assert counts == {"g": 3, "d": 6}  # D frozen during G's backward: no gradient reaches it there
