"""Step 3: split real rows into train and holdout, stratified on the target and seeded.

Patient histories are split by patient: all of a patient's visits land on the same side.
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
from tasks.inputs import MIN_HOLDOUT_ROWS, MIN_TRAIN_ROWS


class Split(BaseModel):
    train_url: str
    holdout_url: str
    train_rows: int
    holdout_rows: int
    stratified: bool
    train_patients: int | None = None  # patient histories: patients per side
    holdout_patients: int | None = None


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
    if len(train) < MIN_TRAIN_ROWS or len(holdout) < MIN_HOLDOUT_ROWS:  # checked at ingest
        raise ValueError(
            f"{len(df)} rows are too few: a {fraction:.0%} holdout leaves {len(train)} training rows "
            f"(need {MIN_TRAIN_ROWS}) and {len(holdout)} holdout rows (need {MIN_HOLDOUT_ROWS})"
        )
    return train.reset_index(drop=True), holdout.reset_index(drop=True), strata is not None


def split_histories(
    df: pd.DataFrame, spec: DatasetSpec, fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """``split_frame`` over patients (their first visit carries the static target); every visit
    follows its patient, in the input's order."""
    patient = spec.sequence.id
    first = df.drop_duplicates(patient).reset_index(drop=True)
    try:
        train, _, stratified = split_frame(first, spec, fraction, seed)
    except ValueError as exc:
        raise ValueError(str(exc).replace(" rows", " patients")) from None
    in_train = df[patient].isin(train[patient]).to_numpy()
    return (
        df[in_train].reset_index(drop=True),
        df[~in_train].reset_index(drop=True),
        stratified,
    )


@task(name="split", **TASK_OPTIONS)
def split(run_url: str, spec: DatasetSpec, fraction: float, seed: int) -> Split:
    df = storage.read_parquet(run_path(run_url, "validated"))
    histories = spec.sequence is not None
    train, holdout, stratified = (split_histories if histories else split_frame)(
        df, spec, fraction, seed
    )
    patients = {}
    if histories:
        patients = {
            "train_patients": int(train[spec.sequence.id].nunique()),
            "holdout_patients": int(holdout[spec.sequence.id].nunique()),
        }
    result = Split(
        train_url=storage.write_parquet(run_path(run_url, "train"), train),
        holdout_url=storage.write_parquet(run_path(run_url, "holdout"), holdout),
        train_rows=len(train),
        holdout_rows=len(holdout),
        stratified=stratified,
        **patients,
    )
    get_run_logger().info(
        "split: %d train / %d holdout rows%s%s",
        len(train),
        len(holdout),
        f" ({patients['train_patients']} / {patients['holdout_patients']} patients)"
        if histories
        else "",
        f", stratified on {spec.target}" if stratified else "",
    )
    return result
