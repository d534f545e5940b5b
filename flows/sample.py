"""The sample flow: more synthetic patients from a completed run's model, without retraining.

A new run folder beside the source run: the model is copied in (so the folder stands alone), the
rows are drawn with a new seed (and conditions, if any), scored against the source run's holdout
and released through the same gate, manifest last.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import FLOW_OPTIONS, new_run_id, run_path
from tasks.config import ConfigError, RunConfig
from tasks.evaluate import evaluate
from tasks.publish import publish
from tasks.sample import sample


@flow(name="sample", **FLOW_OPTIONS)
def sample_more(
    source_run: str,
    rows: int,
    seed: int = 1,
    conditions: dict[str, str | int | float | bool | None] | None = None,
) -> str:
    """``rows`` new synthetic rows (patients, for patient histories) from the model of
    ``source_run`` (a complete run's URL).

    Returns the new run's URL; the flow fails, with the gate's reasons, when the gate refuses.
    """
    from flows.generate import RunRejected

    logger = get_run_logger()
    manifest_url = storage.join(source_run, "manifest.json")
    if not storage.exists(manifest_url):
        raise ConfigError(f"{source_run}: no manifest; only a complete run's model is sampled")
    source = storage.read_json(manifest_url)
    if source["status"] != "complete":
        raise ConfigError(f"{source_run}: the run was {source['status']}; its model is not sampled")
    config = RunConfig.model_validate(
        {**source["config"], "rows": rows, "seed": seed, "conditions": conditions or {}}
    )
    spec = DatasetSpec.from_yaml(storage.read_bytes(run_path(source_run, "spec")).decode())
    split, train = source["results"]["split"], source["results"]["train"]
    run_url = storage.join(config.output, config.dataset_name, "runs", new_run_id())
    timings: dict[str, float] = {}

    start = time.perf_counter()
    storage.write_json(
        run_path(run_url, "config"),
        {
            **config.model_dump(mode="json"),
            "fingerprint": config.fingerprint(),
            "source": source_run,
        },
    )
    storage.write_once(run_path(run_url, "spec"), spec.to_yaml().encode())
    model_url = run_path(run_url, "model")
    storage.copy_folder_once(train["model_url"], model_url)
    timings["copy_model"] = round(time.perf_counter() - start, 3)
    logger.info("sampling %d rows from the model of %s (no training)", rows, source_run)

    start = time.perf_counter()
    sampled = sample(
        run_url,
        model_url,
        split["train_url"],
        spec,
        rows,
        seed,
        config.chunk_rows,
        config.sampling_pool("sequence" if spec.sequence is not None else "table"),
        source["results"].get("input_dtypes"),
        config.conditions,
    )
    timings["sample"] = round(time.perf_counter() - start, 3)
    start = time.perf_counter()
    metrics = evaluate(
        run_url,
        split["train_url"],
        split["holdout_url"],
        sampled.part_urls,
        spec,
        seed,
        config.gate.model_dump(),
        train.get("privacy"),
        config.conditions,
    )
    timings["evaluate"] = round(time.perf_counter() - start, 3)
    results: dict[str, Any] = {
        "source_run": source_run,
        "split": split,
        "train": {**train, "model_url": model_url, "reused_from": source_run},
        "sample": sampled.model_dump(),
    }
    published = publish(
        run_url,
        config,
        source["input"]["sha256"],
        results,
        timings,
        metrics,
        sampled.part_urls,
    )
    if published.status != "complete":
        raise RunRejected(run_url, published.reasons)
    logger.info("run complete: %s", run_url)
    return run_url
