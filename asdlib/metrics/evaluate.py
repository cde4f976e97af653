"""Evaluate a folder of DCASE anomaly-score CSVs (and decision CSVs) against ground-truth CSVs.

Layouts (those of the official evaluators, 2021 to 2024):

- scores: ``<score_dir>/anomaly_score_<type>_section_<ss>_test.csv``, lines
  ``file,score`` with no header;
- decisions (optional, all or none): ``<score_dir>/decision_result_<type>_section_<ss>_test.csv``,
  lines ``file,0|1`` (1 = anomalous): they add precision, recall and F1 per domain;
- labels: ``<gt_dir>/ground_truth_data/ground_truth_<type>_section_<ss>_test.csv``,
  lines ``file,0|1`` (0 normal, 1 anomaly), no header;
- domains: ``<gt_dir>/ground_truth_domain/ground_truth_<type>_section_<ss>_test.csv``,
  lines ``file,0|1`` (0 source, 1 target), no header.

DCASE 2021 has one file per section *and domain* and no domain folder:
``anomaly_score_<type>_section_<ss>_<domain>_test.csv``,
``decision_result_<type>_section_<ss>_<domain>_test.csv`` and
``ground_truth_data/ground_truth_<type>_section_<ss>_<domain>_test.csv``
(``<domain>`` is ``source`` or ``target``); pass ``year=2021``.

The ground-truth label files decide which (machine type, section) pairs are
evaluated, as in the official script. Scores and ground truth are joined **by file
name** (the last path component, so ``test/section_00_0000.wav`` matches
``section_00_0000.wav``); the official script instead sorts both lists, which
gives the same pairs only when the names match exactly. A file in one CSV and not
the other is an error naming the CSV and the files.
"""

from __future__ import annotations

import csv
import math
import os
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

from asdlib.metrics.dcase import MAX_FPR, EvaluationResult, evaluate_scores
from asdlib.metrics.frames import DOMAIN_NAMES, examples, file_name

GT_LABEL_DIR = "ground_truth_data"
GT_DOMAIN_DIR = "ground_truth_domain"
_GT_RE = re.compile(r"^ground_truth_(?P<machine_type>.+)_section_(?P<section>\d+)_test\.csv$")
_GT_RE_2021 = re.compile(
    r"^ground_truth_(?P<machine_type>.+)_section_(?P<section>\d+)_(?P<domain>source|target)_test\.csv$")


def _tag(section: int, domain: str | None) -> str:
    return f"section_{int(section):02d}" + (f"_{domain}" if domain else "") + "_test"


def score_csv_name(machine_type: str, section: int, domain: str | None = None) -> str:
    """``anomaly_score_<type>_section_<ss>_test.csv`` (2021: ``..._<ss>_<domain>_test.csv``)."""
    return f"anomaly_score_{machine_type}_{_tag(section, domain)}.csv"


def decision_csv_name(machine_type: str, section: int, domain: str | None = None) -> str:
    """``decision_result_<type>_section_<ss>_test.csv`` (2021: ``..._<ss>_<domain>_test.csv``)."""
    return f"decision_result_{machine_type}_{_tag(section, domain)}.csv"


def ground_truth_csv_name(machine_type: str, section: int, domain: str | None = None) -> str:
    """``ground_truth_<type>_section_<ss>_test.csv`` (2021: ``..._<ss>_<domain>_test.csv``)."""
    return f"ground_truth_{machine_type}_{_tag(section, domain)}.csv"


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV as ``(line number, fields)``, read as UTF-8 with an optional BOM."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        return [(reader.line_num, row) for row in reader if row and any(cell.strip() for cell in row)]


def read_two_column_csv(path: str | os.PathLike, *, kind: str = "score") -> dict[str, float]:
    """Read a headerless ``file,value`` CSV into ``{file name: value}``.

    ``kind``: ``"score"`` (any finite float), ``"label"``, ``"domain"`` or ``"decision"`` (0 or 1).
    Blank lines are skipped; a UTF-8 byte-order mark at the start is dropped (as
    spreadsheet programs write it). Raises ``FileNotFoundError`` for a missing file and
    ``ValueError`` naming the file and line for a short line, a value that does not
    parse, or a file listed twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} CSV not found: {path}")
    out: dict[str, float] = {}
    try:
        rows = _csv_rows(path)
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{path}: cannot read {kind} CSV ({err}); expected UTF-8 lines 'file,{kind}'") from err
    for lineno, row in rows:
        if len(row) < 2:
            raise ValueError(f"{path}, line {lineno}: expected 'file,{kind}', got {row!r}")
        name = file_name(row[0].strip())
        text = row[1].strip()
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{path}, line {lineno}: {kind} {text!r} is not a number "
                f"(these CSVs have no header line)"
            ) from None
        if kind == "score" and not math.isfinite(value):
            raise ValueError(f"{path}, line {lineno}: score {text!r} is not a finite number")
        if kind != "score" and value not in (0.0, 1.0):
            raise ValueError(f"{path}, line {lineno}: {kind} must be 0 or 1, got {text!r}")
        if name in out:
            raise ValueError(f"{path}, line {lineno}: file {name!r} is listed twice")
        out[name] = value
    if not out:
        raise ValueError(f"{kind} CSV has no rows: {path}")
    return out


def _mismatch(a_path: Path, a: Iterable[str], b_path: Path, b: Iterable[str]) -> str | None:
    """A message naming files of ``b`` missing from ``a`` and vice versa, or None."""
    a, b = set(a), set(b)
    missing, extra = sorted(b - a), sorted(a - b)
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"{len(missing)} files of {b_path} are missing: {examples(missing)}")
    if extra:
        parts.append(f"{len(extra)} files are not in {b_path}: {examples(extra)}")
    return f"{a_path}: " + "; ".join(parts)


def ground_truth_sections(
    gt_dir: str | os.PathLike,
    machine_types: Iterable[str] | None = None,
    sections: Iterable[int] | None = None,
    year: int = 2022,
) -> list[tuple[str, int]]:
    """The (machine type, section) pairs that have a label CSV under ``gt_dir``, sorted
    (2021: a pair needs its ``source`` and ``target`` label CSVs)."""
    label_dir = Path(gt_dir) / GT_LABEL_DIR
    if not label_dir.is_dir():
        raise FileNotFoundError(f"ground-truth label folder not found: {label_dir}")
    pairs = []
    pattern = _GT_RE_2021 if int(year) == 2021 else _GT_RE
    for p in sorted(label_dir.glob("ground_truth_*_test.csv")):
        m = pattern.match(p.name)
        if m and (m["machine_type"], int(m["section"])) not in pairs:
            pairs.append((m["machine_type"], int(m["section"])))
    if machine_types is not None:
        wanted = set(machine_types)
        unknown = wanted - {mt for mt, _ in pairs}
        if unknown:
            raise ValueError(f"no ground truth for machine type(s) {examples(sorted(unknown))} in {label_dir}")
        pairs = [p for p in pairs if p[0] in wanted]
    if sections is not None:
        wanted_s = {int(s) for s in sections}
        pairs = [p for p in pairs if p[1] in wanted_s]
    if not pairs:
        raise FileNotFoundError(f"no ground_truth_<type>_section_<ss>_test.csv files (selected) in {label_dir}")
    return sorted(pairs)


def _read_ground_truth_2021(gt_dir: Path, pairs: list[tuple[str, int]]) -> pd.DataFrame:
    frames = []
    for mtype, section in pairs:
        for domain in ("source", "target"):
            path = gt_dir / GT_LABEL_DIR / ground_truth_csv_name(mtype, section, domain)
            labels = read_two_column_csv(path, kind="label")
            files = sorted(labels)
            frames.append(pd.DataFrame({
                "machine_type": mtype, "section": section, "file": files, "domain": domain,
                "label": ["anomaly" if labels[f] == 1 else "normal" for f in files]}))
    return pd.concat(frames, ignore_index=True)


def read_ground_truth(
    gt_dir: str | os.PathLike,
    machine_types: Iterable[str] | None = None,
    sections: Iterable[int] | None = None,
    year: int = 2022,
) -> pd.DataFrame:
    """Ground truth as a table: ``machine_type, section, file, domain, label``.

    ``domain`` is ``"source"``/``"target"``, ``label`` ``"normal"``/``"anomaly"``.
    Label and domain CSVs are joined by file name; a file in one and not the other
    is an error naming both CSVs. ``year=2021`` reads the per-domain label CSVs
    (the domain is in the CSV's name).
    """
    gt_dir = Path(gt_dir)
    if int(year) == 2021:
        return _read_ground_truth_2021(gt_dir, ground_truth_sections(gt_dir, machine_types, sections, 2021))
    frames = []
    for mtype, section in ground_truth_sections(gt_dir, machine_types, sections):
        name = ground_truth_csv_name(mtype, section)
        label_path, domain_path = gt_dir / GT_LABEL_DIR / name, gt_dir / GT_DOMAIN_DIR / name
        labels = read_two_column_csv(label_path, kind="label")
        domains = read_two_column_csv(domain_path, kind="domain")
        problem = _mismatch(domain_path, domains, label_path, labels)
        if problem:
            raise ValueError(f"ground truth disagrees: {problem}")
        files = sorted(labels)
        frames.append(
            pd.DataFrame(
                {
                    "machine_type": mtype,
                    "section": section,
                    "file": files,
                    "domain": [DOMAIN_NAMES[int(domains[f])] for f in files],
                    "label": ["anomaly" if labels[f] == 1 else "normal" for f in files],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def scores_frame_from_dir(
    score_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    machine_types: Iterable[str] | None = None,
    sections: Iterable[int] | None = None,
    year: int = 2022,
) -> pd.DataFrame:
    """The scores table (``machine_type, section, file, domain, label, score`` and, when
    the folder has decision CSVs, ``decision``) of a score folder.

    Every ground-truth section must have its score CSV (``FileNotFoundError`` naming
    it otherwise), and every CSV must list exactly the ground truth's files
    (``ValueError`` naming the CSV and some missing / extra files otherwise). Decision
    CSVs are all or none: when the folder holds any ``decision_result_*.csv``, every
    evaluated score CSV needs its decision CSV, listing the same files.
    """
    score_dir = Path(score_dir)
    if not score_dir.is_dir():
        raise FileNotFoundError(f"score folder not found: {score_dir}")
    truth = read_ground_truth(gt_dir, machine_types, sections, year)
    with_decisions = any(score_dir.glob("decision_result_*.csv"))
    by_domain = int(year) == 2021
    keys = ["machine_type", "section"] + ["domain"] * by_domain
    frames = []
    for key, gt in truth.groupby(keys, sort=True):
        mtype, section = key[0], key[1]
        domain = key[2] if by_domain else None
        path = score_dir / score_csv_name(mtype, section, domain)
        scores = read_two_column_csv(path, kind="score")
        gt_path = Path(gt_dir) / GT_LABEL_DIR / ground_truth_csv_name(mtype, section, domain)
        problem = _mismatch(path, scores, gt_path, gt["file"])
        if problem:
            raise ValueError(f"scores do not match the ground truth: {problem}")
        gt = gt.copy()
        gt["score"] = [scores[f] for f in gt["file"]]
        if with_decisions:
            dpath = score_dir / decision_csv_name(mtype, section, domain)
            if not dpath.is_file():
                raise FileNotFoundError(
                    f"decision CSV not found: {dpath} ({score_dir} holds decision_result_*.csv files for "
                    "other sections: give every section its decisions, or none)")
            decisions = read_two_column_csv(dpath, kind="decision")
            problem = _mismatch(dpath, decisions, path, scores)
            if problem:
                raise ValueError(f"decisions do not match the scores: {problem}")
            gt["decision"] = [int(decisions[f]) for f in gt["file"]]
        frames.append(gt)
    return pd.concat(frames, ignore_index=True)


def evaluate_score_dir(
    score_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    *,
    machine_types: Iterable[str] | None = None,
    sections: Iterable[int] | None = None,
    year: int = 2022,
    max_fpr: float = MAX_FPR,
    domain_only: bool = False,
    ci95: bool | None = None,
) -> EvaluationResult:
    """Evaluate a score folder like the official DCASE ``year`` evaluator (2021 to 2026).

    Reads :func:`scores_frame_from_dir` and returns :func:`evaluate_scores`' result:
    ``sections`` (per-section table, with precision, recall and F1 per domain when the
    folder has decision CSVs), ``types``, ``overall`` (with the jackknife
    ``official_score_ci95`` for 2023 on) and ``official_score``. ``machine_types`` /
    ``sections`` restrict the ground truth evaluated.
    """
    if int(year) < 2021:
        raise ValueError("evaluate_score_dir reads the DCASE 2021-2026 layouts; use year >= 2021")
    frame = scores_frame_from_dir(score_dir, gt_dir, machine_types, sections, year)
    return evaluate_scores(frame, year=year, max_fpr=max_fpr, domain_only=domain_only, ci95=ci95)
