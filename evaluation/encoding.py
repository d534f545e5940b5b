"""One numeric encoding of mixed tables for the evaluators (classifiers, nearest neighbours).

Fitted on real data only, so real and synthetic rows land in the same space:
numbers (datetimes as days) are centred and scaled, with a missing-indicator column;
categories become one-hot columns, missing being a category, rare ones pooled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "categorical"]
MAX_LEVELS = 50
MISSING_LABEL = "__missing__"
_OTHER = "__other__"


def as_float(series: pd.Series) -> np.ndarray:
    """Numbers as floats; datetimes (typed or text) as days since the epoch."""
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = series.astype("datetime64[ns]")
        out = values.to_numpy().astype("int64").astype(float) / 86_400e9
        out[values.isna().to_numpy()] = np.nan
        return out
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float).to_numpy(dtype=float, na_value=np.nan)
    return as_float(pd.to_datetime(series, errors="coerce"))


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def as_labels(series: pd.Series) -> np.ndarray:
    """Categories as strings, missing as its own label (so 1 and 1.0 and '1' agree).

    Each distinct value is converted once, so 100k-row columns cost a factorisation."""
    codes, uniques = pd.factorize(series.astype(object), use_na_sentinel=True)
    names = np.array([*(_label(v) for v in uniques), MISSING_LABEL], dtype=object)
    return names[codes]  # code -1 (missing) picks the last name


@dataclass
class TableEncoder:
    kinds: dict[str, Kind]
    scaling: Literal["standard", "range"] = "standard"
    centre: dict[str, float] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        real: pd.DataFrame,
        kinds: Mapping[str, Kind],
        scaling: Literal["standard", "range"] = "standard",
    ) -> TableEncoder:
        enc = cls(dict(kinds), scaling)
        for col, kind in enc.kinds.items():
            if kind == "numeric":
                x = as_float(real[col])
                x = x[~np.isnan(x)]
                if x.size == 0:
                    enc.centre[col], enc.scale[col] = 0.0, 1.0
                elif scaling == "range":
                    enc.centre[col], enc.scale[col] = float(x.min()), float(np.ptp(x)) or 1.0
                else:
                    enc.centre[col], enc.scale[col] = float(x.mean()), float(x.std()) or 1.0
            else:
                counts = pd.Series(as_labels(real[col])).value_counts()
                enc.levels[col] = counts.index[:MAX_LEVELS].tolist()
        return enc

    def widths(self) -> dict[str, int]:
        """How many encoded columns each input column takes, in ``transform``'s order."""
        return {
            col: 2 if kind == "numeric" else len(self.levels[col]) + 1
            for col, kind in self.kinds.items()
        }

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        blocks = []
        for col, kind in self.kinds.items():
            if kind == "numeric":
                x = (as_float(df[col]) - self.centre[col]) / self.scale[col]
                missing = np.isnan(x)
                # range scaling maps real values to [0, 1]; a missing value sits at distance 1
                blocks += [np.where(missing, 0.0, x)[:, None], missing[:, None].astype(float)]
            else:
                levels = self.levels[col]
                codes = pd.Categorical(as_labels(df[col]), categories=levels).codes.astype(int)
                codes[codes < 0] = len(levels)  # unseen in the real data
                onehot = np.zeros((len(df), len(levels) + 1))
                onehot[np.arange(len(df)), codes] = 1.0  # last column: levels unseen in real data
                blocks.append(onehot)
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(df), 0))
