"""Run profiles: every size, epoch count and repetition in one place.

A notebook takes ``profile`` as a parameter and reads its settings from here, so
``ci`` (all code paths in seconds, for the regression tests), ``demo`` (the book on
a 2-core CPU) and ``paper`` (the papers' own settings, on a GPU with the real
data) differ only in this file.

Each chapter has a block of settings per profile in :data:`CHAPTER_SETTINGS`; a
chapter's issue adds its own block. :func:`chapter_settings` returns them and fails
with the list of valid names for an unknown profile or chapter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True)
class Profile:
    """What a profile fixes for every chapter."""

    name: str
    data_preset: str          # synthetic preset generated when data_root is None
    default_seeds: tuple[int, ...]
    description: str
    extra: Mapping[str, Any] = field(default_factory=dict)


PROFILES: dict[str, Profile] = {
    "ci": Profile("ci", data_preset="ci", default_seeds=(0,),
                  description="every code path in seconds on a CPU (regression tests)"),
    "demo": Profile("demo", data_preset="demo", default_seeds=(0, 1),
                    description="the book on a 2-core CPU: small models, few epochs, synthetic data"),
    "paper": Profile("paper", data_preset="full", default_seeds=(0, 1, 2, 3, 4),
                     description="the papers' own settings, meant for a GPU and the real DCASE data"),
}

# chapter -> profile -> settings. Chapters add their block here (their issue says what).
# A chapter whose results do not depend on the seed sets "seeds": (0,) so it runs once.
CHAPTER_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "00_task_data_metrics": {
        "ci": {"clips_per_figure": 2, "roc_types": 2, "seeds": (0,)},
        "demo": {"clips_per_figure": 3, "roc_types": 7, "seeds": (0,)},
        "paper": {"clips_per_figure": 3, "roc_types": 7, "seeds": (0,)},
    },
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name fails with the valid ones."""
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not a profile; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def chapter_settings(chapter: str, profile: str) -> Mapping[str, Any]:
    """The read-only settings of ``chapter`` under ``profile``."""
    get_profile(profile)
    if chapter not in CHAPTER_SETTINGS:
        raise ValueError(f"chapter {chapter!r} has no settings; known chapters: {', '.join(CHAPTER_SETTINGS)}")
    return MappingProxyType(dict(CHAPTER_SETTINGS[chapter][profile]))


def default_seeds(chapter: str, profile: str) -> tuple[int, ...]:
    """The seeds a chapter runs with when none are given: its own ``seeds`` setting (a
    chapter with nothing random runs once), else the profile's."""
    prof = get_profile(profile)
    return tuple(CHAPTER_SETTINGS.get(chapter, {}).get(profile, {}).get("seeds", prof.default_seeds))
