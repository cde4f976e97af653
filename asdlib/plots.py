"""The book's figures: what two chapters would otherwise each draw in their own way.

Every figure-level function takes ``data_label`` (``run.data_label``, which says SYNTHETIC
for the generator's data) and puts it in the figure's title, so no figure made from the
records or the scores can lose it. Conventions, the same in every chapter:

- **domains and labels** (:data:`DOMAIN_LABEL_STYLE`): blue source, orange target; solid
  normal, dotted anomalous (histograms, ROC curves);
- **embedding maps** (:func:`scatter_clips`): colour = section, filled marker = normal clip,
  hollow = anomalous, circle = source domain, triangle = target domain;
- **ours against the paper** (:func:`ours_vs_paper`): the paper's numbers on the left, ours on
  the right, one row per system, sorted by the paper's value, with the Spearman rank
  correlation of the two orderings.

Torch-free; matplotlib, scikit-learn (t-SNE, ROC) and threadpoolctl are imported where used.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

DOMAIN_LABEL_STYLE = ((("source", "normal"), "C0", "-"), (("target", "normal"), "C1", "-"),
                      (("source", "anomaly"), "C0", ":"), (("target", "anomaly"), "C1", ":"))
"""(domain, label) -> colour and line style: blue source, orange target; solid normal, dotted anomalous."""

DOMAIN_MARKERS = {"source": "o", "target": "^"}
"""Embedding maps: circle source, triangle target (another domain value: a square)."""


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _suptitle(fig, title: str | None, data_label: str, **kwargs) -> None:
    fig.suptitle(f"{title}\n{data_label}" if title else data_label, **kwargs)


# --------------------------------------------------------------------------- score distributions

def score_histograms(ax, scores: pd.DataFrame, column: str = "score", bins=20, clip_percentiles=None) -> None:
    """Step histograms of ``scores[column]`` per domain and label on ``ax`` (:data:`DOMAIN_LABEL_STYLE`).

    ``scores`` has columns ``domain`` and ``label`` (``normal``/``anomaly``). ``clip_percentiles=(2, 98)``
    counts heavy tails in the edge bins."""
    values = scores[column]
    if clip_percentiles is not None:
        low, high = np.percentile(values, clip_percentiles)
        values = values.clip(low, high)
        edges = np.linspace(low, high, bins + 1)
    else:
        edges = np.histogram_bin_edges(values, bins=bins)
    for (domain, label), colour, line_style in DOMAIN_LABEL_STYLE:
        mine = values[(scores["domain"] == domain) & (scores["label"] == label)]
        ax.hist(mine, bins=edges, histtype="step", color=colour, ls=line_style, lw=1.3, label=f"{domain} {label}")


def score_distributions(scores: pd.DataFrame, *, rows: str | None = "system", cols: str = "machine_type",
                        column: str = "score", data_label: str, title: str | None = None, bins: int = 20,
                        clip_percentiles=None, panel_size=(2.3, 2.3), xlabel: str | None = None):
    """A grid of :func:`score_histograms`: one panel per value of ``rows`` x ``cols`` (e.g. system x
    machine type, or machine type x section), in the order they first appear. Returns the figure."""
    plt = _plt()
    row_values = list(dict.fromkeys(scores[rows])) if rows else [None]
    col_values = list(dict.fromkeys(scores[cols]))
    fig, axes = plt.subplots(len(row_values), len(col_values), squeeze=False, layout="constrained",
                             figsize=(panel_size[0] * len(col_values) + 0.6, panel_size[1] * len(row_values) + 0.8))
    for r, rv in enumerate(row_values):
        for c, cv in enumerate(col_values):
            ax = axes[r, c]
            sel = scores[(scores[cols] == cv) & ((scores[rows] == rv) if rows else True)]
            if len(sel):
                score_histograms(ax, sel, column, bins=bins, clip_percentiles=clip_percentiles)
            name = f"section {cv:02d}" if cols == "section" and isinstance(cv, (int, np.integer)) else str(cv)
            ax.set_title(f"{rv}\n{name}" if rows else name, fontsize=8)
            ax.set_yticks([])
            if xlabel and r == len(row_values) - 1:
                ax.set_xlabel(xlabel, fontsize=8)
    axes[0, -1].legend(fontsize=7, frameon=False, loc="upper right")
    _suptitle(fig, title, data_label, fontsize=9)
    return fig


# --------------------------------------------------------------------------- ROC curves

def domain_roc(scores: pd.DataFrame, domain: str, column: str = "score"):
    """The official ROC of one domain: that domain's normal clips against **all** anomalies (both
    domains), as AUC(source) / AUC(target) are defined. Returns ``(fpr, tpr, auc)``."""
    from sklearn.metrics import roc_auc_score, roc_curve

    part = scores[((scores["domain"] == domain) & (scores["label"] == "normal")) | (scores["label"] == "anomaly")]
    y = (part["label"] == "anomaly").to_numpy()
    if y.all() or not y.any():
        raise ValueError(f"domain_roc: the {domain} domain needs normal and anomalous clips")
    fpr, tpr, _ = roc_curve(y, part[column])
    return fpr, tpr, float(roc_auc_score(y, part[column]))


def roc_curves(ax, scores: pd.DataFrame, column: str = "score", domains: Sequence[str] = ("source", "target")) -> None:
    """ROC curves per domain on ``ax`` (:func:`domain_roc`), each labelled with its AUC, and the chance line."""
    colours = {d: c for (d, label), c, _ in DOMAIN_LABEL_STYLE if label == "normal"}
    for domain in domains:
        fpr, tpr, auc = domain_roc(scores, domain, column)
        ax.plot(fpr, tpr, color=colours.get(domain, "0.3"), label=f"{domain} normals: AUC {auc:.2f}")
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
    ax.set_xlabel("false positive rate")


def roc_and_scores(scores: pd.DataFrame, *, by: str = "system", column: str = "score", data_label: str,
                   title: str | None = None, xlabel: str = "score", order: Sequence | None = None):
    """One column per value of ``by`` (in ``order``, else as they first appear): ROC curves per
    domain (top) and score histograms (bottom)."""
    plt = _plt()
    values = list(order) if order is not None else list(dict.fromkeys(scores[by]))
    fig, axes = plt.subplots(2, len(values), figsize=(3.1 * len(values) + 0.4, 6.2), squeeze=False,
                             layout="constrained")
    for c, value in enumerate(values):
        sel = scores[scores[by] == value]
        roc_curves(axes[0, c], sel, column)
        axes[0, c].set_title(str(value), fontsize=8)
        axes[0, c].legend(fontsize=7, frameon=False, loc="lower right")
        score_histograms(axes[1, c], sel, column)
        axes[1, c].set_xlabel(xlabel)
        axes[1, c].set_yticks([])
    axes[0, 0].set_ylabel("true positive rate")
    axes[1, 0].set_ylabel("clips")
    axes[1, -1].legend(fontsize=7, frameon=False, loc="upper right")
    _suptitle(fig, title, data_label, fontsize=9)
    return fig


# --------------------------------------------------------------------------- training curves

def training_curves(ax, curves: Mapping[str, Sequence[Sequence[float]]], *, band: str | None = "minmax",
                    centre: Callable = np.mean, highlight: str | None = None, colours=None, marker: str = "o") -> None:
    """Per label, the ``centre`` (mean) over runs of ``curves[label]`` (runs x epochs) against the
    epoch (1, 2, ...), with a min-to-max band when there are several runs (``band=None``: none).
    ``highlight`` draws one label thicker."""
    plt = _plt()
    colours = colours or plt.get_cmap("tab20" if len(curves) > 10 else "tab10")
    for i, (label, runs) in enumerate(curves.items()):
        runs = np.atleast_2d(np.asarray(runs, dtype=float))
        epochs = np.arange(1, runs.shape[1] + 1)
        colour = colours(i) if callable(colours) else colours[label]
        ax.plot(epochs, centre(runs, axis=0), color=colour, marker=marker, ms=3,
                lw=2.2 if label == highlight else 1.2, label=label)
        if band == "minmax" and len(runs) > 1:
            ax.fill_between(epochs, runs.min(axis=0), runs.max(axis=0), color=colour, alpha=0.15, lw=0)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))


def training_figure(panels: Mapping[str, Mapping[str, Sequence[Sequence[float]]]], *, data_label: str,
                    title: str | None = None, ylabels: Mapping[str, str] | None = None, log_y: Iterable[str] = (),
                    legend: str = "last", panel_size=(4.3, 3.6), **kwargs):
    """One :func:`training_curves` panel per entry of ``panels`` (panel title -> label -> runs x
    epochs), side by side; the legend beside the ``last`` panel or under the figure (``below``)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_size[0] * len(panels) + 1.5, panel_size[1]),
                             squeeze=False, layout="constrained")
    for ax, (name, curves) in zip(axes[0], panels.items()):
        training_curves(ax, curves, **kwargs)
        ax.set_title(name, fontsize=9)
        if ylabels and name in ylabels:
            ax.set_ylabel(ylabels[name])
        if name in set(log_y):
            ax.set_yscale("log")
    if legend == "below":
        handles, labels = axes[0, -1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), frameon=False, fontsize=8)
    else:
        axes[0, -1].legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _suptitle(fig, title, data_label, fontsize=10)
    return fig


# --------------------------------------------------------------------------- embedding maps

def embed_2d(embeddings, *, perplexity: float = 30.0, seed: int = 0, normalise: bool = True) -> np.ndarray:
    """A 2-D t-SNE map of ``embeddings`` (N, D) -> (N, 2), of the L2-normalised rows by default (the
    cosine geometry the backends score in). The perplexity is capped at (N - 1) / 3, which t-SNE
    needs; one BLAS thread (small problems, robust on a busy CPU)."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or len(x) < 4:
        raise ValueError(f"embed_2d: need (N >= 4, D) embeddings, got shape {x.shape}")
    if normalise:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    with threadpool_limits(1):
        return TSNE(perplexity=min(perplexity, (len(x) - 1) / 3), init="pca", random_state=seed).fit_transform(x)


def scatter_clips(ax, xy: np.ndarray, meta: pd.DataFrame, *, colour_by: str = "section", palette=None, size=16) -> None:
    """Clips on a 2-D map: colour per ``meta[colour_by]`` (tab10), filled normal, hollow anomalous,
    circle source, triangle target (:data:`DOMAIN_MARKERS`). ``meta`` has ``label`` and ``domain``
    (a missing domain draws circles) and one row per row of ``xy``."""
    plt = _plt()
    palette = palette or plt.get_cmap("tab10")
    meta = meta.reset_index(drop=True)
    domains = meta["domain"].fillna("source") if "domain" in meta else pd.Series("source", index=meta.index)
    for i, group in enumerate(sorted(meta[colour_by].unique())):
        colour = palette(int(group) % 10 if isinstance(group, (int, np.integer)) else i % 10)
        for domain in sorted(domains.unique()):
            for label in ("normal", "anomaly"):
                m = ((meta[colour_by] == group) & (domains == domain) & (meta["label"] == label)).to_numpy()
                if m.any():
                    ax.scatter(xy[m, 0], xy[m, 1], s=size, marker=DOMAIN_MARKERS.get(domain, "s"), linewidths=1,
                               facecolors=colour if label == "normal" else "none", edgecolors=colour, alpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])


def clip_legend(fig, meta: pd.DataFrame, *, colour_by: str = "section", ncols: int = 5) -> None:
    """The legend of :func:`scatter_clips` under the figure."""
    plt = _plt()
    palette = plt.get_cmap("tab10")
    groups = sorted(meta[colour_by].unique())
    handles = [plt.Line2D([], [], ls="", marker="s",
                          color=palette(int(g) % 10 if isinstance(g, (int, np.integer)) else i % 10),
                          label=f"section {g:02d}" if colour_by == "section" else str(g)) for i, g in enumerate(groups)]
    handles += [plt.Line2D([], [], ls="", marker=DOMAIN_MARKERS[d], color="0.3", mfc=None if label == "normal" else "none",
                           label=f"{d}, {'normal' if label == 'normal' else 'anomalous'}")
                for label in ("normal", "anomaly") for d in ("source", "target")]
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False, fontsize=8)


def embedding_maps(embeddings, meta: pd.DataFrame, *, by: str = "machine_type", data_label: str,
                   title: str | None = None, perplexity: float = 30.0, seed: int = 0, ncols: int = 4,
                   panel_title: Callable | None = None):
    """One t-SNE map (:func:`embed_2d`) per value of ``meta[by]`` (a machine type by default), each
    fitted on that group's rows only, drawn with :func:`scatter_clips`. ``embeddings`` (N, D) and
    ``meta`` (N rows: ``section``, ``domain``, ``label``, ``by``) are aligned by position;
    ``panel_title(value, rows)`` names a panel. Returns the figure."""
    plt = _plt()
    embeddings = np.asarray(embeddings)
    meta = meta.reset_index(drop=True)
    groups = list(dict.fromkeys(meta[by]))
    ncols = min(ncols, len(groups))
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.2 * nrows + 1.0), squeeze=False,
                             layout="constrained")
    for ax, group in zip(axes.flat, groups):
        rows = np.flatnonzero(meta[by].to_numpy() == group)
        xy = embed_2d(embeddings[rows], perplexity=perplexity, seed=seed)
        scatter_clips(ax, xy, meta.iloc[rows])
        ax.set_title(panel_title(group, rows) if panel_title else str(group), fontsize=9)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    clip_legend(fig, meta)
    _suptitle(fig, title, data_label, fontsize=10)
    return fig


# --------------------------------------------------------------------------- ours against the paper

def ours_vs_paper(compare: pd.DataFrame, *, data_label: str, title: str | None = None, xlabel: str = "%",
                  paper_title: str = "paper (real DCASE data)", ours_title: str = "ours", chance: float | None = 50.0):
    """A dot plot of ours against the paper's: ``compare`` has one row per system (the index, the
    names shown) and columns ``paper`` and ``ours`` (and optionally ``paper_std``, ``ours_std``:
    error bars), in percent. Rows are sorted by the paper's value; the title gives the Spearman
    rank correlation of the two orderings (how far ours orders the systems as the paper does).
    Returns ``(figure, rank correlation)``."""
    plt = _plt()
    compare = compare.sort_values("paper")
    rank = float(compare[["paper", "ours"]].corr(method="spearman").iloc[0, 1]) if len(compare) > 1 else float("nan")
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 1.2 + 0.3 * len(compare)), sharey=True, layout="constrained")
    y = np.arange(len(compare))
    for ax, side, colour, name in ((ax0, "paper", "C1", paper_title), (ax1, "ours", "C0", ours_title)):
        std = compare[f"{side}_std"] if f"{side}_std" in compare else None
        ax.errorbar(compare[side], y, xerr=std, fmt="o", color=colour, capsize=2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", color="0.92")
    if chance is not None:
        ax1.axvline(chance, color="0.6", lw=0.8, ls=":")
    ax0.set_yticks(y, compare.index, fontsize=8)
    head = f"{title} " if title else ""
    _suptitle(fig, f"{head}(sorted by the paper; Spearman rank correlation, ours vs paper: {rank:.2f})",
              data_label, fontsize=10)
    return fig, rank


__all__ = ["DOMAIN_LABEL_STYLE", "DOMAIN_MARKERS", "clip_legend", "domain_roc", "embed_2d", "embedding_maps",
           "ours_vs_paper", "roc_and_scores", "roc_curves", "score_distributions", "score_histograms",
           "scatter_clips", "training_curves", "training_figure"]
