"""Step 4: train a generator on the training split and store its checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from pydantic import BaseModel

from generators import registry
from generators.base import Checkpointing, resolve_device
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path

TRAINED_FILE = "trained.json"  # written last in a model folder: the training finished
PROGRESS_KEY = "training-progress"  # the Prefect progress artifact of a training


class Trained(BaseModel):
    model_url: str
    generator: str
    epochs: int
    fit_seconds: float
    seconds_per_epoch: float
    final_losses: dict[str, float]
    privacy: dict[str, Any] | None = None  # spent epsilon and delta of a private fit
    resumed_from: int | None = None  # the epoch an interrupted training was resumed after
    reused_from: str | None = None  # a stored model reused instead of training (tasks.reuse)
    host: str | None = None  # where it trained: machine, Prefect worker (on a pool), device
    worker: str | None = None
    device: str | None = None


def _progress(total: int, enabled: bool, logger, name: str = "training"):  # noqa: ANN001, ANN202
    """An epoch callback: a terminal progress bar when asked, and every tenth of the way a log
    line (epoch, losses, time left) and an update of the run's Prefect progress artifact, so the
    UI shows where a training is without opening a worker's log."""
    bar = None
    if enabled:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="training", unit="epoch", dynamic_ncols=True)
    every = max(1, total // 10)
    artifact = _progress_artifact(f"{name}: epoch 0 of {total}")
    start = time.perf_counter()

    def on_epoch(epoch: int, epochs: int, losses: dict[str, float]) -> None:
        shown = {k: f"{v:.3f}" for k, v in losses.items()}
        if bar is not None:
            bar.set_postfix(shown, refresh=False)
            bar.update(1)
            if epoch == epochs:
                bar.close()
        if epoch % every == 0 or epoch == epochs:
            elapsed = time.perf_counter() - start
            left = elapsed / epoch * (epochs - epoch)
            line = (
                f"epoch {epoch}/{epochs} "
                + " ".join(f"{k}={v}" for k, v in shown.items())
                + f", {left:.0f} s left"
            )
            logger.info("%s", line)
            if artifact is not None:
                from prefect.artifacts import update_progress_artifact

                update_progress_artifact(artifact, 100.0 * epoch / epochs, f"{name}: {line}")

    return on_epoch


def _progress_artifact(description: str):  # noqa: ANN202 - a UUID, or None outside a run
    """A progress artifact of the current Prefect run (none when called outside one)."""
    from prefect.artifacts import create_progress_artifact
    from prefect.context import FlowRunContext, TaskRunContext

    if TaskRunContext.get() is None and FlowRunContext.get() is None:
        return None
    return create_progress_artifact(0.0, key=PROGRESS_KEY, description=description)


def save_model(model_url: str, files: dict[str, bytes]) -> str:
    for name, payload in files.items():
        storage.write_once(storage.join(model_url, name), payload)
    return model_url


def checkpoint_url(
    root: str, data: pd.DataFrame, spec: DatasetSpec, generator: str, settings: dict, seed: int
) -> str:
    """Where one training's checkpoint lives: keyed by everything that determines the training
    (the rows, the spec, the model and its settings, the seed), so a rerun of an interrupted run
    finds it and any change starts afresh."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(data, index=False).to_numpy().tobytes())
    identity = [list(data.columns), spec.model_dump(mode="json"), generator, settings, seed]
    digest.update(json.dumps(identity, sort_keys=True, default=str).encode())
    return storage.join(root, digest.hexdigest()[:24], "checkpoint.pt")


@task(name="train", **TASK_OPTIONS)
def train(
    run_url: str,
    train_url: str,
    spec: DatasetSpec,
    generator: str,
    settings: dict,
    seed: int,
    progress: bool = False,
    checkpoint_root: str | None = None,
    checkpoint_every: int = 0,
    model_folder: str | None = None,
) -> Trained:
    """Fit and store the model; with ``checkpoint_root``, save the training state every
    ``checkpoint_every`` epochs and resume from it when the same training is run again."""
    logger = get_run_logger()
    data = storage.read_parquet(train_url)
    model = registry.create(generator, settings)
    checkpointing, scratch = None, None
    private = bool(getattr(model.config, "private", False))
    if checkpoint_root and checkpoint_every > 0 and model.resumable and not private:
        scratch = checkpoint_url(checkpoint_root, data, spec, generator, settings, seed)
        previous = storage.read_bytes(scratch) if storage.exists(scratch) else None
        if previous is not None:
            logger.info("found a checkpoint of this training at %s: resuming", scratch)
        checkpointing = Checkpointing(
            every=checkpoint_every,
            save=lambda payload: storage.replace(scratch, payload),
            resume=previous,
        )
    epochs = getattr(model.config, "epochs", 1)
    logger.info(
        "training %s on %d rows for %d epochs (%s)",
        generator,
        len(data),
        epochs,
        model.config.model_dump(mode="json"),
    )
    start = time.perf_counter()
    report = model.fit(
        data,
        spec,
        seed=seed,
        on_epoch=_progress(epochs, progress, logger, f"training {generator}"),
        checkpointing=checkpointing,
    )
    if report.resumed_from is not None:
        logger.info("resumed after epoch %d of %d", report.resumed_from, epochs)
    model_url = save_model(model_folder or run_path(run_url, "model"), model.save())
    if scratch is not None and storage.exists(scratch):
        storage.remove(scratch)  # the finished model is in the run folder now
    storage.write_json(storage.join(model_url, "history.json"), report.history)
    logger.info(
        "trained in %.1f s (%.3f s/epoch)", time.perf_counter() - start, report.seconds_per_epoch
    )
    if report.privacy:
        logger.info(
            "differential privacy spent: epsilon %.3f at delta %.2g",
            report.privacy["epsilon"],
            report.privacy["delta"],
        )
    last = report.history[-1] if report.history else {}
    trained = Trained(
        model_url=model_url,
        generator=generator,
        epochs=report.epochs,
        fit_seconds=report.seconds,
        seconds_per_epoch=report.seconds_per_epoch,
        final_losses={k: float(v) for k, v in last.items() if k != "epoch"},
        privacy=report.privacy,
        resumed_from=report.resumed_from,
        host=socket.gethostname(),
        worker=os.environ.get("PREFECT__WORKER_NAME"),  # set by a worker in its flow runs
        device=str(resolve_device(getattr(model.config, "device", "cpu"))),
    )
    storage.write_json(storage.join(model_url, TRAINED_FILE), trained.model_dump(mode="json"))
    return trained
