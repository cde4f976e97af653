"""The claims ledger: each paper's claims (:class:`~asdlib.chapters.spec.Claim`), tested on our records.

A claim says that one system scores higher than another. For each claim the ledger gives
the paper's difference (two published numbers, :func:`asdlib.results.load_published`) and
ours: the difference ``better - worse`` per seed, in percentage points, from the records of
the chapter's current plan, then its mean, standard deviation and standard error over
seeds. The verdict follows a rule fixed before any result is seen (:func:`verdict`):

- **supported**: our mean difference has the claimed sign and exceeds
  :data:`SE_MULTIPLE` standard errors;
- **contradicted**: the opposite sign, beyond :data:`SE_MULTIPLE` standard errors;
- **inconclusive**: anything else, and always with fewer than two seeds (no standard error);
- **not run**: a system of the claim has no result in these records (it runs under
  another profile, or the claim's data set lacks the part).

A claim is about the paper's data; ours are whatever the records are on (synthetic data
says so in the ledger's caption). Torch-free: it reads records and the published file.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from asdlib.chapters import CHAPTERS
from asdlib.chapters.spec import Claim, Evidence
from asdlib.metrics.dcase import type_score_key

SE_MULTIPLE = 2.0
"""How many standard errors of the mean difference a verdict needs (the rule of the ledger)."""

VERDICTS = ("supported", "contradicted", "inconclusive", "not run")

MEAN_OVER_TYPES = "mean"
"""``Evidence.machine_type`` for the mean over machine types of the paper's per-type differences (for
tables that print no summary over types)."""


METRIC_LABELS = {
    "official": "official score",
    "notes.domain_only_dev.mixed.auc": "AUC, both domains",
    "notes.domain_only_dev.target.auc": "AUC, target domain",
    "auc_source_hmean": "AUC, source domain",
    "auc_target_hmean": "AUC, target domain",
    "pauc_hmean": "pAUC",
}
"""How the ledger names a claim's metric (others are shown as written)."""


def metric_label(claim: Claim, year: int = 2022) -> str:
    """The claim's metric in words, with its machine type: ``official score (valve)``."""
    label = "mean AUC" if (claim.metric == "official" and year == 2020) else METRIC_LABELS.get(claim.metric,
                                                                                                 claim.metric)
    return label + (f" ({claim.machine_type})" if claim.machine_type else "")


def verdict(differences: Sequence[float]) -> str:
    """The verdict on per-seed differences ``better - worse`` (:data:`SE_MULTIPLE` rule)."""
    d = np.asarray([x for x in differences if x is not None and not math.isnan(x)], dtype=float)
    if d.size == 0:
        return "not run"
    if d.size < 2:
        return "inconclusive"
    se = float(np.std(d, ddof=1)) / math.sqrt(d.size)
    mean = float(d.mean())
    if se == 0.0:
        return "supported" if mean > 0 else "contradicted" if mean < 0 else "inconclusive"
    if mean > SE_MULTIPLE * se:
        return "supported"
    if mean < -SE_MULTIPLE * se:
        return "contradicted"
    return "inconclusive"


def _path(result: Mapping[str, Any], path: str) -> float | None:
    node: Any = result
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return None if node is None else float(node)


def claim_value(result: Mapping[str, Any], claim: Claim) -> float | None:
    """The number a claim compares, from one result of a record (a fraction, 0-1), or None."""
    is2020 = int(result.get("year", 2022)) == 2020
    if claim.machine_type is not None:
        entry = (result.get("types") or {}).get(claim.machine_type)
        if entry is None:
            return None
        key = type_score_key(2020 if is2020 else 2022) if claim.metric == "official" else claim.metric
        return None if entry.get(key) is None else float(entry[key])
    if claim.metric == "official":
        value = result.get("official_score")
        if value is None:
            value = (result.get("overall") or {}).get("auc_mean" if is2020 else "official_score")
        return None if value is None else float(value)
    if "." in claim.metric:
        return _path(result, claim.metric)
    value = (result.get("overall") or {}).get(claim.metric)
    return None if value is None else float(value)


def differences(records: Iterable[Mapping[str, Any]], claim: Claim) -> dict[int, float]:
    """Seed -> our difference ``better - worse`` in percentage points (newest record wins a seed)."""
    values: dict[tuple[str, int], float] = {}
    for rec in sorted(records, key=lambda r: r.get("started", "")):
        for res in rec.get("results", []):
            if res.get("part") != claim.part or res.get("system") not in (claim.better, claim.worse):
                continue
            value = claim_value({"year": rec.get("dataset", 2022), **res}, claim)
            if value is not None and not math.isnan(value):
                values[res["system"], int(res["seed"])] = value
    seeds = sorted({s for (_, s) in values if (claim.better, s) in values and (claim.worse, s) in values})
    return {s: 100.0 * (values[claim.better, s] - values[claim.worse, s]) for s in seeds}


def paper_difference(evidence: Evidence | None, paper: str, published: pd.DataFrame) -> float | None:
    """The paper's ``better - worse`` in percentage points from the published file, or None."""
    if evidence is None:
        return None

    def rows(table: str, system: str) -> pd.DataFrame:
        found = published[(published["paper"] == paper) & (published["table"] == table)
                          & (published["system"] == system) & (published["metric"] == evidence.metric)]
        if evidence.dataset is not None:
            found = found[found["dataset"] == evidence.dataset]
        elif found["dataset"].nunique() > 1:
            found = found[found["dataset"].str.contains("dev", case=False)]
        return found

    def value(found: pd.DataFrame, machine_type: str, table: str, system: str) -> float:
        found = found[found["machine_type"] == machine_type]
        if len(found) != 1:
            raise ValueError(f"claims: {paper}, {table}, system {system!r}, metric {evidence.metric!r}, "
                             f"machine type {machine_type!r}: {len(found)} published rows, need exactly one "
                             f"(asdlib/published_results.csv)")
        return float(found["value"].iloc[0])

    better = rows(evidence.table, evidence.better)
    worse = rows(evidence.worse_table or evidence.table, evidence.worse)
    if evidence.machine_type != MEAN_OVER_TYPES:
        return (value(better, evidence.machine_type, evidence.table, evidence.better)
                - value(worse, evidence.machine_type, evidence.worse_table or evidence.table, evidence.worse))
    types = sorted((set(better["machine_type"]) & set(worse["machine_type"])) - {"all"})
    if not types:
        raise ValueError(f"claims: {paper}: {evidence.better!r} and {evidence.worse!r} share no machine type")
    return float(np.mean([value(better, t, evidence.table, evidence.better)
                          - value(worse, t, evidence.worse_table or evidence.table, evidence.worse) for t in types]))


def _where(claim: Claim, page_of: Mapping[str, str]) -> str:
    if claim.paper is None:
        return claim.where
    tables = [claim.paper.table] + ([claim.paper.worse_table] if claim.paper.worse_table else [])
    where = "; ".join(f"{t}, p. {page_of.get(t, '?')}" for t in tables)
    if claim.paper.machine_type == MEAN_OVER_TYPES:
        return where + " (mean of the per-type Δ)"
    return where + ("" if claim.paper.machine_type == "all" else f" ({claim.paper.machine_type})")


def ledger(records: Iterable[Mapping[str, Any]], stem: str, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The claims ledger of chapter ``stem`` over ``records`` (one row per claim).

    Columns: ``key``, ``claim``, ``better``, ``worse``, ``metric``, ``part``, ``where`` (table and
    page), ``paper`` (the paper's difference, points; NaN where it says it in words),
    ``ours_mean``, ``ours_std``, ``n_seeds``, ``seeds``, ``verdict``.
    """
    from asdlib.results import load_published

    spec = CHAPTERS[stem]
    records = [r for r in records if r.get("notebook") in (stem, *spec.requires)]
    published = load_published() if published is None else published
    short = spec.paper.short if spec.paper else ""
    mine = published[published["paper"] == short]
    page_of = dict(zip(mine["table"], mine["page"].astype(str)))
    year = int(next((r.get("dataset", 2022) for r in records if r.get("notebook") == stem), 2022))
    rows = []
    for claim in spec.claims:
        diffs = differences(records, claim)
        d = np.array(list(diffs.values()), dtype=float)
        paper = paper_difference(claim.paper, short, published)
        rows.append({
            "key": claim.key, "claim": claim.statement, "better": claim.better, "worse": claim.worse,
            "metric": metric_label(claim, year),
            "part": claim.part, "where": _where(claim, page_of),
            "paper": math.nan if paper is None else paper,
            "ours_mean": float(d.mean()) if d.size else math.nan,
            "ours_std": float(d.std(ddof=1)) if d.size > 1 else math.nan,
            "n_seeds": int(d.size), "seeds": ",".join(str(s) for s in diffs),
            "verdict": verdict(d),
        })
    return pd.DataFrame(rows, columns=["key", "claim", "better", "worse", "metric", "part", "where", "paper",
                                       "ours_mean", "ours_std", "n_seeds", "seeds", "verdict"])


def _points(mean: float, std: float = math.nan) -> str:
    if math.isnan(mean):
        return "–"
    if math.isnan(std):
        return f"{mean:+.2f}"
    return f"{mean:+.2f} ± {std:.2f}"


def ledger_cells(table: pd.DataFrame) -> pd.DataFrame:
    """A ledger (:func:`ledger`) as the table a reader sees: one row per claim, short columns."""
    return pd.DataFrame({
        "": table["key"],
        "claim": table["claim"],
        "better > worse (our systems)": table["better"] + " > " + table["worse"],
        "metric, sections": table["metric"] + ", " + table["part"],
        "paper Δ": [_points(v) for v in table["paper"]],
        "printed in": table["where"],
        "ours Δ (mean ± std)": [_points(m, s) for m, s in zip(table["ours_mean"], table["ours_std"])],
        "seeds": table["n_seeds"],
        "verdict": table["verdict"],
    })


def ledger_caption(data_label: str) -> str:
    """The caption of a ledger: the data it is on and the verdict rule."""
    return (f"Claims ledger, {data_label}. Δ = better − worse in percentage points; the paper's Δ is on its "
            f"real DCASE data. Verdict: supported when our mean Δ has the claimed sign and exceeds "
            f"{SE_MULTIPLE:g} standard errors over seeds, contradicted when the opposite sign does, else "
            f"inconclusive (always with one seed); not run when a system has no result here.")


def ledger_markdown(table: pd.DataFrame, data_label: str) -> str:
    """A ledger as a Markdown pipe table under its caption (the results page)."""
    if table.empty:
        return "This chapter states no claims."
    cells = ledger_cells(table)
    header = "| " + " | ".join(cells.columns) + " |\n| " + " | ".join("---" for _ in cells.columns) + " |\n"
    body = "".join("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |\n"
                   for row in cells.itertuples(index=False))
    return f"**{ledger_caption(data_label)}**\n\n{header}{body}"


def chapter_ledger(records: Iterable[Mapping[str, Any]], stem: str, published: pd.DataFrame | None = None) -> str:
    """The Markdown ledger of chapter ``stem`` over ``records`` (its own and its requirements'), with its data."""
    from asdlib.results import data_label

    records = [r for r in records if r.get("notebook") in (stem, *CHAPTERS[stem].requires)]
    labels = sorted({data_label(r) for r in records if r.get("notebook") == stem}) or ["no records"]
    return ledger_markdown(ledger(records, stem, published), "; ".join(labels))


def every_seed_view(records: Iterable[Mapping[str, Any]], stem: str,
                    published: pd.DataFrame | None = None) -> list[tuple[str, pd.DataFrame]]:
    """What a chapter page shows over every seed of its records: (caption, table) pairs, first our
    results per machine type (mean ± std over seeds, :func:`asdlib.results.results_tables`), then the
    claims ledger. ``records``: any records; the chapter's own and those it requires are used."""
    from asdlib.results import data_label, results_tables

    records = list(records)
    mine = [r for r in records if r.get("notebook") == stem]
    shown = []
    for t in results_tables(mine):
        cells = t.cells.reset_index(level="paper", drop=True) if "paper" in t.cells.index.names else t.cells
        shown.append((t.caption, cells))
    labels = sorted({data_label(r) for r in mine}) or ["no records"]
    if CHAPTERS[stem].claims:
        shown.append((ledger_caption("; ".join(labels)), ledger_cells(ledger(records, stem, published))))
    return shown


def show_ledger(run) -> None:
    """Display the chapter's results over its seeds and its claims ledger (:func:`every_seed_view`)
    from this run's own results. ``asd results --chapters`` replaces the output with the same view
    over every seed of the plan (the cell is tagged ``claims-ledger``)."""
    from IPython.display import Markdown, display

    for caption, table in every_seed_view([run.record()], run.notebook):
        display(Markdown(f"**{caption}**"))
        display(table if table.index.name else table.style.hide(axis="index"))   # the ledger's index is a range


__all__ = ["MEAN_OVER_TYPES", "SE_MULTIPLE", "VERDICTS", "chapter_ledger", "claim_value", "differences", "ledger", "ledger_caption", "ledger_cells", "ledger_markdown", "metric_label",
           "every_seed_view", "paper_difference", "show_ledger", "verdict"]
