"""WSP-NFCDEE (paper 000, section 3.2): the pooling constraint, the flows' densities,
maximum-likelihood training, and a small end-to-end detection on synthetic log-mels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from asdlib.models.wsp_nfcdee import (
    NFCDEE,
    NFCDEE_ALPHA,
    WSPNFCDEE,
    WeightedStatPooling,
    time_stats,
)
from asdlib.train import score_wsp_nfcdee, train_wsp_nfcdee
from conftest import across_seeds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def toy_log_mels(n: int, n_mels: int = 16, n_frames: int = 24, anomalous: bool = False, seed: int = 0):
    """Normal clips: a fixed spectral profile + a per-clip gain (std 2 dB) + unit noise.
    Anomalies add a 1.5 dB peak in bins 5-7: well inside the marginal range of those bins,
    but far off what the other bins predict (the time-mean noise is ~0.2 dB)."""
    g = torch.Generator().manual_seed(seed)
    profile = torch.linspace(-20.0, -40.0, n_mels) + 3.0 * torch.sin(torch.arange(n_mels) / 2.0)
    gain = 2.0 * torch.randn(n, 1, 1, generator=g)
    x = profile[None, :, None] + gain + torch.randn(n, n_mels, n_frames, generator=g)
    if anomalous:
        x[:, 5:8] += 1.5
    return x


# ----------------------------------------------------------------------------- pooling


def test_wsp_pools_mean_and_std():
    wsp = WeightedStatPooling(alpha=0.3)
    x = torch.randn(3, 8, 50)
    out = wsp(x)
    assert out.shape == (3, 8)
    expected = 0.3 * x.mean(-1) + 0.7 * x.std(-1, correction=0)
    torch.testing.assert_close(out, expected)
    assert time_stats(x).shape == (3, 2, 8)
    assert torch.isclose(wsp.alpha + wsp.beta, torch.tensor(1.0))


@pytest.mark.parametrize("opt, lr", [("adam", 1e-2), ("adam", 1e4), ("sgd", 1e8)])
@pytest.mark.parametrize("direction", [1.0, -1.0])
def test_wsp_weights_stay_positive_and_sum_to_one(opt, lr, direction):
    wsp = WeightedStatPooling(alpha=0.5)
    optim = torch.optim.Adam(wsp.parameters(), lr=lr) if opt == "adam" else torch.optim.SGD(wsp.parameters(), lr=lr)
    x = torch.randn(4, 8, 20)
    for _ in range(20):  # push alpha to one end as hard as possible
        optim.zero_grad()
        (direction * wsp(torch.cat([x[:, :4] * 0 + 100, x[:, 4:]], 1)).sum()).backward()
        optim.step()
        a, b = wsp.alpha.detach(), wsp.beta.detach()
        assert torch.isfinite(wsp.logit).all()
        assert a > 0 and b > 0
        assert a >= wsp.eps * 0.999 and b >= wsp.eps * 0.999
        assert abs(float(a + b) - 1.0) < 1e-6
    if lr > 1:  # a huge learning rate saturates at the floor, it does not cross it
        assert min(float(wsp.alpha.detach()), float(wsp.beta.detach())) < 2 * wsp.eps


def test_wsp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        WeightedStatPooling(alpha=1.0)
    with pytest.raises(ValueError, match="eps"):
        WeightedStatPooling(eps=0.5)
    frozen = WeightedStatPooling(alpha=0.25, trainable=False)
    assert not frozen.trainable and float(frozen.alpha) == 0.25 and not list(frozen.parameters())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        WeightedStatPooling(alpha=1.5, trainable=False)


def test_fixed_mean_pooling_is_the_time_mean():
    # NF-CDEE without WSP: alpha fixed at 1, the time std drops out exactly
    x = torch.randn(3, 8, 50) * 5.0 - 30.0
    mean_pool = WeightedStatPooling(alpha=NFCDEE_ALPHA, trainable=False)
    assert float(mean_pool.alpha) == 1.0 and float(mean_pool.beta) == 0.0
    assert torch.equal(mean_pool(x), time_stats(x)[:, 0])
    torch.testing.assert_close(mean_pool(x), x.mean(-1))
    std_pool = WeightedStatPooling(alpha=0.0, trainable=False)
    assert torch.equal(std_pool(x), time_stats(x)[:, 1])


def test_default_pooling_is_unchanged():
    # the trained pooling: one logit, alpha = eps + (1 - 2 eps) sigmoid(logit), bit for bit
    wsp = WeightedStatPooling()
    assert wsp.trainable and [name for name, _ in wsp.named_parameters()] == ["logit"]
    assert float(wsp.logit.detach()) == 0.0 and float(wsp.alpha.detach()) == 0.5
    assert list(dict(wsp.named_buffers())) == []


# ----------------------------------------------------------------------------- flows


@pytest.mark.parametrize("flow", ["maf", "nsf"])
@pytest.mark.parametrize("n_features, n_groups", [(1, 1), (2, 2)])  # unconditional; 1-D given 1 context bin
def test_one_dim_flow_density_integrates_to_one(flow, n_features, n_groups):
    torch.manual_seed(0)
    model = NFCDEE(n_features, n_groups=n_groups, transforms=2, hidden=16, flow=flow)
    with torch.no_grad():  # random, non-trivial weights (zuko initialises near the identity)
        for p in model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    grid = torch.linspace(-40.0, 40.0, 40_001)
    for context in (-1.5, 0.0, 2.0):
        x = torch.stack([grid, torch.full_like(grid, context)], 1)[:, :n_features]
        with torch.no_grad():
            density = model.group_log_prob(x)[:, 0].double().exp()  # p(x_0 | x_1 = context)
        mass = torch.trapezoid(density, grid.double()).item()
        assert mass == pytest.approx(1.0, abs=0.02)
        assert density[0] < 1e-4 and density[-1] < 1e-4  # the grid covers the mass


def gaussian_conditional_entropy(cov: np.ndarray, groups: list[slice]) -> float:
    """sum_g H(x_g | x_rest) of a Gaussian, in nats: the minimum expected ensemble NLL."""
    total = 0.0
    for g in groups:
        idx = np.arange(len(cov))
        rest = np.setdiff1d(idx, idx[g])
        s = cov[g, g] - cov[g][:, rest] @ np.linalg.solve(cov[np.ix_(rest, rest)], cov[rest][:, g])
        total += 0.5 * np.linalg.slogdet(2 * math.pi * math.e * s)[1]
    return total


@across_seeds()
def test_flow_nll_falls_on_gaussian_toy_set(seed):
    torch.manual_seed(seed)  # the weights
    rng = np.random.default_rng(seed)  # the covariance and the samples
    d = 6
    a = rng.normal(size=(d, d))
    cov = 4.0 * (a @ a.T / d + 0.1 * np.eye(d))  # correlated, off unit scale
    x = torch.as_tensor(rng.multivariate_normal(np.full(d, 2.0), cov, size=5000), dtype=torch.float32)
    train, test = x[:4000], x[4000:]
    model = NFCDEE(d, n_groups=3, transforms=1, hidden=16)  # small: bigger ones overfit 4000 points
    assert [g.stop - g.start for g in model.groups] == [2, 2, 2]
    optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        before = model.nll(test).mean().item()
    for _ in range(150):
        optim.zero_grad()
        model.nll(train).mean().backward()
        optim.step()
    with torch.no_grad():
        after = model.nll(test).mean().item()
    best = gaussian_conditional_entropy(cov, model.groups)
    print(f"seed {seed}: test NLL {before:.3f} -> {after:.3f}, best {best:.3f}")
    assert after < before - 10.0, (before, after)
    assert after == pytest.approx(best, abs=0.25), (after, best)  # close to the true conditional entropies


def test_nfcdee_shapes_and_groups():
    model = NFCDEE(10, n_groups=3, transforms=1, hidden=8)
    assert [(g.start, g.stop) for g in model.groups] == [(0, 4), (4, 7), (7, 10)]
    x = torch.randn(5, 10)
    assert model.group_log_prob(x).shape == (5, 3)
    torch.testing.assert_close(model.log_prob(x), model.group_log_prob(x).sum(1))
    torch.testing.assert_close(model(x), -model.log_prob(x))
    with pytest.raises(ValueError, match="n_groups"):
        NFCDEE(4, n_groups=5)
    with pytest.raises(ValueError, match=r"\(B, 10\)"):
        model.log_prob(torch.randn(5, 9))


# ----------------------------------------------------------------------------- WSP-NFCDEE


def test_standardised_features_are_unit_scale_at_any_alpha():
    model = WSPNFCDEE(16, n_groups=2, transforms=1, hidden=8)
    x = toy_log_mels(64)
    with pytest.raises(RuntimeError, match="fit_standardizer"):
        model.features(x)
    model.fit_standardizer(time_stats(x))
    for alpha in (0.05, 0.5, 0.95):
        model.pool.logit.data.fill_(math.log(alpha / (1 - alpha)))
        with torch.no_grad():
            f = model.features(x)
        assert f.shape == (64, 16)
        assert f.mean(0).abs().max() < 1e-4
        torch.testing.assert_close(f.std(0, correction=0), torch.ones(16), atol=1e-3, rtol=0)


def test_wsp_nfcdee_shapes():
    model = WSPNFCDEE(12, n_groups=3, transforms=1, hidden=8)
    x = toy_log_mels(10, n_mels=12, n_frames=7)
    history = train_wsp_nfcdee(model, x.numpy(), epochs=2, batch_size=4, lr=1e-3, device="cpu", seed=0)
    assert set(history) == {"loss", "alpha"} and len(history["loss"]) == len(history["alpha"]) == 2
    assert all(math.isfinite(v) for v in history["loss"])
    with torch.no_grad():
        assert model.nll(x[:3]).shape == (3,)
        assert model.features(x[:3]).shape == (3, 12)
        assert model.pool(x[:3]).shape == (3, 12)
    scores = score_wsp_nfcdee(model, x, batch_size=4)
    assert isinstance(scores, np.ndarray) and scores.shape == (10,) and np.isfinite(scores).all()
    with pytest.raises(ValueError, match="n_mels=12"):
        model.nll(torch.randn(2, 11, 7))


@across_seeds()
def test_wsp_nfcdee_detects_a_planted_peak(seed):
    # the seed: the weights, the batch order and the toy clips (seed 0: data seeds 1, 2, 3)
    torch.manual_seed(seed)
    model = WSPNFCDEE(16, n_groups=4, transforms=2, hidden=32)
    history = train_wsp_nfcdee(model, toy_log_mels(256, seed=10 * seed + 1), epochs=15, batch_size=64, lr=3e-3,
                               device="cpu", seed=seed)
    assert history["loss"][-1] < history["loss"][0] - 5.0, history["loss"]
    assert all(0.0 < a < 1.0 for a in history["alpha"])
    normal = toy_log_mels(64, seed=10 * seed + 2)
    anomalous = toy_log_mels(64, anomalous=True, seed=10 * seed + 3)
    scores = score_wsp_nfcdee(model, torch.cat([normal, anomalous]))
    auc = roc_auc_score(np.r_[np.zeros(64), np.ones(64)], scores)
    print(f"seed {seed}: AUC {auc:.3f}, loss {history['loss'][0]:.2f} -> {history['loss'][-1]:.2f}")
    assert auc > 0.9, f"AUC {auc:.3f}"
    # deterministic: same seed and weights give the same scores
    again = score_wsp_nfcdee(model, torch.cat([normal, anomalous]))
    np.testing.assert_array_equal(scores, again)


@pytest.mark.parametrize("standardize", ["pooled", "each"])
def test_nfcdee_ablation_keeps_alpha_fixed_and_models_the_standardised_time_mean(standardize):
    x = toy_log_mels(24)

    def make(**kwargs):
        torch.manual_seed(0)
        return WSPNFCDEE(16, n_groups=2, transforms=1, hidden=8, standardize=standardize, **kwargs)

    wsp, ablation = make(), make(alpha=NFCDEE_ALPHA, train_alpha=False)
    # same seed, same initial flows: the pooling is the only difference
    for (name, p), (name_ab, q) in zip(wsp.flows.named_parameters(), ablation.flows.named_parameters()):
        assert name == name_ab and torch.equal(p, q)
    history = train_wsp_nfcdee(ablation, x, epochs=5, batch_size=8, lr=1e-2, device="cpu", seed=0, noise=0.6)
    trained = train_wsp_nfcdee(wsp, x, epochs=5, batch_size=8, lr=1e-2, device="cpu", seed=0, noise=0.6)
    assert history["alpha"] == [1.0] * 5 and ablation.alpha == 1.0 and ablation.beta == 0.0
    assert trained["alpha"][-1] != 0.5   # the trained pooling moves under the same schedule
    y = time_stats(x)[:, 0].double()
    expected = (y - y.mean(0)) / y.std(0, correction=0)   # the standardised time mean, by hand
    with torch.no_grad():
        torch.testing.assert_close(ablation.features(x).double(), expected, atol=1e-3, rtol=0)
    scores = score_wsp_nfcdee(ablation, x)
    assert scores.shape == (24,) and np.isfinite(scores).all()


def test_standardize_each_pools_the_standardised_statistics():
    x = toy_log_mels(64)
    stats = time_stats(x)
    model = WSPNFCDEE(16, n_groups=2, transforms=1, hidden=8, standardize="each")
    model.fit_standardizer(stats)
    y, z = stats[:, 0].double(), stats[:, 1].double()
    ys, zs = (y - y.mean(0)) / y.std(0, correction=0), (z - z.mean(0)) / z.std(0, correction=0)
    for alpha in (0.05, 0.5, 0.95):
        model.pool.logit.data.fill_(math.log(alpha / (1 - alpha)))
        a = float(model.pool.alpha.detach())
        u = a * ys + (1 - a) * zs   # by hand: pool the standardised statistics, standardise again
        expected = (u - u.mean(0)) / u.std(0, correction=0)
        with torch.no_grad():
            f = model.features(x)
        torch.testing.assert_close(f.double(), expected, atol=2e-3, rtol=0)
    # at alpha = 0.5, pooled raw (the default) is almost the time mean alone (its spread, the toy's
    # 2 dB gain, dominates); standardised each, the time std weighs as much as the mean

    def corr(a, b):   # per bin, over clips
        a, b = a - a.mean(0), b - b.mean(0)
        return (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0))

    pooled = WSPNFCDEE(16, n_groups=2, transforms=1, hidden=8)
    pooled.fit_standardizer(stats)
    model.pool.logit.data.fill_(0.0)
    with torch.no_grad():
        assert corr(pooled.features(x).double(), ys).min() > 0.99
        assert (corr(model.features(x).double(), zs) - corr(pooled.features(x).double(), zs).abs()).min() > 0.3
    with pytest.raises(ValueError, match="standardize"):
        WSPNFCDEE(16, standardize="raw")


def test_training_noise_keeps_the_flows_from_fitting_the_clips_exactly():
    x = toy_log_mels(12)

    def train(noise):
        torch.manual_seed(0)
        model = WSPNFCDEE(16, n_groups=2, transforms=1, hidden=16, standardize="each")
        kwargs = {} if noise is None else {"noise": noise}
        return train_wsp_nfcdee(model, x, epochs=150, batch_size=12, lr=1e-2, device="cpu", seed=0, **kwargs)["loss"]

    plain, zero, noisy = train(None), train(0.0), train(0.6)
    assert plain == zero   # noise=0 is the default, bit for bit
    assert all(math.isfinite(v) for v in noisy)
    # without noise the NLL of 12 clips in 16 dimensions keeps falling; with it, it levels off higher
    assert noisy[-1] > plain[-1] + 5.0, (plain[-1], noisy[-1])
    with pytest.raises(ValueError, match="noise"):
        train(-0.1)
