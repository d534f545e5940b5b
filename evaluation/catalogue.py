"""Every headline score: its name, which way is good, and its range.

The summary of a run (``metrics.json`` → ``summary``) uses these keys; the CLI, the Prefect table
artifact and the report read labels and directions from here, so a score is described once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher", "lower", "near 0.5", "near 0"]


@dataclass(frozen=True)
class Score:
    label: str
    direction: Direction
    low: float
    high: float | None  # None: unbounded


SCORES: dict[str, Score] = {
    "column_shape_similarity": Score("column shapes (1 = identical)", "higher", 0, 1),
    "pair_trend_similarity": Score("pair trends (1 = identical)", "higher", 0, 1),
    "coverage": Score("coverage of categories and ranges", "higher", 0, 1),
    "detection_auc": Score("detection AUC (0.5 = indistinguishable)", "near 0.5", 0, 1),
    # patient histories (evaluation.timeseries)
    "discriminative_score": Score("discriminative score, |GRU accuracy - 0.5|", "near 0", 0, 0.5),
    "predictive_mae_synthetic": Score("next-visit MAE, GRU trained on synthetic", "lower", 0, None),
    "predictive_mae_real": Score("next-visit MAE, GRU trained on real", "lower", 0, None),
    "autocorrelation_difference": Score("lag-1..3 autocorrelation difference", "lower", 0, 2),
    "trtr_auc": Score("TRTR AUC (real -> holdout)", "higher", 0, 1),
    "tstr_auc": Score("TSTR AUC (synthetic -> holdout)", "higher", 0, 1),
    "auc_gap": Score("TRTR - TSTR", "near 0", -1, 1),
    "trtr_f1": Score("TRTR F1", "higher", 0, 1),
    "tstr_f1": Score("TSTR F1", "higher", 0, 1),
    "trtr_cindex": Score("TRTR concordance index", "higher", 0, 1),
    "tstr_cindex": Score("TSTR concordance index", "higher", 0, 1),
    "trtr_r2": Score("TRTR R2", "higher", float("-inf"), 1),
    "tstr_r2": Score("TSTR R2", "higher", float("-inf"), 1),
    "r2_gap": Score("TRTR - TSTR (R2)", "near 0", float("-inf"), None),
    "trtr_mae": Score("TRTR MAE", "lower", 0, None),
    "tstr_mae": Score("TSTR MAE", "lower", 0, None),
    "importance_rank_agreement": Score("feature-importance rank agreement", "higher", -1, 1),
    "dcr_share": Score("DCR share (0.5 = no memorisation)", "near 0.5", 0, 1),
    "dcr_share_noise": Score("DCR share: chance allowance (2 SE)", "lower", 0, 1),
    "nndr_median": Score("NNDR median (0 = sits on one patient)", "higher", 0, 1),
    "membership_auc": Score("membership attack AUC, stronger of two", "near 0.5", 0, 1),
    "membership_distance_auc": Score("membership attack AUC, distance", "near 0.5", 0, 1),
    "membership_density_auc": Score("membership attack AUC, density", "near 0.5", 0, 1),
    "attribute_inference_advantage": Score(
        "attribute attack advantage (0 = none)", "near 0", -1, 1
    ),
    "k_anonymity": Score("k-anonymity over quasi-identifiers", "higher", 1, None),
    "small_group_share": Score("rows pointing at < 5 real patients", "lower", 0, 1),
    "exact_copies": Score("exact copies of training rows", "lower", 0, None),
    "dp_epsilon": Score("differential privacy: epsilon spent", "lower", 0, None),
    "dp_delta": Score("differential privacy: delta", "lower", 0, 1),
}


def out_of_range(summary: dict[str, float]) -> list[str]:
    """Keys of ``summary`` with no catalogue entry or a value outside its range (a bug if any)."""
    bad = []
    for key, value in summary.items():
        score = SCORES.get(key)
        if score is None or value < score.low or (score.high is not None and value > score.high):
            bad.append(key)
    return bad
