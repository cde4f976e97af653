"""DCASE Task 2 metrics, as the official evaluators compute them, plus labelled variants.

Input: a **scores table** (DataFrame, one row per test clip) with ``machine_type``,
``section`` (int; the machine ID for 2020), ``domain`` (``source``/``target``, 2022+),
``label`` (``normal``/``anomaly`` or 0/1), ``score`` (higher = more anomalous) and
usually ``file``; see :mod:`asdlib.metrics.frames`.

Per-section tables (one row per machine type and section):

- 2022/2023 (:func:`section_table_2022`): ``auc_source`` (source normals + all
  anomalies of both domains), ``auc_target`` (target normals + all anomalies),
  ``pauc`` (all clips, ``max_fpr=0.1``, McClish-standardised), ``auc_all`` (all
  clips); with ``domain_only=True`` also ``auc_source_domain_only``,
  ``auc_target_domain_only``, ``pauc_source_domain_only``,
  ``pauc_target_domain_only`` (one domain's normals and anomalies; a labelled
  variant from Wilkinghoff's code); clip counts ``n_<domain>_<label>``.
- 2020 (:func:`section_table_2020`): ``auc``, ``pauc``, ``n_normal``, ``n_anomaly``.
- 2021 (:func:`section_table_2021`): one row per section *and domain*, ``auc`` and
  ``pauc`` over that domain's clips; the official score (:func:`official_score_2021`)
  is the h-mean of all of them.
- With a ``decision`` column (0/1), 2021 on: precision, recall and F1 per domain
  (:mod:`asdlib.metrics.official`); 2023 on, ``overall`` adds the evaluators'
  jackknife ``official_score_ci95``.

Summaries:

- :func:`official_score`: h-mean of every AUC(source), AUC(target), pAUC (floored at
  machine epsilon), the DCASE 2022/2023 ranking score;
- :func:`type_summary` / :func:`overall_summary`: ``hmean`` (official-style),
  ``amean``, ``auc_hmean``, ``auc_amean``, ``auc_source_hmean``, ``auc_source_amean``,
  ``auc_target_hmean``, ``auc_target_amean``, ``pauc_hmean``, ``pauc_amean``,
  ``n_sections`` (overall adds ``official_score``, ``n_machine_types``);
- :func:`aithu_type_summary`: AITHU's per-type h-mean (paper 000, Sec. 2), variant;
- :func:`domain_only_summary`: Wilkinghoff's source/target/mixed h-means, variant;
- :func:`type_summary_2020` (``auc_mean``, ``pauc_mean``, ``n_ids``) and
  :func:`overall_summary_2020`;
- :func:`type_scores`: any year's per-type ``auc``, ``pauc`` and ``score`` (2020: the
  means over machine IDs, ``score`` the mean AUC; 2021 on: the h-means, ``score`` the
  official per-type h-mean), named by :func:`type_score_labels`.

One call: :func:`evaluate_scores` (a scores table) and :func:`evaluate_score_dir`
(score and decision CSVs + ground-truth CSVs, joined by file name) return an
:class:`EvaluationResult`; :mod:`asdlib.submission` writes those CSVs for any system; :func:`scores_frame_from_index` builds a scores table from
in-memory scores and a clip index, joined by path.
"""

from asdlib.metrics.dcase import (
    CI95_FROM_YEAR,
    DECISION_COLUMNS,
    DOMAIN_ONLY_COLUMNS,
    EPS,
    MAX_FPR,
    OFFICIAL_COLUMNS,
    TYPE_SCORE_KEYS,
    EvaluationResult,
    aithu_type_summary,
    domain_only_summary,
    evaluate_scores,
    floored_hmean,
    official_score,
    official_score_2021,
    overall_summary,
    overall_summary_2020,
    overall_summary_2021,
    section_table_2020,
    section_table_2021,
    section_table_2022,
    type_score_key,
    type_score_labels,
    type_scores,
    type_summary,
    type_summary_2020,
    type_summary_2021,
)
from asdlib.metrics.evaluate import (
    decision_csv_name,
    evaluate_score_dir,
    ground_truth_csv_name,
    read_ground_truth,
    read_two_column_csv,
    score_csv_name,
    scores_frame_from_dir,
)
from asdlib.metrics.frames import prepare_scores, scores_frame_from_index
from asdlib.metrics.official import decision_scores, jackknife_ci95, pooled_ci95

__all__ = [
    "CI95_FROM_YEAR",
    "DECISION_COLUMNS",
    "DOMAIN_ONLY_COLUMNS",
    "EPS",
    "MAX_FPR",
    "OFFICIAL_COLUMNS",
    "TYPE_SCORE_KEYS",
    "EvaluationResult",
    "aithu_type_summary",
    "decision_csv_name",
    "decision_scores",
    "domain_only_summary",
    "evaluate_score_dir",
    "evaluate_scores",
    "floored_hmean",
    "ground_truth_csv_name",
    "jackknife_ci95",
    "official_score",
    "official_score_2021",
    "overall_summary",
    "overall_summary_2020",
    "overall_summary_2021",
    "pooled_ci95",
    "prepare_scores",
    "read_ground_truth",
    "read_two_column_csv",
    "score_csv_name",
    "scores_frame_from_dir",
    "scores_frame_from_index",
    "section_table_2020",
    "section_table_2021",
    "section_table_2022",
    "type_score_key",
    "type_score_labels",
    "type_scores",
    "type_summary",
    "type_summary_2020",
    "type_summary_2021",
]
