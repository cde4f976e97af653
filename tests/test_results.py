"""The results layer: tables from hand-made records, the published reference file, the page."""

from __future__ import annotations

import argparse
import json
import math

import pandas as pd
import pytest
from scipy.stats import hmean

from asdlib import results
from asdlib.results import (ALL_TYPES, PUBLISHED_COLUMNS, collect_records, load_published, published_tables,
                            results_page, results_tables, run_times, write_results_page)

PAPER = "Wilkinghoff 2023 (ICASSP)"
PAPER_2020 = "de Oliveira Neto & Figueiredo (GANs, DCASE 2020)"


def _result(system, seed, per_type, year=2022):
    """A result entry as Run.evaluate stores it; one section per type with AUCs and pAUC equal to
    the type's value, so the per-type h-mean is that value."""
    if year == 2020:
        return {"system": system, "seed": seed, "notes": {}, "year": 2020, "official_score": None,
                "overall": {}, "types": {t: {"auc_mean": v, "pauc_mean": v / 2, "n_ids": 1} for t, v in per_type.items()},
                "sections": [{"machine_type": t, "section": 0, "auc": v, "pauc": v / 2} for t, v in per_type.items()],
                "variant": {}}
    return {"system": system, "seed": seed, "notes": {}, "year": 2022,
            "official_score": hmean(list(per_type.values())), "overall": {},
            "types": {t: {"hmean": v, "n_sections": 1} for t, v in per_type.items()},
            "sections": [{"machine_type": t, "section": 0, "auc_source": v, "auc_target": v, "pauc": v}
                         for t, v in per_type.items()],
            "variant": {}}


def _write(runs, profile, notebook, tag, *, paper, seeds, types, results_, started, wall, dataset=2022,
           synthetic=True):
    rec = {"schema": 1, "notebook": notebook, "paper": paper, "dataset": dataset,
           "data_source": "synthetic" if synthetic else "real", "data_root": "/somewhere",
           "synthetic": {"preset": profile if profile != "paper" else "full", "seed": 0,
                         "generator_version": 1} if synthetic else None,
           "profile": profile, "seeds": seeds, "machine_types": types, "device": "cpu",
           "parameters": {}, "git_commit": None, "started": started, "finished": started,
           "wall_time_s": wall, "results": results_}
    path = runs / profile / notebook / tag / "record.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))
    return path


@pytest.fixture()
def runs(tmp_path):
    runs = tmp_path / "runs"
    nb = "03_wilkinghoff"
    # seed 0 written per machine type (asd run --types), seed 1 with both types together
    _write(runs, "demo", nb, "fan-seed0", paper=PAPER, seeds=[0], types=["fan"], started="2025-01-01T00:00:10",
           wall=30.0, results_=[_result("sub-cluster AdaCos", 0, {"fan": 0.6})])
    _write(runs, "demo", nb, "valve-seed0", paper=PAPER, seeds=[0], types=["valve"], started="2025-01-01T00:00:20",
           wall=40.0, results_=[_result("sub-cluster AdaCos", 0, {"valve": 0.8})])
    _write(runs, "demo", nb, "all-seed1", paper=PAPER, seeds=[1], types=["fan", "valve"],
           started="2025-01-01T00:00:30", wall=50.0, results_=[_result("sub-cluster AdaCos", 1, {"fan": 0.7, "valve": 0.9})])
    # an older run of seed 0 / fan that a rerun replaced: must not count
    _write(runs, "demo", nb, "old-fan-seed0", paper=PAPER, seeds=[0], types=["fan"], started="2024-12-31T00:00:00",
           wall=5.0, results_=[_result("sub-cluster AdaCos", 0, {"fan": 0.1})])
    # another profile: must not appear
    _write(runs, "ci", nb, "all-seed0", paper=PAPER, seeds=[0], types=["fan", "valve"],
           started="2025-01-01T00:00:40", wall=1.0, results_=[_result("sub-cluster AdaCos", 0, {"fan": 0.2, "valve": 0.2})])
    # a DCASE 2020 chapter on real data, two seeds in one record
    _write(runs, "demo", "01_gans", "ToyCar", paper=PAPER_2020, seeds=[0, 1], types=["ToyCar"],
           started="2025-01-01T00:01:00", wall=125.0, dataset=2020, synthetic=False,
           results_=[_result("GANomaly", 0, {"ToyCar": 0.5}, 2020), _result("GANomaly", 1, {"ToyCar": 0.7}, 2020)])
    return runs


def test_collect_filters_by_profile(runs, tmp_path):
    assert len(collect_records(runs, "demo")) == 5
    assert len(collect_records(runs, "ci")) == 1
    assert collect_records(tmp_path / "nowhere", "demo") == []


def test_table_mean_std_over_seeds_hand_computed(runs):
    tables = results_tables(collect_records(runs, "demo"), profile="demo")
    assert [t.meta["dataset"] for t in tables] == [2020, 2022]
    t2020, t2022 = tables
    key = (PAPER, "sub-cluster AdaCos")
    assert list(t2022.cells.columns) == ["fan", "valve", ALL_TYPES]
    # fan: seeds 0.6 (the newer record wins over 0.1) and 0.7; sample std = |a - b| / sqrt(2)
    assert t2022.mean.loc[key, "fan"] == pytest.approx(0.65)
    assert t2022.std.loc[key, "fan"] == pytest.approx(0.1 / math.sqrt(2))
    assert t2022.n.loc[key, "fan"] == 2
    assert t2022.cells.loc[key, "fan"] == "65.00 ± 7.07"
    assert t2022.cells.loc[key, "valve"] == "85.00 ± 7.07"
    # all types = official score per seed (h-mean over every section of both types), then mean ± std
    s0, s1 = 2 * 0.6 * 0.8 / 1.4, 2 * 0.7 * 0.9 / 1.6          # 0.685714..., 0.7875
    assert t2022.mean.loc[key, ALL_TYPES] == pytest.approx((s0 + s1) / 2)
    assert t2022.std.loc[key, ALL_TYPES] == pytest.approx(abs(s0 - s1) / math.sqrt(2))
    assert t2022.cells.loc[key, ALL_TYPES] == "73.66 ± 7.20"
    # DCASE 2020: mean AUC per type, over seeds
    assert t2020.cells.loc[(PAPER_2020, "GANomaly"), "ToyCar"] == "60.00 ± 14.14"
    assert t2020.cells.loc[(PAPER_2020, "GANomaly"), ALL_TYPES] == "60.00 ± 14.14"


def test_captions_name_data_source_and_profile(runs):
    t2020, t2022 = results_tables(collect_records(runs, "demo"), profile="demo")
    assert "SYNTHETIC" in t2022.caption and "not comparable" in t2022.caption and "'demo'" in t2022.caption
    assert t2022.meta["synthetic"] and not t2020.meta["synthetic"]
    assert "SYNTHETIC" not in t2020.caption and "real DCASE 2020 data" in t2020.caption
    assert "profile 'demo'" in t2020.caption


def test_run_times_per_chapter(runs):
    times = run_times(collect_records(runs, "demo"))
    assert times.loc["03_wilkinghoff", "runs"] == 4
    assert times.loc["03_wilkinghoff", "total_s"] == pytest.approx(125.0)
    assert times.loc["03_wilkinghoff", "total"] == "2 min 05 s"
    assert times.loc["01_gans", "longest run"] == "2 min 05 s"
    assert times.loc["03_wilkinghoff", "longest run"] == "50.0 s"


def test_published_reference_file():
    pub = load_published()
    assert tuple(pub.columns) == PUBLISHED_COLUMNS
    for col in ("paper", "table", "page", "system", "dataset", "machine_type", "metric"):
        assert (pub[col].str.strip() != "").all(), col
    # one scale for the whole file: percent
    assert pub["value"].between(0, 100).all() and (pub["value"] > 1).any()
    aithu = pub[pub["paper"] == "Liu et al. 2022 (AITHU)"]
    assert len(aithu) >= 16 and {"Table 1", "Table 2"} <= set(aithu["table"])
    for table, system in (("Table 1", "baseline-AE"), ("Table 2", "baseline-MobileNetV2")):
        rows = aithu[(aithu["table"] == table) & (aithu["system"] == system)].set_index("machine_type")["value"]
        assert len(rows) == 8
        # the transcription agrees with itself: the printed h-mean column is the h-mean of the types
        assert hmean(rows.drop("all")) == pytest.approx(rows["all"], abs=0.01)
    assert aithu.set_index(["table", "machine_type"]).loc[("Table 1", "all"), "value"] == 52.61


def test_published_wilkinghoff_dev_and_eval_halves():
    """Tables 3-7 of Wilkinghoff: both halves, the same systems and metrics, one number per key,
    each half its own published table (never mixed)."""
    pub = load_published()
    wk = pub[pub["paper"] == PAPER]
    dev, ev = "DCASE 2022 Task 2 dev (sections 00-02)", "DCASE 2022 Task 2 eval (sections 03-05)"
    assert set(wk["dataset"]) == {dev, ev}
    keys = ["table", "page", "system", "machine_type", "metric"]
    halves = {d: wk[wk["dataset"] == d] for d in (dev, ev)}
    for half in halves.values():
        assert not half.duplicated(keys).any()
        assert half["table"].value_counts().to_dict() == {"Table 6": 96, "Table 4": 72, "Table 3": 48, "Table 5": 48,
                                                          "Table 7": 24}
    assert (set(map(tuple, halves[dev][keys].to_numpy())) == set(map(tuple, halves[ev][keys].to_numpy())))
    value = halves[ev].set_index(["table", "system", "metric"])["value"]
    assert value[("Table 3", "non-trainable centres, no bias terms", "auc_target_domain_only")] == 69.80
    assert value[("Table 7", "standard design choices", "pauc_mixed")] == 55.22
    datasets = {t.meta["dataset"] for t in published_tables(pub, paper=PAPER)}
    assert datasets == {dev, ev}


def test_published_tables_and_bad_file(tmp_path):
    (table,) = [t for t in published_tables(load_published()) if t.meta["paper"] == "Liu et al. 2022 (AITHU)"]
    assert "published in the paper (real dcase data)" in table.caption.lower()
    assert table.cells.columns[-1] == ALL_TYPES
    assert table.cells.loc[("Table 1, p. 1", "baseline-AE"), ALL_TYPES] == "52.61"
    bad = tmp_path / "bad.csv"
    bad.write_text("paper,table,page,system,dataset,machine_type,metric,value,note\nP,Table 1,,S,D,fan,hmean,50,\n")
    with pytest.raises(ValueError, match="line 2: column 'page' is empty"):
        load_published(bad)


def test_page_written_atomically_and_labels_synthetic(runs, tmp_path, monkeypatch):
    calls = []
    real = results.atomic_write_text

    def spy(path, text):
        calls.append(path)
        real(path, text)

    monkeypatch.setattr(results, "atomic_write_text", spy)
    out = tmp_path / "book" / "_generated" / "results.md"
    assert write_results_page(runs, "demo", out) == out
    assert calls == [out]
    # the page and its summary figure, no temporary file left
    assert sorted(p.name for p in out.parent.iterdir()) == ["results.md", results.SUMMARY_FIGURE]
    page = out.read_text()
    assert page.startswith("# Results")
    # the summary figure opens the page, before the explanation
    assert page.index(f":::{{figure}} {results.SUMMARY_FIGURE}") < page.index("Every number on this page")
    assert (out.parent / results.SUMMARY_FIGURE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # n goes in the caption, not in the cells
    assert "(n=" not in page and "n = 2 seeds per cell" in page
    assert "SYNTHETIC" in page and "73.66 ± 7.20" in page
    assert "published in the paper (real dcase data)" in page.lower() and "52.61" in page
    assert "## Run times per chapter" in page and "2 min 05 s" in page


def test_page_without_records_says_so(tmp_path):
    page = results_page(tmp_path / "runs", "paper")
    assert "No results records were found for profile `paper`" in page
    assert "Ours: DCASE" not in page and "{figure}" not in page   # no numbers of ours, only the published ones
    assert "52.61" in page and "No records, so no run times." in page


def test_cli_subcommand(runs, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="asd")
    results.register(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "page.md"
    args = parser.parse_args(["results", "--runs", str(runs), "--profile", "demo", "--out", str(out)])
    assert args.func(args) == 0
    assert out.is_file() and "5 record(s)" in capsys.readouterr().out
    assert isinstance(pd.read_csv(results.PUBLISHED_CSV), pd.DataFrame)


def test_copy_chapters_prefers_the_all_types_run_with_the_lowest_seed(tmp_path):
    from asdlib.results import copy_chapters

    records = []
    for tag, seeds in [("all-seed1", [1]), ("all-seed0", [0]), ("fan-seed0", [0])]:
        nb = tmp_path / "runs" / tag / "notebook.ipynb"
        nb.parent.mkdir(parents=True)
        nb.write_text(tag)
        records.append({"notebook": "00_x", "seeds": seeds, "runner": {"notebook": str(nb), "tag": tag}})
    written = copy_chapters(records, tmp_path / "chapters")
    assert [p.name for p in written] == ["00_x.ipynb"]
    assert written[0].read_text() == "all-seed0"


def test_records_of_runs_outside_the_latest_plan_are_not_shown(tmp_path):
    import json as _json

    from asdlib.results import collect_records

    base = tmp_path / "runs" / "demo" / "00_x"
    for tag in ("all-seed0", "all-seed1"):
        (base / tag).mkdir(parents=True)
        (base / tag / "record.json").write_text(_json.dumps({"profile": "demo", "notebook": "00_x", "results": []}))
    assert len(collect_records(tmp_path / "runs", "demo")) == 2   # no plan: every record
    (base / "plan.json").write_text(_json.dumps({"tags": ["all-seed0"]}))
    kept = collect_records(tmp_path / "runs", "demo")
    assert [r["_path"] for r in kept] == [str(base / "all-seed0" / "record.json")]


def test_seeds_note_names_the_cells_with_fewer_seeds():
    from asdlib.results import seeds_note

    n = pd.DataFrame([[3, 3, 0], [3, 1, 3]], index=pd.Index(["SC", "MHCR"], name="system"),
                     columns=["fan", "valve", ALL_TYPES])
    assert seeds_note(n) == "n = 3 seeds per cell, except MHCR, valve: n = 1"
    assert seeds_note(n.replace(1, 3)) == "n = 3 seeds per cell"
    assert seeds_note(pd.DataFrame([[1]])) == "n = 1 seed per cell (no standard deviation)"
    assert results.format_cell(0.5, math.nan, 1) == "50.00" and results.format_cell(0.5, 0.1, 2) == "50.00 ± 10.00"


def test_summary_frame_sets_ours_beside_the_paper_and_the_reference(tmp_path):
    from asdlib.results import summary_figure, summary_frame

    runs = tmp_path / "runs"
    aithu = "Liu et al. 2022 (AITHU)"
    _write(runs, "demo", "00_ref", "all-seed0", paper="DCASE", seeds=[0], types=["fan"], started="2025-01-01T00:00:00",
           wall=1.0, results_=[_result("reference: mean log-mel", 0, {"fan": 0.7})])
    _write(runs, "demo", "aithu", "all-seed0", paper=aithu, seeds=[0, 1], types=["fan"], started="2025-01-01T00:00:01",
           wall=1.0, results_=[_result("DCASE 2022 autoencoder baseline", 0, {"fan": 0.5}),
                               _result("DCASE 2022 autoencoder baseline", 1, {"fan": 0.6}),
                               _result("SC", 0, {"fan": 0.8})])
    published = pd.DataFrame([{"paper": aithu, "table": "Table 1", "page": "2", "system": "baseline-AE",
                               "dataset": "dev", "machine_type": "all", "metric": "hmean", "value": 52.61, "note": ""}])
    frame = summary_frame(collect_records(runs, "demo"), published).set_index("system")
    assert "reference: mean log-mel" not in frame.index                      # drawn as a line, not a row
    assert frame.loc["DCASE 2022 autoencoder baseline", "ours"] == pytest.approx(55.0)
    assert frame.loc["DCASE 2022 autoencoder baseline", "n"] == 2
    assert frame.loc["DCASE 2022 autoencoder baseline", "paper_value"] == 52.61   # through PAPER_SYSTEM_NAMES
    assert math.isnan(frame.loc["SC", "paper_value"]) and frame.loc["SC", "n"] == 1
    assert frame["reference"].tolist() == pytest.approx([70.0, 70.0])
    fig = summary_figure(collect_records(runs, "demo"), published)
    assert "SYNTHETIC" in fig._suptitle.get_text()
    assert summary_figure([], published) is None
    # a chapter that records the reference detector on its own inputs gets that one as its line
    _write(runs, "demo", "wk", "all-seed0", paper="Wilkinghoff", seeds=[0], types=["fan"], started="2025-01-01T00:00:02",
           wall=1.0, results_=[_result("reference: mean log-mel", 0, {"fan": 0.6}), _result("presented", 0, {"fan": 0.9})])
    frame = summary_frame(collect_records(runs, "demo"), published).set_index("system")
    assert frame.loc["presented", "reference"] == pytest.approx(60.0)
    assert frame.loc["SC", "reference"] == pytest.approx(70.0)   # no own line: the first chapter's ("00_ref")
