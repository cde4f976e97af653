"""The data layer: DCASE layouts, ground truth, audio loading rules and bad-input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from asdlib.data import DataError, clip_seconds, load_clips, read_wav
from asdlib.data.layout import attribute_table, index_dataset, parse_attributes, parse_clip_name, summarize

SR = 16_000


def wav(path, seconds=0.1, sr=SR, channels=1, value=None, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(seconds * sr)
    rng = np.random.default_rng(seed)
    data = rng.uniform(-0.5, 0.5, (n, channels)) if value is None else np.full((n, channels), value)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


# --------------------------------------------------------------------------- names
def test_parse_attributes_pairs_and_no_attribute():
    assert parse_attributes("vel_8_loc_B") == {"vel": "8", "loc": "B"}
    assert parse_attributes("m-n_W") == {"m-n": "W"}
    assert parse_attributes("noAttribute") == {}
    assert parse_attributes("") == {}
    with pytest.raises(ValueError, match="key_value"):
        parse_attributes("car_A1_spd")


@pytest.mark.parametrize(
    "name, expected",
    [
        ("normal_id_02_00000012.wav", (2020, 2, None, None, "normal")),
        ("anomaly_id_04_00000003.wav", (2020, 4, None, None, "anomaly")),
        ("anomaly_id_02_00000003.wav", (2020, 2, None, None, "anomaly")),  # a real DCASE 2020 name
        ("id_05_00000000.wav", (2020, 5, "test", None, None)),
        ("section_01_target_test_anomaly_0007_vel_8_loc_B.wav", (2022, 1, "test", "target", "anomaly")),
        ("section_00_source_train_normal_0000_m-n_W.wav", (2022, 0, "train", "source", "normal")),
        ("section_03_0012.wav", (2022, 3, "test", None, None)),
        ("section_03_test_0012.wav", (2022, 3, "test", None, None)),
    ],
)
def test_parse_clip_name_all_layouts(name, expected):
    c = parse_clip_name(name)
    assert (c.year, c.section, c.split, c.domain, c.label) == expected


def test_parse_clip_name_rejects_unknown_names():
    with pytest.raises(ValueError, match="fits no DCASE layout"):
        parse_clip_name("recording_17.wav")


# ------------------------------------------------------------------------ layouts
@pytest.fixture
def root_2020(tmp_path):
    tmp_path = tmp_path / "data"  # a parent of its own: no other test's ground truth next to it
    base = tmp_path / "dev_data" / "fan"
    for i in range(3):
        wav(base / "train" / f"normal_id_00_{i:08d}.wav", seed=i)
        wav(base / "train" / f"normal_id_02_{i:08d}.wav", seed=10 + i)
    wav(base / "test" / "normal_id_00_00000000.wav")   # same name as a training file
    wav(base / "test" / "anomaly_id_00_00000000.wav")
    wav(base / "test" / "normal_id_02_00000001.wav")
    wav(base / "test" / "anomaly_id_02_00000001.wav")
    wav(tmp_path / "eval_data" / "fan" / "train" / "normal_id_01_00000000.wav")
    wav(tmp_path / "eval_data" / "fan" / "test" / "id_01_00000000.wav")
    wav(tmp_path / "eval_data" / "fan" / "test" / "id_01_00000001.wav")
    return tmp_path


def test_index_2020_layout(root_2020):
    index = index_dataset(root_2020)
    assert len(index) == 13
    assert set(index["year"]) == {2020}
    assert index["path"].is_unique  # file names repeat between train/ and test/: the path is the key
    assert (index["file"] == "normal_id_00_00000000.wav").sum() == 2
    dev = index[index["part"] == "dev"]
    assert sorted(dev["section"].unique()) == [0, 2]
    assert set(dev.loc[dev["split"] == "train", "label"]) == {"normal"}
    assert dev["domain"].isna().all()
    ev = index[(index["part"] == "eval") & (index["split"] == "test")]
    assert set(ev["label"]) == {"unknown"} and set(ev["section"]) == {1}


def test_index_2020_eval_labels_from_ground_truth(root_2020):
    gt = root_2020 / "ground_truth_data"
    gt.mkdir()
    (gt / "ground_truth_fan_id_01_test.csv").write_text("id_01_00000000.wav,1\nid_01_00000001.wav,0\n")
    index = index_dataset(root_2020).set_index("file")
    assert index.loc["id_01_00000000.wav", "label"] == "anomaly"
    assert index.loc["id_01_00000001.wav", "label"] == "normal"


@pytest.fixture
def root_2022(tmp_path):
    tmp_path = tmp_path / "data"  # a parent of its own: no other test's ground truth next to it
    base = tmp_path / "dev_data" / "bearing"
    for i, (dom, attrs) in enumerate([("source", "vel_6_loc_A"), ("source", "vel_8_loc_A"), ("target", "vel_10_loc_A")]):
        wav(base / "train" / f"section_00_{dom}_train_normal_{i:04d}_{attrs}.wav", seed=i)
    for i, (dom, lab) in enumerate([("source", "normal"), ("source", "anomaly"), ("target", "normal"),
                                    ("target", "anomaly")]):
        wav(base / "test" / f"section_00_{dom}_test_{lab}_{i:04d}_vel_6_loc_A.wav", seed=20 + i)
    ev = tmp_path / "eval_data" / "bearing"
    wav(ev / "train" / "section_03_source_train_normal_0000_vel_6_loc_B.wav")
    for i in range(4):
        wav(ev / "test" / f"section_03_{i:04d}.wav", seed=40 + i)
    return tmp_path


def test_index_2022_dev_and_eval(root_2022):
    index = index_dataset(root_2022)
    assert list(index.columns) == ["path", "file", "year", "part", "machine_type", "section", "domain",
                                   "split", "label", "attribute_string", "attributes"]
    dev = index[index["part"] == "dev"]
    row = dev[dev["file"].str.contains("target_train")].iloc[0]
    assert (row["section"], row["domain"], row["split"], row["label"]) == (0, "target", "train", "normal")
    assert row["attributes"] == {"vel": "10", "loc": "A"} and row["attribute_string"] == "vel_10_loc_A"
    ev = index[(index["part"] == "eval") & (index["split"] == "test")]
    assert len(ev) == 4 and set(ev["label"]) == {"unknown"} and ev["domain"].isna().all()


def test_index_2022_eval_ground_truth_labels_domains_and_attributes(root_2022):
    (root_2022 / "ground_truth_data").mkdir()
    (root_2022 / "ground_truth_domain").mkdir()
    names = [f"section_03_{i:04d}.wav" for i in range(4)]
    (root_2022 / "ground_truth_data" / "ground_truth_bearing_section_03_test.csv").write_text(
        "".join(f"{n},{v}\n" for n, v in zip(names, [0, 1, 0, 1])))
    (root_2022 / "ground_truth_domain" / "ground_truth_bearing_section_03_test.csv").write_text(
        "".join(f"{n},{v}\n" for n, v in zip(names, [0, 0, 1, 1])))
    attrs = root_2022 / "ground_truth_attributes" / "bearing"
    attrs.mkdir(parents=True)
    (attrs / "attributes_03.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v,file_name_with_full_attributes\n"
        "bearing/test/section_03_0002.wav,vel,12,loc,B,"
        "bearing/test/section_03_target_test_normal_0002_vel_12_loc_B.wav\n")
    ev = index_dataset(root_2022).set_index("file")
    assert list(ev.loc[names, "label"]) == ["normal", "anomaly", "normal", "anomaly"]
    assert list(ev.loc[names, "domain"]) == ["source", "source", "target", "target"]
    assert ev.loc["section_03_0002.wav", "attributes"] == {"vel": "12", "loc": "B"}


def test_ground_truth_that_disagrees_with_disk_names_the_csv(root_2022):
    (root_2022 / "ground_truth_data").mkdir()
    gt = root_2022 / "ground_truth_data" / "ground_truth_bearing_section_03_test.csv"
    gt.write_text("section_03_0000.wav,0\nsection_03_0099.wav,1\n")
    with pytest.raises(DataError, match="ground_truth_bearing_section_03_test.csv.*does not match"):
        index_dataset(root_2022)


def test_attributes_csv_overrides_name_parsing(tmp_path):
    base = tmp_path / "ToyCar"
    wav(base / "train" / "section_00_source_train_normal_0000_a.wav")  # 'a' cannot be paired
    wav(base / "test" / "section_00_source_test_normal_0000_car_A1.wav")  # development data: test/ too
    with pytest.raises(DataError, match="section_00_source_train_normal_0000_a.wav.*not key_value pairs"):
        index_dataset(tmp_path)
    (base / "attributes_00.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v\nToyCar/train/section_00_source_train_normal_0000_a.wav,car,A1,spd,28V\n")
    index = index_dataset(tmp_path, year=2023).set_index("split")
    assert index.loc["train", "attributes"] == {"car": "A1", "spd": "28V"}
    assert (index["year"] == 2023).all()


def test_summarize_and_attribute_table(root_2022):
    index = index_dataset(root_2022)
    table = summarize(index)
    assert table.loc[("bearing", 0), ("train", "source", "normal")] == 2
    assert table.loc[("bearing", 0), ("test", "target", "anomaly")] == 1
    attrs = attribute_table(index)
    assert pd.api.types.is_numeric_dtype(attrs["vel"]) and not pd.api.types.is_numeric_dtype(attrs["loc"])
    assert attrs["vel"].max() == 10 and attrs["vel"].isna().sum() == 4  # unlabelled eval clips: no attributes


# --------------------------------------------------------------------- bad input
def test_missing_root_and_empty_root(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        index_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match="no machine-type folders"):
        index_dataset(tmp_path)


def test_empty_split_folder_names_it(tmp_path):
    (tmp_path / "fan" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match=r"fan/train: folder holds no \.wav clips"):
        index_dataset(tmp_path)


def test_unknown_machine_type_lists_available(root_2022):
    with pytest.raises(DataError, match=r"\['pump'\] not found; available: \['bearing'\]"):
        index_dataset(root_2022, machine_types=["pump"])


def test_name_that_fits_no_layout_names_the_file(root_2022):
    wav(root_2022 / "dev_data" / "bearing" / "train" / "my_recording.wav")
    with pytest.raises(DataError, match="my_recording.wav.*fits no DCASE layout"):
        index_dataset(root_2022)


def test_split_mismatch_is_an_error(root_2022):
    wav(root_2022 / "dev_data" / "bearing" / "test" / "section_00_source_train_normal_0009_vel_6_loc_A.wav")
    with pytest.raises(DataError, match="name says split 'train'"):
        index_dataset(root_2022)


def test_non_wav_files_warn_and_are_not_indexed(root_2022):
    (root_2022 / "dev_data" / "bearing" / "train" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match="notes.txt: not a .wav file"):
        index = index_dataset(root_2022)
    assert not index["file"].str.endswith(".txt").any()


def test_unreadable_truncated_and_empty_wavs(tmp_path):
    bad = tmp_path / "garbage.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(DataError, match="garbage.wav: cannot read audio"):
        read_wav(bad)
    good = wav(tmp_path / "good.wav", seconds=0.5)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(DataError, match="cut.wav: truncated WAV"):
        read_wav(cut)
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1)), SR, subtype="PCM_16")
    with pytest.raises(DataError, match="empty.wav: audio file holds no samples"):
        read_wav(empty)
    with pytest.raises(DataError, match="missing.wav: audio file not found"):
        read_wav(tmp_path / "missing.wav")


# -------------------------------------------------------------------- audio rules
def test_stereo_keeps_channel_zero_with_a_warning(tmp_path):
    path = tmp_path / "st.wav"
    data = np.stack([np.full(1600, 0.25), np.full(1600, -0.5)], axis=1)
    sf.write(str(path), data, SR, subtype="PCM_16")
    with pytest.warns(UserWarning, match="2 channels; keeping channel 0"):
        audio = read_wav(path)
    assert audio.shape == (1600,) and np.allclose(audio, 0.25, atol=1e-4)


def test_other_sample_rate_is_resampled_with_a_warning(tmp_path):
    path = tmp_path / "8k.wav"
    t = np.arange(8000) / 8000
    sf.write(str(path), 0.5 * np.sin(2 * np.pi * 440 * t), 8000, subtype="PCM_16")
    with pytest.warns(UserWarning, match="sample rate 8000 Hz; resampling to 16000 Hz"):
        audio = read_wav(path)
    assert len(audio) == 16000
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 s at 16 kHz: bin = Hz


def test_fixed_length_rule_crops_and_wraps(tmp_path):
    long = wav(tmp_path / "long.wav", seconds=1.1)
    short = tmp_path / "short.wav"
    ramp = np.linspace(-0.5, 0.5, 4000)
    sf.write(str(short), ramp, SR, subtype="PCM_16")
    with pytest.warns(UserWarning, match="median clip length"):  # 1.1 s next to 0.25 s: a warning
        assert clip_seconds([long, short]) == pytest.approx(1.1)
    with pytest.warns(UserWarning, match=r"long.wav \(1.1 s\): longer than 1.5x the median"):
        clips = load_clips([long, short])  # longest clip sets the length: 11 s ToyCar-style clips stay whole
    assert clips.shape == (2, 17600)
    expected = np.tile(read_wav(short), 5)[:17600]
    assert np.array_equal(clips[1], expected)  # wrap-around, not zeros
    cropped = load_clips([long], duration=0.5)
    assert cropped.shape == (1, 8000) and np.array_equal(cropped[0], read_wav(long)[:8000])


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_fast_int16_path_gives_soundfiles_float_values(tmp_path, subtype):
    path = tmp_path / f"{subtype}.wav"
    sf.write(str(path), np.random.default_rng(1).uniform(-0.9, 0.9, 4000), SR, subtype=subtype)
    expected, _ = sf.read(str(path), dtype="float32")
    audio = read_wav(path)
    assert audio.dtype == np.float32 and np.array_equal(audio, expected)
