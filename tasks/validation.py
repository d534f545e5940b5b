"""Reading an input table and validating it against its spec.

Two layers, one report: values that cannot be read as the declared type are found while coercing
(pandas would otherwise turn a whole column into text); every other rule (presence, nulls, bounds,
allowed values, unique ids, non-empty) is a Great Expectations suite built from the spec. Any
violation raises ``DataValidationError`` naming the file, column, rule, count and examples.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from generators.constraints import breaks
from generators.schema import DatasetSpec, SpecError
from tasks import storage

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Violation:
    column: str | None
    rule: str
    count: int
    examples: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        shown = f"; e.g. {self.examples}" if self.examples else ""
        return (
            f"{where}: {self.rule}: {self.count} row(s){shown}"
            if self.count
            else f"{where}: {self.rule}"
        )


class DataValidationError(ValueError):
    """The input breaks its spec (or cannot be read); nothing has been written."""

    def __init__(self, source: str, violations: list[Violation]):
        self.source, self.violations = source, violations
        lines = "\n".join(f"  - {v}" for v in violations)
        super().__init__(f"{source}: {len(violations)} validation problem(s):\n{lines}")


def _fail(source: str, rule: str, column: str | None = None) -> DataValidationError:
    return DataValidationError(source, [Violation(column, rule, 0)])


# -- reading --------------------------------------------------------------------------------------
def read_table(url: str, spec: DatasetSpec | None = None) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame; unreadable input raises ``DataValidationError``."""
    return parse_table(url, read_input(url), spec)


def read_input(url: str) -> bytes:
    try:
        return storage.read_bytes(url)
    except FileNotFoundError:
        raise _fail(url, "file not found") from None


def parse_table(url: str, data: bytes, spec: DatasetSpec | None = None) -> pd.DataFrame:
    """Parse the bytes of ``url`` (CSV, TSV or Parquet, by content and suffix)."""
    if not data.strip():
        raise _fail(url, "empty file: no header and no rows")
    suffix = PurePosixPath(url.split("?")[0]).suffix.lower()
    if data[:4] == b"PAR1" or suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise _fail(url, f"not a readable Parquet file ({exc})") from exc
    else:
        df = _read_csv(url, data, spec)
    if len(df) == 0:
        raise _fail(url, "no rows: the file has a header but no data")
    source = file_dtypes(df)
    for col in df.columns:  # Parquet categoricals become their plain values
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].astype(df[col].cat.categories.dtype)
    df.attrs["file_dtypes"] = source  # what the output is cast back to
    return df


def file_dtypes(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Each column's dtype as the file gave it, in JSON (categories kept for categoricals)."""
    out: dict[str, dict[str, Any]] = {}
    for col in df.columns:
        dtype = df[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            cats = [v.item() if isinstance(v, np.generic) else v for v in dtype.categories]
            out[str(col)] = {
                "dtype": "category",
                "categories": cats,
                "ordered": bool(dtype.ordered),
            }
        else:
            out[str(col)] = {"dtype": str(dtype)}
    return out


def _read_csv(url: str, data: bytes, spec: DatasetSpec | None) -> pd.DataFrame:
    head = data[:8192]
    if b"\x00" in head:
        raise _fail(url, "not a CSV file: binary content (NUL bytes)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the 8 KiB boundary
            raise _fail(url, f"not a CSV file: not UTF-8 text (byte {exc.start})") from None
    first = head.lstrip()[:1]
    if first == b"<":
        raise _fail(url, "not a CSV file: it looks like markup (HTML/XML), not column names")
    if first in (b"{", b"["):
        raise _fail(url, "not a CSV file: it looks like JSON")
    sep = "\t" if url.lower().endswith(".tsv") else ","
    dtypes = _text_dtypes(spec) if spec else None
    try:
        df = pd.read_csv(io.BytesIO(data), sep=sep, dtype=dtypes, encoding="utf-8")
    except pd.errors.EmptyDataError:
        raise _fail(url, "empty file: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise _fail(url, f"not a valid CSV file ({str(exc).splitlines()[0]})") from None
    unnamed = [c for c in df.columns if str(c).startswith("Unnamed: ")]
    if unnamed and len(unnamed) == len(df.columns):
        raise _fail(url, "not a CSV file: no column names in the first line")
    return df


def _text_dtypes(spec: DatasetSpec) -> dict[str, str]:
    """Read as text what must stay text: dates, and codes such as '007' that look like numbers."""
    out = {}
    for col in spec.columns:
        if col.type == "datetime" and col.format:
            out[col.name] = "str"
        elif col.is_discrete and col.values and all(isinstance(v, str) for v in col.values):
            out[col.name] = "str"
    return out


# -- coercion (type rules) --------------------------------------------------------------------------
def coerce(df: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, list[Violation]]:
    """Cast each spec column to its type; values that do not fit are violations."""
    out, problems = df.copy(), []
    for col in spec.columns:
        if col.name not in df.columns:
            continue
        series, rule = df[col.name], None
        raw_present = series.notna()
        if col.type in ("numeric", "integer"):
            values = pd.to_numeric(series, errors="coerce")
            bad = raw_present & values.isna()
            rule = f"type {col.type}: not a number"
            if col.type == "integer" and not bad.any():
                frac = values.notna() & (values != np.round(values))
                if frac.any():
                    bad, rule = frac, "type integer: has a fractional part"
            if not bad.any():
                if col.type == "integer":
                    values = values.astype("Int64" if values.isna().any() else "int64")
                out[col.name] = values
        elif col.type == "datetime":
            if pd.api.types.is_datetime64_any_dtype(series.dtype):
                values = series
            else:
                values = pd.to_datetime(series, format=col.format, errors="coerce")
            bad = raw_present & values.isna()
            rule = f"type datetime: does not parse{' as ' + col.format if col.format else ''}"
            if not bad.any():
                out[col.name] = values.astype("datetime64[ns]")
        else:
            bad = pd.Series(False, index=series.index)
        if bad.any():
            problems.append(Violation(col.name, rule, int(bad.sum()), _examples(series[bad])))
    return out, problems


def _examples(values: pd.Series) -> list[Any]:
    return [
        v.item() if isinstance(v, np.generic) else v
        for v in pd.unique(values.dropna())[:MAX_EXAMPLES]
    ]


# -- Great Expectations ---------------------------------------------------------------------------
def build_suite(spec: DatasetSpec):  # noqa: ANN201 - returns gx.ExpectationSuite (lazy import)
    """The Great Expectations suite that says what the spec says."""
    import great_expectations as gx

    ex = gx.expectations
    suite = gx.ExpectationSuite(name=f"synthcare-{spec.name}")
    suite.add_expectation(ex.ExpectTableRowCountToBeBetween(min_value=1))
    for col in spec.columns:
        suite.add_expectation(ex.ExpectColumnToExist(column=col.name))
        if not col.nullable:
            suite.add_expectation(ex.ExpectColumnValuesToNotBeNull(column=col.name))
        lo, hi = col.bound("min"), col.bound("max")
        if lo is not None or hi is not None:
            suite.add_expectation(
                ex.ExpectColumnValuesToBeBetween(column=col.name, min_value=lo, max_value=hi)
            )
        if col.is_discrete and col.values is not None:
            suite.add_expectation(
                ex.ExpectColumnValuesToBeInSet(column=col.name, value_set=list(col.values))
            )
        patient = spec.sequence is not None and col.name == spec.sequence.id
        if col.name in spec.id_columns and not patient:  # a patient's id repeats per visit
            suite.add_expectation(ex.ExpectColumnValuesToBeUnique(column=col.name))
    return suite


_RULES = {
    "expect_column_to_exist": lambda kw: "missing column: the spec declares it, the file lacks it",
    "expect_column_values_to_not_be_null": lambda kw: "not nullable: missing values",
    "expect_column_values_to_be_between": lambda kw: (
        f"out of range [{kw.get('min_value')}, {kw.get('max_value')}]"
    ),
    "expect_column_values_to_be_in_set": lambda kw: "unknown category (not in the spec's values)",
    "expect_column_values_to_be_unique": lambda kw: "id column: duplicate values",
    "expect_table_row_count_to_be_between": lambda kw: "empty table",
}


def run_suite(df: pd.DataFrame, spec: DatasetSpec) -> list[Violation]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("synthcare")
        .add_dataframe_asset(spec.name)
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": df})
    )
    result = batch.validate(
        build_suite(spec),
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
    )
    order = {c: i for i, c in enumerate(spec.names)}
    problems = []
    for item in result.results:
        if item.success:
            continue
        cfg = item.expectation_config
        column = cfg.kwargs.get("column")
        describe = _RULES.get(cfg.type, lambda kw, name=cfg.type: name)
        details = item.result or {}
        examples = [v for v in details.get("partial_unexpected_list", []) if not _is_nan(v)]
        examples = list(dict.fromkeys(map(_plain, examples)))[:MAX_EXAMPLES]
        problems.append(
            Violation(
                column, describe(cfg.kwargs), int(details.get("unexpected_count") or 0), examples
            )
        )
    return sorted(problems, key=lambda v: (order.get(v.column, -1), v.rule))


def _is_nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


# -- the whole check ------------------------------------------------------------------------------
def validate(df: pd.DataFrame, spec: DatasetSpec, source: str) -> pd.DataFrame:
    """The typed table, or ``DataValidationError`` listing every problem found."""
    problems = [
        Violation(c, "unexpected column: not declared in the spec", 0)
        for c in df.columns
        if c not in spec.names
    ]
    typed, type_problems = coerce(df, spec)
    problems += type_problems
    broken = {v.column for v in type_problems}
    checkable = [c for c in spec.names if c in typed.columns and c not in broken]
    sub_spec = spec.model_copy(update={"columns": [spec.column(c) for c in checkable]})
    present = [c for c in spec.names if c not in typed.columns]
    problems += [Violation(c, _RULES["expect_column_to_exist"]({}), 0) for c in present]
    if checkable:
        problems += run_suite(typed[checkable], sub_spec)
    for rule in spec.constraints:
        if not set(rule.columns) <= set(checkable):
            continue  # its columns already have problems of their own
        bad = breaks(typed, rule)
        if bad.any():
            examples = typed.loc[bad, rule.columns].head(3).to_dict("records")
            problems.append(
                Violation(
                    ", ".join(rule.columns),
                    f"constraint {rule.describe()}",
                    int(bad.sum()),
                    examples,
                )
            )
    if problems:
        raise DataValidationError(source, problems)
    return typed[spec.names]


def read_spec(url: str, target: str | None = None) -> DatasetSpec:
    """A spec YAML from a path or URL, with a ``--target`` applied (a contradiction is refused)."""
    return check_spec_against(DatasetSpec.from_yaml(storage.read_bytes(url).decode(), url), target)


def check_spec_against(spec: DatasetSpec, target: str | None) -> DatasetSpec:
    """Apply a CLI ``--target`` to a given spec, refusing a contradiction."""
    if target is None or target == spec.target:
        return spec
    if target not in spec.names:
        raise SpecError(f"--target {target!r} is not a column of the spec; known: {spec.names}")
    if spec.target is not None:
        raise SpecError(f"--target {target!r} contradicts the spec's target {spec.target!r}")
    return spec.model_copy(update={"target": target})
