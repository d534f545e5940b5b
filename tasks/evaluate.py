"""Step 6: score the synthetic rows for fidelity, utility and privacy against the real split."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from evaluation.catalogue import SCORES
from evaluation.fidelity import column_shapes, coverage, detection_auc, pair_trends
from evaluation.gate import decide
from evaluation.privacy import (
    attribute_inference,
    dcr,
    density_membership_inference,
    exact_copies,
    k_anonymity,
    membership_inference,
)
from evaluation.report import evaluation_html, sequence_evaluation_html
from evaluation.timeseries import Roles, score_histories
from evaluation.utility import tstr
from generators.conditions import rows_meeting
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.inputs import MIN_CONDITIONED_HOLDOUT
from tasks.validation import coerce

# Up to this many rows the scoring models (gradient boosting, forests) run on one OpenMP
# thread: on small data, threads that spin while a neighbour (the Prefect server, a worker) holds
# a core made detection 4x slower on this 2-core machine (0.99 s vs 3.96 s for five fits).
ONE_THREAD_ROWS = 20_000
# a detection AUC this far below 0.5 means the classifier pairs synthetic rows with their real
# twins across the cross-validation folds: copies, not indistinguishable data
COPY_SIGNAL_AUC = 0.4


def one_thread_when_small(rows: int):  # noqa: ANN201 - a threadpoolctl context manager
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if rows <= ONE_THREAD_ROWS else None, user_api="openmp")


def history_roles(spec: DatasetSpec) -> Roles:
    """The roles of a patient-history spec as ``evaluation.timeseries`` takes them."""
    kinds, roles = spec.kinds(), spec.sequence
    static = [c for c in roles.static if c in kinds]
    return Roles(
        id=roles.id,
        time=roles.time,
        static=static,
        temporal=spec.temporal,
        kinds={c: kinds[c] for c in [*static, *spec.temporal]},
        target=spec.target,
        non_predictors=[c for c in spec.non_predictors if c in static],
    )


def score(
    train: pd.DataFrame,
    holdout: pd.DataFrame | None,
    synth: pd.DataFrame,
    spec: DatasetSpec,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric, as one JSON-able dict (headline figures under ``summary``); patient
    histories get the history scores of ``evaluation.timeseries``."""
    with one_thread_when_small(max(len(train), len(synth))):
        if spec.sequence is None:
            return _score(train, holdout, synth, spec, seed)
        if holdout is None:
            raise ValueError(
                "patient histories are scored against holdout patients: give a holdout"
            )
        return score_histories(train, holdout, synth, history_roles(spec), seed=seed)


def _score(
    train: pd.DataFrame,
    holdout: pd.DataFrame | None,
    synth: pd.DataFrame,
    spec: DatasetSpec,
    seed: int = 0,
) -> dict[str, Any]:
    """Every metric, as one JSON-able dict (headline figures under ``summary``).

    ``synth`` is typed like the training rows (``coerce`` it when read from text formats).

    Without a holdout, utility and the distance-based privacy metrics cannot be measured: they
    are left out and ``notes`` says so (the gate then fails them as not measured).
    """
    kinds = spec.kinds()
    modelled = list(kinds)
    timings: dict[str, float] = {}
    notes: list[str] = []

    def timed(name: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[name] = time.perf_counter() - start

    shapes = timed("column_shapes", column_shapes, train, synth, kinds)
    trends = timed("pair_trends", pair_trends, train, synth, kinds)
    reach = timed("coverage", coverage, train, synth, kinds)
    detection = timed("detection", detection_auc, train, synth, kinds, seed=seed)
    copies = timed("exact_copies", exact_copies, train[modelled], synth[modelled])
    summary: dict[str, Any] = {
        "column_shape_similarity": float(pd.Series(shapes).mean()),
        "pair_trend_similarity": float(pd.Series(trends).mean()) if trends else 1.0,
        "coverage": float(pd.Series(reach).mean()),
        "detection_auc": detection["auc"],
    }
    utility = distance = membership = density = attributes = None
    if holdout is None:
        notes.append(
            "no holdout: utility, DCR share, NNDR, membership and attribute attacks were not "
            "measured"
        )
    else:
        distance = timed("dcr", dcr, train, holdout, synth, kinds, seed=seed)
        membership = timed(
            "membership", membership_inference, train, holdout, synth, kinds, seed=seed
        )
        density = timed(
            "membership_density",
            density_membership_inference,
            train,
            holdout,
            synth,
            kinds,
            seed=seed,
        )
        summary.update(
            dcr_share=distance["share"],
            dcr_share_noise=distance["share_noise"],
            nndr_median=distance["nndr_median"],
            # the gate holds the stronger of the two attacks
            membership_auc=max(membership["distance_auc"], density["density_auc"]),
            membership_distance_auc=membership["distance_auc"],
            membership_density_auc=density["density_auc"],
        )
        if spec.sensitive:
            attributes = timed(
                "attribute_inference",
                attribute_inference,
                train,
                holdout,
                synth,
                kinds,
                spec.sensitive,
                spec.quasi_identifiers or None,
                seed=seed,
            )
            summary["attribute_inference_advantage"] = max(
                a["advantage"] for a in attributes.values()
            )
        if spec.target:
            predictors = [p for p in spec.predictors if p in kinds]
            utility = timed(
                "utility",
                tstr,
                train,
                holdout,
                synth,
                target=spec.target,
                target_kind=kinds[spec.target],
                predictors=predictors,
                kinds=kinds,
                survival_time=spec.survival_time,
                seed=seed,
            )
            notes += utility["notes"]
            for key in SCORES:  # every TRTR/TSTR score this target has
                if key.startswith(("trtr_", "tstr_")) and key in utility:
                    summary[key] = utility[key]
            summary[f"{utility['metric']}_gap"] = utility["gap"]
            summary["importance_rank_agreement"] = utility["importance"]["spearman"]
    anonymity = None
    if spec.quasi_identifiers:
        anonymity = timed("k_anonymity", k_anonymity, train, synth, kinds, spec.quasi_identifiers)
        summary.update(
            k_anonymity=anonymity["k_synthetic"],
            small_group_share=anonymity["small_group_share"],
        )
    if summary["detection_auc"] < COPY_SIGNAL_AUC:
        notes.append(
            f"detection AUC {summary['detection_auc']:.3f} is far below 0.5: the classifier "
            "recognises synthetic rows as twins of real ones, a copy signal, not quality (see "
            "exact copies and DCR share)"
        )
    for name, rows in (("detection", detection["rows_per_side"]),):
        if rows < min(len(train), len(synth)):
            notes.append(f"{name}: {rows} rows per side, subsampled")
    if distance and distance["synthetic_rows_scored"] < len(synth):
        notes.append(
            f"DCR, NNDR and distance attack: {distance['synthetic_rows_scored']} synthetic rows "
            "scored, subsampled"
        )
    summary["exact_copies"] = copies
    return {
        "summary": summary,
        "column_shapes": shapes,
        "pair_trends": trends,
        "detection": detection,
        "coverage": reach,
        "utility": utility,
        "dcr": distance,
        "membership": membership,
        "membership_density": density,
        "attribute_inference": attributes,
        "k_anonymity": anonymity,
        "notes": notes,
        "timings": timings,
        "rows": {
            "train": len(train),
            "holdout": 0 if holdout is None else len(holdout),
            "synthetic": len(synth),
        },
    }


def judge_and_report(
    metrics: dict[str, Any],
    thresholds: dict[str, Any],
    train: pd.DataFrame,
    holdout: pd.DataFrame | None,
    synth: pd.DataFrame,
    spec: DatasetSpec,
    title: str,
) -> tuple[dict[str, Any], str]:
    """Add the gate's decision to ``metrics``; return them with the report page."""
    decision = decide(metrics["summary"], thresholds)
    metrics = {
        **metrics,
        "gate": {"passed": decision.passed, "reasons": decision.reasons, "checks": decision.checks},
    }
    if spec.sequence is not None:
        page = sequence_evaluation_html(
            train, holdout, synth, history_roles(spec), metrics, metrics["gate"], title
        )
    else:
        page = evaluation_html(train, holdout, synth, spec.kinds(), metrics, metrics["gate"], title)
    return metrics, page


def read_parts(urls: list[str]) -> pd.DataFrame:
    return pd.concat([storage.read_parquet(u) for u in urls], ignore_index=True)


@task(name="evaluate", **TASK_OPTIONS)
def evaluate(
    run_url: str,
    train_url: str,
    holdout_url: str,
    part_urls: list[str],
    spec: DatasetSpec,
    seed: int,
    thresholds: dict[str, Any],
    privacy_budget: dict[str, Any] | None = None,
    conditions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    train, holdout = storage.read_parquet(train_url), storage.read_parquet(holdout_url)
    synth = coerce(read_parts(part_urls), spec)[0]  # dates stored as text compare as dates
    if conditions:
        # conditioned output is compared with the real patients who meet the same conditions
        train, holdout = rows_meeting(train, conditions), rows_meeting(holdout, conditions)
        if len(train) < 2 or len(holdout) < MIN_CONDITIONED_HOLDOUT:
            raise ValueError(
                f"conditions {conditions}: {len(train)} training and {len(holdout)} holdout "
                f"patients meet them; the evaluation needs at least {MIN_CONDITIONED_HOLDOUT} "
                "holdout patients to measure privacy"
            )
        if spec.target in conditions:  # a constant target: nothing to predict
            spec = spec.model_copy(update={"target": None, "survival_time": None})
    metrics = score(train, holdout, synth, spec, seed)
    if conditions:
        metrics["conditions"] = conditions
        metrics["notes"].append(
            f"conditioned on {conditions}: compared with the {len(train)} training and "
            f"{len(holdout)} holdout patients who meet the conditions"
        )
    if privacy_budget:
        metrics["differential_privacy"] = privacy_budget
        metrics["summary"]["dp_epsilon"] = privacy_budget["epsilon"]
        metrics["summary"]["dp_delta"] = privacy_budget["delta"]
    metrics, page = judge_and_report(
        metrics, thresholds, train, holdout, synth, spec, f"Synthetic {spec.name}: evaluation"
    )
    storage.write_json(run_path(run_url, "metrics"), metrics)
    storage.write_once(run_path(run_url, "report"), page.encode())
    create_table_artifact(
        [
            {
                "metric": k,
                "value": round(v, 4) if isinstance(v, float) else v,
                "good": SCORES[k].direction,
                "range": f"[{SCORES[k].low:g}, {'∞' if SCORES[k].high is None else f'{SCORES[k].high:g}'}]",
            }
            for k, v in metrics["summary"].items()
        ],
        key="synthetic-data-metrics",
        description=f"Scores of the synthetic {spec.name} data",
    )
    get_run_logger().info("metrics: %s", {k: round(v, 4) for k, v in metrics["summary"].items()})
    return metrics
