"""What a chapter declares: its paper, the chapters whose records it reads, and its settings.

A chapter's settings are a frozen dataclass whose defaults are the paper's values (the
``paper`` profile); each other profile lists only what differs. :meth:`ChapterSpec.settings`
resolves a profile and ``asd run --set`` overrides into a checked instance: an unknown
key fails with the valid names, a value of the wrong type with the expected type.
Torch-free. Where everything goes: ``book/develop.md``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, Union


@dataclass(frozen=True)
class Paper:
    """A reproduced paper. ``key`` is its file in ``shared/papers`` (``000`` ...); ``short`` is
    the citation used in the published file (``asdlib/published_results.csv``) and captions."""

    key: str
    short: str
    authors: str
    title: str
    venue: str
    year: int | None  # None where the text copy prints none
    cite: str = ""    # its key in book/references.bib: the chapter cites it with {cite}


@dataclass(frozen=True)
class Evidence:
    """Where a paper makes a claim: two published numbers of ``asdlib/published_results.csv``.

    The paper's difference is ``better - worse`` of the rows (``table``, ``system``,
    ``metric``, ``machine_type``, ``dataset``); ``worse_table`` names the second row's table
    when the two systems are printed in different tables. ``dataset`` None: the paper's
    development set (the only row of that system and metric when there is one)."""

    table: str
    better: str
    worse: str
    metric: str = "hmean"
    machine_type: str = "all"
    dataset: str | None = None
    worse_table: str | None = None


@dataclass(frozen=True)
class Claim:
    """One of a paper's claims, stated as a comparison our records can test.

    ``better`` and ``worse`` are systems of the chapter's records (the names its runs pass to
    ``run.evaluate``); the claim is that ``better`` scores higher than ``worse`` on ``metric``
    (``official``: the official score over the run's machine types, mean AUC for DCASE 2020;
    otherwise a key of the result's ``overall`` dict, such as ``auc_target_hmean``, or a dotted
    path into the result such as ``notes.domain_only_dev.target.auc``) of the ``part``
    sections, over the run's machine types or one ``machine_type`` (its per-type h-mean,
    or mean AUC for 2020). ``paper`` is the published evidence (None: the paper says it in
    words only; ``where`` then names the place)."""

    key: str
    statement: str
    better: str
    worse: str
    metric: str = "official"
    machine_type: str | None = None
    part: str = "dev"
    paper: Evidence | None = None
    where: str = ""


@dataclass(frozen=True)
class ChapterSpec:
    """One chapter: notebook stem, paper, required chapters, settings class, the
    per-profile differences from the paper's settings and the paper's claims
    (:class:`Claim`, tested by :mod:`asdlib.claims`)."""

    stem: str
    paper: Paper | None
    settings_class: type
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    requires: tuple[str, ...] = ()
    title: str = ""
    none_means: Mapping[str, str] = field(default_factory=dict)  # how a None setting reads ("whole clip")
    claims: tuple[Claim, ...] = ()

    def __post_init__(self) -> None:
        if not (dataclasses.is_dataclass(self.settings_class) and self.settings_class.__dataclass_params__.frozen):
            raise TypeError(f"{self.stem}: settings_class must be a frozen dataclass")
        keys = [c.key for c in self.claims]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{self.stem}: claim keys repeat: {keys}")
        for profile in self.profiles:  # a typo in a profile block fails at import, not at run time
            self.settings(profile)

    @property
    def keys(self) -> list[str]:
        """The setting names, in declaration order."""
        return [f.name for f in dataclasses.fields(self.settings_class)]

    def settings(self, profile: str, overrides: Mapping[str, Any] | None = None):
        """The settings of ``profile`` (the paper's defaults with the profile's differences),
        then ``overrides``; each value checked against the field's type."""
        from asdlib.profiles import get_profile

        get_profile(profile)
        values = {**self.profiles.get(profile, {}), **(overrides or {})}
        return self.settings_class(**self.check(values, origin=f"profile {profile!r}" if not overrides else None))

    def check(self, values: Mapping[str, Any], origin: str | None = None) -> dict[str, Any]:
        """``values`` converted to the settings' types (lists to tuples, ints to floats);
        an unknown key or a wrong type raises ValueError naming the valid keys or the type."""
        hints = typing.get_type_hints(self.settings_class)
        where = f"{self.stem}" + (f" ({origin})" if origin else "")
        checked = {}
        for key, value in values.items():
            if key not in hints:
                raise ValueError(f"{where}: {key!r} is not a setting of this chapter; "
                                 f"valid settings: {', '.join(self.keys)}")
            try:
                checked[key] = conform(value, hints[key])
            except TypeError:
                raise ValueError(f"{where}: setting {key}={value!r} has type {type(value).__name__}; "
                                 f"expected {type_name(hints[key])}") from None
        return checked


def type_name(hint: Any) -> str:
    """``int``, ``float or None``, ``tuple[int, ...]`` ..."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) is not None:
        return str(hint).replace("typing.", "")
    return getattr(hint, "__name__", str(hint))


def conform(value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (int -> float, list -> tuple), or TypeError."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return conform(value, arg)
            except TypeError:
                continue
        raise TypeError(value)
    if hint is type(None):
        if value is None:
            return None
        raise TypeError(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError(value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError(value)
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise TypeError(value)
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(conform(v, args[0]) for v in value)
        if len(args) != len(value):
            raise TypeError(value)
        return tuple(conform(v, a) for v, a in zip(value, args))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise TypeError(value)
        key_type, value_type = typing.get_args(hint) or (Any, Any)
        return {conform(k, key_type): conform(v, value_type) for k, v in value.items()}
    raise TypeError(f"unsupported setting type {hint!r}")


def as_dict(settings: Any) -> dict[str, Any]:
    """A settings instance as a plain dict, in declaration order (values as they are)."""
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
