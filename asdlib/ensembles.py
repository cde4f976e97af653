"""Score-level ensembles of subsystems (paper 000, Sec. 4, Table 10; Lopez et al. 2021).

AITHU combines its subsystems "by first standardizing the training data scores and
then searching over a grid of convex combinations": each subsystem's test scores
are standardised with the mean and standard deviation of *its own training-clip
scores* (:func:`standardise`), then combined as ``sum_j w_j z_j`` with the weights
``w`` on the probability simplex, searched on a grid (:func:`simplex_grid`,
:func:`search_weights`). Submission 1 standardises per domain ("the test scores for
both domains are normalized respectively", the test clips' domains predicted by a
Cnn6 domain classifier): per machine type and domain, ``standardise(...,
by=("machine_type", "domain"), test_by=("machine_type", "<predicted domain column>"))``;
the other submissions per machine type (``by=("machine_type",)``, the default).

**Which labels choose the weights.** A grid search needs labelled anomalies, and
the training set has none, so the weights are always chosen on *test* labels of
some sections; the question is whose. AITHU does not say; choosing them on the very
clips the result is reported on is an oracle (the honest protocol, book/develop.md). Here:

- :func:`honest_weights` (the default rule) -- for each machine type and each
  evaluated section ``s``, the weights are chosen on the test labels of the
  *pool* sections of the same machine type other than ``s``, and nothing else:

  - ``pool = (0, 1, 2)`` (the DCASE 2022 development sections) gives the
    DCASE protocol: evaluation sections 03-05 get the weights chosen on all
    development sections' labels (which every participant had; rule ``"pool"``);
    development sections get leave-one-section-out weights chosen on the *other*
    development sections' labels (rule ``"loso"``);
  - ``pool=None`` (every section in ``meta``, :func:`leave_one_section_out_weights`)
    gives leave-one-section-out over all sections, e.g. when only the development
    sections are scored.

  The labels of section ``s`` (and of sections outside the pool, e.g. the evaluation
  sections) never reach the objective that chooses ``s``'s weights: the objective is
  built from the selection sections' rows only. The table records them
  (``selected_on``).

  **Nested choices** are made inside the same fold. A subsystem whose score is itself
  chosen on test labels (AEGAN-AD's score function) must not enter as a column already
  chosen per section leave-one-section-out: section 1's column would then hold a choice
  made on section 0's labels, and the weights of section 0, searched on sections 1 and
  2, would see them. ``choose={"AEGAN-AD": [candidate columns]}`` makes the choice
  inside each fold, on the fold's selection rows, before the weight search; ``top``
  (submission 3's subset of subsystems) likewise. Every candidate column is
  standardised on its own, so the standardisation depends on no choice at all.
- :func:`best_single_weights` -- :func:`honest_weights` over the one-hot grid: each
  section's single best system on the other sections' labels (a control: what an
  ensemble adds over choosing one subsystem the same honest way).
- :func:`oracle_weights` (labelled oracle) -- per machine type, the weights chosen on
  the test labels of all its evaluated sections, the ones the result is reported on
  (``per_section=True``: each section's own labels). An upper bound, not a result.

The default objective (:func:`official_objective`) is the DCASE 2022 official score
of the selection sections: the harmonic mean of every section's AUC(source),
AUC(target) and pAUC (max FPR 0.1), floored at machine epsilon, computed exactly as
:mod:`asdlib.metrics` (scikit-learn) does but for many weight vectors at once.

**Ties** (objective values within ``tol`` of the best, default 1e-12) are broken
deterministically: fewest non-zero weights first (a single subsystem that is as good
as any blend wins), then the earliest vector in :func:`simplex_grid`'s order
(lexicographically largest first, i.e. more weight on the systems listed first).

Inputs: per-clip scores in the long format of :func:`asdlib.experiment.load_scores`
(columns ``system, seed, split, machine_type, section, domain, label, file,
score``); :func:`ensemble_inputs` standardises one seed's scores and pivots the test
clips into a matrix ``(n_clips, n_systems)`` and its ``meta`` (machine type,
section, domain, label, file per row).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from asdlib.metrics.dcase import EPS, MAX_FPR
from asdlib.metrics.frames import DOMAIN_CODES, LABEL_CODES

Objective = Callable[[np.ndarray], Any]

META_COLUMNS: tuple[str, ...] = ("machine_type", "section", "domain", "label", "file")


# ----------------------------------------------------------------------------- standardisation


def _group_key(row: Sequence[Any]) -> tuple:
    return tuple(int(v) if isinstance(v, (np.integer,)) else v for v in row)


def standardise(
    scores_train: pd.DataFrame | np.ndarray,
    scores_test: pd.DataFrame | np.ndarray,
    *,
    by: Sequence[str] = ("machine_type",),
    test_by: Sequence[str] | None = None,
    system_col: str = "system",
    score_col: str = "score",
    min_std: float = 1e-12,
    return_stats: bool = False,
):
    """Standardise test scores with the mean and std of the *training* scores, per subsystem and group.

    ``z = (s - mean_train) / std_train`` (population std, ``ddof=0``), the statistics
    computed from ``scores_train`` alone: the test scores never enter them.

    Two forms:

    - arrays: ``scores_train (n_train, n_systems)``, ``scores_test (n_test, n_systems)``,
      one column per subsystem (one group; ``by`` is ignored); returns an array;
    - long tables (:func:`asdlib.experiment.load_scores` rows): statistics per
      ``(system, *by)`` group of ``scores_train``, applied to the rows of
      ``scores_test`` whose ``(system, *test_by)`` match; returns a copy of
      ``scores_test`` with ``score_col`` standardised. ``by``: ``("machine_type",)``
      (the default, AITHU), ``("machine_type", "section")``, or with ``"domain"`` for
      submission 1's domain-wise normalisation; ``test_by`` names the test table's
      columns for the same keys (default ``by``), e.g. a *predicted* domain column for
      evaluation clips, whose domains are not known.

    A group whose training scores have a std below ``min_std`` (a constant scorer) is
    divided by 1 instead, with a warning.

    Args:
        return_stats: also return the statistics used: an array ``(2, n_systems)``
            (mean, std) or a DataFrame ``(system, *by, mean, std, n)``.

    Raises:
        ValueError: shapes or columns do not match, or a test row has no training
            group (naming it).
    """
    if isinstance(scores_train, pd.DataFrame) != isinstance(scores_test, pd.DataFrame):
        raise TypeError("standardise: give two DataFrames (long tables) or two arrays")
    if not isinstance(scores_train, pd.DataFrame):
        tr = np.asarray(scores_train, dtype=float)
        te = np.asarray(scores_test, dtype=float)
        if tr.ndim == 1:
            tr = tr[:, None]
        if te.ndim == 1:
            te = te[:, None]
        if tr.ndim != 2 or te.ndim != 2 or tr.shape[1] != te.shape[1] or tr.shape[0] == 0:
            raise ValueError(
                f"standardise: need (n_train, k) and (n_test, k) arrays with n_train > 0, got {tr.shape}, {te.shape}"
            )
        if not np.isfinite(tr).all():
            raise ValueError("standardise: training scores contain NaN or inf")
        mean = tr.mean(axis=0)
        std = tr.std(axis=0)
        std = _guard_std(std, min_std, [f"column {j}" for j in range(len(std))])
        out = (te - mean) / std
        if np.ndim(scores_test) == 1:
            out = out[:, 0]
        return (out, np.stack([mean, std])) if return_stats else out

    by = list(by)
    test_by = list(by if test_by is None else test_by)
    if len(test_by) != len(by):
        raise ValueError(f"standardise: test_by {test_by} must name as many columns as by {by}")
    use_system = system_col in scores_train.columns or system_col in scores_test.columns
    keys_tr = ([system_col] if use_system else []) + by
    keys_te = ([system_col] if use_system else []) + test_by
    for name, df, cols in (("scores_train", scores_train, keys_tr), ("scores_test", scores_test, keys_te)):
        missing = [c for c in cols + [score_col] if c not in df.columns]
        if missing:
            raise ValueError(f"standardise: {name} lacks the column(s) {missing}; it has {list(df.columns)}")
    train_scores = pd.to_numeric(scores_train[score_col], errors="coerce").astype(float)
    if not np.isfinite(train_scores.to_numpy()).all():
        raise ValueError("standardise: training scores contain missing, NaN or inf values")
    grouped = train_scores.groupby([scores_train[c] for c in keys_tr], sort=True)
    stats = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=0), "n": grouped.size()})
    stats.index.names = keys_tr
    stats = stats.reset_index()
    stats["std"] = _guard_std(
        stats["std"].to_numpy(dtype=float), min_std, [str(_group_key(r)) for r in stats[keys_tr].to_numpy()]
    )
    lookup = {_group_key(r[:-2]): (r[-2], r[-1]) for r in stats[keys_tr + ["mean", "std"]].to_numpy(dtype=object)}
    out = scores_test.copy()
    keys = [_group_key(r) for r in scores_test[keys_te].to_numpy(dtype=object)]
    missing = sorted({k for k in keys if k not in lookup}, key=str)
    if missing:
        raise ValueError(
            f"standardise: no training scores for the test group(s) {missing[:5]} "
            f"(keys {keys_tr} in the training table)"
        )
    mean = np.array([lookup[k][0] for k in keys], dtype=float)
    std = np.array([lookup[k][1] for k in keys], dtype=float)
    out[score_col] = (pd.to_numeric(scores_test[score_col], errors="coerce").to_numpy(dtype=float) - mean) / std
    return (out, stats) if return_stats else out


def _guard_std(std: np.ndarray, min_std: float, names: list[str]) -> np.ndarray:
    std = np.asarray(std, dtype=float).copy()
    flat = ~(std >= min_std)
    if flat.any():
        warnings.warn(
            f"standardise: training scores are constant (std < {min_std}) for {[names[i] for i in np.flatnonzero(flat)][:5]}; "
            "dividing by 1 there",
            RuntimeWarning,
            stacklevel=3,
        )
        std[flat] = 1.0
    return std


def score_matrix(
    scores: pd.DataFrame,
    *,
    systems: Sequence[str] | None = None,
    system_col: str = "system",
    score_col: str = "score",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pivot long per-clip scores into ``(matrix, meta)``: one row per clip, one column per system.

    Clips are identified by ``(machine_type, section, file)``; ``meta`` holds
    :data:`META_COLUMNS` (those present) per row, rows sorted by machine type,
    section and file. ``systems`` picks and orders the columns (default: sorted
    names). Filter one seed and one split first.

    Raises:
        ValueError: a clip scored twice by one system (several seeds or splits?), or a
            clip missing a system's score.
    """
    for c in ("machine_type", "section", "file", system_col, score_col):
        if c not in scores.columns:
            raise ValueError(f"score_matrix: the scores lack the column {c!r}; they have {list(scores.columns)}")
    names = sorted(scores[system_col].astype(str).unique()) if systems is None else [str(s) for s in systems]
    df = scores[scores[system_col].astype(str).isin(names)].copy()
    df[system_col] = df[system_col].astype(str)
    key = ["machine_type", "section", "file"]
    dup = df.duplicated(key + [system_col], keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        raise ValueError(
            f"score_matrix: {int(dup.sum())} rows score a clip twice with one system, e.g. {row[system_col]} on "
            f"{row['machine_type']} section {row['section']} {row['file']}: filter one seed and split first"
        )
    wide = df.pivot(index=key, columns=system_col, values=score_col)
    absent = [s for s in names if s not in wide.columns]
    if absent:
        raise ValueError(f"score_matrix: no scores at all for system(s) {absent}")
    wide = wide[names]
    holes = wide.isna().any(axis=1)
    if holes.any():
        first = wide.index[holes.to_numpy()][0]
        lacking = [s for s in names if pd.isna(wide.loc[first, s])]
        raise ValueError(f"score_matrix: {int(holes.sum())} clips lack some system's score, e.g. {first}: {lacking}")
    wide = wide.sort_index()
    extra = [c for c in META_COLUMNS if c in df.columns and c not in key]
    meta = df.drop_duplicates(key).set_index(key)[extra].reindex(wide.index).reset_index()
    meta = meta[[c for c in META_COLUMNS if c in meta.columns]]
    matrix = wide.reset_index(drop=True)
    matrix.columns.name = None
    return matrix, meta


def ensemble_inputs(
    scores: pd.DataFrame,
    *,
    systems: Sequence[str] | None = None,
    seed: int | None = None,
    by: Sequence[str] = ("machine_type",),
    test_by: Sequence[str] | None = None,
    train_split: str = "train",
    test_split: str = "test",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One seed's long scores -> the standardised test ``(matrix, meta)`` (:func:`standardise`, :func:`score_matrix`).

    ``scores``: :func:`asdlib.experiment.load_scores` rows (train and test clips of
    every system). ``seed``: keep that seed's rows (required when there are several).
    """
    df = scores
    if systems is not None:
        df = df[df["system"].astype(str).isin([str(s) for s in systems])]
    if seed is not None:
        df = df[df["seed"] == seed]
    elif "seed" in df.columns and df.groupby("system")["seed"].nunique().max() > 1:
        raise ValueError("ensemble_inputs: several seeds per system; pass seed=")
    train = df[df["split"] == train_split]
    test = df[df["split"] == test_split]
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"ensemble_inputs: need {train_split!r} and {test_split!r} rows; got {len(train)} and {len(test)}")
    return score_matrix(standardise(train, test, by=by, test_by=test_by), systems=systems)


# ----------------------------------------------------------------------------- the grid and the search


def simplex_grid(n_systems: int, step: float = 0.1) -> np.ndarray:
    """Every weight vector on the probability simplex whose entries are multiples of ``step``.

    ``1 / step`` must be a whole number ``k`` (within 1e-9); the weights are
    ``counts / k`` for all non-negative integer ``counts`` summing to ``k``:
    ``C(k + n_systems - 1, n_systems - 1)`` rows (66 for 3 systems at 0.1, 3003 for 6).
    Rows are in lexicographically *descending* order of the counts (``(1, 0, ..., 0)``
    first, ``(0, ..., 0, 1)`` last). Returns ``(n_rows, n_systems)`` float64.
    """
    if isinstance(n_systems, bool) or not isinstance(n_systems, (int, np.integer)) or n_systems < 1:
        raise ValueError(f"simplex_grid: n_systems={n_systems!r} must be a positive integer")
    if not step > 0 or step > 1:
        raise ValueError(f"simplex_grid: step={step!r} must be in (0, 1]")
    k = round(1.0 / step)
    if abs(k * step - 1.0) > 1e-9:
        raise ValueError(f"simplex_grid: 1 / step must be a whole number, got step={step!r}")
    n = int(n_systems)
    rows = []
    # stars and bars: n - 1 bars among k + n - 1 places
    for bars in itertools.combinations(range(k + n - 1), n - 1):
        edges = (-1,) + bars + (k + n - 1,)
        rows.append([edges[i + 1] - edges[i] - 1 for i in range(n)])
    counts = np.array(rows, dtype=np.int64).reshape(-1, n)
    order = np.lexsort(counts.T[::-1])[::-1]  # lexicographically descending
    return counts[order] / k


def _as_matrix(scores: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, list[str]]:
    if isinstance(scores, pd.DataFrame):
        arr, names = scores.to_numpy(dtype=float), [str(c) for c in scores.columns]
    else:
        arr = np.asarray(scores, dtype=float)
        if arr.ndim != 2:
            raise ValueError(f"score matrix must be (n_clips, n_systems), got shape {arr.shape}")
        names = [f"w{j}" for j in range(arr.shape[1])]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"score matrix must be a non-empty (n_clips, n_systems), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("score matrix contains NaN or inf")
    return arr, names


def _evaluate_grid(matrix: np.ndarray, grid: np.ndarray, objective: Objective, chunk: int) -> np.ndarray:
    values = np.empty(len(grid))
    if getattr(objective, "batched", False):
        for start in range(0, len(grid), chunk):
            w = grid[start : start + chunk]
            values[start : start + len(w)] = np.asarray(objective(matrix @ w.T), dtype=float).reshape(-1)
    else:
        for i, w in enumerate(grid):
            values[i] = float(objective(matrix @ w))
    if np.isnan(values).any():
        raise ValueError("the objective returned NaN for some weights")
    return values


def search_weights(
    score_matrix: pd.DataFrame | np.ndarray,
    objective: Objective,
    step: float = 0.1,
    *,
    grid: np.ndarray | None = None,
    tol: float = 1e-12,
    chunk: int = 256,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Grid search of convex weights maximising ``objective(score_matrix @ w)``.

    Args:
        score_matrix: ``(n_clips, n_systems)`` standardised scores (array or DataFrame
            whose columns name the systems).
        objective: ``objective(scores (n_clips,)) -> float``, higher is better; if it
            has ``batched = True`` it is called with ``(n_clips, m)`` matrices and
            returns ``(m,)`` (:func:`official_objective` is).
        step: grid step (:func:`simplex_grid`); ignored when ``grid`` is given.
        grid: ``(m, n_systems)`` candidate weights, rows in preference order.
        tol: objective values within ``tol`` of the best are ties, broken by the
            fewest non-zero weights, then the grid order (module docstring).
        chunk: weight vectors per call of a batched objective.

    Returns:
        ``(best_weights (n_systems,), table)``: ``table`` has one row per grid vector
        in grid order with a column per system (its weight), ``objective``,
        ``n_nonzero`` and ``chosen`` (True on exactly one row).
    """
    matrix, names = _as_matrix(score_matrix)
    g = simplex_grid(matrix.shape[1], step) if grid is None else np.asarray(grid, dtype=float)
    if g.ndim != 2 or g.shape[1] != matrix.shape[1] or len(g) == 0:
        raise ValueError(f"grid must be (m, {matrix.shape[1]}), got shape {g.shape}")
    values = _evaluate_grid(matrix, g, objective, chunk)
    n_nonzero = (g > 0).sum(axis=1)
    tied = np.flatnonzero(values >= values.max() - tol)
    best = int(tied[np.lexsort((tied, n_nonzero[tied]))[0]])  # fewest non-zero, then grid order
    table = pd.DataFrame(g, columns=names)
    table["objective"] = values
    table["n_nonzero"] = n_nonzero
    table["chosen"] = False
    table.loc[best, "chosen"] = True
    return g[best].copy(), table


# ----------------------------------------------------------------------------- the DCASE objective


def _codes(values: pd.Series, names: Mapping[str, int], what: str) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        if isinstance(v, str) and v.strip().lower() in names:
            out[i] = names[v.strip().lower()]
        elif isinstance(v, (int, np.integer, float, np.floating)) and not isinstance(v, bool) and v in (0, 1):
            out[i] = int(v)
        else:
            raise ValueError(f"official_objective: {what} {v!r} is not one of {sorted(names)} or 0/1")
    return out


def _auc_columns(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ROC AUC of every column of ``s (n, m)`` against ``y (n,)``: the rank statistic, ties counting 1/2."""
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(s, axis=0, method="average")
    return (ranks[pos].sum(axis=0) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _pauc_columns(y: np.ndarray, s: np.ndarray, max_fpr: float) -> np.ndarray:
    """McClish-standardised partial AUC (FPR <= ``max_fpr``) of every column, as scikit-learn computes it.

    The ROC curve of a column joins the points after each distinct score threshold
    (ties move diagonally); the area up to ``max_fpr`` is the trapezoid sum with the
    last segment cut by linear interpolation (``roc_auc_score(..., max_fpr=)``).
    """
    n, m = s.shape
    order = np.argsort(-s, axis=0, kind="stable")
    s_sorted = np.take_along_axis(s, order, axis=0)
    y_sorted = y[order].astype(float)
    zeros = np.zeros((1, m))
    tp = np.vstack([zeros, np.cumsum(y_sorted, axis=0)])
    fp = np.vstack([zeros, np.cumsum(1.0 - y_sorted, axis=0)])
    j = np.arange(n + 1)[:, None] * np.ones((1, m), dtype=np.int64)
    # the curve's points: before the first clip, after the last, and between different scores
    valid = np.ones((n + 1, m), dtype=bool)
    valid[1:n] = s_sorted[:-1] != s_sorted[1:]
    prev = np.maximum.accumulate(np.where(valid, j, 0), axis=0)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(valid, j, n), axis=0), axis=0), axis=0)
    span = np.maximum(nxt - prev, 1)
    frac = (j - prev) / span
    tp_prev, tp_next = np.take_along_axis(tp, prev, 0), np.take_along_axis(tp, nxt, 0)
    fp_prev, fp_next = np.take_along_axis(fp, prev, 0), np.take_along_axis(fp, nxt, 0)
    tpr = (tp_prev + (tp_next - tp_prev) * frac) / tp[-1]
    fpr = (fp_prev + (fp_next - fp_prev) * frac) / fp[-1]
    f1, f2, t1, t2 = fpr[:-1], fpr[1:], tpr[:-1], tpr[1:]
    g2 = np.minimum(f2, max_fpr)
    width = np.clip(g2 - f1, 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_cut = np.where(f2 > f1, t1 + (t2 - t1) * (g2 - f1) / (f2 - f1), t2)
    area = (width * (t1 + t_cut) / 2.0).sum(axis=0)
    min_area, max_area = 0.5 * max_fpr**2, max_fpr
    return 0.5 * (1.0 + (area - min_area) / (max_area - min_area))


def official_objective(meta: pd.DataFrame, *, max_fpr: float = MAX_FPR) -> Objective:
    """The DCASE 2022 official score of the clips in ``meta`` as a (batched) objective.

    ``meta``: one row per row of the score matrix with ``machine_type``, ``section``,
    ``domain`` (``source``/``target`` or 0/1) and ``label`` (``normal``/``anomaly`` or
    0/1). The objective maps scores ``(n,)`` or ``(n, m)`` to the harmonic mean of
    every (machine type, section)'s AUC(source) (source normals + all anomalies),
    AUC(target) and pAUC (all clips, ``max_fpr``), each floored at machine epsilon:
    :func:`asdlib.metrics.official_score` of :func:`asdlib.metrics.section_table_2022`,
    the same values to rounding. Only ``meta``'s labels are read (once, here).

    Raises:
        ValueError: a label or domain is missing/unknown, or a section lacks anomalies
            or normals of a domain.
    """
    for c in ("machine_type", "section", "domain", "label"):
        if c not in meta.columns:
            raise ValueError(f"official_objective: meta lacks the column {c!r}")
    y = _codes(meta["label"], LABEL_CODES, "label")
    d = _codes(meta["domain"], DOMAIN_CODES, "domain")
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    keys = list(zip(meta["machine_type"].astype(str), meta["section"].astype(int)))
    for key in sorted(set(keys)):
        idx = np.flatnonzero([k == key for k in keys])
        yy, dd = y[idx], d[idx]
        for name, code in (("source", 0), ("target", 1)):
            if not ((dd == code) & (yy == 0)).any():
                raise ValueError(f"official_objective: {key[0]} section {key[1]} has no {name} normal clips")
        if not (yy == 1).any():
            raise ValueError(f"official_objective: {key[0]} section {key[1]} has no anomalies")
        parts.append((idx, (dd == 0) | (yy == 1), (dd == 1) | (yy == 1)))

    def objective(scores: np.ndarray) -> np.ndarray | float:
        s = np.asarray(scores, dtype=float)
        single = s.ndim == 1
        s2 = s[:, None] if single else s
        if s2.shape[0] != len(y):
            raise ValueError(f"official_objective: {s2.shape[0]} scores for {len(y)} clips")
        values = []
        for idx, src, tgt in parts:
            ys, ss = y[idx], s2[idx]
            values.append(_auc_columns(ys[src], ss[src]))
            values.append(_auc_columns(ys[tgt], ss[tgt]))
            values.append(_pauc_columns(ys, ss, max_fpr))
        v = np.maximum(np.vstack(values), EPS)
        h = v.shape[0] / (1.0 / v).sum(axis=0)
        return float(h[0]) if single else h

    objective.batched = True  # type: ignore[attr-defined]
    return objective


# ----------------------------------------------------------------------------- selection rules


ObjectiveFactory = Callable[[pd.DataFrame], Objective]


def _systems(names: list[str], choose: Mapping[str, Sequence[str]] | None) -> list[tuple[str, list[int]]]:
    """The systems the weights are searched over: ``(name, candidate column indices)``, in column order.

    A column outside ``choose`` is a system of its own (one candidate); a group of ``choose`` is one
    system whose candidates are its columns, placed where its first candidate stands.
    """
    choose = {} if choose is None else dict(choose)
    owner: dict[str, str] = {}
    for group, candidates in choose.items():
        group = str(group)
        candidates = [str(c) for c in candidates]
        if not candidates:
            raise ValueError(f"choose: the group {group!r} has no candidate columns")
        if group in names:
            raise ValueError(f"choose: the group name {group!r} is also a column of the score matrix")
        unknown = [c for c in candidates if c not in names]
        if unknown:
            raise ValueError(f"choose: the group {group!r} names columns {unknown} that the score matrix lacks")
        for c in candidates:
            if c in owner:
                raise ValueError(f"choose: the column {c!r} is a candidate of both {owner[c]!r} and {group!r}")
            owner[c] = group
    systems: list[tuple[str, list[int]]] = []
    placed: set[str] = set()
    for j, name in enumerate(names):
        if name not in owner:
            systems.append((name, [j]))
        elif owner[name] not in placed:
            group = owner[name]
            placed.add(group)
            systems.append((group, [names.index(str(c)) for c in choose[group]]))
    return systems


def _fit_fold(
    arr: np.ndarray,
    names: list[str],
    systems: list[tuple[str, list[int]]],
    objective: Objective,
    *,
    grouped: set[str],
    top: int | None,
    grid: np.ndarray | None,
    step: float,
    tol: float,
) -> tuple[np.ndarray, float, dict[str, str], list[str]]:
    """Every choice of one fold, made on the selection rows ``arr`` and their ``objective`` only.

    First each group's candidate (``search_weights`` over the unit vectors), then, with ``top``,
    the ``top`` systems of best single objective (best first; ties in column order), then the
    grid of weights over them. Returns ``(weights per column, objective value, {group: chosen
    column}, the systems searched)``.
    """
    columns, choices = [], {}
    for name, candidates in systems:
        if name in grouped:
            w, _ = search_weights(arr[:, candidates], objective, grid=np.eye(len(candidates)), tol=tol)
            j = candidates[int(np.argmax(w))]
            choices[name] = names[j]
        else:
            j = candidates[0]
        columns.append(j)
    order = list(range(len(systems)))
    if top is not None and top < len(systems):
        single = _evaluate_grid(arr[:, columns], np.eye(len(columns)), objective, chunk=256)
        order = [int(i) for i in np.argsort(-single, kind="stable")[:top]]
    searched_cols = [columns[i] for i in order]
    g = simplex_grid(len(order), step) if grid is None else np.asarray(grid, dtype=float)
    if g.ndim != 2 or g.shape[1] != len(order):
        raise ValueError(f"grid must have one column per system searched ({len(order)}), got shape {g.shape}")
    w, table = search_weights(arr[:, searched_cols], objective, grid=g, tol=tol)
    full = np.zeros(len(names))
    full[searched_cols] = w
    value = float(table.loc[table["chosen"], "objective"].iloc[0])
    return full, value, choices, [systems[i][0] for i in order]


def _select_per_section(
    matrix: pd.DataFrame | np.ndarray,
    meta: pd.DataFrame,
    selection: Callable[[str, int, list[int]], tuple[list[int], str]],
    *,
    step: float,
    objective_factory: ObjectiveFactory,
    tol: float,
    sections: Iterable[int] | None,
    grid: np.ndarray | None,
    choose: Mapping[str, Sequence[str]] | None = None,
    top: int | None = None,
) -> pd.DataFrame:
    """One fold per (machine type, section): every choice of the fold on its selection sections' rows."""
    arr, names = _as_matrix(matrix)
    if len(meta) != len(arr):
        raise ValueError(f"meta has {len(meta)} rows for a score matrix of {len(arr)}")
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1):
        raise ValueError(f"top={top!r} must be a positive integer or None")
    systems = _systems(names, choose)
    groups = [] if choose is None else [str(g) for g in choose]
    mtypes = meta["machine_type"].astype(str).to_numpy()
    secs = meta["section"].astype(int).to_numpy()
    wanted = None if sections is None else {int(s) for s in sections}
    cache: dict[tuple[str, tuple[int, ...]], tuple[np.ndarray, float, dict[str, str], list[str]]] = {}
    rows = []
    for mt in sorted(set(mtypes)):
        present = sorted(set(secs[mtypes == mt].tolist()))
        for sec in present:
            if wanted is not None and sec not in wanted:
                continue
            chosen_on, rule = selection(mt, sec, present)
            chosen_on = sorted(chosen_on)
            if not chosen_on:
                raise ValueError(f"no section to choose the weights of {mt} section {sec} on (rule {rule!r})")
            key = (mt, tuple(chosen_on))
            if key not in cache:
                rows_sel = np.flatnonzero((mtypes == mt) & np.isin(secs, chosen_on))
                objective = objective_factory(meta.iloc[rows_sel].reset_index(drop=True))
                cache[key] = _fit_fold(arr[rows_sel], names, systems, objective, grouped=set(groups), top=top,
                                       grid=grid, step=step, tol=tol)
            w, value, choices, searched = cache[key]
            row = {"machine_type": mt, "section": sec, "rule": rule,
                   "selected_on": ",".join(str(s) for s in chosen_on), "objective": value}
            row.update(dict(zip(names, w)))
            for group in groups:
                row[group] = float(w[names.index(choices[group])])
                row[f"{group} choice"] = choices[group]
            if top is not None:
                row["subsystems"] = ",".join(searched)
            rows.append(row)
    extra = [*groups, *[f"{g} choice" for g in groups], *(["subsystems"] if top is not None else [])]
    return pd.DataFrame(rows, columns=["machine_type", "section", "rule", "selected_on", "objective", *names, *extra])


def honest_weights(
    score_matrix: pd.DataFrame | np.ndarray,
    meta: pd.DataFrame,
    *,
    pool: Iterable[int] | None = (0, 1, 2),
    step: float = 0.1,
    objective_factory: ObjectiveFactory = official_objective,
    tol: float = 1e-12,
    sections: Iterable[int] | None = None,
    grid: np.ndarray | None = None,
    choose: Mapping[str, Sequence[str]] | None = None,
    top: int | None = None,
) -> pd.DataFrame:
    """Weights per (machine type, section), each chosen without the labels of the section it is used on.

    For section ``s`` of machine type ``t`` (one *fold*), every choice -- the weights and,
    with ``choose`` and ``top``, the nested ones -- maximises ``objective_factory(meta of
    the selection rows)`` over the selection rows only: the test clips of ``t``'s sections
    in ``pool``, ``s`` excluded. So:

    - ``s`` not in ``pool`` (DCASE 2022 evaluation sections 3-5 with the default
      ``pool=(0, 1, 2)``): chosen on all development sections' labels (rule ``"pool"``);
    - ``s`` in ``pool``: chosen on the other pool sections' labels (rule ``"loso"``,
      leave one section out);
    - ``pool=None``: the pool is every section in ``meta`` (pure leave-one-section-out).

    Labels outside the selection rows are never read (they may be ``"unknown"``), and
    ``selected_on`` lists every section whose labels reached the row.

    Nested choices belong inside the fold: a score column that was itself chosen per
    section (AEGAN-AD's score function chosen leave-one-section-out) would carry, on the
    selection rows of ``s``, a choice made with ``s``'s labels. Give its candidates with
    ``choose`` instead, and they are chosen on ``s``'s selection rows like the weights.

    Args:
        score_matrix: ``(n_clips, n_columns)`` standardised test scores (array or
            DataFrame naming the columns), rows matching ``meta``.
        meta: ``machine_type``, ``section``, ``domain``, ``label`` per row.
        step: grid step (:func:`simplex_grid`).
        objective_factory: ``meta_subset -> objective`` (:func:`official_objective`).
        tol: tie tolerance (:func:`search_weights`).
        sections: only these sections get weights (default: all in ``meta``).
        grid: candidate weight vectors instead of the simplex grid, one column per system
            searched (a ``choose`` group counts once; with ``top``, ``top`` columns), e.g.
            ``np.eye(k)`` to *select one* of ``k`` scores honestly (AEGAN-AD's best score
            function alone, the paper's "we select the best performing metric").
        choose: ``{system: [candidate columns]}``: each such system is *one* system of the
            ensemble whose score is one of its candidate columns (e.g. AEGAN-AD's score
            functions, each standardised like any column), chosen inside each fold on the
            fold's selection rows (:func:`search_weights` over the unit vectors, ties to the
            first candidate) before the weights are searched. The table gains a column per
            system (its weight) and ``"<system> choice"`` (the chosen column); the other
            candidates weigh 0.
        top: inside each fold, keep the ``top`` systems of best single objective on the
            selection rows (AITHU submission 3, "the top performing two or three
            subsystems"; ties in column order) and search the grid over them only; the
            table gains ``subsystems`` (those kept, best first).

    Returns:
        one row per (machine type, section): ``machine_type, section, rule,
        selected_on`` (the sections whose labels chose the weights and every nested
        choice, e.g. ``"1,2"``), ``objective`` (its value there), one weight column per
        column of ``score_matrix``, then the ``choose`` and ``top`` columns above.
    """
    pool_set = None if pool is None else {int(p) for p in pool}

    def selection(mt: str, sec: int, present: list[int]) -> tuple[list[int], str]:
        candidates = present if pool_set is None else [p for p in present if p in pool_set]
        rule = "loso" if sec in candidates else "pool"
        return [p for p in candidates if p != sec], rule

    return _select_per_section(score_matrix, meta, selection, step=step, objective_factory=objective_factory,
                               tol=tol, sections=sections, grid=grid, choose=choose, top=top)


def leave_one_section_out_weights(
    score_matrix: pd.DataFrame | np.ndarray,
    meta: pd.DataFrame,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`honest_weights` with ``pool=None``: each section's weights chosen on the other sections' labels."""
    kwargs.pop("pool", None)
    return honest_weights(score_matrix, meta, pool=None, **kwargs)


def best_single_weights(
    score_matrix: pd.DataFrame | np.ndarray,
    meta: pd.DataFrame,
    *,
    pool: Iterable[int] | None = (0, 1, 2),
    objective_factory: ObjectiveFactory = official_objective,
    tol: float = 1e-12,
    sections: Iterable[int] | None = None,
    choose: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """The best *single* system per section, chosen without the section's labels: a control for an ensemble.

    :func:`honest_weights` with the grid restricted to the one-hot vectors (``np.eye(k)``, ``k``
    the systems searched, a ``choose`` group counting once): for section ``s`` the system of
    best objective on the selection rows (the other ``pool`` sections' labels), a ``choose``
    group's candidate chosen in the same fold first, so the nested choice never sees ``s``'s
    labels either. Ties go to the system listed first. Same table as :func:`honest_weights`;
    every row has one weight 1 (the chosen system; for a group, its chosen candidate).
    """
    _, names = _as_matrix(score_matrix)
    k = len(_systems(names, choose))
    return honest_weights(score_matrix, meta, pool=pool, objective_factory=objective_factory, tol=tol,
                          sections=sections, grid=np.eye(k), choose=choose)


def oracle_weights(
    score_matrix: pd.DataFrame | np.ndarray,
    meta: pd.DataFrame,
    *,
    step: float = 0.1,
    objective_factory: ObjectiveFactory = official_objective,
    tol: float = 1e-12,
    per_section: bool = False,
    sections: Iterable[int] | None = None,
    grid: np.ndarray | None = None,
    choose: Mapping[str, Sequence[str]] | None = None,
    top: int | None = None,
) -> pd.DataFrame:
    """ORACLE weights (label them so): chosen on the test labels they are evaluated on.

    Per machine type, on all its sections in ``meta`` (``per_section=True``: each
    section on its own labels); ``choose`` and ``top`` as in :func:`honest_weights`,
    chosen on the same labels. Same table as :func:`honest_weights`, rule ``"oracle"``;
    ``grid=np.eye(k)`` gives the oracle *selection* of one of ``k`` scores (what the
    AEGAN-AD code reports).
    """

    def selection(mt: str, sec: int, present: list[int]) -> tuple[list[int], str]:
        return ([sec] if per_section else list(present)), "oracle"

    return _select_per_section(score_matrix, meta, selection, step=step, objective_factory=objective_factory,
                               tol=tol, sections=sections, grid=grid, choose=choose, top=top)


# ----------------------------------------------------------------------------- combining


def ensemble_scores(
    standardised: pd.DataFrame | np.ndarray,
    weights: np.ndarray | Sequence[float] | Mapping[str, float] | pd.DataFrame,
    meta: pd.DataFrame | None = None,
) -> np.ndarray:
    """The ensemble's per-clip scores ``sum_j w_j z_j``: ``(n_clips,)`` float64.

    Args:
        standardised: ``(n_clips, n_systems)`` standardised scores (array or DataFrame).
        weights: one vector for all clips (``(n_systems,)``, or ``{system: w}`` with a
            DataFrame; missing systems weigh 0), or a per-section table from
            :func:`honest_weights` / :func:`oracle_weights` (then ``meta`` gives each
            row's machine type and section, and each clip gets its section's weights).
    """
    arr, names = _as_matrix(standardised)
    if isinstance(weights, pd.DataFrame):
        if meta is None or len(meta) != len(arr):
            raise ValueError("ensemble_scores: a per-section weight table needs meta (one row per clip)")
        missing = [n for n in names if n not in weights.columns]
        if missing:
            raise ValueError(f"ensemble_scores: the weight table has no column for {missing}")
        lookup = {(str(r.machine_type), int(r.section)): i for i, r in enumerate(weights.itertuples(index=False))}
        w_all = weights[names].to_numpy(dtype=float)
        keys = list(zip(meta["machine_type"].astype(str), meta["section"].astype(int)))
        absent = sorted({k for k in keys if k not in lookup})
        if absent:
            raise ValueError(f"ensemble_scores: no weights for {absent[:5]}")
        per_clip = w_all[[lookup[k] for k in keys]]
        return (arr * per_clip).sum(axis=1)
    if isinstance(weights, Mapping):
        if not isinstance(standardised, pd.DataFrame):
            raise TypeError("ensemble_scores: weights by system name need a DataFrame of scores")
        unknown = [k for k in weights if str(k) not in names]
        if unknown:
            raise ValueError(f"ensemble_scores: weights for unknown system(s) {unknown}; columns are {names}")
        w = np.array([float(weights.get(n, 0.0)) for n in names])
    else:
        w = np.asarray(weights, dtype=float).reshape(-1)
    if w.shape[0] != arr.shape[1]:
        raise ValueError(f"ensemble_scores: {w.shape[0]} weights for {arr.shape[1]} systems")
    return arr @ w


__all__ = [
    "META_COLUMNS",
    "best_single_weights",
    "ensemble_inputs",
    "ensemble_scores",
    "honest_weights",
    "leave_one_section_out_weights",
    "official_objective",
    "oracle_weights",
    "score_matrix",
    "search_weights",
    "simplex_grid",
    "standardise",
]
