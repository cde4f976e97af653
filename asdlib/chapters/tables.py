"""The papers' per-machine-type settings tables, transcribed beside the chapter specs.

One loader, :func:`paper_table`, reads every such CSV (``asdlib/chapters/<name>.csv``):
numbers become ints or floats, an empty cell (the paper's ``-``) None, and each row keeps
the ``table``, ``page`` and ``note`` it was transcribed from. Torch-free.

- ``aithu_table3.csv``: AITHU's SC settings (paper 000, Table 3); :func:`aithu_table3`.
- ``aithu_tables_7_8.csv``: AITHU's WSP-NFCDEE and IMDN settings (Tables 7 and 8);
  :func:`aithu_tables_7_8`.
- Table 5's outlier detector of SC-wav2vec per machine type: :data:`AITHU_TABLE5_SCORING`.

Machine types the paper does not list (the DCASE 2023-2025 types, e.g. AirCompressor,
3DPrinter) get a fixed fallback, :data:`UNLISTED_TYPE_RULE`: the table's mode per
column, the value most of the paper's seven types share (:func:`mode_setting`). The
chapters resolve a type's setting through :func:`aithu_table3_setting`,
:func:`aithu_tables_7_8_setting` and :func:`aithu_table5_scoring`, which give a listed
type its own row unchanged; the paper's rows themselves are never altered.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

TABLES_DIR = Path(__file__).resolve().parent


def _value(text: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def paper_rows(name: str, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The rows of the settings table ``asdlib/chapters/<name>.csv`` as typed dicts; missing
    ``required`` columns or an unknown name fail naming the file."""
    path = TABLES_DIR / f"{name}.csv"
    if not path.is_file():
        known = sorted(p.stem for p in TABLES_DIR.glob("*.csv"))
        raise ValueError(f"no settings table {name!r} ({path}); known: {', '.join(known)}")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    return [{col: (text if col == "note" else _value(text)) for col, text in rec.items()}
            for rec in raw.to_dict("records")]


def paper_table(name: str, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """:func:`paper_rows` as a DataFrame (integer columns with an empty cell become Int64)."""
    rows = paper_rows(name, required)
    df = pd.DataFrame(rows)
    for col in df.columns:
        values = [r[col] for r in rows]
        if any(v is None for v in values) and all(v is None or isinstance(v, int) for v in values):
            df[col] = pd.array(values, dtype="Int64")
    return df


def _one_type(df: pd.DataFrame, machine_type: str | None, what: str) -> pd.DataFrame:
    if machine_type is not None and machine_type not in set(df["machine_type"]):
        raise ValueError(f"unknown machine type {machine_type!r}; {what} has {sorted(set(df['machine_type']))}")
    return df if machine_type is None else df[df["machine_type"] == machine_type]


def aithu_table3(machine_type: str | None = None) -> pd.DataFrame | dict[str, Any]:
    """AITHU's SC settings (paper 000, Table 3): feature, n_mels, n_fft, n_frames, network.

    ``feature`` is ``STFT`` (a magnitude spectrogram without logarithm) or ``logmel``;
    ``n_mels`` is None where the paper prints ``-``; the derived ``n_freq`` is the
    backbone's input bins, ``n_mels`` for log-mel and ``n_fft // 2 + 1`` for STFT.
    All seven rows as a DataFrame indexed by machine type, or one type's row as a dict.
    """
    rows = paper_rows("aithu_table3", ("machine_type", "feature", "n_mels", "n_fft", "n_frames", "network",
                                       "table", "page", "note"))
    for row in rows:
        row["n_freq"] = row["n_mels"] if row["feature"] == "logmel" else row["n_fft"] // 2 + 1
    by_type = {row["machine_type"]: row for row in rows}
    if machine_type is not None:
        if machine_type not in by_type:
            raise ValueError(f"unknown machine type {machine_type!r}; Table 3 has {list(by_type)}")
        return by_type[machine_type]
    df = pd.DataFrame(rows).set_index("machine_type")
    df["n_mels"] = pd.array([r["n_mels"] for r in rows], dtype="Int64")  # <NA> where the paper prints '-'
    return df


def aithu_tables_7_8(machine_type: str | None = None, *, table: str | None = "Table 8") -> pd.DataFrame:
    """Per-machine-type settings of AITHU's Tables 7 (WSP-NFCDEE) and 8 (IMDN): ``subsystem``,
    ``table``, ``page``, ``machine_type``, ``feature``, ``n_mels``, ``n_fft``, ``n_frames``,
    ``network``, ``hmean`` (h-mean %, as printed), ``note``. The two tables print the same
    settings rows (see ``note``). ``table=None`` gives both."""
    df = paper_table("aithu_tables_7_8", ("subsystem", "table", "machine_type", "n_mels", "n_fft", "n_frames",
                                          "network"))
    if table is not None:
        if table not in set(df["table"]):
            raise ValueError(f"table={table!r} must be one of {sorted(set(df['table']))} or None")
        df = df[df["table"] == table]
    return _one_type(df, machine_type, "Tables 7-8").reset_index(drop=True)


AITHU_TABLE5_SCORING = {"bearing": "maha", "fan": "maha", "gearbox": "k-NN", "slider": "k-NN", "ToyCar": "LOF",
                        "ToyTrain": "k-NN", "valve": "cosine"}
"""Table 5 (paper 000), row "Scoring", as printed: SC-wav2vec's outlier detector per machine type
("maha" = the Mahalanobis distance)."""

UNLISTED_TYPE_RULE = ("a machine type the paper's per-type table does not list gets the table's mode per column "
                      "(the value most of the paper's seven types share), fixed without any score; a deviation "
                      "from the paper, which tuned each of its types on the DCASE 2022 development set")
"""The fallback rule for machine types the paper did not tune (the DCASE 2023-2025 types). The
paper gives no rule of its own (it picked every setting "for each machine type" on its
development sections); the mode is the setting the paper's tuning arrived at most often,
and it is chosen without looking at any score. For Tables 3, 7-8 and 5 the per-column
modes are unique and together form a row the paper itself prints for several types
(Table 3: fan, slider and valve; Tables 7-8: slider and ToyCar; Table 5: k-NN)."""

FALLBACK_SOURCE = "fallback: the mode of {what} per column (a type the paper does not list; not the paper's)"


def mode_setting(rows: list[dict[str, Any]], columns: tuple[str, ...], what: str) -> dict[str, Any]:
    """The most common value of each of ``columns`` over ``rows`` (an empty cell, None, counts as a
    value); a tie fails naming the column, since the rule would then need a second choice."""
    out = {}
    for col in columns:
        counts = Counter(r[col] for r in rows).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            raise ValueError(f"{what}: column {col!r} has no unique mode ({counts}); the fallback needs one")
        out[col] = counts[0][0]
    return out


def _resolved(row: dict[str, Any], source: str) -> dict[str, Any]:
    return {**row, "source": source}


def aithu_table3_setting(machine_type: str) -> dict[str, Any]:
    """Table 3's SC setting of ``machine_type`` as the chapters use it: the paper's row (as
    :func:`aithu_table3` gives it) for a listed type, else the fallback of :data:`UNLISTED_TYPE_RULE`
    (Table 3's mode per column: STFT, no mel bins, 2048, 192, MFNSE). ``source`` names which."""
    rows = paper_rows("aithu_table3")
    if machine_type in {r["machine_type"] for r in rows}:
        return _resolved(aithu_table3(machine_type), "Table 3")
    row = mode_setting(rows, ("feature", "n_mels", "n_fft", "n_frames", "network"), "Table 3")
    row["n_freq"] = row["n_mels"] if row["feature"] == "logmel" else row["n_fft"] // 2 + 1
    return _resolved({"machine_type": machine_type, **row, "table": "Table 3", "page": None,
                      "note": UNLISTED_TYPE_RULE}, FALLBACK_SOURCE.format(what="Table 3"))


def aithu_tables_7_8_setting(machine_type: str, *, table: str = "Table 8") -> dict[str, Any]:
    """``table``'s (Table 7 or 8) setting of ``machine_type`` as the chapters use it: the paper's row for
    a listed type, else the fallback of :data:`UNLISTED_TYPE_RULE` (the table's mode per column: log-mel,
    64 mel bins, 2048, 100 frames, LRCGNN; no h-mean). ``source`` names which."""
    rows = [r for r in paper_rows("aithu_tables_7_8") if r["table"] == table]
    if not rows:
        raise ValueError(f"table={table!r} must be one of ['Table 7', 'Table 8']")
    listed = {r["machine_type"]: r for r in rows}
    if machine_type in listed:
        return _resolved(dict(listed[machine_type]), table)
    row = mode_setting(rows, ("subsystem", "feature", "n_mels", "n_fft", "n_frames", "network"), table)
    return _resolved({"subsystem": row.pop("subsystem"), "table": table, "page": None, "machine_type": machine_type,
                      **row, "hmean": None, "note": UNLISTED_TYPE_RULE}, FALLBACK_SOURCE.format(what=table))


def aithu_tables_7_8_settings(machine_types, *, table: str = "Table 8") -> pd.DataFrame:
    """:func:`aithu_tables_7_8_setting` of every type of ``machine_types`` as a DataFrame indexed by
    machine type (columns n_mels, n_fft, n_frames, network, hmean, source, ...)."""
    return pd.DataFrame([aithu_tables_7_8_setting(mt, table=table) for mt in machine_types]).set_index("machine_type")


def aithu_table5_scoring(machine_type: str) -> str:
    """Table 5's detector of SC-wav2vec for ``machine_type`` as printed (:data:`AITHU_TABLE5_SCORING`), else
    the fallback of :data:`UNLISTED_TYPE_RULE` (Table 5's mode: k-NN)."""
    if machine_type in AITHU_TABLE5_SCORING:
        return AITHU_TABLE5_SCORING[machine_type]
    rows = [{"scoring": v} for v in AITHU_TABLE5_SCORING.values()]
    return mode_setting(rows, ("scoring",), "Table 5")["scoring"]


def unlisted_types(machine_types) -> list[str]:
    """The types of ``machine_types`` that AITHU's per-type tables (3, 5, 7 and 8) do not list: they get
    the fallback of :data:`UNLISTED_TYPE_RULE`."""
    listed = {r["machine_type"] for r in paper_rows("aithu_table3")}
    return [mt for mt in machine_types if mt not in listed]


__all__ = ["AITHU_TABLE5_SCORING", "FALLBACK_SOURCE", "TABLES_DIR", "UNLISTED_TYPE_RULE", "aithu_table3",
           "aithu_table3_setting", "aithu_table5_scoring", "aithu_tables_7_8", "aithu_tables_7_8_setting",
           "aithu_tables_7_8_settings", "mode_setting", "paper_rows", "paper_table", "unlisted_types"]
