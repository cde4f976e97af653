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





# --------------------------------------------------------------------------- setting up a chapter

PLOT_STYLE = {"figure.dpi": 100, "font.size": 10, "axes.titlesize": 10,
              "axes.spines.top": False, "axes.spines.right": False}


def style() -> None:
    """The book's figure style, and quiet progress bars: tqdm.auto (asdlib's progress bars)
    warns when ipywidgets is missing, and the bars work without it."""
    import warnings

    import matplotlib.pyplot as plt

    plt.rcParams.update(PLOT_STYLE)
    warnings.filterwarnings("ignore", message="IProgress not found")


def setup(run, *, needs_domains: bool = True, one_blas_thread: bool = False):
    """What every chapter does after ``start_run``: check the data has domains (DCASE
    2022/2023) where the chapter needs them, use one torch thread on a CPU (small networks
    and batches train about as fast on one thread as on two, and much faster when other
    jobs share the cores; ``one_blas_thread``: numpy/scipy's BLAS too), print the data
    label. Returns the chapter's settings."""
    if needs_domains and run.index["domain"].isna().all():
        raise ValueError(f"{run.notebook} needs DCASE 2022/2023 data (domains, sections); "
                         f"dataset={run.dataset} has none")
    if run.device.type == "cpu":
        import torch

        torch.set_num_threads(1)
        if one_blas_thread:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
    print(run.data_label)
    print(f"profile {run.profile.name!r}, seeds {run.seeds}, machine types: {', '.join(run.machine_types)}")
    return run.settings


# --------------------------------------------------------------------------- numbers and tables

def mean_std(values, digits: int = 2, scale: float = 100.0, empty: str = "-") -> str:
    """``51.23 ± 1.40``: mean and sample standard deviation over seeds, in percent by default;
    the value alone for one seed; ``empty`` for none."""
    import numpy as np

    values = scale * np.asarray(values, dtype=float)
    if len(values) == 0:
        return empty
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def published_value(published: pd.DataFrame, table: str | None, system: str, machine_type: str | None = None,
                    metric: str | None = None, digits: int = 2, missing: str = "-") -> str:
    """One number of the published file (``asdlib.results.load_published``), formatted;
    ``missing`` where the paper prints none."""
    rows = published[published["system"] == system]
    if table is not None:
        rows = rows[rows["table"] == table]
    if machine_type is not None:
        rows = rows[rows["machine_type"] == machine_type]
    if metric is not None:
        rows = rows[rows["metric"] == metric]
    if len(rows) > 1:
        raise ValueError(f"published_value: {len(rows)} rows for table={table!r}, system={system!r}, "
                         f"machine_type={machine_type!r}, metric={metric!r}; name the metric")
    return f"{rows['value'].iloc[0]:.{digits}f}" if len(rows) else missing


def show(rows, index: str | list[str] | None = None) -> None:
    """Display a table of text (a DataFrame, or rows as dicts) without cutting its cells short."""
    from IPython.display import display

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if index is not None:
        frame = frame.set_index(index)
    with pd.option_context("display.max_colwidth", None):
        display(frame)


def over_seeds(seeds) -> str:
    """How a caption says what a cell aggregates."""
    seeds = list(seeds)
    return f"mean ± std over seeds {seeds}" if len(seeds) > 1 else f"one seed ({seeds[0]})"


def row_index(rows):
    """Row positions (or a boolean mask) as a torch index tensor, for selecting clips' features."""
    import numpy as np
    import torch

    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    return torch.as_tensor(np.array(rows, dtype=np.int64))


def per_type_table(per_type: pd.DataFrame, overall: pd.DataFrame | None, system: str, machine_types, *, paper,
                   yardstick, extra=None) -> pd.DataFrame:
    """The AITHU chapters' table: per machine type our h-mean, AUC (source, target) and pAUC
    h-means (mean ± std over seeds), the paper's h-mean (``paper(machine_type)``; ``"all"``
    for the official score) and the reference detector's (``yardstick[machine_type]``,
    ``yardstick["all types"]``); ``extra(machine_type)`` adds leading columns; ``overall``
    (per system and seed, column ``official``) adds the official score's row."""
    result = {}
    for mt in machine_types:
        mine = per_type[(per_type["system"] == system) & (per_type["machine_type"] == mt)]
        result[mt] = {**(extra(mt) if extra else {}),
                      "ours: h-mean (%)": mean_std(mine["hmean"]),
                      "ours: AUC source": mean_std(mine["auc_source_hmean"]),
                      "ours: AUC target": mean_std(mine["auc_target_hmean"]),
                      "ours: pAUC": mean_std(mine["pauc_hmean"]),
                      "paper: h-mean (%)": paper(mt),
                      "yardstick: reference detector": f"{100 * yardstick[mt]:.2f}"}
    if overall is None:
        return pd.DataFrame(result)
    result["all types (official score)"] = {
        "ours: h-mean (%)": mean_std(overall.loc[overall["system"] == system, "official"]),
        "paper: h-mean (%)": paper("all"),
        "yardstick: reference detector": f"{100 * yardstick['all types']:.2f}"}
    return pd.DataFrame(result).fillna("")



# Figures shared by the chapters live in asdlib.plots.


__all__ = ["PLOT_STYLE", "mean_std", "over_seeds", "per_type_table", "published_value",
           "row_index", "settings_table", "setup", "show", "shown_setting", "style"]
