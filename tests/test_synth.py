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
    keys = list(MACHINES["bearing"].attributes)
    assert shifted == {s: keys[s % len(keys)] for s in range(6)}  # section k shifts attribute k mod n
    # the other attributes keep one value per section: two source classes and one target class
    for section, rows in train.groupby("section"):
        per_domain = rows.groupby("domain")["attribute_string"].nunique().to_dict()
        assert per_domain == {"source": 2, "target": 1}, (section, per_domain)


def test_halls_are_shared_by_sections_in_equal_shares():
    """No shortcut in the background: every section of a type draws its factory halls from
    one pool, in equal shares (differing by at most one clip per hall)."""
    from asdlib.data.synth.dataset import N_HALLS, plan_2022

    clips = plan_2022(PRESETS["demo"], 0, ["fan"])
    counts = pd.crosstab(pd.Series([c.section for c in clips], name="section"),
                         pd.Series([c.hall for c in clips], name="hall"))
    assert counts.shape == (6, N_HALLS)
    assert (counts.max(axis=1) - counts.min(axis=1) <= 1).all()


def test_demo_preset_has_at_least_20_training_clips_per_auxiliary_class():
    """Class = machine type x section x attribute string x domain (Wilkinghoff's classes)."""
    from asdlib.data.synth.dataset import plan_2022

    clips = [c for c in plan_2022(PRESETS["demo"], 0, sorted(MACHINES.keys() - {"pump", "ToyConveyor"}))
             if c.split == "train"]
    sizes = pd.Series([(c.machine_type, c.section, tuple(c.attrs.items()), c.domain) for c in clips]).value_counts()
    assert sizes.median() >= 20, sizes.describe()


def test_a_faulty_twin_differs_from_its_clip_only_by_the_fault():
    """render_clip with another fault reuses every other draw: the hall and the level are
    identical, the machine differs; the mix is machine + hall."""
    import dataclasses

    from asdlib.data.synth.dataset import plan_2022, render_clip

    clip = next(c for c in plan_2022(CI, 0, ["gearbox"]) if c.label == "normal" and c.split == "test")
    parts = {p: render_clip(clip, CI, 0, p).astype(float) for p in ("mix", "machine", "hall")}
    np.testing.assert_allclose(parts["mix"], np.clip(parts["machine"] + parts["hall"], -1, 1), atol=1e-6)
    for fault in MACHINES["gearbox"].faults:
        twin = dataclasses.replace(clip, fault=fault, severity=1.0, label="anomaly")
        assert np.array_equal(render_clip(twin, CI, 0, "hall"), render_clip(clip, CI, 0, "hall"))
        assert not np.allclose(render_clip(twin, CI, 0, "machine"), parts["machine"], atol=1e-4)
    with pytest.raises(ValueError, match="part='noise'"):
        render_clip(clip, CI, 0, "noise")


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
PLAIN = Unit(pitch=1.0, res_hz=3000.0, tilt=1.0, profile=np.ones(512), count=7)


def _render(machine, fault=None, severity=0.0, seed=0, seconds=2.0, unit=PLAIN, **attrs):
    m = MACHINES[machine]
    base = {k: v[0] for k, v in m.attributes.items()}
    base.update(attrs)
    return m.render(np.random.default_rng(seed), unit, base, fault, severity, int(seconds * SR), SR)


# ----------------------------------------------------------------------------- 2023 to 2025
FIRST_SHOT_TYPES = {2023: ["valve", "bandsaw"], 2024: ["gearbox", "valve", "AirCompressor", "3DPrinter"],
                    2025: ["slider", "AutoTrash", "ToyRCCar"]}


@pytest.mark.parametrize("year", sorted(FIRST_SHOT_TYPES))
def test_first_shot_layouts_are_read_unchanged_with_every_field_as_generated(tmp_path, year):
    from asdlib.data.layout import EVAL_TYPES_FIRST_SHOT, TYPES_2022
    from asdlib.data.synth.dataset import HIDDEN_ATTRIBUTES, SUPPLEMENTAL_SHARE

    types = FIRST_SHOT_TYPES[year]
    root = generate(tmp_path / str(year), year=year, preset="ci", seed=0, machine_types=types, jobs=1,
                    progress=False)
    index = index_dataset(root, year=year)
    record = pd.read_csv(root / "synth_clips.csv", keep_default_na=False)
    record["path"] = [str((root / p).resolve()) for p in record["relpath"]]
    both = index.merge(record, on="path", suffixes=("", "_gen"), validate="one_to_one")
    assert len(both) == len(index) == len(record)
    assert set(index["section"]) == {0} and set(index["year"]) == {year}
    # the development types in dev_data/raw, the year's own evaluation types in eval_data/raw
    for mt, rows in index.groupby("machine_type"):
        part = "dev" if mt in TYPES_2022 else "eval"
        assert part == "dev" or mt in EVAL_TYPES_FIRST_SHOT[year]
        assert set(rows["part"]) == {part} and all(f"/{part}_data/raw/{mt}/" in p for p in rows["path"])
    # labels and domains of every clip, the unlabelled evaluation clips' too (the evaluator's files)
    clips = both[both["split"] != "supplemental"]
    assert (clips["label"] == clips["label_gen"]).all() and (clips["domain"] == clips["domain_gen"]).all()
    eval_test = clips[(clips["part"] == "eval") & (clips["split"] == "test")]
    assert eval_test["file"].str.fullmatch(r"section_00_\d{4}\.wav").all()
    # attributes: as drawn, also where the names hide them (revealed by the published tables)
    assert (clips["attribute_string"] == clips["attrs"]).all()
    hidden = [t for t in types if t in HIDDEN_ATTRIBUTES.get(year, ())]
    assert bool(hidden) == (year >= 2024)
    on_disk = clips[clips["machine_type"].isin(hidden) & ~clips["file"].str.fullmatch(r"section_00_\d{4}\.wav")]
    assert on_disk["file"].str.endswith("_noAttribute.wav").all() and (len(on_disk) > 0) == (year >= 2024)
    shown = clips[~clips["machine_type"].isin(hidden) & (clips["split"] == "train")]
    assert not shown["file"].str.contains("noAttribute").any()
    # 2025: supplemental/ is a split of its own: the machine alone and the hall alone
    supp = both[both["split"] == "supplemental"]
    if year < 2025:
        assert supp.empty
        return
    n = SUPPLEMENTAL_SHARE * CI.n_train_target
    counts = supp.groupby(["machine_type", "label"]).size()
    assert (counts == n).all() and len(counts) == 2 * len(types)
    assert set(supp["render"]) == {"machine", "hall"}
    assert (supp.loc[supp["label"] == "noise", "render"] == "hall").all()
    from dataclasses import replace

    from asdlib.data.audio import read_wav
    from asdlib.data.synth.dataset import plan, render_clip
    clip = next(c for c in plan(CI, 0, ["slider"], 2025) if c.render == "machine")
    audio = read_wav(root / clip.relpath)
    assert np.allclose(audio, render_clip(clip, CI, 0, "machine"), atol=1 / 2**15)
    assert not np.allclose(audio, render_clip(replace(clip, render="mix"), CI, 0), atol=1 / 2**15)


def test_first_shot_halls_are_shared_equally_by_every_auxiliary_class():
    from asdlib.data.synth.dataset import N_HALLS, plan

    for mt in ("fan", "ToyDrone", "valve"):
        by_class: dict[tuple, list[int]] = {}
        for c in plan(PRESETS["demo"], 0, [mt], 2024):
            by_class.setdefault((c.split, c.domain, c.label, tuple(c.attrs.items())), []).append(c.hall)
        for halls in by_class.values():
            counts = np.bincount(halls, minlength=N_HALLS)
            assert counts.max() - counts.min() <= 1


def test_first_shot_types_belong_to_their_year_and_borrow_a_sound_model(tmp_path):
    from asdlib.data.layout import EVAL_TYPES_FIRST_SHOT, TYPES_2022
    from asdlib.data.synth.dataset import SOUND_MODEL, first_shot_shift, model_of, unit_of

    every = {t for types in EVAL_TYPES_FIRST_SHOT.values() for t in types}
    assert every == set(SOUND_MODEL) and set(SOUND_MODEL.values()) <= set(TYPES_2022)
    assert model_of("ToyDrone") is MACHINES["fan"] and model_of("fan") is MACHINES["fan"]
    # a borrowed model, a machine of its own: units are keyed by the type's name
    assert unit_of(0, "ToyDrone", 0) != unit_of(0, "fan", 0)
    # one section shifts the speed: the toy car's and train's second attribute, the valve's first
    assert [first_shot_shift(t) for t in ("ToyCar", "ToyNscale", "gearbox", "valve")] == ["spd", "spd", "volt", "pat"]
    with pytest.raises(ValueError, match="\\['bandsaw'\\] are not DCASE 2024 types"):
        generate(tmp_path / "x", year=2024, machine_types=["bandsaw"])
    with pytest.raises(ValueError, match="year=2026: the generator writes the layouts of 2020, 2022, 2023"):
        generate(tmp_path / "x", year=2026)


def test_fan_spectrum_peaks_at_the_blade_pass_frequency():
    x = _render("fan", spd="1200", seconds=4.0)
    spec = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    band = (freqs > 60) & (freqs < 400)
    peak = freqs[band][np.argmax(spec[band])]
    assert abs(peak - 7 * 1200 / 60) < 3  # 7 blades x 20 rev/s = 140 Hz


def _envelope_spectrum(x):
    from scipy.signal import butter, hilbert, sosfiltfilt

    band = sosfiltfilt(butter(4, [2500, 3500], "bandpass", fs=SR, output="sos"), x)
    env = np.abs(hilbert(band))
    return np.fft.rfftfreq(len(env), 1 / SR), np.abs(np.fft.rfft(env - env.mean()))


def test_an_inner_race_spall_moves_the_ball_passes_from_bpfo_to_a_faster_rate():
    bpfo = 0.4 * 7 * 6.0  # 7 balls, shaft at 6 rev/s
    peaks = {}
    for fault in (None, "inner-race"):
        freqs, spec = _envelope_spectrum(_render("bearing", fault, 1.0, vel="6", seconds=4.0))
        band = (freqs > 8) & (freqs < 40)
        peaks[fault] = freqs[band][np.argmax(spec[band])]
    assert abs(peaks[None] - bpfo) < 1.0
    assert abs(peaks["inner-race"] - 1.5 * bpfo) < 1.0


def _mel_power_db(x):
    import torch

    from asdlib.features import log_mel

    mel = log_mel(torch.from_numpy(x[None]).float())[0]  # dB, (128, frames)
    return 10 * np.log10((10 ** (mel / 10)).mean(-1).numpy())


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_one_fault_per_type_keeps_the_time_averaged_spectrum(machine):
    """At the middle of the preset's severity range, the fault of SPECTRUM_PRESERVING changes the
    time-averaged mel power spectrum by at most 1.5 dB in every band within 30 dB of the loudest
    (so a detector of stationary energy cannot find it), while another fault of the type changes
    it at least three times as much."""
    from asdlib.data.synth.dataset import FAULT_GAIN
    from asdlib.data.synth.machines import SPECTRUM_PRESERVING

    normal = _mel_power_db(_render(machine, seed=1, seconds=4.0))
    loud = normal > normal.max() - 30
    severity = FAULT_GAIN[machine] * float(np.mean(PRESETS["demo"].severity))
    change = {f: np.abs(_mel_power_db(_render(machine, f, severity, seed=1, seconds=4.0)) - normal)[loud].max()
              for f in MACHINES[machine].faults}
    keeper = SPECTRUM_PRESERVING[machine]
    assert change[keeper] <= 1.5, change
    assert max(v for f, v in change.items() if f != keeper) >= max(3 * change[keeper], 1.0), change


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_every_fault_changes_the_machine_sound(machine):
    """Each named fault, at the data set's severity scale, changes the machine's waveform
    (its twin shares every other draw): the difference carries at least 0.5 % of its RMS."""
    from asdlib.data.synth.dataset import FAULT_GAIN

    normal = _render(machine, seed=3)
    assert len(MACHINES[machine].faults) >= 2
    for fault in MACHINES[machine].faults:
        x = _render(machine, fault, FAULT_GAIN[machine], seed=3)
        assert np.sqrt(np.mean((x - normal) ** 2)) > 0.005 * np.sqrt(np.mean(normal ** 2)), fault


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
