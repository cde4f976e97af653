"""Chapter specs: one module per chapter declares its paper, the chapters it requires and its
settings (a frozen dataclass whose defaults are the paper's, with per-profile differences).

    from asdlib.chapters import chapter_settings
    S = chapter_settings("wilkinghoff_design_choices", "demo")   # S.epochs == 3
    S = chapter_settings("wilkinghoff_design_choices", "demo", {"epochs": 5})

A new chapter adds its module here and to :data:`CHAPTERS` (``book/develop.md``).
Torch-free.
"""

from __future__ import annotations

from typing import Any, Mapping

from asdlib.chapters import (aithu_aegan_ensembles, aithu_classifiers, aithu_probabilistic,
                             gan_adaptations_dcase2020, task_data_metrics, ustc_tgram_wav2vec,
                             wilkinghoff_design_choices)
from asdlib.chapters.papers import PAPERS
from asdlib.chapters.spec import ChapterSpec, Paper, as_dict

CHAPTERS: dict[str, ChapterSpec] = {module.SPEC.stem: module.SPEC for module in (
    task_data_metrics, gan_adaptations_dcase2020, wilkinghoff_design_choices, aithu_classifiers,
    aithu_probabilistic, aithu_aegan_ensembles, ustc_tgram_wav2vec)}
"""Notebook stem -> :class:`ChapterSpec`."""


def chapter_spec(stem: str) -> ChapterSpec:
    """The spec of chapter ``stem``; an unknown name fails with the known ones."""
    if stem not in CHAPTERS:
        raise ValueError(f"chapter {stem!r} has no spec; known chapters: {', '.join(CHAPTERS)}")
    return CHAPTERS[stem]


def chapter_settings(stem: str, profile: str, overrides: Mapping[str, Any] | None = None):
    """The typed settings of chapter ``stem`` under ``profile``, with ``overrides`` (``asd run
    --set``) checked and applied."""
    return chapter_spec(stem).settings(profile, overrides)


def default_seeds(stem: str, profile: str, overrides: Mapping[str, Any] | None = None) -> tuple[int, ...]:
    """The seeds a chapter runs with when none are given: its ``seeds`` setting (a chapter with
    nothing random runs once), else the profile's; a notebook without a spec takes the profile's."""
    from asdlib.profiles import get_profile

    prof = get_profile(profile)
    if stem not in CHAPTERS:
        return prof.default_seeds
    seeds = getattr(chapter_settings(stem, profile, overrides), "seeds", None)
    return tuple(seeds) if seeds is not None else prof.default_seeds


def chapter_requires(stem: str) -> tuple[str, ...]:
    """The chapters whose records ``stem`` reads (none for a notebook without a spec)."""
    return CHAPTERS[stem].requires if stem in CHAPTERS else ()


__all__ = ["CHAPTERS", "PAPERS", "ChapterSpec", "Paper", "as_dict", "chapter_requires", "chapter_settings",
           "chapter_spec", "default_seeds"]
