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

* **DCASE 2021** (``year=2021``): the 2022 names with free-form attribute strings
  (``strength_1_ambient``, ``0_g_25_mm_2000_mV_none``: kept in ``attribute_string``,
  ``attributes`` stays empty); test clips in ``source_test/`` and ``target_test/``
  (read as ``test``; when a ``test/`` folder holds them too, as the baseline makes
  it, ``test/`` is read and the two are named in a warning); evaluation clips
  ``section_03_source_test_0000.wav`` keep their domain, and their labels come from
  ``ground_truth_<type>_section_03_<domain>_test.csv``.
* **DCASE 2023 to 2026** (pass the year): the 2022 names, one section per type. Hidden
  attributes (``noAttribute``, 2024 on) are revealed by the published correspondence
  tables ``attributes_<ss>_{train,test}_correspondence.csv`` (header
  ``source_file_name,target_file_name``: the full name, then the name on disk), looked
  for in the machine-type folder, then ``ground_truth_attributes/<type>/`` and
  ``ground_truth_attributes/dcase<year>t2/{dev,eval}_data/<type>/`` (the baselines'
  tree) under the root or its parent. The evaluators' attribute lists
  ``ground_truth_attributes/ground_truth_<type>_section_<ss>_test.csv`` (``eval
  name,full name`` or, 2024, ``eval name,full name_noAttribute,full name.wav``) give
  evaluation clips their attributes and domain. Without the evaluator's label files,
  ``eval_data_list_<year>.csv`` (the baselines' renaming list: a machine-type line,
  then ``eval name,full name`` lines), in the root, its parent or their ``datasets/``
  folder, gives labels, domains and attributes. A revealed name is parsed loosely
  (:func:`parse_revealed_attributes`).
* **DCASE 2025+**: a ``supplemental/`` folder beside ``train/`` and ``test/`` (clean
  machine sounds and noise recordings) is indexed as the split ``supplemental``
  (:func:`parse_supplemental_name`), never as training or test data.
* **DCASE 2026**: stereo clips (near microphone in channel 0, far in channel 1); the
  channel rule is :mod:`asdlib.data.audio`'s (``channel=``).

The official baselines (2023 on) unpack the data into ``dev_data/raw/<type>/`` and
``eval_data/raw/<type>/``: a root holding those is read like ``dev_data/<type>/``.
Their ``test_rename/`` folders (renamed copies of ``test/``) are named in a warning and
not indexed.

The extension may be written in any case (``.wav``, ``.WAV``, ``.Wav``); the rest
of a name is matched exactly.

The root may hold the machine-type folders directly, or ``dev_data/`` and
``eval_data/`` folders that hold them (the ``part`` column says which). A folder
is a machine-type folder when it holds ``train/`` or ``test/``. Which of the two
must be there:

* **development data** (``dev_data/<type>``, or ``<type>`` directly in the root,
  unless the root itself is named ``eval_data``): both ``train/`` and ``test/``, as
  every DCASE development download ships them; a missing one is a
  :class:`~asdlib.data.errors.DataError` naming it.
* **evaluation data** (``eval_data/<type>``): DCASE publishes its ``train/``
  ("additional training data") and its ``test/`` ("evaluation data") as separate
  downloads, months apart, so either alone is accepted; ``train/`` without
  ``test/`` warns, naming the folder, that no evaluation test clips are indexed.

A symbolic link in a ``train/`` or ``test/`` folder is followed; the ``path``
column keeps the link's own name (in the resolved folder), so later errors name
the DCASE file, and a dangling link is a DataError naming the link and its target.

Labels and domains of unlabelled evaluation clips come from the official
evaluator's ground-truth files when they are found in the documented places: the
root, its parent, the machine-type folder or the folder above it, each either
holding ``ground_truth_data/ground_truth_<type>_section_03_test.csv``
(``file,0|1``: normal/anomaly; the CSV may also sit there directly),
``ground_truth_domain/…`` (``file,0|1``: source/target), and
``ground_truth_attributes/<type>/attributes_03.csv`` (whose
``file_name_with_full_attributes`` column, ``file_name_with_attributes`` for the
Toy types, gives the full 2022 name). For 2020 the same files with ``id_05`` in
place of ``section_03`` are read. Without them the label is ``unknown`` and the
domain empty. The ground-truth files are looked for only there: when evaluation
test clips stay ``unknown`` while a file of the expected name lies elsewhere (up
to :data:`GT_SEARCH_DEPTH` folders below the root or its parent), a warning names
it and the documented places; it is not read, since a copy elsewhere may belong
to another edition or be stale. Move or link its ``ground_truth_data/`` folder
into the root or its parent.

Ground-truth CSVs may start with a UTF-8 byte-order mark. Their label and domain
files must list exactly the evaluation clips on disk: a missing or extra row is
a DataError naming the CSV and files, a malformed line one naming the CSV and the
line number. Rows of an attributes CSV are read by header name when they have as
many fields as the header; a row with fewer or more fields (the official DCASE
2022 valve ``attributes_05.csv`` has rows with one attribute pair less, whose full
name lands under ``d2p``) is read by position instead: ``file_name`` by its
header position, the one other field ending in ``.wav`` as the full name, and the
remaining non-empty fields, in order, as ``parameter, value`` pairs. A row whose
leftover fields cannot be paired, or that holds two different full names, is a
DataError naming the CSV and the line.

Nothing is dropped silently: a ``.wav`` name that fits no layout, an empty or
missing folder, a machine type that is not there, or ground truth that disagrees
with the files on disk raises :class:`~asdlib.data.errors.DataError` naming the file
or folder and what was expected.
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd

from asdlib.data.errors import DataError

TYPES_2020 = ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
TYPES_2022 = ("ToyCar", "ToyTrain", "bearing", "fan", "gearbox", "slider", "valve")
EVAL_TYPES_FIRST_SHOT = {
    2023: ("ToyDrone", "ToyNscale", "ToyTank", "Vacuum", "bandsaw", "grinder", "shaker"),
    2024: ("3DPrinter", "AirCompressor", "BrushlessMotor", "HairDryer", "HoveringDrone", "RoboticArm", "Scanner",
           "ToothBrush", "ToyCircuit"),
    2025: ("AutoTrash", "BandSealer", "CoffeeGrinder", "HomeCamera", "Polisher", "ScrewFeeder", "ToyPet", "ToyRCCar"),
}
"""The evaluation machine types of the first-shot editions (one section each, ``section_00``);
their development types are :data:`TYPES_2022`'s."""

COLUMNS = [
    "path", "file", "year", "part", "machine_type", "section", "domain",
    "split", "label", "attribute_string", "attributes",
]

GT_SEARCH_DEPTH = 3
"""How many folders below the root and its parent a misplaced ground-truth file is looked for."""

_GT_SEARCH_MAX_DIRS = 5000  # and at most this many folders visited per index

_WAV = r"\.(?i:wav)"
_RE_2020 = re.compile(rf"^(?P<label>normal|anomaly)_id_(?P<section>\d+)_(?P<num>\d+){_WAV}$")
_RE_2020_EVAL = re.compile(rf"^id_(?P<section>\d+)_(?P<num>\d+){_WAV}$")
_RE_2022 = re.compile(
    r"^section_(?P<section>\d+)_(?P<domain>source|target)_(?P<split>train|test)_"
    rf"(?P<label>normal|anomaly)_(?P<num>\d+)(?:_(?P<attrs>.*))?{_WAV}$"
)
_RE_2022_EVAL = re.compile(rf"^section_(?P<section>\d+)_(?:test_)?(?P<num>\d+){_WAV}$")
_RE_2021_EVAL = re.compile(rf"^section_(?P<section>\d+)_(?P<domain>source|target)_test_(?P<num>\d+){_WAV}$")
_RE_SUPPLEMENTAL = re.compile(rf"^section_(?P<section>\d+)_(?P<body>.+){_WAV}$")

YEARS = (2020, 2021, 2022, 2023, 2024, 2025, 2026)
"""The DCASE Task 2 editions whose layouts :func:`index_dataset` reads."""

SPLITS = ("train", "test", "supplemental")
"""The ``split`` values of an index: ``supplemental`` is the DCASE 2025 folder of clean
machine sounds and noise recordings, a split of its own (never training or test data)."""

_EXPECTED = (
    "expected DCASE names: 2020 '{normal,anomaly}_id_00_00000000.wav' or 'id_05_00000000.wav'; "
    "2021+ 'section_00_{source,target}_{train,test}_{normal,anomaly}_0000_<attrs>.wav', "
    "'section_03_0000.wav' or (2021) 'section_03_source_test_0000.wav'"
)

_FULL_NAME_COLUMNS = ("file_name_with_full_attributes", "file_name_with_attributes")


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


def parse_revealed_attributes(attr_string: str | None) -> dict[str, str]:
    """Parse the attribute string of a *revealed* full name (correspondence tables, the
    evaluators' attribute lists), which is looser than a file on disk: empty tokens are
    dropped (``ac_0.03_`` is ``{'ac': '0.03'}``) and a last token without a value (the
    anomalous clips of some 2024 types end in ``damage1``) is kept under the key ``tail``.

    >>> parse_revealed_attributes("pro_A_wt_200_damage1")
    {'pro': 'A', 'wt': '200', 'tail': 'damage1'}
    """
    if not attr_string or attr_string == "noAttribute":
        return {}
    tokens = [t for t in attr_string.split("_") if t]
    out = dict(zip(tokens[0:len(tokens) - 1:2], tokens[1::2]))
    if len(tokens) % 2:
        out["tail"] = tokens[-1]
    return out


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
    """Parse a DCASE clip file name (extension in any case); raise ValueError if it fits no layout.

    ``year`` is the name's family: 2020, or 2022 for every later edition (2021's names
    are 2022's, plus the evaluation names ``section_03_source_test_0000.wav`` that keep
    the domain).
    """
    if m := _RE_2022.match(name):
        return ClipName(2022, int(m["section"]), m["split"], m["domain"], m["label"], m["attrs"] or "")
    if m := _RE_2022_EVAL.match(name):
        return ClipName(2022, int(m["section"]), "test", None, None, "")
    if m := _RE_2021_EVAL.match(name):
        return ClipName(2022, int(m["section"]), "test", m["domain"], None, "")
    if m := _RE_2020.match(name):
        return ClipName(2020, int(m["section"]), None, None, m["label"], "")
    if m := _RE_2020_EVAL.match(name):
        return ClipName(2020, int(m["section"]), "test", None, None, "")
    raise ValueError(f"file name {name!r} fits no DCASE layout; {_EXPECTED}")


def parse_supplemental_name(name: str) -> tuple[int, str, str | None, str]:
    """``(section, kind, domain, attribute string)`` of a DCASE 2025 ``supplemental/`` clip.

    Its name starts with ``section_<ss>_`` and carries the token ``machine`` (a clean
    machine sound) or ``noise`` (a noise-only recording), e.g.
    ``section_00_machine_source_0000_noAttribute.wav``; ``source``/``target`` give the
    domain when present; what follows the clip number is the attribute string. A
    ValueError says what is missing.
    """
    m = _RE_SUPPLEMENTAL.match(name)
    if not m:
        raise ValueError(f"supplemental clip name {name!r} does not start with 'section_<ss>_'")
    tokens = m["body"].split("_")
    kinds = [t for t in tokens if t in ("machine", "noise")]
    if len(set(kinds)) != 1:
        raise ValueError(f"supplemental clip name {name!r} carries neither 'machine' nor 'noise' "
                         "(clean machine sound or noise recording)")
    domains = [t for t in tokens if t in ("source", "target")]
    numbers = [i for i, t in enumerate(tokens) if t.isdigit()]
    attrs = "_".join(tokens[numbers[0] + 1:]) if numbers else ""
    return int(m["section"]), kinds[0], domains[0] if domains else None, attrs


def _is_wav_name(text: str) -> bool:
    return text.lower().endswith(".wav")


def _clip_key(name: str) -> str:
    """A file name as ground truth and disk are matched: the last path component, ``.wav`` lower-cased."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] + ".wav" if _is_wav_name(name) else name


_TEST_DIRS_2021 = ("source_test", "target_test")
_CLIP_DIRS = ("train", "test", "supplemental") + _TEST_DIRS_2021


def _is_type_dir(d: Path) -> bool:
    return d.is_dir() and any((d / sub).is_dir() for sub in _CLIP_DIRS)


def _type_dirs(root: Path) -> list[tuple[str, Path]]:
    """(part, machine-type folder) pairs under ``root``.

    ``<root>/{dev,eval}_data/<type>``, the official baselines' ``<root>/{dev,eval}_data/raw/<type>``
    (2023 on), or ``<root>/<type>``.
    """
    parts = []
    for p in ("dev", "eval"):
        base = root / f"{p}_data"
        if (base / "raw").is_dir() and not _is_type_dir(base / "raw"):
            base = base / "raw"
        if base.is_dir():
            parts.append((p, base))
    if not parts:
        parts = [("dev", root)]
    found = []
    for part, base in parts:
        for d in sorted(base.iterdir()):
            if _is_type_dir(d):
                found.append((part, d))
    return found


def _is_evaluation(part: str, type_dir: Path) -> bool:
    parent = type_dir.parent
    return part == "eval" or parent.name == "eval_data" or (parent.name == "raw" and parent.parent.name == "eval_data")


def _read_csv_rows(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows of a CSV file as ``(line number, stripped fields)``; a UTF-8 BOM is dropped."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = []
            reader = csv.reader(fh)
            for fields in reader:
                if any(f.strip() for f in fields):
                    rows.append((reader.line_num, [f.strip() for f in fields]))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read {what} ({err})") from err


def _read_gt_csv(path: Path, kind: str = "label") -> dict[str, int]:
    """Read an evaluator CSV of ``file,0|1`` lines (no header) into {file name: 0|1}.

    Keys are :func:`_clip_key` names. A short line, a value other than 0 or 1, or a
    file listed twice is a DataError naming the CSV and the line.
    """
    out: dict[str, int] = {}
    for lineno, fields in _read_csv_rows(path, f"{kind} ground truth"):
        if len(fields) < 2 or not fields[0]:
            raise DataError(f"{path}, line {lineno}: expected 'file,0|1' ({kind} ground truth), got {fields!r}")
        if fields[1] not in ("0", "1", "0.0", "1.0"):
            raise DataError(
                f"{path}, line {lineno}: {kind} must be 0 or 1, got {fields[1]!r} "
                "(ground-truth CSVs have lines 'file,0|1' and no header)"
            )
        key = _clip_key(fields[0])
        if key in out:
            raise DataError(f"{path}, line {lineno}: file {key!r} is listed twice")
        out[key] = int(float(fields[1]))
    if not out:
        raise DataError(f"{path}: {kind} ground truth has no rows (expected lines 'file,0|1')")
    return out


class _GroundTruthSearch:
    """Ground-truth files named ``ground_truth_*_test.csv`` in a bounded walk below some folders.

    Walked once, on the first question: at most :data:`GT_SEARCH_DEPTH` folders deep,
    at most ``_GT_SEARCH_MAX_DIRS`` folders in all, not into hidden folders, symbolic
    links or the ``train/``/``test/`` audio folders.
    """

    def __init__(self, bases: Iterable[Path]) -> None:
        self.bases = list(dict.fromkeys(Path(os.path.abspath(b)) for b in bases))
        self._found: dict[str, list[Path]] | None = None

    def _walk(self) -> dict[str, list[Path]]:
        found: dict[str, list[Path]] = {}
        seen: set[str] = set()
        visited = 0
        for base in self.bases:
            if base.parent == base:
                continue  # never walk a whole file system from its root
            for here, dirs, files in os.walk(base):
                if here in seen:
                    dirs[:] = []
                    continue
                seen.add(here)
                visited += 1
                for name in files:
                    if name.startswith("ground_truth_") and name.endswith("_test.csv"):
                        found.setdefault(name, []).append(Path(here) / name)
                if visited >= _GT_SEARCH_MAX_DIRS:
                    return found
                if len(Path(here).relative_to(base).parts) >= GT_SEARCH_DEPTH:
                    dirs[:] = []
                else:
                    dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("train", "test"))
        return found

    def elsewhere(self, name: str, documented: Iterable[Path]) -> list[Path]:
        """Files called ``name`` found by the walk outside the ``documented`` paths."""
        if self._found is None:
            self._found = self._walk()
        skip = {os.path.abspath(p) for p in documented}
        return sorted({p for p in self._found.get(name, []) if os.path.abspath(p) not in skip})


def _gt_places(root: Path, type_dir: Path, machine_type: str, tag: str) -> dict[str, list[Path]]:
    """The documented places of the ground-truth files of one machine type and section tag, in order."""
    name = f"ground_truth_{machine_type}_{tag}_test.csv"
    bases = list(dict.fromkeys([root, root.parent, type_dir, type_dir.parent]))
    num = tag.split("_")[1]
    return {
        "label": [c for b in bases for c in (b / "ground_truth_data" / name, b / name)],
        "domain": [b / "ground_truth_domain" / name for b in bases],
        "attributes": [b / "ground_truth_attributes" / machine_type / f"attributes_{num}.csv" for b in bases],
        "attribute_list": [b / "ground_truth_attributes" / name for b in bases],
    }


def _find_ground_truth(root: Path, type_dir: Path, machine_type: str, tag: str) -> dict[str, Path]:
    """Locate the evaluator's ground-truth files for one machine type and section tag."""
    out: dict[str, Path] = {}
    for key, places in _gt_places(root, type_dir, machine_type, tag).items():
        for cand in places:
            if cand.is_file():
                out[key] = cand
                break
    return out


def _read_attributes_csv(path: Path) -> dict[str, tuple[str, dict[str, str], str | None]]:
    """Read an ``attributes_XX.csv``: {file name: (attribute string, attributes, full name)}.

    Columns ``file_name``, then ``d1p, d1v, d2p, d2v, ...`` (parameter, value), and in
    the evaluator's copies ``file_name_with_full_attributes`` (``file_name_with_attributes``
    for ToyCar and ToyTrain). Rows with as many fields as the header are read by
    column name; others by position (see the module doc). Keys are :func:`_clip_key` names.
    """
    rows = _read_csv_rows(path, "attributes CSV")
    if not rows or "file_name" not in rows[0][1]:
        raise DataError(f"{path}: attributes CSV has no 'file_name' column (expected file_name,d1p,d1v,...)")
    _, header = rows[0]
    i_file = header.index("file_name")
    full_cols = [header.index(c) for c in _FULL_NAME_COLUMNS if c in header]
    nums = sorted(int(m[1]) for c in header if (m := re.fullmatch(r"d(\d+)p", c)))
    pair_cols = [(header.index(f"d{k}p"), header.index(f"d{k}v")) for k in nums if f"d{k}v" in header]
    out = {}
    for lineno, fields in rows[1:]:
        where = f"{path}, line {lineno}"
        if len(fields) <= i_file or not fields[i_file]:
            raise DataError(f"{where}: no file name in the 'file_name' column")
        if len(fields) == len(header):  # by column name
            fulls = [fields[i] for i in full_cols if fields[i]]
            pairs = []
            for p, v in pair_cols:
                if _is_wav_name(fields[p]):  # a full name shifted into an attribute column
                    fulls.append(fields[p])
                elif fields[p]:
                    pairs.append((fields[p], fields[v]))
        else:  # by position: the .wav field is the full name, the rest parameter/value pairs
            others = [f for j, f in enumerate(fields) if j != i_file and f]
            fulls = [f for f in others if _is_wav_name(f)]
            rest = [f for f in others if not _is_wav_name(f)]
            if len(rest) % 2:
                raise DataError(
                    f"{where}: {len(fields)} fields for a header of {len(header)}, and the fields "
                    f"{rest} are not parameter,value pairs"
                )
            pairs = list(zip(rest[::2], rest[1::2]))
        if len({_clip_key(f) for f in fulls}) > 1:
            raise DataError(f"{where}: two different full file names {fulls}")
        attrs = dict(pairs)
        attr_string = "_".join(f"{k}_{v}" for k, v in attrs.items())
        out[_clip_key(fields[i_file])] = (attr_string, attrs, _clip_key(fulls[0]) if fulls else None)
    return out


def _list_wavs(folder: Path, split: str) -> list[Path]:
    """The ``.wav`` files of a train/ or test/ folder, sorted; others warn; dangling links raise."""
    wavs = []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            f = folder / entry.name
            if entry.is_symlink() and not f.exists():
                raise DataError(
                    f"{f}: dangling symbolic link (it points to {os.readlink(f)}, which does not exist)"
                )
            if not _is_wav_name(entry.name):
                warnings.warn(f"{f}: not a .wav file; not indexed", stacklevel=4)
                continue
            wavs.append(f)
    if not wavs:
        raise DataError(f"{folder}: folder holds no .wav clips (expected DCASE {split} clips)")
    return wavs


def _clip_folders(type_dir: Path) -> list[tuple[str, Path]]:
    """(split, folder) pairs of a machine-type folder, in order; folders that duplicate
    others (the baselines' ``test_rename/``, 2021's ``source_test/`` and ``target_test/``
    beside a ``test/`` that holds them) warn, naming them, and are not indexed."""
    folders = [("train", type_dir / "train")] if (type_dir / "train").is_dir() else []
    split_2021 = [type_dir / d for d in _TEST_DIRS_2021 if (type_dir / d).is_dir()]
    if (type_dir / "test").is_dir():
        folders.append(("test", type_dir / "test"))
        if split_2021:
            warnings.warn(
                f"{', '.join(map(str, split_2021))}: not indexed: {type_dir}/test holds the test clips (the DCASE "
                "2021 baseline copies source_test/ and target_test/ into test/)", stacklevel=4)
    else:
        folders += [("test", d) for d in split_2021]
    if (type_dir / "test_rename").is_dir():
        warnings.warn(
            f"{type_dir}/test_rename: not indexed: it holds the baselines' renamed copies of test/ (labels in the "
            "names); the test clips are indexed from test/, with labels from the evaluator's ground truth or "
            "eval_data_list_<year>.csv when found", stacklevel=4)
    if (type_dir / "supplemental").is_dir():
        folders.append(("supplemental", type_dir / "supplemental"))
    return folders


def _supplemental_row(f: Path, year: int | None) -> dict:
    try:
        section, kind, domain, attr_string = parse_supplemental_name(f.name)
    except ValueError as err:
        raise DataError(f"{f}: {err}") from None
    return {"section": section, "domain": domain, "label": "normal" if kind == "machine" else "noise",
            "attribute_string": attr_string, "attributes": _attributes(f, attr_string, year, section),
            "_layout": 2022}


def _attributes(f: Path, attr_string: str, year: int | None, section: int) -> dict[str, str]:
    """The attributes of a name: key_value pairs; 2021's free-form strings are not pairs (``{}``)."""
    if year == 2021:
        return {}
    try:
        return parse_attributes(attr_string)
    except ValueError as err:
        raise DataError(f"{f}: {err}; add an attributes_{section:02d}.csv row for it") from None


def _index_type(root: Path, part: str, type_dir: Path, year: int | None,
                search: _GroundTruthSearch | None = None) -> list[dict]:
    machine_type = type_dir.name
    rows: list[dict] = []
    attr_tables: dict[int, dict] = {}
    for csv_path in sorted(type_dir.glob("attributes_*.csv")):
        m = re.fullmatch(r"attributes_(\d+)\.csv", csv_path.name)
        if m:
            attr_tables[int(m[1])] = _read_attributes_csv(csv_path)
    for split, folder in _clip_folders(type_dir):
        resolved = folder.resolve()  # the folder resolved, the file keeping its name in the tree
        for f in _list_wavs(folder, split):
            base = {"path": str(resolved / f.name), "file": f.name, "year": year, "part": part,
                    "machine_type": machine_type, "split": split}
            if split == "supplemental":
                rows.append({**base, **_supplemental_row(f, year)})
                continue
            try:
                name = parse_clip_name(f.name)
            except ValueError as err:
                raise DataError(f"{f}: {err}") from None
            if name.split is not None and name.split != split:
                raise DataError(f"{f}: name says split '{name.split}' but the file is in '{split}/'")
            if split == "train" and name.label is None:
                raise DataError(f"{f}: training clips must be labelled normal in their name; {_EXPECTED}")
            if folder.name in _TEST_DIRS_2021 and name.domain not in (None, folder.name.split("_")[0]):
                raise DataError(f"{f}: name says domain '{name.domain}' but the file is in '{folder.name}/'")
            table = attr_tables.get(name.section, {})
            entry = table.get(_clip_key(f.name))
            if entry and entry[1]:  # the attributes CSV is authoritative
                attr_string, attrs = entry[0], entry[1]
            else:
                attr_string = name.attribute_string
                attrs = _attributes(f, attr_string, year, name.section)
            rows.append({
                **base,
                "year": year if year is not None else name.year,
                "section": name.section,
                "domain": name.domain,
                "label": name.label or "unknown",
                "attribute_string": attr_string,
                "attributes": attrs,
                "_layout": name.year,
            })
    if not rows:
        raise DataError(f"{type_dir}: no train/ or test/ clips found (expected {type_dir}/train/*.wav)")
    for r in rows:
        if r["year"] is None:
            r["year"] = r["_layout"]
    _check_splits(part, type_dir)
    _apply_correspondence(root, part, type_dir, year, rows)
    _apply_ground_truth(root, type_dir, machine_type, rows, search, year)
    return rows


def _check_splits(part: str, type_dir: Path) -> None:
    """Development data needs train/ and test/; evaluation data either (module doc)."""
    has_train = (type_dir / "train").is_dir()
    has_test = (type_dir / "test").is_dir() or all((type_dir / d).is_dir() for d in _TEST_DIRS_2021)
    evaluation = _is_evaluation(part, type_dir)
    if evaluation:
        if not has_test:
            warnings.warn(
                f"{type_dir}: no test/ folder; only its train/ clips (the additional training data) are "
                "indexed: the evaluation test clips come in a separate download",
                stacklevel=4,
            )
        return
    for split, present in (("train", has_train), ("test", has_test)):
        if not present:
            raise DataError(
                f"{type_dir}/{split}: folder missing (expected {type_dir}/{split}/*.wav: development data has "
                "train/ and test/ for every machine type; evaluation data belongs in eval_data/)"
            )


def _gt_tag(row: dict, year: int | None) -> str:
    """The evaluator's file tag of an unlabelled clip: ``id_05``, ``section_03`` or (2021) ``section_03_source``."""
    if row["_layout"] == 2020:
        return f"id_{row['section']:02d}"
    if year == 2021 and row["domain"]:
        return f"section_{row['section']:02d}_{row['domain']}"
    return f"section_{row['section']:02d}"


def _apply_full_name(row: dict, full: str, where: str) -> None:
    """Fill an unlabelled clip's label, domain and attributes from its full DCASE name."""
    try:
        name = parse_clip_name(full)
    except ValueError as err:
        raise DataError(f"{where}: full name of {row['file']}: {err}") from None
    if row["label"] == "unknown" and name.label:
        row["label"] = name.label
    elif name.label and name.label != row["label"]:
        raise DataError(f"{where}: {row['file']} is {row['label']!r} on disk but {full!r} says {name.label!r}")
    row["domain"] = row["domain"] or name.domain
    if name.attribute_string and name.attribute_string != "noAttribute":
        row["attribute_string"] = name.attribute_string
        row["attributes"] = parse_revealed_attributes(name.attribute_string)


def _apply_ground_truth(root: Path, type_dir: Path, machine_type: str, rows: list[dict],
                        search: _GroundTruthSearch | None = None, year: int | None = None) -> None:
    """Fill label/domain/attributes of unlabelled test clips from evaluator files."""
    unlabelled = [r for r in rows if r["label"] == "unknown" and r["split"] == "test"]
    by_tag: dict[str, list[dict]] = {}
    for r in unlabelled:
        by_tag.setdefault(_gt_tag(r, year), []).append(r)
    missing: list[dict] = []
    for tag, group in by_tag.items():
        files = _find_ground_truth(root, type_dir, machine_type, tag)
        if "label" not in files:  # no ground truth: an eval list, or labels stay 'unknown', as the data ships
            missing += group
            continue
        labels = _read_gt_csv(files["label"], "label")
        on_disk = {_clip_key(r["file"]) for r in group}
        _check_gt_files(files["label"], labels, on_disk, type_dir)
        domains: dict[str, int] = {}
        if "domain" in files:
            domains = _read_gt_csv(files["domain"], "domain")
            _check_gt_files(files["domain"], domains, on_disk, type_dir)
        elif group[0]["_layout"] == 2022 and not all(r["domain"] for r in group):
            places = _gt_places(root, type_dir, machine_type, tag)["domain"]
            warnings.warn(
                f"{files['label']}: labels read, but no domain ground truth found "
                f"(looked for {', '.join(map(str, places))}); the domains of {len(group)} evaluation "
                f"clips of {type_dir}/test stay empty unless an attributes file gives them",
                stacklevel=4,
            )
        attrs = _read_attributes_csv(files["attributes"]) if "attributes" in files else {}
        full_names = _read_attribute_list(files["attribute_list"]) if "attribute_list" in files else {}
        for r in group:
            key = _clip_key(r["file"])
            r["label"] = "anomaly" if labels[key] else "normal"
            if key in domains:
                r["domain"] = "target" if domains[key] else "source"
            if key in full_names:
                _apply_full_name(r, full_names[key], str(files["attribute_list"]))
            if key in attrs:
                attr_string, parsed, full = attrs[key]
                if full:
                    try:
                        full_name = parse_clip_name(full)
                        full_parsed = parse_attributes(full_name.attribute_string)
                    except ValueError as err:
                        raise DataError(f"{files['attributes']}: full name of {r['file']}: {err}") from None
                    r["domain"] = r["domain"] or full_name.domain
                    if full_name.attribute_string:
                        attr_string, parsed = full_name.attribute_string, full_parsed
                r["attribute_string"], r["attributes"] = attr_string, parsed
    if missing:
        _apply_eval_list(root, type_dir, machine_type, missing, search, year)


def _read_attribute_list(path: Path) -> dict[str, str]:
    """The 2023/2024 evaluators' ``ground_truth_attributes/ground_truth_<type>_section_<ss>_test.csv``:
    lines ``<eval name>.wav,<full name>`` (no ``.wav``, no header) or, for the 2024 types whose
    names hide their attributes, ``<eval name>.wav,<full name>_noAttribute,<full name with
    the attributes>.wav``. Returns {eval name: full name}, the last column winning."""
    out = {}
    for lineno, fields in _read_csv_rows(path, "attribute list"):
        names = [f for f in fields if f]
        if len(names) < 2:
            raise DataError(f"{path}, line {lineno}: expected '<eval name>.wav,<full name>[,<full name>.wav]', "
                            f"got {fields!r}")
        full = names[-1] if _is_wav_name(names[-1]) else names[-1] + ".wav"
        out[_clip_key(names[0])] = full
    return out


def _eval_list_places(root: Path, year: int) -> list[Path]:
    name = f"eval_data_list_{year}.csv"
    return [b / d / name for b in dict.fromkeys([root, root.parent]) for d in (".", "datasets")]


def _read_eval_list(path: Path) -> dict[str, dict[str, str]]:
    """The baselines' ``eval_data_list_<year>.csv``: a line with one field names a machine
    type, the lines below it ``<eval name>,<full name>``. {type: {eval name: full name}}."""
    out: dict[str, dict[str, str]] = {}
    current = None
    for lineno, fields in _read_csv_rows(path, "evaluation data list"):
        names = [f for f in fields if f]
        if len(names) == 1:
            current = out.setdefault(names[0], {})
        elif len(names) == 2 and current is not None:
            current[_clip_key(names[0])] = _clip_key(names[1])
        else:
            raise DataError(f"{path}, line {lineno}: expected a machine type or '<eval name>,<full name>', "
                            f"got {fields!r}")
    return out


def _apply_eval_list(root: Path, type_dir: Path, machine_type: str, group: list[dict],
                     search: _GroundTruthSearch | None, year: int | None) -> None:
    """Label evaluation clips from ``eval_data_list_<year>.csv`` (the baselines' renaming
    list), when the evaluator's ground truth is not there; else warn as before."""
    list_year = year if year is not None else group[0]["_layout"]
    path = next((p for p in _eval_list_places(root, list_year) if p.is_file()), None)
    table = _read_eval_list(path).get(machine_type) if path is not None else None
    if table is None:
        by_tag: dict[str, int] = {}
        for r in group:
            by_tag[_gt_tag(r, year)] = by_tag.get(_gt_tag(r, year), 0) + 1
        for tag, n in by_tag.items():
            _warn_if_ground_truth_elsewhere(root, type_dir, machine_type, tag, n, search)
        return
    on_disk = {_clip_key(r["file"]) for r in group}
    missing = sorted(on_disk - set(table))
    if missing:
        raise DataError(f"{path}: lists no full name for {len(missing)} evaluation clips of {type_dir}, "
                        f"e.g. {missing[:3]}")
    for r in group:
        _apply_full_name(r, table[_clip_key(r["file"])], str(path))


def _correspondence_folders(root: Path, part: str, type_dir: Path, year: int | None) -> list[Path]:
    machine_type = type_dir.name
    folders = [type_dir]
    for base in dict.fromkeys([root, root.parent]):
        gt = base / "ground_truth_attributes"
        folders.append(gt / machine_type)
        if year is not None:
            folders.append(gt / f"dcase{year}t2" / f"{part}_data" / machine_type)
    return folders


def _read_correspondence(path: Path) -> dict[str, str]:
    """A correspondence table (``source_file_name,target_file_name``): {name on disk: full name}."""
    rows = _read_csv_rows(path, "correspondence table")
    if not rows or rows[0][1][:2] != ["source_file_name", "target_file_name"]:
        raise DataError(f"{path}: a correspondence table starts with the header "
                        "'source_file_name,target_file_name'")
    out = {}
    for lineno, fields in rows[1:]:
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise DataError(f"{path}, line {lineno}: expected '<full name>,<name on disk>', got {fields!r}")
        out[_clip_key(fields[1])] = fields[0]
    return out


def _apply_correspondence(root: Path, part: str, type_dir: Path, year: int | None, rows: list[dict]) -> None:
    """Reveal hidden attributes (``noAttribute`` names, 2024 on) from the published
    correspondence tables ``attributes_<ss>_{train,test}_correspondence.csv``."""
    for folder in _correspondence_folders(root, part, type_dir, year):
        tables = sorted(folder.glob("attributes_*_correspondence.csv")) if folder.is_dir() else []
        if not tables:
            continue
        for path in tables:
            m = re.fullmatch(r"attributes_(\d+)_(train|test)_correspondence\.csv", path.name)
            if not m:
                raise DataError(f"{path}: expected a name 'attributes_<ss>_{{train,test}}_correspondence.csv'")
            section, split = int(m[1]), m[2]
            table = _read_correspondence(path)
            for r in rows:
                if r["split"] == split and r["section"] == section and _clip_key(r["file"]) in table:
                    _apply_full_name(r, table[_clip_key(r["file"])], str(path))
        return


def _check_gt_files(csv_path: Path, table: dict[str, int], on_disk: set[str], type_dir: Path) -> None:
    """DataError naming the CSV and files when a ground-truth CSV and the clips on disk differ."""
    missing = sorted(on_disk - set(table))
    extra = sorted(set(table) - on_disk)
    if missing or extra:
        raise DataError(
            f"{csv_path}: ground truth does not match {type_dir}/test/ "
            f"({len(missing)} clips without a row, e.g. {missing[:3]}; "
            f"{len(extra)} rows for files not on disk, e.g. {extra[:3]})"
        )


def _warn_if_ground_truth_elsewhere(root: Path, type_dir: Path, machine_type: str, tag: str, n_clips: int,
                                    search: _GroundTruthSearch | None) -> None:
    """Warn when a label file of the expected name lies outside the documented places."""
    if search is None:
        search = _GroundTruthSearch([root, root.parent])
    name = f"ground_truth_{machine_type}_{tag}_test.csv"
    places = _gt_places(root, type_dir, machine_type, tag)["label"]
    found = [p for p in search.elsewhere(name, places) if p.parent.name != "ground_truth_domain"]
    if found:
        bases = ", ".join(dict.fromkeys(str(p.parent) for p in places[1::2]))
        warnings.warn(
            f"{type_dir}/test: {n_clips} evaluation clips of {tag} stay labelled 'unknown': {name} is not in "
            f"the documented places ({bases}, or their ground_truth_data/ folders), but {found[0]}"
            f"{f' (and {len(found) - 1} more)' if len(found) > 1 else ''} has the expected name and is not "
            f"read; move or link its folder into {root} or {root.parent}",
            stacklevel=5,
        )


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
    year : the DCASE edition (one of :data:`YEARS`), recorded in the ``year`` column; it
        decides what is read beyond the names (module doc): 2021's free-form attribute
        strings, ``eval_data_list_<year>.csv``, the ``dcase<year>t2`` correspondence
        tables. ``None`` = 2020 or 2022 from the names.

    Columns: ``path`` (absolute, the key: the folder with its symbolic links
    resolved, the file with its name in the tree), ``file``, ``year``, ``part`` (dev/eval),
    ``machine_type``, ``section`` (int; the machine ID for 2020), ``domain``
    (source/target, or None when unknown or for 2020), ``split`` (train/test, or
    supplemental for the 2025+ ``supplemental/`` folder), ``label``
    (normal/anomaly/unknown; supplemental clips: normal for a clean machine sound,
    noise for a noise recording), ``attribute_string`` (raw), ``attributes`` (dict of
    key -> value strings).

    Which folders must exist, where ground truth is read from, and what is an error
    or a warning: see the module doc (:mod:`asdlib.data.layout`).
    """
    if year is not None and year not in YEARS:
        raise ValueError(f"year={year!r}: the DCASE Task 2 editions read are {', '.join(map(str, YEARS))}")
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: data root does not exist")
    if not root.is_dir():
        raise DataError(f"{root}: data root is not a folder")
    root = Path(os.path.abspath(root))  # so that root.parent is the folder above, also for '.'
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
    search = _GroundTruthSearch([root, root.parent])  # walked only if some ground truth is not found
    for part, d in type_dirs:
        rows.extend(_index_type(root, part, d, year, search))
    layouts = {r["_layout"] for r in rows}
    if len(layouts) > 1:
        raise DataError(f"{root}: mixes DCASE 2020 and 2022 file names; index one edition at a time")
    if year is not None and (year == 2020) != (layouts == {2020}):
        found = "2020" if layouts == {2020} else "2021+"
        raise DataError(f"{root}: year={year} but the files follow the DCASE {found} naming; "
                        "pass the year that matches the data")
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
