"""Training runs on a work pool: each training becomes a run of the ``train`` deployment.

``generate`` with ``train_deployment`` set (e.g. ``train/train-gpu``) submits every training it
needs at once, as child flow runs of that deployment, so they run in parallel on as many workers
as the deployment's pool has (one GPU machine each, or a process pool on one machine). The runs
get URLs and small settings, never tables: a worker reads the split from storage and writes the
model to the folder it is given, then ``trained.json`` last. Without ``train_deployment`` the
same trainings run in-process, one after the other.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel

from tasks import storage
from tasks.config import ConfigError
from tasks.train import PROGRESS_KEY, TRAINED_FILE, Trained

POLL_SECONDS = 2.0
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


class TrainJob(BaseModel):
    """One training: the ``train`` flow's parameters, plus a name for messages."""

    name: str
    generator: str
    settings: dict[str, Any]
    seed: int
    train_url: str
    model_folder: str


class RemoteTrainingError(RuntimeError):
    """A training run on the pool failed, or no worker took it in time."""


def check_deployment(name: str) -> str:
    """The deployment's work pool; fails before any work when the deployment does not exist."""
    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            raise ConfigError(
                f"train_deployment {name!r} is not deployed on the Prefect API this run talks to; "
                "deploy it first (prefect --no-prompt deploy --prefect-file "
                "deployments/prefect.yaml --all) or leave train_deployment empty to train "
                "in-process"
            ) from None
    if deployment.entrypoint and not deployment.entrypoint.endswith("flows/train.py:train_model"):
        raise ConfigError(
            f"train_deployment {name!r} runs {deployment.entrypoint}, not the train flow "
            "(flows/train.py:train_model)"
        )
    return deployment.work_pool_name or "?"


def train_on_pool(
    deployment: str,
    run_url: str,
    jobs: list[TrainJob],
    checkpoint_every: int,
    pickup_timeout: float,
) -> list[Trained]:
    """Submit every job as a run of ``deployment``, wait for all, return their records in order.

    A run that fails fails the whole call (the others are cancelled), naming the job and the
    flow run; so does a run that no worker picks up within ``pickup_timeout`` seconds. The
    deployment was checked when the run started (``check_deployment``).
    """
    from prefect.deployments import run_deployment

    logger = get_run_logger()
    submitted: list[FlowRun] = []
    for job in jobs:
        flow_run = run_deployment(
            deployment,
            parameters={
                "run_url": run_url,
                "generator": job.generator,
                "settings": job.settings,
                "seed": job.seed,
                "train_url": job.train_url,
                "model_folder": job.model_folder,
                "checkpoint_every": checkpoint_every,
            },
            timeout=0,  # submit only; all of them wait together below
            as_subflow=True,
            flow_run_name=f"train-{job.name}",
            tags=["synthcare", "training"],
        )
        submitted.append(flow_run)
        pool = flow_run.work_pool_name or "?"
        logger.info(
            "submitted %s to %s (pool %s): flow run %s", job.name, deployment, pool, flow_run.id
        )
    _wait(submitted, jobs, pool, pickup_timeout)
    return [_record(job) for job in jobs]


def online_workers(client: Any, pool: str) -> int:
    """How many workers of ``pool`` are online now (busy or idle)."""
    workers = client.read_workers_for_work_pool(pool)
    return sum(1 for w in workers if getattr(w.status, "value", w.status) == "ONLINE")


def pickup_clock(
    online: int, unattended_since: float | None, now: float, timeout: float
) -> tuple[float | None, bool]:
    """The pickup clock after one look at the pool: it runs only while no worker is online
    (a busy worker takes the queued training when free) and restarts when one comes online.
    Returns (since when the pool is unattended, whether the timeout has passed)."""
    if online:
        return None, False
    since = now if unattended_since is None else unattended_since
    return since, now - since > timeout


def _wait(runs: list[FlowRun], jobs: list[TrainJob], pool: str, pickup_timeout: float) -> None:
    """Wait for every run. A queued training waits as long as the pool has a worker online (it
    is busy with other work and takes the next run when it is free); the pickup timeout counts
    only the time during which no worker of the pool is online."""
    logger = get_run_logger()
    unattended_since: float | None = None  # when the pool was last seen without any worker
    told_busy = False
    said: dict[UUID, str] = {}  # the last progress line relayed per training
    pending = {run.id: job for run, job in zip(runs, jobs, strict=True)}
    with get_client(sync_client=True) as client:
        while pending:
            queued = []
            for run_id, job in list(pending.items()):
                state = client.read_flow_run(run_id).state
                kind = state.type.value if state else "SCHEDULED"
                if kind not in FINAL:
                    if kind == "SCHEDULED":
                        queued.append((run_id, job))
                    continue
                del pending[run_id]
                if kind != "COMPLETED":
                    _cancel(client, pending)
                    message = (state.message or "").strip() if state else ""
                    raise RemoteTrainingError(
                        f"training {job.name} (flow run {run_id}) ended {kind}"
                        + (f": {message}" if message else "")
                    )
            _relay_progress(client, pending, said)
            if queued:
                now = time.monotonic()
                online = online_workers(client, pool)
                if online:
                    if not told_busy:
                        logger.info(
                            "%d training(s) queued; %d worker(s) of pool %s online: waiting for "
                            "one to take it (busy workers take it when free)",
                            len(queued),
                            online,
                            pool,
                        )
                        told_busy = True
                unattended_since, expired = pickup_clock(
                    online, unattended_since, now, pickup_timeout
                )
                if expired:
                    run_id, job = queued[0]
                    _cancel(client, pending)
                    raise RemoteTrainingError(
                        f"training {job.name} (flow run {run_id}) waited "
                        f"{pickup_timeout:.0f} s with no worker of pool {pool!r} online; "
                        f"start one: prefect worker start --pool {pool}"
                    )
            if pending:
                time.sleep(POLL_SECONDS)


def _relay_progress(client: Any, pending: dict[UUID, TrainJob], said: dict[UUID, str]) -> None:
    """Each running training's latest progress (its progress artifact: epoch, losses, time
    left), logged in the generate run itself when it changes, so its own log shows how the
    trainings on the pool go. Best effort: a failed read only skips one line."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with contextlib.suppress(Exception):
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=list(pending)),
                key=ArtifactFilterKey(any_=[PROGRESS_KEY]),
            )
        )
        for artifact in found:
            run_id, line = artifact.flow_run_id, artifact.description or ""
            if run_id in pending and line and said.get(run_id) != line:
                said[run_id] = line
                get_run_logger().info("%s on the pool: %s", pending[run_id].name, line)


def _cancel(client: Any, pending: dict[UUID, TrainJob]) -> None:
    from prefect.states import Cancelled

    for run_id in pending:  # best effort: the error raised next is what matters
        with contextlib.suppress(Exception):
            client.set_flow_run_state(run_id, Cancelled(message="another training failed"))


def _record(job: TrainJob) -> Trained:
    """What the worker wrote last: a model folder without it is not a finished training."""
    url = storage.join(job.model_folder, TRAINED_FILE)
    if not storage.exists(url):
        raise RemoteTrainingError(
            f"training {job.name} completed but {url} is missing: the worker cannot write to "
            "the run's storage (give it the same output root and credentials)"
        )
    return Trained.model_validate(storage.read_json(url))
