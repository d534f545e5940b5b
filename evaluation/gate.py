"""The release gate: may this synthetic dataset leave the hospital?

Privacy limits always apply; fidelity and utility floors apply when set. A pure function of the
run's summary metrics, so the same verdict comes from the flow and from ``synthcare evaluate``.

The DCR share's limit is ``max_dcr_share`` or, when the summary states it (``dcr_share_noise``),
the level an honest generator reaches by chance at the run's holdout size, one half plus two
standard errors, whichever is larger. On 2,000 holdout rows the chance level is about 0.52 and
the limit stays 0.55; on 57 rows it is about 0.59, and a share of 0.58 there says nothing about
memorisation. A copying generator scores near 1 at any size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# (metric, comparison, threshold name, what a failure means)
CHECKS: list[tuple[str, str, str, str]] = [
    ("exact_copies", "<=", "max_exact_copies", "synthetic rows copy training patients"),
    (
        "dcr_share",
        "<=",
        "max_dcr_share",
        "synthetic rows sit closer to training patients than to unseen ones",
    ),
    (
        "membership_auc",
        "<=",
        "max_membership_auc",
        "an attacker can tell who was in the training data",
    ),
    (
        "detection_auc",
        "<=",
        "max_detection_auc",
        "synthetic rows are too easy to tell from real ones",
    ),
    (
        "discriminative_score",
        "<=",
        "max_discriminative_score",
        "synthetic patient histories are too easy to tell from real ones",
    ),
    ("column_shape_similarity", ">=", "min_column_shapes", "column distributions differ too much"),
    (
        "tstr_ratio",
        ">=",
        "min_tstr_ratio",
        "models trained on synthetic data predict too poorly",
    ),
]


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)


def tstr_ratio(summary: Mapping[str, Any]) -> float | None:
    """TSTR / TRTR on the target: AUC for a class, R² for a number (when the real model explains
    anything), else the C-index; None without a target."""
    for metric in ("auc", "r2", "cindex"):
        real, synth = summary.get(f"trtr_{metric}"), summary.get(f"tstr_{metric}")
        if real is not None and synth is not None and real > 0:
            return synth / real
    return None


def dcr_share_limit(summary: Mapping[str, Any], limit: float) -> float:
    """``limit``, or one half plus ``dcr_share_noise`` (two standard errors of the share when
    training and holdout rows are exchangeable) when that is more; rounded up to 4 decimals."""
    noise = summary.get("dcr_share_noise")
    if noise is None:
        return limit
    return max(float(limit), math.ceil((0.5 + float(noise)) * 1e4) / 1e4)


def has_target(summary: Mapping[str, Any]) -> bool:
    return any(str(k).startswith("trtr_") for k in summary)


def decide(summary: Mapping[str, Any], thresholds: Mapping[str, float | None]) -> GateDecision:
    """Compare each metric with its threshold (None: not checked; a missing metric fails). The
    utility floor applies to runs with a target: a table without one has nothing to predict."""
    values = dict(summary)
    values["tstr_ratio"] = tstr_ratio(values)
    decision = GateDecision(passed=True)
    for metric, op, name, meaning in CHECKS:
        limit = thresholds.get(name)
        if limit is None or (metric == "tstr_ratio" and not has_target(values)):
            continue
        if metric == "dcr_share":
            limit = dcr_share_limit(values, limit)
        value = values.get(metric)
        ok = value is not None and (value <= limit if op == "<=" else value >= limit)
        decision.checks.append(
            {"metric": metric, "value": value, "rule": f"{op} {limit}", "passed": ok}
        )
        if not ok:
            decision.passed = False
            shown = "not measured" if value is None else f"{value:.4g}"
            decision.reasons.append(f"{metric} = {shown}, must be {op} {limit}: {meaning}")
    return decision
