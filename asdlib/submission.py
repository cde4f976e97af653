"""Submission files of any system, as the DCASE baselines write them, and their ground truth.

What the official baselines write (``dcase2023_task2_baseline_ae``, 2023 to 2026), and
what the evaluators read (:func:`asdlib.metrics.evaluate_score_dir`):

- ``anomaly_score_<type>_section_<ss>_test.csv``: lines ``file,score``, no header;
- ``decision_result_<type>_section_<ss>_test.csv``: lines ``file,0|1`` (1 = anomalous);
- DCASE 2021: one pair per section *and domain*,
  ``anomaly_score_<type>_section_<ss>_<domain>_test.csv`` and
  ``decision_result_<type>_section_<ss>_<domain>_test.csv``.

**The decision threshold** is the baselines' rule: a gamma distribution is fitted to
the anomaly scores of the machine type's *training* clips
(:func:`scipy.stats.gamma.fit`: shape, location and scale, all free), and the
threshold is its ``percentile`` quantile, :data:`DECISION_PERCENTILE` = 0.9 (the
baselines' ``decision_threshold`` in ``baseline.yaml``): ``gamma.ppf(0.9, shape,
loc, scale)``. A test clip is declared anomalous when its score is **above** the
threshold. The baselines train one model per machine type and fit one gamma per
model, so ``group="machine_type"`` (the default) fits over all training clips of a
type; ``group="section"`` fits one per section.

Nothing here looks at test labels: thresholds come from training scores only.
:func:`write_ground_truth` writes the evaluator's ground-truth CSVs from labelled
test clips (development data, whose labels are in the file names), so that the
submission can be read back through ``asd evaluate``.

Every file is written atomically (:func:`asdlib.utils.atomic_write_text`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import gamma

from asdlib.metrics.evaluate import (
    GT_DOMAIN_DIR, GT_LABEL_DIR, decision_csv_name, ground_truth_csv_name, score_csv_name)
from asdlib.metrics.frames import examples, file_name, prepare_scores
from asdlib.utils import atomic_write_text

DECISION_PERCENTILE: float = 0.9
"""The gamma quantile of the training scores that the baselines use as the decision threshold."""

GROUPS = ("machine_type", "section")


def gamma_threshold(train_scores, percentile: float = DECISION_PERCENTILE, what: str = "training scores") -> float:
    """``gamma.ppf(percentile, *gamma.fit(train_scores))``: the baselines' decision threshold.

    Needs at least 3 finite scores that are not all equal (a gamma has three
    parameters); otherwise a ValueError names ``what``.
    """
    if not 0.0 < percentile < 1.0:
        raise ValueError(f"percentile={percentile!r}: give a quantile strictly between 0 and 1 (the baselines use 0.9)")
    x = np.asarray(train_scores, dtype=float).ravel()
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: scores contain NaN or inf")
    if len(x) < 3 or np.ptp(x) == 0:
        raise ValueError(f"{what}: a gamma fit needs at least 3 scores that are not all equal, got {len(x)} "
                         f"(range {np.ptp(x) if len(x) else 0:g})")
    shape, loc, scale = gamma.fit(x)
    return float(gamma.ppf(percentile, shape, loc=loc, scale=scale))


@dataclass
class Submission:
    """What :func:`write_submission` wrote: the folder, the files and the thresholds.

    ``thresholds``: one row per group (``machine_type`` and, with ``group="section"``,
    ``section``) with ``threshold``, ``n_train`` and ``n_anomalous`` (test clips above it).
    """

    folder: Path
    files: list[Path]
    thresholds: pd.DataFrame
    percentile: float


def _check_columns(table: pd.DataFrame, needed: list[str], what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lack the column(s) {missing}; they have {examples(list(table.columns), n=20)}")
    if len(table) == 0:
        raise ValueError(f"{what} are empty")


def _file_names(table: pd.DataFrame) -> list[str]:
    source = table["file"] if "file" in table.columns else table["path"]
    return [file_name(f) for f in source]


def write_submission(
    scores: pd.DataFrame,
    train_scores: pd.DataFrame,
    out: str | os.PathLike,
    *,
    year: int = 2023,
    percentile: float = DECISION_PERCENTILE,
    group: str = "machine_type",
) -> Submission:
    """Write the score and decision CSVs of a system's test clips into ``out``.

    ``scores``: test clips with ``machine_type``, ``section``, ``score`` and ``file``
    (or ``path``; the CSVs list the file name); for ``year=2021`` also ``domain``.
    ``train_scores``: the same system's scores of the training clips (``machine_type``,
    ``section``, ``score``), from which the thresholds are fitted (module doc).
    Returns a :class:`Submission`. A test group without training scores, a file listed
    twice in a section, a non-finite score or an unknown ``group`` is an error naming it.
    """
    if group not in GROUPS:
        raise ValueError(f"group={group!r}: fit the threshold per {' or per '.join(GROUPS)}")
    year = int(year)
    if year < 2021:
        raise ValueError(f"year={year}: submission files are written in the DCASE 2021-2026 formats")
    _check_columns(scores, ["machine_type", "section", "score"] + ["domain"] * (year == 2021), "test scores")
    _check_columns(train_scores, ["machine_type", "section", "score"], "training scores")
    if "file" not in scores.columns and "path" not in scores.columns:
        raise ValueError("test scores lack a 'file' or 'path' column: the CSVs list every clip's file name")
    test = scores.copy()
    test["file"] = _file_names(test)
    test["section"] = test["section"].astype(int)
    test["score"] = pd.to_numeric(test["score"], errors="coerce")
    if not np.isfinite(test["score"].to_numpy(dtype=float)).all():
        bad = test.loc[~np.isfinite(test["score"].to_numpy(dtype=float)), "file"].tolist()
        raise ValueError(f"test scores contain NaN, inf or non-numbers, e.g. {examples(bad)}")
    dup = test.duplicated(["machine_type", "section", "file"], keep=False)
    if dup.any():
        raise ValueError(f"test scores list a file twice in one section: {examples(sorted(set(test.loc[dup, 'file'])))}")
    train = train_scores.copy()
    train["section"] = train["section"].astype(int)
    keys = ["machine_type"] + ["section"] * (group == "section")

    thresholds = []
    test["decision"] = 0
    for key, rows in test.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mask = np.logical_and.reduce([train[k] == v for k, v in zip(keys, key)])
        name = " ".join(f"{k} {v}" for k, v in zip(keys, key))
        if not mask.any():
            raise ValueError(f"no training scores for {name}: the decision threshold is fitted on them")
        threshold = gamma_threshold(train.loc[mask, "score"], percentile, f"training scores of {name}")
        decided = (rows["score"] > threshold).astype(int)
        test.loc[rows.index, "decision"] = decided
        thresholds.append({**dict(zip(keys, key)), "threshold": threshold, "n_train": int(mask.sum()),
                           "n_test": int(len(rows)), "n_anomalous": int(decided.sum())})

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    split_keys = ["machine_type", "section"] + ["domain"] * (year == 2021)
    for key, rows in test.sort_values("file").groupby(split_keys, sort=True):
        mtype, section = key[0], int(key[1])
        domain = key[2] if year == 2021 else None
        score_path = folder / score_csv_name(mtype, section, domain)
        decision_path = folder / decision_csv_name(mtype, section, domain)
        atomic_write_text(score_path, "".join(f"{f},{s!r}\n" for f, s in zip(rows["file"], rows["score"].astype(float))))
        atomic_write_text(decision_path, "".join(f"{f},{int(d)}\n" for f, d in zip(rows["file"], rows["decision"])))
        written += [score_path, decision_path]
    return Submission(folder=folder, files=written, thresholds=pd.DataFrame(thresholds), percentile=percentile)


def write_ground_truth(test: pd.DataFrame, out: str | os.PathLike, *, year: int = 2023) -> list[Path]:
    """Write the evaluator's ground-truth CSVs of labelled test clips into ``out``.

    ``test``: rows with ``machine_type``, ``section``, ``domain``, ``label``
    (``normal``/``anomaly``) and ``file`` or ``path``. Writes
    ``ground_truth_data/ground_truth_<type>_section_<ss>_test.csv`` (``file,0|1``,
    1 = anomaly) and ``ground_truth_domain/...`` (``file,0|1``, 1 = target); for
    ``year=2021`` one label CSV per section and domain and no domain folder. A clip
    labelled ``unknown`` (evaluation data without ground truth) is an error: its
    truth is not known here.
    """
    _check_columns(test, ["machine_type", "section", "domain", "label"], "test clips")
    if "file" not in test.columns and "path" not in test.columns:
        raise ValueError("test clips lack a 'file' or 'path' column")
    df = prepare_scores(test.assign(score=0.0, file=_file_names(test)), need_domain=True)
    folder = Path(out)
    written = []
    if int(year) == 2021:
        for (mtype, section, domain), rows in df.groupby(["machine_type", "section", "domain"], sort=True):
            path = folder / GT_LABEL_DIR / ground_truth_csv_name(mtype, section, domain)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, "".join(f"{f},{y}\n" for f, y in zip(rows["file"], rows["y"])))
            written.append(path)
        return written
    for (mtype, section), rows in df.groupby(["machine_type", "section"], sort=True):
        for sub, column in ((GT_LABEL_DIR, "y"), (GT_DOMAIN_DIR, "d")):
            path = folder / sub / ground_truth_csv_name(mtype, section)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, "".join(f"{f},{v}\n" for f, v in zip(rows["file"], rows[column])))
            written.append(path)
    return written
