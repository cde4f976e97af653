"""Class targets from the clip index: sections, auxiliary classes, attribute tasks.

Every classifier of the book learns labels read from the clip index (one row per
clip, :func:`asdlib.data.index_dataset`). This module is where rows become targets,
all coded by one rule (:func:`class_codes`): the classes are the sorted distinct
labels of the training rows and a label's code is its position among them.

- :func:`section_codes`: machine type x section, USTC's section classes (paper 002,
  eq. 5);
- :func:`auxiliary_classes`: machine type x section x attribute string (x domain).
  Wilkinghoff (paper 003, Sec. 2.2 and 3) trains one classifier over "all machine
  types, sections and different attribute information ... (in each case both
  domains)": 342 classes on DCASE 2022; the reference code joins
  ``<type>_<section>``, the attribute part of the file name and the source flag.
  Without the domain these are USTC's auxiliary attribute classes;
- :func:`section_task`, :func:`attribute_tasks`, :func:`encode_targets`
  (:class:`AttributeTask`): AITHU's SC and MHCR targets for one machine type
  (paper 000, Sec. 3.1.1): the section, then one classification or regression task
  per attribute.

Codes are numpy int64 arrays (:func:`section_codes`, :func:`auxiliary_classes`) or,
for the tasks, torch tensors as :func:`asdlib.train.classifier.train_classifier`
takes them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from asdlib.data.layout import parse_attributes

_REQUIRED = ("machine_type", "section", "attribute_string")


def class_codes(keys: Sequence[Hashable | None], classes: Sequence[Hashable]) -> np.ndarray:
    """The code of each key: its position in ``classes``; ``-1`` for ``None`` or a key not among them.

    Returns an int64 array ``(len(keys),)``. With ``classes`` the sorted distinct keys
    of the training rows, the same set of classes always gets the same codes,
    whatever the row order.
    """
    code_of = {k: i for i, k in enumerate(classes)}
    return np.fromiter((-1 if k is None else code_of.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))


def section_codes(index: pd.DataFrame, names: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Section classes of the USTC classifier from a clip index: machine type x section.

    ``names`` ``"<type>/section_<ss>"`` are numbered in sorted order (type, section as
    an integer), or taken from ``names`` (pass the training names to code test clips
    the same way; a section not in ``names`` raises). For one machine type these are
    its sections (the paper trains on sections 00-05 of the development and additional
    training sets). The auxiliary attribute classes (eq. 5) are
    :func:`auxiliary_classes` with ``include_domain=False``
    (type x section x attribute string).

    Returns:
        ``(codes, names)``: int64 codes ``(len(index),)`` and the class names.
    """
    for col in ("machine_type", "section"):
        if col not in index.columns:
            raise KeyError(f"section_codes: the index has no column {col!r}; columns: {list(index.columns)}")
    keys = [
        f"{t}/section_{int(s):02d}" for t, s in zip(index["machine_type"].astype(str), index["section"].astype(int))
    ]
    if names is None:
        order = sorted(set(zip(index["machine_type"].astype(str), index["section"].astype(int))))
        names = [f"{t}/section_{s:02d}" for t, s in order]
    names = list(names)
    codes = class_codes(keys, names)
    unknown = sorted({k for k, c in zip(keys, codes) if c < 0})
    if unknown:
        raise ValueError(f"section_codes: section(s) {unknown[:5]} are not among the given names")
    return codes, names


def _missing(values: pd.Series) -> np.ndarray:
    return values.isna().to_numpy() | values.astype(str).str.strip().isin(["", "None", "nan"]).to_numpy()


def auxiliary_classes(index: pd.DataFrame, include_domain: bool = True) -> tuple[np.ndarray, list[str]]:
    """Integer class codes for the auxiliary task, one per row of a clip index.

    A row's class is ``machine_type`` x ``section`` x ``attribute_string`` (x
    ``domain`` when ``include_domain``). Codes number the distinct classes in
    sorted order of (machine type, section as an integer, attribute string,
    domain), so the same set of classes always gets the same codes, whatever the
    row order. Class names read ``"<type>/section_<ss>/<attributes>/<domain>"``
    (``-`` where the string is empty).

    Normally ``index`` holds the training rows (``index[index.split == "train"]``);
    the label column is not used. A missing ``attribute_string`` (None/NaN) counts
    as no attributes (``""``; the 2020 layout has none). The literal
    ``noAttribute`` of some 2022 names is kept as written.

    Returns:
        ``(codes, names)``: ``codes`` an int64 array ``(len(index),)`` in
        ``[0, len(names))``, ``names[code]`` the class name.

    Raises:
        KeyError: a required column is missing (named in the message).
        ValueError: ``include_domain`` and some row has no domain (unlabelled
            evaluation clips, or DCASE 2020 data: use ``include_domain=False``),
            or a row has no machine type or section.
    """
    cols = list(_REQUIRED) + (["domain"] if include_domain else [])
    absent = [c for c in cols if c not in index.columns]
    if absent:
        raise KeyError(f"auxiliary_classes: the index has no column(s) {absent}; columns: {list(index.columns)}")
    n = len(index)
    for col in ("machine_type", "section"):
        bad = _missing(index[col])
        if bad.any():
            raise ValueError(
                f"auxiliary_classes: {int(bad.sum())} row(s) have no '{col}' (e.g. row {index.index[bad][0]!r})"
            )
    types = index["machine_type"].astype(str).to_numpy()
    try:
        sections = index["section"].astype(int).to_numpy()
    except (TypeError, ValueError) as err:
        raise ValueError(f"auxiliary_classes: column 'section' must hold integers ({err})") from None
    attrs_col = index["attribute_string"]
    attrs = np.where(attrs_col.isna().to_numpy(), "", attrs_col.astype(str).to_numpy())
    if include_domain:
        bad = _missing(index["domain"])
        if bad.any():
            ids = index["file"].to_numpy() if "file" in index.columns else index.index.to_numpy()
            where = ids[bad][:3].tolist()
            raise ValueError(
                f"auxiliary_classes: column 'domain' is missing in {int(bad.sum())} of {n} row(s) "
                f"(e.g. {where}); pass only rows with a known domain (training rows), or "
                "include_domain=False (e.g. for DCASE 2020 data, which has no domains)"
            )
        domains = index["domain"].astype(str).to_numpy()
    else:
        domains = np.full(n, "", dtype=object)
    keys = list(zip(types.tolist(), sections.tolist(), attrs.tolist(), domains.tolist()))
    uniq = sorted(set(keys))
    codes = class_codes(keys, uniq)
    names = []
    for t, s, a, d in uniq:
        name = f"{t}/section_{s:02d}/{a or '-'}"
        names.append(f"{name}/{d}" if include_domain else name)
    return codes, names


# ----------------------------------------------------------------------------- AITHU's tasks (SC, MHCR)

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_RE_NUMBER = re.compile(rf"^({_NUMBER})$")
_RE_NUMBER_UNIT = re.compile(rf"^({_NUMBER})([A-Za-z%]+)$")
_RE_CODE = re.compile(r"^0\d+$")  # zero-padded integers ("00", "01") are identifiers, not quantities


def check_task_weight(name: str, value: Any) -> float:
    """``value`` as a float ``lambda`` (Eq. (1) of paper 000): finite and > 0, else ``ValueError``."""
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"MHCR: lambda for head {name!r} must be a number; got {value!r}") from None
    if not (w > 0 and math.isfinite(w)):
        raise ValueError(f"MHCR: lambda for head {name!r} must be positive and finite (Eq. (1): lambda_i > 0); "
                         f"got {value!r}")
    return w


def _parse_number(value: str) -> tuple[float, str] | None:
    """``"28"`` -> (28.0, ""), ``"28V"`` -> (28.0, "V"), ``"A1"`` -> None."""
    m = _RE_NUMBER.match(value)
    if m:
        return float(m[1]), ""
    m = _RE_NUMBER_UNIT.match(value)
    if m:
        return float(m[1]), m[2]
    return None


@dataclass(eq=False)
class AttributeTask:
    """One MHCR task: a label of the clips and its coding (from :func:`attribute_tasks`).

    Attributes:
        name: the head's name (the attribute key, or ``"section"``).
        kind: ``"classification"`` or ``"regression"``.
        key: where the label comes from: ``"section"`` (the index column) or the
            attribute key.
        classes: classification: the label values in code order (code ``i`` is
            ``classes[i]``); regression: empty.
        mean, std: regression: the training values' mean and (population) standard
            deviation, in ``unit``; targets are ``(value - mean) / std``.
        unit: regression: the unit suffix stripped from the values (``"V"`` for
            ``28V``), or ``""``.
        weight: ``lambda`` of the task in Eq. (1).
        targets: the training rows' targets ``(N,)``: int64 codes with ``-1`` for a
            missing label, or float32 standardised values with NaN for a missing one.
    """

    name: str
    kind: Literal["classification", "regression"]
    key: str
    classes: tuple = ()
    mean: float = 0.0
    std: float = 1.0
    unit: str = ""
    weight: float = 1.0
    targets: Tensor | None = field(default=None, repr=False)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def raw_values(self, index_rows: pd.DataFrame) -> list[Any]:
        """The label of each row (``None`` where missing): sections, or attribute strings."""
        if self.key == "section":
            return [None if _is_missing(v) else int(v) for v in index_rows["section"]]
        return [a.get(self.key) for a in _attribute_dicts(index_rows)]

    def encode(self, index_rows: pd.DataFrame) -> Tensor:
        """Targets of any rows (e.g. test clips) with this task's coding.

        A missing value, a class not seen in training, or a value that does not
        parse with the training unit is ``-1`` / NaN.
        """
        values = self.raw_values(index_rows)
        if self.kind == "classification":
            keys = [None if v is None else (v if self.key == "section" else str(v)) for v in values]
            return torch.from_numpy(class_codes(keys, self.classes))
        out = np.full(len(values), np.nan, dtype=np.float64)
        for i, v in enumerate(values):
            if v is None:
                continue
            parsed = _parse_number(str(v).strip())
            if parsed is not None and parsed[1] == self.unit:
                out[i] = (parsed[0] - self.mean) / self.std
        return torch.from_numpy(out.astype(np.float32))


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _attribute_dicts(index_rows: pd.DataFrame) -> list[dict[str, str]]:
    """Each row's attributes as ``{key: value string}`` (missing/empty values dropped)."""
    if "attributes" in index_rows.columns:
        raw = list(index_rows["attributes"])
    elif "attribute_string" in index_rows.columns:
        raw = [parse_attributes(None if _is_missing(s) else str(s)) for s in index_rows["attribute_string"]]
    else:
        raise KeyError("attribute_tasks: the index has neither an 'attributes' nor an 'attribute_string' column")
    out = []
    for i, a in enumerate(raw):
        if a is None or (isinstance(a, float) and math.isnan(a)):
            a = {}
        if not isinstance(a, Mapping):
            raise TypeError(f"attribute_tasks: row {i} has attributes {a!r}; expected a dict of key -> value")
        out.append({str(k): str(v).strip() for k, v in a.items() if not _is_missing(v)})
    return out


def section_task(index_rows: pd.DataFrame, weight: float = 1.0) -> AttributeTask:
    """The section-ID task (SC's only label): codes number the sorted distinct sections."""
    if "section" not in index_rows.columns:
        raise KeyError(f"the index has no 'section' column; columns: {list(index_rows.columns)}")
    if len(index_rows) == 0:
        raise ValueError("section_task: no rows")
    values = index_rows["section"]
    if any(_is_missing(v) for v in values):
        raise ValueError("section_task: some rows have no section")
    sections = tuple(sorted({int(v) for v in values}))
    task = AttributeTask("section", "classification", "section", classes=sections, weight=float(weight))
    task.targets = task.encode(index_rows)
    return task


def attribute_tasks(
    index_rows: pd.DataFrame,
    *,
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
    exclude: Iterable[str] = (),
    weights: Mapping[str, float] | None = None,
) -> list[AttributeTask]:
    """MHCR's tasks for one machine type's (training) clips: the section, then one per attribute.

    The attributes are the ``attributes`` dicts of the clip index (one ``key -> value``
    string per attribute, parsed from DCASE 2022 names such as
    ``car_A1_spd_28V_mic_1_noise_1`` or from ``attributes_XX.csv``; a hand-made table
    may give ``attribute_string`` instead). For each attribute key, over the rows that
    have it:

    - it is **numeric** (a regression task) if every value is a number, optionally with
      one unit suffix shared by all values (``28V``, ``31V`` -> 28, 31 V), unless some
      value is a zero-padded integer code (``00``, ``01``: pattern IDs, categorical);
    - otherwise **categorical** (a classification task, classes in sorted order);
    - a key with a single distinct value carries no information and is dropped
      (``exclude`` drops others).

    ``categorical`` / ``numeric`` force the kind of the named keys. The paper lists
    factory noise and microphone position as classification tasks and speed and weight
    as regression (Sec. 3.1.1): where noise or microphone are numbered in the names
    (ToyCar's ``mic_1_noise_1``) pass ``categorical=("mic", "noise")`` to follow it.
    Forcing ``numeric`` on a key whose values do not parse raises ``ValueError``.

    The section task (name ``"section"``) always comes first, even with a single
    section (DCASE 2023+), where it teaches nothing. Attribute tasks follow in sorted
    key order (a key named ``"section"`` becomes ``"attr_section"``). Attribute keys
    differ between sections in DCASE 2022: a clip without a key gets a missing target,
    which the MHCR losses skip.

    Targets (``task.targets``, ``(N,)`` in row order): classification: int64 codes,
    ``-1`` where missing; regression: float32 ``(value - mean) / std`` with ``mean`` and
    ``std`` (population) of the rows given here, NaN where missing. Pass the
    **training** rows so the coding and standardisation are fitted on them; encode
    other rows with :func:`encode_targets`.

    Args:
        index_rows: rows of the clip index of **one** machine type (columns
            ``section`` and ``attributes`` or ``attribute_string``; ``machine_type``
            is checked when present).
        categorical, numeric: attribute keys whose kind is forced.
        exclude: attribute keys to leave out.
        weights: ``lambda`` per task name (default 1 each; validated > 0).

    Returns:
        The tasks, each with its ``targets``; :func:`encode_targets` turns rows into
        ``{name: targets}`` and ``{t.name: t.targets for t in tasks}`` is the training
        dict for :func:`asdlib.train.classifier.train_classifier`.
    """
    if "machine_type" in index_rows.columns:
        types = sorted({str(t) for t in index_rows["machine_type"] if not _is_missing(t)})
        if len(types) > 1:
            raise ValueError(f"attribute_tasks: pass the rows of one machine type; got {types}")
    categorical, numeric, exclude = set(categorical), set(numeric), set(exclude)
    both = sorted(categorical & numeric)
    if both:
        raise ValueError(f"attribute_tasks: key(s) {both} are both categorical and numeric")
    weights = dict(weights or {})
    for name, w in weights.items():
        check_task_weight(name, w)

    tasks = [section_task(index_rows, weights.get("section", 1.0))]
    dicts = _attribute_dicts(index_rows)
    keys = sorted({k for d in dicts for k in d} - exclude)
    for key in keys:
        values = [d[key] for d in dicts if key in d]
        distinct = sorted(set(values))
        if len(distinct) < 2:
            continue
        name = "attr_section" if key == "section" else key
        parsed = [_parse_number(v) for v in distinct]
        units = {p[1] for p in parsed if p is not None}
        is_numeric = (
            all(p is not None for p in parsed) and len(units) == 1 and not any(_RE_CODE.match(v) for v in distinct)
        )
        if key in numeric:
            if not (all(p is not None for p in parsed) and len(units) == 1):
                raise ValueError(f"attribute_tasks: attribute {key!r} forced numeric, but its values {distinct} "
                                 "are not numbers with one shared unit")
            is_numeric = True
        if key in categorical:
            is_numeric = False
        if is_numeric:
            nums = np.array([_parse_number(v)[0] for v in values], dtype=np.float64)
            task = AttributeTask(name, "regression", key, mean=float(nums.mean()), std=float(nums.std()),
                                 unit=units.pop(), weight=float(weights.get(name, 1.0)))
        else:
            task = AttributeTask(name, "classification", key, classes=tuple(distinct),
                                 weight=float(weights.get(name, 1.0)))
        task.targets = task.encode(index_rows)
        tasks.append(task)
    unknown = sorted(set(weights) - {t.name for t in tasks})
    if unknown:
        raise ValueError(f"attribute_tasks: weights for unknown task(s) {unknown}; tasks are {[t.name for t in tasks]}")
    return tasks


def encode_targets(tasks: Sequence[AttributeTask], index_rows: pd.DataFrame) -> dict[str, Tensor]:
    """``{task name: targets (N,)}`` of ``index_rows`` with the tasks' (training) coding."""
    return {t.name: t.encode(index_rows) for t in tasks}


__all__ = [
    "AttributeTask", "attribute_tasks", "auxiliary_classes", "check_task_weight", "class_codes", "encode_targets",
    "section_codes", "section_task",
]
