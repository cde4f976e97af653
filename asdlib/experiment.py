"""What a chapter notebook does first and last: check its parameters, find the data,
and write its results record.

Every chapter's ``parameters`` cell holds :data:`NOTEBOOK_PARAMETERS`; its next cell is ::

    run = start_run("00_task_data_metrics", paper="...", data_root=data_root, dataset=dataset,
                    machine_types=machine_types, profile=profile, device=device, seeds=seeds,
                    settings=settings, results_dir=results_dir)

which validates them (an unknown profile, dataset, machine type or seed fails at once
with the valid values), generates or reuses the synthetic data set of the profile
when ``data_root`` is None, indexes the data and picks the device. The notebook then
scores test clips and calls ``run.evaluate(system, scores, seed=...)`` for each system
and seed; ``run.save()`` writes the record (JSON, atomically) to
``results_dir/record.json``, which ``asd run`` and the book's results page read.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from asdlib.data.errors import DataError
from asdlib.data.layout import index_dataset
from asdlib.data.synth import generate, read_manifest
from asdlib.data.synth.dataset import GENERATOR_VERSION, YEARS as SYNTH_YEARS
from asdlib.metrics import evaluate_scores
from asdlib.chapters import as_dict, chapter_settings, chapter_spec, default_seeds
from asdlib.profiles import Profile, get_profile
from asdlib.provenance import canonical, package_digest
from asdlib.records import (  # noqa: F401  (the records API, re-exported for the notebooks)
    DATASETS, NOTEBOOK_PARAMETERS, RECORD_NAME, RECORD_SCHEMA, RECORDS_ENV, SCORE_COLUMNS, SCORES_NAME,
    check_parameters, data_label, default_data_dir, find_records, git_commit, load_records, load_scores,
    relative_path, repo_root)
from asdlib.train import resolve_device
from asdlib.utils import atomic_write_text

@dataclass
class Run:
    """One execution of a chapter notebook: its settings, data and collected results."""

    notebook: str
    paper: str
    dataset: int
    data_root: Path
    machine_types: list[str]
    profile: Profile
    settings: Any              # the chapter's settings dataclass (asdlib.chapters)
    device: Any
    seeds: list[int]
    results_dir: Path | None
    index: pd.DataFrame
    synthetic: dict | None
    parameters: dict
    started: float = field(default_factory=time.time)
    results: list[dict] = field(default_factory=list)
    clip_scores: list[pd.DataFrame] = field(default_factory=list)

    @property
    def is_synthetic(self) -> bool:
        return self.synthetic is not None

    @property
    def data_label(self) -> str:
        """How every table and figure names its data: synthetic data is always said to be."""
        return data_label(self.dataset, self.synthetic, self.data_root)

    def development_types(self, machine_types: Sequence[str] | None = None) -> list[str]:
        """The run's machine types (or ``machine_types``) that have development sections, in
        order: what a chapter's development-section tables show. An evaluation-only type
        (DCASE 2023 on: the evaluation set's own types) is trained and recorded but has no
        row there. Raises ValueError when none has development sections."""
        types = list(self.machine_types if machine_types is None else machine_types)
        dev = set(self.index.loc[self.index["part"] == "dev", "machine_type"])
        found = [mt for mt in types if mt in dev]
        if not found:
            raise ValueError(f"no machine type of this run ({', '.join(types)}) has development sections; "
                             "this chapter's tables report development sections: add a development type")
        return found

    def train_test(self, machine_type: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Training clips and labelled test clips of one machine type."""
        rows = self.index[self.index["machine_type"] == machine_type]
        train = rows[rows["split"] == "train"]
        test = rows[(rows["split"] == "test") & (rows["label"] != "unknown")]
        return train, test

    def evaluate(self, system: str, scores: pd.DataFrame, seed: int, **notes: Any):
        """Official metrics of ``scores`` (test rows with ``score``); stored in the record.

        Development and evaluation sections (the index's ``part`` column) are evaluated
        and stored apart, as DCASE reports them and the papers' tables are per split.
        Returns the development sections' result when there are any, else the
        evaluation sections'. ``notes`` (JSON-like) say anything the reader needs to know
        about this result, e.g. ``selection="none on test labels"``.
        """
        parts = scores["part"] if "part" in scores.columns else pd.Series("dev", index=scores.index)
        results = {}
        for part, rows in scores.groupby(parts, sort=True):
            result = evaluate_scores(rows, year=self.dataset)
            self.results.append({"system": system, "seed": int(seed), "part": str(part), "notes": notes,
                                 **result.to_dict()})
            results[str(part)] = result
        if not results:
            raise ValueError(f"evaluate({system!r}): no scored test clips")
        return results.get("dev", next(iter(results.values())))

    def reference_scores(self, cache_dir: str | os.PathLike | None = None) -> pd.DataFrame:
        """The reference detector's scores (:func:`asdlib.reference.reference_scores`: a clip's mean
        log-mel, Mahalanobis distance per section) of the labelled test clips of the run's machine
        types, on whole clips; fitted on their training clips."""
        from asdlib.reference import reference_scores

        rows = self.index[((self.index["split"] == "train") | (self.index["label"] != "unknown"))
                          & self.index["machine_type"].isin(self.machine_types)]
        return reference_scores(rows, device=self.device, cache_dir=cache_dir)

    def record_reference(self, scores: pd.DataFrame, **notes: Any):
        """Evaluate the reference detector's test ``scores`` on the chapter's own inputs as
        :data:`asdlib.reference.REFERENCE_SYSTEM`, once per seed of the run (nothing is trained,
        so every seed gets the same scores): the results page draws it as the chapter's yardstick.
        ``notes`` say what inputs it saw. Returns the result, as :meth:`evaluate`."""
        from asdlib.reference import REFERENCE_SYSTEM

        notes = {"selection": "nothing trained or selected", **notes}
        return [self.evaluate(REFERENCE_SYSTEM, scores, seed=seed, **notes) for seed in self.seeds][-1]

    def record_folders(self) -> list[Path]:
        """Where :meth:`require` looks, in order: the runs folder of this run (``asd run``
        writes ``<out>/<profile>/<chapter>/<tag>/``), ``<checkout>/runs/<profile>``, then
        the folders of ``$ASD_RECORDS`` (``<folder>/<profile>/...``)."""
        folders = []
        if self.results_dir is not None:
            folders.append(Path(self.results_dir).resolve().parents[1])
        root = repo_root()
        if root is not None:
            folders.append(root / "runs" / self.profile.name)
        for extra in filter(None, os.environ.get(RECORDS_ENV, "").split(os.pathsep)):
            folders.append(Path(extra) / self.profile.name)
        return list(dict.fromkeys(folders))

    def same_data(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` was made on this run's data: the same synthetic set (preset,
        seed, generator version), or the same real data root."""
        if self.synthetic or record.get("synthetic"):
            return record.get("synthetic") == self.synthetic
        return Path(record.get("data_root", "")).resolve() == Path(self.data_root).resolve()

    def require(self, chapter: str) -> list[dict]:
        """The records of ``chapter`` made with this profile on this data, with kept clip
        scores (:func:`load_scores`), oldest first, from the first of
        :meth:`record_folders` that has any. ``asd run`` runs required chapters first
        (its spec's ``requires``); without records this fails naming where it looked and the
        command that makes them."""
        found = find_records(self.record_folders(), chapter, self.profile.name, self.same_data)
        if found:
            return found
        looked = ", ".join(str(f) for f in self.record_folders()) or "(nowhere: no results_dir and no checkout)"
        data = "" if self.synthetic else f" --data-root {self.data_root}"
        raise FileNotFoundError(
            f"no results records of {chapter!r} for profile {self.profile.name!r} on {self.data_label}; looked in "
            f"{looked}. Run `asd run notebooks/{chapter}.md --profile {self.profile.name}{data}` first, "
            f"with the same seeds (asd run does so itself when both chapters are in one batch)")

    def keep_scores(self, system: str, scores: pd.DataFrame, seed: int) -> None:
        """Keep every clip's score of ``system`` (train or test rows of the index with a
        ``score`` column); :meth:`save` writes them to ``scores.csv`` beside the record,
        where later chapters (ensembles) read them with :func:`load_scores`."""
        missing = {"path", "split", "machine_type", "section", "score"} - set(scores.columns)
        if missing:
            raise ValueError(f"keep_scores({system!r}): scores lack the columns {sorted(missing)}")
        if not np.isfinite(scores["score"].to_numpy(dtype=float)).all():
            raise ValueError(f"keep_scores({system!r}, seed={seed}): scores contain NaN or inf")
        kept = pd.DataFrame({
            "system": system, "seed": int(seed), "split": scores["split"].to_numpy(),
            "machine_type": scores["machine_type"].to_numpy(), "section": scores["section"].to_numpy(),
            "domain": scores["domain"].to_numpy() if "domain" in scores else None,
            "label": scores["label"].to_numpy() if "label" in scores else None,
            "file": [relative_path(p, self.data_root) for p in scores["path"]],
            "score": scores["score"].to_numpy(dtype=float)})
        self.clip_scores.append(kept)

    def write_submission(self, system: str, scores: pd.DataFrame, train_scores: pd.DataFrame, *,
                         seed: int = 0, out: str | os.PathLike | None = None,
                         percentile: float | None = None, ground_truth: bool = True):
        """Write ``system``'s DCASE submission files (:mod:`asdlib.submission`): the
        ``anomaly_score_*`` and ``decision_result_*`` CSVs of its test clips, thresholds from
        a gamma fit on ``train_scores`` (the system's scores of the training clips) at the
        baselines' 0.9 quantile; with ``ground_truth`` also the evaluator's ground-truth CSVs
        of the labelled test clips (development data), so ``asd evaluate`` reads them back.

        When both tables have the index's ``part`` column, each part's thresholds come from
        its own training clips (the baselines' development and evaluation modes).
        Into ``out``, default ``<results_dir>/submission/<system>/seed<seed>/``, one folder per
        part (``dev``, ``eval``): ``<folder>/<part>/`` holds the CSVs and
        ``<folder>/<part>/ground_truth/`` the ground truth. Returns
        ``{part: asdlib.submission.Submission}``; evaluate one with
        ``evaluate_score_dir(sub.folder, sub.folder / "ground_truth", year=run.dataset)``.
        """
        from asdlib.submission import DECISION_PERCENTILE, write_ground_truth, write_submission

        if out is None:
            if self.results_dir is None:
                raise ValueError(f"write_submission({system!r}): no results_dir to write into; pass out=")
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in system)
            out = Path(self.results_dir) / "submission" / safe / f"seed{int(seed)}"
        parts = scores["part"] if "part" in scores.columns else pd.Series("dev", index=scores.index)
        written = {}
        for part, rows in scores.groupby(parts, sort=True):
            folder = Path(out) / str(part)
            fit_on = train_scores  # the part's own training clips, as the baselines' dev and eval modes
            if "part" in train_scores.columns:
                fit_on = train_scores[train_scores["part"] == part]
            written[str(part)] = write_submission(
                rows, fit_on, folder, year=self.dataset,
                percentile=DECISION_PERCENTILE if percentile is None else percentile)
            labelled = rows[rows["label"].astype(str) != "unknown"] if "label" in rows.columns else rows.iloc[:0]
            if ground_truth and len(labelled):
                write_ground_truth(labelled, folder / "ground_truth", year=self.dataset)
        if not written:
            raise ValueError(f"write_submission({system!r}): no scored test clips")
        return written

    def record(self) -> dict:
        """The results record of this run (what :meth:`save` writes)."""
        finished = time.time()
        return {
            "schema": RECORD_SCHEMA,
            "notebook": self.notebook,
            "paper": self.paper,
            "dataset": self.dataset,
            "data_source": "synthetic" if self.synthetic else "real",
            "data_root": str(self.data_root),
            "synthetic": self.synthetic,
            "profile": self.profile.name,
            "seeds": self.seeds,
            "machine_types": self.machine_types,
            "device": str(self.device),
            "parameters": self.parameters,
            "settings": canonical(as_dict(self.settings)),
            "asdlib_digest": package_digest(),
            "git_commit": git_commit(),
            "started": _dt.datetime.fromtimestamp(self.started, _dt.timezone.utc).isoformat(),
            "finished": _dt.datetime.fromtimestamp(finished, _dt.timezone.utc).isoformat(),
            "wall_time_s": round(finished - self.started, 3),
            "results": self.results,
            "scores_file": SCORES_NAME if self.clip_scores else None,
        }

    def save(self) -> Path | None:
        """Write the record to ``results_dir/record.json`` atomically; None without a results_dir."""
        if self.results_dir is None:
            return None
        path = Path(self.results_dir) / RECORD_NAME
        if self.clip_scores:   # the scores first: a record never points at a missing scores file
            atomic_write_text(Path(self.results_dir) / SCORES_NAME,
                              pd.concat(self.clip_scores, ignore_index=True).to_csv(index=False))
        atomic_write_text(path, json.dumps(self.record(), indent=1, default=str))
        return path


def start_run(
    notebook: str,
    paper: str | None = None,
    *,
    data_root: str | os.PathLike | None = None,
    dataset: int = 2022,
    machine_types: Sequence[str] | None = None,
    profile: str = "demo",
    device: str = "auto",
    seeds: Sequence[int] | None = None,
    settings: Mapping[str, Any] | None = None,
    results_dir: str | os.PathLike | None = None,
    synth_seed: int = 0,
) -> Run:
    """Validate a chapter's parameters, find or make its data, and start its record.

    ``settings`` overrides the profile's chapter settings (checked: an unknown key or a
    wrong type fails with the valid ones); the record stores the resolved settings. A
    chapter whose settings have ``types`` (not None) runs only those machine types, unless
    the ``machine_types`` parameter names some.
    ``paper`` defaults to the chapter spec's (its short citation)."""
    prof = get_profile(profile)
    if paper is None:
        spec = chapter_spec(notebook)
        paper = spec.paper.short if spec.paper is not None else spec.title
    overrides = dict(settings or {})
    resolved = chapter_settings(notebook, profile, overrides)
    if dataset is None or dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}: valid datasets are {list(DATASETS)}")
    machine_types, seeds = check_parameters(dataset=dataset, machine_types=machine_types, seeds=seeds)
    parameter_types = machine_types
    if seeds is None:
        seeds = list(default_seeds(notebook, profile, overrides))
    synthetic = None
    if data_root is None:
        if dataset not in SYNTH_YEARS:
            raise ValueError(f"dataset={dataset}: synthetic data exists for {', '.join(map(str, SYNTH_YEARS))}; "
                             "give a data_root")
        # the generator's version is in the name: a new version never collides with old data
        root = default_data_dir() / f"synth-{dataset}-{prof.data_preset}-seed{synth_seed}-v{GENERATOR_VERSION}"
        generate(root, year=dataset, preset=prof.data_preset, seed=synth_seed, progress=False)
    else:
        root = Path(data_root)
    manifest = read_manifest(root)
    if manifest:
        synthetic = {"preset": manifest["preset"]["name"], "seed": manifest["seed"],
                     "generator_version": manifest["version"]}
    index = index_dataset(root, machine_types=machine_types, year=None if dataset in (2020, 2022) else dataset)
    profile_types = getattr(resolved, "types", None)
    if machine_types is None and profile_types is not None:
        # the profile runs a subset of the machine types (a chapter's `types` setting); the parameter overrides it
        machine_types = [t for t in sorted(index["machine_type"].unique()) if t in profile_types]
        if not machine_types:
            raise DataError(f"{root}: the data has none of the machine types of {notebook!r}'s setting "
                            f"types={tuple(profile_types)}; it has {sorted(index['machine_type'].unique())}")
        index = index[index["machine_type"].isin(machine_types)].reset_index(drop=True)
    if (dataset == 2020) != bool((index["year"] == 2020).all()):
        found = "2020" if (index["year"] == 2020).all() else "2022+"
        raise DataError(f"{root}: dataset={dataset} but the files follow the DCASE {found} naming; "
                        "pass the dataset that matches the data")
    types = list(machine_types) if machine_types is not None else sorted(index["machine_type"].unique())
    params = {"data_root": None if data_root is None else str(data_root), "dataset": dataset,
              "machine_types": parameter_types, "profile": profile, "device": device, "seeds": list(seeds),
              "settings": overrides or None, "results_dir": None if results_dir is None else str(results_dir)}
    return Run(notebook=notebook, paper=paper, dataset=dataset, data_root=root, machine_types=types,
               profile=prof, settings=resolved, device=resolve_device(device), seeds=list(seeds),
               results_dir=Path(results_dir) if results_dir is not None else None, index=index,
               synthetic=synthetic, parameters=params)
