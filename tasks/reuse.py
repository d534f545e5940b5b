"""Recurring runs are cheap: a trained model is kept under a key of everything that determined it.

The key hashes the input file's bytes, the spec, and the settings that shape training (generator
and its settings, epochs, seed, split, roles, privacy budget, auto's seeds). A scheduled run whose
input and config have not changed finds the model under ``ROOT/DATASET/models/KEY/`` and copies it
into its run folder instead of training; a changed input or setting gives another key, so it
trains. ``retrain`` forces training (the result is stored again only if the key is new). Sampling
settings (rows, guidance, conditions) and the release gate are not in the key: they do not change
the model.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from prefect import get_run_logger, task

from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.config import RunConfig
from tasks.select import Selection
from tasks.train import Trained

TRAINING_FIELDS = (
    "target",
    "id_columns",
    "non_predictors",
    "survival_time",
    "time_column",
    "quasi_identifiers",
    "sensitive",
    "generator",
    "auto_seeds",
    "auto_folds",
    "auto_families",
    "generator_config",
    "epochs",
    "seed",
    "holdout_fraction",
    "dp_epsilon",
    "dp_delta",
)


def model_key(config: RunConfig, input_sha256: str, spec: DatasetSpec) -> str:
    settings = {k: v for k, v in config.model_dump(mode="json").items() if k in TRAINING_FIELDS}
    identity = {"input": input_sha256, "spec": spec.model_dump(mode="json"), **settings}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def store_url(config: RunConfig, input_sha256: str, spec: DatasetSpec) -> str:
    return storage.join(
        config.output, config.dataset_name, "models", model_key(config, input_sha256, spec)
    )


@task(name="reuse-model", **TASK_OPTIONS)
def reuse_model(store: str, run_url: str) -> tuple[Trained, Selection | None] | None:
    """The stored model copied into this run's folder, or None when there is none (yet).

    ``trained.json`` is written last when storing, so a half-stored model is never reused.
    """
    record_url = storage.join(store, "trained.json")
    if not storage.exists(record_url):
        return None
    record = storage.read_json(record_url)
    model_url = run_path(run_url, "model")
    storage.copy_folder_once(storage.join(store, "model"), model_url)
    trained = Trained.model_validate({**record["trained"], "model_url": model_url})
    trained.reused_from = store
    selection = record.get("selection")
    get_run_logger().info(
        "input and training settings unchanged: reusing the model stored at %s (no training)",
        store,
    )
    return trained, None if selection is None else Selection.model_validate(selection)


@task(name="store-model", **TASK_OPTIONS)
def store_model(store: str, trained: Trained, selection: Selection | None) -> str | None:
    """Keep the run's model for later runs with the same key; first writer wins."""
    if storage.exists(storage.join(store, "trained.json")):
        return None
    files = sorted(u.rsplit("/", 1)[-1] for u in storage.list_files(trained.model_url))
    try:
        for name in files:  # a cache keyed by content: an interrupted store is simply redone
            payload = storage.read_bytes(storage.join(trained.model_url, name))
            storage.replace(storage.join(store, "model", name), payload)
        record: dict[str, Any] = {
            "trained": trained.model_dump(mode="json"),
            "selection": None if selection is None else selection.model_dump(mode="json"),
        }
        storage.write_json(storage.join(store, "trained.json"), record)
    except storage.ArtifactExistsError:
        return None  # another run is storing the same model
    get_run_logger().info("model stored for reuse at %s", store)
    return store
