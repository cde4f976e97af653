"""Certify a synthetic data set: no shortcuts, a fair yardstick, and faults a trained embedding hears.

``asd synth --check`` runs :func:`certify` on a generated 2022-layout data set and
prints one row per machine type (DESIGN.md, 11). Three checks, each with a rule
fixed before any result is seen:

1. **Background probe.** Every training clip's factory hall is rendered alone (the
   exact hall and draws it has in the clip) and a linear classifier (logistic
   regression on the time-averaged log-mel, 5-fold cross-validated) tries to name
   the clip's section from it. Pass: its accuracy is within 2 standard errors of
   chance, ``1/S + 2 sqrt((1/S)(1 - 1/S) / N)``. For contrast the same probe runs on
   the machine alone: sections are units, so it should name them.
2. **Reference detector** (:mod:`asdlib.reference`): its official DCASE 2022 score per
   type lies in :data:`~asdlib.reference.CHECK_BOUNDS`, target domain harder than source.
3. **Learnability.** A small auxiliary-task embedder (Wilkinghoff's two-branch
   network, paper 003, on the whole-clip spectrum and the log-mel, trained with
   sub-cluster AdaCos on the section x attribute classes, k-means cosine backend) is
   trained per type for :data:`LEARN_UPDATES` updates. Pass: it beats the reference
   detector's official score on at least half of the types, and in the
   **paired-fault test** (each normal test clip re-rendered with one fault at
   severity :data:`PAIRED_SEVERITY`, every other draw identical) it scores the faulty
   twin higher at least :data:`PAIRED_MIN` of the time on every type.

Only synthetic data can be certified (the probe and the twins re-render clips from
the generator's plan); the numbers are a report, printed by the CLI and shown in the
first chapter, never asserted by timed tests.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from asdlib.backends import KMeansCosineBackend, MahalanobisBackend, PerSection
from asdlib.data.audio import load_clips
from asdlib.data.classes import auxiliary_classes
from asdlib.data.layout import index_dataset
from asdlib.data.synth.dataset import Preset, plan_2022, read_manifest, render_clip
from asdlib.data.synth.machines import MACHINES
from asdlib.features import LogMelConfig, log_mel
from asdlib.losses import SubClusterAdaCos
from asdlib.metrics import section_table_2022, type_summary
from asdlib.models.wilkinghoff import WilkinghoffConfig, WilkinghoffEmbedder
from asdlib.reference import CHECK_BOUNDS
from asdlib.train.embedding import embed, train_embedder
from asdlib.utils import progress_bar

PROBE_FOLDS = 5
PAIRED_SEVERITY = 0.6
"""Severity draw of the faulty twins (times the type's fault gain, as in the data set)."""
PAIRED_MIN = 0.75
LEARN_UPDATES = 150
"""Updates of the learnability embedder per machine type (batch 32)."""
LEARN_BATCH = 32


# ----------------------------------------------------------------------------- helpers
def _mean_log_mel(waves: np.ndarray, batch: int = 64) -> np.ndarray:
    """(N, 128) time-averaged DCASE log-mel of in-memory clips."""
    out = []
    for i in range(0, len(waves), batch):
        out.append(log_mel(torch.from_numpy(np.ascontiguousarray(waves[i:i + batch])), LogMelConfig()).mean(-1))
    return torch.cat(out).numpy().astype(np.float64)


def _render(clips, preset: Preset, seed: int, part: str = "mix") -> np.ndarray:
    return np.stack([render_clip(c, preset, seed, part) for c in clips])


def probe_accuracy(features: np.ndarray, sections: np.ndarray, seed: int = 0) -> float:
    """Cross-validated accuracy of a linear classifier naming the section of each clip."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    folds = StratifiedKFold(PROBE_FOLDS, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, features, sections, cv=folds).mean())


def chance_bound(n_classes: int, n: int) -> tuple[float, float]:
    """Chance accuracy ``1/S`` and the pass bound ``1/S + 2 standard errors`` of a probe on ``n`` clips."""
    p = 1.0 / n_classes
    return p, p + 2.0 * np.sqrt(p * (1 - p) / n)


def _official(test: pd.DataFrame, scores: np.ndarray) -> float:
    table = section_table_2022(test.assign(score=scores))
    return float(type_summary(table)["hmean"].iloc[0])


def _paired_rate(normal: np.ndarray, faulty: np.ndarray) -> float:
    """Share of pairs whose faulty twin scores higher (ties count half)."""
    return float(np.mean((faulty > normal) + 0.5 * (faulty == normal)))


@dataclass
class Learner:
    """The learnability embedder of one machine type, trained and ready to score."""

    model: WilkinghoffEmbedder
    backend: PerSection
    history: dict

    def score(self, waves: np.ndarray, sections: np.ndarray) -> np.ndarray:
        return self.backend.score_samples(embed(self.model, waves, device="cpu").numpy(), sections)


def train_learner(train: pd.DataFrame, waves: np.ndarray, updates: int = LEARN_UPDATES, seed: int = 0,
                  progress: bool = False, use_mixup: bool = True, n_subclusters: int = 4) -> Learner:
    """Train the small auxiliary-task embedder on one type's training clips."""
    codes, names = auxiliary_classes(train)
    torch.manual_seed(seed)
    model = WilkinghoffEmbedder(WilkinghoffConfig(branches=("spectrum", "logmel"), n_samples=waves.shape[1]))
    head = SubClusterAdaCos(model.embedding_dim, len(names), n_subclusters=n_subclusters, seed=seed)
    epochs = max(1, int(np.ceil(updates * LEARN_BATCH / len(waves))))
    history = train_embedder(model, head, waves, codes, epochs=epochs, batch_size=LEARN_BATCH, device="cpu",
                             seed=seed, progress=progress, desc="learnability", use_mixup=use_mixup)
    emb = embed(model, waves, device="cpu").numpy()
    backend = PerSection(KMeansCosineBackend(n_clusters=8))
    backend.fit(emb, train["section"].to_numpy(), domains=train["domain"].to_numpy())
    return Learner(model, backend, history)


# ----------------------------------------------------------------------------- the checks
def certify_type(root: Path, index: pd.DataFrame, plan: dict[str, object], preset: Preset, seed: int,
                 machine_type: str, updates: int = LEARN_UPDATES, progress: bool = False) -> dict:
    """Every check of one machine type; returns one row of the certification table."""
    rows = index[index["machine_type"] == machine_type]
    train = rows[rows["split"] == "train"].reset_index(drop=True)
    test = rows[(rows["split"] == "test") & (rows["label"] != "unknown")].reset_index(drop=True)
    train_clips = [plan[str(Path(p).relative_to(root))] for p in train["path"]]
    sections = train["section"].to_numpy()
    n_sec = len(np.unique(sections))
    out: dict[str, object] = {"machine_type": machine_type}

    # 1. background probe: the halls alone, then the machines alone
    t0 = time.perf_counter()
    halls = _mean_log_mel(_render(train_clips, preset, seed, "hall"))
    machines = _mean_log_mel(_render(train_clips, preset, seed, "machine"))
    out["probe_hall"] = probe_accuracy(halls, sections, seed)
    out["probe_machine"] = probe_accuracy(machines, sections, seed)
    out["probe_chance"], out["probe_bound"] = chance_bound(n_sec, len(train))
    out["probe_ok"] = out["probe_hall"] <= out["probe_bound"]

    # 2. the reference detector on the written files
    train_waves = load_clips(train["path"], duration=preset.duration)
    test_waves = load_clips(test["path"], duration=preset.duration)
    ref = PerSection(MahalanobisBackend(shrinkage="ledoit_wolf"))
    ref.fit(_mean_log_mel(train_waves), sections)
    ref_scores = ref.score_samples(_mean_log_mel(test_waves), test["section"].to_numpy())
    table = type_summary(section_table_2022(test.assign(score=ref_scores))).iloc[0]
    out.update({"reference": float(table["hmean"]), "ref_auc_source": float(table["auc_source_hmean"]),
                "ref_auc_target": float(table["auc_target_hmean"]), "ref_pauc": float(table["pauc_hmean"])})
    out["reference_ok"] = bool(CHECK_BOUNDS[0] <= out["reference"] <= CHECK_BOUNDS[1]
                               and out["ref_auc_target"] < out["ref_auc_source"])

    # 3. learnability: the small embedder, its official score and the paired-fault test
    learner = train_learner(train, train_waves, updates, seed, progress)
    out["embedder"] = _official(test, learner.score(test_waves, test["section"].to_numpy()))
    normal_clips = [plan[str(Path(p).relative_to(root))] for p in test.loc[test["label"] == "normal", "path"]]
    faults = list(MACHINES[machine_type].faults)
    twins = [dataclasses.replace(c, fault=faults[i % len(faults)], severity=PAIRED_SEVERITY, label="anomaly")
             for i, c in enumerate(normal_clips)]
    a, b = _render(normal_clips, preset, seed), _render(twins, preset, seed)
    secs = np.array([c.section for c in normal_clips])
    out["paired_reference"] = _paired_rate(ref.score_samples(_mean_log_mel(a), secs),
                                           ref.score_samples(_mean_log_mel(b), secs))
    emb_a, emb_b = learner.score(a, secs), learner.score(b, secs)
    out["paired_embedder"] = _paired_rate(emb_a, emb_b)
    fault_of = np.array([t.fault for t in twins])
    for f in faults:
        out[f"paired[{f}]"] = _paired_rate(emb_a[fault_of == f], emb_b[fault_of == f])
    out["paired_ok"] = out["paired_embedder"] >= PAIRED_MIN
    out["final_loss"] = float(learner.history["loss"][-1]) if learner.history.get("loss") else float("nan")
    out["seconds"] = time.perf_counter() - t0
    return out


def _certify_one(args: tuple) -> dict:
    root, types, mt, updates = args
    torch.set_num_threads(1)
    root = Path(root)
    manifest = read_manifest(root)
    preset = Preset(**{**manifest["preset"], "severity": tuple(manifest["preset"]["severity"])})
    seed = int(manifest["seed"])
    plan = {c.relpath: c for c in plan_2022(preset, seed, [mt])}
    index = index_dataset(root)
    return certify_type(root, index, plan, preset, seed, mt, updates)


CERTIFICATE = "certification.json"
"""File in the data root that keeps a finished certification (reused when nothing changed)."""


def certify(root: str | Path, machine_types: list[str] | None = None, updates: int = LEARN_UPDATES,
            progress: bool = True, jobs: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Certify a generated 2022-layout synthetic data set.

    Returns the table (one row per machine type, columns described in the module
    docstring) and a verdict dict: ``probe``, ``reference``, ``paired`` (every type
    passes each), ``learnable`` (the embedder beats the reference on at least half
    of the types) and ``ok`` (all four). Types run in ``jobs`` worker processes (one
    torch thread each; default: the CPU count). A finished certification of the whole
    data set is kept in ``<root>/certification.json`` and reused while the data set,
    the settings and asdlib's certification code are the same.
    """
    import json
    import os
    from concurrent.futures import ProcessPoolExecutor

    from asdlib.provenance import file_digest
    from asdlib.utils import atomic_write_text

    root = Path(root)
    manifest = read_manifest(root)
    if manifest is None:
        raise ValueError(f"{root}: no synth.json here; only synthetic data sets can be certified")
    if manifest["year"] != 2022:
        raise ValueError(f"{root}: certification covers the 2022 layout; this data set is {manifest['year']}")
    types = list(machine_types or manifest["machine_types"])
    key = {"data": manifest["key"], "types": types, "updates": updates, "code": file_digest(Path(__file__))}
    cached = root / CERTIFICATE
    if cached.is_file():
        found = json.loads(cached.read_text())
        if found.get("key") == key:
            return pd.DataFrame(found["table"]).set_index("machine_type"), found["verdict"]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(types)))
    bar = progress_bar(total=len(types), desc="certify", unit="type") if progress else None
    rows = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for row in pool.map(_certify_one, [(str(root), types, mt, updates) for mt in types]):
            rows.append(row)
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    table = pd.DataFrame(rows).set_index("machine_type")
    beats = table["embedder"] > table["reference"]
    verdict = {
        "probe": bool(table["probe_ok"].all()),
        "reference": bool(table["reference_ok"].all()),
        "paired": bool(table["paired_ok"].all()),
        "learnable": bool(beats.mean() >= 0.5),
        "beats_reference": int(beats.sum()),
    }
    verdict["ok"] = all(verdict[k] for k in ("probe", "reference", "paired", "learnable"))
    atomic_write_text(cached, json.dumps({"key": key, "verdict": verdict,
                                          "table": table.reset_index().to_dict(orient="list")}, indent=1))
    return table, verdict


def certification_report(table: pd.DataFrame, verdict: dict) -> str:
    """The certification as text: one row per type, then the verdict of each check."""
    cols = {"probe_hall": "probe hall", "probe_bound": "bound", "probe_machine": "probe machine",
            "reference": "reference", "ref_auc_source": "ref src", "ref_auc_target": "ref tgt",
            "embedder": "embedder", "paired_reference": "paired ref", "paired_embedder": "paired emb"}
    shown = table[list(cols)].rename(columns=cols)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        text = shown.to_string()
    lo, hi = CHECK_BOUNDS

    def mark(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    lines = [
        "Certification of a SYNTHETIC data set (asdlib.certify)", "", text, "",
        f"background probe: hall-only accuracy within 2 standard errors of chance on every type: "
        f"{mark(verdict['probe'])}",
        f"reference detector: official score in [{lo}, {hi}], target harder than source, every type: "
        f"{mark(verdict['reference'])}",
        f"learnability: embedder beats the reference on {verdict['beats_reference']} of {len(table)} types "
        f"(need half): {mark(verdict['learnable'])}",
        f"paired faults: embedder scores the faulty twin higher >= {PAIRED_MIN:.0%} on every type: "
        f"{mark(verdict['paired'])}",
        "check: " + ("PASS" if verdict["ok"] else "FAIL (see the rows above)"),
    ]
    return "\n".join(lines)


__all__ = ["CERTIFICATE", "PAIRED_MIN", "PAIRED_SEVERITY", "certification_report", "certify", "certify_type",
           "chance_bound", "probe_accuracy", "train_learner"]
