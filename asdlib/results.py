"""The book's results layer: our numbers from the run records, the papers' published ones.

This is the top layer of ``asdlib``, torch-free: it reads the records that chapter
notebooks write (:func:`asdlib.records.load_records`,
``runs/<profile>/<notebook>/<tag>/record.json``) and the reference file of published
numbers (:func:`load_published`, which the chapters also read), and builds the tables of
the book's results page (:func:`write_results_page`, ``asd results``).

Our tables
----------
One table per (DCASE edition, data source): one row per (paper, system), one column
per machine type plus ``all types``. A cell is ``mean ± std`` over seeds, in percent, and
the caption says over how many seeds (``n``; a cell with fewer seeds than the rest is named):

- DCASE 2022/2023 records: the per-type official h-mean (``types[<type>]["hmean"]`` of
  :meth:`asdlib.metrics.dcase.EvaluationResult.to_dict`: the h-mean of every
  AUC(source), AUC(target) and pAUC of the type's sections). ``all types`` is the
  official score, recomputed per seed from the ``sections`` of every record of that
  (paper, system, seed), so records written per machine type (``asd run --types``) add
  up to the official score over all of them;
- DCASE 2020 records: the per-type mean AUC over machine IDs (``types[<type>]["auc_mean"]``);
  ``all types`` is the mean of the per-type means.

``std`` is the sample standard deviation (``ddof=1``) and is left out when a cell has
one seed; ``n`` is the number of seeds. ``all types`` only uses seeds that have every
machine type of the row, so it never mixes different sets of types. When the same
(paper, system, seed, machine type) appears in several records, the newest record
(by ``started``) wins: a rerun replaces the older result. Each table's caption names the
data source (SYNTHETIC, with the generator preset, or real DCASE data) and the profile;
synthetic and real records never share a table.

The reference file of published numbers
---------------------------------------
``asdlib/published_results.csv`` (read with :func:`load_published`) holds the numbers
the papers print, transcribed once, so that nothing is typed into the book. Columns:

``paper``
    the paper's short citation. Our rows and the published rows are set side by side
    when a chapter passes the same string as ``start_run(paper=...)``; the strings in use
    are listed in :data:`PAPERS`.
``table``
    where the number is printed, as the paper names it: ``Table 1``, ``Tabela 2``,
    ``TABLE VI``, ``Fig. 4d`` ...
``page``
    the page of the paper's printed layout. The text copies in ``../shared/papers`` have
    no page markers; a page inferred from the text (column breaks, floats) is written
    with a ``note`` saying so. Never empty: if a page cannot be determined write ``?``
    and explain in ``note``.
``system``
    the system as the paper names it (``baseline-AE``, ``GANomaly``, ``submission-1``).
``dataset``
    the real data set and split the number is on, e.g. ``DCASE 2022 Task 2 dev
    (sections 00-02)``.
``machine_type``
    a DCASE machine type spelt as in the data (``ToyCar``, ``fan``, ``slider`` ...), or
    ``all`` for a summary over the machine types (the tables' "h-mean", "Total",
    "Average" columns or rows).
``metric``
    what the number is, in the names of :mod:`asdlib.metrics.dcase`: ``hmean`` (per-type
    official-style h-mean of AUC(source), AUC(target) and pAUC), ``auc_mean`` /
    ``pauc_mean`` (DCASE 2020 per-type means over machine IDs), ``auc`` / ``pauc``, or a
    labelled variant such as ``auc_source_domain_only``. Add a new name when a paper
    reports something else, and say in ``note`` what it is.
``value``
    the number, **always in percent (0-100)**, with the digits the paper prints. A paper
    that prints fractions (``0.8009``) is written as percent (``80.09``) with ``printed as
    a fraction`` in ``note``. A paper that prints mean ± std gets two rows, metrics
    ``<metric>`` and ``<metric>_std``.
``note``
    anything a reader needs: which baseline, how the page was found, conversions.

Chapters of later issues append their own rows (one row per printed number) and keep
this format; ``tests/test_results.py`` checks it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from asdlib.data.layout import TYPES_2020, TYPES_2022
from asdlib.chapters import PAPERS as _PAPERS
from asdlib.records import data_label as _data_label
from asdlib.records import load_records
from asdlib.metrics.dcase import OFFICIAL_COLUMNS, floored_hmean, type_score_key
from asdlib.utils import atomic_path, atomic_write_text

PUBLISHED_CSV = Path(__file__).with_name("published_results.csv")
"""The reference file of the papers' published numbers (format in the module docstring)."""

PUBLISHED_COLUMNS = ("paper", "table", "page", "system", "dataset", "machine_type", "metric", "value", "note")

ALL_TYPES = "all types"
"""Column label of the summary over machine types (``all`` in the reference file)."""

PAPERS: dict[str, str] = {key: paper.short for key, paper in _PAPERS.items()}
"""The short citation of each paper (:data:`asdlib.chapters.PAPERS`): the ``paper`` string of
the reference file and of the chapters' records."""

PUBLISHED_LABEL = "published in the paper (real DCASE data)"

_TYPE_ORDER = {t: i for i, t in enumerate(sorted(set(TYPES_2022) | set(TYPES_2020), key=str.lower))}


# --------------------------------------------------------------------------- records


PART_NAMES = {"dev": "development sections", "eval": "evaluation sections"}


def collect_records(runs_dir: str | os.PathLike, profile: str) -> list[dict]:
    """Every record under ``runs_dir`` written with ``profile``, oldest first.

    ``runs_dir`` is the ``--out`` folder of ``asd run`` (records at
    ``<profile>/<notebook>/<tag>/record.json``) or any folder above records. A missing
    folder gives no records. Where ``asd run`` left a ``plan.json`` beside a notebook's runs, only the runs of that
    latest plan count: a record left over from an earlier plan (other seeds or machine
    types) is not shown.
    """
    if not Path(runs_dir).is_dir():
        return []
    return [r for r in load_records(runs_dir) if r.get("profile") == profile and _planned(r)]


def _planned(record: Mapping[str, Any]) -> bool:
    run_dir = Path(record["_path"]).parent
    plan = run_dir.parent / "plan.json"
    if not plan.is_file():
        return True
    try:
        tags = json.loads(plan.read_text()).get("tags", [])
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{plan}: not a readable run plan ({err}); `asd run` rewrites it") from None
    return run_dir.name in tags


def data_label(record: Mapping[str, Any]) -> str:
    """How a record's data is named in every caption: synthetic data always says so."""
    synthetic = record.get("synthetic") or ({"preset": "?"} if record.get("data_source") == "synthetic" else None)
    return _data_label(record.get("dataset", "?"), synthetic)


def _is_2020(result: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    return int(result.get("year", record.get("dataset", 2022))) == 2020


def scores_long(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (paper, system, seed, machine type) of the records, newest record wins.

    Columns: ``dataset`` (edition), ``source`` (``synthetic`` / ``real``), ``data_label``,
    ``profile``, ``paper``, ``notebook``, ``system``, ``seed``, ``machine_type``, ``metric``
    (``hmean`` or ``auc_mean``), ``value`` (fraction, 0-1), ``record`` (its path). Rows with
    ``machine_type == ALL_TYPES`` hold the summary over types (see the module docstring).
    """
    rows: dict[tuple, dict] = {}
    sections: dict[tuple, dict] = {}
    for rec in sorted(records, key=lambda r: r.get("started", "")):
        source = "synthetic" if (rec.get("data_source") == "synthetic" or rec.get("synthetic")) else "real"
        for res in rec.get("results", []):
            # development and evaluation sections are reported apart, as DCASE and the papers do
            label = data_label(rec) + (f"; {PART_NAMES.get(res['part'], res['part'])}" if res.get("part") else "")
            is2020 = _is_2020(res, rec)
            edition = 2020 if is2020 else int(res.get("year", rec.get("dataset", 2022)))
            metric = type_score_key(edition)
            base = {"dataset": edition, "source": source, "data_label": label,
                    "profile": rec.get("profile"), "paper": rec.get("paper", "?"),
                    "notebook": rec.get("notebook", "?"), "system": res["system"],
                    "seed": int(res["seed"]), "metric": metric, "record": rec.get("_path")}
            group = (label, base["paper"], base["system"], base["seed"])
            for mtype, summary in (res.get("types") or {}).items():
                if summary.get(metric) is None:
                    continue
                rows[group + (mtype,)] = {**base, "machine_type": mtype, "value": float(summary[metric])}
            if not is2020:
                for sec in res.get("sections") or []:
                    sections.setdefault(group, {})[(sec["machine_type"], int(sec["section"]))] = sec
    out = pd.DataFrame(list(rows.values()))
    if out.empty:
        return pd.DataFrame(columns=["dataset", "source", "data_label", "profile", "paper", "notebook", "system",
                                     "seed", "machine_type", "metric", "value", "record"])
    summaries = []
    for group, grp in out.groupby(["data_label", "paper", "system", "seed"], sort=False):
        first = grp.iloc[0].to_dict()
        if first["metric"] == "hmean":
            secs = sections.get(tuple(group), {})
            if not secs:
                continue
            values = [sec[c] for sec in secs.values() for c in OFFICIAL_COLUMNS]
            value = floored_hmean(values)
        else:
            value = float(np.mean(grp["value"]))
        summaries.append({**first, "machine_type": ALL_TYPES, "value": value,
                          "types_covered": tuple(sorted(grp["machine_type"]))})
    out["types_covered"] = None
    if summaries:
        out = pd.concat([out, pd.DataFrame(summaries)], ignore_index=True)
    return out


def _mean_std(values: Sequence[float]) -> tuple[float, float, int]:
    arr = np.asarray(values, dtype=float)
    n = int(arr.size)
    std = float(np.std(arr, ddof=1)) if n > 1 else math.nan
    return float(np.mean(arr)), std, n


def format_cell(mean: float, std: float, n: int, scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std`` in percent; the mean alone for one seed; ``–`` for no value. The number of
    seeds goes in the table's caption (:func:`seeds_note`), so a cell stays short."""
    if n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if n == 1 or math.isnan(std):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def seeds_note(n: pd.DataFrame) -> str:
    """What a caption says about the seeds of a table's cells (``n``: seeds per cell, 0 = empty):
    ``n = 3 seeds per cell``, or the most common ``n`` and every cell that differs."""
    counts = n.stack()
    counts = counts[counts > 0]
    if counts.empty:
        return "no cell has a value"
    common = int(counts.mode().iloc[0])
    unit = "seed" if common == 1 else "seeds"
    odd = counts[counts != common]
    if odd.empty:
        return f"n = {common} {unit} per cell" + (" (no standard deviation)" if common == 1 else "")
    where = "; ".join(f"{' / '.join(map(str, key[:-1] if isinstance(key, tuple) else (key,)))}, {key[-1]}: n = {int(v)}"
                      for key, v in odd.items())
    return f"n = {common} {unit} per cell, except {where}"


def _type_columns(types: Iterable[str]) -> list[str]:
    return sorted(set(types), key=lambda t: (_TYPE_ORDER.get(t, len(_TYPE_ORDER)), t))


@dataclass
class ResultsTable:
    """A table of the results page: numeric ``mean``/``std``/``n`` and display ``cells``.

    All frames share the index and columns; ``cells`` is what the page shows.
    """

    caption: str
    cells: pd.DataFrame
    mean: pd.DataFrame = field(default_factory=pd.DataFrame)
    std: pd.DataFrame = field(default_factory=pd.DataFrame)
    n: pd.DataFrame = field(default_factory=pd.DataFrame)
    meta: dict = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The caption (a paragraph) and a pipe table, in MyST markdown."""
        return _myst_table(self.caption, self.cells)


def results_tables(records: Iterable[Mapping[str, Any]], profile: str | None = None) -> list[ResultsTable]:
    """Our tables: one per (edition, data source), rows (paper, system), columns types + ``all types``."""
    long = scores_long(records)
    tables = []
    if long.empty:
        return tables
    for (edition, label), grp in long.groupby(["dataset", "data_label"], sort=True):
        types = _type_columns(grp.loc[grp["machine_type"] != ALL_TYPES, "machine_type"])
        columns = [*types, ALL_TYPES]
        index = pd.MultiIndex.from_frame(grp[["paper", "system"]].drop_duplicates(), names=["paper", "system"])
        mean = pd.DataFrame(math.nan, index=index, columns=columns)
        std = mean.copy()
        n = pd.DataFrame(0, index=index, columns=columns)
        for (paper, system), row in grp.groupby(["paper", "system"], sort=False):
            per_type = row[row["machine_type"] != ALL_TYPES]
            row_types = set(per_type["machine_type"])
            for mtype, cell in per_type.groupby("machine_type"):
                mean.loc[(paper, system), mtype], std.loc[(paper, system), mtype], \
                    n.loc[(paper, system), mtype] = _mean_std(cell["value"])
            summary = row[row["machine_type"] == ALL_TYPES]
            full = summary[[set(c) == row_types for c in summary["types_covered"]]]
            if len(full):
                mean.loc[(paper, system), ALL_TYPES], std.loc[(paper, system), ALL_TYPES], \
                    n.loc[(paper, system), ALL_TYPES] = _mean_std(full["value"])
        cells = pd.DataFrame(
            [[format_cell(mean.iat[i, j], std.iat[i, j], int(n.iat[i, j])) for j in range(len(columns))]
             for i in range(len(index))], index=index, columns=columns)
        metric = grp["metric"].iloc[0]
        what = ("Official DCASE h-mean of AUC(source), AUC(target) and pAUC per machine type "
                "(all types: the official score)" if metric == "hmean"
                else "Mean AUC over the machine IDs of each type (all types: mean over the types)")
        prof = profile if profile is not None else ", ".join(sorted(map(str, grp["profile"].unique())))
        caption = (f"Ours: DCASE {edition}, {label}; profile '{prof}'. {what}, in %, "
                   f"mean ± std over seeds; {seeds_note(n)}.")
        head = f"Ours: DCASE {edition}, {label}; profile '{prof}'. {what}, in %, mean ± std over seeds"
        tables.append(ResultsTable(caption=caption, cells=cells, mean=mean, std=std, n=n,
                                   meta={"head": head,
                                         "dataset": int(edition), "data_label": label, "metric": metric,
                                         "synthetic": label.startswith("SYNTHETIC"), "profile": prof,
                                         "papers": list(dict.fromkeys(index.get_level_values("paper")))}))
    return tables


def _format_seconds(seconds: float) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_times(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Wall time per chapter notebook, from the records' ``wall_time_s``.

    One row per notebook (index ``notebook``): ``paper``, ``runs`` (records),
    ``machine types``, ``seeds``, ``devices``, ``total`` (sum over its runs: the time
    the chapter takes run after run), ``longest run``, ``total_s`` (seconds).
    """
    rows = []
    by_nb: dict[str, list] = {}
    for rec in records:
        by_nb.setdefault(rec.get("notebook", "?"), []).append(rec)
    for nb in sorted(by_nb):
        recs = by_nb[nb]
        walls = [float(r["wall_time_s"]) for r in recs if r.get("wall_time_s") is not None]
        types = sorted({t for r in recs for t in (r.get("machine_types") or [])}, key=lambda t: _TYPE_ORDER.get(t, 99))
        seeds = sorted({int(s) for r in recs for s in (r.get("seeds") or [])})
        rows.append({
            "notebook": nb,
            "paper": "; ".join(dict.fromkeys(str(r.get("paper", "?")) for r in recs)),
            "runs": len(recs),
            "machine types": ", ".join(types),
            "seeds": ", ".join(map(str, seeds)),
            "devices": ", ".join(sorted({str(r.get("device", "?")) for r in recs})),
            "total": _format_seconds(sum(walls)) if walls else "–",
            "longest run": _format_seconds(max(walls)) if walls else "–",
            "total_s": float(sum(walls)) if walls else math.nan,
        })
    out = pd.DataFrame(rows, columns=["notebook", "paper", "runs", "machine types", "seeds", "devices",
                                      "total", "longest run", "total_s"])
    return out.set_index("notebook")


# -------------------------------------------------------------------------- published


def load_published(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The reference file of published numbers (default :data:`PUBLISHED_CSV`), validated.

    Fails with the file and line when a column is missing, a required field is empty
    or a value is not a number in [0, 100].
    """
    path = Path(path) if path is not None else PUBLISHED_CSV
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PUBLISHED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; the columns are {list(PUBLISHED_COLUMNS)}")
    for i, row in df.iterrows():
        where = f"{path}, line {i + 2}"
        for col in ("paper", "table", "page", "system", "dataset", "machine_type", "metric"):
            if not str(row[col]).strip():
                raise ValueError(f"{where}: column {col!r} is empty")
        try:
            value = float(row["value"])
        except ValueError:
            raise ValueError(f"{where}: value {row['value']!r} is not a number") from None
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"{where}: value {value} is outside [0, 100] (values are percent)")
    df["value"] = df["value"].astype(float)
    return df[list(PUBLISHED_COLUMNS)]


def published_tables(published: pd.DataFrame, paper: str | None = None) -> list[ResultsTable]:
    """The published numbers as tables: one per (paper, dataset, metric), rows (table, page,
    system), columns machine types + ``all types``, values in percent as printed."""
    tables = []
    df = published if paper is None else published[published["paper"] == paper]
    for (pap, dataset, metric), grp in df.groupby(["paper", "dataset", "metric"], sort=False):
        grp = grp.assign(column=grp["machine_type"].replace({"all": ALL_TYPES}),
                         where=grp["table"] + ", p. " + grp["page"].astype(str))
        types = _type_columns(grp.loc[grp["column"] != ALL_TYPES, "column"])
        columns = types + ([ALL_TYPES] if (grp["column"] == ALL_TYPES).any() else [])
        pivot = grp.pivot_table(index=["where", "system"], columns="column", values="value",
                                aggfunc="first", sort=False).reindex(columns=columns)
        pivot.index.names = ["printed in", "system"]
        cells = pivot.map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")
        notes = list(dict.fromkeys(n for n in grp["note"] if n))
        caption = f"{PUBLISHED_LABEL[0].upper()}{PUBLISHED_LABEL[1:]}: {pap}, {dataset}, metric '{metric}', in %."
        tables.append(ResultsTable(caption=caption, cells=cells, mean=pivot,
                                   meta={"paper": pap, "dataset": dataset, "metric": metric, "notes": notes}))
    return tables


# ------------------------------------------------------------------------------- page


def _escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _pipe_table(cells: pd.DataFrame) -> str:
    index_names = [n or "" for n in cells.index.names]
    header = [*index_names, *map(str, cells.columns)]
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |",
             "|" + "|".join([" --- "] * len(index_names) + [" ---: "] * len(cells.columns)) + "|"]
    for key, row in cells.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        lines.append("| " + " | ".join(_escape(v) for v in (*key, *row.tolist())) + " |")
    return "\n".join(lines)


def _myst_table(caption: str, cells: pd.DataFrame) -> str:
    # The caption is a paragraph above a pipe table, not a numbered {table} directive: the
    # book's own table numbers would read like the papers' ("Table 1").
    return f"{_escape(caption)}\n\n{_pipe_table(cells)}"


EXPLANATION = """\
Every number on this page is read from the results records that the chapter notebooks
write when they run (`record.json` under the runs folder) or from the reference file
of published numbers (`asdlib/published_results.csv`); none is typed in.
For DCASE 2022 data, a cell of our tables is the **official DCASE 2022 h-mean** of
AUC(source), AUC(target) and pAUC over the sections of one machine type (AUC(source)
and AUC(target) each use all anomalies of both domains; pAUC uses all clips of the
section with a maximum false-positive rate of 0.1); the *all types* column is the
official score, the same h-mean over every section of every machine type that row has
results for (seeds missing a type are left out of it). For DCASE
2020 data a cell is the mean AUC over the machine IDs of a type. Cells are in percent,
**mean ± standard deviation over seeds** (sample standard deviation; *n* is the number
of seeds; one seed shows no deviation). Every table names its data in the caption:
numbers computed on **SYNTHETIC** data (the asdlib generator, the default where the
real DCASE data cannot be downloaded) test that the code runs and behaves sensibly,
and are **not comparable** to the papers' numbers, which are on the real DCASE data.
"""


def _no_records_text(runs_dir: Path, profile: str) -> str:
    return (f"No results records were found for profile `{profile}` under `{runs_dir}`, so this page "
            "shows none of our numbers. Run the chapters first, for example "
            f"`asd run notebooks/*.md --profile {profile} --out {runs_dir}`, then "
            f"`asd results --runs {runs_dir} --profile {profile}`.")


def _wide(block: str) -> str:
    # a container the book's stylesheet (book/_static/asd-book.css) keeps on one line per cell
    return f":::{{container}} asd-results\n{block}\n:::"


def results_page(runs_dir: str | os.PathLike, profile: str,
                 published: str | os.PathLike | pd.DataFrame | None = None, figure: str | None = None) -> str:
    """The MyST markdown of the results page (what :func:`write_results_page` writes); ``figure``:
    the file name of the summary figure (:func:`summary_figure`) beside the page, shown first."""
    runs_dir = Path(runs_dir)
    records = collect_records(runs_dir, profile)
    pub = published if isinstance(published, pd.DataFrame) else load_published(published)
    ours = results_tables(records, profile=profile)
    synthetic = any(t.meta["synthetic"] for t in ours)

    parts = ["# Results", ""]
    if figure:
        parts += [f":::{{figure}} {figure}", ":name: fig-results-summary", ":width: 100%", "", SUMMARY_CAPTION, ":::", ""]
    parts += [EXPLANATION]
    if synthetic:
        parts += [":::{warning}",
                  "Numbers on this page marked **SYNTHETIC** come from the asdlib synthetic data "
                  "generator, not from the DCASE recordings. They are not comparable to the papers' "
                  "numbers, which are shown in their own tables, labelled "
                  f"*{PUBLISHED_LABEL}*.", ":::", ""]
    if not records:
        parts += [":::{note}", _no_records_text(runs_dir, profile), ":::", ""]
    elif not ours:
        parts += [":::{note}",
                  f"{len(records)} results record(s) were found for profile `{profile}` under "
                  f"`{runs_dir}`, but none holds an evaluated system, so there is no table of ours.",
                  ":::", ""]

    if records:
        parts += book_ledger(records, pub)

    found = [p for t in ours for p in t.meta["papers"]] + list(pub["paper"])
    papers = [p for p in PAPERS.values() if p in found] + [p for p in dict.fromkeys(found) if p not in PAPERS.values()]
    for paper in papers:
        parts += [f"## {paper}", ""]
        mine = [t for t in ours if paper in t.meta["papers"]]
        parts += ["### Ours", ""]
        if mine:
            for t in mine:
                cells = t.cells.xs(paper, level="paper", drop_level=True)
                caption = f"{t.meta['head']}; {seeds_note(t.n.xs(paper, level='paper', drop_level=True))}."
                parts += [_wide(_myst_table(caption, cells)), ""]
        else:
            parts += [f"No records of this paper for profile `{profile}` yet.", ""]
        theirs = published_tables(pub, paper=paper)
        parts += [f"### {PUBLISHED_LABEL[0].upper()}{PUBLISHED_LABEL[1:]}", ""]
        if theirs:
            for t in theirs:
                parts += [_wide(t.to_markdown()), ""]
                if t.meta.get("notes"):
                    parts += ["Notes on these numbers:", ""] + [f"- {_escape(n)}" for n in t.meta["notes"]] + [""]
        else:
            parts += ["No numbers of this paper are in the reference file yet.", ""]

    parts += ["## Run times per chapter", ""]
    if records:
        times = run_times(records).drop(columns=["total_s"])
        caption = (f"Wall time of the chapter notebooks, profile '{profile}', from {len(records)} "
                   "record(s): total = sum over its runs (machine types x seeds), and the longest run.")
        parts += [_wide(_myst_table(caption, times)), ""]
    else:
        parts += ["No records, so no run times.", ""]
    return "\n".join(parts).rstrip() + "\n"


def book_ledger(records: Sequence[Mapping[str, Any]], published: pd.DataFrame) -> list[str]:
    """The book's claims ledger (every chapter's, :mod:`asdlib.claims`) as lines of the results page:
    a count of the verdicts, then each chapter's ledger under its title."""
    from asdlib.chapters import CHAPTERS
    from asdlib.claims import VERDICTS, ledger, ledger_markdown

    parts = ["## Claims ledger", "",
             "Each chapter states its paper's main claims as comparisons and tests them on every seed of "
             "this run (the rule is in each caption). A verdict is about our data: on SYNTHETIC data it says "
             "whether the claim's mechanism shows on the generator's machines, not whether the paper is right "
             "about the DCASE recordings.", ""]
    tables = []
    for stem, spec in CHAPTERS.items():
        mine = [r for r in records if r.get("notebook") == stem]
        if not spec.claims or not mine:
            continue
        tables.append((stem, spec, ledger(records, stem, published), sorted({data_label(r) for r in mine})))
    if not tables:
        return parts + ["No chapter with claims has records yet.", ""]
    counts = pd.concat([t for _, _, t, _ in tables])["verdict"].value_counts()
    parts += ["Verdicts over the book: " + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS) + ".", ""]
    for stem, spec, table, labels in tables:
        title = spec.title or (f"{spec.paper.short}: {stem}" if spec.paper else stem)
        parts += [f"### {title}", "", f"Chapter: {{doc}}`{stem} <chapters/{stem}>`", "",
                  ledger_markdown(table, "; ".join(labels)), ""]
    return parts


SUMMARY_FIGURE = "results_summary.png"
"""The summary figure's file name, written beside the results page."""

SUMMARY_CAPTION = (
    "Every chapter at a glance: per system, our summary over machine types (the official score on DCASE "
    "2022 data, the mean AUC on DCASE 2020 data; mean ± std over seeds, blue), the paper's number for the "
    "same system where the paper prints one (orange diamond, real DCASE data) and the reference detector "
    "on our data (grey dashed line). Each panel names its data; numbers on SYNTHETIC data are not "
    "comparable to the papers'.")

PAPER_SYSTEM_NAMES: dict[str, str] = {
    "DCASE 2022 autoencoder baseline": "baseline-AE",
    "DCASE 2022 MobileNetV2 baseline": "baseline-MobileNetV2",
    "DCASE 2020 autoencoder": "DCASE",
    "Skip-GANomaly": "SGANomaly",
}
"""Our system name -> the paper's, where the two differ (a system whose name is the paper's needs none)."""

REFERENCE_PREFIX = "reference:"
"""Systems whose name starts so are the reference detector (the first chapter's), drawn as a line."""


def summary_frame(records: Iterable[Mapping[str, Any]], published: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (data, chapter, system): our summary over machine types (``ALL_TYPES`` of
    :func:`scores_long`; mean, std and n over seeds, in percent), the paper's value of the same
    system and metric (published row with ``machine_type == "all"``, through
    :data:`PAPER_SYSTEM_NAMES`; the first printed when several tables give one) and the reference
    detector's on the same data (the mean of its ``ALL_TYPES`` rows): the one the chapter recorded
    on its own inputs (a system named ``reference: ...``) when it did, else the first chapter's
    (in name order) that recorded one."""
    long = scores_long(records)
    columns = ["data_label", "dataset", "metric", "notebook", "paper", "system", "ours", "ours_std", "n",
               "paper_value", "reference"]
    if long.empty:
        return pd.DataFrame(columns=columns)
    summary = long[long["machine_type"] == ALL_TYPES]
    pub = published if published is not None else load_published()
    pub_all = pub[pub["machine_type"] == "all"]
    rows = []
    for (label, dataset, metric), grp in summary.groupby(["data_label", "dataset", "metric"], sort=True):
        ref = grp[grp["system"].str.startswith(REFERENCE_PREFIX)]
        for (notebook, paper, system), cell in grp.groupby(["notebook", "paper", "system"], sort=False):
            if system.startswith(REFERENCE_PREFIX):
                continue
            own = ref[ref["notebook"] == notebook]   # the chapter's yardstick on its own inputs, else the first chapter's
            if not len(own) and len(ref):
                own = ref[ref["notebook"] == min(ref["notebook"])]
            reference = 100 * float(own["value"].mean()) if len(own) else math.nan
            types = set(long.loc[(long["data_label"] == label) & (long["paper"] == paper) & (long["system"] == system)
                                 & (long["machine_type"] != ALL_TYPES), "machine_type"])
            cell = cell[[set(c) == types for c in cell["types_covered"]]]   # seeds with every type only
            if cell.empty:
                continue
            mean, std, n = _mean_std(cell["value"])
            theirs = pub_all[(pub_all["paper"] == paper) & (pub_all["metric"] == metric)
                             & (pub_all["system"] == PAPER_SYSTEM_NAMES.get(system, system))]["value"]
            rows.append({"data_label": label, "dataset": int(dataset), "metric": metric, "notebook": notebook,
                         "paper": paper, "system": system, "ours": 100 * mean, "ours_std": 100 * std, "n": n,
                         "paper_value": float(theirs.iloc[0]) if len(theirs) else math.nan,
                         "reference": reference})
    return pd.DataFrame(rows, columns=columns)


def summary_figure(records: Iterable[Mapping[str, Any]], published: pd.DataFrame | None = None):
    """The results page's first figure (:data:`SUMMARY_CAPTION`): one panel per (chapter, data),
    one row per system, ours against the paper's and the reference detector's. None without
    records of any system."""
    frame = summary_frame(records, published)
    if frame.empty:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(frame.groupby(["notebook", "data_label"], sort=True))
    heights = [1.2 + 0.32 * len(grp) for _, grp in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, sum(heights) + 0.6), squeeze=False, layout="constrained",
                             gridspec_kw={"height_ratios": heights})
    for ax, ((notebook, label), grp) in zip(axes[:, 0], panels):
        y = np.arange(len(grp))[::-1]
        ax.errorbar(grp["ours"], y, xerr=grp["ours_std"].fillna(0), fmt="o", color="C0", capsize=2, label="ours")
        has_paper = grp["paper_value"].notna()
        if has_paper.any():
            ax.scatter(grp.loc[has_paper, "paper_value"], y[has_paper.to_numpy()], marker="D", color="C1", s=28,
                       zorder=3, label="paper (real DCASE data)")
        reference = grp["reference"].iloc[0]
        if not math.isnan(reference):
            ax.axvline(reference, color="0.45", ls="--", lw=1, label="reference detector (ours)")
        ax.axvline(50, color="0.75", ls=":", lw=0.8)
        ax.set_yticks(y, [f"{s} (n={n})" for s, n in zip(grp["system"], grp["n"])], fontsize=8)
        metric = "official score (h-mean, %)" if grp["metric"].iloc[0] == "hmean" else "mean AUC over machine IDs (%)"
        ax.set_xlabel(metric, fontsize=8)
        ax.set_title(textwrap.fill(f"{notebook}: {grp['paper'].iloc[0]}. {label}", 88), fontsize=8, loc="left")
        ax.grid(axis="y", color="0.93")
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    synthetic = frame["data_label"].str.startswith("SYNTHETIC").any()
    fig.suptitle("Ours, the paper's and the reference detector's summary per chapter"
                 + ("\nSYNTHETIC data: not comparable to the papers' numbers" if synthetic else ""), fontsize=10)
    return fig


def write_results_page(runs_dir: str | os.PathLike, profile: str, out_path: str | os.PathLike,
                       published: str | os.PathLike | pd.DataFrame | None = None) -> Path:
    """Write the book's results page (MyST markdown) atomically, with the summary figure
    (:func:`summary_figure`, :data:`SUMMARY_FIGURE` beside the page) when there are records;
    returns the page's path."""
    out_path = Path(out_path)
    pub = published if isinstance(published, pd.DataFrame) else load_published(published)
    fig = summary_figure(collect_records(runs_dir, profile), pub)
    figure = None
    if fig is not None:
        import matplotlib.pyplot as plt

        target = out_path.with_name(SUMMARY_FIGURE)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
        figure = SUMMARY_FIGURE
    atomic_write_text(out_path, results_page(runs_dir, profile, pub, figure=figure))
    return out_path


# -------------------------------------------------------------------------------- CLI


def copy_chapters(records: Iterable[Mapping[str, Any]], out_dir: str | os.PathLike) -> list[Path]:
    """Copy one executed notebook per chapter into ``out_dir/<notebook>.ipynb`` (atomically).

    The book shows, for each chapter, the run over all machine types with the lowest
    seed when there is one, else the lowest-seed run of the first machine type group. Its
    claims ledger (the cell tagged :data:`LEDGER_TAG`) is recomputed over every record of
    the chapter, so the page tests the claims on every seed of the plan.
    """
    records = list(records)
    best: dict[str, tuple[tuple, Path]] = {}
    for record in records:
        runner = record.get("runner") or {}
        source = Path(record["_path"]).parent / "notebook.ipynb" if "_path" in record else Path(runner.get("notebook", ""))
        if not runner or not source.is_file():
            continue
        tag = runner.get("tag", "")
        rank = (0 if tag.startswith("all-") else 1, min(record.get("seeds") or [0]), tag)
        name = record["notebook"]
        if name not in best or rank < best[name][0]:
            best[name] = (rank, source)
    written = []
    for name, (_, source) in sorted(best.items()):
        target = Path(out_dir) / f"{name}.ipynb"
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
            every_seed_ledger(tmp, name, records)
        written.append(target)
    return written


LEDGER_TAG = "claims-ledger"
"""Tag of the chapter cell whose output :func:`copy_chapters` replaces with the claims ledger
over every record of the chapter's plan (every seed), not only the copied run's."""


def every_seed_ledger(notebook: str | os.PathLike, stem: str, records: Sequence[Mapping[str, Any]]) -> bool:
    """Replace the outputs of the cell tagged :data:`LEDGER_TAG` in ``notebook`` (in place) by the
    chapter's view over every seed of ``records`` (:func:`asdlib.claims.every_seed_view`: our results
    per machine type and the claims ledger); False when no cell has the tag or ``stem`` no records."""
    import nbformat

    from asdlib.chapters import CHAPTERS
    from asdlib.claims import every_seed_view

    if stem not in CHAPTERS or not any(r.get("notebook") == stem for r in records):
        return False
    nb = nbformat.read(str(notebook), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and LEDGER_TAG in c.get("metadata", {}).get("tags", [])]
    if not cells:
        return False
    outputs = []
    for caption, table in every_seed_view(records, stem):
        outputs.append(nbformat.v4.new_output("display_data", data={"text/markdown": f"**{caption}**",
                                                                     "text/plain": caption}))
        outputs.append(nbformat.v4.new_output("display_data", data={
            "text/html": table.to_html(index=table.index.name is not None, escape=True, border=0,
                                       classes="dataframe"),
            "text/plain": table.to_string()}))
    for cell in cells:
        cell.outputs = outputs
    nbformat.write(nb, str(notebook))
    return True


def _results_command(args: argparse.Namespace) -> int:
    records = collect_records(args.runs, args.profile)
    path = write_results_page(args.runs, args.profile, args.out, published=args.published)
    print(f"results page for profile '{args.profile}': {len(records)} record(s) under {args.runs} -> {path}")
    if args.chapters is not None:
        for target in copy_chapters(records, args.chapters):
            print(f"chapter: {target}")
    for table in results_tables(records, profile=args.profile):
        print(f"\n{table.caption}")
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.cells.to_string())
    return 0


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``asd results`` to the ``asd`` subcommands (``subparsers`` of argparse)."""
    p = subparsers.add_parser("results", help="write the book's results page from the run records",
                              description="Collect the results records of one profile and write the book's "
                                          "results page (our tables, the papers' published numbers, run times).")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="folder of the records (asd run --out)")
    p.add_argument("--profile", default="demo", help="profile whose records to show (ci, demo, paper)")
    p.add_argument("--out", type=Path, default=Path("book/_generated/results.md"), help="page to write")
    p.add_argument("--published", type=Path, default=None,
                   help="reference file of published numbers (default: the one shipped with asdlib)")
    p.add_argument("--chapters", type=Path, default=None,
                   help="also copy one executed notebook per chapter into this folder (for the book)")
    p.set_defaults(func=_results_command)
    return p
