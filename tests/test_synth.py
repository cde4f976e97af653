"""The synthetic DCASE generator: exact layouts, domain shifts, determinism, resume, physics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asdlib.data.layout import index_dataset
from asdlib.data.synth import MACHINES, PRESETS, generate
from asdlib.data.synth.machines import Unit

CI = PRESETS["ci"]


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def ci_2022(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "ci2022"
    return generate(root, year=2022, preset="ci", seed=0, machine_types=["valve", "bearing"], jobs=1, progress=False)


def test_2022_layout_is_read_unchanged_by_the_indexer(ci_2022):
    index = index_dataset(ci_2022)
    assert set(index["machine_type"]) == {"valve", "bearing"}
    assert sorted(index["section"].unique()) == [0, 1, 2, 3, 4, 5]
    per = index.groupby(["machine_type", "section", "split", "domain", "label"]).size()
    assert per.loc[("valve", 0, "train", "source", "normal")] == CI.n_train_source
    assert per.loc[("valve", 0, "train", "target", "normal")] == CI.n_train_target
    assert per.loc[("bearing", 4, "test", "target", "anomaly")] == CI.n_test  # eval: from ground truth
    assert (index["label"] != "unknown").all() and index["domain"].notna().all()
    ev = index[(index["part"] == "eval") & (index["split"] == "test")]
    assert ev["file"].str.fullmatch(r"section_0[345]_\d{4}\.wav").all()  # no label in eval names
    assert {f.name for f in (ci_2022 / "dev_data" / "valve").glob("attributes_*.csv")} == {
        "attributes_00.csv", "attributes_01.csv", "attributes_02.csv"}


def test_ground_truth_agrees_with_the_generator_record(ci_2022):
    index = index_dataset(ci_2022)
    record = pd.read_csv(ci_2022 / "synth_clips.csv")
    record["path"] = [str((ci_2022 / p).resolve()) for p in record["relpath"]]
    merged = index.merge(record, on="path", suffixes=("", "_gen"))
    assert len(merged) == len(index) == len(record)
    assert (merged["label"] == merged["label_gen"]).all()
    assert (merged["domain"] == merged["domain_gen"]).all()
    anomalies = record[record["label"] == "anomaly"]
    assert anomalies["fault"].notna().all() and anomalies["severity"].between(*CI.severity).all()
    assert set(anomalies["fault"]) <= set(MACHINES["valve"].faults) | set(MACHINES["bearing"].faults)


def test_each_section_shifts_a_different_attribute(ci_2022):
    index = index_dataset(ci_2022)
    train = index[(index["split"] == "train") & (index["machine_type"] == "bearing")]
    shifted = {}
    for section, rows in train.groupby("section"):
        values = {d: pd.DataFrame(list(r["attributes"])) for d, r in rows.groupby("domain")}
        differ = [k for k in values["source"] if set(values["source"][k]).isdisjoint(values["target"][k])]
        assert len(differ) == 1, f"section {section}: {differ}"
        shifted[section] = differ[0]
    assert len({shifted[0], shifted[1], shifted[2]}) == 3


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path):
    a = generate(tmp_path / "a", preset="ci", seed=3, machine_types=["fan"], jobs=1, progress=False)
    b = generate(tmp_path / "b", preset="ci", seed=3, machine_types=["fan"], jobs=2, progress=False)
    c = generate(tmp_path / "c", preset="ci", seed=4, machine_types=["fan"], jobs=1, progress=False)
    da, db, dc = tree_digest(a), tree_digest(b), tree_digest(c)
    assert da == db
    wavs = [k for k in da if k.endswith(".wav")]
    assert sum(da[k] != dc.get(k) for k in wavs) > 0.9 * len(wavs)


def test_reuse_resume_and_refusals(tmp_path):
    root = generate(tmp_path / "d", preset="ci", seed=1, machine_types=["slider"], jobs=1, progress=False)
    before = tree_digest(root)
    manifest = json.loads((root / "synth.json").read_text())
    assert manifest["preset"]["name"] == "ci" and manifest["seed"] == 1
    # an interrupted run: the partial manifest is there, some clips are missing
    (root / "synth.json").rename(root / "synth.partial.json")
    victims = sorted(root.rglob("*.wav"))[::7]
    for v in victims:
        v.unlink()
    generate(root, preset="ci", seed=1, machine_types=["slider"], jobs=1, progress=False)
    assert tree_digest(root) == before
    with pytest.raises(ValueError, match="holds a different synthetic data set"):
        generate(root, preset="ci", seed=2, machine_types=["slider"], progress=False)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="not empty and holds no synthetic data set"):
        generate(foreign, preset="ci", progress=False)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_bad_arguments_name_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="preset='huge'"):
        generate(tmp_path / "x", preset="huge")
    with pytest.raises(ValueError, match="machine_types: \\['pump'\\] are not DCASE 2022 types"):
        generate(tmp_path / "x", machine_types=["pump"])
    with pytest.raises(ValueError, match="year=2021"):
        generate(tmp_path / "x", year=2021)


def test_2020_layout_machine_ids_and_toycar_length(tmp_path):
    root = generate(tmp_path / "y", year=2020, preset="ci", seed=0, machine_types=["ToyCar", "pump"],
                    jobs=1, progress=False)
    index = index_dataset(root)
    assert set(index["year"]) == {2020} and index["domain"].isna().all()
    assert sorted(index.loc[index["part"] == "dev", "section"].unique()) == [0, 2, 4]
    assert sorted(index.loc[index["part"] == "eval", "section"].unique()) == [1, 3, 5]
    assert (index["label"] != "unknown").all()  # eval labels from ground truth
    test = index[(index["split"] == "test") & (index["part"] == "dev")]
    assert test["file"].str.fullmatch(r"(normal|anomaly)_id_0[024]_\d{8}\.wav").all()
    import soundfile as sf

    toycar = sf.info(index.loc[index["machine_type"] == "ToyCar", "path"].iloc[0])
    pump = sf.info(index.loc[index["machine_type"] == "pump", "path"].iloc[0])
    assert toycar.frames == round(1.1 * pump.frames)  # 11 s vs 10 s in DCASE 2020
    assert toycar.samplerate == 16000 and toycar.subtype == "PCM_16" and toycar.channels == 1


# --------------------------------------------------------------------- physics
SR = 16_000
PLAIN = Unit(pitch=1.0, res_hz=3000.0, tilt=1.0, profile=np.ones(512))


def _render(machine, fault=None, severity=0.0, seed=0, seconds=2.0, **attrs):
    m = MACHINES[machine]
    base = {k: v[0] for k, v in m.attributes.items()}
    base.update(attrs)
    return m.render(np.random.default_rng(seed), PLAIN, base, fault, severity, int(seconds * SR), SR)


def test_fan_spectrum_peaks_at_the_blade_pass_frequency():
    x = _render("fan", spd="1200", mic="1", wind="lo", seconds=4.0)
    spec = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    band = (freqs > 60) & (freqs < 400)
    peak = freqs[band][np.argmax(spec[band])]
    assert abs(peak - 7 * 1200 / 60) < 3  # 7 blades x 20 rev/s = 140 Hz


def test_outer_race_fault_shows_at_bpfo_in_the_envelope_spectrum():
    from scipy.signal import butter, hilbert, sosfiltfilt

    def envelope_peak(x, f):
        band = sosfiltfilt(butter(4, [2500, 3500], "bandpass", fs=SR, output="sos"), x)
        env = np.abs(hilbert(band))
        spec = np.abs(np.fft.rfft(env - env.mean()))
        freqs = np.fft.rfftfreq(len(env), 1 / SR)
        near = np.abs(freqs - f) < 2
        return spec[near].max() / np.median(spec[(freqs > 5) & (freqs < 200)])

    bpfo = 0.4 * 9 * 6.0  # 9 balls, shaft at 6 rev/s
    normal = _render("bearing", vel="6", mic="1", seconds=4.0)
    faulty = _render("bearing", "outer-race", 1.0, vel="6", mic="1", seconds=4.0)
    assert envelope_peak(faulty, bpfo) > 5 * envelope_peak(normal, bpfo)


HALL = {"colour": 1.0, "hum_hz": 50.0, "machinery_hz": 120.0, "clank_rate": 0.5, "clank_hz": 1200.0}


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_every_fault_changes_the_sound_more_than_normal_variation(machine):
    """At full severity each named fault moves the clip's log-mel statistics (mean and
    spread over time, on the 8 most affected of 256 numbers) further than the largest
    difference between three normal clips of the same machine in the same hall."""
    import torch

    from asdlib.data.synth.noise import factory_noise
    from asdlib.features import log_mel

    def stats(fault=None, seed=1):
        x = _render(machine, fault, 1.0 if fault else 0.0, seed=seed)
        x = x + factory_noise(np.random.default_rng(seed + 100), HALL, len(x), SR)
        mel = log_mel(torch.from_numpy(x[None]).float())[0]
        return torch.cat([mel.mean(-1), mel.std(-1)]).numpy()

    def top(v):
        return np.sort(np.abs(v))[-8:].mean()

    normals = [stats(seed=s) for s in (1, 2, 3)]
    spread = max(top(a - b) for i, a in enumerate(normals) for b in normals[i + 1:])
    assert len(MACHINES[machine].faults) >= 2
    for fault in MACHINES[machine].faults:
        change = top(stats(fault) - normals[0])  # same seed: only the fault differs
        assert change > spread, f"{machine}/{fault}: change {change:.2f} dB vs normal spread {spread:.2f} dB"


def test_concurrent_requests_for_the_same_data_set_both_succeed(tmp_path):
    """Parallel notebook runs (asd run --jobs N) all ask for the profile's data set at once."""
    from concurrent.futures import ThreadPoolExecutor

    def make(_):
        return generate(tmp_path / "shared", preset="ci", seed=0, machine_types=["gearbox"], jobs=1, progress=False)

    with ThreadPoolExecutor(3) as pool:
        roots = list(pool.map(make, range(3)))
    assert len(set(roots)) == 1 and (roots[0] / "synth.json").is_file()
    assert not (roots[0] / "synth.partial.json").exists()
    assert len(list(roots[0].rglob("*.wav"))) == 6 * (CI.n_train_source + CI.n_train_target + 4 * CI.n_test)
