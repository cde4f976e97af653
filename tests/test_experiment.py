"""What a chapter starts with: parameter checks, data, per-split evaluation, the record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from asdlib.data import DataError
from asdlib.data.synth import generate
from asdlib.experiment import SCORE_COLUMNS, load_records, load_scores, start_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("exp") / "d", preset="ci", machine_types=["fan"], jobs=1, progress=False)


def test_a_first_shot_year_without_a_data_root_gets_its_synthetic_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("ASD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASD_RECORDS", str(tmp_path / "runs"))
    run = start_run("00_task_data_metrics", "x", dataset=2024, profile="ci",
                    machine_types=["gearbox", "AirCompressor"], results_dir=tmp_path / "runs")
    assert run.synthetic["preset"] == "ci" and (run.data_root / "synth.json").is_file()
    index = run.index
    assert set(index["year"]) == {2024} and set(index["section"]) == {0}
    assert set(index.loc[index["machine_type"] == "AirCompressor", "part"]) == {"eval"}
    # hidden in the names, revealed by the generated correspondence tables
    assert index["file"].str.contains("noAttribute").any() and all(index["attributes"].map(bool))
    # what the development-section tables show: AirCompressor is an evaluation-only type
    assert run.development_types() == ["gearbox"]
    with pytest.raises(ValueError, match="no machine type of this run \\(AirCompressor\\) has development"):
        run.development_types(["AirCompressor"])
    with pytest.raises(ValueError, match="synthetic data exists for 2020, 2022, 2023, 2024, 2025; give a data_root"):
        start_run("00_task_data_metrics", "x", dataset=2026, profile="ci")


def test_bad_parameters_fail_at_once_with_the_valid_values(tiny):
    with pytest.raises(ValueError, match="valid profiles: ci, demo, paper"):
        start_run("00_task_data_metrics", "x", data_root=tiny, profile="fast")
    with pytest.raises(ValueError, match="valid datasets are"):
        start_run("00_task_data_metrics", "x", data_root=tiny, dataset=2019)
    with pytest.raises(ValueError, match="not DCASE 2022 types"):
        start_run("00_task_data_metrics", "x", data_root=tiny, machine_types=["pump"])
    with pytest.raises(ValueError, match="seeds="):
        start_run("00_task_data_metrics", "x", data_root=tiny, seeds=[-1])
    with pytest.raises(DataError, match="dataset=2020 but the files follow the DCASE 2022\\+ naming"):
        start_run("00_task_data_metrics", "x", data_root=tiny, dataset=2020, machine_types=["fan"])


def test_dev_and_eval_sections_are_evaluated_and_recorded_apart(tiny, tmp_path):
    run = start_run("00_task_data_metrics", "x", data_root=tiny, profile="ci", results_dir=tmp_path / "r")
    assert run.is_synthetic and "SYNTHETIC" in run.data_label and run.seeds == [0]
    train, test = run.train_test("fan")
    scores = test.assign(score=np.where(test["label"] == "anomaly", 1.0, 0.0))  # a perfect detector
    result = run.evaluate("oracle", scores, seed=0)
    assert result.official_score == 1.0
    assert [r["part"] for r in run.results] == ["dev", "eval"]
    assert {s["section"] for s in run.results[0]["sections"]} == {0, 1, 2}
    assert {s["section"] for s in run.results[1]["sections"]} == {3, 4, 5}
    path = run.save()
    record = json.loads(path.read_text())
    assert record["data_source"] == "synthetic" and record["profile"] == "ci" and record["wall_time_s"] >= 0
    assert [r["_path"] for r in load_records(tmp_path)] == [str(path)]


def test_clip_scores_are_saved_beside_the_record_and_load_back(tiny, tmp_path):
    run = start_run("00_task_data_metrics", "x", data_root=tiny, profile="ci", results_dir=tmp_path / "r")
    train, test = run.train_test("fan")
    run.keep_scores("sys", train.assign(score=np.arange(len(train), dtype=float)), seed=3)
    run.keep_scores("sys", test.assign(score=-np.arange(len(test), dtype=float)), seed=3)
    with pytest.raises(ValueError, match="NaN or inf"):
        run.keep_scores("bad", test.assign(score=np.nan), seed=0)
    with pytest.raises(ValueError, match=r"lack the columns \['score'\]"):
        run.keep_scores("bad", test, seed=0)
    run.save()
    (record,) = load_records(tmp_path)
    scores = load_scores(record)
    assert record["scores_file"] == "scores.csv" and list(scores.columns) == list(SCORE_COLUMNS)
    assert len(scores) == len(train) + len(test) and set(scores["seed"]) == {3}
    assert scores["split"].tolist() == ["train"] * len(train) + ["test"] * len(test)
    assert scores["score"].tolist() == list(np.arange(len(train), dtype=float)) + list(-np.arange(len(test), dtype=float))
    # file names are relative to the data root, so records stay valid when the data moves
    assert scores["file"].iloc[0] == str(Path(train["path"].iloc[0]).relative_to(tiny))
    # a run that kept no scores has none
    empty = start_run("00_task_data_metrics", "x", data_root=tiny, profile="ci", results_dir=tmp_path / "e")
    empty.save()
    assert load_scores(json.loads((tmp_path / "e" / "record.json").read_text()) | {"_path": ""}).empty


def test_require_finds_another_chapters_records_by_data_identity(tiny, tmp_path, monkeypatch):
    """run.require: the records of a required chapter, same profile and same (synthetic) data,
    from the run's own runs folder first, then $ASD_RECORDS; missing ones fail naming where it
    looked and the command that makes them."""
    provider = start_run("00_task_data_metrics", "x", data_root=tiny, profile="ci",
                         results_dir=tmp_path / "elsewhere" / "ci" / "00_task_data_metrics" / "all-seed0")
    train, _ = provider.train_test("fan")
    provider.keep_scores("sys", train.assign(score=1.0), seed=0)
    provider.save()
    # a copy of the data set in another folder (another clone): same synthetic identity
    moved = tmp_path / "clone" / "data"
    import shutil
    shutil.copytree(tiny, moved)
    reader = start_run("gan_adaptations_dcase2020", "x", data_root=moved, dataset=2022, profile="ci",
                       results_dir=tmp_path / "runs" / "ci" / "reader" / "all-seed0")
    monkeypatch.delenv("ASD_RECORDS", raising=False)
    with pytest.raises(FileNotFoundError, match=r"no results records of '00_task_data_metrics'.*"
                                                r"asd run notebooks/00_task_data_metrics.md --profile ci"):
        reader.require("00_task_data_metrics")
    monkeypatch.setenv("ASD_RECORDS", str(tmp_path / "elsewhere"))
    (record,) = reader.require("00_task_data_metrics")
    assert record["notebook"] == "00_task_data_metrics" and len(load_scores(record)) == len(train)
    # other data (another synthetic seed) is not the same data
    other = dict(reader.synthetic, seed=reader.synthetic["seed"] + 1)
    monkeypatch.setattr(reader, "synthetic", other)
    with pytest.raises(FileNotFoundError):
        reader.require("00_task_data_metrics")


def test_a_chapters_types_setting_selects_its_machine_types_unless_the_parameter_names_some(tiny):
    run = start_run("ustc_tgram_wav2vec", "x", data_root=tiny, profile="ci", settings={"types": ("fan", "valve")})
    assert run.machine_types == ["fan"] and set(run.index["machine_type"]) == {"fan"}
    with pytest.raises(DataError, match=r"none of the machine types of 'ustc_tgram_wav2vec'.*\['fan'\]"):
        start_run("ustc_tgram_wav2vec", "x", data_root=tiny, profile="ci", settings={"types": ("valve",)})
    run = start_run("ustc_tgram_wav2vec", "x", data_root=tiny, profile="ci", machine_types=["fan"],
                    settings={"types": ("valve",)})
    assert run.machine_types == ["fan"] and run.parameters["machine_types"] == ["fan"]


def test_the_reference_detector_is_recorded_once_per_seed_on_the_runs_types(tiny):
    from asdlib.reference import REFERENCE_SYSTEM

    run = start_run("00_task_data_metrics", "x", data_root=tiny, profile="ci", seeds=[0, 1])
    scores = run.reference_scores()
    assert set(scores["split"]) == {"test"} and set(scores["machine_type"]) == {"fan"}
    assert np.isfinite(scores["score"]).all()
    result = run.record_reference(scores, inputs="whole clips")
    recorded = [r for r in run.results if r["system"] == REFERENCE_SYSTEM]
    assert sorted({r["seed"] for r in recorded}) == [0, 1] and {r["part"] for r in recorded} == {"dev", "eval"}
    assert recorded[0]["notes"] == {"selection": "nothing trained or selected", "inputs": "whole clips"}
    last_dev = next(r for r in recorded if r["seed"] == 1 and r["part"] == "dev")
    assert result.official_score == last_dev["official_score"]
