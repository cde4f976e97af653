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
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from asdlib.data.errors import DataError
from asdlib.data.layout import TYPES_2020, TYPES_2022, index_dataset
from asdlib.data.synth import generate, read_manifest
from asdlib.metrics import evaluate_scores
from asdlib.profiles import Profile, chapter_settings, default_seeds, get_profile
from asdlib.provenance import canonical, package_digest
from asdlib.train import resolve_device
from asdlib.utils import atomic_write_text

NOTEBOOK_PARAMETERS = ("data_root", "dataset", "machine_types", "profile", "device", "seeds", "settings",
                       "results_dir")
"""The parameters every chapter notebook takes (its cell tagged ``parameters``). ``settings``
overrides chapter settings of the profile (``asd run --set KEY=VALUE``), None for none."""

RECORD_NAME = "record.json"
SCORES_NAME = "scores.csv"
SCORE_COLUMNS = ("system", "seed", "split", "machine_type", "section", "domain", "label", "file", "score")
RECORD_SCHEMA = 1
RECORDS_ENV = "ASD_RECORDS"
"""Extra folders (``os.pathsep``-separated) where :meth:`Run.require` looks for other chapters'
records, after the run's own runs folder; the tests point it at the committed fixture records."""
DATASETS = {2020: TYPES_2020, 2022: TYPES_2022, 2023: None}


def repo_root() -> Path | None:
    """The checkout asdlib was installed from (editable install), if any."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() and (here / "asdlib").is_dir() else None


def default_data_dir() -> Path:
    """Where synthetic data sets are generated: ``$ASD_DATA_DIR``, else ``<checkout>/data``,
    else ``~/.cache/asdlib/data``."""
    if os.environ.get("ASD_DATA_DIR"):
        return Path(os.environ["ASD_DATA_DIR"])
    root = repo_root()
    return root / "data" if root else Path.home() / ".cache" / "asdlib" / "data"


def git_commit() -> str | None:
    """The checkout's commit (``+dirty`` when it has uncommitted changes), or None."""
    root = repo_root()
    if root is None:
        return None
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


@dataclass
class Run:
    """One execution of a chapter notebook: its settings, data and collected results."""

    notebook: str
    paper: str
    dataset: int
    data_root: Path
    machine_types: list[str]
    profile: Profile
    settings: Mapping[str, Any]
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
        if self.synthetic:
            return (f"SYNTHETIC data (asdlib generator, preset '{self.synthetic['preset']}'): "
                    "not comparable to the papers' numbers")
        return f"DCASE {self.dataset} data ({self.data_root.name})"

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
        (``CHAPTER_REQUIRES``); without records this fails naming where it looked and the
        command that makes them."""
        for folder in self.record_folders():
            if not folder.is_dir():
                continue
            found = [r for r in load_records(folder / chapter if (folder / chapter).is_dir() else folder)
                     if r.get("notebook") == chapter and r.get("profile") == self.profile.name
                     and r.get("scores_file") and self.same_data(r)]
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
            "file": [_relative(p, self.data_root) for p in scores["path"]],
            "score": scores["score"].to_numpy(dtype=float)})
        self.clip_scores.append(kept)

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
            "settings": canonical(dict(self.settings)),
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


def _relative(path: str | os.PathLike, root: Path) -> str:
    """``path`` relative to the data root when it lies under it (portable between machines)."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(path)


def load_scores(record: Mapping[str, Any]) -> pd.DataFrame:
    """The per-clip scores a record's run kept (:meth:`Run.keep_scores`), as one table with
    the columns :data:`SCORE_COLUMNS`; empty when the run kept none."""
    if not record.get("scores_file"):
        return pd.DataFrame(columns=list(SCORE_COLUMNS))
    path = Path(record["_path"]).parent / record["scores_file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the scores file of record {record['_path']} is missing")
    return pd.read_csv(path, dtype={"file": str, "system": str, "split": str, "machine_type": str})


def start_run(
    notebook: str,
    paper: str,
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
    wrong type fails with the valid ones); the record stores the resolved settings."""
    prof = get_profile(profile)
    overrides = dict(settings or {})
    resolved = chapter_settings(notebook, profile, overrides)
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}: valid datasets are {list(DATASETS)}")
    if seeds is None:
        seeds = list(default_seeds(notebook, profile))
    if isinstance(seeds, (int, str)) or not all(isinstance(s, int) and s >= 0 for s in seeds) or not seeds:
        raise ValueError(f"seeds={seeds!r}: give a non-empty list of non-negative integers, e.g. [0, 1]")
    known = DATASETS[dataset]
    if isinstance(machine_types, str):
        raise ValueError(f"machine_types={machine_types!r}: give a list, e.g. [{machine_types!r}]")
    if machine_types is not None and known is not None:
        bad = [t for t in machine_types if t not in known]
        if bad:
            raise ValueError(f"machine_types: {bad} are not DCASE {dataset} types; valid: {list(known)}")
    synthetic = None
    if data_root is None:
        if dataset not in (2020, 2022):
            raise ValueError(f"dataset={dataset}: synthetic data exists for 2020 and 2022; give a data_root")
        root = default_data_dir() / f"synth-{dataset}-{prof.data_preset}-seed{synth_seed}"
        generate(root, year=dataset, preset=prof.data_preset, seed=synth_seed, progress=False)
    else:
        root = Path(data_root)
    manifest = read_manifest(root)
    if manifest:
        synthetic = {"preset": manifest["preset"]["name"], "seed": manifest["seed"],
                     "generator_version": manifest["version"]}
    index = index_dataset(root, machine_types=machine_types, year=dataset if dataset == 2023 else None)
    if (dataset == 2020) != bool((index["year"] == 2020).all()):
        found = "2020" if (index["year"] == 2020).all() else "2022+"
        raise DataError(f"{root}: dataset={dataset} but the files follow the DCASE {found} naming; "
                        "pass the dataset that matches the data")
    types = list(machine_types) if machine_types is not None else sorted(index["machine_type"].unique())
    params = {"data_root": None if data_root is None else str(data_root), "dataset": dataset,
              "machine_types": machine_types, "profile": profile, "device": device, "seeds": list(seeds),
              "settings": overrides or None, "results_dir": None if results_dir is None else str(results_dir)}
    return Run(notebook=notebook, paper=paper, dataset=dataset, data_root=root, machine_types=types,
               profile=prof, settings=resolved, device=resolve_device(device), seeds=list(seeds),
               results_dir=Path(results_dir) if results_dir is not None else None, index=index,
               synthetic=synthetic, parameters=params)


def load_records(folder: str | os.PathLike) -> list[dict]:
    """Every results record under ``folder`` (any depth), oldest first."""
    records = []
    for path in sorted(Path(folder).rglob(RECORD_NAME)):
        try:
            record = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise ValueError(f"{path}: not a readable results record ({err}); rerun that run "
                             "(asd run ... --resume reruns it once the file is removed)") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: a results record holds a JSON object, found {type(record).__name__}")
        record["_path"] = str(path)
        records.append(record)
    return sorted(records, key=lambda r: r.get("started", ""))
