"""Records of chapter runs, torch-free: the notebook parameters, the data sets, file names,
the record schema, finding and loading records and their kept clip scores.

A chapter run (``asd run``, papermill) writes ``<out>/<profile>/<chapter>/<tag>/record.json``
(:meth:`asdlib.experiment.Run.save`) and, when it kept clip scores, ``scores.csv`` beside
it. ``asd results``, ``asd summary`` and ``asd run``'s planning import only this module
and what is below it, never torch (tests/test_cli.py checks).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from asdlib.data.layout import TYPES_2020, TYPES_2022

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
DATASETS = {2020: TYPES_2020, 2021: None, 2022: TYPES_2022, 2023: None, 2024: None, 2025: None, 2026: None}
"""The DCASE editions a chapter can run on, with their machine types (None: any type; the
2021 and 2023-2026 types are not listed, so any folder name is accepted)."""


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


def relative_path(path: str | os.PathLike, root: Path) -> str:
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


def data_label(dataset: Any, synthetic: Mapping[str, Any] | None, data_root: str | os.PathLike | None = None) -> str:
    """How every table and figure names its data: synthetic data always says so."""
    if synthetic:
        return (f"SYNTHETIC DCASE {dataset}-layout data (asdlib generator, preset "
                f"'{synthetic.get('preset', '?')}'): not comparable to the papers' numbers")
    name = f" ({Path(data_root).name})" if data_root else ""
    return f"real DCASE {dataset} data{name}"


def check_parameters(
    *,
    dataset: int | None,
    machine_types: Sequence[str] | None,
    seeds: Sequence[int] | None,
) -> tuple[list[str] | None, list[int] | None]:
    """The checks ``asd run`` and ``start_run`` share: a known dataset, machine types of it
    (a list, not a string), seeds a non-empty list of non-negative integers. Returns the
    machine types and seeds without repetitions; each error lists the valid values.
    ``dataset=None`` accepts the types of either DCASE 2020 or 2022."""
    if dataset is not None and dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}: valid datasets are {list(DATASETS)}")
    if seeds is not None:
        if isinstance(seeds, (int, str)):
            raise ValueError(f"seeds={seeds!r}: give a non-empty list of non-negative integers, e.g. [0, 1]")
        seeds = list(dict.fromkeys(seeds))
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
            raise ValueError(f"seeds={seeds!r}: give a non-empty list of non-negative integers, e.g. [0, 1]")
    if machine_types is not None:
        if isinstance(machine_types, str):
            raise ValueError(f"machine_types={machine_types!r}: give a list, e.g. [{machine_types!r}]")
        machine_types = list(dict.fromkeys(machine_types))
        if not machine_types:
            raise ValueError("machine_types: give at least one machine type")
        known = sorted(set(TYPES_2020) | set(TYPES_2022)) if dataset is None else DATASETS[dataset]
        bad = [t for t in machine_types if known is not None and t not in known]
        if bad:
            edition = f"DCASE {dataset}" if dataset is not None else "DCASE 2020 or 2022"
            raise ValueError(f"machine types {bad} are not {edition} types; valid: {', '.join(known)}")
    return machine_types, seeds


def find_records(folders: Sequence[str | os.PathLike], chapter: str, profile: str,
                 same_data: Callable[[Mapping[str, Any]], bool]) -> list[dict]:
    """The records of ``chapter`` under ``profile`` with kept clip scores whose data passes
    ``same_data``, oldest first, from the first of ``folders`` (each a ``<out>/<profile>``
    folder) that has any; [] when none has."""
    for folder in map(Path, folders):
        if not folder.is_dir():
            continue
        where = folder / chapter if (folder / chapter).is_dir() else folder
        found = [r for r in load_records(where) if r.get("notebook") == chapter and r.get("profile") == profile
                 and r.get("scores_file") and same_data(r)]
        if found:
            return found
    return []
