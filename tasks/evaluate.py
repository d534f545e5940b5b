"""Step 6: score the synthetic rows for fidelity, utility and privacy against the real split."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from evaluation.fidelity import column_shapes, detection_auc, pair_trends
from evaluation.gate import decide
from evaluation.privacy import dcr, exact_copies, membership_inference
from evaluation.report import evaluation_html
from evaluation.utility import tstr
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.validation import coerce


def score(
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
    detection = timed("detection", detection_auc, train, synth, kinds, seed=seed)
    copies = timed("exact_copies", exact_copies, train[modelled], synth[modelled])
    summary: dict[str, Any] = {
        "column_shape_similarity": float(pd.Series(shapes).mean()),
        "pair_trend_similarity": float(pd.Series(trends).mean()) if trends else 1.0,
        "detection_auc": detection["auc"],
    }
    utility = distance = membership = None
    if holdout is None:
        notes.append("no holdout: utility, DCR share and membership AUC were not measured")
    else:
        distance = timed("dcr", dcr, train, holdout, synth, kinds, seed=seed)
        membership = timed(
            "membership", membership_inference, train, holdout, synth, kinds, seed=seed
        )
        summary.update(dcr_share=distance["share"], membership_auc=membership["distance_auc"])
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
                seed=seed,
            )
            metric = utility["metric"]
            summary.update(
                {
                    f"trtr_{metric}": utility["trtr"],
                    f"tstr_{metric}": utility["tstr"],
                    f"{metric}_gap": utility["gap"],
                }
            )
    summary["exact_copies"] = copies
    return {
        "summary": summary,
        "column_shapes": shapes,
        "pair_trends": trends,
        "detection": detection,
        "utility": utility,
        "dcr": distance,
        "membership": membership,
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
) -> dict[str, Any]:
    train, holdout = storage.read_parquet(train_url), storage.read_parquet(holdout_url)
    synth = coerce(read_parts(part_urls), spec)[0]  # dates stored as text compare as dates
    metrics = score(train, holdout, synth, spec, seed)
    metrics, page = judge_and_report(
        metrics, thresholds, train, holdout, synth, spec, f"Synthetic {spec.name}: evaluation"
    )
    storage.write_json(run_path(run_url, "metrics"), metrics)
    storage.write_once(run_path(run_url, "report"), page.encode())
    create_table_artifact(
        [
            {"metric": k, "value": round(v, 4) if isinstance(v, float) else v}
            for k, v in metrics["summary"].items()
        ],
        key="synthetic-data-metrics",
        description=f"Scores of the synthetic {spec.name} data",
    )
    get_run_logger().info("metrics: %s", {k: round(v, 4) for k, v in metrics["summary"].items()})
    return metrics
