"""Index a DCASE Task 2 data root into a table with one row per clip.

Layouts read unchanged (``<type>`` is a machine-type folder):

* **DCASE 2020** (MIMII + ToyADMOS): ``<type>/train/normal_id_00_00000000.wav``,
  ``<type>/test/{normal,anomaly}_id_00_00000000.wav``; evaluation test clips are
  ``<type>/test/id_05_00000000.wav`` (no label in the name). The machine ID goes in
  the ``section`` column. File numbers repeat between ``train/`` and ``test/``: the
  ``path`` column, not the file name, identifies a clip.
* **DCASE 2022** (MIMII DG + ToyADMOS2) and **2023+** (the same naming, one
  section per type): ``<type>/train/section_00_source_train_normal_0000_<attrs>.wav``,
  ``<type>/test/section_00_target_test_anomaly_0000_<attrs>.wav``; evaluation test
  clips are ``<type>/test/section_03_0000.wav`` (``section_03_test_0000.wav`` is
  accepted too). ``<attrs>`` is ``key_value`` pairs joined by ``_``
  (``vel_8_loc_B``, ``m-n_W``); ``noAttribute`` means none.

The root may hold the machine-type folders directly, or ``dev_data/`` and
``eval_data/`` folders that hold them (the ``part`` column says which).

Labels and domains of unlabelled evaluation clips come from the official
evaluator's ground-truth files when they are found in the root, its parent, or the
machine-type folder: ``ground_truth_data/ground_truth_<type>_section_03_test.csv``
(``file,0|1``: normal/anomaly), ``ground_truth_domain/…`` (``file,0|1``:
source/target), and ``ground_truth_attributes/<type>/attributes_03.csv`` (whose
``file_name_with_full_attributes`` column gives the full 2022 name). For 2020 the
same files with ``id_05`` in place of ``section_03`` are read. Without them the
label is ``unknown`` and the domain empty.

Nothing is dropped silently: a ``.wav`` name that fits no layout, an empty or
missing folder, a machine type that is not there, or ground truth that disagrees
with the files on disk raises :class:`~asdlib.data.errors.DataError` naming the file
or folder and what was expected.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from asdlib.data.errors import DataError

TYPES_2020 = ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
TYPES_2022 = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")

COLUMNS = [
    "path", "file", "year", "part", "machine_type", "section", "domain",
    "split", "label", "attribute_string", "attributes",
]

_RE_2020 = re.compile(r"^(?P<label>normal|anomaly)_id_(?P<section>\d+)_(?P<num>\d+)\.wav$")
_RE_2020_EVAL = re.compile(r"^id_(?P<section>\d+)_(?P<num>\d+)\.wav$")
_RE_2022 = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)_"
    r"(?P<label>normal|anomaly)_(?P<num>\d+)(?:_(?P<attrs>.+))?\.wav$"
)
_RE_2022_EVAL = re.compile(r"^section_(?P<section>\d+)_(?:test_)?(?P<num>\d+)\.wav$")

_EXPECTED = (
    "expected DCASE names: 2020 '{normal,anomaly}_id_00_00000000.wav' or 'id_05_00000000.wav'; "
    "2022+ 'section_00_{source,target}_{train,test}_{normal,anomaly}_0000_<attrs>.wav' "
    "or 'section_03_0000.wav'"
)


def parse_attributes(attr_string: str | None) -> dict[str, str]:
    """Parse ``key_value`` pairs joined by ``_`` into a dict of strings.

    >>> parse_attributes("vel_8_loc_B")
    {'vel': '8', 'loc': 'B'}
    >>> parse_attributes("noAttribute")
    {}

    An odd number of tokens cannot be paired: a ValueError says so (the caller
    names the file).
    """
    if not attr_string or attr_string == "noAttribute":
        return {}
    tokens = attr_string.split("_")
    if len(tokens) % 2:
        raise ValueError(f"attribute string {attr_string!r} is not key_value pairs")
    return dict(zip(tokens[::2], tokens[1::2]))


@dataclass(frozen=True)
class ClipName:
    """What a file name says about a clip (``None`` where the name is silent)."""

    year: int
    section: int
    split: str | None
    domain: str | None
    label: str | None
    attribute_string: str


def parse_clip_name(name: str) -> ClipName:
    """Parse a DCASE clip file name; raise ValueError if it fits no layout."""
    if m := _RE_2022.match(name):
        return ClipName(2022, int(m["section"]), m["split"], m["domain"], m["label"], m["attrs"] or "")
    if m := _RE_2022_EVAL.match(name):
        return ClipName(2022, int(m["section"]), "test", None, None, "")
    if m := _RE_2020.match(name):
        return ClipName(2020, int(m["section"]), None, None, m["label"], "")
    if m := _RE_2020_EVAL.match(name):
        return ClipName(2020, int(m["section"]), "test", None, None, "")
    raise ValueError(f"file name {name!r} fits no DCASE layout; {_EXPECTED}")


def _type_dirs(root: Path) -> list[tuple[str, Path]]:
    """(part, machine-type folder) pairs under ``root``."""
    parts = [(p, root / f"{p}_data") for p in ("dev", "eval") if (root / f"{p}_data").is_dir()]
    if not parts:
        parts = [("dev", root)]
    found = []
    for part, base in parts:
        for d in sorted(base.iterdir()):
            if d.is_dir() and ((d / "train").is_dir() or (d / "test").is_dir()):
                found.append((part, d))
    return found


def _read_gt_csv(path: Path) -> dict[str, int]:
    """Read an evaluator CSV of ``file,0|1`` lines (no header) into {file name: 0|1}."""
    try:
        table = pd.read_csv(path, header=None, names=["file", "value"], dtype={"file": str})
    except Exception as err:  # pandas raises several types for malformed CSV
        raise DataError(f"{path}: cannot read ground truth ({err}); expected lines 'file,0|1'") from err
    if table["value"].isna().any() or not table["value"].isin([0, 1]).all():
        raise DataError(f"{path}: ground truth values must be 0 or 1 on every line 'file,0|1'")
    return {Path(f).name: int(v) for f, v in zip(table["file"], table["value"])}


def _find_ground_truth(root: Path, type_dir: Path, machine_type: str, tag: str) -> dict[str, Path]:
    """Locate the evaluator's ground-truth files for one machine type and section tag."""
    name = f"ground_truth_{machine_type}_{tag}_test.csv"
    bases = [root, root.parent, type_dir, type_dir.parent]
    out: dict[str, Path] = {}
    for key, sub in (("label", "ground_truth_data"), ("domain", "ground_truth_domain")):
        for base in bases:
            for cand in (base / sub / name, base / name) if key == "label" else (base / sub / name,):
                if cand.is_file():
                    out.setdefault(key, cand)
    for base in bases:
        num = tag.split("_")[-1]
        cand = base / "ground_truth_attributes" / machine_type / f"attributes_{num}.csv"
        if cand.is_file():
            out.setdefault("attributes", cand)
    return out


def _read_attributes_csv(path: Path) -> dict[str, tuple[str, dict[str, str], str | None]]:
    """Read an ``attributes_XX.csv``: {file name: (attribute string, attributes, full name)}.

    Columns ``file_name``, then ``d1p, d1v, d2p, d2v, ...`` (parameter, value), and in
    the evaluator's copies ``file_name_with_full_attributes``.
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:
        raise DataError(f"{path}: cannot read attributes CSV ({err})") from err
    if "file_name" not in table.columns:
        raise DataError(f"{path}: attributes CSV has no 'file_name' column (expected file_name,d1p,d1v,...)")
    keys = [c for c in table.columns if re.fullmatch(r"d\d+p", c)]
    out = {}
    for _, row in table.iterrows():
        attrs = {row[k]: row[k[:-1] + "v"] for k in keys if row[k] and k[:-1] + "v" in table.columns}
        full = row.get("file_name_with_full_attributes") or None
        attr_string = "_".join(f"{k}_{v}" for k, v in attrs.items())
        out[Path(row["file_name"]).name] = (attr_string, attrs, Path(full).name if full else None)
    return out


def _index_type(root: Path, part: str, type_dir: Path, year: int | None) -> list[dict]:
    machine_type = type_dir.name
    rows: list[dict] = []
    attr_tables: dict[int, dict] = {}
    for csv in sorted(type_dir.glob("attributes_*.csv")):
        m = re.fullmatch(r"attributes_(\d+)\.csv", csv.name)
        if m:
            attr_tables[int(m[1])] = _read_attributes_csv(csv)
    for split in ("train", "test"):
        folder = type_dir / split
        if not folder.is_dir():
            continue
        wavs = []
        for f in sorted(folder.iterdir()):
            if f.name.startswith("."):
                continue
            if f.suffix.lower() != ".wav":
                warnings.warn(f"{f}: not a .wav file; not indexed", stacklevel=3)
                continue
            wavs.append(f)
        if not wavs:
            raise DataError(f"{folder}: folder holds no .wav clips (expected DCASE {split} clips)")
        for f in wavs:
            try:
                name = parse_clip_name(f.name)
            except ValueError as err:
                raise DataError(f"{f}: {err}") from None
            if name.split is not None and name.split != split:
                raise DataError(f"{f}: name says split '{name.split}' but the file is in '{split}/'")
            if split == "train" and name.label is None:
                raise DataError(f"{f}: training clips must be labelled normal in their name; {_EXPECTED}")
            table = attr_tables.get(name.section, {})
            if f.name in table and table[f.name][1]:  # the attributes CSV is authoritative
                attr_string, attrs = table[f.name][0], table[f.name][1]
            else:
                attr_string = name.attribute_string
                try:
                    attrs = parse_attributes(attr_string)
                except ValueError as err:
                    raise DataError(f"{f}: {err}; add an attributes_{name.section:02d}.csv row for it") from None
            rows.append({
                "path": str(f.resolve()),
                "file": f.name,
                "year": year if year is not None else name.year,
                "part": part,
                "machine_type": machine_type,
                "section": name.section,
                "domain": name.domain,
                "split": split,
                "label": name.label or "unknown",
                "attribute_string": attr_string,
                "attributes": attrs,
                "_layout": name.year,
            })
    if not rows:
        raise DataError(f"{type_dir}: no train/ or test/ clips found (expected {type_dir}/train/*.wav)")
    _apply_ground_truth(root, type_dir, machine_type, rows)
    return rows


def _apply_ground_truth(root: Path, type_dir: Path, machine_type: str, rows: list[dict]) -> None:
    """Fill label/domain/attributes of unlabelled test clips from evaluator files."""
    unlabelled = [r for r in rows if r["label"] == "unknown"]
    by_tag: dict[str, list[dict]] = {}
    for r in unlabelled:
        tag = f"section_{r['section']:02d}" if r["_layout"] == 2022 else f"id_{r['section']:02d}"
        by_tag.setdefault(tag, []).append(r)
    for tag, group in by_tag.items():
        files = _find_ground_truth(root, type_dir, machine_type, tag)
        if "label" not in files:
            continue  # no ground truth: labels stay 'unknown', as the data ships
        labels = _read_gt_csv(files["label"])
        domains = _read_gt_csv(files["domain"]) if "domain" in files else {}
        attrs = _read_attributes_csv(files["attributes"]) if "attributes" in files else {}
        on_disk = {r["file"] for r in group}
        missing = sorted(on_disk - set(labels))
        extra = sorted(set(labels) - on_disk)
        if missing or extra:
            raise DataError(
                f"{files['label']}: ground truth does not match {type_dir}/test/ "
                f"({len(missing)} clips without a label, e.g. {missing[:3]}; "
                f"{len(extra)} labelled files not on disk, e.g. {extra[:3]})"
            )
        for r in group:
            r["label"] = "anomaly" if labels[r["file"]] else "normal"
            if r["file"] in domains:
                r["domain"] = "target" if domains[r["file"]] else "source"
            if r["file"] in attrs:
                attr_string, parsed, full = attrs[r["file"]]
                if full:
                    full_name = parse_clip_name(full)
                    r["domain"] = r["domain"] or full_name.domain
                    attr_string = full_name.attribute_string or attr_string
                    parsed = parse_attributes(attr_string)
                r["attribute_string"], r["attributes"] = attr_string, parsed


def index_dataset(
    root: str | Path,
    machine_types: Iterable[str] | None = None,
    year: int | None = None,
) -> pd.DataFrame:
    """Index a DCASE data root: one row per clip, columns :data:`COLUMNS`.

    Parameters
    ----------
    root : folder holding machine-type folders, or ``dev_data/`` / ``eval_data/``.
    machine_types : keep only these types; a type that is not there raises DataError.
    year : the DCASE edition to record in the ``year`` column (e.g. 2023 for the
        2023 data, whose names follow 2022's). ``None`` = 2020 or 2022 from the names.

    Columns: ``path`` (absolute; the key), ``file``, ``year``, ``part`` (dev/eval),
    ``machine_type``, ``section`` (int; the machine ID for 2020), ``domain``
    (source/target, or None when unknown or for 2020), ``split`` (train/test),
    ``label`` (normal/anomaly/unknown), ``attribute_string`` (raw), ``attributes``
    (dict of key -> value strings).
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: data root does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: data root is not a folder")
    type_dirs = _type_dirs(root)
    if not type_dirs:
        raise DataError(
            f"{root}: no machine-type folders found (expected {root}/<type>/train/*.wav, "
            f"or {root}/dev_data/<type>/train/*.wav)"
        )
    available = sorted({d.name for _, d in type_dirs})
    if machine_types is not None:
        wanted = list(machine_types)
        unknown = [t for t in wanted if t not in available]
        if unknown:
            raise DataError(f"{root}: machine type(s) {unknown} not found; available: {available}")
        type_dirs = [(p, d) for p, d in type_dirs if d.name in wanted]
    rows = []
    for part, d in type_dirs:
        rows.extend(_index_type(root, part, d, year))
    layouts = {r["_layout"] for r in rows}
    if len(layouts) > 1:
        raise DataError(f"{root}: mixes DCASE 2020 and 2022 file names; index one edition at a time")
    table = pd.DataFrame(rows).drop(columns="_layout")
    table["section"] = table["section"].astype(int)
    table["year"] = table["year"].astype(int)
    return table[COLUMNS].sort_values(["machine_type", "part", "split", "section", "path"]).reset_index(drop=True)


def summarize(index: pd.DataFrame) -> pd.DataFrame:
    """Clip counts per machine type, section, split, domain and label."""
    table = index.assign(domain=index["domain"].fillna("-"))
    counts = (
        table.groupby(["machine_type", "section", "split", "domain", "label"])
        .size()
        .rename("clips")
        .reset_index()
    )
    return counts.pivot_table(
        index=["machine_type", "section"], columns=["split", "domain", "label"],
        values="clips", fill_value=0, aggfunc="sum",
    )


def attribute_table(index: pd.DataFrame) -> pd.DataFrame:
    """Expand the ``attributes`` dicts into one column per key (numeric where every value is).

    Useful for auxiliary tasks: categorical attributes for classification heads,
    numeric ones for regression heads. Missing keys are NaN.
    """
    table = pd.DataFrame(list(index["attributes"]), index=index.index)
    for col in table.columns:
        converted = pd.to_numeric(table[col], errors="coerce")
        if converted.notna().sum() == table[col].notna().sum():
            table[col] = converted
    return table
