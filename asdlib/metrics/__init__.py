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
  :func:`overall_summary_2020`.

One call: :func:`evaluate_scores` (a scores table) and :func:`evaluate_score_dir`
(score CSVs + ground-truth CSVs, joined by file name) return an
:class:`EvaluationResult`; :func:`scores_frame_from_index` builds a scores table from
in-memory scores and a clip index, joined by path.
"""

from asdlib.metrics.dcase import (
    DOMAIN_ONLY_COLUMNS,
    EPS,
    MAX_FPR,
    OFFICIAL_COLUMNS,
    EvaluationResult,
    aithu_type_summary,
    domain_only_summary,
    evaluate_scores,
    floored_hmean,
    official_score,
    overall_summary,
    overall_summary_2020,
    section_table_2020,
    section_table_2022,
    type_summary,
    type_summary_2020,
)
from asdlib.metrics.evaluate import (
    evaluate_score_dir,
    ground_truth_csv_name,
    read_ground_truth,
    read_two_column_csv,
    score_csv_name,
    scores_frame_from_dir,
)
from asdlib.metrics.frames import prepare_scores, scores_frame_from_index

__all__ = [
    "DOMAIN_ONLY_COLUMNS",
    "EPS",
    "MAX_FPR",
    "OFFICIAL_COLUMNS",
    "EvaluationResult",
    "aithu_type_summary",
    "domain_only_summary",
    "evaluate_score_dir",
    "evaluate_scores",
    "floored_hmean",
    "ground_truth_csv_name",
    "official_score",
    "overall_summary",
    "overall_summary_2020",
    "prepare_scores",
    "read_ground_truth",
    "read_two_column_csv",
    "score_csv_name",
    "scores_frame_from_dir",
    "scores_frame_from_index",
    "section_table_2020",
    "section_table_2022",
    "type_summary",
    "type_summary_2020",
]
