"""Every chapter on a first-shot layout (DCASE 2025, synthetic, ci profile): one section per
type, an evaluation-only type, hidden attributes and a supplemental/ folder.

The chapters were written for the 2020 and 2022 layouts; on the later years they either run,
recording each year's own official score for the development and the evaluation types apart,
or stop at once with the reason (the AITHU ensembles choose their weights on other
development sections, and a first-shot type has one).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from asdlib.cli import main

ROOT = Path(__file__).resolve().parents[1]
RUNS = ["00_task_data_metrics", "wilkinghoff_design_choices", "aithu_classifiers", "aithu_probabilistic",
        "ustc_tgram_wav2vec", "gan_adaptations_dcase2020"]
TYPES = ["gearbox", "AutoTrash"]  # 2025: a development type and an evaluation type, both hiding their attributes


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("years")
    old = os.environ.get("ASD_DATA_DIR")
    os.environ["ASD_DATA_DIR"] = str(tmp / "data")
    try:
        rc = main(["run", *[str(ROOT / "notebooks" / f"{n}.md") for n in RUNS + ["aithu_aegan_ensembles"]],
                   "--profile", "ci", "--dataset", "2025", "--together", "--types", *TYPES,
                   "--out", str(tmp / "runs"), "--jobs", "2"])
    finally:
        if old is None:
            os.environ.pop("ASD_DATA_DIR")
        else:
            os.environ["ASD_DATA_DIR"] = old
    return rc, tmp / "runs" / "ci"


def _record(folder: Path, notebook: str) -> dict:
    found = list((folder / notebook).glob("*/record.json"))
    assert len(found) == 1, f"{notebook}: no record ({sorted(p.name for p in (folder / notebook).glob('*/*'))})"
    return json.loads(found[0].read_text())


@pytest.mark.parametrize("notebook", RUNS)
def test_chapter_runs_on_the_2025_layout_and_scores_each_part(runs, notebook):
    _, folder = runs
    record = _record(folder, notebook)
    assert record["dataset"] == 2025 and record["machine_types"] == TYPES
    assert record["synthetic"]["preset"] == "ci"
    parts = {r["part"] for r in record["results"]}
    assert parts == {"dev", "eval"}  # gearbox is development data, AutoTrash evaluation data
    for result in record["results"]:
        assert result["year"] == 2025
        types = set(result["types"])
        assert types == ({"gearbox"} if result["part"] == "dev" else {"AutoTrash"})
        assert 0.0 <= result["official_score"] <= 1.0 and math.isfinite(result["official_score"])
        assert {s["section"] for s in result["sections"]} == {0}


def test_the_ensembles_chapter_stops_at_once_with_its_reason(runs):
    rc, folder = runs
    assert rc == 1  # only the ensembles chapter fails
    failed = list((folder / "aithu_aegan_ensembles").glob("*/notebook.failed.ipynb"))
    assert len(failed) == 1
    text = failed[0].read_text()
    assert "development sections" in text and "gearbox has 1" in text
