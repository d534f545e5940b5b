"""Step 5: sample synthetic rows from a stored model into Parquet parts.

Privacy by construction: a sampled row identical to a training row is dropped and replaced, so
no real row is ever copied into the output; how many were replaced is reported.

Discriminator-guided sampling (``guidance_pool`` > 1): a density-ratio classifier is fitted on the
training rows against a calibration sample of the model's rows; each part is then drawn from a pool
``guidance_pool`` times larger, keeping rows in proportion to how real they look. It needs at
least ``GUIDANCE_MIN_ROWS`` training rows; the run's results record the pool actually used.

Patient histories: ``rows`` counts patients; a synthetic history equal to a training patient's
whole history is replaced the same way, and the parts hold whole patients.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from pydantic import BaseModel

from evaluation.density_ratio import (
    DensityRatio,
    effective_sample_size,
    fit_density_ratio,
    weighted_choice,
)
from evaluation.privacy import history_hashes, row_hashes
from generators import registry
from generators.base import CHECKPOINT_FILES
from generators.conditions import rows_meeting
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.evaluate import one_thread_when_small

MAX_TOP_UPS = 20
# Below this many training rows the density ratio is estimated from too few patients and pulls
# synthetic rows towards them (benchmarks/README.md: up to +0.05 DCR share / membership AUC at
# 240 rows, none at 6,300); sampling is then plain.
GUIDANCE_MIN_ROWS = 1000


class Sampled(BaseModel):
    part_urls: list[str]
    rows: int
    copies_replaced: int
    seconds: float
    rows_per_second: float
    guidance_pool: int = 1
    effective_sample_share: float | None = None  # Kish ESS of the pool weights / pool size
    patients: int | None = None  # patient histories: ``rows`` counts their visits

    @classmethod
    def of(cls, urls: list[str], rows: int, replaced: int, seconds: float, **extra: Any) -> Sampled:
        return cls(
            part_urls=urls,
            rows=rows,
            copies_replaced=replaced,
            seconds=seconds,
            rows_per_second=rows / max(seconds, 1e-9),
            **extra,
        )


def load_model(model_url: str):  # noqa: ANN201 - a Generator
    return registry.load(
        {name: storage.read_bytes(storage.join(model_url, name)) for name in CHECKPOINT_FILES}
    )


def to_output(
    df: pd.DataFrame, spec: DatasetSpec, file_dtypes: dict[str, dict[str, Any]] | None = None
) -> pd.DataFrame:
    """The input file's representation: dates read from text back to text in their format, and
    each column cast back to the file's dtype where that is lossless (categoricals, datetime units,
    an integer column with gaps that the CSV reader made float)."""
    out = df.copy()
    for col in spec.columns:
        if col.type == "datetime" and col.format:
            values = pd.to_datetime(out[col.name])
            out[col.name] = values.dt.strftime(col.format).where(values.notna(), None)
    for name, info in (file_dtypes or {}).items():
        if name not in out.columns or str(out[name].dtype) == info["dtype"]:
            continue
        if info["dtype"] == "category":
            out[name] = pd.Categorical(
                out[name], categories=info["categories"], ordered=info["ordered"]
            )
            continue
        try:
            cast = out[name].astype(info["dtype"])
        except (TypeError, ValueError):
            continue  # e.g. an int column whose output has gaps keeps its nullable dtype
        if cast.isna().equals(out[name].isna()):
            out[name] = cast
    return out


def sample_without_copies(
    model,  # noqa: ANN001
    n: int,
    seed: int,
    forbidden: np.ndarray,
    id_offset: int = 0,
    conditions: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, int]:
    """``n`` rows none of which hashes like a forbidden (training) row; returns (rows, replaced)."""
    frames, have, replaced = [], 0, 0
    modelled = [c.name for c in model.spec.modelled]
    for attempt in range(MAX_TOP_UPS + 1):
        batch = model.sample(n - have, seed=seed + 7919 * attempt, conditions=conditions)
        copies = np.isin(row_hashes(batch[modelled]), forbidden)
        replaced += int(copies.sum())
        frames.append(batch[~copies])
        have += int((~copies).sum())
        if have == n:  # ids renumbered densely: dropped copies leave no gaps or repeats
            return model.assign_ids(pd.concat(frames, ignore_index=True), id_offset), replaced
    raise RuntimeError(
        f"the model keeps reproducing training rows ({replaced} copies in {MAX_TOP_UPS} rounds)"
    )


def fit_guidance(
    model,  # noqa: ANN001
    train: pd.DataFrame,
    spec: DatasetSpec,
    seed: int,
    forbidden: np.ndarray,
) -> DensityRatio:
    """The density ratio guided sampling draws by: the training rows against a calibration
    sample of as many of the model's rows (seed + 1)."""
    modelled = [c.name for c in spec.modelled]
    calibration, _ = sample_without_copies(model, len(train), seed + 1, forbidden)
    with one_thread_when_small(len(train)):
        return fit_density_ratio(train[modelled], calibration[modelled], spec.kinds(), seed=seed)


def class_quotas(shares: dict, n: int) -> dict:
    """Rows per class for ``n`` rows at the given shares (largest remainders, summing to ``n``)."""
    raw = {k: v * n for k, v in shares.items()}
    quotas = {k: int(np.floor(v)) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - quotas[k], reverse=True)[
        : n - sum(quotas.values())
    ]:
        quotas[k] += 1
    return quotas


def guided_sample(
    model,
    n: int,
    seed: int,
    forbidden: np.ndarray,
    ratio,
    pool: int,  # noqa: ANN001
    id_offset: int = 0,
    target_shares: dict | None = None,
    conditions: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, int, float]:
    """``n`` rows chosen from ``pool * n`` by density ratio; returns (rows, replaced, ESS share).

    With ``target_shares`` (a categorical target's training shares) the choice is made within each
    class, so reweighting never shifts the outcome's prevalence.
    """
    candidates, replaced = sample_without_copies(
        model, pool * n, seed, forbidden, conditions=conditions
    )
    weights = ratio.weights(candidates)
    rng = np.random.default_rng(seed)
    if target_shares is None:
        keep = weighted_choice(weights, n, rng)
    else:
        labels = (
            candidates[model.spec.target]
            .astype(object)
            .where(candidates[model.spec.target].notna(), None)
        )
        keep_parts, short = [], 0
        for label, quota in class_quotas(target_shares, n).items():
            members = np.flatnonzero(
                (labels == label).to_numpy() if label is not None else labels.isna().to_numpy()
            )
            take = min(quota, len(members))
            short += quota - take
            keep_parts.append(members[weighted_choice(weights[members], take, rng)])
        keep = np.concatenate(keep_parts)
        if short:  # a class the model rarely produces: fill up from the rest, by weight
            rest = np.setdiff1d(np.arange(len(candidates)), keep)
            keep = np.concatenate([keep, rest[weighted_choice(weights[rest], short, rng)]])
        keep = np.sort(keep)
    rows = model.assign_ids(candidates.iloc[keep], id_offset)
    return rows, replaced, effective_sample_size(weights) / len(weights)


def draw(
    model,  # noqa: ANN001
    train: pd.DataFrame,
    spec: DatasetSpec,
    n: int,
    seed: int,
    guidance_pool: int = 1,
) -> tuple[pd.DataFrame, int]:
    """``n`` rows as one part of the sample task draws them (no copy of a training row; guided
    from a pool when ``guidance_pool`` > 1), outside Prefect: for scoring a candidate or a
    benchmark. Returns (rows, copies replaced)."""
    forbidden = row_hashes(train[[c.name for c in spec.modelled]])
    if guidance_pool <= 1 or len(train) < GUIDANCE_MIN_ROWS:
        return sample_without_copies(model, n, seed, forbidden)
    ratio = fit_guidance(model, train, spec, seed, forbidden)
    rows, replaced, _ = guided_sample(
        model, n, seed, forbidden, ratio, guidance_pool, 0, target_shares(train, spec)
    )
    return rows, replaced


def target_shares(train: pd.DataFrame, spec: DatasetSpec) -> dict | None:
    if not spec.target or not spec.column(spec.target).is_discrete:
        return None
    values = train[spec.target].astype(object).where(train[spec.target].notna(), None)
    return {k: v for k, v in values.value_counts(normalize=True, dropna=False).items()}


def sample_histories(
    model,  # noqa: ANN001 - a sequence generator
    n: int,
    seed: int,
    forbidden: np.ndarray,
    first_id: int = 0,
) -> tuple[pd.DataFrame, int]:
    """``n`` synthetic patients (ids ``first_id``...), none of whose whole history equals a
    forbidden (training) one; returns (long table, histories replaced)."""
    roles = model.spec.sequence
    frames, have, replaced = [], 0, 0
    for attempt in range(MAX_TOP_UPS + 1):
        batch = model.sample(n - have, seed=seed + 7919 * attempt, first_id=0)
        hashes = history_hashes(batch, roles.id, roles.time)
        copied = hashes.index[np.isin(hashes.to_numpy(), forbidden)]
        replaced += len(copied)
        kept = batch[~batch[roles.id].isin(copied)].copy()
        kept[roles.id] = pd.factorize(kept[roles.id])[0] + have  # dense, in sampled order
        frames.append(kept)
        have += len(hashes) - len(copied)
        if have == n:
            out = pd.concat(frames, ignore_index=True)
            out[roles.id] = out[roles.id] + first_id
            return out, replaced
    raise RuntimeError(
        f"the model keeps reproducing training histories ({replaced} copies in {MAX_TOP_UPS} "
        "rounds)"
    )


def _sample_histories_task(
    run_url: str,
    model,  # noqa: ANN001
    train: pd.DataFrame,
    spec: DatasetSpec,
    patients: int,
    seed: int,
    chunk_rows: int,
    file_dtypes: dict[str, dict[str, Any]] | None,
) -> Sampled:
    logger = get_run_logger()
    roles = spec.sequence
    forbidden = history_hashes(train, roles.id, roles.time).to_numpy()
    visits = len(train) / max(1, train[roles.id].nunique())
    per_part = max(1, int(chunk_rows // max(1.0, visits)))  # parts of about chunk_rows visits
    start = time.perf_counter()
    urls, replaced, rows = [], 0, 0
    for part, first in enumerate(range(0, patients, per_part)):
        size, part_seed = min(per_part, patients - first), seed + 104729 * (part + 1)
        chunk, copies = sample_histories(model, size, part_seed, forbidden, first_id=first)
        replaced += copies
        rows += len(chunk)
        url = storage.join(run_path(run_url, "candidate"), f"part-{part:05d}.parquet")
        urls.append(storage.write_parquet(url, to_output(chunk, spec, file_dtypes)))
    seconds = time.perf_counter() - start
    logger.info(
        "sampled %d patients (%d visits) in %d part(s), %.0f patients/s; %d copies of training "
        "histories replaced",
        patients,
        rows,
        len(urls),
        patients / max(seconds, 1e-9),
        replaced,
    )
    return Sampled.of(urls, rows, replaced, seconds, patients=patients)


@task(name="sample", **TASK_OPTIONS)
def sample(
    run_url: str,
    model_url: str,
    train_url: str,
    spec: DatasetSpec,
    rows: int,
    seed: int,
    chunk_rows: int,
    guidance_pool: int = 1,
    file_dtypes: dict[str, dict[str, Any]] | None = None,
    conditions: dict[str, Any] | None = None,
) -> Sampled:
    """``rows`` synthetic rows (patients, for patient histories) into Parquet parts."""
    logger = get_run_logger()
    model = load_model(model_url)
    modelled = [c.name for c in spec.modelled]
    train = storage.read_parquet(train_url)
    if spec.sequence is not None:
        if conditions:
            raise ValueError("conditions are not supported for patient histories")
        return _sample_histories_task(
            run_url, model, train, spec, rows, seed, chunk_rows, file_dtypes
        )
    forbidden = row_hashes(train[modelled])
    start = time.perf_counter()
    ratio, ess = None, []
    if guidance_pool > 1 and len(train) < GUIDANCE_MIN_ROWS:
        logger.info("guided sampling off: %d training rows < %d", len(train), GUIDANCE_MIN_ROWS)
        guidance_pool = 1
    if guidance_pool > 1:
        ratio = fit_guidance(model, train, spec, seed, forbidden)
        # the outcome's prevalence among the real patients who meet the conditions
        shares = target_shares(rows_meeting(train, conditions or {}), spec)
    urls, replaced = [], 0
    for part, first in enumerate(range(0, rows, chunk_rows)):
        size, part_seed = min(chunk_rows, rows - first), seed + 104729 * (part + 1)
        if ratio is None:
            chunk, copies = sample_without_copies(
                model, size, part_seed, forbidden, id_offset=first, conditions=conditions
            )
        else:
            chunk, copies, share = guided_sample(
                model, size, part_seed, forbidden, ratio, guidance_pool, first, shares, conditions
            )
            ess.append(share)
        replaced += copies
        url = storage.join(run_path(run_url, "candidate"), f"part-{part:05d}.parquet")
        urls.append(storage.write_parquet(url, to_output(chunk, spec, file_dtypes)))
    seconds = time.perf_counter() - start
    logger.info(
        "sampled %d rows in %d part(s), %.0f rows/s%s; %d exact copies of training rows replaced",
        rows,
        len(urls),
        rows / max(seconds, 1e-9),
        f", guided from a {guidance_pool}x pool" if ratio else "",
        replaced,
    )
    return Sampled.of(
        urls,
        rows,
        replaced,
        seconds,
        guidance_pool=guidance_pool,
        effective_sample_share=float(np.mean(ess)) if ess else None,
    )
