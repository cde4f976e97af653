"""asdlib.plots: the shared figures (hand-made scores and embeddings; headless matplotlib)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from asdlib import plots

LABEL = "SYNTHETIC data (asdlib generator, preset ci)"


def _scores():
    # source normals 0..4, target normals 5..9, anomalies of both domains 10..13
    return pd.DataFrame({
        "domain": ["source"] * 5 + ["target"] * 5 + ["source", "source", "target", "target"],
        "label": ["normal"] * 10 + ["anomaly"] * 4,
        "score": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 2.5, 10, 11, 12],
        "system": "A", "machine_type": ["fan"] * 7 + ["valve"] * 7, "section": 0,
    })


def test_domain_roc_compares_one_domains_normals_with_all_anomalies():
    fpr, tpr, auc = plots.domain_roc(_scores(), "source")
    # source normals 0..4 against anomalies 2.5, 10, 11, 12: 3 of 4 anomalies above every normal,
    # 2.5 above 3 of the 5 normals -> (3 * 5 + 3) / 20
    assert auc == pytest.approx(18 / 20)
    _, _, auc_target = plots.domain_roc(_scores(), "target")   # 5..9 against the same anomalies
    assert auc_target == pytest.approx(15 / 20)
    assert fpr[0] == 0 and tpr[-1] == 1
    with pytest.raises(ValueError, match="normal and anomalous"):
        plots.domain_roc(_scores()[lambda d: d["label"] == "normal"], "source")


def test_every_figure_carries_the_data_label():
    scores = _scores()
    figures = [
        plots.score_distributions(scores, rows="system", cols="machine_type", data_label=LABEL, title="t"),
        plots.roc_and_scores(scores, by="system", data_label=LABEL),
        plots.training_figure({"loss": {"A": [[3, 2, 1], [4, 2, 1]]}}, data_label=LABEL),
        plots.ours_vs_paper(pd.DataFrame({"paper": [60.0, 70.0], "ours": [50.0, 55.0]}, index=["x", "y"]),
                            data_label=LABEL)[0],
    ]
    for fig in figures:
        assert LABEL in fig._suptitle.get_text()
        plt.close(fig)


def test_score_distributions_draws_one_panel_per_row_and_column():
    fig = plots.score_distributions(_scores(), rows="system", cols="machine_type", data_label=LABEL)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["A\nfan", "A\nvalve"]
    # four step histograms per panel (domain x label), one per DOMAIN_LABEL_STYLE entry
    assert all(len(ax.patches) == 4 for ax in axes)
    plt.close(fig)


def test_training_curves_draw_the_mean_and_a_min_max_band():
    fig, ax = plt.subplots()
    plots.training_curves(ax, {"A": [[4.0, 2.0], [2.0, 0.0]], "B": [[1.0, 1.0]]})
    (line_a, line_b) = ax.lines
    assert line_a.get_xdata().tolist() == [1, 2] and line_a.get_ydata().tolist() == [3.0, 1.0]
    assert line_b.get_ydata().tolist() == [1.0, 1.0]
    assert len(ax.collections) == 1          # a band for A (two runs), none for B (one run)
    plt.close(fig)


def test_ours_vs_paper_sorts_by_the_paper_and_gives_the_rank_correlation():
    compare = pd.DataFrame({"paper": [80.0, 60.0, 70.0], "ours": [52.0, 50.0, 51.0]}, index=["c", "a", "b"])
    fig, rank = plots.ours_vs_paper(compare, data_label=LABEL)
    assert rank == pytest.approx(1.0)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b", "c"]
    plt.close(fig)
    _, reversed_rank = plots.ours_vs_paper(compare.assign(ours=-compare["ours"]), data_label=LABEL)
    assert reversed_rank == pytest.approx(-1.0)


def test_embed_2d_maps_directions_not_lengths():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([5, 0, 0], 0.1, (10, 3)), rng.normal([0, 5, 0], 0.1, (10, 3))])
    scaled = x * rng.uniform(0.5, 20, (20, 1))          # the same directions, other lengths
    a, b = plots.embed_2d(x, perplexity=5), plots.embed_2d(scaled, perplexity=5)
    assert a.shape == (20, 2)
    np.testing.assert_allclose(a, b, atol=1e-6)
    # the two directions form two groups: every point is nearer its own group's centre
    centres = np.array([a[:10].mean(axis=0), a[10:].mean(axis=0)])
    nearest = np.argmin(((a[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    assert nearest.tolist() == [0] * 10 + [1] * 10
    with pytest.raises(ValueError, match="N >= 4"):
        plots.embed_2d(x[:3])


def test_embedding_maps_one_panel_per_machine_type_with_the_legend():
    rng = np.random.default_rng(1)
    meta = pd.DataFrame({"machine_type": ["fan"] * 12 + ["valve"] * 12, "section": [0, 1] * 12,
                         "domain": (["source"] * 6 + ["target"] * 6) * 2, "label": (["normal"] * 4 + ["anomaly"] * 2) * 4})
    fig = plots.embedding_maps(rng.normal(size=(24, 8)), meta, data_label=LABEL, perplexity=3)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["fan", "valve"]
    handles = fig.legends[0].legend_handles
    assert [h.get_label() for h in handles][:2] == ["section 00", "section 01"]
    assert LABEL in fig._suptitle.get_text()
    plt.close(fig)
