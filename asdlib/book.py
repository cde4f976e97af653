"""What the chapter notebooks share: the settings table, number formatting, tables of ours
beside the paper's (``book/develop.md`` says what belongs here: a cell that two chapters
would repeat becomes one call).

Torch-free at import; functions that need the data layer import it themselves.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from asdlib.chapters import as_dict, chapter_settings, chapter_spec, default_seeds
from asdlib.profiles import PROFILES


def shown_setting(value: Any, none_means: str = "all") -> str:
    """A setting as a table cell: tuples joined, dicts as ``k=v``, None as ``none_means``."""
    if value is None:
        return none_means
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "(defaults)"
    if isinstance(value, (tuple, list)):
        return ", ".join(map(str, value))
    return str(value)


def settings_table(stem: str, profiles: tuple[str, ...] = ("paper", "demo", "ci")) -> pd.DataFrame:
    """The chapter's settings, one column per profile, one row per setting (``seeds``: the
    seeds the profile runs), None shown as the spec says it reads."""
    spec = chapter_spec(stem)
    columns = {}
    for profile in profiles:
        values = as_dict(chapter_settings(stem, profile))
        values["seeds"] = default_seeds(stem, profile)
        columns[profile] = {key: shown_setting(value, spec.none_means.get(key, "all"))
                            for key, value in values.items()}
    table = pd.DataFrame(columns)
    table.columns.name = "profile"
    return table


__all__ = ["PROFILES", "settings_table", "shown_setting"]
