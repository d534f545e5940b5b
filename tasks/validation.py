"""Reading an input table and validating it against its spec.

Two layers, one report: values that cannot be read as the declared type are found while coercing
(pandas would otherwise turn a whole column into text); every other rule (presence, nulls, bounds,
allowed values, unique ids, non-empty) is a Great Expectations suite built from the spec. Any
violation raises ``DataValidationError`` naming the file, column, rule, count and examples.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from generators.constraints import breaks
from generators.schema import DatasetSpec, SpecError
from tasks import storage

MAX_EXAMPLES = 5
# numbers beyond this are refused unless a spec declares the column's bounds: past 2**53 (about
# 9e15) floats no longer hold every whole number, and such values are sentinels or unit errors
MAX_MAGNITUDE = 1e15

# what a file that is not a CSV looks like in its first bytes, and what to do about it
_NOT_CSV = [
    (b"\x1f\x8b", "gzip-compressed; decompress it first (gunzip FILE)"),
    (b"PK\x03\x04", "a ZIP archive or an Excel workbook; export the sheet as a UTF-8 CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) or Office file; export the sheet as a UTF-8 CSV"),
    (b"\xff\xfe", "UTF-16 text; save it as UTF-8 (iconv -f UTF-16 -t UTF-8 FILE)"),
    (b"\xfe\xff", "UTF-16 text; save it as UTF-8 (iconv -f UTF-16 -t UTF-8 FILE)"),
    (b"%PDF", "a PDF document; export the table as a UTF-8 CSV"),
]


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

    def without_examples(self) -> DataValidationError:
        """The same problems without example values: for messages that leave the machine's
        terminal (Prefect's state messages, logs and result storage), where real values of
        patients must not land. ``synthcare validate FILE`` shows the examples."""
        plain = [Violation(v.column, v.rule, v.count) for v in self.violations]
        return DataValidationError(self.source, plain)


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
    twice = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if twice:
        raise DataValidationError(
            url, [Violation(c, "duplicate column name; rename all but one", 0) for c in twice]
        )
    _check_numbers(url, df, spec)
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


def _check_numbers(url: str, df: pd.DataFrame, spec: DatasetSpec | None) -> None:
    """Numbers a model cannot learn from: infinities always, absurd magnitudes unless the spec
    declares the column's bounds."""
    problems = []
    for col in df.columns:
        if not pd.api.types.is_float_dtype(df[col].dtype):
            continue  # integers cannot be infinite; text is typed later
        values = df[col].to_numpy(dtype=float, na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            problems.append(
                Violation(
                    str(col),
                    "not finite (inf); leave the cell empty for a missing value",
                    int(infinite.sum()),
                    _examples(df[col][infinite]),
                )
            )
            continue
        declared = (
            spec is not None
            and col in spec.names
            and (spec.column(col).min is not None or spec.column(col).max is not None)
        )
        huge = np.abs(np.nan_to_num(values)) > MAX_MAGNITUDE
        if huge.any() and not declared:
            problems.append(
                Violation(
                    str(col),
                    f"magnitude beyond {MAX_MAGNITUDE:.0e} (a sentinel or unit error?); fix "
                    "the values, or declare the column's min and max in a spec (--spec)",
                    int(huge.sum()),
                    _examples(df[col][huge]),
                )
            )
    if problems:
        raise DataValidationError(url, problems)


def _read_csv(url: str, data: bytes, spec: DatasetSpec | None) -> pd.DataFrame:
    head = data[:8192]
    for magic, what in _NOT_CSV:
        if head.startswith(magic):
            raise _fail(url, f"not a CSV file: {what}")
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
    _check_header(url, data, sep)
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


def _check_header(url: str, data: bytes, sep: str) -> None:
    """Refuse duplicate column names (pandas would silently rename the second ``age.1``)."""
    first = data.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    names = [n.strip() for n in next(csv.reader([first.rstrip("\r")], delimiter=sep), [])]
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        seen.setdefault(name, []).append(i)
    twice = {n: at for n, at in seen.items() if len(at) > 1 and n}
    if twice:
        raise DataValidationError(
            url,
            [
                Violation(n, f"duplicate column name (columns {at}); rename all but one", 0)
                for n, at in twice.items()
            ],
        )


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


def rule_violations(df: pd.DataFrame, spec: DatasetSpec) -> list[Violation]:
    """The suite's rules (``build_suite``) checked in pandas, reported in the same words."""
    problems = []
    for col in spec.columns:
        values = df[col.name]
        present = values.notna()
        if not col.nullable and not present.all():
            problems.append(
                Violation(
                    col.name,
                    _RULES["expect_column_values_to_not_be_null"]({}),
                    int((~present).sum()),
                )
            )
        lo, hi = col.bound("min"), col.bound("max")
        if lo is not None or hi is not None:
            out = present & ((values < lo) if lo is not None else False)
            out |= present & ((values > hi) if hi is not None else False)
            if out.any():
                rule = _RULES["expect_column_values_to_be_between"](
                    {"min_value": lo, "max_value": hi}
                )
                problems.append(Violation(col.name, rule, int(out.sum()), _examples(values[out])))
        if col.is_discrete and col.values is not None:
            unknown = present & ~_in_set(values, col.values)
            if unknown.any():
                rule = _RULES["expect_column_values_to_be_in_set"]({})
                problems.append(
                    Violation(col.name, rule, int(unknown.sum()), _examples(values[unknown]))
                )
        patient = spec.sequence is not None and col.name == spec.sequence.id
        if col.name in spec.id_columns and not patient:
            twice = present & values.duplicated(keep=False)
            if twice.any():
                rule = _RULES["expect_column_values_to_be_unique"]({})
                problems.append(
                    Violation(col.name, rule, int(twice.sum()), _examples(values[twice]))
                )
    return problems


def _in_set(values: pd.Series, allowed: list[Any]) -> pd.Series:
    """Membership as Great Expectations tests it (``4`` and ``4.0`` are one value)."""
    plain = values.map(lambda v: v.item() if isinstance(v, np.generic) else v)
    return plain.isin(list(allowed))


def run_suite(df: pd.DataFrame, spec: DatasetSpec) -> list[Violation]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # no temp-folder chatter
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
def validate(
    df: pd.DataFrame, spec: DatasetSpec, source: str, expectations: bool = True
) -> pd.DataFrame:
    """The typed table, or ``DataValidationError`` listing every problem found.

    The spec's rules are checked twice: first in plain pandas (``rule_violations``: a refusal in
    a moment, without loading Great Expectations), then, on a table that passed, by the Great
    Expectations suite of record (``expectations=False`` skips it: the CLI's pre-check before a
    run whose ingest step runs the suite)."""
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
        found = rule_violations(typed[checkable], sub_spec)
        if not found and expectations:  # the suite confirms a table the quick pass accepts
            found = run_suite(typed[checkable], sub_spec)
        problems += found
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
