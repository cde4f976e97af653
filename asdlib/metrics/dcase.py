"""DCASE Task 2 metrics: per-section tables and their summaries (2020, 2022/2023).

All AUCs come from :func:`sklearn.metrics.roc_auc_score`, all harmonic means from
:func:`scipy.stats.hmean`; this module only selects the clips and the values, as
the official evaluators do. Scores: higher = more anomalous.

**DCASE 2022/2023** (``dcase2022_task2_evaluator.py``, ``dcase2023_task2_evaluator.py``),
per machine type and section:

- ``auc_source``: AUC over the section's *source* normals plus **all** anomalies
  of both domains (one threshold must serve both domains);
- ``auc_target``: the same with the *target* normals;
- ``pauc``: ``roc_auc_score(y, s, max_fpr=0.1)`` over **all** clips of the
  section, McClish-standardised by scikit-learn:
  ``0.5 * (1 + (A - max_fpr**2 / 2) / (max_fpr - max_fpr**2 / 2))`` with ``A`` the
  raw area for FPR in [0, max_fpr]; a random scorer gets 0.5, a perfect one 1.0;
- ``auc_all``: AUC over all clips of the section;
- official score (:func:`official_score`): ``hmean`` of the flat list of every
  ``auc_source``, ``auc_target`` and ``pauc`` over all machine types and sections,
  each floored at ``sys.float_info.epsilon`` as the evaluator does.

Variant (labelled, ``domain_only=True``; Wilkinghoff's ICASSP 2023 code): AUC and
pAUC over the normals *and anomalies* of one domain only:
``auc_source_domain_only``, ``auc_target_domain_only``,
``pauc_source_domain_only``, ``pauc_target_domain_only``.

**DCASE 2020** (``dcase2020_task2_evaluator``): ``auc`` and ``pauc`` (max_fpr 0.1)
per machine ID (held in ``section``), arithmetic mean per machine type.

Per-section tables also count the clips: ``n_source_normal``, ``n_source_anomaly``,
``n_target_normal``, ``n_target_anomaly`` (2022) or ``n_normal``, ``n_anomaly`` (2020).
Summary columns are named ``<metric>_hmean`` / ``<metric>_amean``; ``hmean`` alone is
the official-style h-mean of AUC(source), AUC(target) and pAUC together.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import hmean as _scipy_hmean
from sklearn.metrics import roc_auc_score

from asdlib.metrics.frames import examples, prepare_scores
from asdlib.metrics.official import decision_scores, pooled_ci95

MAX_FPR: float = 0.1
EPS: float = sys.float_info.epsilon

#: the three per-section values the official score averages
OFFICIAL_COLUMNS: tuple[str, ...] = ("auc_source", "auc_target", "pauc")
#: the per-domain decision columns (a scores table with a ``decision`` column)
DECISION_COLUMNS: tuple[str, ...] = (
    "precision_source", "precision_target", "recall_source", "recall_target", "f1_source", "f1_target",
)
#: the first edition whose evaluator prints the jackknife ``official score ci95``
CI95_FROM_YEAR: int = 2023
#: the labelled domain-only variant columns (``section_table_2022(..., domain_only=True)``)
DOMAIN_ONLY_COLUMNS: tuple[str, ...] = (
    "auc_source_domain_only",
    "auc_target_domain_only",
    "pauc_source_domain_only",
    "pauc_target_domain_only",
)


# ----------------------------------------------------------------------------- helpers


def floored_hmean(values: Iterable[float]) -> float:
    """``scipy.stats.hmean`` of ``values`` floored at ``sys.float_info.epsilon``.

    The evaluator floors so that one AUC of 0 gives a tiny score instead of an error.
    """
    arr = np.asarray(list(values), dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("harmonic mean of no values")
    return float(_scipy_hmean(np.maximum(arr, EPS)))


def _mean(values: Iterable[float]) -> float:
    arr = np.asarray(list(values), dtype=float).ravel()
    if arr.size == 0:
        raise ValueError("mean of no values")
    return float(np.mean(arr))


def _auc(y: np.ndarray, s: np.ndarray, what: str, max_fpr: float | None = None) -> float:
    """roc_auc_score with an error that says which clips were missing."""
    n_anom = int(np.sum(y == 1))
    n_norm = int(np.sum(y == 0))
    if n_anom == 0 or n_norm == 0:
        raise ValueError(
            f"{what} is undefined: it needs normal and anomalous clips, "
            f"got {n_norm} normal and {n_anom} anomalous"
        )
    return float(roc_auc_score(y, s, max_fpr=max_fpr))


def _check_table(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} takes a per-section table (DataFrame), got {type(table).__name__}")
    missing = [c for c in ("machine_type", "section", *columns) if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what} needs a per-section table with column(s) {examples(missing)}; "
            f"it has {examples(list(table.columns), n=20)}"
        )
    if len(table) == 0:
        raise ValueError(f"{what}: the per-section table is empty")


def _section_groups(df: pd.DataFrame):
    return df.groupby(["machine_type", "section"], sort=True)


# ----------------------------------------------------------------------- 2022 / 2023


def section_table_2022(
    scores: pd.DataFrame, *, max_fpr: float = MAX_FPR, domain_only: bool = False
) -> pd.DataFrame:
    """Per machine type and section metrics, as the DCASE 2022/2023 evaluator computes them.

    ``scores``: a scores table (see :mod:`asdlib.metrics.frames`) with ``domain``.
    Returns one row per (machine type, section), sorted, with columns
    ``machine_type, section, auc_source, auc_target, pauc, auc_all`` (definitions
    in the module docstring), the four domain-only columns when ``domain_only``,
    the decision columns :data:`DECISION_COLUMNS` when the scores table has a
    ``decision`` column (precision, recall and F1 of each domain's clips, as the
    evaluators compute them: :func:`asdlib.metrics.official.decision_scores`),
    and the clip counts ``n_source_normal, n_source_anomaly, n_target_normal,
    n_target_anomaly``.

    Raises ``ValueError`` naming the machine type and section when a section has
    no anomalies, no normals of a domain, or (``domain_only`` or decisions) no
    anomalies of a domain.
    """
    df = prepare_scores(scores, need_domain=True)
    has_decision = "decision" in df.columns
    rows: list[dict[str, Any]] = []
    for (mtype, section), grp in _section_groups(df):
        y = grp["y"].to_numpy()
        s = grp["score"].to_numpy()
        d = grp["d"].to_numpy()
        where = f"{mtype} section {section}"
        row: dict[str, Any] = {"machine_type": mtype, "section": int(section)}
        for name, code in (("source", 0), ("target", 1)):
            mask = (d == code) | (y == 1)
            row[f"auc_{name}"] = _auc(y[mask], s[mask], f"AUC({name}) of {where}")
        row["pauc"] = _auc(y, s, f"pAUC of {where}", max_fpr=max_fpr)
        row["auc_all"] = _auc(y, s, f"AUC of {where}")
        if domain_only:
            for name, code in (("source", 0), ("target", 1)):
                mask = d == code
                what = f"domain-only {{}}({name}) of {where}"
                row[f"auc_{name}_domain_only"] = _auc(y[mask], s[mask], what.format("AUC"))
                row[f"pauc_{name}_domain_only"] = _auc(
                    y[mask], s[mask], what.format("pAUC"), max_fpr=max_fpr
                )
        if has_decision:
            dec = grp["decision"].to_numpy()
            for name, code in (("source", 0), ("target", 1)):
                mask = d == code
                p, r, f1 = decision_scores(y[mask], dec[mask], f"{where} {name}")
                row[f"precision_{name}"], row[f"recall_{name}"], row[f"f1_{name}"] = p, r, f1
        for name, code in (("source", 0), ("target", 1)):
            row[f"n_{name}_normal"] = int(np.sum((d == code) & (y == 0)))
            row[f"n_{name}_anomaly"] = int(np.sum((d == code) & (y == 1)))
        rows.append(row)
    cols = ["machine_type", "section", "auc_source", "auc_target", "pauc", "auc_all"]
    if domain_only:
        cols += list(DOMAIN_ONLY_COLUMNS)
    if has_decision:
        cols += list(DECISION_COLUMNS)
    cols += ["n_source_normal", "n_source_anomaly", "n_target_normal", "n_target_anomaly"]
    return pd.DataFrame(rows, columns=cols)


def official_score(table: pd.DataFrame) -> float:
    """The DCASE 2022/2023 official score of a per-section table.

    ``hmean`` over the flat list of every ``auc_source``, ``auc_target`` and
    ``pauc`` of all machine types and sections, each floored at
    ``sys.float_info.epsilon`` (``all_perf`` / ``official_score`` in
    ``dcase2022_task2_evaluator.py``). Restrict ``table`` to one machine type to get
    that type's official-style score.
    """
    _check_table(table, OFFICIAL_COLUMNS, "official_score")
    return floored_hmean(table[list(OFFICIAL_COLUMNS)].to_numpy().T.ravel())


def _summary_2022(t: pd.DataFrame) -> dict[str, float]:
    auc_s = t["auc_source"].to_numpy(dtype=float)
    auc_t = t["auc_target"].to_numpy(dtype=float)
    pauc = t["pauc"].to_numpy(dtype=float)
    auc = np.concatenate([auc_s, auc_t])
    return {
        "hmean": floored_hmean(np.concatenate([auc_s, auc_t, pauc])),
        "amean": _mean(np.concatenate([auc_s, auc_t, pauc])),
        "auc_hmean": floored_hmean(auc),
        "auc_amean": _mean(auc),
        "auc_source_hmean": floored_hmean(auc_s),
        "auc_source_amean": _mean(auc_s),
        "auc_target_hmean": floored_hmean(auc_t),
        "auc_target_amean": _mean(auc_t),
        "pauc_hmean": floored_hmean(pauc),
        "pauc_amean": _mean(pauc),
        **_decision_summary(t),
        "n_sections": int(len(t)),
    }


def _decision_summary(t: pd.DataFrame) -> dict[str, float]:
    """Means of precision, recall and F1 over the flat list of source then target values
    (the evaluators' "arithmetic mean" / "harmonic mean" rows), and each domain's h-mean
    (their "source harmonic mean" / "target harmonic mean" rows); {} without decisions."""
    if not all(c in t.columns for c in DECISION_COLUMNS):
        return {}
    out: dict[str, float] = {}
    for metric in ("precision", "recall", "f1"):
        src = t[f"{metric}_source"].to_numpy(dtype=float)
        tgt = t[f"{metric}_target"].to_numpy(dtype=float)
        both = np.concatenate([src, tgt])
        out[f"{metric}_amean"] = _mean(both)
        out[f"{metric}_hmean"] = floored_hmean(both)
        out[f"{metric}_source_hmean"] = floored_hmean(src)
        out[f"{metric}_target_hmean"] = floored_hmean(tgt)
    return out


SUMMARY_DOC_2022 = """
    Keys / columns (each h-mean floored at ``sys.float_info.epsilon``):

    - ``hmean``: h-mean of the flat list of AUC(source), AUC(target) and pAUC (the
      official score restricted to the rows; over everything it *is* the official
      score);
    - ``amean``: arithmetic mean of the same list;
    - ``auc_hmean`` / ``auc_amean``: over AUC(source) and AUC(target) together
      (the evaluator's "harmonic mean" / "arithmetic mean" rows, AUC column);
    - ``auc_source_hmean`` / ``auc_target_hmean``: over one domain's AUCs (the
      evaluator's "source harmonic mean" / "target harmonic mean" rows; the
      per-type rows of the 2022 script slice ``len(section_ids)//2`` values, a bug
      for three sections: we use all of that domain's sections as intended);
      ``auc_source_amean`` / ``auc_target_amean`` the arithmetic means;
    - ``pauc_hmean`` / ``pauc_amean``: over the section pAUCs (the evaluator's pAUC
      column lists each pAUC twice, once per domain, which leaves both means unchanged);
    - with decisions: ``precision_amean``, ``precision_hmean``,
      ``precision_source_hmean``, ``precision_target_hmean`` and the same for
      ``recall`` and ``f1`` (means over the source and target values of every section);
    - ``n_sections``.
"""


def type_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per machine type summaries of a 2022/2023 per-section table, one row per type.

    Indexed by ``machine_type`` (in table order).
    """
    _check_table(table, OFFICIAL_COLUMNS, "type_summary")
    rows = {mt: _summary_2022(t) for mt, t in table.groupby("machine_type", sort=False)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "machine_type"
    return out


def overall_summary(table: pd.DataFrame) -> dict[str, float]:
    """The same summaries over all machine types and sections, plus ``official_score``.

    ``official_score`` equals ``hmean``.
    """
    _check_table(table, OFFICIAL_COLUMNS, "overall_summary")
    out: dict[str, float] = {"official_score": official_score(table)}
    out.update(_summary_2022(table))
    out["n_machine_types"] = int(table["machine_type"].nunique())
    return out


type_summary.__doc__ = (type_summary.__doc__ or "") + SUMMARY_DOC_2022
overall_summary.__doc__ = (overall_summary.__doc__ or "") + SUMMARY_DOC_2022


def aithu_type_summary(
    table: pd.DataFrame, sections: Sequence[int] | None = None
) -> pd.Series:
    """AITHU's per machine type "h-mean" (variant, labelled; paper 000).

    Liu et al., "AITHU system for unsupervised anomalous detection of machine working
    status via sounding", DCASE 2022 Task 2 technical report, Section 2 ("Baseline
    results"): "the results in all tables in this report present only the harmonic
    mean of source AUC, target AUC and pAUC of section 0-2 for each machine type";
    the tables' last column, "h-mean", is the h-mean of the per-type values (Table 1:
    the baseline-AE types give 52.61 %, the published official dev score).

    Per type: h-mean of the flat list of AUC(source), AUC(target) and pAUC of the
    chosen sections. This coincides with the official per-type ``hmean`` of
    :func:`type_summary` on the same sections (and the h-mean of three per-column
    h-means equals it). Its ``"h-mean"`` entry, an h-mean of the per-type values,
    equals :func:`official_score` only when every type has the same number of
    sections.

    ``sections``: the sections to use; ``None`` = all in the table (the paper's
    tables are over the development sections 0-2, i.e. a dev table). Returns a Series
    indexed by machine type plus a final ``"h-mean"`` entry.
    """
    _check_table(table, OFFICIAL_COLUMNS, "aithu_type_summary")
    t = table
    if sections is not None:
        wanted = {int(s) for s in sections}
        t = table[table["section"].astype(int).isin(wanted)]
        if len(t) == 0:
            raise ValueError(
                f"aithu_type_summary: none of sections {sorted(wanted)} are in the table "
                f"(it has {sorted(set(table['section'].astype(int)))})"
            )
    per_type = {
        mt: floored_hmean(g[list(OFFICIAL_COLUMNS)].to_numpy().ravel())
        for mt, g in t.groupby("machine_type", sort=False)
    }
    per_type["h-mean"] = floored_hmean(per_type.values())
    return pd.Series(per_type, name="aithu_hmean", dtype=float)


def domain_only_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wilkinghoff-style summary (variant, labelled): h-means of domain-only AUC and pAUC.

    As printed by Wilkinghoff's ICASSP 2023 code and reported in paper 003's tables
    (dev/eval x source/target/mixed): rows ``source`` and ``target`` are the h-means
    over all sections of ``auc_<domain>_domain_only`` and ``pauc_<domain>_domain_only``;
    row ``mixed`` of ``auc_all`` and ``pauc`` (all clips of the section). Columns
    ``auc``, ``pauc``. Needs ``section_table_2022(..., domain_only=True)``.
    Restrict ``table`` to the dev or eval sections before calling.
    """
    _check_table(table, DOMAIN_ONLY_COLUMNS + ("auc_all", "pauc"), "domain_only_summary")
    data = {
        "source": (table["auc_source_domain_only"], table["pauc_source_domain_only"]),
        "target": (table["auc_target_domain_only"], table["pauc_target_domain_only"]),
        "mixed": (table["auc_all"], table["pauc"]),
    }
    out = pd.DataFrame(
        {k: {"auc": floored_hmean(a), "pauc": floored_hmean(p)} for k, (a, p) in data.items()}
    ).T
    out.index.name = "domain"
    return out


# ----------------------------------------------------------------------------- 2021


def section_table_2021(scores: pd.DataFrame, *, max_fpr: float = MAX_FPR) -> pd.DataFrame:
    """Per machine type, section and domain AUC and pAUC, as the DCASE 2021 evaluator computes them.

    ``dcase2021_task2_evaluator.py`` reads one score file per section *and domain*
    (``anomaly_score_<type>_section_<ss>_<domain>_test.csv``) and computes, over that
    domain's clips only (its normals and its anomalies), ``auc`` and ``pauc``
    (``max_fpr=0.1``), plus ``precision``, ``recall``, ``f1`` from the decisions when the
    scores table has a ``decision`` column. One row per (machine type, section, domain),
    sorted, with ``n_normal`` and ``n_anomaly``. A domain without normals or anomalies
    is a ``ValueError`` naming it.
    """
    df = prepare_scores(scores, need_domain=True)
    has_decision = "decision" in df.columns
    rows = []
    for (mtype, section, domain), grp in df.groupby(["machine_type", "section", "domain"], sort=True):
        y = grp["y"].to_numpy()
        s = grp["score"].to_numpy()
        where = f"{mtype} section {section} {domain}"
        row: dict[str, Any] = {"machine_type": mtype, "section": int(section), "domain": domain,
                               "auc": _auc(y, s, f"AUC of {where}"),
                               "pauc": _auc(y, s, f"pAUC of {where}", max_fpr=max_fpr)}
        if has_decision:
            row["precision"], row["recall"], row["f1"] = decision_scores(y, grp["decision"].to_numpy(), where)
        row["n_normal"], row["n_anomaly"] = int(np.sum(y == 0)), int(np.sum(y == 1))
        rows.append(row)
    cols = ["machine_type", "section", "domain", "auc", "pauc"]
    cols += ["precision", "recall", "f1"] * has_decision + ["n_normal", "n_anomaly"]
    return pd.DataFrame(rows, columns=cols)


def official_score_2021(table: pd.DataFrame) -> float:
    """The DCASE 2021 ranking score: h-mean of every AUC and pAUC of a 2021 table
    (all machine types, sections and domains), each floored at machine epsilon.

    The evaluator prints the h-mean of each column apart (``auc_hmean``,
    ``pauc_hmean`` of :func:`overall_summary_2021`); the challenge ranked by the
    h-mean of both together, this value.
    """
    _check_table(table, ("domain", "auc", "pauc"), "official_score_2021")
    return floored_hmean(table[["auc", "pauc"]].to_numpy().T.ravel())


def _summary_2021(t: pd.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {"hmean": floored_hmean(t[["auc", "pauc"]].to_numpy().ravel())}
    for metric in ("auc", "pauc", "precision", "recall", "f1"):
        if metric in t.columns:
            values = t[metric].to_numpy(dtype=float)
            out[f"{metric}_amean"] = _mean(values)
            out[f"{metric}_hmean"] = floored_hmean(values)
    out["n_rows"] = int(len(t))
    return out


def type_summary_2021(table: pd.DataFrame) -> pd.DataFrame:
    """Per machine type means of a 2021 table (the evaluator's "arithmetic mean" and
    "harmonic mean" rows): ``<metric>_amean`` / ``<metric>_hmean`` for ``auc``, ``pauc``
    and, with decisions, ``precision``, ``recall``, ``f1`` over the type's sections and
    domains; ``hmean`` of AUC and pAUC together; ``n_rows`` (sections x domains)."""
    _check_table(table, ("domain", "auc", "pauc"), "type_summary_2021")
    rows = {mt: _summary_2021(t) for mt, t in table.groupby("machine_type", sort=False)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "machine_type"
    return out


def overall_summary_2021(table: pd.DataFrame) -> dict[str, float]:
    """The same over all machine types, sections and domains, plus ``official_score``
    (:func:`official_score_2021`) and ``n_machine_types``."""
    _check_table(table, ("domain", "auc", "pauc"), "overall_summary_2021")
    out: dict[str, float] = {"official_score": official_score_2021(table)}
    out.update(_summary_2021(table))
    out["n_machine_types"] = int(table["machine_type"].nunique())
    return out


# ----------------------------------------------------------------------------- 2020


def section_table_2020(scores: pd.DataFrame, *, max_fpr: float = MAX_FPR) -> pd.DataFrame:
    """Per machine type and machine ID AUC and pAUC, as the DCASE 2020 evaluator computes them.

    ``scores``: a scores table whose ``section`` column holds the machine ID; a
    ``domain`` column is ignored (2020 has no domains). Returns one row per (machine
    type, ID), sorted, with columns ``machine_type, section, auc, pauc, n_normal,
    n_anomaly``; ``auc`` = ``roc_auc_score(y, s)``, ``pauc`` = ``roc_auc_score(y, s,
    max_fpr=0.1)`` over the ID's test clips.
    """
    df = prepare_scores(scores, need_domain=False)
    rows = []
    for (mtype, section), grp in _section_groups(df):
        y = grp["y"].to_numpy()
        s = grp["score"].to_numpy()
        where = f"{mtype} section (machine ID) {section}"
        rows.append(
            {
                "machine_type": mtype,
                "section": int(section),
                "auc": _auc(y, s, f"AUC of {where}"),
                "pauc": _auc(y, s, f"pAUC of {where}", max_fpr=max_fpr),
                "n_normal": int(np.sum(y == 0)),
                "n_anomaly": int(np.sum(y == 1)),
            }
        )
    return pd.DataFrame(
        rows, columns=["machine_type", "section", "auc", "pauc", "n_normal", "n_anomaly"]
    )


def type_summary_2020(table: pd.DataFrame) -> pd.DataFrame:
    """Per machine type arithmetic means of a 2020 per-ID table (the evaluator's "Average").

    Indexed by ``machine_type``; columns ``auc_mean``, ``pauc_mean``, ``n_ids``.
    """
    _check_table(table, ("auc", "pauc"), "type_summary_2020")
    rows = {
        mt: {"auc_mean": _mean(t["auc"]), "pauc_mean": _mean(t["pauc"]), "n_ids": int(len(t))}
        for mt, t in table.groupby("machine_type", sort=False)
    }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "machine_type"
    return out


def overall_summary_2020(table: pd.DataFrame) -> dict[str, float]:
    """Overall 2020 means.

    ``auc_mean`` / ``pauc_mean``: arithmetic mean of the per-type means (each type
    counts once, as papers summarise over machine types); ``auc_mean_over_ids`` /
    ``pauc_mean_over_ids``: mean over all machine IDs; ``n_machine_types``, ``n_ids``.
    """
    types = type_summary_2020(table)
    return {
        "auc_mean": _mean(types["auc_mean"]),
        "pauc_mean": _mean(types["pauc_mean"]),
        "auc_mean_over_ids": _mean(table["auc"]),
        "pauc_mean_over_ids": _mean(table["pauc"]),
        "n_machine_types": int(len(types)),
        "n_ids": int(len(table)),
    }


# ------------------------------------------------------------------ any year, per type

TYPE_SCORE_KEYS: dict[str, dict[str, str]] = {
    "2020": {"auc": "auc_mean", "pauc": "pauc_mean", "score": "auc_mean"},
    "2021+": {"auc": "auc_hmean", "pauc": "pauc_hmean", "score": "hmean"},
}
"""Which per-type summary key :func:`type_scores` reads for each of its columns: DCASE 2020
(:func:`type_summary_2020`) and DCASE 2021 on (:func:`type_summary_2021`, :func:`type_summary`)."""


def _year_keys(year: int) -> dict[str, str]:
    year = int(year)
    if year < 2020:
        raise ValueError(f"no DCASE evaluator for year {year}: use 2020 to 2026")
    return TYPE_SCORE_KEYS["2020" if year == 2020 else "2021+"]


def type_score_key(year: int) -> str:
    """The per-type summary key of DCASE ``year``'s score: ``auc_mean`` in 2020 (no single
    official score), ``hmean`` (the official per-type h-mean) from 2021 on."""
    return _year_keys(year)["score"]


def type_score_labels(year: int) -> dict[str, str]:
    """How tables and figures of DCASE ``year`` name the columns of :func:`type_scores`.

    Keys: ``sections`` (the units a type's values are summarised over: ``machine IDs`` in
    2020, ``sections`` after), ``over`` (how: ``mean over machine IDs`` in 2020, ``h-mean
    over sections`` from 2022, ``h-mean over sections and domains`` in 2021), ``auc`` and
    ``pauc`` (``AUC (<over>)``) and ``score`` (``mean AUC over machine IDs`` in 2020, the
    official score after).
    """
    year = int(year)
    _year_keys(year)
    if year == 2020:
        sections, over, score = "machine IDs", "mean over machine IDs", "mean AUC over machine IDs"
    elif year == 2021:
        sections, over, score = "sections", "h-mean over sections and domains", "official score (h-mean of AUC and pAUC)"
    else:
        sections, over = "sections", "h-mean over sections"
        score = "official score (h-mean of AUC(source), AUC(target) and pAUC)"
    return {"sections": sections, "over": over, "auc": f"AUC ({over})", "pauc": f"pAUC ({over})", "score": score}


def type_scores(result: Any, year: int | None = None) -> pd.DataFrame:
    """Per machine type ``auc``, ``pauc`` and ``score`` of an evaluation of any DCASE year.

    ``result``: an :class:`EvaluationResult`, one result of a record (the dict of
    :meth:`EvaluationResult.to_dict`, or a chapter run's ``run.results[i]``, which hold
    ``year`` and ``types``), or a per-type summary alone (the ``types`` table or dict; then
    give ``year``). Returns a table indexed by ``machine_type`` (in the summary's order):

    - DCASE 2020: ``auc`` and ``pauc`` the means over machine IDs (``auc_mean``,
      ``pauc_mean``); ``score`` = ``auc_mean``, the mean AUC, which the book's results
      page and the claims ledger read for 2020 (that year has no single official score);
    - DCASE 2021 on: ``auc`` = ``auc_hmean`` (2022 on: the h-mean of the type's
      AUC(source) and AUC(target) over its sections; 2021: of its per-domain AUCs),
      ``pauc`` = ``pauc_hmean``; ``score`` = ``hmean``, the year's official per-type
      score (2022 on: the h-mean of every AUC(source), AUC(target) and pAUC of the type).

    :data:`TYPE_SCORE_KEYS` lists the keys read; :func:`type_score_labels` names the
    columns. A missing key is a ``KeyError`` naming the year and the keys found.
    """
    if isinstance(result, EvaluationResult):
        year, types = result.year, result.types
    elif isinstance(result, Mapping) and "types" in result:
        year = result.get("year", year)
        types = result["types"]
    else:
        types = result
    if year is None:
        raise ValueError("type_scores: give the year of a per-type summary (or a result that holds it)")
    keys = _year_keys(year)
    if not isinstance(types, pd.DataFrame):
        types = pd.DataFrame.from_dict(dict(types), orient="index")
    missing = sorted({k for k in keys.values() if k not in types.columns})
    if missing:
        raise KeyError(f"type_scores: a DCASE {int(year)} per-type summary needs {missing}; "
                       f"it has {examples(list(types.columns), n=20)}")
    out = pd.DataFrame({column: types[key].astype(float) for column, key in keys.items()}, index=types.index)
    out.index.name = "machine_type"
    return out


# ------------------------------------------------------------------------ one call


@dataclass
class EvaluationResult:
    """A DCASE evaluation: per-section table, per-type and overall summaries.

    ``official_score`` is ``None`` for 2020 (which has no single official score).
    """

    year: int
    sections: pd.DataFrame
    types: pd.DataFrame
    overall: dict[str, float]
    official_score: float | None
    variant: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: ``sections`` as a list of records, ``types`` keyed by type."""

        def plain(value: Any) -> Any:
            if isinstance(value, (np.integer,)):
                return int(value)
            if isinstance(value, (np.floating,)):
                return float(value)
            return value

        return {
            "year": self.year,
            "official_score": self.official_score,
            "overall": {k: plain(v) for k, v in self.overall.items()},
            "types": {
                str(mt): {k: plain(v) for k, v in row.items()}
                for mt, row in self.types.to_dict(orient="index").items()
            },
            "sections": [
                {k: plain(v) for k, v in rec.items()}
                for rec in self.sections.to_dict(orient="records")
            ],
            "variant": self.variant,
        }


def evaluate_scores(
    scores: pd.DataFrame,
    *,
    year: int = 2022,
    max_fpr: float = MAX_FPR,
    domain_only: bool = False,
    ci95: bool | None = None,
) -> EvaluationResult:
    """Evaluate a scores table with the DCASE ``year`` rules: what that year's
    official evaluator reports.

    - 2020: :func:`section_table_2020`, :func:`type_summary_2020`,
      :func:`overall_summary_2020` (no single official score).
    - 2021: :func:`section_table_2021` (per section *and domain*, domain-only clips),
      :func:`type_summary_2021`, :func:`overall_summary_2021`, :func:`official_score_2021`.
    - 2022 and later (2023-2026 share the 2022 rules): :func:`section_table_2022`,
      :func:`type_summary`, :func:`overall_summary`, :func:`official_score`;
      ``domain_only`` adds the labelled domain-only columns and
      ``variant["domain_only_summary"]``.

    A ``decision`` column (0/1) in ``scores`` adds precision, recall and F1 per domain
    (2021 on). ``ci95`` (default: for 2023 and later, as the 2023/2024 evaluators do)
    adds the jackknife 95 % interval of the pooled AUC and pAUC to ``overall``
    (:func:`asdlib.metrics.official.pooled_ci95`: ``official_score_ci95``,
    ``auc_ci95``, ``pauc_ci95``, ...), computed over all test clips of ``scores``.
    """
    year = int(year)
    if year == 2020:
        table = section_table_2020(scores, max_fpr=max_fpr)
        return EvaluationResult(
            year=year,
            sections=table,
            types=type_summary_2020(table),
            overall=overall_summary_2020(table),
            official_score=None,
        )
    if year == 2021:
        table = section_table_2021(scores, max_fpr=max_fpr)
        result = EvaluationResult(year=year, sections=table, types=type_summary_2021(table),
                                  overall=overall_summary_2021(table), official_score=official_score_2021(table))
    elif year >= 2022:
        table = section_table_2022(scores, max_fpr=max_fpr, domain_only=domain_only)
        variant: dict[str, Any] = {}
        if domain_only:
            variant["domain_only_summary"] = domain_only_summary(table).to_dict(orient="index")
        result = EvaluationResult(
            year=year,
            sections=table,
            types=type_summary(table),
            overall=overall_summary(table),
            official_score=official_score(table),
            variant=variant,
        )
    else:
        raise ValueError(f"no DCASE evaluator for year {year}: use 2020 to 2026")
    if ci95 if ci95 is not None else year >= CI95_FROM_YEAR:
        df = prepare_scores(scores, need_domain=True)
        result.overall.update(pooled_ci95(df["y"].to_numpy(), df["score"].to_numpy(), max_fpr))
    return result
