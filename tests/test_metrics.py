"""asdlib.metrics against hand-computed values (pair counting, the McClish formula, h-means)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from asdlib.metrics import (
    EPS,
    aithu_type_summary,
    domain_only_summary,
    evaluate_score_dir,
    evaluate_scores,
    official_score,
    overall_summary,
    overall_summary_2020,
    read_ground_truth,
    scores_frame_from_index,
    section_table_2020,
    section_table_2022,
    type_summary,
    type_summary_2020,
)

approx = pytest.approx

# One DCASE 2022 section worked out by hand (score: higher = more anomalous):
#   source normals 1, 3, 5    target normals 2, 6
#   source anomalies 4, 7     target anomaly 5.5
# AUC(source), official: normals {1,3,5} vs ALL anomalies {4,7,5.5}:
#   4 beats 1,3 (2); 7 beats all (3); 5.5 beats all (3)      -> 8/9
# AUC(source), domain-only: {1,3,5} vs {4,7}: 2 + 3           -> 5/6
# AUC(target), official: {2,6} vs {4,7,5.5}: 1 + 2 + 1        -> 4/6
# AUC(target), domain-only: {2,6} vs {5.5}: 1                 -> 1/2
# AUC(all): {1,2,3,5,6} vs {4,7,5.5}: 3 + 5 + 4               -> 12/15
# pAUC (all 8 clips, 5 normals, FPR steps of 0.2): the top clip (7) is an anomaly,
#   so TPR = 1/3 on FPR [0, 0.1]: raw area A = 0.1/3;
#   McClish 0.5 * (1 + (A - 0.005) / (0.1 - 0.005)) = 0.5 * (1 + 17/57) -> 37/57
# pAUC(source), domain-only: {1,3,5} vs {4,7}: TPR 1/2 on [0, 0.1]: A = 0.05
#   -> 0.5 * (1 + 0.045/0.095) = 14/19
HAND_ROWS = [
    ("source", "normal", 1.0),
    ("source", "normal", 3.0),
    ("source", "normal", 5.0),
    ("target", "normal", 2.0),
    ("target", "normal", 6.0),
    ("source", "anomaly", 4.0),
    ("source", "anomaly", 7.0),
    ("target", "anomaly", 5.5),
]


def mcclish(raw_area: float, max_fpr: float = 0.1) -> float:
    min_area, max_area = max_fpr**2 / 2, max_fpr
    return 0.5 * (1 + (raw_area - min_area) / (max_area - min_area))


def hand_section(machine_type: str = "fan", section: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "machine_type": machine_type,
                "section": section,
                "domain": dom,
                "label": lab,
                "score": sc,
                "file": f"section_{section:02d}_{i:04d}.wav",
            }
            for i, (dom, lab, sc) in enumerate(HAND_ROWS)
        ]
    )


def ranked_section(machine_type: str, section: int, order: list[int]) -> pd.DataFrame:
    """2 source + 2 target normals, 1 anomaly per domain; score = position in ``order``."""
    kinds = [("source", "normal"), ("source", "normal"), ("target", "normal"),
             ("target", "normal"), ("source", "anomaly"), ("target", "anomaly")]
    return pd.DataFrame(
        [
            {"machine_type": machine_type, "section": section, "domain": d, "label": lab,
             "score": float(order[i]), "file": f"section_{section:02d}_{i:04d}.wav"}
            for i, (d, lab) in enumerate(kinds)
        ]
    )


# ------------------------------------------------------------------ per-section 2022


def test_hand_section_official_and_domain_only():
    t = section_table_2022(hand_section(), domain_only=True)
    assert len(t) == 1
    row = t.iloc[0]
    assert row["auc_source"] == approx(8 / 9)
    assert row["auc_target"] == approx(4 / 6)
    assert row["auc_all"] == approx(12 / 15)
    assert row["pauc"] == approx(37 / 57)
    assert row["pauc"] == approx(mcclish(0.1 / 3))
    # including the target-domain anomaly changes AUC(source) (and AUC(target))
    assert row["auc_source_domain_only"] == approx(5 / 6)
    assert row["auc_target_domain_only"] == approx(1 / 2)
    assert row["auc_source_domain_only"] != approx(row["auc_source"])
    assert row["pauc_source_domain_only"] == approx(14 / 19)
    assert (row["n_source_normal"], row["n_source_anomaly"]) == (3, 2)
    assert (row["n_target_normal"], row["n_target_anomaly"]) == (2, 1)


def test_section_table_columns_and_input_order_irrelevant():
    df = hand_section()
    t = section_table_2022(df)
    assert list(t.columns) == [
        "machine_type", "section", "auc_source", "auc_target", "pauc", "auc_all",
        "n_source_normal", "n_source_anomaly", "n_target_normal", "n_target_anomaly",
    ]
    shuffled = section_table_2022(df.sample(frac=1.0, random_state=3))
    pd.testing.assert_frame_equal(t, shuffled)


def test_labels_and_domains_as_ints():
    df = hand_section()
    df["label"] = (df["label"] == "anomaly").astype(int)
    df["domain"] = (df["domain"] == "target").astype(int)
    row = section_table_2022(df).iloc[0]
    assert row["auc_source"] == approx(8 / 9)
    assert row["auc_target"] == approx(4 / 6)


# ---------------------------------------------------------------- pAUC (McClish form)


def scores_2020(normal: list[float], anomaly: list[float], mt: str = "fan", sec: int = 0):
    return pd.DataFrame(
        {"machine_type": mt, "section": sec,
         "label": ["normal"] * len(normal) + ["anomaly"] * len(anomaly),
         "score": normal + anomaly}
    )


def test_pauc_constant_perfect_and_reversed():
    normal, anomaly = [float(i) for i in range(1, 11)], [20.0, 30.0]
    const = section_table_2020(scores_2020([0.0] * 10, [0.0, 0.0])).iloc[0]
    assert const["auc"] == approx(0.5) and const["pauc"] == approx(0.5)  # not 0.05
    perfect = section_table_2020(scores_2020(normal, anomaly)).iloc[0]
    assert perfect["auc"] == approx(1.0) and perfect["pauc"] == approx(1.0)
    worst = section_table_2020(scores_2020(normal, [-1.0, -2.0])).iloc[0]
    assert worst["auc"] == approx(0.0)
    assert worst["pauc"] == approx(mcclish(0.0)) == approx(9 / 19)


def test_pauc_hand_worked_case():
    # 10 normals 1..10; anomalies 10.5 (above all) and 5.5 (above 5 normals).
    # ROC: TPR 1/2 at FPR 0, next point FPR 0.1 -> raw area on [0, 0.1] = 0.05.
    # McClish: 0.5 * (1 + (0.05 - 0.005) / (0.1 - 0.005)) = 14/19. AUC = (10 + 5)/20.
    row = section_table_2020(scores_2020([float(i) for i in range(1, 11)], [10.5, 5.5])).iloc[0]
    assert row["pauc"] == approx(mcclish(0.05)) == approx(14 / 19)
    assert row["auc"] == approx(0.75)


# ------------------------------------------------------------------------ summaries


def value_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "machine_type": ["A", "A", "B"],
            "section": [0, 1, 0],
            "auc_source": [0.5, 1.0, 0.8],
            "auc_target": [0.8, 0.4, 0.8],
            "pauc": [0.6, 0.5, 0.4],
        }
    )


def test_official_score_is_flat_hmean():
    # reciprocals: 2 + 1 + 1.25 | 1.25 + 2.5 + 1.25 | 5/3 + 2 + 2.5 = 185/12
    assert official_score(value_table()) == approx(9 / (185 / 12)) == approx(108 / 185)


def test_type_and_overall_summary():
    t = value_table()
    types = type_summary(t)
    assert list(types.index) == ["A", "B"]
    a = types.loc["A"]
    assert a["hmean"] == approx(6 / (125 / 12)) == approx(0.576)  # 1/x sum 125/12
    assert a["auc_hmean"] == approx(4 / 6.75)  # 0.5, 1.0, 0.8, 0.4
    assert a["auc_amean"] == approx(0.675)
    assert a["auc_source_hmean"] == approx(2 / 3)  # 0.5, 1.0
    assert a["auc_source_amean"] == approx(0.75)
    assert a["auc_target_hmean"] == approx(8 / 15)  # 0.8, 0.4
    assert a["pauc_hmean"] == approx(6 / 11)  # 0.6, 0.5
    assert a["pauc_amean"] == approx(0.55)
    assert a["n_sections"] == 2
    assert types.loc["B", "hmean"] == approx(0.6)
    assert types.loc["B", "hmean"] == approx(official_score(t[t.machine_type == "B"]))
    overall = overall_summary(t)
    assert overall["official_score"] == overall["hmean"] == approx(108 / 185)
    assert overall["auc_source_hmean"] == approx(3 / (2 + 1 + 1.25))
    assert overall["amean"] == approx(5.8 / 9)
    assert overall["n_machine_types"] == 2


def test_hmean_floors_at_epsilon():
    t = value_table()
    t.loc[0, "auc_source"] = 0.0
    score = official_score(t)
    assert 0 < score < 1e-14
    assert score == approx(9 / (1 / EPS), rel=1e-6)  # the 1/eps term dominates
    assert EPS == sys.float_info.epsilon


def test_aithu_summary_flat_per_type_and_hmean_of_types():
    s = aithu_type_summary(value_table())
    assert s["A"] == approx(0.576) and s["B"] == approx(0.6)
    # the "h-mean" column is the h-mean of the type values: 2 / (125/72 + 120/72)
    assert s["h-mean"] == approx(144 / 245)
    assert s["h-mean"] != approx(official_score(value_table()))  # unequal section counts
    assert aithu_type_summary(value_table(), sections=[0])["A"] == approx(3 / (2 + 1.25 + 5 / 3))


def test_aithu_table1_hmean_reproduces_published_score():
    # Paper 000, Table 1 (baseline AE): the per-type values and their h-mean 52.61 %.
    types = {"bearing": 0.5480, "fan": 0.5847, "gearbox": 0.6307, "slider": 0.5799,
             "ToyCar": 0.5106, "ToyTrain": 0.3961, "valve": 0.5059}
    t = pd.DataFrame([{"machine_type": k, "section": 0, "auc_source": v, "auc_target": v,
                       "pauc": v} for k, v in types.items()])
    s = aithu_type_summary(t)
    assert s["h-mean"] == approx(0.5261, abs=5e-5)
    assert s["h-mean"] == approx(official_score(t))  # equal section counts


def test_domain_only_summary():
    df = pd.concat([hand_section("fan", 0), ranked_section("fan", 1, [1, 2, 3, 4, 5, 6])])
    t = section_table_2022(df, domain_only=True)
    s = domain_only_summary(t)
    assert list(s.index) == ["source", "target", "mixed"]
    # section 1 is perfect in every view: all values 1.0
    assert s.loc["source", "auc"] == approx(2 / (6 / 5 + 1))
    assert s.loc["target", "auc"] == approx(2 / (2 + 1))
    assert s.loc["mixed", "auc"] == approx(2 / (15 / 12 + 1))
    assert s.loc["mixed", "pauc"] == approx(2 / (57 / 37 + 1))
    with pytest.raises(ValueError, match="domain_only"):
        domain_only_summary(section_table_2022(df))


# ---------------------------------------------------------------------------- 2020


def test_2020_per_id_auc_and_means():
    df = pd.concat(
        [
            # fan id 0: 0.35 beats 3 normals, 0.5 beats 4 -> 7/8; pAUC: TPR 1/2 until FPR .25
            scores_2020([0.1, 0.2, 0.3, 0.4], [0.35, 0.5], "fan", 0),
            # fan id 2: 0.5 beats none, 3 beats both -> 2/4
            scores_2020([1.0, 2.0], [0.5, 3.0], "fan", 2),
            scores_2020([0.0, 0.1], [1.0], "pump", 0),  # perfect
        ]
    )
    df["domain"] = None  # 2020: a domain column, if any, is ignored
    t = section_table_2020(df)
    assert list(t.columns) == ["machine_type", "section", "auc", "pauc", "n_normal", "n_anomaly"]
    assert t["auc"].tolist() == approx([7 / 8, 2 / 4, 1.0])
    assert t["pauc"].tolist() == approx([14 / 19, 14 / 19, 1.0])
    types = type_summary_2020(t)
    assert types.loc["fan", "auc_mean"] == approx((7 / 8 + 1 / 2) / 2)
    assert types.loc["fan", "n_ids"] == 2
    overall = overall_summary_2020(t)
    assert overall["auc_mean"] == approx(((7 / 8 + 1 / 2) / 2 + 1.0) / 2)
    assert overall["auc_mean_over_ids"] == approx((7 / 8 + 1 / 2 + 1.0) / 3)
    res = evaluate_scores(df, year=2020)
    assert res.official_score is None and res.overall == approx(overall)


# -------------------------------------------------------------------------- errors


def test_missing_columns_named():
    with pytest.raises(ValueError, match="'score'"):
        section_table_2022(hand_section().drop(columns="score"))
    with pytest.raises(ValueError, match="'domain'"):
        section_table_2022(hand_section().drop(columns="domain"))
    with pytest.raises(ValueError, match="'auc_target'"):
        official_score(value_table().drop(columns="auc_target"))


def test_unknown_and_invalid_labels():
    df = hand_section()
    df.loc[[0, 5], "label"] = "unknown"
    with pytest.raises(ValueError, match=r"2 of 8 rows have label 'unknown'"):
        section_table_2022(df)
    df = hand_section()
    df.loc[1, "label"] = None
    with pytest.raises(ValueError, match="1 of 8 rows"):
        section_table_2022(df)
    df = hand_section()
    df.loc[1, "label"] = "abnormal"
    with pytest.raises(ValueError, match="abnormal"):
        section_table_2022(df)
    df = hand_section()
    df.loc[1, "domain"] = "middle"
    with pytest.raises(ValueError, match="middle"):
        section_table_2022(df)


def test_bad_scores_and_sections_named():
    df = pd.concat([hand_section("fan", 0), hand_section("pump", 1)], ignore_index=True)
    df.loc[9, "score"] = float("nan")
    with pytest.raises(ValueError, match=r"pump section 1: 1 rows.*section_01_0001\.wav"):
        section_table_2022(df)
    no_anomaly = hand_section("pump", 1)
    no_anomaly["label"] = "normal"
    with pytest.raises(ValueError, match=r"pump section 1.*0 anomalous"):
        section_table_2022(pd.concat([hand_section(), no_anomaly]))
    no_target = hand_section()
    no_target = no_target[~((no_target.domain == "target") & (no_target.label == "normal"))]
    with pytest.raises(ValueError, match=r"AUC\(target\) of fan section 0"):
        section_table_2022(no_target)
    dup = pd.concat([hand_section(), hand_section().iloc[[0]]])
    with pytest.raises(ValueError, match="section_00_0000.wav"):
        section_table_2022(dup)


# ------------------------------------------------------------- CSV evaluator (by name)


def write_csv(path: Path, rows: list[tuple[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{a},{b}\n" for a, b in rows))


def write_dcase_dirs(tmp_path: Path, frame: pd.DataFrame) -> tuple[Path, Path]:
    """Ground truth in file order, score CSVs with rows reversed and rotated."""
    gt, sc = tmp_path / "gt", tmp_path / "scores"
    for (mt, sec), g in frame.groupby(["machine_type", "section"]):
        name = f"{mt}_section_{sec:02d}_test.csv"
        g = g.sort_values("file")
        write_csv(gt / "ground_truth_data" / f"ground_truth_{name}",
                  [(f, int(lab == "anomaly")) for f, lab in zip(g.file, g.label)])
        write_csv(gt / "ground_truth_domain" / f"ground_truth_{name}",
                  [(f, int(d == "target")) for f, d in zip(g.file, g.domain)])
        rows = [(f"test/{f}" if i % 2 else f, s) for i, (f, s) in enumerate(zip(g.file, g.score))]
        rows = rows[::-1]
        rows = rows[3:] + rows[:3]
        write_csv(sc / f"anomaly_score_{name}", rows)
    return sc, gt


def two_types() -> pd.DataFrame:
    return pd.concat(
        [hand_section("fan", 0), ranked_section("fan", 1, [3, 1, 2, 6, 5, 4]),
         hand_section("ToyCar", 0)],
        ignore_index=True,
    )


def test_score_dir_joins_by_file_name_when_shuffled(tmp_path):
    frame = two_types()
    sc, gt = write_dcase_dirs(tmp_path, frame)
    res = evaluate_score_dir(sc, gt)
    t = res.sections.set_index(["machine_type", "section"])
    assert t.loc[("fan", 0), "auc_source"] == approx(8 / 9)
    assert t.loc[("fan", 0), "pauc"] == approx(37 / 57)
    assert t.loc[("ToyCar", 0), "auc_target"] == approx(4 / 6)
    direct = evaluate_scores(frame)
    pd.testing.assert_frame_equal(res.sections, direct.sections)
    assert res.official_score == approx(direct.official_score)
    assert res.official_score == approx(official_score(res.sections))
    assert list(res.types.index) == ["ToyCar", "fan"]
    json.dumps(res.to_dict())  # a results record
    truth = read_ground_truth(gt, machine_types=["fan"], sections=[1])
    assert truth["domain"].tolist() == ["source"] * 2 + ["target"] * 2 + ["source", "target"]


def test_score_dir_missing_and_extra_files_named(tmp_path):
    sc, gt = write_dcase_dirs(tmp_path, two_types())
    path = sc / "anomaly_score_fan_section_00_test.csv"
    lines = path.read_text().splitlines()
    kept = [ln for ln in lines if not ln.split(",")[0].endswith("section_00_0002.wav")]
    path.write_text("\n".join(kept + ["section_00_9999.wav,0.5"]) + "\n")
    with pytest.raises(ValueError) as err:
        evaluate_score_dir(sc, gt)
    msg = str(err.value)
    assert "anomaly_score_fan_section_00_test.csv" in msg
    assert "section_00_0002.wav" in msg and "section_00_9999.wav" in msg
    (sc / "anomaly_score_ToyCar_section_00_test.csv").unlink()
    with pytest.raises(FileNotFoundError, match="anomaly_score_ToyCar_section_00_test.csv"):
        evaluate_score_dir(sc, gt)


def test_score_dir_bad_lines_and_ground_truth(tmp_path):
    sc, gt = write_dcase_dirs(tmp_path, hand_section())
    path = sc / "anomaly_score_fan_section_00_test.csv"
    path.write_text("file,score\n" + path.read_text())
    with pytest.raises(ValueError, match="line 1"):
        evaluate_score_dir(sc, gt)
    sc, gt = write_dcase_dirs(tmp_path / "b", hand_section())
    dom = gt / "ground_truth_domain" / "ground_truth_fan_section_00_test.csv"
    dom.write_text("\n".join(dom.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(ValueError, match=r"section_00_0000\.wav"):
        evaluate_score_dir(sc, gt)


# ------------------------------------------------------------ from a clip index


def clip_index() -> pd.DataFrame:
    test = hand_section()
    test["path"] = [f"/data/dev_data/fan/test/{f}" for f in test.file]
    test["split"] = "test"
    train = pd.DataFrame({"machine_type": "fan", "section": 0, "domain": "source",
                          "label": "normal", "split": "train",
                          "path": ["/data/dev_data/fan/train/section_00_0000.wav"]})
    return pd.concat([test.drop(columns=["score", "file"]), train], ignore_index=True)


def test_scores_frame_from_index_joins_by_path():
    index = clip_index()
    scores = {Path(p): s for p, s in zip(index.path[:8], [sc for _, _, sc in HAND_ROWS])}
    shuffled = dict(reversed(list(scores.items())))
    frame = scores_frame_from_index(shuffled, index)
    assert set(frame.columns) >= {"machine_type", "section", "domain", "label", "score", "file", "path"}
    assert len(frame) == 8  # the train clip with the same file name is not picked up
    row = section_table_2022(frame).iloc[0]
    assert row["auc_source"] == approx(8 / 9) and row["auc_target"] == approx(4 / 6)
    series = pd.Series(list(scores.values()), index=[str(p) for p in scores])
    assert scores_frame_from_index(series, index)["score"].tolist() == frame["score"].tolist()


def test_scores_frame_from_index_errors():
    index = clip_index()
    scores = {p: 1.0 for p in index.path[:7]}  # one test clip unscored
    with pytest.raises(ValueError, match=r"1 test clips.*section_00_0007\.wav"):
        scores_frame_from_index(scores, index)
    assert len(scores_frame_from_index(scores, index, require_complete=False)) == 7
    with pytest.raises(ValueError, match="not in the clip index.*elsewhere.wav"):
        scores_frame_from_index({"/elsewhere.wav": 0.0}, index)
    eval_index = index.copy()
    eval_index.loc[:7, "label"] = "unknown"
    frame = scores_frame_from_index({p: 1.0 for p in index.path[:8]}, eval_index)
    with pytest.raises(ValueError, match="8 of 8 rows have label 'unknown'"):
        evaluate_scores(frame)


def test_to_dict_is_plain_json():
    res = evaluate_scores(hand_section(), domain_only=True)
    record = json.loads(json.dumps(res.to_dict()))
    assert record["official_score"] == approx(3 / (9 / 8 + 6 / 4 + 57 / 37))
    assert record["sections"][0]["auc_source_domain_only"] == approx(5 / 6)
    assert record["variant"]["domain_only_summary"]["target"]["auc"] == approx(0.5)
    assert not math.isnan(record["types"]["fan"]["hmean"])
