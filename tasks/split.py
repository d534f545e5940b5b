"""Step 3: split real rows into train and holdout, stratified on the target and seeded.

The holdout never reaches the generator: it is only read by the evaluation.
"""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from pydantic import BaseModel
from sklearn.model_selection import train_test_split

from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path

MIN_TRAIN_ROWS = 10


class Split(BaseModel):
    train_url: str
    holdout_url: str
    train_rows: int
    holdout_rows: int
    stratified: bool


def split_frame(
    df: pd.DataFrame, spec: DatasetSpec, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    strata = None
    if spec.target and spec.column(spec.target).is_discrete:
        labels = (
            df[spec.target].astype(object).where(df[spec.target].notna(), "__missing__").astype(str)
        )
        if labels.value_counts().min() >= 2:
            strata = labels
    train, holdout = train_test_split(df, test_size=fraction, random_state=seed, stratify=strata)
    if len(train) < MIN_TRAIN_ROWS or len(holdout) < 2:
        raise ValueError(
            f"{len(df)} rows are too few: a {fraction:.0%} holdout leaves {len(train)} training rows "
            f"(need {MIN_TRAIN_ROWS}) and {len(holdout)} holdout rows (need 2)"
        )
    return train.reset_index(drop=True), holdout.reset_index(drop=True), strata is not None


@task(name="split", **TASK_OPTIONS)
def split(run_url: str, spec: DatasetSpec, fraction: float, seed: int) -> Split:
    df = storage.read_parquet(run_path(run_url, "validated"))
    train, holdout, stratified = split_frame(df, spec, fraction, seed)
    result = Split(
        train_url=storage.write_parquet(run_path(run_url, "train"), train),
        holdout_url=storage.write_parquet(run_path(run_url, "holdout"), holdout),
        train_rows=len(train),
        holdout_rows=len(holdout),
        stratified=stratified,
    )
    get_run_logger().info(
        "split: %d train / %d holdout rows%s",
        len(train),
        len(holdout),
        f", stratified on {spec.target}" if stratified else "",
    )
    return result
