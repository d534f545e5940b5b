"""Which rows break a spec's constraints: one pure check, used by validation (real rows must keep
them, or the spec is wrong) and by sampling (synthetic rows that break one are replaced)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from generators.conditions import matches
from generators.schema import Constraint, DatasetSpec
from generators.transforms import ContinuousTransform


def _numbers(series: pd.Series) -> np.ndarray:
    kind = "datetime" if pd.api.types.is_datetime64_any_dtype(series.dtype) else "numeric"
    return ContinuousTransform.to_float(series, kind)


def breaks(df: pd.DataFrame, rule: Constraint) -> np.ndarray:
    """One flag per row: does it break the rule? (a missing value breaks no inequality)"""
    if rule.less_equal:
        low, high = (_numbers(df[c].reset_index(drop=True)) for c in rule.less_equal)
        with np.errstate(invalid="ignore"):
            return low > high  # NaN compares False
    out = np.ones(len(df), dtype=bool)
    for column, value in rule.forbidden.items():
        out &= matches(df[column], value)
    return out


def breaking_any(df: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    out = np.zeros(len(df), dtype=bool)
    for rule in spec.constraints:
        out |= breaks(df, rule)
    return out
