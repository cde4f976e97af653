"""Run profiles: ``ci`` (every code path in seconds, for the regression tests), ``demo`` (the
book on a 2-core CPU) and ``paper`` (the papers' own settings, on a GPU with the real data).

A profile fixes the synthetic preset and the default seeds; each chapter's settings per
profile are declared in its spec (:mod:`asdlib.chapters`). :func:`parse_assignments`
reads ``asd run --set KEY=VALUE`` items.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


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


def get_profile(name: str) -> Profile:
    """The profile called ``name``; an unknown name fails with the valid ones."""
    if name not in PROFILES:
        raise ValueError(f"profile={name!r} is not a profile; valid profiles: {', '.join(PROFILES)}")
    return PROFILES[name]


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``["epochs=3", "lr=1e-4", "wav2vec_checkpoint=/models/w.pt"]`` -> a dict (a key may be
    ``STEM.KEY``, a setting of one chapter): each value is read as a Python literal
    (numbers, None, True, tuples, dicts) and else kept as a string. A malformed item fails
    naming it; the values are checked against the chapters' settings by ``asd run``."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        stem, _, name = key.rpartition(".")  # STEM.KEY: the setting of one chapter
        if not sep or not name.isidentifier() or (stem and not stem.replace("_", "").replace("-", "").isalnum()):
            raise ValueError(f"--set {item!r}: give KEY=VALUE, e.g. --set epochs=3")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        if key in parsed:
            raise ValueError(f"--set {key} is given twice")
        parsed[key] = value
    return parsed
