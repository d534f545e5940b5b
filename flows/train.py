"""The train flow: one training run as its own flow, so it can be deployed to a GPU work pool.

``generate`` trains in-process; a deployment of this flow runs the same ``train`` task where the
pool's workers are (a CUDA machine picks ``cuda`` by itself). Its inputs are URLs and small
settings, never tables, so any worker that reaches the storage can run it.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import FLOW_OPTIONS, run_path
from tasks.train import Trained, train


@flow(name="train", **FLOW_OPTIONS)
def train_model(
    run_url: str,
    generator: str = "ctgan",
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    train_url: str | None = None,
    model_folder: str | None = None,
    checkpoint_every: int = 10,
) -> Trained:
    """Train ``generator`` on a run's training split (``train_url``, default the run's own) and
    store the model in ``model_folder`` (default the run's ``model/``). Checkpoints live beside
    the run's dataset, so a rerun of an interrupted training resumes."""
    spec = DatasetSpec.from_yaml(storage.read_bytes(run_path(run_url, "spec")).decode())
    dataset_root = run_url.rstrip("/").rsplit("/runs/", 1)[0]
    return train(
        run_url,
        train_url or run_path(run_url, "train"),
        spec,
        generator,
        settings or {},
        seed,
        False,
        storage.join(dataset_root, "training"),
        checkpoint_every,
        model_folder,
    )
