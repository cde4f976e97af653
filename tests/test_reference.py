"""The reference detector (mean log-mel + Mahalanobis per section) and its check."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from asdlib.data.layout import index_dataset
from asdlib.data.synth import generate
from asdlib.metrics import section_table_2022
from asdlib.reference import CHECK_BOUNDS, reference_check, reference_scores

SR = 16_000


def _clip(path, rng, tone_hz=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.05 * rng.normal(size=SR // 2)
    if tone_hz:
        x += 0.05 * np.sin(2 * np.pi * tone_hz * np.arange(SR // 2) / SR)
    sf.write(str(path), x, SR, subtype="PCM_16")


def test_reference_detector_separates_a_tone_from_noise(tmp_path):
    rng = np.random.default_rng(0)
    base = tmp_path / "fan"
    for s in (0, 1):
        for i in range(30):
            _clip(base / "train" / f"section_0{s}_source_train_normal_{i:04d}_a_1.wav", rng)
        for i in range(3):
            _clip(base / "train" / f"section_0{s}_target_train_normal_{30 + i:04d}_a_2.wav", rng)
        for i, (dom, lab) in enumerate([(d, l) for d in ("source", "target") for l in ("normal", "anomaly")] * 4):
            _clip(base / "test" / f"section_0{s}_{dom}_test_{lab}_{i:04d}_a_1.wav", rng,
                  tone_hz=1000 if lab == "anomaly" else None)
    scores = reference_scores(index_dataset(tmp_path))
    assert set(scores["split"]) == {"test"} and len(scores) == 32
    table = section_table_2022(scores)
    assert (table[["auc_source", "auc_target", "pauc"]] == 1.0).all().all()


def test_reference_check_reports_every_type(tmp_path):
    root = generate(tmp_path / "d", preset="ci", machine_types=["fan", "valve"], jobs=1, progress=False)
    table, overall = reference_check(root)
    assert list(table.index) == ["fan", "valve"]
    assert (table["sections"] == 6).all()
    assert table[["official", "AUC source", "AUC target", "pAUC"]].apply(lambda c: c.between(0, 1)).all().all()
    assert table["in bounds"].tolist() == table["official"].between(*CHECK_BOUNDS).tolist()
    assert 0 < overall["official_score"] <= 1


def test_reference_check_on_the_2020_layout_reports_mean_auc(tmp_path):
    root = generate(tmp_path / "d2020", year=2020, preset="ci", machine_types=["pump"], jobs=1, progress=False)
    table, overall = reference_check(root)
    assert list(table.index) == ["pump"] and "target harder" not in table.columns
    assert table.loc["pump", "machine IDs"] == 6
    assert table["in bounds"].tolist() == table["AUC (mean)"].between(*CHECK_BOUNDS).tolist()
    assert overall["auc_mean"] == table.loc["pump", "AUC (mean)"]
