"""The generation flow: ingest -> profile -> split -> train -> sample -> evaluate -> publish.

Patient histories (a long table: ``time_column``, or a spec with sequence roles) take the same
steps with their sequence forms: the sequence rules at ingest, a split by patient, a sequence
generator (``dgan`` by default), ``rows`` counting patients, and the history scores.

With generator ``auto`` the train step fans out: every candidate (family x seed) is trained on
part of the training split and scored on the rest, and the chosen one is trained on all of it
(``tasks.select`` holds the rule).

Runs embedded (no server) or against the Prefect API in ``PREFECT_API_URL``. Its one parameter,
the typed ``RunConfig``, is the form the Prefect UI shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from prefect import flow, get_run_logger

from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import FLOW_OPTIONS, new_run_id, run_path
from tasks.config import RunConfig
from tasks.evaluate import evaluate
from tasks.ingest import ingest
from tasks.inputs import data_kind
from tasks.profile import profile
from tasks.publish import publish
from tasks.remote import TrainJob, check_deployment, train_on_pool
from tasks.reuse import reuse_model, store_model, store_url
from tasks.sample import sample
from tasks.select import (
    Selection,
    candidates,
    estimated_width,
    fold_count,
    planning_rows,
    pooled,
    record_choice,
    score_candidate,
    validation_split,
)
from tasks.select_sequence import choose_sequence_family
from tasks.split import Split, split
from tasks.train import Trained, train

T = TypeVar("T")


class RunRejected(RuntimeError):
    """The release gate refused the synthetic data; the run folder holds the reasons."""

    def __init__(self, run_url: str, reasons: list[str]):
        self.run_url, self.reasons = run_url, reasons
        super().__init__(
            f"run rejected by the release gate ({run_url}):\n"
            + "\n".join(f"  - {r}" for r in reasons)
        )


class _Clock:
    """Wall seconds per step, for the manifest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        start = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 3)


@flow(name="generate", **FLOW_OPTIONS)
def generate(config: RunConfig, overrides: dict[str, Any] | None = None) -> str:
    """Validate, profile, split, train, sample, score and publish one synthetic dataset.

    ``overrides``: fields merged into ``config`` (dicts such as ``gate`` one level deep), so a
    deployment's stored config changes one field at a time from the command line:
    ``prefect deployment run generate/flchain-weekly --param overrides='{"epochs": 5}'``.
    Returns the URL of the run folder; raises ``RunRejected`` when the release gate refuses it.
    """
    logger = get_run_logger()
    config = config.with_overrides(overrides)
    kind = data_kind(config)  # "table" or "sequence" (patient histories)
    settings = config.generator_settings(kind)  # a bad generator setting fails before any work
    if config.train_deployment:  # so does a training deployment that is not there
        check_deployment(config.train_deployment)
    run_url = storage.join(config.output, config.dataset_name, "runs", new_run_id())
    clock = _Clock()

    ingested = clock("ingest", ingest, config, run_url)
    spec = ingested.spec
    profile_url = clock("profile", profile, run_url, spec)
    parts = clock("split", split, run_url, spec, config.holdout_fraction, config.seed)
    store = store_url(config, ingested.input_sha256, spec)
    reused = None if config.retrain else clock("reuse", reuse_model, store, run_url)
    if reused is not None:  # same input, same training settings: no training
        trained, selection = reused
    else:
        trained, selection = _train(
            run_url, parts, spec, config, settings, clock, config.generator_name(kind)
        )
        clock("store", store_model, store, trained, selection)
    sampled = clock(
        "sample",
        sample,
        run_url,
        trained.model_url,
        parts.train_url,
        spec,
        config.rows or ingested.patients or ingested.rows,  # patients, for histories
        config.seed,
        config.chunk_rows,
        config.sampling_pool(kind),
        ingested.file_dtypes,
        config.conditions,
    )
    metrics = clock(
        "evaluate",
        evaluate,
        run_url,
        parts.train_url,
        parts.holdout_url,
        sampled.part_urls,
        spec,
        config.seed,
        config.gate.model_dump(),
        trained.privacy,
        config.conditions,
    )
    results = {
        "kind": kind,
        "spec_inferred": ingested.spec_inferred,
        "profile": profile_url,
        "split": parts.model_dump(),
        "train": trained.model_dump(),
        "input_dtypes": ingested.file_dtypes,  # for the sample flow's output
        **({"auto": selection.model_dump(mode="json")} if selection else {}),
        "sample": sampled.model_dump(),
    }
    published = clock(
        "publish",
        publish,
        run_url,
        config,
        ingested.input_sha256,
        results,
        clock.seconds,
        metrics,
        sampled.part_urls,
    )
    if published.status != "complete":
        raise RunRejected(run_url, published.reasons)  # the flow run ends Failed, reasons shown
    logger.info("run complete: %s", run_url)
    return run_url


def _train(
    run_url: str,
    parts: Split,
    spec: DatasetSpec,
    config: RunConfig,
    settings: dict[str, Any],
    clock: _Clock,
    generator: str,
) -> tuple[Trained, Selection | None]:
    """One training, or with generator auto the candidates' fan-out first."""
    seed, selection = config.seed, None
    if generator == "auto":
        if spec.sequence is not None:  # histories: by the data's shape
            selection = clock("select", choose_sequence_family, parts.train_url, spec, seed)
        else:
            selection = clock("select", _select, run_url, parts, spec, config)
        generator, settings = selection.chosen.generator, selection.chosen.settings
        seed = selection.chosen.seed
    job = TrainJob(
        name=f"{generator}-s{seed}",
        generator=generator,
        settings=settings,
        seed=seed,
        train_url=parts.train_url,
        model_folder=run_path(run_url, "model"),
    )
    (trained,) = clock("train", _trainings, run_url, spec, config, [job], config.progress)
    return trained, selection


def _select(run_url: str, parts: Split, spec: DatasetSpec, config: RunConfig) -> Selection:
    """Fan-out: train every candidate on each validation fold (in parallel on the train
    deployment's pool when there is one), score each, then choose."""
    width = estimated_width(spec)
    chosen_from, skipped = candidates(config, planning_rows(parts.train_rows), width, spec)
    folds = fold_count(
        parts.train_rows,
        chosen_from,
        folds=config.auto_folds,
        width=width,
        time_budget=config.time_budget,
        spec=spec,
    )
    cuts = validation_split(run_url, parts.train_url, spec, config.seed, folds)
    jobs = [
        TrainJob(
            name=c.name if folds == 1 else f"{c.name}-f{k}",
            generator=c.generator,
            settings=c.settings,
            seed=c.seed,
            train_url=cut.fit_url,
            model_folder=storage.join(
                run_url, "auto", *([] if folds == 1 else [f"fold-{k}"]), c.name, "model"
            ),
        )
        for c in chosen_from
        for k, cut in enumerate(cuts, 1)
    ]
    trainings = _trainings(run_url, spec, config, jobs, False)
    per_candidate = [trainings[i : i + folds] for i in range(0, len(trainings), folds)]
    gate = config.gate.model_dump()
    scored = [
        pooled(
            [
                score_candidate(candidate, trained.model_url, trained.fit_seconds, cut, spec, gate)
                for cut, trained in zip(cuts, trained_on_folds, strict=True)
            ]
        )
        for candidate, trained_on_folds in zip(chosen_from, per_candidate, strict=True)
    ]
    return record_choice(run_url, scored, skipped, folds)


def _trainings(
    run_url: str, spec: DatasetSpec, config: RunConfig, jobs: list[TrainJob], progress: bool
) -> list[Trained]:
    """The jobs as runs of ``config.train_deployment`` (parallel, on its pool) or in-process."""
    checkpoints = storage.join(config.output, config.dataset_name, "training")
    if config.train_deployment:
        return train_on_pool(
            config.train_deployment,
            run_url,
            jobs,
            config.checkpoint_every,
            config.train_pickup_timeout,
        )
    return [
        train(
            run_url,
            job.train_url,
            spec,
            job.generator,
            job.settings,
            job.seed,
            progress,
            checkpoints,
            config.checkpoint_every,
            job.model_folder,
        )
        for job in jobs
    ]
