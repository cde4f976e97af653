"""asdlib.book: the helpers the chapter notebooks share (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from asdlib.book import mean_std, over_seeds, per_type_table, published_value, row_index, settings_table


def test_mean_std_is_the_sample_std_in_percent():
    assert mean_std([0.5, 0.6]) == "55.00 ± 7.07"          # std of (50, 60) with ddof 1: 7.071
    assert mean_std([0.512]) == "51.20"
    assert mean_std([0.5, 0.6, 0.7], digits=1) == "60.0 ± 10.0"
    assert mean_std([]) == "-"
    assert over_seeds([0, 1, 2]) == "mean ± std over seeds [0, 1, 2]" and over_seeds([3]) == "one seed (3)"


def test_published_value_finds_one_number_or_says_none():
    published = pd.DataFrame({"table": ["Table 3", "Table 3", "Table 4"], "system": ["SC", "SC", "SC"],
                              "machine_type": ["fan", "all", "fan"], "metric": ["hmean"] * 3,
                              "value": [80.641, 82.0, 70.0]})
    assert published_value(published, "Table 3", "SC", "fan") == "80.64"
    assert published_value(published, "Table 3", "SC", "valve") == "-"
    assert published_value(published, "Table 3", "SC", "fan", digits=1) == "80.6"
    with pytest.raises(ValueError, match="2 rows"):
        published_value(published, "Table 3", "SC")


def test_per_type_table_rows_and_official_row():
    per_type = pd.DataFrame({"system": "SC", "seed": [0, 1], "machine_type": "fan", "hmean": [0.6, 0.7],
                             "auc_source_hmean": [0.6, 0.6], "auc_target_hmean": [0.5, 0.5], "pauc_hmean": [0.5, 0.7]})
    overall = pd.DataFrame({"system": "SC", "seed": [0, 1], "official": [0.6, 0.8]})
    table = per_type_table(per_type, overall, "SC", ["fan"], paper=lambda mt: "80.64" if mt == "fan" else "82.00",
                           yardstick={"fan": 0.55, "all types": 0.56}, extra=lambda mt: {"network": "MFN"})
    assert table.loc["network", "fan"] == "MFN" and table.loc["ours: h-mean (%)", "fan"] == "65.00 ± 7.07"
    assert table.loc["ours: h-mean (%)", "all types (official score)"] == "70.00 ± 14.14"
    assert table.loc["paper: h-mean (%)", "all types (official score)"] == "82.00"
    assert table.loc["yardstick: reference detector", "fan"] == "55.00"


def test_row_index_takes_positions_or_a_mask():
    assert row_index(np.array([True, False, True])).tolist() == [0, 2]
    assert row_index(pd.Index([3, 1])).tolist() == [3, 1]
    assert row_index([2]).dtype == torch.int64


def test_settings_table_has_every_profile_and_says_what_none_means():
    table = settings_table("wilkinghoff_design_choices")
    assert list(table.columns) == ["paper", "demo", "ci"]
    assert table.loc["crop_seconds", "paper"] == "whole clip" and table.loc["crop_seconds", "ci"] == "0.5"
    assert table.loc["configurations", "paper"] == "all eleven"
    assert table.loc["seeds", "demo"] == "0, 1" and table.loc["seeds", "paper"] == "0, 1, 2, 3, 4"


def test_load_central_crops_cuts_the_middle_of_each_clip(tmp_path):
    import soundfile as sf

    from asdlib.data import load_central_crops

    ramp = (np.arange(16000) / 16000 - 0.5).astype(np.float32)
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"clip{k}.wav")
        sf.write(paths[-1], ramp * (k + 1) / 4, 16000, subtype="FLOAT")
    crops = load_central_crops(paths, 0.5, chunk=2)          # two chunks
    assert crops.shape == (3, 8000) and crops.dtype == np.float32
    np.testing.assert_allclose(crops[2], ramp[4000:12000] * 3 / 4)
    assert load_central_crops(paths, None).shape == (3, 16000)
    with pytest.raises(ValueError, match="longer than the clips"):
        load_central_crops(paths, 2.0)
