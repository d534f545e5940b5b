"""Generator ``auto``: train candidates, score each on a validation split, keep the best.

The training split is cut once more (``VALIDATION_FRACTION``, stratified like the first split):
candidates learn the fit part and are scored against the validation part, so the holdout that
scores the final run never takes part in the choice. The chosen candidate is then trained again,
same settings and seed, on the whole training split.

The rule (also in the README):

1. **Privacy is a hard constraint.** A candidate passes when its synthetic rows hold no exact copy
   of a fit row, its DCR share (rows closer to a fit row than to a validation row) is at most the
   gate's ``max_dcr_share`` and its membership-inference AUC (fit rows as members, validation
   rows as non-members) is at most the gate's ``max_membership_auc`` plus the sampling noise of
   an AUC at chance for these sizes (two standard errors, Hanley & McNeil 1982, with the density
   attack's half of the validation rows as non-members). On a 400-row table that noise is about
   0.1: without the allowance every candidate, the copula included, failed on noise alone. The
   release gate still holds the plain limit on the holdout.
2. **Quality** = the mean of fidelity and utility:
   fidelity = mean(column shapes, pair trends, detection score), the detection score being
   ``min(1, 2 * (1 - detection AUC))`` (1 when a classifier cannot tell real from synthetic);
   utility = ``min(1, TSTR / TRTR)`` on the target (the first of AUC, R², C-index that exists);
   without a target, quality is fidelity alone.
3. The passing candidate of highest quality is chosen. When none passes, the one with the lowest
   membership AUC is trained, and the release gate then decides with the holdout (it will
   reject the run if the risk is real).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from pydantic import BaseModel

from evaluation.privacy import ATTACK_ROWS
from generators import registry
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.config import RunConfig
from tasks.evaluate import score
from tasks.split import split_frame

AUTO = "auto"
FAMILIES = ("ctgan", "tvae", "tabddpm", "gaussian_copula")
VALIDATION_FRACTION = 0.2
CANDIDATE_ROWS = 10_000  # synthetic rows scored per candidate (at most)


class Candidate(BaseModel):
    name: str  # generator-s<seed>
    generator: str
    settings: dict[str, Any]
    seed: int


class CandidateScore(BaseModel):
    candidate: Candidate
    fit_seconds: float
    scores: dict[str, float | int | None]
    fidelity: float
    utility: float | None
    quality: float
    private: bool  # passes the privacy constraint
    reasons: list[str]  # why not, when it does not
    membership_limit: float | None = None  # the gate's limit plus the noise allowance


class Selection(BaseModel):
    chosen: Candidate
    reason: str
    candidates: list[CandidateScore]


class ValidationSplit(BaseModel):
    fit_url: str
    validation_url: str
    fit_rows: int
    validation_rows: int


def candidates(config: RunConfig) -> list[Candidate]:
    """Every family (``config.auto_families``, default all) with each of ``config.auto_seeds`` seeds; ``--epochs`` applies to the
    families that train in epochs."""
    out = []
    for family in config.auto_families or FAMILIES:
        settings: dict[str, Any] = {}
        if config.epochs is not None and "epochs" in registry.get(family).config_class.model_fields:
            settings["epochs"] = config.epochs
        for k in range(config.auto_seeds):
            seed = config.seed + k
            out.append(
                Candidate(name=f"{family}-s{seed}", generator=family, settings=settings, seed=seed)
            )
    return out


@task(name="validation-split", **TASK_OPTIONS)
def validation_split(run_url: str, train_url: str, spec: DatasetSpec, seed: int) -> ValidationSplit:
    train = storage.read_parquet(train_url)
    fit, validation, _ = split_frame(train, spec, VALIDATION_FRACTION, seed)
    return ValidationSplit(
        fit_url=storage.write_parquet(storage.join(run_url, "auto/fit.parquet"), fit),
        validation_url=storage.write_parquet(
            storage.join(run_url, "auto/validation.parquet"), validation
        ),
        fit_rows=len(fit),
        validation_rows=len(validation),
    )


def quality(summary: dict[str, Any]) -> tuple[float, float | None, float]:
    """(fidelity, utility or None, quality) from a score summary, as the module doc says."""
    detection = summary.get("detection_auc")
    parts = [summary.get("column_shape_similarity"), summary.get("pair_trend_similarity")]
    parts.append(None if detection is None else min(1.0, 2.0 * (1.0 - detection)))
    present = [p for p in parts if p is not None]
    fidelity = float(np.mean(present)) if present else 0.0
    utility = None
    for metric in ("auc", "r2", "cindex"):  # the first the target has
        real, synth = summary.get(f"trtr_{metric}"), summary.get(f"tstr_{metric}")
        if real is not None and synth is not None and real > 0:
            utility = float(max(0.0, min(1.0, synth / real)))
            break
    overall = fidelity if utility is None else (fidelity + utility) / 2
    return fidelity, utility, float(overall)


def chance_auc_noise(members: int, non_members: int) -> float:
    """Two standard errors of an AUC of 0.5 (Hanley & McNeil, 1982)."""
    m, n = max(members, 1), max(non_members, 1)
    return 2.0 * math.sqrt((m + n + 1) / (12.0 * m * n))


def privacy_reasons(
    summary: dict[str, Any], gate: dict[str, Any], allowance: float = 0.0
) -> list[str]:
    reasons = []
    copies = summary.get("exact_copies")
    if copies is None or copies > 0:
        reasons.append(f"exact copies {copies}")
    dcr, mia = summary.get("dcr_share"), summary.get("membership_auc")
    if dcr is None or dcr > gate["max_dcr_share"]:
        reasons.append(f"DCR share {_fmt(dcr)} > {gate['max_dcr_share']}")
    limit = gate["max_membership_auc"] + allowance
    if mia is None or mia > limit:
        reasons.append(f"membership AUC {_fmt(mia)} > {limit:.3g}")
    return reasons


def _fmt(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.3f}"


KEPT_SCORES = (
    "column_shape_similarity",
    "pair_trend_similarity",
    "detection_auc",
    "tstr_auc",
    "trtr_auc",
    "tstr_r2",
    "trtr_r2",
    "tstr_cindex",
    "trtr_cindex",
    "dcr_share",
    "membership_auc",
    "exact_copies",
)


@task(name="score-candidate", **TASK_OPTIONS)
def score_candidate(
    candidate: Candidate,
    model_url: str,
    fit_seconds: float,
    halves: ValidationSplit,
    spec: DatasetSpec,
    gate: dict[str, Any],
) -> CandidateScore:
    from tasks.sample import load_model

    fit = storage.read_parquet(halves.fit_url)
    validation = storage.read_parquet(halves.validation_url)
    model = load_model(model_url)
    synth = model.sample(min(len(fit), CANDIDATE_ROWS), seed=candidate.seed + 1)
    try:
        summary = score(fit, validation, synth, spec, seed=candidate.seed)["summary"]
    except ValueError as exc:  # e.g. a single outcome class: useless for prediction
        get_run_logger().info("candidate %s: not scored: %s", candidate.name, exc)
        return CandidateScore(
            candidate=candidate,
            fit_seconds=round(fit_seconds, 3),
            scores={},
            fidelity=0.0,
            utility=None,
            quality=0.0,
            private=False,
            reasons=[f"not scored: {exc}"],
        )
    fidelity, utility, overall = quality(summary)
    allowance = chance_auc_noise(min(len(fit), ATTACK_ROWS), len(validation) // 2)
    reasons = privacy_reasons(summary, gate, allowance)
    result = CandidateScore(
        candidate=candidate,
        fit_seconds=round(fit_seconds, 3),
        scores={k: summary.get(k) for k in KEPT_SCORES if k in summary},
        fidelity=round(fidelity, 4),
        utility=None if utility is None else round(utility, 4),
        quality=round(overall, 4),
        private=not reasons,
        reasons=reasons,
        membership_limit=round(gate["max_membership_auc"] + allowance, 4),
    )
    get_run_logger().info(
        "candidate %s: quality %.3f (fidelity %.3f, utility %s), privacy %s",
        candidate.name,
        overall,
        fidelity,
        "n/a" if utility is None else f"{utility:.3f}",
        "ok" if not reasons else "; ".join(reasons),
    )
    return result


def choose(scored: list[CandidateScore]) -> Selection:
    """The rule of the module doc; ties go to the earlier candidate (family order, then seed)."""
    if not scored:
        raise ValueError("no candidates to choose from")
    passing = [s for s in scored if s.private]
    if passing:
        best = max(passing, key=lambda s: s.quality)  # max keeps the first of equals
        reason = (
            f"highest quality {best.quality:.3f} among the {len(passing)} of {len(scored)} "
            "candidates that pass the privacy constraint"
        )
    else:
        best = min(scored, key=lambda s: s.scores.get("membership_auc") or 1.0)
        reason = (
            "no candidate passes the privacy constraint; the one with the lowest membership "
            "AUC is kept and the release gate decides"
        )
    return Selection(chosen=best.candidate, reason=reason, candidates=scored)


@task(name="choose", **TASK_OPTIONS)
def record_choice(run_url: str, scored: list[CandidateScore]) -> Selection:
    selection = choose(scored)
    storage.write_json(run_path(run_url, "selection"), selection.model_dump(mode="json"))
    get_run_logger().info("auto chose %s: %s", selection.chosen.name, selection.reason)
    return selection
