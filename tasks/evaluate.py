"""Step 6: score the synthetic rows for fidelity, utility and privacy against the real split."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from evaluation.fidelity import column_shapes, detection_auc, pair_trends
from evaluation.privacy import dcr, exact_copies, membership_inference
from evaluation.utility import tstr
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.validation import coerce


def score(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    spec: DatasetSpec,
    seed: int = 0,
) -> dict[str, Any]:
    """Every Foundation metric, as one JSON-able dict (headline figures under ``summary``)."""
    synth = coerce(synth, spec)[0]  # datetimes stored as text are compared as dates
    kinds = spec.kinds()
    timings, out = {}, {}
    t = time.perf_counter()
    shapes = column_shapes(train, synth, kinds)
    trends = pair_trends(train, synth, kinds)
    timings["shapes_and_trends"] = time.perf_counter() - t
    t = time.perf_counter()
    detection = detection_auc(train, synth, kinds, seed=seed)
    timings["detection"] = time.perf_counter() - t
    t = time.perf_counter()
    utility = None
    if spec.target:
        utility = tstr(
            train,
            holdout,
            synth,
            target=spec.target,
            target_kind=kinds[spec.target],
            predictors=[p for p in spec.predictors if p in kinds],
            kinds=kinds,
            seed=seed,
        )
    timings["utility"] = time.perf_counter() - t
    t = time.perf_counter()
    modelled = list(kinds)
    distance = dcr(train, holdout, synth, kinds, seed=seed)
    copies = exact_copies(train[modelled], synth[modelled])
    membership = membership_inference(train, holdout, synth, kinds, seed=seed)
    timings["privacy"] = time.perf_counter() - t
    summary = {
        "column_shape_similarity": float(pd.Series(shapes).mean()),
        "pair_trend_similarity": float(pd.Series(trends).mean()) if trends else 1.0,
        "detection_auc": detection["auc"],
        "dcr_share": distance["share"],
        "membership_auc": membership["distance_auc"],
        "exact_copies": copies,
    }
    if utility:
        summary.update(
            {
                f"trtr_{utility['metric']}": utility["trtr"],
                f"tstr_{utility['metric']}": utility["tstr"],
                f"{utility['metric']}_gap": utility["gap"],
            }
        )
    out.update(
        summary=summary,
        column_shapes=shapes,
        pair_trends=trends,
        detection=detection,
        utility=utility,
        dcr=distance,
        membership=membership,
        timings=timings,
        rows={"train": len(train), "holdout": len(holdout), "synthetic": len(synth)},
    )
    return out


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
) -> dict[str, Any]:
    metrics = score(
        storage.read_parquet(train_url),
        storage.read_parquet(holdout_url),
        read_parts(part_urls),
        spec,
        seed,
    )
    storage.write_json(run_path(run_url, "metrics"), metrics)
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
