"""Submission files and what the official evaluators report beyond AUC: decisions, F1, CI95, 2021."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import gamma
from sklearn.metrics import roc_auc_score

from asdlib.cli import main
from asdlib.experiment import Run
from asdlib.metrics import (
    decision_scores, evaluate_score_dir, evaluate_scores, jackknife_ci95, read_ground_truth, section_table_2021)
from asdlib.profiles import get_profile
from asdlib.submission import DECISION_PERCENTILE, gamma_threshold, write_ground_truth, write_submission


def test_precision_recall_f1_hand_computed():
    # tp = 1 (clip 3), fp = 1 (clip 1), fn = 1 (clip 4): p = r = f1 = 1/2
    assert decision_scores([0, 0, 0, 1, 1], [0, 1, 0, 1, 0], "x") == (0.5, 0.5, 0.5)
    # nothing flagged: tp = fp = 0, precision tp / max(0, eps) = 0, F1 0 (the evaluator's floors)
    assert decision_scores([0, 1, 1], [0, 0, 0], "x") == (0.0, 0.0, 0.0)
    # everything flagged: p = 2/3, r = 1, f1 = 2 * (2/3) / (5/3) = 0.8
    p, r, f1 = decision_scores([0, 1, 1], [1, 1, 1], "x")
    assert (p, r) == (pytest.approx(2 / 3), 1.0) and f1 == pytest.approx(0.8)
    with pytest.raises(ValueError, match="of fan section 0 source are undefined.*0 normal and 2 anomalous"):
        decision_scores([1, 1], [1, 0], "fan section 0 source")


def test_jackknife_ci95_hand_computed():
    # AUC of normals {0.1, 0.4} vs anomalies {0.35, 0.8}: 3 of 4 pairs = 0.75.
    # Leave one out: -0.1 -> 1/2, -0.4 -> 2/2, -0.35 -> 2/2, -0.8 -> 1/2; mean 0.75,
    # squared deviations 4 x 0.0625 = 0.25, sigma = sqrt(0.25 / (4 * 3)), t(0.975, 3) = 3.182446
    y, s = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
    estimate, half = jackknife_ci95(roc_auc_score, y, s)
    assert estimate == pytest.approx(4 * 0.75 - 3 * 0.75)
    assert half == pytest.approx(3.182446305 * math.sqrt(0.25 / 12), rel=1e-8)
    with pytest.raises(ValueError, match="at least 2 of each; got 3 normal and 1 anomalous"):
        jackknife_ci95(roc_auc_score, np.array([0, 0, 0, 1]), s)


def _toy(seed=0, types=("fan", "valve"), n=6):
    """Test clips of one section per type: anomalies score higher, target normals a bit higher."""
    rng = np.random.default_rng(seed)
    rows = []
    for mt in types:
        for d in ("source", "target"):
            for label in ("normal", "anomaly"):
                for k in range(n):
                    rows.append({"machine_type": mt, "section": 0, "domain": d, "label": label,
                                 "file": f"section_00_{d}_test_{label}_{k:04d}_a_1.wav",
                                 "score": rng.gamma(2.0) + (1.5 if label == "anomaly" else 0) + (0.5 if d == "target" else 0)})
    train = pd.DataFrame({"machine_type": np.repeat(list(types), 30), "section": 0,
                          "score": rng.gamma(2.0, size=30 * len(types))})
    return pd.DataFrame(rows), train


def test_2022_table_has_precision_recall_f1_per_domain_and_their_means():
    test = pd.DataFrame({
        "machine_type": "fan", "section": 0, "file": [f"{i}.wav" for i in range(8)],
        "domain": ["source"] * 4 + ["target"] * 4,
        "label": ["normal", "normal", "anomaly", "anomaly"] * 2,
        "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
        "decision": [0, 0, 1, 0, 1, 0, 1, 1]})
    result = evaluate_scores(test, year=2022)
    row = result.sections.iloc[0]
    # source: tp 1, fp 0, fn 1 -> p 1, r 1/2, f1 2/3; target: tp 2, fp 1, fn 0 -> p 2/3, r 1, f1 0.8
    assert (row["precision_source"], row["recall_source"]) == (1.0, 0.5)
    assert row["f1_source"] == pytest.approx(2 / 3)
    assert (row["precision_target"], row["recall_target"]) == (pytest.approx(2 / 3), 1.0)
    assert row["f1_target"] == pytest.approx(0.8)
    assert result.overall["f1_amean"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert result.overall["f1_hmean"] == pytest.approx(2 / (1.5 + 1.25))
    assert result.overall["recall_source_hmean"] == 0.5 and result.overall["recall_target_hmean"] == 1.0
    assert "official_score_ci95" not in result.overall  # the 2022 evaluator has no interval
    with pytest.raises(ValueError, match="decision that is not 'normal'/'anomaly'/0/1"):
        evaluate_scores(test.assign(decision=2), year=2022)
    # a domain with one class: AUC(source) still has the target anomalies, F1(source) has none
    one_class = test[~((test["domain"] == "source") & (test["label"] == "anomaly"))]
    with pytest.raises(ValueError, match="F1 of fan section 0 source are undefined.*2 normal and 0 anomalous"):
        evaluate_scores(one_class, year=2022)


def test_2023_adds_the_jackknife_ci95_of_the_pooled_auc_and_pauc():
    test, _ = _toy()
    result = evaluate_scores(test, year=2023)
    y = (test["label"] == "anomaly").to_numpy(int)
    auc_ci = jackknife_ci95(roc_auc_score, y, test["score"].to_numpy())[1]
    pauc_ci = jackknife_ci95(lambda a, b: roc_auc_score(a, b, max_fpr=0.1), y, test["score"].to_numpy())[1]
    assert result.overall["auc_ci95"] == pytest.approx(auc_ci)
    assert result.overall["official_score_ci95"] == pytest.approx((auc_ci + pauc_ci) / 2)
    assert result.overall["n_pooled"] == len(test) == 48
    assert result.overall["auc_pooled"] == pytest.approx(roc_auc_score(y, test["score"]))


def test_2021_metric_is_per_section_and_domain_on_that_domains_clips():
    test = pd.DataFrame({
        "machine_type": "pump", "section": 3, "file": [f"{i}.wav" for i in range(8)],
        "domain": ["source"] * 4 + ["target"] * 4,
        "label": ["normal", "normal", "anomaly", "anomaly"] * 2,
        # source: anomalies {0.3, 0.05} vs normals {0.1, 0.2}: 2 of 4 pairs; target: perfect
        "score": [0.1, 0.2, 0.3, 0.05, 0.5, 0.6, 0.7, 0.8]})
    table = section_table_2021(test)
    assert list(table["domain"]) == ["source", "target"]
    assert list(table["auc"]) == [0.5, 1.0]
    result = evaluate_scores(test, year=2021)
    values = list(table["auc"]) + list(table["pauc"])
    assert result.official_score == pytest.approx(len(values) / sum(1 / v for v in values))
    assert result.types.loc["pump", "auc_amean"] == 0.75


def test_submission_files_round_trip_through_the_evaluator(tmp_path):
    test, train = _toy()
    sub = write_submission(test, train, tmp_path / "sub", year=2023)
    names = sorted(p.name for p in sub.folder.iterdir())
    assert names == ["anomaly_score_fan_section_00_test.csv", "anomaly_score_valve_section_00_test.csv",
                     "decision_result_fan_section_00_test.csv", "decision_result_valve_section_00_test.csv"]
    fan = sub.thresholds.set_index("machine_type").loc["fan"]
    x = train.loc[train["machine_type"] == "fan", "score"]
    assert fan["threshold"] == pytest.approx(gamma.ppf(DECISION_PERCENTILE, *gamma.fit(x)))
    lines = (sub.folder / "decision_result_fan_section_00_test.csv").read_text().splitlines()
    decided = dict(line.split(",") for line in lines)
    fan_test = test[test["machine_type"] == "fan"]
    assert {f: int(v) for f, v in decided.items()} == {
        f: int(s > fan["threshold"]) for f, s in zip(fan_test["file"], fan_test["score"])}
    write_ground_truth(test, tmp_path / "gt")
    back = evaluate_score_dir(sub.folder, tmp_path / "gt", year=2023)
    direct = evaluate_scores(test, year=2023)
    assert back.official_score == pytest.approx(direct.official_score, abs=1e-15)
    assert back.overall["official_score_ci95"] == pytest.approx(direct.overall["official_score_ci95"])
    assert "f1_source" in back.sections.columns
    truth = read_ground_truth(tmp_path / "gt").sort_values(["machine_type", "file", "domain"])
    assert len(truth) == 48 and set(truth["domain"]) == {"source", "target"}


def test_2021_submission_has_one_file_per_section_and_domain(tmp_path):
    test, train = _toy(types=("fan",))
    sub = write_submission(test, train, tmp_path / "sub", year=2021)
    assert sorted(p.name for p in sub.folder.iterdir()) == [
        "anomaly_score_fan_section_00_source_test.csv", "anomaly_score_fan_section_00_target_test.csv",
        "decision_result_fan_section_00_source_test.csv", "decision_result_fan_section_00_target_test.csv"]
    write_ground_truth(test, tmp_path / "gt", year=2021)
    assert sorted(p.name for p in (tmp_path / "gt" / "ground_truth_data").iterdir()) == [
        "ground_truth_fan_section_00_source_test.csv", "ground_truth_fan_section_00_target_test.csv"]
    back = evaluate_score_dir(sub.folder, tmp_path / "gt", year=2021)
    assert back.official_score == pytest.approx(evaluate_scores(test, year=2021).official_score)
    assert list(back.sections["domain"]) == ["source", "target"] and "f1" in back.sections.columns


def test_submission_errors_name_the_problem(tmp_path):
    test, train = _toy(types=("fan",))
    with pytest.raises(ValueError, match="no training scores for machine_type fan"):
        write_submission(test, train.assign(machine_type="pump"), tmp_path / "a")
    with pytest.raises(ValueError, match="training scores of machine_type fan: a gamma fit needs at least 3"):
        write_submission(test, train.head(2), tmp_path / "a")
    with pytest.raises(ValueError, match="percentile=1.5"):
        gamma_threshold([1.0, 2.0, 3.0], 1.5)
    with pytest.raises(ValueError, match="list a file twice"):
        write_submission(pd.concat([test, test.head(1)]), train, tmp_path / "a")
    with pytest.raises(ValueError, match="label 'unknown'"):
        write_ground_truth(test.assign(label="unknown"), tmp_path / "gt")
    sub = write_submission(test, train, tmp_path / "sub")
    write_ground_truth(test, tmp_path / "gt")
    (sub.folder / "decision_result_fan_section_00_test.csv").unlink()
    extra = sub.folder / "decision_result_pump_section_00_test.csv"
    extra.write_text("x.wav,1\n")
    with pytest.raises(FileNotFoundError, match="decision_result_fan_section_00_test.csv"):
        evaluate_score_dir(sub.folder, tmp_path / "gt", year=2023)


def test_run_writes_its_submission_and_asd_evaluate_reads_it_back(tmp_path, capsys):
    test, train = _toy()
    test = test.assign(part="dev", split="test", path=[str(tmp_path / f) for f in test["file"]])
    train = train.assign(part="dev", split="train")
    run = Run(notebook="x", paper="x", dataset=2023, data_root=tmp_path, machine_types=["fan", "valve"],
              profile=get_profile("ci"), settings=None, device="cpu", seeds=[0], results_dir=tmp_path / "r",
              index=pd.concat([test, train]), synthetic=None, parameters={})
    subs = run.write_submission("toy system", test, train, seed=0)
    folder = subs["dev"].folder
    assert folder == tmp_path / "r" / "submission" / "toy_system" / "seed0" / "dev"
    official = run.evaluate("toy system", test, seed=0).official_score
    assert main(["evaluate", str(folder), "--ground-truth", str(folder / "ground_truth"), "--year", "2023"]) == 0
    out = capsys.readouterr().out
    assert f"official score: {official:.4f}" in out
    assert "f1: a-mean" in out and "official score ci95:" in out and "f1_source" in out


def test_asd_submit_writes_a_kept_systems_files(tmp_path, capsys):
    test, train = _toy(types=("fan",))
    kept = pd.concat([test.assign(split="test"), train.assign(split="train", file="t.wav", domain="source",
                                                              label="normal")])
    kept = kept.assign(system="sys", seed=0)
    kept.to_csv(tmp_path / "scores.csv", index=False)
    argv = ["submit", str(tmp_path), "--system", "sys", "--out", str(tmp_path / "sub"),
            "--ground-truth-out", str(tmp_path / "gt"), "--year", "2023"]
    assert main(argv) == 0
    assert "2 files written to" in capsys.readouterr().out  # a score and a decision CSV, one section
    assert main(["evaluate", str(tmp_path / "sub"), "--ground-truth", str(tmp_path / "gt"), "--year", "2023"]) == 0
    assert f"official score: {evaluate_scores(test, year=2023).official_score:.4f}" in capsys.readouterr().out
    assert main(["submit", str(tmp_path), "--system", "other", "--out", str(tmp_path / "x")]) == 2
    assert "no scores of system 'other'; it has ['sys']" in capsys.readouterr().err
