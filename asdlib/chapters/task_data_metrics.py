"""Chapter ``00_task_data_metrics``: the DCASE Task 2 setting, the data and the official metrics."""

from __future__ import annotations

from dataclasses import dataclass

from asdlib.chapters.spec import ChapterSpec


@dataclass(frozen=True)
class TaskDataMetricsSettings:
    """clips_per_figure: clips per spectrogram figure; roc_types: machine types with a ROC
    figure; certify_updates: updates of the small embedder of the data certification
    (:mod:`asdlib.certify`; synthetic 2022 data only); certify_types: how many of the run's
    machine types it covers (None: all). One seed."""

    clips_per_figure: int = 3
    roc_types: int = 7
    certify_updates: int = 800
    certify_types: int | None = None
    seeds: tuple[int, ...] | None = (0,)


SPEC = ChapterSpec(
    stem="00_task_data_metrics", paper=None, settings_class=TaskDataMetricsSettings,
    title="DCASE Task 2 setting (all papers)",
    none_means={"certify_types": "all the run's types"},
    profiles={"ci": {"clips_per_figure": 2, "roc_types": 2, "certify_updates": 4, "certify_types": 2}},
)
