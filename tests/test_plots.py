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


def _sections():
    # two sections, each with both domains and both labels (the official ROC needs all four)
    one = _scores().assign(machine_type="fan")
    return pd.concat([one.assign(section=0), one.assign(section=1, score=one["score"] * 2)], ignore_index=True)


def test_roc_grid_draws_one_curve_per_section_and_domain_and_the_pauc_strip():
    scores = pd.concat([_sections(), _sections().assign(machine_type="valve")], ignore_index=True)
    fig = plots.roc_grid(scores, data_label=LABEL, title="ROC", panel_title=lambda mt: f"{mt}!")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["fan!", "valve!"]
    for ax in panels:
        assert len(ax.lines) == 2 * 2 + 1             # 2 sections x 2 domains, and the chance line
        assert len(ax.patches) == 1                   # the pAUC region
    assert panels[0].get_ylabel() == "true positive rate" and panels[1].get_ylabel() == ""
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["source normals vs all anomalies", "target normals vs all anomalies", "pAUC region (FPR ≤ 0.1)"]
    assert "SYNTHETIC" in fig._suptitle.get_text()
    plt.close(fig)


def test_roc_grid_without_domains_draws_one_curve_per_section():
    scores = _sections().assign(domain=None)
    fig = plots.roc_grid(scores, data_label=LABEL, max_fpr=None)
    (ax,) = [ax for ax in fig.axes if ax.get_title()]
    assert len(ax.lines) == 2 + 1 and len(ax.patches) == 0
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["all clips"]
    plt.close(fig)


def test_threshold_and_rocs_official_and_domain_only_curves_with_their_aucs():
    scores = _scores()
    fig = plots.threshold_and_rocs(scores, {2.0: "low", 9.5: "high"}, data_label="hand-made scores")
    strip, rocs = fig.axes
    assert [t.get_text() for t in strip.get_yticklabels()] == ["source normal", "target normal",
                                                             "source anomaly", "target anomaly"]
    assert len(strip.collections) == 4                # one scatter per group
    assert sum("φ = " in t.get_text() for t in strip.texts) == 2
    labels = [line.get_label() for line in rocs.lines]
    # the official source AUC is the hand-computed one of domain_roc (18 / 20)
    assert labels[0] == "source, official: AUC 0.900"
    assert labels[1].startswith("source, domain-only") and labels[-1] == "chance"
    assert len(rocs.lines) == 2 * 2 + 1
    assert "hand-made scores" in fig._suptitle.get_text()
    plt.close(fig)


def test_training_grid_panels_each_run_marks_and_empty_panels():
    runs = {"fan": [[3, 2, 1], [4, 3, 2]], "valve": [[5, 4, 3]]}
    grid = [[plots.CurvePanel(runs, title="total", each_run=True, colours={"fan": "C0", "valve": "C1"}, legend=False),
             None],
            [plots.CurvePanel({"AUC": [[0.5, 0.7, 0.6]], "pAUC": [[0.5, 0.5, 0.5]]}, title="diagnostic", band=None,
                              hline=0.5, ylim=(0.2, 1), mark_max="AUC", mark_label="best epoch (oracle)"),
             plots.CurvePanel({"loss": [[1.0, 0.1, 0.01]]}, title="loss", log_y=True)]]
    fig = plots.training_grid(grid, data_label=LABEL, title="t", legend_colours={"fan": "C0", "valve": "C1"})
    total, empty, diagnostic, loss = fig.axes
    assert len(total.lines) == 3                      # every run of every label
    assert not empty.axison
    star = [line for line in diagnostic.lines if line.get_label() == "best epoch (oracle)"]
    assert star[0].get_xdata().tolist() == [2] and star[0].get_ydata().tolist() == [0.7]
    assert diagnostic.get_ylim() == (0.2, 1)
    assert loss.get_yscale() == "log"
    assert total.get_xlim() == (0.5, 3.5)             # whole epochs
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["fan", "valve"]
    assert LABEL in fig._suptitle.get_text()
    plt.close(fig)


def test_embedding_panels_draw_the_given_maps_and_one_legend():
    meta = pd.DataFrame({"section": [0, 0, 1, 1], "domain": ["source", "target"] * 2,
                         "label": ["normal", "anomaly"] * 2})
    xy = np.arange(8.0).reshape(4, 2)
    fig = plots.embedding_panels([[("a", xy[:2], meta[:2]), ("b", xy[2:], meta[2:])], [None, ("c", xy, meta)]],
                                 data_label=LABEL, title="maps")
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["a", "b", "c"]
    c = [ax for ax in fig.axes if ax.get_title() == "c"][0]
    assert sum(len(coll.get_offsets()) for coll in c.collections) == 4
    assert [h.get_label() for h in fig.legends[0].legend_handles][:2] == ["section 00", "section 01"]
    assert LABEL in fig._suptitle.get_text()
    plt.close(fig)


def test_bar_chart_one_bar_per_system_and_type_with_error_bars_and_hatching():
    means = pd.DataFrame({"A": [60.0, 70.0], "B": [55.0, 65.0], "C": [50.0, 52.0]}, index=["fan", "valve"])
    stds = means * 0 + 2.0
    fig = plots.bar_chart(means, stds, data_label=LABEL, title="bars", ylabel="h-mean (%)", hatches={"A": "//"})
    (ax,) = fig.axes
    rects = ax.patches
    assert len(rects) == 3 * 2
    assert [r.get_height() for r in rects] == [60.0, 70.0, 55.0, 65.0, 50.0, 52.0]
    assert [r.get_hatch() for r in rects[:2]] == ["//", "//"] and not rects[2].get_hatch()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fan", "valve"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A", "B", "C"]
    assert ax.get_ylabel() == "h-mean (%)" and ax.get_ylim() == (0, 100)
    assert "SYNTHETIC" in ax.get_title()
    plt.close(fig)
