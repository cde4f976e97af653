"""Faults found by a fault-injection sweep: each ends in a clear error naming the file,
folder or CSV line, or in a correct result with a warning."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

from asdlib.backends import MahalanobisBackend
from asdlib.data import DataError, clip_seconds, load_clips, read_wav
from asdlib.data.layout import index_dataset, parse_clip_name
from asdlib.features import LogMelConfig
from asdlib.features.extraction import extract
from asdlib.metrics.evaluate import read_ground_truth, read_two_column_csv

SR = 16_000
BOM = "\ufeff"


def wav(path, seconds=0.1, seed=0, subtype="PCM_16", data=None):
    """A short 16 kHz mono clip of noise (or ``data``) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = np.random.default_rng(seed).uniform(-0.5, 0.5, int(seconds * SR))
    sf.write(str(path), data, SR, subtype=subtype, format="WAV")
    return path


def eval_root_2022(tmp_path, machine_type="bearing", section=3, n_test=4):
    """``<tmp>/data`` with a small dev and eval tree (no ground truth); the root and the test names."""
    root = tmp_path / "data"
    dev = root / "dev_data" / machine_type
    wav(dev / "train" / "section_00_source_train_normal_0000_a_1.wav", seed=1)
    wav(dev / "test" / "section_00_source_test_normal_0000_a_1.wav", seed=2)
    wav(dev / "test" / "section_00_source_test_anomaly_0001_a_1.wav", seed=3)
    ev = root / "eval_data" / machine_type
    wav(ev / "train" / f"section_{section:02d}_source_train_normal_0000_a_1.wav", seed=4)
    names = [f"section_{section:02d}_{i:04d}.wav" for i in range(n_test)]
    for i, name in enumerate(names):
        wav(ev / "test" / name, seed=10 + i)
    return root, names


def write_gt(base, machine_type, section, labels: dict, domains: dict | None = None, bom=False):
    """Official ground-truth CSVs under ``base``/ground_truth_{data,domain}/."""
    name = f"ground_truth_{machine_type}_section_{section:02d}_test.csv"
    paths = []
    for sub, table in (("ground_truth_data", labels), ("ground_truth_domain", domains)):
        if table is None:
            continue
        (base / sub).mkdir(parents=True, exist_ok=True)
        text = "".join(f"{f},{v}\n" for f, v in table.items())
        (base / sub / name).write_text((BOM if bom else "") + text, encoding="utf-8")
        paths.append(base / sub / name)
    return paths


# ------------------------------------------------------------------ 1. NaN / inf
def test_fault01_nan_and_inf_samples_are_data_errors_naming_the_file(tmp_path):
    good = wav(tmp_path / "good.wav", subtype="FLOAT")
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 1600)
    x[100], x[900] = np.nan, np.nan
    nan = wav(tmp_path / "nan.wav", subtype="FLOAT", data=x)
    x = np.zeros(1600)
    x[1599] = np.inf
    inf = wav(tmp_path / "inf.wav", subtype="FLOAT", data=x)
    assert np.isfinite(read_wav(good)).all()
    with pytest.raises(DataError, match=r"nan\.wav: 2 NaN and 0 infinite sample\(s\).*first at 0\.006 s"):
        read_wav(nan)
    with pytest.raises(DataError, match=r"inf\.wav: 0 NaN and 1 infinite sample"):
        read_wav(inf)
    with pytest.raises(DataError, match=r"nan\.wav: .*NaN"):
        load_clips([good, nan])


# ------------------------------------------------------------ 2. streamed WAVs
@pytest.mark.parametrize("patch", ["riff", "data", "both"])
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_fault02_streamed_wav_sizes_are_read_like_soundfile(tmp_path, patch, subtype):
    path = wav(tmp_path / "clip.wav", seconds=0.2, subtype=subtype)
    expected = read_wav(path)
    raw = bytearray(path.read_bytes())
    pos = 12
    while raw[pos:pos + 4] != b"data":  # walk to the data chunk
        pos += 8 + struct.unpack("<I", raw[pos + 4:pos + 8])[0]
    if patch in ("riff", "both"):
        raw[4:8] = b"\xff\xff\xff\xff"
    if patch in ("data", "both"):
        raw[pos + 4:pos + 8] = b"\xff\xff\xff\xff"
    streamed = tmp_path / "streamed.wav"
    streamed.write_bytes(bytes(raw))
    assert np.array_equal(read_wav(streamed), expected)
    assert clip_seconds([streamed]) == pytest.approx(0.2)
    assert np.array_equal(load_clips([streamed])[0], expected)
    cut = tmp_path / "cut.wav"  # a declared size is still checked
    cut.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"cut\.wav: truncated WAV"):
        read_wav(cut)


# ------------------------------------------------------------ 3. .WAV / .Wav
def test_fault03_wav_extension_in_any_case(tmp_path):
    root, names = eval_root_2022(tmp_path)
    base = root / "dev_data" / "bearing"
    wav(base / "train" / "section_00_source_train_normal_0001_a_2.WAV")
    wav(base / "train" / "section_00_target_train_normal_0002_a_3.Wav")
    upper = root / "eval_data" / "bearing" / "test" / names[0]
    upper.rename(upper.with_suffix(".WAV"))  # ground truth says .wav, the disk .WAV: still matched
    write_gt(root, "bearing", 3, dict(zip(names, [1, 0, 0, 0])), dict(zip(names, [0, 0, 1, 1])))
    index = index_dataset(root).set_index("file")
    assert index.loc["section_00_source_train_normal_0001_a_2.WAV", "attributes"] == {"a": "2"}
    row = index.loc["section_00_target_train_normal_0002_a_3.Wav"]
    assert (row["domain"], row["attribute_string"]) == ("target", "a_3")
    assert index.loc["section_03_0000.WAV", "label"] == "anomaly"
    assert parse_clip_name("id_05_00000000.WAV").section == 5


# ----------------------------------------------------------- 4. missing test/
def test_fault04_missing_test_or_empty_train_folder_is_named(tmp_path):
    root, _ = eval_root_2022(tmp_path)
    wav(root / "dev_data" / "valve" / "train" / "section_00_source_train_normal_0000_a_1.wav")
    with pytest.raises(DataError, match=r"dev_data/valve/test: folder missing \(expected .*dev_data/valve/test/\*\.wav"):
        index_dataset(root)
    wav(root / "dev_data" / "valve" / "test" / "section_00_source_test_normal_0000_a_1.wav")
    for f in (root / "dev_data" / "valve" / "train").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"dev_data/valve/train: folder holds no \.wav clips"):
        index_dataset(root)
    (root / "dev_data" / "valve" / "train").rmdir()
    with pytest.raises(DataError, match=r"dev_data/valve/train: folder missing"):
        index_dataset(root)
    # evaluation data: the additional training clips come before the test clips; a warning says so
    (root / "dev_data" / "valve").rename(tmp_path / "valve_dev")
    wav(root / "eval_data" / "fan" / "train" / "section_03_source_train_normal_0000_a_1.wav")
    with pytest.warns(UserWarning, match=r"eval_data/fan: no test/ folder; only its train/ clips"):
        index = index_dataset(root)
    assert set(index.loc[index["machine_type"] == "fan", "split"]) == {"train"}


# ---------------------------------------------------------- 5. one long clip
def test_fault05_one_long_clip_warns_naming_it_and_the_lengths(tmp_path):
    short = [wav(tmp_path / f"c{i}.wav", seconds=0.1, seed=i) for i in range(4)]
    long = wav(tmp_path / "long.wav", seconds=0.5, seed=9)
    with pytest.warns(UserWarning, match=r"long\.wav \(0\.5 s\): longer than 1\.5x the median clip length "
                                         r"0\.1 s of 5 clips; every clip is brought to 0\.5 s"):
        clips = load_clips(short + [long])
    assert clips.shape == (5, 8000)  # the rule itself is unchanged
    ten_percent = wav(tmp_path / "toycar.wav", seconds=0.11)  # ToyCar 11 s next to 10 s: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert clip_seconds(short + [ten_percent]) == pytest.approx(0.11)


# ------------------------------------------------------- 6. dangling symlink
def test_fault06_dangling_symlink_is_named_as_found_in_the_tree(tmp_path):
    root, _ = eval_root_2022(tmp_path)
    train = root / "dev_data" / "bearing" / "train"
    blob = tmp_path / "store" / "0a1b2c"  # a content-addressed store: the target has no DCASE name
    wav(blob, seed=5)
    link = train / "section_00_source_train_normal_0001_a_1.wav"
    link.symlink_to(blob)
    index = index_dataset(root)
    paths = index.loc[index["file"] == link.name, "path"]
    assert len(paths) == 1 and paths.iloc[0].endswith("dev_data/bearing/train/" + link.name)
    blob.unlink()
    with pytest.raises(DataError, match=rf"train/{link.name}: dangling symbolic link \(it points to .*0a1b2c"):
        index_dataset(root)
    with pytest.raises(DataError, match=rf"{link.name}: dangling symbolic link"):
        read_wav(paths.iloc[0])
    with pytest.raises(DataError, match=rf"{link.name}: dangling symbolic link"):
        clip_seconds([paths.iloc[0]])


# ------------------------------------------------------- 7. ground-truth rows
def test_fault07_ground_truth_rows_line_numbers_and_bom_in_the_index(tmp_path):
    root, names = eval_root_2022(tmp_path)
    labels, domains = dict(zip(names, [0, 1, 0, 1])), dict(zip(names, [0, 0, 1, 1]))
    label_csv, domain_csv = write_gt(root, "bearing", 3, labels, domains, bom=True)
    ev = index_dataset(root).set_index("file").loc[names]  # a BOM is fine
    assert list(ev["label"]) == ["normal", "anomaly", "normal", "anomaly"]
    assert list(ev["domain"]) == ["source", "source", "target", "target"]

    write_gt(root, "bearing", 3, labels, dict(list(domains.items())[:3]))  # a domain row missing
    with pytest.raises(DataError, match=rf"{domain_csv}: ground truth does not match .*1 clips without a row, "
                                        r"e\.g\. \['section_03_0003\.wav'\]"):
        index_dataset(root)
    write_gt(root, "bearing", 3, labels, {**domains, "section_03_0099.wav": 1})  # an extra domain row
    with pytest.raises(DataError, match=rf"{domain_csv}: .*1 rows for files not on disk, .*section_03_0099"):
        index_dataset(root)
    write_gt(root, "bearing", 3, {**labels, "section_03_0099.wav": 1}, domains)  # an extra label row
    with pytest.raises(DataError, match=rf"{label_csv}: .*section_03_0099"):
        index_dataset(root)
    label_csv.write_text("section_03_0000.wav,0\nsection_03_0001.wav,1\nsection_03_0002.wav,x\n")
    with pytest.raises(DataError, match=rf"{label_csv}, line 3: label must be 0 or 1, got 'x'"):
        index_dataset(root)
    label_csv.write_text("section_03_0000.wav,0\n\nsection_03_0001.wav\n")
    with pytest.raises(DataError, match=rf"{label_csv}, line 3: expected 'file,0\|1'"):
        index_dataset(root)


def test_fault07_bom_and_missing_rows_in_the_evaluator(tmp_path):
    names = [f"section_00_{i:04d}.wav" for i in range(4)]
    label_csv, domain_csv = write_gt(tmp_path, "fan", 0, dict(zip(names, [0, 1, 0, 1])),
                                     dict(zip(names, [0, 0, 1, 1])), bom=True)
    scores = tmp_path / "anomaly_score_fan_section_00_test.csv"
    scores.write_text(BOM + "".join(f"{n},{s}\n" for n, s in zip(names, [0.1, 0.9, 0.2, 0.8])), encoding="utf-8")
    assert read_two_column_csv(scores) == dict(zip(names, [0.1, 0.9, 0.2, 0.8]))
    truth = read_ground_truth(tmp_path)
    assert list(truth["file"]) == names and list(truth["label"]) == ["normal", "anomaly"] * 2
    domain_csv.write_text("".join(f"{n},0\n" for n in names[:3]))  # the last row missing
    with pytest.raises(ValueError, match=rf"{domain_csv}: 1 files of {label_csv} are missing: .*section_00_0003"):
        read_ground_truth(tmp_path)
    domain_csv.write_text("".join(f"{n},0\n" for n in names) + "section_00_0009.wav,1\n")  # one extra
    with pytest.raises(ValueError, match=rf"{domain_csv}: 1 files are not in {label_csv}: .*section_00_0009"):
        read_ground_truth(tmp_path)
    scores.write_text("section_00_0000.wav,0.1\nsection_00_0001.wav,high\n")
    with pytest.raises(ValueError, match=rf"{scores}, line 2: score 'high' is not a number"):
        read_two_column_csv(scores)


# --------------------------------------------------- 8. attribute CSV shapes
def test_fault08_official_attribute_columns_and_rows_of_other_lengths(tmp_path):
    root = tmp_path / "data"
    toy = root / "eval_data" / "ToyCar"
    valve = root / "eval_data" / "valve"
    wav(toy / "train" / "section_03_source_train_normal_0000_car_A1_spd_28V.wav")
    wav(valve / "train" / "section_05_source_train_normal_0000_v1pat_00_v2pat_none.wav")
    toy_names = [f"section_03_{i:04d}.wav" for i in range(2)]
    valve_names = [f"section_05_{i:04d}.wav" for i in range(3)]
    for n in toy_names:
        wav(toy / "test" / n)
    for n in valve_names:
        wav(valve / "test" / n)
    write_gt(root, "ToyCar", 3, dict(zip(toy_names, [0, 1])), dict(zip(toy_names, [0, 1])))
    write_gt(root, "valve", 5, dict(zip(valve_names, [0, 1, 0])), dict(zip(valve_names, [0, 1, 1])))
    gta = root / "ground_truth_attributes"
    (gta / "ToyCar").mkdir(parents=True)
    (gta / "valve").mkdir(parents=True)
    # ToyCar / ToyTrain: the full name is in 'file_name_with_attributes'; the d columns hold less
    (gta / "ToyCar" / "attributes_03.csv").write_text(
        "file_name,file_name_with_attributes,d1p,d1v\n"
        "ToyCar/test/section_03_0000.wav,ToyCar/test/section_03_source_test_normal_0000_car_A1_spd_28V_mic_1.wav,car,A1\n"
        "ToyCar/test/section_03_0001.wav,ToyCar/test/section_03_target_test_anomaly_0001_car_B2_spd_31V_mic_2.wav,car,B2\n")
    # valve: a 6-field row, a 4-field row (its full name lands under d2p) and a 7-field row
    (gta / "valve" / "attributes_05.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v,file_name_with_full_attributes\n"
        "valve/test/section_05_0000.wav,v1pat,00,v2pat,none,"
        "valve/test/section_05_source_test_normal_0000_v1pat_00_v2pat_none.wav\n"
        "valve/test/section_05_0001.wav,pat,02,valve/test/section_05_target_test_anomaly_0001_pat_02.wav\n"
        "valve/test/section_05_0002.wav,v1pat,01,v2pat,03,panel,b-c,"
        "valve/test/section_05_target_test_normal_0002_v1pat_01_v2pat_03_panel_b-c.wav\n")
    index = index_dataset(root).set_index("file")
    assert index.loc["section_03_0000.wav", "attributes"] == {"car": "A1", "spd": "28V", "mic": "1"}
    assert index.loc["section_03_0001.wav", "attribute_string"] == "car_B2_spd_31V_mic_2"
    assert index.loc["section_05_0000.wav", "attributes"] == {"v1pat": "00", "v2pat": "none"}
    assert index.loc["section_05_0001.wav", "attribute_string"] == "pat_02"  # not a file path
    assert index.loc["section_05_0002.wav", "attributes"] == {"v1pat": "01", "v2pat": "03", "panel": "b-c"}
    # without full names the attribute pairs themselves are read by position
    (gta / "valve" / "attributes_05.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v,file_name_with_full_attributes\n"
        "valve/test/section_05_0000.wav,v1pat,00\n"
        "valve/test/section_05_0001.wav,v1pat,00,v2pat,01,panel,b-c\n"
        "valve/test/section_05_0002.wav,v1pat,01,v2pat,03,,\n")
    index = index_dataset(root).set_index("file")
    assert index.loc["section_05_0000.wav", "attributes"] == {"v1pat": "00"}
    assert index.loc["section_05_0001.wav", "attributes"] == {"v1pat": "00", "v2pat": "01", "panel": "b-c"}
    assert index.loc["section_05_0002.wav", "domain"] == "target"
    bad = gta / "valve" / "attributes_05.csv"
    bad.write_text("file_name,d1p,d1v\nvalve/test/section_05_0000.wav,v1pat,00,\n"
                   "valve/test/section_05_0001.wav,v1pat,00,v2pat\n")
    with pytest.raises(DataError, match=rf"{bad}, line 3: 4 fields for a header of 3, .*\['v1pat', '00', 'v2pat'\]"):
        index_dataset(root)


# --------------------------------------------- 9. ground truth one level deeper
def test_fault09_ground_truth_outside_the_documented_places_warns(tmp_path):
    root, names = eval_root_2022(tmp_path)
    deeper = root / "downloads"
    (label_csv, _) = write_gt(deeper, "bearing", 3, dict(zip(names, [0, 1, 0, 1])), dict(zip(names, [0, 0, 1, 1])))
    with pytest.warns(UserWarning, match=rf"4 evaluation clips of section_03 stay labelled 'unknown': "
                                         rf".*but {label_csv} has the expected name and is not read"):
        index = index_dataset(root)
    assert set(index.loc[(index["part"] == "eval") & (index["split"] == "test"), "label"]) == {"unknown"}
    # next to the data, e.g. the official evaluator's repository cloned beside it
    deeper.rename(tmp_path / "dcase2022_task2_evaluator")
    with pytest.warns(UserWarning, match=r"dcase2022_task2_evaluator/ground_truth_data/"
                                         r"ground_truth_bearing_section_03_test\.csv has the expected name"):
        index_dataset(root)
    (tmp_path / "dcase2022_task2_evaluator").rename(tmp_path / "ground_truth_home")  # documented place: read
    (tmp_path / "ground_truth_home" / "ground_truth_data").rename(tmp_path / "ground_truth_data")
    (tmp_path / "ground_truth_home" / "ground_truth_domain").rename(tmp_path / "ground_truth_domain")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = index_dataset(root)
    assert (index["label"] != "unknown").all()


# -------------------------------------------------------- 10. feature cache
def test_fault10_cache_entry_with_the_wrong_number_of_clips_is_a_miss(tmp_path, one_torch_thread):
    paths = [str(wav(tmp_path / f"c{i}.wav", seconds=0.1, seed=i)) for i in range(3)]
    cache = tmp_path / "cache"
    feature = LogMelConfig()
    first = extract(paths, feature, cache_dir=cache)
    (slot,) = cache.glob("*.pt")
    payload = torch.load(slot, weights_only=True)
    payload["features"] = payload["features"][:2]  # right key, wrong tensor
    torch.save(payload, slot)
    with pytest.warns(UserWarning, match=rf"{slot.name}: feature cache holds features of shape \(2, 128, \d+\) "
                                         r"for 3 clips.*recomputing and overwriting"):
        again = extract(paths, feature, cache_dir=cache)
    assert again.shape == first.shape and torch.allclose(again, first)
    assert torch.load(slot, weights_only=True)["features"].shape[0] == 3  # rewritten
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(extract(paths, feature, cache_dir=cache), again)  # a hit now


# --------------------------------------------------- 11. degenerate Mahalanobis
@pytest.mark.parametrize("shrinkage", [None, "ledoit_wolf", 0.1])
def test_fault11_identical_training_clips_warn_and_scores_stay_finite(shrinkage):
    X = np.tile(np.linspace(-1.0, 1.0, 16), (20, 1))
    with pytest.warns(UserWarning, match="zero or near-zero variance.*identical training clips"):
        model = MahalanobisBackend(shrinkage=shrinkage).fit(X)
    test = np.vstack([X[0], X[0] + 0.1, X[0] + 1.0])
    scores = model.score_samples(test)
    assert np.isfinite(scores).all()
    assert scores[0] == pytest.approx(0.0) and scores[0] < scores[1] < scores[2]  # not all 0
    normal = np.random.default_rng(0).normal(size=(50, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MahalanobisBackend(shrinkage=shrinkage).fit(normal)  # ordinary data: no warning


# ------------------------------------------------------ 12. package entry point
def test_fault12_index_dataset_is_exported_by_asdlib_data(tmp_path):
    from asdlib.data import index_dataset as exported, parse_clip_name as parse, summarize

    root, _ = eval_root_2022(tmp_path)
    assert exported is index_dataset and parse("section_03_0000.wav").section == 3
    assert summarize(exported(root)).shape[0] == 2
    code = ("import sys, asdlib.data; print(sorted(m for m in sys.modules if m.startswith('asdlib.') "
            "and not m.startswith(('asdlib.data', 'asdlib.utils'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.stdout.strip() == "[]"  # the data layer imports no higher layer
