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

from dataclasses import dataclass
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


def finish_grid(axes, used: Sequence[bool], xlabel: str, ylabel: str) -> None:
    """Turn off the unused panels of a grid (``used`` per panel, row by row) and label the outer
    panels in use: the x label under the lowest panel of each column, the y label on the left."""
    ncols = axes.shape[1]
    for i, ax in enumerate(axes.flat):
        if not used[i]:
            ax.axis("off")
            continue
        if not any(used[i + ncols::ncols]):        # nothing drawn below this panel
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel(xlabel)
        if i % ncols == 0:
            ax.set_ylabel(ylabel)


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


def _roc_lines(ax, y, score, *, colour, **kwargs):
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(y, dtype=int), np.asarray(score))
    ax.plot(fpr, tpr, color=colour, **kwargs)


def section_rocs(ax, scores: pd.DataFrame, *, column: str = "score", max_fpr: float | None = 0.1) -> None:
    """One thin ROC curve per section and domain on ``ax``, by the official rule (a domain's normals
    against all anomalies of the section); without domains (DCASE 2020: ``domain`` missing or empty)
    one curve per section over all its clips, in green. Shades the pAUC region up to ``max_fpr``."""
    colours = {d: c for (d, label), c, _ in DOMAIN_LABEL_STYLE if label == "normal"}
    for _, sec in scores.groupby("section"):
        anomalous = (sec["label"] == "anomaly").to_numpy()
        domains = [d for d in sec["domain"].dropna().unique()] if "domain" in sec else []
        if not domains:
            _roc_lines(ax, anomalous, sec[column], colour="C2", lw=1, alpha=0.7)
        for domain in sorted(domains):
            use = anomalous | (sec["domain"] == domain).to_numpy()
            _roc_lines(ax, anomalous[use], sec[column].to_numpy()[use], colour=colours.get(domain, "0.3"),
                       lw=1, alpha=0.7)
    if max_fpr is not None:
        ax.axvspan(0, max_fpr, color="0.85", lw=0)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
    ax.set_aspect("equal")


def roc_grid(scores: pd.DataFrame, *, data_label: str, by: str = "machine_type", order: Sequence | None = None,
             title: str | None = None, max_fpr: float | None = 0.1, panel_title: Callable | None = None,
             column: str = "score", ncols: int = 4):
    """One panel of :func:`section_rocs` per value of ``scores[by]`` (a machine type), in ``order``
    or as they first appear, with the legend under the figure. ``panel_title(value)`` names a panel."""
    plt = _plt()
    values = list(order) if order is not None else list(dict.fromkeys(scores[by]))
    ncols = min(ncols, len(values))
    nrows = -(-len(values) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.4 * nrows + 0.7), sharex=True, sharey=True,
                             squeeze=False, layout="constrained")
    for ax, value in zip(axes.flat, values):
        section_rocs(ax, scores[scores[by] == value], column=column, max_fpr=max_fpr)
        ax.set_title(panel_title(value) if panel_title else str(value), fontsize=9)
    finish_grid(axes, [i < len(values) for i in range(axes.size)], "false positive rate", "true positive rate")
    has_domains = "domain" in scores and scores["domain"].notna().any()
    colours = {d: c for (d, label), c, _ in DOMAIN_LABEL_STYLE if label == "normal"}
    handles = ([plt.Line2D([], [], color=colours[d], label=f"{d} normals vs all anomalies") for d in ("source", "target")]
               if has_domains else [plt.Line2D([], [], color="C2", label="all clips")])
    if max_fpr is not None:
        handles.append(plt.Rectangle((0, 0), 1, 1, color="0.85", label=f"pAUC region (FPR ≤ {max_fpr})"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles) if ncols > 1 else 1, frameon=False)
    _suptitle(fig, title, data_label)
    return fig


def roc_rules(ax, scores: pd.DataFrame, *, column: str = "score", domains: Sequence[str] = ("source", "target")) -> None:
    """Per domain, the official ROC curve (thick: the domain's normals against all anomalies) and the
    domain-only one (dotted: against the domain's own anomalies), each labelled with its AUC."""
    from sklearn.metrics import roc_auc_score

    colours = {d: c for (d, label), c, _ in DOMAIN_LABEL_STYLE if label == "normal"}
    y = (scores["label"] == "anomaly").to_numpy()
    s = scores[column].to_numpy()
    for domain in domains:
        mine = (scores["domain"] == domain).to_numpy()
        for use, lw, ls, rule in ((mine | y, 2, "-", "official"), (mine, 1, ":", "domain-only")):
            auc = roc_auc_score(y[use], s[use])
            _roc_lines(ax, y[use], s[use], colour=colours.get(domain, "0.3"), lw=lw, ls=ls,
                       label=f"{domain}, {rule}: AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, label="chance")
    ax.set_xlabel("false positive rate (normals flagged)")
    ax.set_ylabel("true positive rate (anomalies caught)")
    ax.legend(fontsize=8, loc="lower right")


def threshold_strip(ax, scores: pd.DataFrame, thresholds: Mapping[float, str] = (), *, column: str = "score") -> None:
    """The scores of each (domain, label) group on one row (circles normal, crosses anomalous), with a
    dashed vertical line and its text per threshold (``{phi: text}``)."""
    groups = list(dict.fromkeys(zip(scores["domain"], scores["label"])))
    colours = {"normal": "C0", "anomaly": "C3"}
    for y, (domain, label) in enumerate(groups):
        values = scores.loc[(scores["domain"] == domain) & (scores["label"] == label), column]
        ax.scatter(values, [y] * len(values), s=60, color=colours[label], marker="o" if label == "normal" else "X",
                   zorder=3)
    top = len(groups) - 0.2
    middle = float(np.median(scores[column]))
    for phi, text in dict(thresholds).items():        # the text on the side with more room
        left = phi < middle
        ax.axvline(phi, color="0.4", ls="--", lw=1)
        ax.text(phi + (-0.01 if left else 0.01), top, f"φ = {phi}: {text}", fontsize=8, va="top",
                ha="right" if left else "left")
    ax.set_yticks(range(len(groups)), [f"{d} {l}" for d, l in groups])
    ax.set_ylim(-0.5, top + 0.1)
    ax.set_xlabel("anomaly score")


def threshold_and_rocs(scores: pd.DataFrame, thresholds: Mapping[float, str], *, data_label: str,
                       title: str | None = None):
    """Left: :func:`threshold_strip`; right: :func:`roc_rules` of the same clips. Returns the figure."""
    plt = _plt()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    threshold_strip(ax0, scores, thresholds)
    ax0.set_title("One threshold cannot serve both domains")
    roc_rules(ax1, scores)
    ax1.set_title("ROC curves: official (thick) and domain-only (dotted)")
    _suptitle(fig, title, data_label)
    return fig


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


@dataclass
class CurvePanel:
    """One panel of :func:`training_grid`: ``curves`` (label -> runs x epochs) and how to draw them.

    ``each_run=True`` draws every run as a thin line in its label's colour (many runs of few labels);
    otherwise :func:`training_curves` draws the ``centre`` with a min-to-max ``band``. ``mark_max``
    stars the maximum of that label's first run (``mark_label`` in the legend); ``hline`` draws a
    dotted reference line (chance)."""

    curves: Mapping[str, Sequence[Sequence[float]]]
    title: str = ""
    ylabel: str | None = None
    log_y: bool = False
    each_run: bool = False
    centre: Callable = np.mean
    band: str | None = "minmax"
    colours: Mapping[str, str] | None = None
    legend: bool = True
    hline: float | None = None
    ylim: tuple[float, float] | None = None
    mark_max: str | None = None
    mark_label: str = "maximum"


def draw_curve_panel(ax, panel: CurvePanel) -> None:
    """Draw one :class:`CurvePanel` on ``ax``."""
    plt = _plt()
    if panel.each_run:
        palette = panel.colours or {label: f"C{i % 10}" for i, label in enumerate(panel.curves)}
        for label, runs in panel.curves.items():
            for values in np.atleast_2d(np.asarray(runs, dtype=float)):
                ax.plot(np.arange(1, len(values) + 1), values, color=palette[label], lw=0.8, marker=".", alpha=0.7)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    else:
        training_curves(ax, panel.curves, band=panel.band, centre=panel.centre,
                        colours=dict(panel.colours) if panel.colours else None, marker=".")
    epochs = max((np.atleast_2d(np.asarray(runs, dtype=float)).shape[1] for runs in panel.curves.values()), default=1)
    ax.set_xlim(0.5, epochs + 0.5)                  # whole epochs, also for a one-epoch run
    if panel.mark_max is not None:
        values = np.atleast_2d(np.asarray(panel.curves[panel.mark_max], dtype=float))[0]
        best = int(np.argmax(values))
        ax.plot([best + 1], [values[best]], "*", color="k", ms=9, label=panel.mark_label)
    if panel.hline is not None:
        ax.axhline(panel.hline, color="0.4", lw=0.8, ls=":")
    if panel.log_y:
        ax.set_yscale("log")
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    if panel.ylabel:
        ax.set_ylabel(panel.ylabel)
    ax.set_title(panel.title, fontsize=9)
    if panel.legend:
        ax.legend(fontsize=7, frameon=False)


def training_grid(panels: Sequence[Sequence[CurvePanel | None]], *, data_label: str, title: str | None = None,
                  legend_colours: Mapping[str, str] | None = None, panel_size=(4.3, 2.6)):
    """A grid of :class:`CurvePanel` (rows of panels; ``None`` leaves a panel empty), with a shared
    legend of ``legend_colours`` (label -> colour) under the figure when given. Returns the figure."""
    plt = _plt()
    nrows, ncols = len(panels), max(len(row) for row in panels)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols + 0.4, panel_size[1] * nrows + 0.8),
                             squeeze=False, layout="constrained")
    for r, row in enumerate(panels):
        for c in range(ncols):
            panel = row[c] if c < len(row) else None
            if panel is None:
                axes[r, c].axis("off")
            else:
                draw_curve_panel(axes[r, c], panel)
    if legend_colours:
        handles = [plt.Line2D([], [], color=colour, label=label) for label, colour in legend_colours.items()]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7), frameon=False)
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


def embedding_panels(panels: Sequence[Sequence[tuple[str, np.ndarray, pd.DataFrame] | None]], *, data_label: str,
                     title: str | None = None, size: float = 22, legend_meta: pd.DataFrame | None = None,
                     legend_ncols: int = 6):
    """A grid of 2-D maps already computed (:func:`embed_2d`): rows of ``(panel title, xy, meta)``
    (``None``: an empty panel), each drawn with :func:`scatter_clips`, and :func:`clip_legend` of
    ``legend_meta`` (default: every panel's rows) under the figure. Returns the figure."""
    plt = _plt()
    nrows, ncols = len(panels), max(len(row) for row in panels)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3.6 * nrows + 1.2), squeeze=False,
                             layout="constrained")
    metas = []
    for r, row in enumerate(panels):
        for c in range(ncols):
            cell = row[c] if c < len(row) else None
            if cell is None:
                axes[r, c].axis("off")
                continue
            name, xy, meta = cell
            scatter_clips(axes[r, c], np.asarray(xy), meta, size=size)
            axes[r, c].set_title(name, fontsize=9)
            metas.append(meta)
    clip_legend(fig, legend_meta if legend_meta is not None else pd.concat(metas), ncols=legend_ncols)
    _suptitle(fig, title, data_label, fontsize=10)
    return fig


# --------------------------------------------------------------------------- bars per machine type

def grouped_bars(ax, means: pd.DataFrame, stds: pd.DataFrame | None = None, *, hatches: Mapping[str, str] | None = None,
                 colours=None, width: float = 0.8) -> None:
    """One group of bars per row of ``means`` (a machine type), one bar per column (a system), with
    ``stds`` as error bars and ``hatches[column]`` as hatching; the rows are the x tick labels."""
    plt = _plt()
    colours = colours or plt.get_cmap("tab20")
    n = len(means.columns)
    bar = width / max(n, 1)
    x = np.arange(len(means))
    for j, column in enumerate(means.columns):
        err = None if stds is None else stds[column].reindex(means.index).to_numpy()
        ax.bar(x + (j - n / 2 + 0.5) * bar, means[column].to_numpy(), bar, yerr=err, label=str(column),
               color=colours(j % 20) if callable(colours) else colours[column],
               hatch=(hatches or {}).get(column, ""), error_kw={"lw": 0.6})
    ax.set_xticks(x, [str(i) for i in means.index])


def bar_chart(means: pd.DataFrame, stds: pd.DataFrame | None = None, *, data_label: str, title: str | None = None,
              ylabel: str = "", chance: float | None = 50.0, ylim=(0, 100), hatches: Mapping[str, str] | None = None,
              figsize=(13, 4.2)):
    """A figure of :func:`grouped_bars` (rows of ``means``: groups, columns: bars) with the legend
    beside it and a dotted ``chance`` line. Returns the figure."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    grouped_bars(ax, means, stds, hatches=hatches)
    if chance is not None:
        ax.axhline(chance, color="0.6", lw=0.8, ls=":")
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=7, frameon=False, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f"{title}\n{data_label}" if title else data_label, fontsize=10)
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


__all__ = ["DOMAIN_LABEL_STYLE", "DOMAIN_MARKERS", "CurvePanel", "bar_chart", "clip_legend", "domain_roc", "draw_curve_panel",
           "embed_2d", "embedding_maps", "embedding_panels", "finish_grid", "grouped_bars", "ours_vs_paper", "roc_and_scores",
           "roc_curves", "roc_grid", "roc_rules", "scatter_clips", "score_distributions", "score_histograms",
           "section_rocs", "threshold_and_rocs", "threshold_strip", "training_curves", "training_figure",
           "training_grid"]
