"""Step 5: sample synthetic rows from a stored model into Parquet parts.

Privacy by construction: a sampled row identical to a training row is dropped and replaced, so
no real row is ever copied into the output; how many were replaced is reported.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from pydantic import BaseModel

from evaluation.privacy import row_hashes
from generators import registry
from generators.base import CHECKPOINT_FILES
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path

MAX_TOP_UPS = 20


class Sampled(BaseModel):
    part_urls: list[str]
    rows: int
    copies_replaced: int
    seconds: float
    rows_per_second: float


def load_model(model_url: str):  # noqa: ANN201 - a Generator
    return registry.load(
        {name: storage.read_bytes(storage.join(model_url, name)) for name in CHECKPOINT_FILES}
    )


def to_output(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Datetimes read from text go back to text in their own format."""
    out = df.copy()
    for col in spec.columns:
        if col.type == "datetime" and col.format:
            values = pd.to_datetime(out[col.name])
            out[col.name] = values.dt.strftime(col.format).where(values.notna(), None)
    return out


def sample_without_copies(
    model, n: int, seed: int, forbidden: np.ndarray, id_offset: int = 0
) -> tuple[pd.DataFrame, int]:  # noqa: ANN001
    """``n`` rows none of which hashes like a forbidden (training) row; returns (rows, replaced)."""
    frames, have, replaced = [], 0, 0
    modelled = [c.name for c in model.spec.modelled]
    for attempt in range(MAX_TOP_UPS + 1):
        batch = model.sample(n - have, seed=seed + 7919 * attempt)
        copies = np.isin(row_hashes(batch[modelled]), forbidden)
        replaced += int(copies.sum())
        frames.append(batch[~copies])
        have += int((~copies).sum())
        if have == n:  # ids renumbered densely: dropped copies leave no gaps or repeats
            return model.assign_ids(pd.concat(frames, ignore_index=True), id_offset), replaced
    raise RuntimeError(
        f"the model keeps reproducing training rows ({replaced} copies in {MAX_TOP_UPS} rounds)"
    )


@task(name="sample", **TASK_OPTIONS)
def sample(
    run_url: str,
    model_url: str,
    train_url: str,
    spec: DatasetSpec,
    rows: int,
    seed: int,
    chunk_rows: int,
) -> Sampled:
    logger = get_run_logger()
    model = load_model(model_url)
    modelled = [c.name for c in spec.modelled]
    forbidden = row_hashes(storage.read_parquet(train_url)[modelled])
    start = time.perf_counter()
    urls, replaced = [], 0
    for part, first in enumerate(range(0, rows, chunk_rows)):
        size = min(chunk_rows, rows - first)
        chunk, copies = sample_without_copies(
            model, size, seed + 104729 * part, forbidden, id_offset=first
        )
        replaced += copies
        url = storage.join(run_path(run_url, "synthetic"), f"part-{part:05d}.parquet")
        urls.append(storage.write_parquet(url, to_output(chunk, spec)))
    seconds = time.perf_counter() - start
    logger.info(
        "sampled %d rows in %d part(s), %.0f rows/s; %d exact copies of training rows replaced",
        rows,
        len(urls),
        rows / max(seconds, 1e-9),
        replaced,
    )
    return Sampled(
        part_urls=urls,
        rows=rows,
        copies_replaced=replaced,
        seconds=seconds,
        rows_per_second=rows / max(seconds, 1e-9),
    )
