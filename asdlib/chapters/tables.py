"""The papers' per-machine-type settings tables, transcribed beside the chapter specs.

One loader, :func:`paper_table`, reads every such CSV (``asdlib/chapters/<name>.csv``):
numbers become ints or floats, an empty cell (the paper's ``-``) None, and each row keeps
the ``table``, ``page`` and ``note`` it was transcribed from. Torch-free.

- ``aithu_table3.csv``: AITHU's SC settings (paper 000, Table 3); :func:`aithu_table3`.
- ``aithu_tables_7_8.csv``: AITHU's WSP-NFCDEE and IMDN settings (Tables 7 and 8);
  :func:`aithu_tables_7_8`.
"""

from __future__ import annotations

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


__all__ = ["TABLES_DIR", "aithu_table3", "aithu_tables_7_8", "paper_rows", "paper_table"]
