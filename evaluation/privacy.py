"""Privacy: are synthetic rows copies of, or suspiciously close to, the patients they learnt from?

- exact copies: synthetic rows identical to a training row in every column.
- DCR share: for each synthetic row, is its nearest training row closer than its nearest holdout
  row? Train and holdout come from the same population and are compared at equal size, so a
  generator that does not memorise gives about 0.5; well above 0.5 means it sits on its training
  patients.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from evaluation.encoding import Kind, TableEncoder

DCR_ROWS = 20_000  # synthetic rows scored; larger outputs are subsampled (stated in the result)


_NAN = np.float64(-1.2345e300)  # stands for a missing number inside the hash


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One hash per row, equal for equal values whatever the dtype (1 == 1.0, NaN == NaN)."""
    parts = {}
    for col in df.columns:
        series = df[col]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series.astype("datetime64[ns]")
            ns = values.to_numpy().astype("int64").astype(np.float64)
            parts[col] = np.where(values.isna().to_numpy(), _NAN, ns)
        elif pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype
        ):
            numbers = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
            parts[col] = np.where(np.isnan(numbers), _NAN, numbers)
        else:
            parts[col] = series.astype(object).where(series.notna(), None).astype(str).to_numpy()
    return pd.util.hash_pandas_object(pd.DataFrame(parts), index=False).to_numpy()


def exact_copies(train: pd.DataFrame, synth: pd.DataFrame) -> int:
    """How many synthetic rows equal some training row in every shared column."""
    cols = [c for c in train.columns if c in synth.columns]
    return int(np.isin(row_hashes(synth[cols]), row_hashes(train[cols])).sum())


def _encoded_references(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    seed: int,
    max_rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train and holdout at equal size (so 0.5 is the honest baseline) and at most ``max_rows``
    synthetic rows, in one range-scaled space fitted on the training rows."""
    rng = np.random.default_rng(seed)
    n_ref = min(len(train), len(holdout))
    tr = train.iloc[rng.choice(len(train), n_ref, replace=False)]
    ho = holdout.iloc[rng.choice(len(holdout), n_ref, replace=False)]
    sy = synth.iloc[rng.choice(len(synth), min(len(synth), max_rows), replace=False)]
    enc = TableEncoder.fit(train, kinds, scaling="range")
    return enc.transform(tr), enc.transform(ho), enc.transform(sy)


def dcr(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    *,
    seed: int = 0,
    max_rows: int = DCR_ROWS,
) -> dict[str, float]:
    x_tr, x_ho, x_sy = _encoded_references(train, holdout, synth, kinds, seed, max_rows)
    d_tr = NearestNeighbors(n_neighbors=1).fit(x_tr).kneighbors(x_sy)[0][:, 0]
    d_ho = NearestNeighbors(n_neighbors=1).fit(x_ho).kneighbors(x_sy)[0][:, 0]
    closer = (d_tr < d_ho).mean() + 0.5 * (d_tr == d_ho).mean()
    return {
        "share": float(closer),
        "median_distance_train": float(np.median(d_tr)),
        "median_distance_holdout": float(np.median(d_ho)),
        "reference_rows": len(x_tr),
        "synthetic_rows_scored": len(x_sy),
    }


def membership_inference(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    *,
    seed: int = 0,
    max_rows: int = DCR_ROWS,
) -> dict[str, float]:
    """A distance-based membership-inference attack: the attacker, holding the synthetic data,
    guesses that a patient was in the training set when a synthetic row lies close to them.

    Members are training rows, non-members the holdout (equal numbers); the attack's ROC AUC is
    0.5 when synthetic rows are no closer to members than to non-members, 1.0 when they give
    every member away.
    """
    from sklearn.metrics import roc_auc_score

    members, others, x_sy = _encoded_references(train, holdout, synth, kinds, seed, max_rows)
    index = NearestNeighbors(n_neighbors=1).fit(x_sy)
    d_members = index.kneighbors(members)[0][:, 0]
    d_others = index.kneighbors(others)[0][:, 0]
    labels = np.concatenate([np.ones(len(members)), np.zeros(len(others))])
    auc = roc_auc_score(labels, -np.concatenate([d_members, d_others]))
    return {"distance_auc": float(auc), "reference_rows": len(members)}
