"""Conditions on sampled rows (``stage=4``, ``sex=F``): resolved against a fitted model's
transforms, so an impossible condition fails before any sampling.

Only categorical and boolean columns can be conditioned on: a number takes a given value with
probability zero, so it would need a range, not a value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from generators.schema import DatasetSpec
from generators.transforms import DiscreteTransform, Span, TableTransformer


class ConditionError(ValueError):
    """A condition that cannot be met: unknown column or value, a column that is not discrete."""


@dataclass(frozen=True)
class Condition:
    column: str
    value: Any  # the category as the model knows it (None: missing)
    index: int  # its position in the column's one-hot block
    span: Span


def same_value(category: Any, value: Any) -> bool:
    """A category equals a condition value given as text, number or bool (4 == '4' == 4.0)."""
    if category is None or value is None:
        return category is None and value in (None, "", "NA", "null")
    if str(category) == str(value) or str(category).lower() == str(value).strip().lower():
        return True
    try:
        return float(category) == float(value)
    except (TypeError, ValueError):
        return False


def resolve(
    transformer: TableTransformer, conditions: Mapping[str, Any], id_columns: list[str]
) -> list[Condition]:
    """Each condition as (column, category, one-hot position, span), or a ConditionError."""
    resolved = []
    for column, value in conditions.items():
        if column in id_columns:
            raise ConditionError(f"condition on {column!r}: ids are generated fresh")
        transform = next((t for t in transformer.transforms if t.column == column), None)
        if transform is None:
            raise ConditionError(
                f"condition on unknown column {column!r}; known: {transformer.columns}"
            )
        if not isinstance(transform, DiscreteTransform):
            raise ConditionError(
                f"condition {column}={value!r}: only categorical and boolean columns can be "
                f"conditioned on, and {column!r} is numeric or a date"
            )
        matches = [i for i, c in enumerate(transform.categories) if same_value(c, value)]
        if not matches:
            known = [c for c in transform.categories if c is not None]
            raise ConditionError(
                f"condition {column}={value!r}: not a value of {column!r}; known: {known}"
            )
        span = next(s for s in transformer.spans if s.column == column and s.discrete)
        resolved.append(Condition(column, transform.categories[matches[0]], matches[0], span))
    return resolved


def meets(matrix: np.ndarray, conditions: list[Condition]) -> np.ndarray:
    """Which encoded rows meet every condition."""
    ok = np.ones(len(matrix), dtype=bool)
    for c in conditions:
        ok &= matrix[:, c.span.start : c.span.stop].argmax(axis=1) == c.index
    return ok


def check_against_spec(spec: DatasetSpec, conditions: Mapping[str, Any]) -> None:
    """Refuse, before any training, conditions the spec already rules out."""
    for column, value in conditions.items():
        if column not in spec.names:
            raise ConditionError(f"condition on unknown column {column!r}; known: {spec.names}")
        if column in spec.id_columns:
            raise ConditionError(f"condition on {column!r}: ids are generated fresh")
        col = spec.column(column)
        if not col.is_discrete:
            raise ConditionError(
                f"condition {column}={value!r}: only categorical and boolean columns can be "
                f"conditioned on, and {column!r} is {col.type}"
            )
        allowed = [*(col.values or []), *([None] if col.nullable else [])]
        if col.values is not None and not any(same_value(v, value) for v in allowed):
            raise ConditionError(
                f"condition {column}={value!r}: not a value of {column!r}; known: {col.values}"
            )


def rows_meeting(df: pd.DataFrame, conditions: Mapping[str, Any]) -> pd.DataFrame:
    """The real rows that meet every condition (to compare conditioned output with)."""
    keep = np.ones(len(df), dtype=bool)
    for column, value in conditions.items():
        keep &= matches(df[column], value)
    return df[keep].reset_index(drop=True)


def matches(series: pd.Series, value: Any) -> np.ndarray:
    """Which cells hold ``value`` (missing matches None)."""
    return np.array(
        [same_value(None if pd.isna(v) else v, value) for v in series.astype(object)], dtype=bool
    )
