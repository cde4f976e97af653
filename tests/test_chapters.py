"""Chapter specs (asdlib.chapters): typed settings with the paper's defaults, per-profile
differences, checked overrides, and the notebooks that read them."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from asdlib.chapters import CHAPTERS, PAPERS, ChapterSpec, as_dict, chapter_settings, chapter_spec, default_seeds

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks").glob("*.md"))


def test_every_notebook_has_a_spec_and_every_spec_a_notebook():
    assert {p.stem for p in SOURCES} == set(CHAPTERS)
    for stem, spec in CHAPTERS.items():
        assert spec.stem == stem
        assert all(required in CHAPTERS for required in spec.requires)
        assert spec.paper is None or PAPERS[spec.paper.key] is spec.paper


@pytest.mark.parametrize("stem", sorted(CHAPTERS))
def test_defaults_are_the_paper_profile_and_profiles_list_only_differences(stem):
    spec = CHAPTERS[stem]
    defaults = as_dict(spec.settings_class())
    assert as_dict(chapter_settings(stem, "paper")) == defaults
    for profile, differences in spec.profiles.items():
        settings = as_dict(chapter_settings(stem, profile))
        changed = {k for k in settings if settings[k] != defaults[k]}
        assert changed == {k for k, v in differences.items() if v != defaults[k]}, (
            f"{stem} {profile}: a profile block lists a value equal to the paper's")
    assert dataclasses.is_dataclass(spec.settings_class) and spec.settings_class.__dataclass_params__.frozen


def test_settings_are_typed_and_checked():
    s = chapter_settings("wilkinghoff_design_choices", "demo")
    assert s.epochs == 4 and s.crop_seconds is None and s.seeds == (0, 1) and "presented" in s.configurations
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.epochs = 4
    s = chapter_settings("wilkinghoff_design_choices", "demo", {"epochs": 5, "lr": 1, "seeds": [3, 4]})
    assert s.epochs == 5 and s.lr == 1.0 and type(s.lr) is float and s.seeds == (3, 4)
    with pytest.raises(ValueError, match=r"'epoch' is not a setting of this chapter; valid settings: crop_seconds, "):
        chapter_settings("wilkinghoff_design_choices", "demo", {"epoch": 5})
    with pytest.raises(ValueError, match=r"setting epochs='5' has type str; expected int"):
        chapter_settings("wilkinghoff_design_choices", "demo", {"epochs": "5"})
    with pytest.raises(ValueError, match=r"setting crop_seconds=True has type bool; expected float or None"):
        chapter_settings("wilkinghoff_design_choices", "demo", {"crop_seconds": True})
    with pytest.raises(ValueError, match="known chapters: 00_task_data_metrics"):
        chapter_settings("no_such_chapter", "demo")
    with pytest.raises(ValueError, match="valid profiles: ci, demo, paper"):
        chapter_settings("wilkinghoff_design_choices", "fast")
    gan = chapter_settings("gan_adaptations_dcase2020", "ci", {"lr": {"GANomaly": 1}})
    assert gan.lr == {"GANomaly": 1.0}


def test_a_typo_in_a_profile_block_fails_when_the_spec_is_made():
    @dataclass(frozen=True)
    class Tiny:
        epochs: int = 1

    with pytest.raises(ValueError, match=r"tiny \(profile 'demo'\): 'epoch' is not a setting"):
        ChapterSpec("tiny", None, Tiny, {"demo": {"epoch": 2}})
    with pytest.raises(ValueError, match=r"tiny \(profile 'ci'\): setting epochs=0.5 has type float; expected int"):
        ChapterSpec("tiny", None, Tiny, {"ci": {"epochs": 0.5}})


def test_default_seeds_come_from_the_spec_or_the_profile():
    assert default_seeds("00_task_data_metrics", "paper") == (0,)            # nothing random: once
    assert default_seeds("wilkinghoff_design_choices", "ci") == (0,)         # the profile's
    assert default_seeds("wilkinghoff_design_choices", "demo") == (0, 1)     # the chapter's
    assert default_seeds("wilkinghoff_design_choices", "demo", {"seeds": (5,)}) == (5,)
    assert chapter_spec("aithu_aegan_ensembles").requires == ("aithu_classifiers", "aithu_probabilistic")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebooks_read_settings_as_attributes(source):
    text = source.read_text()
    assert not re.search(r"\bS\[[\"']", text) and not re.search(r"settings\[[\"'][a-z_]+[\"']\]", text)
    assert "asdlib.profiles import" not in text


def _definitions(source: Path):
    import ast

    import jupytext

    functions, modules = [], []
    for cell in jupytext.read(source).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.FunctionDef):
                functions.append(node.name)
            elif isinstance(node, ast.ClassDef) and any("Module" in ast.unparse(b) for b in node.bases):
                modules.append(node.name)
    return functions, modules


def test_no_helper_is_defined_in_two_notebooks_and_no_network_in_any():
    """Notebooks import asdlib: a helper that two chapters need lives in asdlib.book, a network
    in asdlib.models."""
    where: dict[str, list[str]] = {}
    for source in SOURCES:
        functions, modules = _definitions(source)
        assert not modules, f"{source.name} defines nn.Module subclasses {modules}: move them to asdlib.models"
        for name in set(functions):
            where.setdefault(name, []).append(source.stem)
    repeated = {name: stems for name, stems in where.items() if len(stems) > 1}
    assert not repeated, f"helpers defined in more than one notebook (move them to asdlib.book): {repeated}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebooks_do_not_copy_the_settings_into_every_result(source):
    """The record holds the resolved settings once (record["settings"])."""
    text = source.read_text()
    assert "profile_settings" not in text and not re.search(r"\bdict\(S\)|\bS\.items\(\)", text)
