"""Whole records across tables: the checks a database passes before anything trains.

One Great Expectations suite per table, built from the schema (``record_suite``) and run on
the table with its parents' date columns joined in (``checked_frame``):

- its primary key present (``expect_column_values_to_not_be_null``) and unique
  (``expect_column_values_to_be_unique``);
- every foreign key found in its parent (``expect_column_values_to_be_in_set`` over the parent's
  keys; orphans up to the share the schema allows, ``ForeignKey.max_orphans``);
- every date rule on it kept: the date on or after its parent's start and on or before its
  end (``expect_column_pair_values_a_to_be_greater_than_b``, ``or_equal``; rows without the date
  or without a parent are not counted; up to ``DateRule.max_violations``; ``by_day`` compares
  calendar days).

One line per problem, naming the table, the column, the rule and the count. Values of patients
never enter the lines: they go to Prefect's logs and state messages.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from generators.records import RecordSchema

_START, _END = "__start__", "__end__"  # the parent's interval, joined beside the dated column


def checked_frame(tables: dict[str, pd.DataFrame], schema: RecordSchema, name: str) -> pd.DataFrame:
    """Table ``name`` with, for each date rule on it, its parent's start and end beside it
    (``__start__<column>``, ``__end__<column>``; empty where the row has no parent)."""
    frame = tables[name]
    extra = {}
    for rule in schema.dates:
        if rule.table != name or not _applies(tables, schema, rule):
            continue
        link = schema.link(name, rule.parent)
        pk = schema.tables[rule.parent].primary_key
        parent = tables[rule.parent].drop_duplicates(pk).set_index(pk)
        start = frame[link].map(pd.to_datetime(parent[rule.start]))
        end = frame[link].map(pd.to_datetime(parent[rule.end]))
        if rule.by_day:
            start, end = start.dt.normalize(), end.dt.normalize()
        extra[_START + rule.column] = start
        extra[_END + rule.column] = end
        extra[rule.column] = pd.to_datetime(frame[rule.column])
    return frame.assign(**extra) if extra else frame


def _applies(tables: dict[str, pd.DataFrame], schema: RecordSchema, rule: Any) -> bool:
    """Can the date rule be checked: both tables there with the columns it reads (a missing
    key or date column is reported as such, not as broken dates)?"""
    if rule.table not in tables or rule.parent not in tables:
        return False
    child, parent = tables[rule.table].columns, tables[rule.parent].columns
    link = schema.link(rule.table, rule.parent)
    pk = schema.tables[rule.parent].primary_key
    return {link, rule.column} <= set(child) and {pk, rule.start, rule.end} <= set(parent)


def record_suite(tables: dict[str, pd.DataFrame], schema: RecordSchema, name: str):  # noqa: ANN201
    """The Great Expectations suite table ``name`` must pass (gx.ExpectationSuite; call it
    inside a GX context)."""
    import great_expectations as gx

    ex = gx.expectations
    table = schema.tables[name]
    suite = gx.ExpectationSuite(name=f"synthcare-records-{name}")
    if table.primary_key is not None:
        suite.add_expectation(ex.ExpectColumnToExist(column=table.primary_key))
        suite.add_expectation(ex.ExpectColumnValuesToNotBeNull(column=table.primary_key))
        suite.add_expectation(ex.ExpectColumnValuesToBeUnique(column=table.primary_key))
    for fk in table.foreign_keys:
        parent_key = schema.tables[fk.parent].primary_key
        if fk.parent not in tables or parent_key not in tables[fk.parent].columns:
            continue
        keys = tables[fk.parent][parent_key].dropna().unique().tolist()
        suite.add_expectation(ex.ExpectColumnToExist(column=fk.column))
        suite.add_expectation(
            ex.ExpectColumnValuesToBeInSet(column=fk.column, value_set=[_plain(k) for k in keys])
        )
    for rule in schema.dates:
        if rule.table != name or not _applies(tables, schema, rule):
            continue
        for a, b in ((rule.column, _START + rule.column), (_END + rule.column, rule.column)):
            suite.add_expectation(
                ex.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing"
                )
            )
    return suite


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _validate(tables: dict[str, pd.DataFrame], schema: RecordSchema, name: str) -> list[Any]:
    """The results of table ``name``'s suite on its checked frame (an ephemeral GX context)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    frame = checked_frame(tables, schema, name)
    suite = record_suite(tables, schema, name)
    batch = (
        context.data_sources.add_pandas("synthcare-records")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    return batch.validate(suite, result_format={"result_format": "BASIC"}).results


def check_records(tables: dict[str, pd.DataFrame], schema: RecordSchema) -> list[str]:
    """Every way the tables break the schema, one line each (table, column, rule, count)."""
    problems = []
    for name in schema.tables:
        if name not in tables:
            problems.append(f"{name}: table missing")
            continue
        results = _validate(tables, schema, name)
        problems += _describe(results, tables, schema, name, len(tables[name]))
    return problems


def _describe(
    results: list[Any],
    tables: dict[str, pd.DataFrame],
    schema: RecordSchema,
    name: str,
    rows: int,
) -> list[str]:
    """The failed expectations of one table, in words, within what the schema allows."""
    table = schema.tables[name]
    missing = {
        r.expectation_config.kwargs["column"]
        for r in results
        if r.expectation_config.type == "expect_column_to_exist" and not r.success
    }
    counts: dict[tuple[str, str], int] = {}
    for r in results:
        kind, kw = r.expectation_config.type, r.expectation_config.kwargs
        if kind != "expect_column_to_exist" and not r.success:
            column = kw.get("column") or kw.get("column_A")
            counts[(kind, column)] = int((r.result or {}).get("unexpected_count") or 0)
    out = []
    pk = table.primary_key
    if pk is not None and pk in missing:
        return [f"{name}.{pk}: primary key column missing"]
    if pk is not None:
        empty = counts.get(("expect_column_values_to_not_be_null", pk), 0)
        if empty:
            out.append(f"{name}.{pk}: primary key empty in {empty} rows")
        shared = counts.get(("expect_column_values_to_be_unique", pk), 0)
        if shared:
            out.append(f"{name}.{pk}: primary key not unique ({shared} rows share a value)")
    for fk in table.foreign_keys:
        parent_key = schema.tables[fk.parent].primary_key
        if fk.column in missing or fk.parent not in tables:
            out.append(f"{name}.{fk.column}: foreign key to {fk.parent} missing")
            continue
        orphans = counts.get(("expect_column_values_to_be_in_set", fk.column), 0)
        if orphans > fk.max_orphans * rows:
            out.append(
                f"{name}.{fk.column}: {orphans} of {rows} rows refer to no "
                f"{fk.parent}.{parent_key} (allowed {fk.max_orphans:.1%})"
            )
    for rule in schema.dates:
        if rule.table != name:
            continue
        needed = [(name, rule.column), (rule.parent, rule.start), (rule.parent, rule.end)]
        for where, column in needed:
            if where in tables and column not in tables[where].columns:
                out.append(f"{where}.{column}: date column of a date rule missing")
        if not _applies(tables, schema, rule):
            continue
        kind = "expect_column_pair_values_a_to_be_greater_than_b"
        before = counts.get((kind, rule.column), 0)
        after = counts.get((kind, _END + rule.column), 0)
        frame_dates = (
            tables[name][rule.column].notna() & tables[name][schema.link(name, rule.parent)].notna()
        )
        dated = int(frame_dates.sum())
        if before + after > rule.max_violations * dated:
            out.append(
                f"{rule.table}.{rule.column}: {before + after} of {dated} rows outside "
                f"{rule.parent}.{rule.start}..{rule.end} ({before} before the start, {after} "
                f"after the end; allowed {rule.max_violations:.1%})"
            )
    return out
