"""Generator ``auto``: train candidates, score each on a validation split, keep the best.

The training split is cut once more (``VALIDATION_FRACTION``, at least ``MIN_VALIDATION_ROWS``
rows, stratified like the first split):
candidates learn the fit part and are scored against the validation part, so the holdout that
scores the final run never takes part in the choice. The chosen candidate is then trained again,
same settings and seed, on the whole training split.

**Folds on small tables.** Below ``FOLD_ROWS`` (400) training rows one validation split is too
small to rank the families: on birthwt (27 validation rows) one fold's quality ranged from 0.76
to 0.95 for cart, and the split's winner (CTGAN, seed 1) kept 0.59 x TRTR on the holdout. There
each candidate is trained and scored on up to ``auto_folds`` (default ``FOLDS``, 5) stratified
folds of the training split, at least ``MIN_VALIDATION_ROWS`` rows each and only as many as the
time budget holds (``fold_count``); its scores and quality are the means over its folds, and the
privacy constraint below holds on those means (``pooled``). From 400 rows on, or with
``auto_folds`` 1, the single split stands.

The rule (also in the README):

1. **Privacy is a hard constraint.** A candidate passes when its synthetic rows hold no exact copy
   of a fit row, its DCR share (rows closer to a fit row than to a validation row) is at most the
   gate's DCR limit (``max_dcr_share``, or the chance level at these sizes when that is more, as
   the release gate holds it: ``evaluation.gate``) and its membership-inference AUC (fit rows as members, validation
   rows as non-members) is at most the gate's ``max_membership_auc`` plus the sampling noise of
   an AUC at chance for these sizes (two standard errors, Hanley & McNeil 1982, with the density
   attack's half of the validation rows as non-members). On a 400-row table that noise is about
   0.1: without the allowance every candidate, the copula included, failed on noise alone. The
   release gate still holds the plain membership limit on the holdout. With the DCR share held
   at the plain 0.55 on a 27-row validation split, the copula failed at 0.62 and five of six
   candidates on birthwt (and on transplant) were dropped for noise, leaving CTGAN, the worst.
2. **Quality** = the mean of fidelity and utility:
   fidelity = mean(column shapes, pair trends, detection score), the detection score being
   ``min(1, 2 * (1 - detection AUC))`` (1 when a classifier cannot tell real from synthetic);
   utility = ``min(1, TSTR / TRTR)`` on the target (the first of AUC, R², C-index that exists);
   without a target, quality is fidelity alone.
3. The passing candidate of highest quality is chosen. When none passes, the one with the lowest
   membership AUC is trained, and the release gate then decides with the holdout (it will
   reject the run if the risk is real). (Preferring the cheapest family within one standard
   error of the best, 0.5 / sqrt(validation rows), was tried on the quality suite: it lifted the
   worst table, birthwt, from 0.78 to 0.87 x TRTR but lowered the median from 0.938 to 0.927 and
   raised the median detection AUC from 0.59 to 0.63, so it is not the rule;
   ``benchmarks/README.md``.)

**Time budget** (``time_budget``, seconds): the families are tried cheapest first (``cart``, the
copula, then the neural ones), and a family that trains in epochs joins only while its estimated
cost fits what is left of the budget. The estimate is rows x epochs x the family's measured
seconds per row-epoch on a 2-core CPU (``COST_PER_ROW_EPOCH``, on flchain's encoded width of
``REFERENCE_WIDTH``) x how many times wider the table encodes (``estimated_width``: one-hot
categories, up to ``MAX_MODES`` modes per number), for the candidate's fit and the chosen
model's retraining on the whole split. A network's first and last layers grow with the width:
on the 170-column opt table (encoded width about 9,400, 95 x flchain's) CTGAN's measured
seconds per row-epoch were 209 x flchain's, TabDDPM's 29 x, so a linear factor is about right
for CTGAN and cautious for TabDDPM. The estimate depends on the data only, so the same data and
settings always try the same candidates, whatever the machine's load. ``forestflow`` has no
epochs: its estimate counts its regressors (levels x flow variables x outcome classes, from the
spec) x trees x a measured cost per tree and data cell (``generators.forestflow.estimated_seconds``);
without a spec its cost is unknown and it is skipped. Skipped families are listed with their
estimate in the selection.

Adding ``forestflow`` to the default families (after the copula, before the networks) lifted
the quality suite's median TSTR/TRTR from 0.916 to 0.971 and lowered its median detection AUC
from 0.640 to 0.596, with the worst table's DCR share (mean over seeds) at 0.550 (0.568 before);
``benchmarks/README.md``, "auto with forestflow".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from pydantic import BaseModel

from evaluation.gate import dcr_share_limit, tstr_ratio
from evaluation.privacy import ATTACK_ROWS
from generators import registry
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.config import DEFAULT_TIME_BUDGET, GateConfig, RunConfig
from tasks.evaluate import score
from tasks.split import split_frame

AUTO = "auto"
# cheapest first: the budget admits families in this order
FAMILIES = ("cart", "gaussian_copula", "forestflow", "tvae", "tabddpm", "ctgan")
VALIDATION_FRACTION = 0.2
# the density attack scores half the validation rows against the other half: at least 10 each
MIN_VALIDATION_ROWS = 20
CANDIDATE_ROWS = 10_000  # synthetic rows scored per candidate (at most)
# Below FOLD_ROWS training rows the validation score is averaged over up to FOLDS folds (where
# the time budget allows): a 27-row validation split orders the families by chance.
FOLDS = 5
FOLD_ROWS = 400  # measured on the suite tables below it (benchmarks/README.md)
RETRAIN = 1 + 1 / (1 - VALIDATION_FRACTION)  # a candidate's fit and the chosen one's retraining
# Seconds per training row per epoch on the 2-core CI machine at default settings (flchain's
# 5,039 fit rows, 300 epochs: ctgan 60.7 s, tvae 20.9 s, tabddpm 39.5 s; benchmarks/README.md,
# "auto"). Families without epochs fit in seconds and are always tried.
COST_PER_ROW_EPOCH = {"ctgan": 4.0e-5, "tvae": 1.4e-5, "tabddpm": 2.6e-5}
REFERENCE_WIDTH = 99  # flchain's encoded width, where COST_PER_ROW_EPOCH was measured


def validation_fraction(train_rows: int) -> float:
    """``VALIDATION_FRACTION`` of the training split, or ``MIN_VALIDATION_ROWS`` when that is
    more (below about 100 training rows): with fewer, no candidate could be scored for privacy
    and the choice would fall to the first family unscored."""
    return max(VALIDATION_FRACTION, MIN_VALIDATION_ROWS / max(train_rows, 1))


def estimated_width(spec: DatasetSpec) -> int:
    """The encoded width of a table from its spec alone (before any fit): a category per value
    (and missing), a number as one offset, up to ``MAX_MODES`` modes and a missing flag."""
    from generators.transforms import MAX_MODES

    width = 0
    for col in spec.columns:
        if col.name in spec.id_columns:
            continue
        if col.is_discrete:
            width += len(col.values or []) + int(col.nullable)
        else:
            width += 1 + MAX_MODES + 2 * int(col.nullable)
    return max(width, 1)


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
    dcr_limit: float | None = None  # the gate's limit or the chance level, the larger

    fold_quality: list[float] = []  # each fold's quality, when scored on folds


class Selection(BaseModel):
    chosen: Candidate
    reason: str
    candidates: list[CandidateScore]
    skipped: list[str] = []  # families the time budget left out, with their estimate
    folds: int = 1  # validation folds each candidate was scored on


class ValidationSplit(BaseModel):
    fit_url: str
    validation_url: str
    fit_rows: int
    validation_rows: int


def estimated_seconds(
    family: str,
    settings: dict[str, Any],
    fit_rows: int,
    width: int = REFERENCE_WIDTH,
    spec: DatasetSpec | None = None,
) -> float:
    """Training seconds a candidate costs on the 2-core CPU: its fit on ``fit_rows`` of encoded
    ``width`` and, if chosen, the retraining on the whole training split. ``forestflow`` has its
    own estimate from the ``spec`` (its regressors per variable and class); 0 for the other
    families without epochs."""
    retrain = RETRAIN
    if family == "forestflow" and spec is not None:
        from generators.forestflow import estimated_seconds as forestflow_seconds

        return forestflow_seconds(spec, fit_rows, settings) * retrain
    rate = COST_PER_ROW_EPOCH.get(family)
    if rate is None:
        return 0.0
    epochs = (
        settings.get("epochs") or registry.get(family).config_class.model_fields["epochs"].default
    )
    wider = max(1.0, width / REFERENCE_WIDTH)
    return rate * epochs * fit_rows * wider * retrain


def plan(
    families: list[str] | tuple[str, ...],
    *,
    seed: int,
    seeds: int = 1,
    epochs: int | None = None,
    fit_rows: int = 0,
    width: int = REFERENCE_WIDTH,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
    spec: DatasetSpec | None = None,
) -> tuple[list[Candidate], list[str]]:
    """(candidates, skipped): every family with ``seeds`` seeds, in the given order, while the
    estimated training time (``fit_rows`` of encoded ``width``) fits ``time_budget`` (None: no
    budget); ``epochs`` applies to the families that train in epochs."""
    out, skipped, spent = [], [], 0.0
    for family in families:
        settings: dict[str, Any] = {}
        if epochs is not None and "epochs" in registry.get(family).config_class.model_fields:
            settings["epochs"] = epochs
        if family == "forestflow" and spec is None:
            skipped.append("forestflow: no spec to estimate its regressors from")
            continue
        cost = estimated_seconds(family, settings, fit_rows, width, spec) * seeds
        if time_budget is not None and cost > 0 and spent + cost > time_budget:
            wide = f" of encoded width {width}" if width > REFERENCE_WIDTH else ""
            skipped.append(
                f"{family}: estimated {cost:.0f} s for {fit_rows} rows{wide}, "
                f"{max(time_budget - spent, 0):.0f} s of the {time_budget:.0f} s budget left"
            )
            continue
        spent += cost
        for k in range(seeds):
            out.append(
                Candidate(
                    name=f"{family}-s{seed + k}", generator=family, settings=settings, seed=seed + k
                )
            )
    if not out:
        raise ValueError(
            f"generator auto: no family fits the time budget of {time_budget} s "
            f"({'; '.join(skipped)}); raise --time-budget or name a generator"
        )
    return out, skipped


def candidates(
    config: RunConfig,
    fit_rows: int = 0,
    width: int = REFERENCE_WIDTH,
    spec: DatasetSpec | None = None,
) -> tuple[list[Candidate], list[str]]:
    """The run's candidates (``config.auto_families``, default all, cheapest first) within its
    time budget, and the families skipped for it."""
    return plan(
        config.auto_families or FAMILIES,
        seed=config.seed,
        seeds=config.auto_seeds,
        epochs=config.epochs,
        fit_rows=fit_rows,
        width=width,
        time_budget=config.time_budget,
        spec=spec,
    )


def planning_rows(train_rows: int) -> int:
    """The fit rows the budget plan counts: the training split less its validation part."""
    return train_rows - math.ceil(train_rows * validation_fraction(train_rows))


def fold_count(
    train_rows: int,
    chosen_from: list[Candidate],
    *,
    folds: int = FOLDS,
    width: int = REFERENCE_WIDTH,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
    spec: DatasetSpec | None = None,
) -> int:
    """How many folds the candidates are scored on: 1 (one validation split) from ``FOLD_ROWS``
    training rows on, else up to ``folds``, at least ``MIN_VALIDATION_ROWS`` rows in each, and
    only as many as the time budget holds: k fits of every candidate plus the chosen one's
    retraining (the plan admitted one fit and the retraining)."""
    if folds < 2 or train_rows >= FOLD_ROWS:
        return 1
    k = min(folds, train_rows // MIN_VALIDATION_ROWS)
    fit_rows = planning_rows(train_rows)
    one_fit = sum(
        estimated_seconds(c.generator, c.settings, fit_rows, width, spec) / RETRAIN
        for c in chosen_from
    )
    if time_budget is not None and one_fit > 0:
        k = min(k, math.floor(time_budget / one_fit - (RETRAIN - 1)))
    return k if k >= 2 else 1


def fold_frames(
    train: pd.DataFrame, spec: DatasetSpec, folds: int, seed: int
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(fit, validation) pairs: with one fold the validation split (``validation_fraction``,
    stratified like the first split); with more, ``folds`` folds of the training split (stratified
    on a discrete target whose every class can fill them), each validating once."""
    if folds == 1:
        fit, validation, _ = split_frame(train, spec, validation_fraction(len(train)), seed)
        return [(fit, validation)]
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = np.zeros(len(train))
    splitter: KFold | StratifiedKFold = KFold(folds, shuffle=True, random_state=seed)
    if spec.target and spec.column(spec.target).is_discrete:
        classes = train[spec.target].astype(str)
        if classes.value_counts().min() >= folds:
            labels = classes.to_numpy()
            splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return [
        (train.iloc[fit].reset_index(drop=True), train.iloc[held].reset_index(drop=True))
        for fit, held in splitter.split(train, labels)
    ]


def pooled(folds: list[CandidateScore]) -> CandidateScore:
    """One candidate's scores over its folds: the mean of each score and of the quality (a fold
    that could not be scored counts as 0, its scores are left out); the privacy constraint then
    holds on the means: no exact copy on any fold, the mean DCR share and membership AUC within
    the folds' mean limits.
    (Private on most folds instead: on the quality suite's small tables one run fewer released,
    ``benchmarks/README.md``.)"""
    if len(folds) == 1:
        return folds[0]
    if not any(f.scores for f in folds):  # no fold could be scored: say why, once
        first = folds[0]
        return first.model_copy(
            update={
                "fit_seconds": round(sum(f.fit_seconds for f in folds), 3),
                "reasons": [f"{first.reasons[0]} (on all {len(folds)} folds)"],
                "fold_quality": [f.quality for f in folds],
            }
        )

    def mean(values: list[float | int | None]) -> float | None:
        present = [v for v in values if v is not None]
        return float(np.mean(present)) if present else None

    keys = dict.fromkeys(k for f in folds for k in f.scores)
    scores = {
        k: sum(f.scores.get(k) or 0 for f in folds)
        if k == "exact_copies"
        else mean([f.scores.get(k) for f in folds])
        for k in keys
    }
    dcr_cap = mean([f.dcr_limit for f in folds])
    mia_cap = mean([f.membership_limit for f in folds])
    reasons = []
    if scores.get("exact_copies"):
        reasons.append(f"exact copies {scores['exact_copies']}")
    dcr, mia = scores.get("dcr_share"), scores.get("membership_auc")
    if dcr is None or dcr_cap is None or dcr > dcr_cap:
        reasons.append(f"mean DCR share {_fmt(dcr)} > {_fmt(dcr_cap)}")
    if mia is None or mia_cap is None or mia > mia_cap:
        reasons.append(f"mean membership AUC {_fmt(mia)} > {_fmt(mia_cap)}")
    utility = mean([f.utility for f in folds])
    return CandidateScore(
        candidate=folds[0].candidate,
        fit_seconds=round(sum(f.fit_seconds for f in folds), 3),
        scores=scores,
        fidelity=round(float(np.mean([f.fidelity for f in folds])), 4),
        utility=None if utility is None else round(utility, 4),
        quality=round(float(np.mean([f.quality for f in folds])), 4),
        private=not reasons,
        reasons=reasons,
        membership_limit=None if mia_cap is None else round(mia_cap, 4),
        dcr_limit=None if dcr_cap is None else round(dcr_cap, 4),
        fold_quality=[f.quality for f in folds],
    )


@task(name="validation-split", **TASK_OPTIONS)
def validation_split(
    run_url: str, train_url: str, spec: DatasetSpec, seed: int, folds: int = 1
) -> list[ValidationSplit]:
    """The fit and validation parts each candidate is trained and scored on: one split
    (``auto/fit.parquet``, ``auto/validation.parquet``) or ``folds`` (``auto/fold-<k>/``)."""
    train = storage.read_parquet(train_url)
    out = []
    for k, (fit, validation) in enumerate(fold_frames(train, spec, folds, seed), 1):
        folder = "auto" if folds == 1 else f"auto/fold-{k}"
        out.append(
            ValidationSplit(
                fit_url=storage.write_parquet(storage.join(run_url, folder, "fit.parquet"), fit),
                validation_url=storage.write_parquet(
                    storage.join(run_url, folder, "validation.parquet"), validation
                ),
                fit_rows=len(fit),
                validation_rows=len(validation),
            )
        )
    return out


def quality(summary: dict[str, Any]) -> tuple[float, float | None, float]:
    """(fidelity, utility or None, quality) from a score summary, as the module doc says."""
    detection = summary.get("detection_auc")
    parts = [summary.get("column_shape_similarity"), summary.get("pair_trend_similarity")]
    parts.append(None if detection is None else min(1.0, 2.0 * (1.0 - detection)))
    present = [p for p in parts if p is not None]
    fidelity = float(np.mean(present)) if present else 0.0
    ratio = tstr_ratio(summary)  # the first of AUC, R², C-index the target has
    utility = None if ratio is None else float(max(0.0, min(1.0, ratio)))
    overall = fidelity if utility is None else (fidelity + utility) / 2
    return fidelity, utility, float(overall)


def chance_auc_noise(members: int, non_members: int) -> float:
    """Two standard errors of an AUC of 0.5 (Hanley & McNeil, 1982)."""
    m, n = max(members, 1), max(non_members, 1)
    return 2.0 * math.sqrt((m + n + 1) / (12.0 * m * n))


def dcr_limit(summary: dict[str, Any], gate: dict[str, Any]) -> float:
    """The gate's DCR share limit, or what an honest generator reaches by chance on these
    reference sizes (one half plus two standard errors, ``dcr_share_noise``) when that is more:
    the release gate's own rule (``evaluation.gate.dcr_share_limit``), on the validation rows."""
    return dcr_share_limit(summary, float(gate["max_dcr_share"]))


def privacy_reasons(
    summary: dict[str, Any], gate: dict[str, Any], allowance: float = 0.0
) -> list[str]:
    reasons = []
    copies = summary.get("exact_copies")
    if copies is None or copies > 0:
        reasons.append(f"exact copies {copies}")
    dcr, mia = summary.get("dcr_share"), summary.get("membership_auc")
    dcr_cap = dcr_limit(summary, gate)
    if dcr is None or dcr > dcr_cap:
        reasons.append(f"DCR share {_fmt(dcr)} > {dcr_cap:.3g}")
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
    "dcr_share_noise",
    "membership_auc",
    "exact_copies",
)


def judge(
    candidate: Candidate,
    fit_seconds: float,
    fit: pd.DataFrame,
    validation: pd.DataFrame,
    synth: pd.DataFrame,
    spec: DatasetSpec,
    gate: dict[str, Any],
) -> CandidateScore:
    """A candidate's scores on the validation split, its quality and privacy verdict."""
    try:
        summary = score(fit, validation, synth, spec, seed=candidate.seed)["summary"]
    except ValueError as exc:  # e.g. a single outcome class: useless for prediction
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
    return CandidateScore(
        candidate=candidate,
        fit_seconds=round(fit_seconds, 3),
        scores={k: summary.get(k) for k in KEPT_SCORES if k in summary},
        fidelity=round(fidelity, 4),
        utility=None if utility is None else round(utility, 4),
        quality=round(overall, 4),
        private=not reasons,
        reasons=reasons,
        membership_limit=round(gate["max_membership_auc"] + allowance, 4),
        dcr_limit=round(dcr_limit(summary, gate), 4),
    )


def candidate_rows(model, fit: pd.DataFrame, spec: DatasetSpec, seed: int) -> pd.DataFrame:  # noqa: ANN001
    """The rows a candidate is scored on, drawn as the flow draws (no copy of a fit row)."""
    from tasks.sample import draw

    return draw(model, fit, spec, min(len(fit), CANDIDATE_ROWS), seed + 1)[0]


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
    synth = candidate_rows(load_model(model_url), fit, spec, candidate.seed)
    result = judge(candidate, fit_seconds, fit, validation, synth, spec, gate)
    get_run_logger().info(
        "candidate %s: quality %.3f (fidelity %.3f, utility %s), privacy %s",
        candidate.name,
        result.quality,
        result.fidelity,
        "n/a" if result.utility is None else f"{result.utility:.3f}",
        "ok" if result.private else "; ".join(result.reasons),
    )
    return result


def select_family(
    train: pd.DataFrame,
    spec: DatasetSpec,
    *,
    seed: int = 0,
    epochs: int | None = None,
    families: list[str] | tuple[str, ...] = FAMILIES,
    seeds: int = 1,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
    gate: dict[str, Any] | None = None,
    folds: int = FOLDS,
) -> Selection:
    """The flow's auto choice in one process, without Prefect or storage (benchmarks, notebooks):
    the same validation split, candidates, scores and rule."""
    gate = gate or GateConfig().model_dump()
    width = estimated_width(spec)
    chosen_from, skipped = plan(
        families,
        seed=seed,
        seeds=seeds,
        epochs=epochs,
        fit_rows=planning_rows(len(train)),
        width=width,
        time_budget=time_budget,
        spec=spec,
    )
    k = fold_count(
        len(train), chosen_from, folds=folds, width=width, time_budget=time_budget, spec=spec
    )
    cuts = fold_frames(train, spec, k, seed)
    scored = []
    for candidate in chosen_from:
        on_folds = []
        for fit, validation in cuts:
            model = registry.create(candidate.generator, candidate.settings)
            report = model.fit(fit, spec, seed=candidate.seed)
            synth = candidate_rows(model, fit, spec, candidate.seed)
            on_folds.append(judge(candidate, report.seconds, fit, validation, synth, spec, gate))
        scored.append(pooled(on_folds))
    return choose(scored, skipped, k)


def choose(
    scored: list[CandidateScore], skipped: list[str] | None = None, folds: int = 1
) -> Selection:
    """The rule of the module doc; ties go to the earlier candidate (family order, then seed)."""
    if not scored:
        raise ValueError("no candidates to choose from")
    passing = [s for s in scored if s.private]
    if passing:
        best = max(passing, key=lambda s: s.quality)  # max keeps the first of equals
        reason = (
            f"highest quality {best.quality:.3f} among the {len(passing)} of {len(scored)} "
            "candidates that pass the privacy constraint"
            + (f" (means over {folds} folds)" if folds > 1 else "")
        )
    else:
        best = min(scored, key=lambda s: s.scores.get("membership_auc") or 1.0)
        reason = (
            "no candidate passes the privacy constraint; the one with the lowest membership "
            "AUC is kept and the release gate decides"
        )
    return Selection(
        chosen=best.candidate,
        reason=reason,
        candidates=scored,
        skipped=list(skipped or []),
        folds=folds,
    )


@task(name="choose", **TASK_OPTIONS)
def record_choice(
    run_url: str, scored: list[CandidateScore], skipped: list[str] | None = None, folds: int = 1
) -> Selection:
    selection = choose(scored, skipped, folds)
    storage.write_json(run_path(run_url, "selection"), selection.model_dump(mode="json"))
    get_run_logger().info("auto chose %s: %s", selection.chosen.name, selection.reason)
    for line in selection.skipped:
        get_run_logger().info("auto skipped %s", line)
    return selection
