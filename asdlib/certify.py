"""Certify a synthetic data set: no shortcuts, a fair yardstick, and faults a trained embedding hears.

``asd synth --check`` runs :func:`certify` on a generated data set of the 2022 or a
one-section (2023-2025) layout and prints one row per machine type (DESIGN.md, 11).
Three checks, each with a rule fixed before any result is seen:

1. **Background probe.** Every training clip's factory hall is rendered alone (the
   exact hall and draws it has in the clip) and a linear classifier (logistic
   regression on the time-averaged log-mel, 5-fold cross-validated) tries to name
   the clip's class from it: its section where a type has several (2022), else its
   auxiliary class within the type (attribute string x domain, from the generator's
   plan, so hidden attributes count too): what an embedder is trained to name, and
   what a background that followed it would give away. Pass: its accuracy is within
   2 standard errors of chance, ``p + 2 sqrt(p (1 - p) / N)`` with ``p`` the share of
   the largest class (``1/S`` for the 2022 sections). For contrast the same probe runs
   on the machine alone, which should name the class.
2. **Reference detector** (:mod:`asdlib.reference`): its official DCASE 2022 score per
   type lies in :data:`~asdlib.reference.CHECK_BOUNDS`, target domain harder than source.
3. **Learnability.** A small auxiliary-task embedder (Wilkinghoff's two-branch
   network, paper 003, on the whole-clip spectrum and the log-mel, trained with
   sub-cluster AdaCos on the type x section x attribute classes of every type at
   once, as the paper does; k-means cosine backend per section) is trained for
   :data:`LEARN_UPDATES` updates. Pass: it beats the reference
   detector's official score on at least half of the types, and in the
   **paired-fault test** (each normal test clip re-rendered with one fault at
   severity :data:`PAIRED_SEVERITY`, every other draw identical) it scores the faulty
   twin higher at least :data:`PAIRED_MIN` of the time on every type.

Only synthetic data can be certified (the probe and the twins re-render clips from
the generator's plan); a 2025 ``supplemental/`` folder is not used; the numbers are a report, printed by the CLI and shown in the
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
from asdlib.data.synth.dataset import FIRST_SHOT_YEARS, Preset, model_of, plan, read_manifest, render_clip
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
LEARN_UPDATES = 800
"""Updates of the learnability embedder (batch 32, one model for every machine type)."""
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
    """Cross-validated accuracy of a linear classifier naming the section (or class) of each clip.

    :data:`PROBE_FOLDS` folds, fewer when the smallest class has fewer clips (at least 2 each)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    smallest = int(np.unique(sections, return_counts=True)[1].min())
    if smallest < 2:
        raise ValueError(f"probe_accuracy: a class has {smallest} clip; cross-validation needs 2 per class")
    folds = StratifiedKFold(min(PROBE_FOLDS, smallest), shuffle=True, random_state=seed)
    return float(cross_val_score(clf, features, sections, cv=folds).mean())


def chance_bound(n_classes: int, n: int, largest_share: float | None = None) -> tuple[float, float]:
    """Chance accuracy and the pass bound (chance + 2 standard errors) of a probe on ``n`` clips.

    Chance is ``1/S`` for ``S`` balanced classes, else the share of the largest class
    (``largest_share``: what always naming it scores)."""
    p = 1.0 / n_classes if largest_share is None else float(largest_share)
    return p, p + 2.0 * np.sqrt(p * (1 - p) / n)


def probe_classes(clips: list) -> np.ndarray:
    """The class a probe names for each training clip of one type: its section when the type
    has several, else its attribute string x domain (module doc)."""
    sections = np.array([c.section for c in clips])
    if len(np.unique(sections)) > 1:
        return sections
    keys = ["_".join(f"{k}_{v}" for k, v in c.attrs.items()) + "/" + c.domain for c in clips]
    return np.unique(keys, return_inverse=True)[1]


def _official(test: pd.DataFrame, scores: np.ndarray) -> float:
    table = section_table_2022(test.assign(score=scores))
    return float(type_summary(table)["hmean"].iloc[0])


def _paired_rate(normal: np.ndarray, faulty: np.ndarray) -> float:
    """Share of pairs whose faulty twin scores higher (ties count half)."""
    return float(np.mean((faulty > normal) + 0.5 * (faulty == normal)))


@dataclass
class Learner:
    """The learnability embedder, trained once on every machine type, and its backends."""

    model: WilkinghoffEmbedder
    history: dict

    def embed(self, waves: np.ndarray) -> np.ndarray:
        return embed(self.model, waves, device="cpu").numpy()


def train_learner(train: pd.DataFrame, waves: np.ndarray, updates: int = LEARN_UPDATES, seed: int = 0,
                  progress: bool = False, use_mixup: bool = True, n_subclusters: int = 4) -> Learner:
    """Train the small auxiliary-task embedder on the training clips of every type at once
    (as paper 003 does: classes are machine type x section x attribute string x domain)."""
    codes, names = auxiliary_classes(train)
    torch.manual_seed(seed)
    model = WilkinghoffEmbedder(WilkinghoffConfig(branches=("spectrum", "logmel"), n_samples=waves.shape[1]))
    head = SubClusterAdaCos(model.embedding_dim, len(names), n_subclusters=n_subclusters, seed=seed)
    epochs = max(1, int(np.ceil(updates * LEARN_BATCH / len(waves))))
    history = train_embedder(model, head, waves, codes, epochs=epochs, batch_size=LEARN_BATCH, device="cpu",
                             seed=seed, progress=progress, desc="learnability", use_mixup=use_mixup)
    return Learner(model, history)


def _twins(normal_clips: list, machine_type: str) -> list:
    faults = list(model_of(machine_type).faults)
    return [dataclasses.replace(c, fault=faults[i % len(faults)], severity=PAIRED_SEVERITY, label="anomaly")
            for i, c in enumerate(normal_clips)]


# ----------------------------------------------------------------------------- the checks
def check_type(root: Path, index: pd.DataFrame, clips: dict[str, object], preset: Preset, seed: int,
               machine_type: str) -> tuple[dict, dict[str, np.ndarray]]:
    """The background probe and the reference detector of one machine type.

    Returns one row of the certification table and the waveforms the learnability check
    reuses: ``train``, ``test`` (the written files) and the paired clips ``normal`` and
    ``faulty`` (rendered from the plan).
    """
    rows = index[index["machine_type"] == machine_type]
    train = rows[rows["split"] == "train"].reset_index(drop=True)
    test = rows[(rows["split"] == "test") & (rows["label"] != "unknown")].reset_index(drop=True)
    train_clips = [clips[_relpath(root, p)] for p in train["path"]]
    sections = train["section"].to_numpy()
    out: dict[str, object] = {"machine_type": machine_type}

    # 1. background probe: the halls alone, then the machines alone (a class of one clip
    #    cannot be cross-validated: it sits out, which only happens on the ci preset)
    classes = probe_classes(train_clips)
    counts = np.bincount(classes)
    probed = [c for c, k in zip(train_clips, classes) if counts[k] >= 2]
    classes = np.unique(classes[counts[classes] >= 2], return_inverse=True)[1]
    halls = _mean_log_mel(_render(probed, preset, seed, "hall"))
    machines = _mean_log_mel(_render(probed, preset, seed, "machine"))
    out["probe_hall"] = probe_accuracy(halls, classes, seed)
    out["probe_machine"] = probe_accuracy(machines, classes, seed)
    shares = np.bincount(classes) / len(classes)
    balanced = np.allclose(shares, shares[0])
    out["probe_chance"], out["probe_bound"] = chance_bound(len(shares), len(classes),
                                                           None if balanced else shares.max())
    out["probe_ok"] = bool(out["probe_hall"] <= out["probe_bound"])

    # 2. the reference detector on the written files, and on the paired clips
    waves = {"train": load_clips(train["path"], duration=preset.duration),
             "test": load_clips(test["path"], duration=preset.duration)}
    ref = PerSection(MahalanobisBackend(shrinkage="ledoit_wolf"))
    ref.fit(_mean_log_mel(waves["train"]), sections)
    ref_scores = ref.score_samples(_mean_log_mel(waves["test"]), test["section"].to_numpy())
    table = type_summary(section_table_2022(test.assign(score=ref_scores))).iloc[0]
    out.update({"reference": float(table["hmean"]), "ref_auc_source": float(table["auc_source_hmean"]),
                "ref_auc_target": float(table["auc_target_hmean"]), "ref_pauc": float(table["pauc_hmean"])})
    out["reference_ok"] = bool(CHECK_BOUNDS[0] <= out["reference"] <= CHECK_BOUNDS[1]
                               and out["ref_auc_target"] < out["ref_auc_source"])
    normal_clips = [clips[_relpath(root, p)] for p in test.loc[test["label"] == "normal", "path"]]
    waves["normal"] = _render(normal_clips, preset, seed)
    waves["faulty"] = _render(_twins(normal_clips, machine_type), preset, seed)
    secs = np.array([c.section for c in normal_clips])
    out["paired_reference"] = _paired_rate(ref.score_samples(_mean_log_mel(waves["normal"]), secs),
                                           ref.score_samples(_mean_log_mel(waves["faulty"]), secs))
    return out, waves


def learnability(learner: Learner, train: pd.DataFrame, test: pd.DataFrame, waves: dict[str, np.ndarray],
                 normal_clips: list, machine_type: str) -> dict:
    """The embedder's official score on one type (k-means cosine per section, paper 003) and
    its paired-fault rates, overall and per fault."""
    backend = PerSection(KMeansCosineBackend(n_clusters=8))
    backend.fit(learner.embed(waves["train"]), train["section"].to_numpy(), domains=train["domain"].to_numpy())
    out = {"embedder": _official(test, backend.score_samples(learner.embed(waves["test"]),
                                                              test["section"].to_numpy()))}
    secs = np.array([c.section for c in normal_clips])
    a = backend.score_samples(learner.embed(waves["normal"]), secs)
    b = backend.score_samples(learner.embed(waves["faulty"]), secs)
    out["paired_embedder"] = _paired_rate(a, b)
    fault_of = np.array([t.fault for t in _twins(normal_clips, machine_type)])
    for f in model_of(machine_type).faults:
        out[f"paired[{f}]"] = _paired_rate(a[fault_of == f], b[fault_of == f])
    out["paired_ok"] = bool(out["paired_embedder"] >= PAIRED_MIN)
    return out


def _relpath(root: Path, path: str) -> str:
    """The generator's key of an indexed clip (the index resolves folders, so the root is too)."""
    return str(Path(path).relative_to(Path(root).resolve()))


def _load_plan(root: Path, types: list[str]):
    manifest = read_manifest(root)
    preset = Preset(**{**manifest["preset"], "severity": tuple(manifest["preset"]["severity"])})
    seed, year = int(manifest["seed"]), int(manifest["year"])
    return preset, seed, {c.relpath: c for c in plan(preset, seed, types, year)}


def _index(root: Path | str, types: list[str]) -> pd.DataFrame:
    return index_dataset(root, machine_types=types, year=int(read_manifest(root)["year"]))


def _check_one(args: tuple) -> tuple[dict, dict]:
    root, mt = args
    torch.set_num_threads(1)
    preset, seed, clips = _load_plan(Path(root), [mt])
    return check_type(Path(root), _index(root, [mt]), clips, preset, seed, mt)


CERTIFICATE = "certification.json"
"""File in the data root that keeps a finished certification (reused when nothing changed)."""


def certify(root: str | Path, machine_types: list[str] | None = None, updates: int = LEARN_UPDATES,
            progress: bool = True, jobs: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Certify a generated synthetic data set of the 2022 or a one-section (2023-2025) layout.

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
    if manifest["year"] not in (2022,) + FIRST_SHOT_YEARS:
        raise ValueError(f"{root}: certification covers the 2022 and 2023-2025 layouts (domains and attributes); "
                         f"this data set is {manifest['year']}")
    types = list(machine_types or manifest["machine_types"])
    key = {"data": manifest["key"], "types": types, "updates": updates, "code": file_digest(Path(__file__))}
    cached = root / CERTIFICATE
    if cached.is_file():
        found = json.loads(cached.read_text())
        if found.get("key") == key:
            return pd.DataFrame(found["table"]).set_index("machine_type"), found["verdict"]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(types)))
    bar = progress_bar(total=len(types) + 1, desc="certify", unit="step") if progress else None
    rows, waves = {}, {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for mt, (row, w) in zip(types, pool.map(_check_one, [(str(root), mt) for mt in types])):
            rows[mt], waves[mt] = row, w
            if bar:
                bar.update(1)
    # 3. learnability: one embedder for every type, then each type's score and paired faults
    start = time.perf_counter()
    preset, seed, clips = _load_plan(root, types)
    index = _index(root, types)
    parts = {mt: index[index["machine_type"] == mt] for mt in types}
    train = {mt: p[p["split"] == "train"].reset_index(drop=True) for mt, p in parts.items()}
    test = {mt: p[(p["split"] == "test") & (p["label"] != "unknown")].reset_index(drop=True)
            for mt, p in parts.items()}
    threads = torch.get_num_threads()
    torch.set_num_threads(jobs)
    try:
        learner = train_learner(pd.concat(train.values(), ignore_index=True),
                                np.concatenate([waves[mt]["train"] for mt in types]), updates, seed)
        for mt in types:
            normal = [clips[_relpath(root, p)]
                      for p in test[mt].loc[test[mt]["label"] == "normal", "path"]]
            rows[mt].update(learnability(learner, train[mt], test[mt], waves[mt], normal, mt))
    finally:
        torch.set_num_threads(threads)
    if bar:
        bar.update(1)
        bar.close()
    rows = [rows[mt] for mt in types]
    for row in rows:
        row["final_loss"] = float(learner.history["loss"][-1])
        row["learn_seconds"] = time.perf_counter() - start
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


__all__ = ["CERTIFICATE", "PAIRED_MIN", "PAIRED_SEVERITY", "certification_report", "certify", "chance_bound", "probe_classes",
           "check_type", "learnability", "probe_accuracy", "train_learner"]
