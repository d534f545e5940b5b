"""The dataset spec: what each column is, which rules it obeys, and its role.

The spec is the contract between the user's file and everything downstream: validation builds its
Great Expectations suite from it, generators encode columns by its types, evaluation picks predictors
from it. When the user gives none, ``infer_spec`` writes one from the data that they can edit and reuse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ColumnType = Literal["numeric", "integer", "categorical", "boolean", "datetime"]
Scalar = str | int | float | bool

# Integer columns with at most this many distinct values are coded categories (group, year, stage).
MAX_CODED_INTEGER_LEVELS = 10
DATETIME_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
)
_BOOLEAN_WORDS = {"true", "false", "yes", "no", "y", "n", "t", "f", "0", "1"}


def problems_of(exc: ValidationError, whole: str = "") -> str:
    """A pydantic error's problems in one line: ``field.path: message; ...`` (``whole`` names
    a problem of the object itself)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or whole}: {e['msg']}" for e in exc.errors()
    )


class SpecError(ValueError):
    """A spec that cannot be used: unreadable, or inconsistent with itself."""


class ColumnSpec(BaseModel):
    """One column: its type and the rules every row must satisfy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ColumnType
    nullable: bool = True
    min: int | float | str | None = None  # numbers; ISO dates for datetime columns
    max: int | float | str | None = None
    values: list[Scalar] | None = None  # allowed values of categorical / boolean columns
    format: str | None = None  # strftime format of datetime columns stored as text
    decimals: int | None = None  # numeric precision to reproduce (e.g. 1 for creatinine 1.3)
    # datetime columns: generated as a time after an earlier datetime column (discharge after
    # admission), so the order holds in every row and the length of stay is what is learnt
    offset_from: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ColumnSpec:
        if self.type in ("categorical", "boolean") and (
            self.min is not None or self.max is not None
        ):
            raise ValueError(
                f"column {self.name!r}: min/max apply to numbers and dates, not {self.type}"
            )
        if self.values is not None and self.type not in ("categorical", "boolean"):
            raise ValueError(
                f"column {self.name!r}: 'values' applies to categorical/boolean columns"
            )
        if self.format is not None and self.type != "datetime":
            raise ValueError(f"column {self.name!r}: 'format' applies to datetime columns")
        if self.offset_from is not None and self.type != "datetime":
            raise ValueError(f"column {self.name!r}: 'offset_from' applies to datetime columns")
        return self

    @property
    def is_discrete(self) -> bool:
        return self.type in ("categorical", "boolean")

    def bound(self, which: Literal["min", "max"]) -> float | pd.Timestamp | None:
        """The bound in the column's own units (Timestamp for datetimes)."""
        value = getattr(self, which)
        if value is None:
            return None
        return pd.Timestamp(value) if self.type == "datetime" else float(value)


class Constraint(BaseModel):
    """A rule between columns that every row must keep (exactly one of the two forms).

    - ``less_equal: [admission, discharge]``: the first is at most the second wherever both are
      present (numbers or dates);
    - ``forbidden: {sex: M, pregnant: "yes"}``: no row has all of these values at once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    less_equal: list[str] | None = Field(None, min_length=2, max_length=2)
    forbidden: dict[str, Scalar] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def _one_form(self) -> Constraint:
        if (self.less_equal is None) == (self.forbidden is None):
            raise ValueError("a constraint is either 'less_equal: [a, b]' or 'forbidden: {...}'")
        return self

    @property
    def columns(self) -> list[str]:
        return list(self.less_equal or self.forbidden or [])

    def describe(self) -> str:
        if self.less_equal:
            return f"{self.less_equal[0]} <= {self.less_equal[1]}"
        return "never " + " with ".join(f"{k}={v!r}" for k, v in self.forbidden.items())


class SequenceRoles(BaseModel):
    """A long table of patient histories: one row per visit (or sample), ``id`` naming the
    patient, ``time`` the visit's time in the data's own units (increasing within a patient).
    ``static`` columns hold one value per patient (age, sex, outcome); every other modelled
    column is temporal (a measurement at that visit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    time: str
    static: list[str] = Field(default_factory=list)


class DatasetSpec(BaseModel):
    """A table: its columns in order, its prediction target and the columns' roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "dataset"
    columns: list[ColumnSpec]
    target: str | None = None
    id_columns: list[str] = Field(default_factory=list)
    # Columns that must not be used as predictors of the target (follow-up time, cause of death):
    # they are generated like any other column but kept out of the utility models.
    non_predictors: list[str] = Field(default_factory=list)
    # Survival target: the target is the event indicator and this column the follow-up time;
    # utility then also scores the concordance index of risk predictions.
    survival_time: str | None = None
    # Privacy roles: columns an attacker may know about a patient (age, sex, postcode) and
    # columns they must not learn (diagnoses, results). k-anonymity is measured over the first,
    # attribute inference against the second.
    quasi_identifiers: list[str] = Field(default_factory=list)
    sensitive: list[str] = Field(default_factory=list)
    # Rules between columns that every real and every synthetic row keeps.
    constraints: list[Constraint] = Field(default_factory=list)
    # Patient histories (a long table) instead of one row per patient: see SequenceRoles.
    sequence: SequenceRoles | None = None

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {dupes}")
        for role in ("id_columns", "non_predictors", "quasi_identifiers", "sensitive"):
            unknown = [c for c in getattr(self, role) if c not in names]
            if unknown:
                raise ValueError(f"{role} names unknown columns {unknown}; known: {names}")
        for role in ("quasi_identifiers", "sensitive"):
            ids = [c for c in getattr(self, role) if c in self.id_columns]
            if ids:
                raise ValueError(f"{role} cannot hold id columns {ids} (ids are generated fresh)")
        for i, col in enumerate(self.columns):
            if col.offset_from is None:
                continue
            earlier = {c.name: c for c in self.columns[:i]}
            ref = earlier.get(col.offset_from)
            if ref is None or ref.type != "datetime" or ref.name in self.id_columns:
                raise ValueError(
                    f"column {col.name!r}: offset_from {col.offset_from!r} must name an earlier "
                    "datetime column"
                )
        by_name = {c.name: c for c in self.columns}
        for rule in self.constraints:
            unknown = [c for c in rule.columns if c not in by_name]
            if unknown:
                raise ValueError(f"constraint {rule.describe()}: unknown columns {unknown}")
            types = {by_name[c].type for c in rule.columns}
            if rule.less_equal and not (types <= {"numeric", "integer"} or types == {"datetime"}):
                raise ValueError(
                    f"constraint {rule.describe()}: compares two numbers or two dates, not {sorted(types)}"
                )
            if rule.forbidden and not all(by_name[c].is_discrete for c in rule.columns):
                raise ValueError(
                    f"constraint {rule.describe()}: 'forbidden' applies to categorical or boolean columns"
                )
        both = sorted(set(self.quasi_identifiers) & set(self.sensitive))
        if both:
            raise ValueError(f"columns {both} cannot be both quasi-identifier and sensitive")
        if self.survival_time is not None:
            if self.survival_time not in names:
                raise ValueError(
                    f"survival_time {self.survival_time!r} is not a column; known: {names}"
                )
            if self.target is None or self.column(self.survival_time).is_discrete:
                raise ValueError(
                    f"survival_time {self.survival_time!r} needs a numeric column and an event "
                    "indicator as target"
                )
            if self.survival_time == self.target:
                raise ValueError("survival_time and target must be different columns")
        if self.target is not None:
            if self.target not in names:
                raise ValueError(f"target {self.target!r} is not a column; known: {names}")
            if self.target in self.id_columns:
                raise ValueError(f"target {self.target!r} cannot be an id column")
        if self.sequence is not None:
            self._check_sequence(names)
        return self

    def _check_sequence(self, names: list[str]) -> None:
        roles = self.sequence
        for role, name in (("id", roles.id), ("time", roles.time)):
            if name not in names:
                raise ValueError(f"sequence {role} column {name!r} is not a column; known: {names}")
        if roles.id not in self.id_columns:
            raise ValueError(f"sequence id column {roles.id!r} must be one of id_columns")
        if self.column(roles.time).type not in ("numeric", "integer"):
            raise ValueError(
                f"sequence time column {roles.time!r} must be numeric (time in its units, e.g. "
                "days or years since baseline)"
            )
        unknown = [c for c in roles.static if c not in names]
        if unknown:
            raise ValueError(f"sequence static columns {unknown} are not columns; known: {names}")
        if {roles.id, roles.time} & set(roles.static):
            raise ValueError("sequence static columns cannot hold the id or time column")
        if self.target is not None and self.target not in roles.static:
            raise ValueError(
                f"target {self.target!r} of a sequence dataset must be static (one value per "
                "patient)"
            )

    @property
    def temporal(self) -> list[str]:
        """A sequence dataset's measurement columns (modelled, neither static nor time)."""
        if self.sequence is None:
            return []
        skip = {self.sequence.time, *self.sequence.static}
        return [c.name for c in self.modelled if c.name not in skip]

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"no column {name!r} in spec; known: {[c.name for c in self.columns]}")

    def with_ranges(self, ranges: Mapping[str, tuple[Any, Any]]) -> DatasetSpec:
        """This spec with ``ranges`` (column -> (min, max)) declared, e.g. the bounds a clinician
        would give, which differential privacy needs instead of the data's own extremes."""
        for name in ranges:
            self.column(name)  # an unknown column raises, naming the known ones
        columns = [
            c.model_copy(update={"min": ranges[c.name][0], "max": ranges[c.name][1]})
            if c.name in ranges
            else c
            for c in self.columns
        ]
        return self.model_copy(update={"columns": columns})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def modelled(self) -> list[ColumnSpec]:
        """Columns a generator learns (ids are generated fresh, never learnt)."""
        return [c for c in self.columns if c.name not in self.id_columns]

    @property
    def predictors(self) -> list[str]:
        skip = {self.target, self.survival_time, *self.id_columns, *self.non_predictors}
        return [c.name for c in self.columns if c.name not in skip]

    def kinds(self) -> dict[str, Literal["numeric", "categorical"]]:
        """Modelled columns as evaluation sees them: ordered numbers or unordered labels."""
        return {c.name: "categorical" if c.is_discrete else "numeric" for c in self.modelled}

    # -- YAML ---------------------------------------------------------------------------------
    def to_yaml(self) -> str:
        data = self.model_dump(mode="json", exclude_defaults=False)
        for col in data["columns"]:
            for key in [k for k, v in col.items() if v is None]:
                del col[key]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str, source: str = "spec") -> DatasetSpec:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SpecError(
                f"{source}: expected a mapping with 'columns', got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{source}: invalid spec: {problems_of(exc, 'spec')}") from exc

    @classmethod
    def from_file(cls, path: str | Path) -> DatasetSpec:
        return cls.from_yaml(Path(path).read_text(), source=str(path))


# -- inference ----------------------------------------------------------------------------------
def detect_datetime_format(values: pd.Series) -> str | None:
    """The first common format that parses every non-null value, or None."""
    text = values.dropna().astype(str)
    if text.empty or not text.str.contains(r"\d", regex=True).all():
        return None
    probe = text.iloc[: min(len(text), 2000)]
    for fmt in DATETIME_FORMATS:
        parsed = pd.to_datetime(probe, format=fmt, errors="coerce")
        if parsed.notna().all() and pd.to_datetime(text, format=fmt, errors="coerce").notna().all():
            return fmt
    return None


def mixed_datetime_formats(values: pd.Series) -> dict[str, int]:
    """When every value is a date but no one format reads them all: the formats that do, each
    with how many values it reads first (greedy, most first); else empty."""
    text = values.dropna().astype(str)
    if text.empty or not text.str.contains(r"\d", regex=True).all():
        return {}
    left, found = text, {}
    while not left.empty:
        reads = {
            fmt: pd.to_datetime(left, format=fmt, errors="coerce").notna()
            for fmt in DATETIME_FORMATS
        }
        fmt, ok = max(reads.items(), key=lambda item: int(item[1].sum()))
        if not ok.any():
            return {}  # some values are no date at all: text, not mixed dates
        found[fmt], left = int(ok.sum()), left[~ok]
    return found if len(found) > 1 else {}


def count_decimals(values: pd.Series, max_decimals: int = 6) -> int | None:
    """The fewest decimals that represent every value exactly, or None when there are more."""
    arr = values.dropna().to_numpy(dtype=float)
    if arr.size == 0:
        return None
    arr = arr[: min(arr.size, 20000)]
    for d in range(max_decimals + 1):
        if np.allclose(np.round(arr, d), arr, rtol=0, atol=1e-9 * max(1.0, np.abs(arr).max())):
            return d
    return None


def _python(value: Any) -> Scalar:
    """A numpy/pandas scalar as the plain Python value YAML can hold."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _sorted_values(values: pd.Series) -> list[Scalar]:
    uniq = [_python(v) for v in pd.unique(values.dropna())]
    try:
        return sorted(uniq)  # type: ignore[type-var]
    except TypeError:
        return sorted(uniq, key=str)


def infer_column(name: str, series: pd.Series) -> ColumnSpec:
    """A column spec from data: type, nullability, observed bounds or values."""
    nullable = bool(series.isna().any())
    non_null = series.dropna()
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(series.cat.categories.dtype)
        non_null = series.dropna()
    if pd.api.types.is_bool_dtype(series.dtype):
        return ColumnSpec(name=name, type="boolean", nullable=nullable, values=[False, True])
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        lo, hi = (non_null.min(), non_null.max()) if len(non_null) else (None, None)
        return ColumnSpec(
            name=name,
            type="datetime",
            nullable=nullable,
            min=None if lo is None else lo.isoformat(),
            max=None if hi is None else hi.isoformat(),
        )
    if pd.api.types.is_numeric_dtype(series.dtype):
        arr = non_null.to_numpy(dtype=float)
        integral = bool(arr.size) and bool(
            np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))
        )
        uniq = set(np.unique(arr).tolist()) if arr.size else set()
        if integral and uniq <= {0.0, 1.0} and len(uniq) == 2:
            return ColumnSpec(name=name, type="boolean", nullable=nullable, values=[0, 1])
        if integral and len(uniq) <= MAX_CODED_INTEGER_LEVELS:
            return ColumnSpec(
                name=name, type="categorical", nullable=nullable, values=_sorted_values(non_null)
            )
        lo = _python(arr.min()) if arr.size else None
        hi = _python(arr.max()) if arr.size else None
        if integral:
            return ColumnSpec(name=name, type="integer", nullable=nullable, min=lo, max=hi)
        return ColumnSpec(
            name=name,
            type="numeric",
            nullable=nullable,
            min=lo,
            max=hi,
            decimals=count_decimals(non_null),
        )
    # text
    fmt = detect_datetime_format(non_null)
    if fmt is not None:
        parsed = pd.to_datetime(non_null.astype(str), format=fmt)
        return ColumnSpec(
            name=name,
            type="datetime",
            nullable=nullable,
            format=fmt,
            min=parsed.min().isoformat(),
            max=parsed.max().isoformat(),
        )
    mixed = mixed_datetime_formats(non_null)
    if mixed:
        found = ", ".join(f"{fmt}: {n} values" for fmt, n in mixed.items())
        raise SpecError(
            f"column {name!r}: dates in {len(mixed)} formats ({found}); write every date in one "
            "format (ISO 2024-01-31 is safest), or declare the column in a spec"
        )
    words = {str(v).strip().lower() for v in pd.unique(non_null)}
    if words and words <= _BOOLEAN_WORDS and len(words) == 2:
        return ColumnSpec(
            name=name, type="boolean", nullable=nullable, values=_sorted_values(non_null)
        )
    return ColumnSpec(
        name=name, type="categorical", nullable=nullable, values=_sorted_values(non_null)
    )


_ID_NAME = re.compile(r"(^|[_\W])(id|ids|mrn|uuid|patient_?id)$", re.IGNORECASE)


def infer_spec(
    df: pd.DataFrame,
    *,
    name: str = "dataset",
    target: str | None = None,
    id_columns: list[str] | None = None,
    non_predictors: list[str] | None = None,
    survival_time: str | None = None,
    quasi_identifiers: list[str] | None = None,
    sensitive: list[str] | None = None,
) -> DatasetSpec:
    """Infer a spec from a table. Text or id-named integer columns unique in every row are ids."""
    ids = list(id_columns or [])
    columns = []
    for col in df.columns:
        series = df[col]
        if col not in ids and col != target and len(series) >= 20 and series.notna().all():
            unique = series.nunique() == len(series)
            is_text = not pd.api.types.is_numeric_dtype(series.dtype)
            if (
                unique
                and (is_text or _ID_NAME.search(str(col)))
                and detect_datetime_format(series) is None
            ):
                ids.append(str(col))
        columns.append(infer_column(str(col), series))
    columns = _infer_offsets(df, columns)
    # Ids are arbitrary labels: new patients bring new ones, so no bounds and no value lists.
    columns = [
        c.model_copy(update={"min": None, "max": None, "values": None}) if c.name in ids else c
        for c in columns
    ]
    try:
        return DatasetSpec(
            name=name,
            columns=columns,
            target=target,
            id_columns=ids,
            non_predictors=list(non_predictors or []),
            survival_time=survival_time,
            quasi_identifiers=list(quasi_identifiers or []),
            sensitive=list(sensitive or []),
        )
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise SpecError(f"{name}: cannot infer a spec: {problems}") from exc


def _infer_offsets(df: pd.DataFrame, columns: list[ColumnSpec]) -> list[ColumnSpec]:
    """A datetime column that is never before an earlier datetime column (in every row holding
    both, at least 20 of them) is generated as an offset from the latest such column."""
    dates: dict[str, pd.Series] = {}
    out = []
    for col in columns:
        if col.type != "datetime":
            out.append(col)
            continue
        values = pd.to_datetime(df[col.name], format=col.format, errors="coerce")
        after = [
            name
            for name, ref in dates.items()
            if (both := values.notna() & ref.notna()).sum() >= 20
            and (values[both] >= ref[both]).all()
            and (values[both] > ref[both]).any()
        ]
        if after:  # the closest predecessor: the one with the smallest median gap
            gaps = {name: (values - dates[name]).median() for name in after}
            col = col.model_copy(update={"offset_from": min(gaps, key=gaps.get)})
        dates[col.name] = values
        out.append(col)
    return out


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
