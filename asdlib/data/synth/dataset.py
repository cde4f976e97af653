"""Write synthetic data sets in the exact DCASE 2020, 2022 and 2023-2025 layouts.

2022 (MIMII DG / ToyADMOS2 naming), under ``out``::

    dev_data/<type>/train/section_00_source_train_normal_0000_<attrs>.wav
    dev_data/<type>/test/section_00_target_test_anomaly_0003_<attrs>.wav
    dev_data/<type>/attributes_00.csv
    eval_data/<type>/train/section_03_source_train_normal_0000_<attrs>.wav
    eval_data/<type>/test/section_03_0000.wav                 (no label in the name)
    ground_truth_data/ground_truth_<type>_section_03_test.csv    (file,0|1 normal/anomaly)
    ground_truth_domain/ground_truth_<type>_section_03_test.csv  (file,0|1 source/target)
    ground_truth_attributes/<type>/attributes_03.csv

2020 (MIMII / ToyADMOS naming): ``dev_data/<type>/{train,test}/{normal,anomaly}_id_00_00000000.wav``
for machine IDs 00, 02, 04 and ``eval_data/<type>/test/id_01_00000000.wav`` for IDs
01, 03, 05, with ``ground_truth_data/ground_truth_<type>_id_01_test.csv``.

2023, 2024 and 2025 (the first-shot editions, in the official baselines' tree): one
section per machine type, ``section_00``; the development types (those of 2022) under
``dev_data/raw/<type>/``, the year's own evaluation types
(:data:`~asdlib.data.layout.EVAL_TYPES_FIRST_SHOT`) under ``eval_data/raw/<type>/``::

    dev_data/raw/<type>/train/section_00_source_train_normal_0000_<attrs>.wav
    dev_data/raw/<type>/test/section_00_target_test_anomaly_0003_<attrs>.wav
    eval_data/raw/<type>/test/section_00_0000.wav
    ground_truth_data/ground_truth_<type>_section_00_test.csv        (the evaluators' files)
    ground_truth_domain/ground_truth_<type>_section_00_test.csv
    ground_truth_attributes/ground_truth_<type>_section_00_test.csv  (eval name,full name[,revealed name])

The one section of a type shifts the machine's speed between the domains
(:func:`first_shot_shift`), and its halls go round within every auxiliary class
(attribute string x domain), so that the background follows none of them.
The evaluation types are new machines in DCASE; the generator has no sound model of
their own for them: each borrows the model of a development type (:data:`SOUND_MODEL`,
chosen by mechanism: a drone's rotors are a fan's blade passes), with units, halls and
draws of its own (they are keyed by the type's name), and that model's fault gain.

- **2024 and 2025 hide attributes** for the types of :data:`HIDDEN_ATTRIBUTES`: their
  names end in ``noAttribute``, and the published tables reveal them, as the real
  sets do: ``ground_truth_attributes/dcase<year>t2/{dev,eval}_data/<type>/
  attributes_00_{train,test}_correspondence.csv`` (full name, name on disk) and, for
  evaluation test clips, the evaluator's three-column list.
- **2025 adds** ``<type>/supplemental/``: :data:`SUPPLEMENTAL_SHARE` of the target
  training count of clean machine sounds (``section_00_machine_source_0000_<attrs>.wav``,
  the machine alone) and as many noise recordings (``section_00_noise_source_0000_
  noAttribute.wav``, the factory hall alone), from the same units and halls.

Index these with the year (``index_dataset(root, year=2024)``): the year decides where
the correspondence tables are read.

Each section is one machine unit (:mod:`.machines`: units differ in fine structure).
Every clip is recorded in one of :data:`N_HALLS` factory halls drawn from a pool
shared by all sections and both domains of a machine type, in equal shares, so the
background says nothing about the section (``asd synth --check`` certifies it). In
2022 each section shifts a different attribute between the source and the target
domain (section 00 the first attribute, 01 the second, ...), as the real data does;
its other attributes keep one value, so a section has two source classes and one
target class of attribute strings. Anomalous clips carry one named fault with a
severity in the preset's range. ``synth_clips.csv`` records
every clip's fault and severity (for analysis; detectors never read it), and
``synth.json`` the configuration.

Every clip is a pure function of (seed, machine type, section, split, domain,
label, number): the same seed gives byte-identical files, in any order and with
any number of worker processes. Files are written atomically, so an interrupted
run resumes where it stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import soundfile as sf

from asdlib.data.layout import EVAL_TYPES_FIRST_SHOT, TYPES_2020, TYPES_2022
from asdlib.data.synth.machines import MACHINES, Machine, Unit, make_unit
from asdlib.data.synth.noise import factory_noise, make_environment
from asdlib.data.synth.signals import db_to_gain
from asdlib.utils import atomic_path, atomic_write_text, progress_bar, stable_hash

SR = 16_000
GENERATOR_VERSION = 3  # bump when the sound models change: old data sets are then regenerated
N_HALLS = 8  # factory halls per machine type, shared by its sections and domains


@dataclass(frozen=True)
class Preset:
    """Sizes of a synthetic data set. Counts are per section (2022) or machine ID (2020)."""

    name: str
    duration: float          # seconds per clip (2020 ToyCar clips are 10 % longer, as in DCASE)
    n_train_source: int      # normal training clips, source domain (2020: all training clips)
    n_train_target: int      # normal training clips, target domain (2020: unused)
    n_test: int              # test clips per domain and label (2020: per label, x2)
    severity: tuple[float, float] = (0.2, 1.0)
    snr_db: float = 0.0      # machine-to-factory-noise ratio


PRESETS: dict[str, Preset] = {
    "ci": Preset("ci", duration=2.0, n_train_source=8, n_train_target=2, n_test=3),
    # demo: sized for learning on a CPU. Auxiliary-task embedders memorise when a class
    # has a handful of clips, so the demo trades clip length for clip count: 3 s clips,
    # 60 source clips per section (two source classes of about 30 each), 6 target clips.
    "demo": Preset("demo", duration=3.0, n_train_source=60, n_train_target=6, n_test=20, snr_db=6.0),
    "full": Preset("full", duration=10.0, n_train_source=990, n_train_target=10, n_test=50),
}

DEV_SECTIONS_2022 = (0, 1, 2)
EVAL_SECTIONS_2022 = (3, 4, 5)
DEV_IDS_2020 = (0, 2, 4)
EVAL_IDS_2020 = (1, 3, 5)

# Per-type fault strength (1.0 = the machine model's own scale), calibrated on the demo
# preset (seed 0) so that the reference detector of asd synth --check scores every 2022
# type inside CHECK_BOUNDS. Only anomalies depend on them: the normal clips, and so the
# certification's embedder, stay the same while they are tuned. pump and ToyConveyor
# exist only in the 2020 layout (FAULT_GAIN_2020).
FAULT_GAIN = {
    "ToyCar": 2.0, "ToyTrain": 3.0, "bearing": 3.5, "fan": 8.0, "gearbox": 1.5,
    "slider": 5.5, "valve": 3.5, "pump": 0.8, "ToyConveyor": 0.8,
}
# The 2020 layout has no domain shift, so the same faults are easier to find there: its
# gains are calibrated apart, on the mean AUC per type (asd synth --year 2020 --check).
FAULT_GAIN_2020 = {
    "ToyCar": 1.2, "ToyConveyor": 3.2, "fan": 4.0, "pump": 0.4, "slider": 0.6, "valve": 0.9,
}


FIRST_SHOT_YEARS = tuple(EVAL_TYPES_FIRST_SHOT)
"""Editions written with one section per machine type (2023 on)."""
YEARS = (2020, 2022) + FIRST_SHOT_YEARS
"""The layouts :func:`generate` writes."""

SOUND_MODEL = {
    # 2023
    "ToyDrone": "fan", "ToyNscale": "ToyTrain", "ToyTank": "ToyCar", "Vacuum": "fan", "bandsaw": "bearing",
    "grinder": "gearbox", "shaker": "slider",
    # 2024
    "3DPrinter": "slider", "AirCompressor": "slider", "BrushlessMotor": "bearing", "HairDryer": "fan",
    "HoveringDrone": "fan", "RoboticArm": "slider", "Scanner": "ToyTrain", "ToothBrush": "ToyCar",
    "ToyCircuit": "ToyTrain",
    # 2025
    "AutoTrash": "slider", "BandSealer": "bearing", "CoffeeGrinder": "gearbox", "HomeCamera": "slider",
    "Polisher": "bearing", "ScrewFeeder": "gearbox", "ToyPet": "ToyCar", "ToyRCCar": "ToyCar",
}
"""The sound model that renders each evaluation type of the first-shot editions: the
generator's choice, by mechanism (a vacuum cleaner's impeller is a fan, a compressor's
pistons and a bin's motorised lid are strokes, a band sealer's rollers run on bearings),
among the seven models
of the 2022 types, whose fault gains are calibrated (:data:`FAULT_GAIN`; the pump and
toy-conveyor models are calibrated for the 2020 layout only)."""

HIDDEN_ATTRIBUTES = {
    2024: ("gearbox", "slider", "ToyTrain", "AirCompressor", "HoveringDrone", "ToothBrush"),
    2025: ("gearbox", "slider", "ToyTrain", "AutoTrash", "Polisher", "ToyPet"),
}
"""Types whose file names hide their attributes (``noAttribute``). The 2024 evaluation types
are those whose official attribute lists have three columns (AirCompressor, HoveringDrone,
ToothBrush); the other entries are the generator's choice, three per part."""

SUPPLEMENTAL_SHARE = 1
"""2025 ``supplemental/`` clips per kind (machine alone, noise alone): this many times the
preset's target-domain training count."""


def model_of(machine_type: str) -> Machine:
    """The sound model of a machine type: its own, or the one it borrows (:data:`SOUND_MODEL`)."""
    return MACHINES[SOUND_MODEL.get(machine_type, machine_type)]


def types_of(year: int) -> tuple[str, ...]:
    """Every machine type of a year's layout, development types first."""
    if year == 2020:
        return TYPES_2020
    return TYPES_2022 + EVAL_TYPES_FIRST_SHOT.get(year, ())

FAULT_GAIN_FIRST_SHOT: dict[str, float] = {"Vacuum": 10.0}
"""Fault gains of the one-section layouts where the 2022 gain of the type's sound model does
not place the reference detector inside CHECK_BOUNDS, target harder than source (a
first-shot type is one unit, not three): calibrated as :data:`FAULT_GAIN` is, on the
demo preset, seed 0 (``asd synth --year 2023|2024|2025 --check``)."""


@dataclass
class Clip:
    """Everything needed to render and place one clip."""

    relpath: str
    machine_type: str
    part: str
    section: int
    split: str
    domain: str | None
    label: str
    number: int
    attrs: dict[str, str]
    fault: str | None
    severity: float
    seed: list[int] = field(repr=False)
    duration: float = 10.0
    year: int = 2022
    hall: int = 0            # index into the machine type's pool of factory halls
    render: str = "mix"      # what the file holds: "mix", or (2025 supplemental/) "machine" or "hall" alone


def _type_code(name: str) -> int:
    return zlib.crc32(name.encode())


def _section_rng(seed: int, machine_type: str, section: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([seed, _type_code(machine_type), section, purpose])


SPEED_ATTRIBUTES = ("spd", "vel", "volt")
"""The attributes that set a machine's speed (a motor's voltage sets a gearbox's)."""


def _domain_values(machine: str, section: int, shifted: str | None = None) -> dict[str, dict[str, tuple[str, ...]]]:
    """Attribute values per domain of a section: one attribute shifts (``shifted``; a 2022
    section ``s`` shifts the type's ``s``-th attribute), the others do not."""
    attrs = model_of(machine).attributes
    keys = list(attrs)
    shifted = shifted or keys[section % len(keys)]
    out = {"source": {}, "target": {}}
    for j, key in enumerate(keys):
        vals = attrs[key]
        if key == shifted:  # source: two neighbouring settings; target: the next one
            if len(vals) == 2:
                out["source"][key], out["target"][key] = vals[0:1], vals[1:2]
            elif section in DEV_SECTIONS_2022 or len(vals) < 4:
                out["source"][key], out["target"][key] = vals[0:2], vals[2:3]
            else:
                out["source"][key], out["target"][key] = vals[1:3], vals[3:4]
        else:  # one setting per section, the same in both domains
            out["source"][key] = out["target"][key] = (vals[(section + j) % len(vals)],)
    return out


def _attr_string(attrs: dict[str, str]) -> str:
    return "_".join(f"{k}_{v}" for k, v in attrs.items())


def plan_2022(preset: Preset, seed: int, machine_types: Iterable[str]) -> list[Clip]:
    """Every clip of a 2022-layout data set, in a fixed order."""
    clips: list[Clip] = []
    for mt in machine_types:
        faults = list(model_of(mt).faults)
        for section in DEV_SECTIONS_2022 + EVAL_SECTIONS_2022:
            part = "dev" if section in DEV_SECTIONS_2022 else "eval"
            rng = _section_rng(seed, mt, section, 1)
            values = _domain_values(mt, section)
            specs = []
            for domain, n_train in (("source", preset.n_train_source), ("target", preset.n_train_target)):
                specs += [("train", domain, "normal")] * n_train
            for domain in ("source", "target"):
                for label in ("normal", "anomaly"):
                    specs += [("test", domain, label)] * preset.n_test
            test_numbers = rng.permutation(sum(1 for s in specs if s[0] == "test"))
            hall0 = int(rng.integers(N_HALLS))
            counters = {"train": 0, "test": 0}
            for i, (split, domain, label) in enumerate(specs):
                attrs = {k: str(rng.choice(v)) for k, v in values[domain].items()}
                fault = str(rng.choice(faults)) if label == "anomaly" else None
                severity = float(rng.uniform(*preset.severity)) if fault else 0.0
                k = counters[split]
                counters[split] += 1
                if split == "train":
                    num = k
                    name = f"section_{section:02d}_{domain}_train_normal_{num:04d}_{_attr_string(attrs)}.wav"
                else:
                    num = int(test_numbers[k])
                    if part == "dev":
                        name = f"section_{section:02d}_{domain}_test_{label}_{num:04d}_{_attr_string(attrs)}.wav"
                    else:
                        name = f"section_{section:02d}_{num:04d}.wav"
                clips.append(Clip(
                    relpath=f"{part}_data/{mt}/{split}/{name}", machine_type=mt, part=part, section=section,
                    split=split, domain=domain, label=label, number=num, attrs=attrs, fault=fault,
                    severity=severity, seed=[seed, _type_code(mt), section, i], duration=preset.duration,
                    hall=(hall0 + i) % N_HALLS,
                ))
    return clips


def _first_shot_name(split: str, domain: str, label: str, number: int, attrs: str) -> str:
    return f"section_00_{domain}_{split}_{label}_{number:04d}_{attrs}.wav"


def first_shot_shift(machine_type: str) -> str:
    """The attribute the one section of a first-shot type shifts: the machine's speed
    (:data:`SPEED_ATTRIBUTES`), the operating condition that acts on every part of its
    sound; a type without one (the valve) its first attribute. A shift in an attribute
    that barely changes the sound (the toy car's body, the toy train's track) would leave
    the target domain no harder than the source and the auxiliary classes inaudible."""
    keys = list(model_of(machine_type).attributes)
    return next((k for k in keys if k in SPEED_ATTRIBUTES), keys[0])


def plan_first_shot(preset: Preset, seed: int, machine_types: Iterable[str], year: int) -> list[Clip]:
    """Every clip of a 2023-2025 layout: one section (00) per type, dev or eval by the type.

    A section is drawn as a 2022 development section 00 is, except that the attribute
    that shifts between the domains is the speed (:func:`first_shot_shift`), under the
    type's own random streams; halls are shared equally within every class. Hidden
    attributes and the 2025 supplemental clips follow the module doc.
    """
    clips: list[Clip] = []
    hidden = HIDDEN_ATTRIBUTES.get(year, ())
    for mt in machine_types:
        part = "dev" if mt in TYPES_2022 else "eval"
        faults = list(model_of(mt).faults)
        rng = _section_rng(seed, mt, 0, 1)
        values = _domain_values(mt, 0, shifted=first_shot_shift(mt))
        specs = [("train", "source", "normal")] * preset.n_train_source
        specs += [("train", "target", "normal")] * preset.n_train_target
        specs += [("test", d, lab) for d in ("source", "target") for lab in ("normal", "anomaly")
                  for _ in range(preset.n_test)]
        if year >= 2025:
            n_supp = SUPPLEMENTAL_SHARE * preset.n_train_target
            specs += [("supplemental", "source", "machine")] * n_supp + [("supplemental", "source", "noise")] * n_supp
        test_numbers = rng.permutation(sum(1 for s in specs if s[0] == "test"))
        hall0 = int(rng.integers(N_HALLS))
        counters = {"train": 0, "test": 0, "supplemental": 0}
        in_class: dict[tuple, list[int]] = {}  # per (split, domain, label, attributes): [first hall, clips so far]
        for i, (split, domain, label) in enumerate(specs):
            attrs = {k: str(rng.choice(v)) for k, v in values[domain].items()}
            # halls go round within each class, so that a class's clips share the halls equally:
            # with one section the classes an embedder names are attribute strings, and halls
            # handed out in clip order would follow their chance imbalance in a small sample
            key = (split, domain, label, _attr_string(attrs))
            start_count = in_class.setdefault(key, [hall0 + len(in_class), 0])
            hall = (start_count[0] + start_count[1]) % N_HALLS
            start_count[1] += 1
            fault = str(rng.choice(faults)) if label == "anomaly" else None
            severity = float(rng.uniform(*preset.severity)) if fault else 0.0
            k = counters[split]
            counters[split] += 1
            shown = "noAttribute" if mt in hidden else _attr_string(attrs)
            render = "mix"
            if split == "supplemental":
                render = "machine" if label == "machine" else "hall"
                name = f"section_00_{label}_source_{k:04d}_{shown if label == 'machine' else 'noAttribute'}.wav"
                num, label = k, ("normal" if label == "machine" else "noise")
            elif split == "train":
                num = k
                name = _first_shot_name(split, domain, label, num, shown)
            else:
                num = int(test_numbers[k])
                name = (_first_shot_name(split, domain, label, num, shown) if part == "dev"
                        else f"section_00_{num:04d}.wav")
            clips.append(Clip(
                relpath=f"{part}_data/raw/{mt}/{split}/{name}", machine_type=mt, part=part, section=0,
                split=split, domain=domain, label=label, number=num, attrs=attrs, fault=fault,
                severity=severity, seed=[seed, _type_code(mt), 0, i], duration=preset.duration,
                year=year, hall=hall, render=render,
            ))
    return clips


def plan(preset: Preset, seed: int, machine_types: Iterable[str], year: int) -> list[Clip]:
    """Every clip of a data set of ``year``'s layout, in a fixed order."""
    if year == 2020:
        return plan_2020(preset, seed, machine_types)
    if year == 2022:
        return plan_2022(preset, seed, machine_types)
    return plan_first_shot(preset, seed, machine_types, year)


def plan_2020(preset: Preset, seed: int, machine_types: Iterable[str]) -> list[Clip]:
    """Every clip of a 2020-layout data set: machine IDs instead of sections, no domains."""
    clips: list[Clip] = []
    for mt in machine_types:
        faults = list(model_of(mt).faults)
        attr_values = model_of(mt).attributes
        duration = preset.duration * (1.1 if mt == "ToyCar" else 1.0)
        for mid in DEV_IDS_2020 + EVAL_IDS_2020:
            part = "dev" if mid in DEV_IDS_2020 else "eval"
            rng = _section_rng(seed, mt, mid, 2)
            attrs = {k: v[mid % len(v)] for k, v in attr_values.items()}  # one unit, one setting
            specs = [("train", "normal")] * (preset.n_train_source + preset.n_train_target)
            specs += [("test", "normal")] * (2 * preset.n_test) + [("test", "anomaly")] * (2 * preset.n_test)
            test_numbers = rng.permutation(4 * preset.n_test)
            hall0 = int(rng.integers(N_HALLS))
            counters = {"train": 0, "test": 0}
            for i, (split, label) in enumerate(specs):
                fault = str(rng.choice(faults)) if label == "anomaly" else None
                severity = float(rng.uniform(*preset.severity)) if fault else 0.0
                k = counters[split]
                counters[split] += 1
                num = k if split == "train" else int(test_numbers[k])
                if split == "test" and part == "eval":
                    name = f"id_{mid:02d}_{num:08d}.wav"
                else:
                    name = f"{label}_id_{mid:02d}_{num:08d}.wav"
                clips.append(Clip(
                    relpath=f"{part}_data/{mt}/{split}/{name}", machine_type=mt, part=part, section=mid,
                    split=split, domain=None, label=label, number=num, attrs=attrs, fault=fault,
                    severity=severity, seed=[seed, _type_code(mt), 100 + mid, i], duration=duration,
                    year=2020, hall=(hall0 + i) % N_HALLS,
                ))
    return clips


def unit_of(seed: int, machine_type: str, section: int) -> Unit:
    """The machine unit of a section (2022) or machine ID (2020)."""
    return make_unit(_section_rng(seed, machine_type, section, 3), model_of(machine_type).counts)


def hall_of(seed: int, machine_type: str, hall: int) -> dict:
    """Factory hall number ``hall`` of the pool shared by every section of ``machine_type``."""
    return make_environment(np.random.default_rng([seed, _type_code(machine_type), 1000 + hall, 4]))


EQ_OCTAVES_HZ = (62.5, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
EQ_SPREAD_DB = 3.0
REFLECTIONS = 6
"""Early reflections of the room response of one placement (floor, walls, fixtures)."""
REFLECTION_DELAY_S = (0.0003, 0.015)
REFLECTION_GAIN = 0.5


def placement_eq(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where the microphone stood this time, and how the machine was loaded.

    Two fixed filters applied to the machine sound of one clip:

    - a random smooth equalisation: independent gains (N(0, EQ_SPREAD_DB) dB) at the
      octaves of :data:`EQ_OCTAVES_HZ`, interpolated on a log-frequency axis;
    - the early reflections of the room at this placement: the direct sound plus
      :data:`REFLECTIONS` copies delayed by 0.3-15 ms (a surface 5 cm to 2.5 m
      away), each with a gain of 0.15-0.5 and either sign, normalised to unit power.
      Their comb filter moves the energy of every mel band by a few decibels, in a
      pattern of its own for every clip.

    Both move the time-averaged spectrum of normal clips in many directions (what a
    detector of stationary energy must tolerate, as a real machine moved between
    recordings makes it), and leave the fine structure alone: harmonic frequencies,
    modulations, timing and rates. A static filter multiplies each STFT bin by a
    constant, so a log spectrogram with its temporal mean removed does not see it.
    """
    gains_db = rng.normal(0.0, EQ_SPREAD_DB, len(EQ_OCTAVES_HZ))
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / SR)
    curve = 10 ** (np.interp(np.log2(np.maximum(freqs, 1.0)), np.log2(EQ_OCTAVES_HZ), gains_db) / 20)
    delays = rng.uniform(*REFLECTION_DELAY_S, REFLECTIONS)
    gains = REFLECTION_GAIN * rng.uniform(0.3, 1.0, REFLECTIONS) * rng.choice([-1.0, 1.0], REFLECTIONS)
    room = 1.0 + (gains[:, None] * np.exp(-2j * np.pi * delays[:, None] * freqs[None, :])).sum(0)
    return np.fft.irfft(spec * curve * room / np.sqrt(1.0 + (gains**2).sum()), len(x))


def fault_gain(machine_type: str, year: int = 2022) -> float:
    """The type's fault strength: calibrated per layout; in 2023+ a type without an entry of
    its own in :data:`FAULT_GAIN_FIRST_SHOT` has its sound model's 2022 gain."""
    if year in FIRST_SHOT_YEARS and machine_type in FAULT_GAIN_FIRST_SHOT:
        return FAULT_GAIN_FIRST_SHOT[machine_type]
    return (FAULT_GAIN_2020 if year == 2020 else FAULT_GAIN)[SOUND_MODEL.get(machine_type, machine_type)]


def render_clip(clip: Clip, preset: Preset, seed: int, part: str = "mix") -> np.ndarray:
    """The waveform of one clip (float32, mono, 16 kHz): machine + factory hall.

    ``part="machine"`` or ``"hall"`` renders that component alone, at the level and
    with the draws it has in the mix (the background probe of ``asd synth --check``
    listens to the halls alone). The machine, the hall and the clip's level have
    their own random streams, and a fault draws from a stream of its own, so a clip
    re-rendered with another ``fault`` (``dataclasses.replace``) is its exact twin.
    """
    if part not in ("mix", "machine", "hall"):
        raise ValueError(f"part={part!r}: choose 'mix', 'machine' or 'hall'")
    n = round(clip.duration * SR)
    placement = np.random.default_rng([*clip.seed, 2])
    gain = 0.05 * db_to_gain(placement.normal(0, 1.0))
    mix = np.zeros(n)
    if part in ("mix", "machine"):
        machine = model_of(clip.machine_type)
        severity = clip.severity * fault_gain(clip.machine_type, clip.year)
        x = machine.render(np.random.default_rng(clip.seed), unit_of(seed, clip.machine_type, clip.section),
                           clip.attrs, clip.fault, severity, n, SR)
        mix += placement_eq(x, placement)
    if part in ("mix", "hall"):
        env = hall_of(seed, clip.machine_type, clip.hall)
        mix += factory_noise(np.random.default_rng([*clip.seed, 1]), env, n, SR) * db_to_gain(-preset.snr_db)
    return np.clip(gain * mix, -1.0, 1.0).astype(np.float32)


def _write_clips(args: tuple[list[Clip], Preset, int, str]) -> int:
    clips, preset, seed, out = args
    for clip in clips:
        path = Path(out) / clip.relpath
        if path.exists():
            continue  # resumed run: files are written atomically, so an existing one is complete
        audio = render_clip(clip, preset, seed, clip.render)
        with atomic_path(path) as tmp:
            sf.write(str(tmp), audio, SR, subtype="PCM_16", format="WAV")
    return len(clips)


def _write_tables(out: Path, clips: list[Clip], year: int) -> None:
    """attributes_XX.csv, ground-truth CSVs and synth_clips.csv."""
    table = pd.DataFrame([{**asdict(c), "attrs": _attr_string(c.attrs)} for c in clips]).drop(columns="seed")
    if year == 2022:
        for (part, mt, section), group in table.groupby(["part", "machine_type", "section"]):
            rows = []
            for c in group.itertuples():
                row = {"file_name": f"{mt}/{c.split}/{Path(c.relpath).name}"}
                for i, (k, v) in enumerate(zip(c.attrs.split("_")[::2], c.attrs.split("_")[1::2]), 1):
                    row[f"d{i}p"], row[f"d{i}v"] = k, v
                if part == "eval" and c.split == "test":
                    full = f"section_{section:02d}_{c.domain}_test_{c.label}_{c.number:04d}_{c.attrs}.wav"
                    row["file_name_with_full_attributes"] = f"{mt}/test/{full}"
                rows.append(row)
            attrs = pd.DataFrame(rows)
            train = attrs[~attrs["file_name"].str.contains("/test/")].drop(
                columns="file_name_with_full_attributes", errors="ignore")
            test = attrs[attrs["file_name"].str.contains("/test/")]
            if part == "dev":
                atomic_write_text(out / f"dev_data/{mt}/attributes_{section:02d}.csv", attrs.to_csv(index=False))
            else:
                atomic_write_text(out / f"eval_data/{mt}/attributes_{section:02d}.csv", train.to_csv(index=False))
                atomic_write_text(out / f"ground_truth_attributes/{mt}/attributes_{section:02d}.csv",
                                  test.to_csv(index=False))
    elif year in FIRST_SHOT_YEARS:
        _write_first_shot_tables(out, table, year)
    for (mt, section), group in table[(table["part"] == "eval") & (table["split"] == "test")].groupby(
            ["machine_type", "section"]):
        tag = f"id_{section:02d}" if year == 2020 else f"section_{section:02d}"
        group = group.sort_values("number")
        names = [Path(p).name for p in group["relpath"]]
        labels = (group["label"] == "anomaly").astype(int)
        atomic_write_text(out / f"ground_truth_data/ground_truth_{mt}_{tag}_test.csv",
                          "".join(f"{f},{v}\n" for f, v in zip(names, labels)))
        if year != 2020:
            domains = (group["domain"] == "target").astype(int)
            atomic_write_text(out / f"ground_truth_domain/ground_truth_{mt}_{tag}_test.csv",
                              "".join(f"{f},{v}\n" for f, v in zip(names, domains)))
    atomic_write_text(out / "synth_clips.csv", table.to_csv(index=False))


def _write_first_shot_tables(out: Path, table: pd.DataFrame, year: int) -> None:
    """The 2023+ attribute tables: ``attributes_00.csv`` of the types that show their attributes,
    the correspondence tables of those that hide them, and the evaluators' attribute lists."""
    hidden = HIDDEN_ATTRIBUTES.get(year, ())
    for (part, mt), group in table[table["split"] != "supplemental"].groupby(["part", "machine_type"]):
        full = {c.relpath: _first_shot_name(c.split, c.domain, c.label, c.number, c.attrs)
                for c in group.itertuples()}
        labelled = group[(group["split"] == "train") | (group["part"] == "dev")]
        if mt in hidden:
            folder = out / f"ground_truth_attributes/dcase{year}t2/{part}_data/{mt}"
            for split, rows in labelled.groupby("split"):
                lines = ["source_file_name,target_file_name"]
                lines += [f"{full[r]},{Path(r).name}" for r in rows["relpath"]]
                atomic_write_text(folder / f"attributes_00_{split}_correspondence.csv", "\n".join(lines) + "\n")
        else:
            rows = []
            for c in labelled.itertuples():
                row = {"file_name": f"{mt}/{c.split}/{Path(c.relpath).name}"}
                pairs = c.attrs.split("_")
                for i, (k, v) in enumerate(zip(pairs[::2], pairs[1::2]), 1):
                    row[f"d{i}p"], row[f"d{i}v"] = k, v
                rows.append(row)
            atomic_write_text(out / f"{part}_data/raw/{mt}/attributes_00.csv", pd.DataFrame(rows).to_csv(index=False))
        if part == "eval":
            test = group[group["split"] == "test"].sort_values("number")
            lines = []
            for c in test.itertuples():
                name, revealed = Path(c.relpath).name, full[c.relpath]
                if mt in hidden:  # the 2024 evaluator's three columns: name, hidden full name, revealed name
                    stem = _first_shot_name(c.split, c.domain, c.label, c.number, "noAttribute")[:-4]
                    lines.append(f"{name},{stem},{revealed}")
                else:
                    lines.append(f"{name},{revealed[:-4]}")
            atomic_write_text(out / f"ground_truth_attributes/ground_truth_{mt}_section_00_test.csv",
                              "\n".join(lines) + "\n")


def generate(
    out: str | Path,
    year: int = 2022,
    preset: str | Preset = "demo",
    seed: int = 0,
    machine_types: Iterable[str] | None = None,
    jobs: int | None = None,
    progress: bool = True,
) -> Path:
    """Generate (or reuse, or finish) a synthetic DCASE data set; return its root.

    A folder that already holds the same configuration is reused as it is; one that
    holds a different synthetic data set, or anything else, is refused with an error
    rather than overwritten.
    """
    if year not in YEARS:
        raise ValueError(f"year={year!r}: the generator writes the layouts of {', '.join(map(str, YEARS))}")
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"preset={preset!r}: valid presets are {sorted(PRESETS)}")
        preset = PRESETS[preset]
    all_types = types_of(year)
    machine_types = list(machine_types) if machine_types is not None else list(all_types)
    bad = [t for t in machine_types if t not in all_types]
    if bad:
        raise ValueError(f"machine_types: {bad} are not DCASE {year} types; valid: {list(all_types)}")
    out = Path(out)
    config = {
        "generator": "asdlib.data.synth", "version": GENERATOR_VERSION, "year": year,
        "preset": asdict(preset), "seed": seed, "machine_types": machine_types,
        "fault_gain": {t: fault_gain(t, year) for t in machine_types},
    }
    key = stable_hash(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    # One writer at a time: parallel notebook runs all ask for the profile's data set.
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _generate_locked(out, config, key, preset, year, seed, machine_types, jobs, progress)


def _generate_locked(out: Path, config: dict, key: str, preset: Preset, year: int, seed: int,
                     machine_types: list[str], jobs: int | None, progress: bool) -> Path:
    manifest, partial = out / "synth.json", out / "synth.partial.json"
    for existing in (manifest, partial):
        if existing.exists():
            found = json.loads(existing.read_text())
            if found.get("key") != key:
                raise ValueError(
                    f"{out}: holds a different synthetic data set ({existing.name}: preset "
                    f"{found.get('preset', {}).get('name')}, seed {found.get('seed')}); "
                    "choose another --out or delete the folder"
                )
    if manifest.exists():
        return out
    if out.exists() and any(out.iterdir()) and not partial.exists():
        raise ValueError(f"{out}: folder is not empty and holds no synthetic data set; refusing to write into it")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(partial, json.dumps({**config, "key": key}, indent=2))

    clips = plan(preset, seed, machine_types, year)
    jobs = jobs or os.cpu_count() or 1
    chunks = [clips[i:i + 16] for i in range(0, len(clips), 16)]
    bar = None
    if progress:
        bar = progress_bar(total=len(clips), desc=f"synth {year} {preset.name}", unit="clip")
    if jobs == 1:
        for chunk in chunks:
            done = _write_clips((chunk, preset, seed, str(out)))
            if bar:
                bar.update(done)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for done in pool.map(_write_clips, [(c, preset, seed, str(out)) for c in chunks]):
                if bar:
                    bar.update(done)
    if bar:
        bar.close()
    _write_tables(out, clips, year)
    counts = pd.Series([c.machine_type for c in clips]).value_counts().to_dict()
    atomic_write_text(manifest, json.dumps({**config, "key": key, "clips": len(clips), "per_type": counts,
                                            "faults": {t: model_of(t).faults for t in machine_types}}, indent=2))
    partial.unlink()
    return out


def read_manifest(root: str | Path) -> dict | None:
    """The generator's manifest of a data root, or None for real (non-synthetic) data."""
    path = Path(root) / "synth.json"
    return json.loads(path.read_text()) if path.is_file() else None
