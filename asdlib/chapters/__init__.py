"""Chapter specs: one module per chapter declares its paper, the chapters it requires and its
settings (a frozen dataclass whose defaults are the paper's, with per-profile differences).

    from asdlib.chapters import chapter_settings
    S = chapter_settings("wilkinghoff_design_choices", "demo")   # S.epochs == 3
    S = chapter_settings("wilkinghoff_design_choices", "demo", {"epochs": 5})

A new chapter adds its module here (found by :func:`_discover`); ``book/develop.md`` says
what else a chapter is made of. Torch-free.
"""

from __future__ import annotations

from typing import Any, Mapping

from asdlib.chapters.papers import PAPERS as _SHARED_PAPERS
from asdlib.chapters.spec import ChapterSpec, Paper, as_dict

_NOT_CHAPTERS = {"spec", "papers", "tables"}


def _discover() -> dict[str, ChapterSpec]:
    """Every module of this package that declares a ``SPEC`` (one per chapter), by stem."""
    import importlib
    import pkgutil

    specs = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _NOT_CHAPTERS or info.name.startswith("_"):
            continue
        spec = getattr(importlib.import_module(f"{__name__}.{info.name}"), "SPEC", None)
        if not isinstance(spec, ChapterSpec):
            raise TypeError(f"asdlib/chapters/{info.name}.py declares no SPEC = ChapterSpec(...)")
        if spec.stem in specs:
            raise ValueError(f"two chapter specs for the notebook {spec.stem!r}")
        specs[spec.stem] = spec
    return dict(sorted(specs.items()))


CHAPTERS: dict[str, ChapterSpec] = _discover()
"""Notebook stem -> :class:`ChapterSpec`."""

PAPERS: dict[str, Paper] = {**_SHARED_PAPERS, **{s.paper.key: s.paper for s in CHAPTERS.values() if s.paper}}
"""Paper key -> :class:`Paper`: the shared ones of ``papers.py`` and any a chapter module declares."""


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
