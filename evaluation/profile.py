"""A data profile: what a clinician-statistician checks before trusting a table.

Rows and duplicates; per column its type, missing share and distinct values; category ratios;
numeric statistics, a histogram and IQR outliers; and an association matrix across all columns
(Pearson r for two numbers, Cramer's V for two categories, the correlation ratio eta for a number
against a category; all in [0, 1] except Pearson in [-1, 1]).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from evaluation.encoding import MISSING_LABEL, as_float, as_labels

TOP_CATEGORIES = 20
HISTOGRAM_BINS = 20


def _numeric(series: pd.Series, is_datetime: bool) -> dict[str, Any]:
    x = as_float(series)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return {"count": 0}
    q1, median, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    iqr = q3 - q1
    outliers = int(((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr)).sum())
    counts, edges = np.histogram(x, bins=HISTOGRAM_BINS)
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    skew = float(((x - x.mean()) ** 3).mean() / std**3) if std > 0 else 0.0
    out = {
        "count": int(x.size),
        "mean": float(x.mean()),
        "std": std,
        "min": float(x.min()),
        "q1": float(q1),
        "median": float(median),
        "q3": float(q3),
        "max": float(x.max()),
        "skewness": skew,
        "outliers_iqr": outliers,
        "outlier_share": outliers / x.size,
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }
    if is_datetime:  # days since the epoch are exact but unreadable; show dates too
        out["min_date"] = str(pd.Timestamp(x.min(), unit="D").date())
        out["max_date"] = str(pd.Timestamp(x.max(), unit="D").date())
    return out


def _categorical(series: pd.Series) -> dict[str, Any]:
    counts = pd.Series(as_labels(series)).value_counts()
    share = counts / counts.sum()
    top = [
        {
            "value": "(missing)" if v == MISSING_LABEL else str(v),
            "count": int(counts[v]),
            "share": float(share[v]),
        }
        for v in counts.index[:TOP_CATEGORIES]
    ]
    levels = int(len(counts) - (MISSING_LABEL in counts.index))  # missing is not a level
    return {"levels": levels, "top": top, "other_share": float(share.iloc[TOP_CATEGORIES:].sum())}


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    table = pd.crosstab(a, b).to_numpy(dtype=float)
    if min(table.shape) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdims=True) @ table.sum(0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / n / (min(table.shape) - 1)))


def _eta(values: np.ndarray, labels: np.ndarray) -> float:
    ok = ~np.isnan(values)
    values, labels = values[ok], labels[ok]
    if values.size < 2 or values.var() == 0:
        return 0.0
    groups = pd.Series(values).groupby(labels)
    between = (groups.count() * (groups.mean() - values.mean()) ** 2).sum()
    return float(np.sqrt(between / (values.var() * values.size)))


def associations(df: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, Any]:
    cols = list(kinds)
    matrix = np.eye(len(cols))
    nums = {c: as_float(df[c]) for c, k in kinds.items() if k == "numeric"}
    labels = {c: as_labels(df[c]) for c, k in kinds.items() if k != "numeric"}
    for (i, a), (j, b) in combinations(enumerate(cols), 2):
        if a in nums and b in nums:
            value = pd.Series(nums[a]).corr(pd.Series(nums[b]))
        elif a in labels and b in labels:
            value = _cramers_v(labels[a], labels[b])
        else:
            num, lab = (nums[a], labels[b]) if a in nums else (nums[b], labels[a])
            value = _eta(num, lab)
        matrix[i, j] = matrix[j, i] = 0.0 if not np.isfinite(value) else value
    return {"columns": cols, "matrix": matrix.round(4).tolist()}


def degenerate_columns(df: pd.DataFrame) -> dict[str, str]:
    """Columns with nothing to learn and what synthetic data does with them (the policy in the
    README): an empty column stays empty, a constant one keeps its one value."""
    out = {}
    for col in df.columns:
        values = df[col].dropna()
        if values.empty:
            out[str(col)] = "empty: no value recorded; synthetic rows leave it empty"
        elif values.nunique() == 1:
            gaps = " (and its missing cells)" if len(values) < len(df) else ""
            out[str(col)] = f"constant: synthetic rows keep its one value{gaps}"
    return out


def profile_table(df: pd.DataFrame, types: Mapping[str, str]) -> dict[str, Any]:
    """``types``: spec type per column (numeric, integer, categorical, boolean, datetime)."""
    kinds = {
        c: "categorical" if t in ("categorical", "boolean") else "numeric" for c, t in types.items()
    }
    columns = {}
    for col, t in types.items():
        series = df[col]
        entry: dict[str, Any] = {
            "type": t,
            "missing": int(series.isna().sum()),
            "missing_share": float(series.isna().mean()),
            "distinct": int(series.nunique(dropna=True)),
        }
        entry.update(
            _categorical(series)
            if kinds[col] == "categorical"
            else _numeric(series, t == "datetime")
        )
        columns[col] = entry
    return {
        "rows": int(len(df)),
        "columns": int(df.shape[1]),
        "degenerate_columns": degenerate_columns(df),
        "duplicate_rows": int(df.duplicated().sum()),
        "missing_cells_share": float(df.isna().to_numpy().mean()) if df.size else 0.0,
        "column_profiles": columns,
        "associations": associations(df, kinds),
    }
