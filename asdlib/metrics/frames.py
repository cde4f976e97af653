"""The scores table every metric takes, its validation, and building it from a clip index.

A **scores table** is a :class:`pandas.DataFrame` with one row per test clip:

=============== ==============================================================
column          meaning
=============== ==============================================================
``machine_type`` the DCASE machine type (``"fan"``, ``"ToyCar"`` ...)
``section``     section number (int); for DCASE 2020 the machine ID
``domain``      ``"source"`` / ``"target"`` (or 0 / 1, as in the ground-truth
                CSVs); required for DCASE 2022/2023, ignored for 2020
``label``       ``"normal"`` / ``"anomaly"`` (or 0 / 1); ``"unknown"`` (the
                clip index's value for eval clips without ground truth) is an
                error
``score``       anomaly score, float, **higher = more anomalous**
``file``        optional, the clip's file name (used in error messages and to
                catch duplicates)
``decision``    optional, the system's 0/1 decision (1 = anomalous), as in the
                ``decision_result_*.csv`` files: adds precision, recall and F1
=============== ==============================================================

:func:`prepare_scores` checks all of that and returns a normalised copy;
:func:`scores_frame_from_index` builds the table from in-memory scores and a clip
index, joined by file path (never by order).
"""

from __future__ import annotations

import math
import os
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

REQUIRED_COLUMNS: tuple[str, ...] = ("machine_type", "section", "label", "score")
LABEL_CODES: dict[str, int] = {"normal": 0, "anomaly": 1}
DOMAIN_CODES: dict[str, int] = {"source": 0, "target": 1}
DOMAIN_NAMES: dict[int, str] = {0: "source", 1: "target"}

_UNKNOWN = -1
_INVALID = -2
_N_EXAMPLES = 5


def examples(items: Iterable[Any], n: int = _N_EXAMPLES) -> str:
    """``'a', 'b', 'c' ...`` : the first ``n`` items, for error messages."""
    items = list(items)
    shown = ", ".join(repr(i) for i in items[:n])
    return shown + (f" ... ({len(items)} in all)" if len(items) > n else "")


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def _code(value: Any, names: Mapping[str, int]) -> int:
    """Map a label/domain value to 0/1, ``_UNKNOWN`` or ``_INVALID``."""
    if _is_missing(value):
        return _UNKNOWN
    if isinstance(value, str):
        text = value.strip().lower()
        if text in names:
            return names[text]
        if text in ("0", "1"):
            return int(text)
        if text in ("unknown", ""):
            return _UNKNOWN
        return _INVALID
    if isinstance(value, (bool, np.bool_, int, np.integer, float, np.floating)):
        if value == 0 or value == 1:
            return int(value)
    return _INVALID


def _codes(series: pd.Series, names: Mapping[str, int]) -> np.ndarray:
    return np.array([_code(v, names) for v in series.tolist()], dtype=int)


def _where(df: pd.DataFrame, mask: np.ndarray) -> str:
    """``(e.g. file 'a.wav', 'b.wav')`` or ``(rows 3, 7)`` for the rows in ``mask``."""
    if "file" in df.columns:
        return f"(e.g. file {examples(df.loc[mask, 'file'].tolist())})"
    return f"(rows {examples(np.flatnonzero(mask).tolist())})"


def _section_numbers(series: pd.Series) -> np.ndarray:
    """Sections as ints; accepts 3, '03', 'section_03', 'id_03'."""
    out = []
    bad = []
    for value in series.tolist():
        if isinstance(value, str):
            digits = value.strip().rsplit("_", 1)[-1]
            if digits.isdigit():
                out.append(int(digits))
                continue
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            out.append(int(value))
            continue
        elif isinstance(value, (float, np.floating)) and float(value).is_integer():
            out.append(int(value))
            continue
        bad.append(value)
        out.append(-1)
    if bad:
        raise ValueError(
            f"column 'section' must hold integer section numbers (or 'section_NN'); "
            f"got {examples(sorted(set(map(str, bad))))}"
        )
    return np.array(out, dtype=int)


def _binary(df: pd.DataFrame, column: str, codes: dict, valid: str, *, missing: str, hint: str) -> np.ndarray:
    """0/1 codes of ``df[column]``; a missing or invalid value raises, naming the rows."""
    c = _codes(df[column], codes)
    unknown = c == _UNKNOWN
    if unknown.any():
        raise ValueError(f"{int(unknown.sum())} of {len(df)} rows have {missing} {_where(df, unknown)}; {hint}")
    invalid = c == _INVALID
    if invalid.any():
        bad = sorted(set(map(str, df.loc[invalid, column].tolist())))
        raise ValueError(f"{int(invalid.sum())} rows have a {column} that is not {valid}/0/1: {examples(bad)}")
    return c


def prepare_scores(scores: pd.DataFrame, *, need_domain: bool) -> pd.DataFrame:
    """Validate a scores table and return a normalised copy.

    The copy has ``machine_type`` (str), ``section`` (int), ``label``
    (``"normal"``/``"anomaly"``), ``y`` (0 normal / 1 anomaly), ``score`` (float),
    ``file`` if given, ``decision`` (0/1) if given, and, when ``need_domain``,
    ``domain`` (``"source"``/``"target"``) and ``d`` (0 source / 1 target). Rows are sorted by machine type, section and
    (if present) file, so results never depend on the input order.

    Raises ``TypeError`` for a non-DataFrame and ``ValueError`` naming the problem:
    a missing column, an empty table, labels ``'unknown'``/missing (with the count),
    labels or domains that are neither name nor 0/1, non-finite scores (per
    machine type and section), or a file listed twice in one section.
    """
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    required = REQUIRED_COLUMNS + (("domain",) if need_domain else ())
    missing = [c for c in required if c not in scores.columns]
    if missing:
        why = " (DCASE 2022/2023 metrics need each clip's domain)" if "domain" in missing else ""
        raise ValueError(
            f"scores table is missing column(s) {examples(missing)}{why}; "
            f"it has {examples(list(scores.columns), n=20)}"
        )
    if len(scores) == 0:
        raise ValueError("scores table is empty")

    keep = list(REQUIRED_COLUMNS) + ["file"] * ("file" in scores.columns)
    keep += ["domain"] * need_domain + ["decision"] * ("decision" in scores.columns)
    df = scores[keep].reset_index(drop=True).copy()

    if df["machine_type"].isna().any():
        mask = df["machine_type"].isna().to_numpy()
        raise ValueError(f"{int(mask.sum())} rows have no machine_type {_where(df, mask)}")
    df["machine_type"] = df["machine_type"].astype(str)
    df["section"] = _section_numbers(df["section"])
    if "file" in df.columns:
        df["file"] = df["file"].astype(str)

    y = _binary(df, "label", LABEL_CODES, "'normal'/'anomaly'", missing="label 'unknown' or no label",
                hint="every clip needs a ground-truth label ('normal'/'anomaly' or 0/1): for DCASE "
                     "evaluation data read the ground-truth CSVs (asdlib.metrics.evaluate_score_dir)")
    df["y"] = y
    df["label"] = np.where(y == 1, "anomaly", "normal")

    if need_domain:
        d = _binary(df, "domain", DOMAIN_CODES, "'source'/'target'", missing="no domain",
                    hint="DCASE 2022/2023 metrics need 'source'/'target' (or 0/1) for every clip")
        df["d"] = d
        df["domain"] = np.where(d == 1, "target", "source")

    if "decision" in df.columns:
        df["decision"] = _binary(df, "decision", LABEL_CODES, "'normal'/'anomaly'", missing="no decision",
                                 hint="a decision column needs 0 (normal) or 1 (anomalous) for every clip")

    df["score"] = pd.to_numeric(df["score"], errors="coerce").astype(float)
    bad_score = ~np.isfinite(df["score"].to_numpy())
    if bad_score.any():
        parts = []
        for (mt, sec), grp in df[bad_score].groupby(["machine_type", "section"], sort=True):
            where = (
                f"e.g. {examples(grp['file'].tolist(), n=3)}" if "file" in grp.columns else ""
            )
            parts.append(f"{mt} section {sec}: {len(grp)} rows {where}".rstrip())
        raise ValueError(
            "scores must be finite numbers; missing, non-numeric, NaN or infinite scores in "
            + "; ".join(parts)
        )

    if "file" in df.columns:
        dup = df.duplicated(["machine_type", "section", "file"], keep=False).to_numpy()
        if dup.any():
            first = df[dup].iloc[0]
            raise ValueError(
                f"{int(dup.sum())} rows repeat a file within one section, e.g. "
                f"{first['machine_type']} section {first['section']}: "
                f"{examples(sorted(set(df.loc[dup, 'file'])))}"
            )

    order = ["machine_type", "section"] + ["file"] * ("file" in df.columns)
    return df.sort_values(order, kind="stable").reset_index(drop=True)


def file_name(path: Any) -> str:
    """The last component of a path string (``/`` or ``\\\\`` separated)."""
    return os.fspath(path).replace("\\", "/").rsplit("/", 1)[-1]


def _scores_series(scores: Mapping[Any, float] | pd.Series | pd.DataFrame, key: str) -> pd.Series:
    """Scores as a float Series indexed by the key string."""
    if isinstance(scores, pd.DataFrame):
        missing = [c for c in (key, "score") if c not in scores.columns]
        if missing:
            raise ValueError(
                f"scores DataFrame is missing column(s) {examples(missing)}; "
                f"it has {examples(list(scores.columns), n=20)}"
            )
        keys = [os.fspath(k) for k in scores[key].tolist()]
        values = scores["score"].tolist()
    elif isinstance(scores, pd.Series):
        keys = [os.fspath(k) for k in scores.index.tolist()]
        values = scores.tolist()
    elif isinstance(scores, Mapping):
        keys = [os.fspath(k) for k in scores.keys()]
        values = list(scores.values())
    else:
        raise TypeError(
            "scores must be a mapping {path: score}, a Series indexed by path, or a "
            f"DataFrame with columns {key!r} and 'score'; got {type(scores).__name__}"
        )
    series = pd.Series(values, index=pd.Index(keys, dtype=object), dtype=float)
    dup = series.index.duplicated(keep=False)
    if dup.any():
        raise ValueError(f"scores list a {key} twice: {examples(sorted(set(series.index[dup])))}")
    return series


def scores_frame_from_index(
    scores: Mapping[Any, float] | pd.Series | pd.DataFrame,
    index: pd.DataFrame,
    *,
    key: str | None = None,
    require_complete: bool = True,
) -> pd.DataFrame:
    """Build a scores table from in-memory scores and a clip index, joined by path.

    ``scores``: ``{path: score}``, a Series indexed by path, or a DataFrame with
    the key column and ``score``. ``index``: the clip index (one row per file) with
    columns ``path`` (or ``file``), ``machine_type``, ``section``, ``label`` and,
    for 2022/2023, ``domain``; an optional ``split`` column marks test rows.
    ``key``: the join column, default ``"path"`` if the index has it, else ``"file"``.
    Keys are compared as strings (``os.fspath``), exactly: no sort order is used.

    Returns one row per scored clip with the index's ``machine_type``, ``section``,
    ``domain`` (if present), ``label``, the ``score``, ``file`` (the file name) and
    the key column.

    Raises ``ValueError`` when a scored key is not in the index, when the index
    repeats a key, or (``require_complete``) when a (machine type, section) that
    received scores has test clips without a score: evaluating a partly scored
    section would give a wrong AUC. Test clips are the rows with ``split == "test"``
    when the index has a ``split`` column, else all rows.
    """
    if not isinstance(index, pd.DataFrame):
        raise TypeError(f"index must be a pandas DataFrame, got {type(index).__name__}")
    if key is None:
        key = "path" if "path" in index.columns else "file"
    needed = [key, "machine_type", "section", "label"]
    missing = [c for c in needed if c not in index.columns]
    if missing:
        raise ValueError(
            f"clip index is missing column(s) {examples(missing)}; "
            f"it has {examples(list(index.columns), n=20)}"
        )
    idx = index.reset_index(drop=True).copy()
    idx[key] = [os.fspath(k) for k in idx[key].tolist()]
    dup = idx[key].duplicated(keep=False)
    if dup.any():
        raise ValueError(f"clip index lists a {key} twice: {examples(sorted(set(idx.loc[dup, key])))}")

    series = _scores_series(scores, key)
    known = set(idx[key])
    stray = [k for k in series.index if k not in known]
    if stray:
        raise ValueError(
            f"{len(stray)} scored {key}s are not in the clip index: {examples(sorted(stray))}"
        )

    scored = idx[key].isin(set(series.index))
    if require_complete:
        test = idx["split"].astype(str).eq("test") if "split" in idx.columns else pd.Series(True, index=idx.index)
        touched = set(zip(idx.loc[scored, "machine_type"], idx.loc[scored, "section"]))
        in_touched = pd.Series(
            [(m, s) in touched for m, s in zip(idx["machine_type"], idx["section"])], index=idx.index
        )
        unscored = idx[test & in_touched & ~scored]
        if len(unscored):
            first = unscored.iloc[0]
            raise ValueError(
                f"{len(unscored)} test clips of scored sections have no score, e.g. "
                f"{first['machine_type']} section {first['section']}: "
                f"{examples(unscored[key].tolist())}; score every test clip of a section "
                f"(or pass require_complete=False)"
            )

    cols = [c for c in ("machine_type", "section", "domain", "label") if c in idx.columns]
    out = idx.loc[scored, [key] + cols].copy()
    out["score"] = series.reindex(out[key]).to_numpy()
    out["file"] = [file_name(k) for k in out[key]]
    front = ["machine_type", "section"] + ["domain"] * ("domain" in cols) + ["label", "score", "file"]
    rest = [key] if key != "file" else []
    return out[front + rest].reset_index(drop=True)
