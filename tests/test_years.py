"""Every DCASE edition's tree, 2021 to 2026, built from its real file-name patterns; every field checked."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

from asdlib.data import DataError, load_clips, read_wav
from asdlib.data.layout import index_dataset, parse_revealed_attributes, parse_supplemental_name

SR = 16_000


def wav(path, channels=1, values=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 800  # 50 ms
    data = np.random.default_rng(0).uniform(-0.5, 0.5, (n, channels)) if values is None else \
        np.tile(np.asarray(values, dtype=float), (n, 1))
    sf.write(str(path), data, SR, subtype="PCM_16")
    return path


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def row(index, file):
    hit = index[index["file"] == file]
    assert len(hit) == 1, file
    return hit.iloc[0]


# ----------------------------------------------------------------------------- 2021
def test_2021_split_test_folders_free_form_attributes_and_per_domain_ground_truth(tmp_path):
    root = tmp_path / "dcase2021t2"
    dev, ev = root / "dev_data" / "fan", root / "eval_data" / "fan"
    wav(dev / "train" / "section_00_source_train_normal_0000_strength_1_ambient.wav")
    wav(dev / "train" / "section_00_target_train_normal_0000_strength_2_ambient.wav")
    wav(dev / "source_test" / "section_00_source_test_normal_0000.wav")
    wav(dev / "target_test" / "section_00_target_test_anomaly_0000.wav")
    wav(ev / "train" / "section_03_source_train_normal_0000_0_g_25_mm_2000_mV_none.wav")
    wav(ev / "source_test" / "section_03_source_test_0000.wav")
    wav(ev / "target_test" / "section_03_target_test_0000.wav")
    write(root / "ground_truth_data" / "ground_truth_fan_section_03_source_test.csv", "section_03_source_test_0000.wav,1\n")
    write(root / "ground_truth_data" / "ground_truth_fan_section_03_target_test.csv", "section_03_target_test_0000.wav,0\n")
    index = index_dataset(root, year=2021)
    assert set(index["year"]) == {2021} and len(index) == 7
    r = row(index, "section_00_source_train_normal_0000_strength_1_ambient.wav")
    assert (r["part"], r["split"], r["section"], r["domain"], r["label"]) == ("dev", "train", 0, "source", "normal")
    assert r["attribute_string"] == "strength_1_ambient" and r["attributes"] == {}  # free-form, not pairs
    r = row(index, "section_00_target_test_anomaly_0000.wav")
    assert (r["split"], r["domain"], r["label"], r["attribute_string"]) == ("test", "target", "anomaly", "")
    r = row(index, "section_03_source_test_0000.wav")
    assert (r["part"], r["section"], r["domain"], r["label"]) == ("eval", 3, "source", "anomaly")
    assert row(index, "section_03_target_test_0000.wav")["label"] == "normal"
    # the 2021 baseline copies source_test/ and target_test/ into test/: test/ is read, the copies named
    for f in ("section_00_source_test_normal_0000.wav", "section_00_target_test_anomaly_0000.wav"):
        wav(dev / "test" / f)
    with pytest.warns(UserWarning, match="source_test.*not indexed.*test holds the test clips"):
        again = index_dataset(root, year=2021)
    assert len(again) == 7 and all("/fan/test/" in p for p in again[(again["part"] == "dev") & (again["split"] == "test")]["path"])
    wav(dev / "target_test" / "section_00_source_test_normal_0001.wav")
    (dev / "test").rename(dev / "old")
    with pytest.raises(DataError, match="name says domain 'source' but the file is in 'target_test/'"):
        index_dataset(root, year=2021)


# ----------------------------------------------------------------------------- 2023
def test_2023_baseline_raw_layout_and_the_evaluators_attribute_list(tmp_path):
    root = tmp_path / "data" / "dcase2023t2"
    dev, ev = root / "dev_data" / "raw" / "bearing", root / "eval_data" / "raw" / "bandsaw"
    wav(dev / "train" / "section_00_source_train_normal_0000_vel_6_loc_A.wav")
    wav(dev / "test" / "section_00_target_test_anomaly_0000_vel_12_loc_B.wav")
    write(dev / "attributes_00.csv", "file_name,d1p,d1v,d2p,d2v\ntrain/section_00_source_train_normal_0000_vel_6_loc_A.wav,vel,6,loc,A\n")
    wav(ev / "train" / "section_00_source_train_normal_0000_vel_6.wav")
    wav(ev / "test" / "section_00_0000.wav")
    wav(ev / "test" / "section_00_0001.wav")
    gt = tmp_path / "data"  # the root's parent is a documented place
    write(gt / "ground_truth_data" / "ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,1\nsection_00_0001.wav,0\n")
    write(gt / "ground_truth_domain" / "ground_truth_bandsaw_section_00_test.csv", "section_00_0000.wav,1\nsection_00_0001.wav,0\n")
    write(gt / "ground_truth_attributes" / "ground_truth_bandsaw_section_00_test.csv",
          "section_00_0000.wav,section_00_target_test_anomaly_0012_vel_12\n"
          "section_00_0001.wav,section_00_source_test_normal_0031_vel_6\n")
    index = index_dataset(root, year=2023)
    assert list(index["machine_type"].unique()) == ["bandsaw", "bearing"]
    r = row(index, "section_00_source_train_normal_0000_vel_6_loc_A.wav")
    assert (r["year"], r["part"], r["split"], r["attributes"]) == (2023, "dev", "train", {"vel": "6", "loc": "A"})
    assert "/dev_data/raw/bearing/train/" in r["path"]
    r = row(index, "section_00_0000.wav")
    assert (r["part"], r["split"], r["domain"], r["label"]) == ("eval", "test", "target", "anomaly")
    assert (r["attribute_string"], r["attributes"]) == ("vel_12", {"vel": "12"})
    r = row(index, "section_00_0001.wav")
    assert (r["domain"], r["label"], r["attributes"]) == ("source", "normal", {"vel": "6"})
    # the baselines' test_rename/ copies are named, not indexed twice
    wav(ev / "test_rename" / "section_00_target_test_anomaly_0012_vel_12.wav")
    with pytest.warns(UserWarning, match="test_rename: not indexed"):
        assert len(index_dataset(root, year=2023)) == len(index)
    (ev / "test_rename").rename(tmp_path / "renamed")
    with pytest.raises(DataError, match="year=2020 but the files follow the DCASE 2021\\+ naming"):
        index_dataset(root, year=2020)
    with pytest.raises(ValueError, match="year=2019: the DCASE Task 2 editions read are 2020, 2021"):
        index_dataset(root, year=2019)


# ----------------------------------------------------------------------------- 2024
def test_2024_hidden_attributes_revealed_by_correspondence_tables_and_three_column_lists(tmp_path):
    root = tmp_path / "dcase2024t2"
    dev = root / "dev_data" / "raw" / "gearbox"
    wav(dev / "train" / "section_00_source_train_normal_0001_noAttribute.wav")
    wav(dev / "test" / "section_00_source_test_anomaly_0001_noAttribute.wav")
    wav(dev / "test" / "section_00_target_test_normal_0029_noAttribute.wav")
    tables = root / "ground_truth_attributes" / "dcase2024t2" / "dev_data" / "gearbox"
    write(tables / "attributes_00_train_correspondence.csv", "source_file_name,target_file_name\n"
          "section_00_source_train_normal_0001_pro_A_wt_200.wav,section_00_source_train_normal_0001_noAttribute.wav\n")
    write(tables / "attributes_00_test_correspondence.csv", "source_file_name,target_file_name\n"
          "section_00_source_test_anomaly_0001_pro_A_wt_200_damage1.wav,section_00_source_test_anomaly_0001_noAttribute.wav\n"
          "section_00_target_test_normal_0029_pro_B_wt_250.wav,section_00_target_test_normal_0029_noAttribute.wav\n")
    ev = root / "eval_data" / "raw"
    wav(ev / "AirCompressor" / "train" / "section_00_source_train_normal_0001_noAttribute.wav")
    wav(ev / "AirCompressor" / "test" / "section_00_0001.wav")
    write(root / "ground_truth_data" / "ground_truth_AirCompressor_section_00_test.csv", "section_00_0001.wav,0\n")
    write(root / "ground_truth_domain" / "ground_truth_AirCompressor_section_00_test.csv", "section_00_0001.wav,0\n")
    write(root / "ground_truth_attributes" / "ground_truth_AirCompressor_section_00_test.csv",
          "section_00_0001.wav,section_00_source_test_normal_0001_noAttribute,"
          "section_00_source_test_normal_0001_fl_2_nos_3.wav\n")
    wav(ev / "3DPrinter" / "train" / "section_00_source_train_normal_0001_mdl_A_spd_1.wav")
    wav(ev / "3DPrinter" / "test" / "section_00_0001.wav")
    write(root / "eval_data_list_2024.csv", "3DPrinter\nsection_00_0001.wav,section_00_target_test_anomaly_0001_mdl_B_spd_2.wav\n"
          "ToyCircuit\nsection_00_0001.wav,section_00_source_test_normal_0001_id_A.wav\n")
    index = index_dataset(root, year=2024)
    g = index[index["machine_type"] == "gearbox"].set_index("file")
    assert g.loc["section_00_source_train_normal_0001_noAttribute.wav", "attributes"] == {"pro": "A", "wt": "200"}
    r = g.loc["section_00_source_test_anomaly_0001_noAttribute.wav"]
    assert (r["label"], r["domain"], r["attribute_string"]) == ("anomaly", "source", "pro_A_wt_200_damage1")
    assert r["attributes"] == {"pro": "A", "wt": "200", "tail": "damage1"}
    assert g.loc["section_00_target_test_normal_0029_noAttribute.wav", "attributes"] == {"pro": "B", "wt": "250"}
    a = index[(index["machine_type"] == "AirCompressor") & (index["split"] == "test")].iloc[0]
    assert (a["label"], a["domain"], a["attributes"]) == ("normal", "source", {"fl": "2", "nos": "3"})
    # AirCompressor's training clip has no table here: its name says noAttribute, kept as it is
    t = index[(index["machine_type"] == "AirCompressor") & (index["split"] == "train")].iloc[0]
    assert (t["attribute_string"], t["attributes"]) == ("noAttribute", {})
    p = index[(index["machine_type"] == "3DPrinter") & (index["split"] == "test")].iloc[0]
    assert (p["label"], p["domain"], p["attributes"]) == ("anomaly", "target", {"mdl": "B", "spd": "2"})
    assert parse_revealed_attributes("ac_0.03_") == {"ac": "0.03"}
    # a table that contradicts the name on disk is an error naming it
    write(tables / "attributes_00_test_correspondence.csv", "source_file_name,target_file_name\n"
          "section_00_source_test_normal_0001_pro_A.wav,section_00_source_test_anomaly_0001_noAttribute.wav\n")
    with pytest.raises(DataError, match="attributes_00_test_correspondence.csv: .* is 'anomaly' on disk but"):
        index_dataset(root, year=2024)


# ----------------------------------------------------------------------------- 2025
def test_2025_supplemental_is_a_split_of_its_own_and_eval_names_come_from_correspondence(tmp_path):
    root = tmp_path / "dcase2025t2"
    ev = root / "eval_data" / "raw" / "AutoTrash"
    wav(ev / "train" / "section_00_source_train_normal_0000_noAttribute.wav")
    wav(ev / "supplemental" / "section_00_machine_source_0000_noAttribute.wav")
    wav(ev / "supplemental" / "section_00_noise_source_0001_noAttribute.wav")
    wav(ev / "test" / "section_00_0095.wav")
    write(root / "ground_truth_attributes" / "dcase2025t2" / "eval_data" / "AutoTrash" /
          "attributes_00_test_correspondence.csv", "source_file_name,target_file_name\n"
          "section_00_source_test_anomaly_0001_id_A1_spd_1_mic_2.wav,section_00_0095.wav\n")
    index = index_dataset(root, year=2025)
    assert sorted(index["split"]) == ["supplemental", "supplemental", "test", "train"]
    m = row(index, "section_00_machine_source_0000_noAttribute.wav")
    assert (m["split"], m["label"], m["domain"], m["section"], m["part"]) == ("supplemental", "normal", "source", 0, "eval")
    n = row(index, "section_00_noise_source_0001_noAttribute.wav")
    assert (n["split"], n["label"], n["attribute_string"]) == ("supplemental", "noise", "noAttribute")
    t = row(index, "section_00_0095.wav")
    assert (t["label"], t["domain"], t["attributes"]) == ("anomaly", "source", {"id": "A1", "spd": "1", "mic": "2"})
    assert parse_supplemental_name("section_00_machine_0001_.wav") == (0, "machine", None, "")
    wav(ev / "supplemental" / "section_00_source_0002_noAttribute.wav")
    with pytest.raises(DataError, match="section_00_source_0002_noAttribute.wav: .*neither 'machine' nor 'noise'"):
        index_dataset(root, year=2025)


# ----------------------------------------------------------------------------- 2026
def test_2026_stereo_channel_rule_near_far_and_mix(tmp_path):
    root = tmp_path / "dcase2026t2"
    typ = root / "dev_data" / "raw" / "ToyCar"
    stereo = wav(typ / "train" / "section_00_source_train_normal_0000_car_A2_spd_28V_mic_1_noise_1.wav",
                 channels=2, values=[0.25, -0.5])
    wav(typ / "test" / "section_00_source_test_anomaly_0000_car_A2_spd_28V_mic_1_noise_1.wav", channels=2,
        values=[0.5, 0.0])
    index = index_dataset(root, year=2026)
    r = row(index, stereo.name)
    assert r["attributes"] == {"car": "A2", "spd": "28V", "mic": "1", "noise": "1"} and r["year"] == 2026
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit channel is silent
        assert read_wav(stereo, channel=0)[0] == pytest.approx(0.25)   # near microphone
        assert read_wav(stereo, channel=1)[0] == pytest.approx(-0.5)   # far microphone
        assert read_wav(stereo, channel="mix")[0] == pytest.approx(-0.125)
    with pytest.warns(UserWarning, match="2 channels; keeping channel 0"):
        assert read_wav(stereo)[0] == pytest.approx(0.25)
    with pytest.warns(UserWarning, match="2 of 2 clips have several channels.*keeping channel 0") as caught:
        clips = load_clips(index["path"])
    assert len(caught) == 1 and clips.shape == (2, 800)
    assert load_clips(index["path"], channel="mix")[:, 0] == pytest.approx([0.25, -0.125], abs=1e-4)
    with pytest.raises(DataError, match="channel=2 asked for, but the file has 2 channels"):
        read_wav(stereo, channel=2)
    with pytest.raises(ValueError, match="channel='left'"):
        read_wav(stereo, channel="left")
