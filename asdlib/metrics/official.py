"""What the official DCASE evaluators report beyond AUC and pAUC: decisions and the CI95.

**Decisions** (2021 on: ``dcase2021_task2_evaluator``, ``dcase2022_task2_evaluator``,
``dcase2023_task2_evaluator``, ``dcase2024_task2_evaluator``): every submitted clip
also has a 0/1 decision (``decision_result_*.csv``). Per machine type, section and
domain, over that domain's clips only (its normals *and* its anomalies), the evaluator
computes the confusion matrix of ground truth against decision and

- precision ``tp / max(tp + fp, eps)``,
- recall ``tp / max(tp + fn, eps)``,
- F1 ``2 p r / max(p + r, eps)``,

with ``eps = sys.float_info.epsilon`` (so a system that flags nothing gets 0, not an
error). :func:`decision_scores` computes them with :func:`sklearn.metrics.confusion_matrix`;
a domain without normals or without anomalies is an error naming it (the evaluator's
2 x 2 confusion matrix needs both).

**Jackknife CI95** (2023 and 2024 evaluators, the line ``official score ci95``): all
test clips of all machine types and sections are pooled; the AUC and the pAUC
(``max_fpr=0.1``) of the pooled clips are each jackknifed leaving one clip out
(Mesaros et al., IEEE/ACM TASLP 27(6), 2019, Sec. IV), and the line reports the
mean of the two 95 % half-widths. For a statistic ``theta`` of ``N`` clips and its
leave-one-out values ``theta_i`` (mean ``theta_bar``), :func:`jackknife_ci95` returns

- the jackknife estimate ``mean(N theta - (N - 1) theta_i)``,
- the half-width ``t_{0.975, N-1} * sqrt(sum (theta_i - theta_bar)^2 / (N (N - 1)))``,

the evaluators' formula as written (the textbook jackknife variance has the factor
``(N - 1) / N`` instead of ``1 / (N (N - 1))``; we report what the evaluator reports).
The interval belongs to the pooled AUC and pAUC, not to the h-mean itself; the
evaluators call it the official score's.
"""

from __future__ import annotations

import sys
from typing import Callable

import numpy as np
from scipy.stats import t as student_t
from sklearn.metrics import confusion_matrix, roc_auc_score

EPS: float = sys.float_info.epsilon
CONFIDENCE: float = 0.95


def decision_scores(y: np.ndarray, decision: np.ndarray, what: str) -> tuple[float, float, float]:
    """``(precision, recall, f1)`` of 0/1 ``decision`` against 0/1 ground truth ``y``.

    ``what`` names the clips (``"fan section 0 source"``) in the error raised when
    they hold no normal or no anomalous clip.
    """
    y = np.asarray(y, dtype=int)
    decision = np.asarray(decision, dtype=int)
    n_anom, n_norm = int(np.sum(y == 1)), int(np.sum(y == 0))
    if n_anom == 0 or n_norm == 0:
        raise ValueError(
            f"precision, recall and F1 of {what} are undefined: they need normal and anomalous "
            f"clips, got {n_norm} normal and {n_anom} anomalous"
        )
    tn, fp, fn, tp = confusion_matrix(y, decision, labels=[0, 1]).ravel()
    precision = tp / max(tp + fp, EPS)
    recall = tp / max(tp + fn, EPS)
    f1 = 2.0 * precision * recall / max(precision + recall, EPS)
    return float(precision), float(recall), float(f1)


def jackknife_ci95(fn: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, s: np.ndarray,
                   what: str = "the pooled clips") -> tuple[float, float]:
    """``(jackknife estimate, 95 % half-width)`` of ``fn(y, s)``, leaving one clip out.

    The formula is the DCASE 2023/2024 evaluators' (module doc). ``fn`` must be defined
    on every leave-one-out subset: with one anomalous (or one normal) clip an AUC is
    not, and the error says so, naming ``what``.
    """
    y = np.asarray(y)
    s = np.asarray(s, dtype=float)
    n = len(y)
    n_anom, n_norm = int(np.sum(y == 1)), int(np.sum(y == 0))
    if n_anom < 2 or n_norm < 2:
        raise ValueError(
            f"jackknife CI95 of {what} is undefined: leaving one clip out must leave normal and "
            f"anomalous clips, so it needs at least 2 of each; got {n_norm} normal and {n_anom} anomalous"
        )
    theta = fn(y, s)
    keep = np.ones(n, dtype=bool)
    loo = np.empty(n)
    for i in range(n):
        keep[i] = False
        loo[i] = fn(y[keep], s[keep])
        keep[i] = True
    estimate = float(np.mean(n * theta - (n - 1) * loo))
    sigma = float(np.sqrt(np.sum((loo - loo.mean()) ** 2) / (n * (n - 1))))
    t_crit = abs(float(student_t.ppf((1 - CONFIDENCE) / 2, n - 1)))
    return estimate, t_crit * sigma


def pooled_ci95(y: np.ndarray, s: np.ndarray, max_fpr: float) -> dict[str, float]:
    """The evaluators' jackknife of the pooled AUC and pAUC, and their ``official score ci95``.

    Keys: ``auc_pooled``, ``auc_jackknife``, ``auc_ci95``, ``pauc_pooled``,
    ``pauc_jackknife``, ``pauc_ci95``, ``official_score_ci95`` (the mean of the two
    half-widths), ``n_pooled``.
    """
    y = np.asarray(y, dtype=int)
    s = np.asarray(s, dtype=float)
    auc_jack, auc_ci = jackknife_ci95(lambda a, b: roc_auc_score(a, b), y, s, "the pooled AUC")
    pauc_jack, pauc_ci = jackknife_ci95(lambda a, b: roc_auc_score(a, b, max_fpr=max_fpr), y, s,
                                        "the pooled pAUC")
    return {
        "auc_pooled": float(roc_auc_score(y, s)),
        "auc_jackknife": auc_jack,
        "auc_ci95": auc_ci,
        "pauc_pooled": float(roc_auc_score(y, s, max_fpr=max_fpr)),
        "pauc_jackknife": pauc_jack,
        "pauc_ci95": pauc_ci,
        "official_score_ci95": float(np.mean([auc_ci, pauc_ci])),
        "n_pooled": int(len(y)),
    }
