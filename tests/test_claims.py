"""The claims ledger: the verdict rule on hand-computed cases, our differences from records,
the paper's differences from the published file, and every chapter's claims resolvable."""

import math

import numpy as np
import pandas as pd
import pytest

from asdlib.chapters import CHAPTERS
from asdlib.chapters.spec import ChapterSpec, Claim, Evidence
from asdlib.claims import (SE_MULTIPLE, chapter_ledger, claim_value, differences, ledger, ledger_markdown,
                           paper_difference, verdict)
from asdlib.results import load_published


# ------------------------------------------------------------------------------- the rule
def test_verdict_follows_the_two_standard_error_rule():
    # mean 2, std 1 over 4 seeds: SE 0.5, 2 SE = 1 < 2 -> supported
    assert verdict([1.0, 2.0, 3.0, 2.0]) == "supported"
    assert verdict([-1.0, -2.0, -3.0, -2.0]) == "contradicted"
    # mean 1, std = sqrt(2) over 2 seeds ([0, 2]): SE 1, 2 SE = 2 > 1 -> inconclusive
    assert verdict([0.0, 2.0]) == "inconclusive"
    # exactly at the bound is not beyond it: d = [1, 3] has mean 2, SE 1 -> 2 SE = 2, not > 2
    assert SE_MULTIPLE == 2.0 and verdict([1.0, 3.0]) == "inconclusive"
    assert verdict([0.9, 3.0]) == "inconclusive" and verdict([1.1, 3.0]) == "supported"


def test_verdict_with_one_seed_or_none():
    assert verdict([5.0]) == "inconclusive"    # no standard error from one seed
    assert verdict([]) == "not run"
    assert verdict([2.0, 2.0]) == "supported"  # no spread at all: the sign decides
    assert verdict([0.0, 0.0]) == "inconclusive"


# ------------------------------------------------------------------------------- ours
def _result(system, seed, official, part="dev", types=None, **notes):
    return {"system": system, "seed": seed, "part": part, "official_score": official,
            "overall": {"official_score": official, "auc_target_hmean": official - 0.1},
            "types": types or {}, "notes": notes}


def test_differences_are_per_seed_in_points_and_newest_record_wins():
    claim = Claim("X1", "a beats b", "a", "b")
    old = {"started": "1", "results": [_result("a", 0, 0.50), _result("b", 0, 0.60)]}
    new = {"started": "2", "results": [_result("a", 0, 0.70), _result("b", 0, 0.60),
                                       _result("a", 1, 0.65), _result("b", 1, 0.55),
                                       _result("a", 2, 0.99)]}          # seed 2 has no b: left out
    d = differences([new, old], claim)
    assert list(d) == [0, 1]
    assert d[0] == pytest.approx(10.0) and d[1] == pytest.approx(10.0)


def test_claim_value_reads_the_metric_the_claim_names():
    res = _result("a", 0, 0.7, types={"valve": {"hmean": 0.8, "auc_mean": 0.9}},
                  domain_only_dev={"target": {"auc": 0.66}})
    assert claim_value(res, Claim("k", "", "a", "b")) == 0.7
    assert claim_value(res, Claim("k", "", "a", "b", metric="auc_target_hmean")) == pytest.approx(0.6)
    assert claim_value(res, Claim("k", "", "a", "b", machine_type="valve")) == 0.8
    assert claim_value(res, Claim("k", "", "a", "b", machine_type="fan")) is None
    assert claim_value(res, Claim("k", "", "a", "b", metric="notes.domain_only_dev.target.auc")) == 0.66
    dcase2020 = {"year": 2020, "system": "a", "seed": 0, "official_score": None,
                 "overall": {"auc_mean": 0.61}, "types": {"valve": {"auc_mean": 0.55}}}
    assert claim_value(dcase2020, Claim("k", "", "a", "b")) == 0.61
    assert claim_value(dcase2020, Claim("k", "", "a", "b", machine_type="valve")) == 0.55


def test_part_selects_development_or_evaluation_sections():
    rec = {"results": [_result("a", 0, 0.7), _result("b", 0, 0.6),
                       _result("a", 0, 0.5, part="eval"), _result("b", 0, 0.6, part="eval")]}
    assert differences([rec], Claim("k", "", "a", "b"))[0] == pytest.approx(10.0)
    assert differences([rec], Claim("k", "", "a", "b", part="eval"))[0] == pytest.approx(-10.0)


# ------------------------------------------------------------------------------- the paper
def _published(rows):
    return pd.DataFrame(rows, columns=["paper", "table", "page", "system", "dataset", "machine_type", "metric",
                                       "value", "note"])


def test_paper_difference_from_printed_rows():
    pub = _published([
        ("P", "T1", "1", "a", "dev", "all", "hmean", 80.0, ""), ("P", "T1", "1", "b", "dev", "all", "hmean", 75.5, ""),
        ("P", "T2", "2", "c", "dev", "x", "hmean", 60.0, ""), ("P", "T2", "2", "c", "dev", "y", "hmean", 70.0, ""),
        ("P", "T1", "1", "a", "dev", "x", "hmean", 50.0, ""), ("P", "T1", "1", "a", "dev", "y", "hmean", 90.0, ""),
        ("P", "T1", "1", "a", "eval", "all", "hmean", 70.0, ""),
    ])
    assert paper_difference(Evidence("T1", "a", "b"), "P", pub) == pytest.approx(4.5)   # dev preferred
    # mean over the types both print: (50 - 60 + 90 - 70) / 2 = 5
    assert paper_difference(Evidence("T1", "a", "c", machine_type="mean", worse_table="T2"), "P", pub) == 5.0
    assert paper_difference(Evidence("T1", "a", "c", machine_type="x", worse_table="T2"), "P", pub) == -10.0
    assert paper_difference(None, "P", pub) is None
    with pytest.raises(ValueError, match="0 published rows"):
        paper_difference(Evidence("T1", "a", "nobody"), "P", pub)


def test_every_chapter_states_claims_the_published_file_resolves():
    published = load_published()
    for stem, spec in CHAPTERS.items():
        if spec.paper is None:
            assert not spec.claims
            continue
        assert len(spec.claims) >= 3, f"{stem}: a ledger of at least 3 of the paper's claims"
        for claim in spec.claims:
            assert claim.paper is not None or claim.where, f"{stem} {claim.key}: where does the paper say it?"
            value = paper_difference(claim.paper, spec.paper.short, published)
            if value is not None:
                assert math.isfinite(value)


def test_claim_keys_are_unique_per_chapter():
    with pytest.raises(ValueError, match="repeat"):
        ChapterSpec(stem="x", paper=None, settings_class=CHAPTERS["aithu_probabilistic"].settings_class,
                    claims=(Claim("K", "", "a", "b"), Claim("K", "", "c", "d")))


# ------------------------------------------------------------------------------- the ledger
def test_ledger_of_a_chapter_from_records(tmp_path):
    stem = "aithu_aegan_ensembles"
    spec = CHAPTERS[stem]
    e1 = spec.claims[0]                      # submission 1 > submission 2
    recs = [{"notebook": stem, "dataset": 2022, "started": str(s), "synthetic": {"preset": "demo"},
             "data_source": "synthetic",
             "results": [_result(e1.better, s, 0.70 + 0.01 * s), _result(e1.worse, s, 0.65 + 0.012 * s)]}
            for s in range(3)]
    recs.append({"notebook": "other", "results": [_result(e1.better, 0, 0.0), _result(e1.worse, 0, 1.0)]})
    table = ledger(recs, stem)
    row = table.set_index("key").loc[e1.key]
    assert row["n_seeds"] == 3 and row["verdict"] == "supported"
    assert row["ours_mean"] == pytest.approx(np.mean([5.0, 4.8, 4.6]))
    assert row["paper"] == pytest.approx(86.81 - 86.51)     # Table 10's all-types row
    others = table[table["key"] != e1.key]
    assert (others["verdict"] == "not run").all()
    text = chapter_ledger(recs, stem)
    assert "SYNTHETIC" in text and "| E1 |" in text and "supported" in text


def test_ledger_markdown_of_no_claims():
    assert "no claims" in ledger_markdown(ledger([], "00_task_data_metrics"), "x")


# ------------------------------------------------------------------------------- in the book
def _ensemble_records(stem="aithu_aegan_ensembles"):
    e1 = CHAPTERS[stem].claims[0]
    return [{"notebook": stem, "dataset": 2022, "started": str(s), "data_source": "synthetic",
             "synthetic": {"preset": "demo"}, "profile": "demo", "seeds": [s],
             "results": [_result(e1.better, s, 0.70, types={"valve": {"hmean": 0.70}}),
                         _result(e1.worse, s, 0.60 + 0.01 * s, types={"valve": {"hmean": 0.60 + 0.01 * s}})]}
            for s in range(3)]


def test_the_book_copy_of_a_chapter_shows_the_ledger_over_every_seed(tmp_path):
    import nbformat

    from asdlib.results import LEDGER_TAG, every_seed_ledger

    nb = nbformat.v4.new_notebook()
    stale = nbformat.v4.new_output("stream", text="the ledger of seed 0 only")
    nb.cells = [nbformat.v4.new_code_cell("x = 1", outputs=[stale]),
                nbformat.v4.new_code_cell("show_ledger(run)", metadata={"tags": [LEDGER_TAG]}, outputs=[stale])]
    path = tmp_path / "aithu_aegan_ensembles.ipynb"
    nbformat.write(nb, str(path))
    assert every_seed_ledger(path, "aithu_aegan_ensembles", _ensemble_records())
    cells = nbformat.read(str(path), as_version=4).cells
    assert cells[0].outputs[0]["text"] == "the ledger of seed 0 only"          # other cells untouched
    captions = [o["data"]["text/markdown"] for o in cells[1].outputs if "text/markdown" in o["data"]]
    tables = [o["data"]["text/html"] for o in cells[1].outputs if "text/html" in o["data"]]
    assert len(captions) == len(tables) == 2                 # our results over seeds, then the ledger
    assert "mean ± std over seeds" in captions[0] and "n = 3 seeds" in captions[0]
    assert captions[1].startswith("**Claims ledger") and "SYNTHETIC" in captions[1]
    assert "<td>E1</td>" in tables[1] and "<td>supported</td>" in tables[1] and "<td>3</td>" in tables[1]
    assert not every_seed_ledger(path, "wilkinghoff_design_choices", _ensemble_records())   # no records of it


def test_results_page_gathers_the_books_ledger(tmp_path):
    import json

    from asdlib.results import results_page

    for rec in _ensemble_records():
        folder = tmp_path / "demo" / rec["notebook"] / f"all-seed{rec['seeds'][0]}"
        folder.mkdir(parents=True)
        (folder / "record.json").write_text(json.dumps({**rec, "schema": 1, "paper": "Liu et al. 2022 (AITHU)"}))
    page = results_page(tmp_path, "demo")
    ledger_part = page[page.index("## Claims ledger"):]
    assert "1 supported" in ledger_part and "| E1 |" in ledger_part
    assert "{doc}`aithu_aegan_ensembles <chapters/aithu_aegan_ensembles>`" in ledger_part


def test_every_chapter_with_claims_shows_its_ledger_cell():
    from pathlib import Path

    import jupytext

    from asdlib.results import LEDGER_TAG

    root = Path(__file__).resolve().parents[1] / "notebooks"
    for stem, spec in CHAPTERS.items():
        if not spec.claims:
            continue
        nb = jupytext.read(root / f"{stem}.md")
        tagged = [c for c in nb.cells if LEDGER_TAG in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{stem}: one cell tagged {LEDGER_TAG}"
        assert "show_ledger(run)" in tagged[0].source
