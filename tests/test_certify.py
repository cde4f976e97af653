"""asdlib.certify on the ci preset: the scaled-down certification of a synthetic data set."""

from __future__ import annotations

import numpy as np
import pytest

from asdlib.certify import CERTIFICATE, certification_report, certify, chance_bound
from asdlib.data.synth import PRESETS, generate
from asdlib.data.synth.dataset import plan_2022


def test_chance_bound_is_chance_plus_two_standard_errors():
    p, bound = chance_bound(6, 396)
    assert p == pytest.approx(1 / 6)
    assert bound == pytest.approx(1 / 6 + 2 * np.sqrt((1 / 6) * (5 / 6) / 396))


@pytest.fixture(scope="module")
def ci_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("certify") / "ci"
    return generate(root, preset="ci", seed=0, machine_types=["fan", "valve"], jobs=1, progress=False)


def test_certification_of_the_ci_preset(ci_root):
    table, verdict = certify(ci_root, updates=4, progress=False, jobs=1)
    assert list(table.index) == ["fan", "valve"]
    assert {"probe_hall", "probe_machine", "probe_bound", "reference", "ref_auc_source", "ref_auc_target",
            "embedder", "paired_reference", "paired_embedder"} <= set(table.columns)
    # the halls carry no information about the section; the machines do (sections are units)
    assert (table["probe_hall"] <= table["probe_bound"]).all()
    assert (table["probe_machine"] > table["probe_bound"]).all()
    assert table[["reference", "embedder", "paired_reference", "paired_embedder"]].stack().between(0, 1).all()
    assert set(verdict) == {"probe", "reference", "paired", "learnable", "beats_reference", "ok"}
    assert verdict["ok"] == (verdict["probe"] and verdict["reference"] and verdict["paired"]
                             and verdict["learnable"])
    report = certification_report(table, verdict)
    assert "SYNTHETIC" in report and report.splitlines()[-1].startswith("check: ")
    # a finished certification is kept and reused while nothing changed
    stamp = (ci_root / CERTIFICATE).stat().st_mtime_ns
    again, verdict_again = certify(ci_root, updates=4, progress=False, jobs=1)
    assert (ci_root / CERTIFICATE).stat().st_mtime_ns == stamp and verdict_again == verdict
    assert np.allclose(again["reference"], table["reference"])


def test_only_synthetic_data_with_domains_can_be_certified(tmp_path):
    with pytest.raises(ValueError, match="no synth.json"):
        certify(tmp_path, progress=False)
    root = generate(tmp_path / "y2020", year=2020, preset="ci", seed=0, machine_types=["pump"], jobs=1,
                    progress=False)
    with pytest.raises(ValueError, match="covers the 2022 and 2023-2025 layouts.*this data set is 2020"):
        certify(root, progress=False)


def test_chance_of_unbalanced_classes_is_the_largest_share():
    p, bound = chance_bound(3, 66, largest_share=30 / 66)
    assert p == pytest.approx(30 / 66)
    assert bound == pytest.approx(30 / 66 + 2 * np.sqrt((30 / 66) * (36 / 66) / 66))


def test_one_section_layouts_probe_the_auxiliary_class_and_certify_hidden_attributes(tmp_path):
    from asdlib.certify import probe_classes
    from asdlib.data.synth.dataset import plan

    clips = [c for c in plan(PRESETS["demo"], 0, ["valve"], 2024) if c.split == "train"]
    classes = probe_classes(clips)
    # attribute string x domain: two source classes and one target class, whatever the names show
    keys = {("_".join(f"{k}_{v}" for k, v in c.attrs.items()), c.domain) for c in clips}
    assert len(np.unique(classes)) == len(keys) == 3
    assert probe_classes([c for c in plan_2022(PRESETS["ci"], 0, ["valve"]) if c.split == "train"]).max() == 5
    root = generate(tmp_path / "y2024", year=2024, preset="ci", seed=0, machine_types=["gearbox", "AirCompressor"],
                    jobs=1, progress=False)
    table, verdict = certify(root, updates=4, progress=False, jobs=1)
    assert list(table.index) == ["gearbox", "AirCompressor"]  # both hide their attributes in 2024
    assert (table["probe_chance"] > 1 / 3).all()  # the largest of three unequal classes
    assert (table["probe_hall"] <= table["probe_bound"]).all()
    assert table[["reference", "embedder", "paired_reference", "paired_embedder"]].stack().between(0, 1).all()
    assert verdict["ok"] == all(verdict[k] for k in ("probe", "reference", "paired", "learnable"))
