"""Generator ``auto`` for patient histories: by the data's shape, then by a validation score.

Histories that are not fixed-length numeric signals (irregular visits, varying lengths,
categorical or missing measurements) go to ``dgan``, the one family that takes them; its fits
take minutes, so nothing is trained twice and the reason given is the shape.

Fixed-length numeric signals on one time grid (ECG beats, sampled waveforms) go to ``signal``,
which beat DGAN's defaults on every ECG set of the history benchmark (``benchmarks/histories.py``)
in seconds instead of minutes. Its fits take seconds, so its settings are chosen as the table
``auto`` chooses families (``tasks.select``): each of ``SIGNAL_CANDIDATES`` is fitted on the
fit part of the training patients (``VALIDATION_FRACTION`` of them held out, stratified by the
outcome) and scored against the held-out part, which the final holdout never joins:

1. **Privacy is a hard constraint**, as for tables: no synthetic history equals a fit one, the
   nearest-history DCR share is at most the gate's limit (``max_dcr_share``, or the chance
   level measured at these sizes when that is more) and the membership AUC at most the gate's
   ``max_membership_auc`` plus the noise of an AUC at chance for these sizes.
2. **Quality** = the mean of the detection score, ``min(1, 2 * (1 - AUC))`` of a
   gradient-boosting detector on the padded histories (``evaluation.timeseries.detection_auc``),
   and, with an outcome, the utility ``min(1, TSTR / TRTR)``.
3. The passing candidate of highest quality is chosen (ties: the earlier); when none passes, the
   one with the lowest membership AUC, and the release gate decides.

The candidates are ``signal`` as it is and with alignment (``align``): on the benchmark,
alignment lowered the detector's AUC where a beat's peak moves between beats (ECGFiveDays,
ECG5000) and raised it where it does not (CinCECGTorso), so no one setting serves every set.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from evaluation import timeseries as ts
from evaluation.gate import tstr_ratio
from generators import registry
from generators.schema import DatasetSpec
from tasks import storage
from tasks.config import GateConfig
from tasks.evaluate import history_roles, one_thread_when_small
from tasks.select import (
    Candidate,
    CandidateScore,
    Selection,
    chance_auc_noise,
    choose,
    dcr_limit,
    privacy_reasons,
)
from tasks.split import split_histories

VALIDATION_FRACTION = 0.2
SIGNAL_CANDIDATES: tuple[dict[str, Any], ...] = ({}, {"align": 0.1})


def score_signal_candidate(
    candidate: Candidate,
    fit: pd.DataFrame,
    validation: pd.DataFrame,
    spec: DatasetSpec,
    gate: dict[str, Any],
) -> CandidateScore:
    """Fit ``candidate`` on ``fit``, draw as many patients, score them against ``validation``
    (the module doc's rule)."""
    roles = history_roles(spec)
    start = time.perf_counter()
    model = registry.create(candidate.generator, candidate.settings)
    model.fit(fit, spec, seed=candidate.seed)
    seconds = time.perf_counter() - start
    patients = int(fit[roles.id].nunique())
    synth = model.sample(patients, seed=candidate.seed + 1)
    seed = candidate.seed
    with one_thread_when_small(len(fit)):
        detection = ts.detection_auc(fit, synth, roles, seed=seed)
        nearest = ts.nearest_sequence(fit, validation, synth, roles, seed=seed)
        utility = None
        if roles.target is not None:
            ratio = tstr_ratio(ts.outcome_tstr(fit, validation, synth, roles, seed=seed))
            utility = None if ratio is None else float(np.clip(ratio, 0, 1))
    copies = ts.history_copies(fit, synth, roles)
    scores = {
        "detection_auc": detection,
        "dcr_share": nearest["share"],
        "dcr_share_noise": nearest["share_noise"],
        "membership_auc": nearest["membership_auc"],
        "exact_copies": copies,
    }
    detection_score = min(1.0, 2.0 * (1.0 - detection))
    quality = detection_score if utility is None else (detection_score + utility) / 2
    allowance = chance_auc_noise(nearest["reference_patients"], int(validation[roles.id].nunique()))
    reasons = privacy_reasons(scores, gate, allowance)
    return CandidateScore(
        candidate=candidate,
        fit_seconds=round(seconds, 3),
        scores={k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()},
        fidelity=round(detection_score, 4),
        utility=None if utility is None else round(utility, 4),
        quality=round(quality, 4),
        private=not reasons,
        reasons=reasons,
        membership_limit=round(float(gate["max_membership_auc"]) + allowance, 4),
        dcr_limit=round(dcr_limit(scores, gate), 4),
    )


def select_sequence_family(
    train: pd.DataFrame, spec: DatasetSpec, seed: int, gate: dict[str, Any] | None = None
) -> Selection:
    """The module doc's choice for ``train`` (one process, no storage: the flow and the
    benchmarks call it alike)."""
    from generators.signal import signal_shape

    reason = signal_shape(train, spec)
    if reason is not None:
        chosen = Candidate(name=f"dgan-s{seed}", generator="dgan", settings={}, seed=seed)
        why = f"not a fixed-length signal ({reason}): a recurrent GAN"
        return Selection(chosen=chosen, reason=why, candidates=[])
    gate = gate or GateConfig().model_dump()
    samples = int(train.groupby(spec.sequence.id).size().iloc[0])
    shape = f"every patient is a fixed-length numeric signal on one time grid ({samples} samples)"
    try:
        fit, validation, _ = split_histories(train, spec, VALIDATION_FRACTION, seed)
    except ValueError as exc:  # too few patients to hold any out: the defaults
        chosen = Candidate(name=f"signal-s{seed}", generator="signal", settings={}, seed=seed)
        return Selection(
            chosen=chosen, reason=f"{shape}: signal at its defaults ({exc})", candidates=[]
        )
    scored = [
        score_signal_candidate(
            Candidate(name=f"signal{_label(s)}-s{seed}", generator="signal", settings=s, seed=seed),
            fit,
            validation,
            spec,
            gate,
        )
        for s in SIGNAL_CANDIDATES
    ]
    selection = choose(scored)
    selection.reason = (
        f"{shape}: signal; of its settings, {selection.reason}, on "
        f"{validation[spec.sequence.id].nunique()} validation patients"
    )
    return selection


def _label(settings: dict[str, Any]) -> str:
    return "".join(
        f"-{k}{v:g}" if isinstance(v, float) else f"-{k}{v}" for k, v in settings.items()
    )


def choose_sequence_family(train_url: str, spec: DatasetSpec, seed: int) -> Selection:
    """The flow's step: ``select_sequence_family`` on the run's training split."""
    return select_sequence_family(storage.read_parquet(train_url), spec, seed)
