"""Behaviour of asdlib.backends: hand-computed scores, rankings, domains, sections, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor

from asdlib.backends import (
    BACKENDS,
    CosineMeanBackend,
    DomainBackend,
    GMMBackend,
    KMeansCosineBackend,
    KNNBackend,
    LOFBackend,
    MahalanobisBackend,
    PerSection,
    SmallSampleWarning,
    make_backend,
)

# Small configurations so every backend fits the toy sets without small-sample warnings.
SMALL = {
    "knn": {"k": 3},
    "lof": {"n_neighbors": 10},
    "cosine": {},
    "mahalanobis": {},
    "kmeans_cosine": {"n_clusters": 4},
    "gmm": {"n_components": 2},
}


def _unit(i: int, d: int = 8, scale: float = 4.0) -> np.ndarray:
    v = np.zeros(d)
    v[i] = scale
    return v


@pytest.fixture(scope="module")
def blobs():
    """Normal training/test blobs around e0 and an anomalous cluster around e1 (8-D)."""
    rng = np.random.default_rng(0)
    train = rng.normal(size=(200, 8)) + _unit(0)
    test = np.vstack([rng.normal(size=(50, 8)) + _unit(0), rng.normal(size=(50, 8)) + _unit(1)])
    labels = np.r_[np.zeros(50), np.ones(50)]
    return train, test, labels


@pytest.fixture(scope="module")
def two_domains():
    """200 source clips around e0, 10 target clips around e1, anomalies around e2 (8-D)."""
    rng = np.random.default_rng(1)
    noise = 0.5
    x_src = rng.normal(scale=noise, size=(200, 8)) + _unit(0)
    x_tgt = rng.normal(scale=noise, size=(10, 8)) + _unit(1)
    train = np.vstack([x_src, x_tgt])
    domains = np.array(["source"] * 200 + ["target"] * 10)
    test = {
        "source": rng.normal(scale=noise, size=(50, 8)) + _unit(0),
        "target": rng.normal(scale=noise, size=(50, 8)) + _unit(1),
        "anomaly": rng.normal(scale=noise, size=(50, 8)) + _unit(2),
    }
    return train, domains, test


def _auc(scores_normal: np.ndarray, scores_anomalous: np.ndarray) -> float:
    y = np.r_[np.zeros(len(scores_normal)), np.ones(len(scores_anomalous))]
    return roc_auc_score(y, np.r_[scores_normal, scores_anomalous])


# --- hand-computed values ---------------------------------------------------------------


@pytest.mark.parametrize("k, expected", [(1, 3.0), (2, 3.5), (3, 4.0)])
def test_knn_euclidean_mean_distance_on_three_points(k, expected):
    train = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    # distances from (3, 4): 5, 4, 3
    score = KNNBackend(k=k, metric="euclidean").fit(train).score_samples(np.array([[3.0, 4.0]]))
    assert score.shape == (1,)
    assert score[0] == pytest.approx(expected)


def test_knn_cosine_distance():
    train = np.array([[1.0, 0.0], [0.0, 2.0]])
    scores = KNNBackend(k=1, metric="cosine").fit(train).score_samples(np.array([[1.0, 1.0], [5.0, 0.0]]))
    np.testing.assert_allclose(scores, [1 - 1 / np.sqrt(2), 0.0], atol=1e-12)


def test_knn_caps_k_at_training_size_with_warning():
    train = np.array([[0.0], [1.0]])
    with pytest.warns(SmallSampleWarning, match="k=5"):
        model = KNNBackend(k=5, metric="euclidean").fit(train)
    assert model.n_neighbors_ == 2
    assert model.score_samples(np.array([[3.0]]))[0] == pytest.approx(2.5)


def test_lof_is_sign_flipped_sklearn_lof_and_outlier_scores_higher(blobs):
    train, _, _ = blobs
    queries = np.vstack([_unit(0), _unit(0) + 20.0])
    scores = LOFBackend(n_neighbors=10, metric="euclidean").fit(train).score_samples(queries)
    ref = LocalOutlierFactor(n_neighbors=10, metric="euclidean", novelty=True).fit(train)
    np.testing.assert_allclose(scores, -ref.score_samples(queries))
    assert scores[0] == pytest.approx(1.0, abs=0.3)  # an inlier's LOF is about 1
    assert scores[1] > 2 * scores[0]


def test_lof_caps_its_neighbourhood_at_n_minus_1_with_a_warning():
    train = np.array([[0.0], [1.0], [2.0], [10.0]])
    with pytest.warns(SmallSampleWarning, match="n_neighbors=20"):
        model = LOFBackend(n_neighbors=20, metric="euclidean").fit(train)
    assert model.n_neighbors_ == 3
    ref = LocalOutlierFactor(n_neighbors=3, metric="euclidean", novelty=True).fit(train)
    np.testing.assert_allclose(model.score_samples(np.array([[5.0]])), -ref.score_samples(np.array([[5.0]])))


def test_cosine_mean_on_orthogonal_vectors():
    # normalised mean of e0 and 3*e1 points along (1, 1)
    model = CosineMeanBackend().fit(np.array([[1.0, 0.0], [0.0, 3.0]]))
    scores = model.score_samples(np.array([[1.0, 0.0], [7.0, 7.0], [1.0, -1.0], [-2.0, -2.0]]))
    np.testing.assert_allclose(scores, [1 - 1 / np.sqrt(2), 0.0, 1.0, 2.0], atol=1e-12)


def test_cosine_mean_rejects_zero_mean_direction():
    with pytest.raises(ValueError, match="zero vector"):
        CosineMeanBackend().fit(np.array([[1.0, 0.0], [-1.0, 0.0]]))


def test_mahalanobis_with_identity_covariance_is_euclidean_distance_to_mean():
    a = np.sqrt(2.0)  # +-a*e_i: mean 0, maximum-likelihood covariance = identity
    train = np.array([[a, 0.0], [-a, 0.0], [0.0, a], [0.0, -a]]) + np.array([1.0, 1.0])
    model = MahalanobisBackend().fit(train)
    np.testing.assert_allclose(model.covariance_estimator_.covariance_, np.eye(2), atol=1e-12)
    queries = np.array([[4.0, 5.0], [1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(model.score_samples(queries), [5.0, 0.0, 1.0], atol=1e-12)
    squared = MahalanobisBackend(squared=True).fit(train).score_samples(queries)
    np.testing.assert_allclose(squared, [25.0, 0.0, 1.0], atol=1e-12)


def test_mahalanobis_full_shrinkage_uses_scaled_identity():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(50, 3)) * np.array([1.0, 2.0, 3.0])
    model = MahalanobisBackend(shrinkage=1.0).fit(train)
    mu = train.mean(axis=0)
    sigma2 = np.trace(np.cov(train.T, bias=True)) / 3  # ShrunkCovariance(1.0) = (tr S / d) I
    q = np.array([[1.0, -1.0, 2.0]])
    expected = np.linalg.norm(q - mu) / np.sqrt(sigma2)
    assert model.score_samples(q)[0] == pytest.approx(expected)
    assert MahalanobisBackend(shrinkage="ledoit_wolf").fit(train).score_samples(q)[0] > 0
    with pytest.raises(ValueError, match="shrinkage"):
        MahalanobisBackend(shrinkage="oas").fit(train)


def test_gmm_single_component_is_gaussian_negative_log_likelihood():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(300, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.2], [0.0, 0.0, 0.5]])
    reg = 1e-3
    model = GMMBackend(n_components=1, reg_covar=reg).fit(train)
    cov = np.cov(train.T, bias=True) + reg * np.eye(3)
    queries = rng.normal(size=(5, 3))
    expected = -multivariate_normal(train.mean(axis=0), cov).logpdf(queries)
    np.testing.assert_allclose(model.score_samples(queries), expected, rtol=1e-6)


# --- Wilkinghoff's k-means + cosine backend ---------------------------------------------


def test_kmeans_cosine_target_training_sample_scores_zero(two_domains):
    train, domains, _ = two_domains
    model = KMeansCosineBackend(n_clusters=4).fit(train, domains)
    target = train[domains == "target"]
    np.testing.assert_allclose(model.score_samples(target * 3.0), 0.0, atol=1e-12)
    assert model.reference_.shape == (4 + 10, 8)


@pytest.mark.parametrize("kmeans_on", ["source", "all"])
def test_kmeans_cosine_equals_reference_code_plus_one(two_domains, kmeans_on):
    """Reference: min(-max x.T, -max x.C) with unnormalised k-means centres C (icassp2023 main.py)."""
    train, domains, test = two_domains
    ln = train / np.linalg.norm(train, axis=1, keepdims=True)
    pool = ln[domains == "source"] if kmeans_on == "source" else ln
    centres = KMeans(n_clusters=4, random_state=0, n_init=10).fit(pool).cluster_centers_
    targets = ln[domains == "target"]
    x = np.vstack(list(test.values()))
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    reference = np.minimum(-np.max(x @ targets.T, axis=1), -np.max(x @ centres.T, axis=1))

    model = KMeansCosineBackend(n_clusters=4, kmeans_on=kmeans_on).fit(train, domains)
    np.testing.assert_allclose(model.score_samples(np.vstack(list(test.values()))), reference + 1.0, atol=1e-10)


def test_kmeans_cosine_without_domains_uses_centres_only(two_domains):
    train, _, _ = two_domains
    model = KMeansCosineBackend(n_clusters=3).fit(train)
    assert model.reference_.shape == (3, 8)
    np.testing.assert_array_equal(model.reference_, model.centres_)


def test_kmeans_cosine_target_only_uses_target_embeddings(two_domains):
    train, domains, _ = two_domains
    rows = domains == "target"
    model = KMeansCosineBackend().fit(train[rows], domains[rows])
    assert model.n_clusters_ == 0
    ln = train[rows] / np.linalg.norm(train[rows], axis=1, keepdims=True)
    np.testing.assert_allclose(model.reference_, ln)


@pytest.mark.parametrize(
    "model, attr",
    [(KMeansCosineBackend(n_clusters=16), "n_clusters_"), (GMMBackend(n_components=16), "n_components_")],
)
def test_fewer_samples_than_clusters_warns_and_caps(model, attr):
    train = np.random.default_rng(4).normal(size=(5, 3))
    with pytest.warns(SmallSampleWarning, match="16"):
        model.fit(train)
    assert getattr(model, attr) == 5
    assert np.all(np.isfinite(model.score_samples(train)))


# --- ranking on a separable toy problem --------------------------------------------------


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_ranks_outlier_cluster_above_normals(name, blobs):
    train, test, labels = blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        scores = make_backend(name, **SMALL[name]).fit(train).score_samples(test)
    assert scores.shape == (100,) and scores.dtype == np.float64
    assert roc_auc_score(labels, scores) > 0.95


def test_torch_tensors_are_accepted(blobs):
    torch = pytest.importorskip("torch")
    train, test, _ = blobs
    t_train = torch.tensor(train, dtype=torch.float32, requires_grad=True)
    t_test = torch.tensor(test, dtype=torch.bfloat16)
    got = KNNBackend(k=2, metric="euclidean").fit(t_train).score_samples(t_test)
    ref = KNNBackend(k=2, metric="euclidean").fit(train.astype(np.float32)).score_samples(
        torch.tensor(test, dtype=torch.bfloat16).double().numpy()
    )
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


# --- domains (paper 003, Table 6) ---------------------------------------------------------


@pytest.mark.parametrize("base", [KMeansCosineBackend(n_clusters=4), KNNBackend(k=1, metric="euclidean")])
def test_joint_and_sum_models_separate_both_domains(two_domains, base):
    train, domains, test = two_domains
    normals = np.vstack([test["source"], test["target"]])
    for mode in ("joint", "sum"):
        model = DomainBackend(base, mode=mode).fit(train, domains)
        assert _auc(model.score_samples(normals), model.score_samples(test["anomaly"])) > 0.95, mode


def test_standardizing_the_sum_repairs_mixed_gmm_scales(two_domains):
    """A GMM on 200 source clips and one on 10 target clips score on different scales:
    the raw sum ranks poorly (paper 003, Table 6: "sum" < "joint"); z-scoring each
    model by its out-of-fold statistics recovers the ranking."""
    train, domains, test = two_domains
    base = GMMBackend(n_components=2, covariance_type="diag")
    normals = np.vstack([test["source"], test["target"]])

    def auc(model):
        return _auc(model.score_samples(normals), model.score_samples(test["anomaly"]))

    joint = auc(DomainBackend(base, mode="joint").fit(train, domains))
    raw_sum = auc(DomainBackend(base, mode="sum").fit(train, domains))
    z_sum = auc(DomainBackend(base, mode="sum", standardize=True).fit(train, domains))
    assert joint > 0.95
    assert raw_sum < 0.95
    assert z_sum > 0.95 and z_sum > raw_sum + 0.03


def test_specialised_domain_models_fail_on_the_other_domain(two_domains):
    train, domains, test = two_domains
    source_only = DomainBackend(KMeansCosineBackend(n_clusters=4), mode="source").fit(train, domains)
    target_only = DomainBackend(KMeansCosineBackend(n_clusters=4), mode="target").fit(train, domains)
    assert list(source_only.models_) == ["source"] and list(target_only.models_) == ["target"]
    # each model knows its own domain...
    assert _auc(source_only.score_samples(test["source"]), source_only.score_samples(test["anomaly"])) > 0.95
    assert _auc(target_only.score_samples(test["target"]), target_only.score_samples(test["anomaly"])) > 0.95
    # ...and finds the other domain's normal clips as strange as anomalies
    assert source_only.score_samples(test["target"]).mean() > 5 * source_only.score_samples(test["source"]).mean()
    assert target_only.score_samples(test["source"]).mean() > 5 * target_only.score_samples(test["target"]).mean()


def test_sum_is_plain_sum_of_the_two_domain_models(two_domains):
    train, domains, test = two_domains
    base = KNNBackend(k=2, metric="euclidean")
    x = np.vstack(list(test.values()))
    model = DomainBackend(base, mode="sum").fit(train, domains)
    src = clone(base).fit(train[domains == "source"]).score_samples(x)
    tgt = clone(base).fit(train[domains == "target"]).score_samples(x)
    np.testing.assert_allclose(model.score_samples(x), src + tgt)
    assert model.offsets_ == {"source": 0.0, "target": 0.0} and model.scales_ == {"source": 1.0, "target": 1.0}


def test_standardized_sum_uses_out_of_fold_statistics(two_domains):
    """k=1 kNN scores its own training clips 0 (std 0); out-of-fold statistics are not degenerate."""
    train, domains, test = two_domains
    base = KNNBackend(k=1, metric="euclidean")
    model = DomainBackend(base, mode="sum", standardize=True, cv=5).fit(train, domains)
    x = np.vstack(list(test.values()))
    src_model, tgt_model = model.models_["source"], model.models_["target"]
    assert np.allclose(src_model.score_samples(train[domains == "source"]), 0.0)  # in-sample: degenerate
    for d in ("source", "target"):
        assert model.offsets_[d] > 0 and model.scales_[d] > 0
    expected = (src_model.score_samples(x) - model.offsets_["source"]) / model.scales_["source"] + (
        tgt_model.score_samples(x) - model.offsets_["target"]
    ) / model.scales_["target"]
    np.testing.assert_allclose(model.score_samples(x), expected)
    # held-out normal clips of each domain land near 0 on their own model's z-scale
    z_src = (src_model.score_samples(test["source"]) - model.offsets_["source"]) / model.scales_["source"]
    assert abs(z_src.mean()) < 1.0
    normals = np.vstack([test["source"], test["target"]])
    assert _auc(model.score_samples(normals), model.score_samples(test["anomaly"])) > 0.95


def test_domain_backend_errors(two_domains):
    train, domains, _ = two_domains
    with pytest.raises(ValueError, match="needs domains"):
        DomainBackend(mode="sum").fit(train)
    with pytest.raises(ValueError, match="no 'target'"):
        DomainBackend(mode="target").fit(train, np.array(["source"] * len(train)))
    with pytest.raises(ValueError, match="mode"):
        DomainBackend(mode="both").fit(train, domains)
    with pytest.raises(ValueError, match="domains must be 'source' or 'target'"):
        DomainBackend(mode="joint").fit(train, np.array(["src"] * len(train)))
    # default base is Wilkinghoff's backend, and joint needs no domains
    joint = DomainBackend().fit(train)
    assert isinstance(joint.models_["joint"], KMeansCosineBackend)


# --- per section ---------------------------------------------------------------------------


def test_per_section_fits_separate_models():
    rng = np.random.default_rng(5)
    x0 = rng.normal(scale=0.3, size=(40, 4)) + _unit(0, 4)
    x1 = rng.normal(scale=0.3, size=(40, 4)) + _unit(1, 4)
    prototype = KNNBackend(k=1, metric="euclidean")
    model = PerSection(prototype).fit(np.vstack([x0, x1]), np.array([0] * 40 + [1] * 40))
    assert set(model.models_) == {0, 1}
    assert model.models_[0] is not model.models_[1] and model.models_[0] is not prototype
    point = _unit(0, 4)[None, :].repeat(2, axis=0)  # normal for section 0, far from section 1
    scores = model.score_samples(point, [0, 1])
    assert scores[0] < 0.5 < 3.0 < scores[1]
    np.testing.assert_allclose(scores[0], model.models_[0].score_samples(point[:1])[0])


def test_per_section_string_sections_and_unseen_section():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20, 3))
    model = PerSection(CosineMeanBackend()).fit(x, ["section_00"] * 10 + ["section_01"] * 10)
    assert model.score_samples(x[:3], np.array(["section_01"] * 3)).shape == (3,)
    with pytest.raises(ValueError, match="section_02"):
        model.score_samples(x[:2], ["section_00", "section_02"])
    with pytest.raises(ValueError, match="sections"):
        model.score_samples(x[:2], ["section_00"])


def test_per_section_per_domain(two_domains):
    train, domains, test = two_domains
    sections = np.zeros(len(train), int)
    model = PerSection(KNNBackend(k=1, metric="euclidean"), per_domain=True).fit(train, sections, domains)
    assert set(model.models_) == {(0, "source"), (0, "target")}
    x = test["target"][:5]
    got = model.score_samples(x, [0] * 5, ["target"] * 5)
    np.testing.assert_allclose(got, model.models_[(0, "target")].score_samples(x))
    with pytest.raises(ValueError, match="needs domains"):
        model.score_samples(x, [0] * 5)
    with pytest.raises(ValueError, match=r"\(1, 'source'\)"):
        model.score_samples(x, [1] * 5, ["source"] * 5)


def test_per_section_passes_domains_to_each_model(two_domains):
    train, domains, _ = two_domains
    model = PerSection(KMeansCosineBackend(n_clusters=4)).fit(train, ["a"] * len(train), domains)
    assert model.models_["a"].reference_.shape == (4 + 10, 8)


# --- factory ---------------------------------------------------------------------------------


def test_make_backend_builds_each_name_and_rejects_unknown():
    assert set(BACKENDS) == {"knn", "lof", "cosine", "mahalanobis", "kmeans_cosine", "gmm"}
    model = make_backend("knn", k=7, metric="euclidean")
    assert isinstance(model, KNNBackend) and model.get_params() == {"k": 7, "metric": "euclidean"}
    assert isinstance(make_backend("kmeans_cosine"), KMeansCosineBackend)
    with pytest.raises(ValueError) as err:
        make_backend("isolation_forest")
    message = str(err.value)
    assert "isolation_forest" in message
    for name in BACKENDS:
        assert name in message


# --- bad input ------------------------------------------------------------------------------


ALL_MODELS = [make_backend(name, **SMALL[name]) for name in sorted(BACKENDS)] + [DomainBackend()]


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: type(m).__name__)
def test_score_before_fit_raises_not_fitted(model):
    with pytest.raises(NotFittedError):
        clone(model).score_samples(np.ones((2, 3)))


def test_per_section_score_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        PerSection().score_samples(np.ones((2, 3)), [0, 0])


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: type(m).__name__)
def test_bad_shapes_and_values_raise_value_error(model, blobs):
    train, test, _ = blobs
    model = clone(model)
    with pytest.raises(ValueError, match=r"X is empty: shape \(0, 8\)"):
        model.fit(np.empty((0, 8)))
    with pytest.raises(ValueError, match="X must be 2-D"):
        model.fit(train[0])
    nan_train = train.copy()
    nan_train[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(nan_train)
    model.fit(train)
    with pytest.raises(ValueError, match="X has 5 features.*fitted with 8"):
        model.score_samples(test[:, :5])
    nan_test = test[:4].copy()
    nan_test[1, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.score_samples(nan_test)
    with pytest.raises(ValueError, match="domains"):
        model.fit(train, domains=["source"] * 3)


def test_per_section_bad_input():
    x = np.random.default_rng(7).normal(size=(10, 3))
    model = PerSection(CosineMeanBackend()).fit(x, [0] * 10)
    with pytest.raises(ValueError, match="X has 2 features"):
        model.score_samples(x[:, :2], [0] * 10)
    with pytest.raises(ValueError, match="sections"):
        PerSection().fit(x, [0] * 9)
    with pytest.raises(ValueError, match="X is empty"):
        PerSection().fit(np.empty((0, 3)), [])


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: type(m).__name__)
def test_backends_clone_with_their_parameters(model):
    copy = clone(model)
    assert copy.get_params(deep=False).keys() == model.get_params(deep=False).keys()
