"""Whole records across tables: the checks a database passes before anything trains.

Each table's primary key present and unique, every foreign key found in its parent (orphans
counted, up to the share the schema allows), every declared date rule kept (up to its allowed
share). One line per problem, naming the table, the column, the rule and the count.
"""

from __future__ import annotations

import pandas as pd

from evaluation.records import containment
from generators.records import RecordSchema


def check_records(tables: dict[str, pd.DataFrame], schema: RecordSchema) -> list[str]:
    """Every way the tables break the schema, one line each (table, column, rule, count)."""
    problems = []
    for name, table in schema.tables.items():
        if name not in tables:
            problems.append(f"{name}: table missing")
            continue
        df = tables[name]
        pk = table.primary_key
        if pk is not None:
            if pk not in df.columns:
                problems.append(f"{name}.{pk}: primary key column missing")
                continue
            if df[pk].isna().any():
                problems.append(
                    f"{name}.{pk}: primary key empty in {int(df[pk].isna().sum())} rows"
                )
            dupes = int(df[pk].duplicated().sum())
            if dupes:
                problems.append(f"{name}.{pk}: primary key not unique ({dupes} repeated values)")
        for fk in table.foreign_keys:
            parent = schema.tables[fk.parent].primary_key
            if fk.column not in df.columns or fk.parent not in tables:
                problems.append(f"{name}.{fk.column}: foreign key to {fk.parent} missing")
                continue
            present = df[fk.column].dropna()
            orphans = int((~present.isin(tables[fk.parent][parent])).sum())
            if orphans > fk.max_orphans * len(df):
                problems.append(
                    f"{name}.{fk.column}: {orphans} of {len(df)} rows refer to no "
                    f"{fk.parent}.{parent} (allowed {fk.max_orphans:.1%})"
                )
    for rule in schema.dates:
        if rule.table not in tables or rule.parent not in tables:
            continue
        broken, rows = containment(tables, schema, rule)
        if broken > rule.max_violations * rows:
            problems.append(
                f"{rule.table}.{rule.column}: {broken} of {rows} rows outside "
                f"{rule.parent}.{rule.start}..{rule.end} (allowed {rule.max_violations:.1%})"
            )
    return problems
