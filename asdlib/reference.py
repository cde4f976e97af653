"""The reference detector that ships with the synthetic generator, and its check.

**Mean log-mel + Mahalanobis, per section.** Each clip becomes the time average of
its DCASE log-mel spectrogram (128 numbers); for each machine type and section, the
training clips (source and target together) give a mean and a Ledoit-Wolf
shrunk covariance, and a test clip's anomaly score is its Mahalanobis distance to
them. No training, no test labels: a yardstick for how hard a data set is.

``asd synth --check`` runs it on a generated data set and prints the official
DCASE 2022 summaries per machine type (2020: mean AUC and pAUC per type); the
generator is calibrated so that on the ``demo`` preset every type lands within
:data:`CHECK_BOUNDS`, in 2022 with the target domain harder than the source.

This module sits above the metrics layer (it uses data, features, backends and
metrics), which is why it is not inside :mod:`asdlib.data.synth`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.backends import MahalanobisBackend, PerSection
from asdlib.data.layout import index_dataset
from asdlib.features import LogMelConfig, extract
from asdlib.metrics import (
    overall_summary,
    overall_summary_2020,
    section_table_2020,
    section_table_2022,
    type_summary,
    type_summary_2020,
)

REFERENCE_SYSTEM = "reference: mean log-mel + Mahalanobis"
"""The reference detector's system name in the records (the results page draws it as each chapter's yardstick)."""

CHECK_BOUNDS = (0.55, 0.80)
"""Official score every machine type must reach on the demo preset, and not exceed."""


def mean_log_mel(paths, device="cpu", cache_dir=None) -> np.ndarray:
    """(n_clips, 128) time-averaged DCASE log-mel of each clip."""
    feats = extract(list(paths), LogMelConfig(), device=device, cache_dir=cache_dir)
    return feats.mean(dim=-1).cpu().numpy().astype(np.float64)


def reference_scores(index: pd.DataFrame, device="cpu", cache_dir=None, score_train: bool = False) -> pd.DataFrame:
    """Score every test clip of ``index``; returns the test rows with a ``score`` column.

    ``score_train=True`` also returns the training rows, scored by the model fitted on
    them (what a submission's decision threshold is fitted to). Rows of other splits
    (the 2025 ``supplemental`` clips) are neither fitted nor scored.
    """
    parts = []
    for machine_type, rows in index.groupby("machine_type", sort=True):
        rows = rows[rows["split"].isin(["train", "test"])]
        x = mean_log_mel(rows["path"], device=device, cache_dir=cache_dir)
        train = (rows["split"] == "train").to_numpy()
        model = PerSection(MahalanobisBackend(shrinkage="ledoit_wolf"))
        model.fit(x[train], rows["section"].to_numpy()[train])
        keep = np.ones(len(rows), bool) if score_train else ~train
        scored = rows[keep].copy()
        scored["score"] = model.score_samples(x[keep], scored["section"].to_numpy())
        parts.append(scored)
    return pd.concat(parts)


def reference_check(root: str | Path, device="cpu", cache_dir=None,
                    bounds: tuple[float, float] = CHECK_BOUNDS) -> tuple[pd.DataFrame, dict]:
    """Run the reference detector on a data root (2022 or 2020 layout).

    Returns a table per machine type and the overall summary. 2022: the official
    score, h-means of source AUC, target AUC and pAUC, whether the bounds hold and the
    target is harder. 2020 (no domains): the mean AUC and pAUC over machine IDs, and
    whether the mean AUC is within the bounds. Only labelled test clips count (dev
    sections, and eval sections whose ground truth is present).
    """
    index = index_dataset(root)
    labelled = index[(index["split"] == "train") | (index["label"] != "unknown")]
    scores = reference_scores(labelled, device=device, cache_dir=cache_dir)
    if (index["year"] == 2020).all():
        sections = section_table_2020(scores)
        types = type_summary_2020(sections)
        table = pd.DataFrame({"AUC (mean)": types["auc_mean"], "pAUC (mean)": types["pauc_mean"],
                              "machine IDs": types["n_ids"]})
        table["in bounds"] = table["AUC (mean)"].between(*bounds)
        return table, overall_summary_2020(sections)
    sections = section_table_2022(scores)
    types = type_summary(sections)
    table = pd.DataFrame({
        "official": types["hmean"],
        "AUC source": types["auc_source_hmean"],
        "AUC target": types["auc_target_hmean"],
        "pAUC": types["pauc_hmean"],
        "sections": types["n_sections"],
    })
    table["in bounds"] = table["official"].between(*bounds)
    table["target harder"] = table["AUC target"] < table["AUC source"]
    return table, overall_summary(sections)
