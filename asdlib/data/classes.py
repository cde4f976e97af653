"""Auxiliary classification targets built from the clip index.

Wilkinghoff (paper 003, Sec. 2.2 and 3) trains one classifier over "all machine
types, sections and different attribute information ... (in each case both
domains)": a class is machine type x section x attribute string x domain (342
classes on DCASE 2022). The reference code joins ``<type>_<section>``, the
attribute part of the file name and the source flag (DESIGN.md section 9).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_REQUIRED = ("machine_type", "section", "attribute_string")


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
    code_of = {k: i for i, k in enumerate(uniq)}
    codes = np.fromiter((code_of[k] for k in keys), dtype=np.int64, count=n)
    names = []
    for t, s, a, d in uniq:
        name = f"{t}/section_{s:02d}/{a or '-'}"
        names.append(f"{name}/{d}" if include_domain else name)
    return codes, names


__all__ = ["auxiliary_classes"]
