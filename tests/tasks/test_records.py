"""Cross-table checks before anything trains: each names the table, column, rule and count."""

import pandas as pd

from generators.records import RecordSchema, parse_dates
from tasks.records import check_records
from tests.generators.test_records import clinic_database


def test_a_clean_database_passes_and_each_break_is_named() -> None:
    tables, schema = clinic_database(200, seed=3)
    assert check_records(parse_dates(tables), schema) == []
    broken = {n: df.copy() for n, df in tables.items()}
    broken["patients"].loc[1, "patient_id"] = broken["patients"].loc[0, "patient_id"]
    broken["labs"].loc[:2, "visit_id"] = -7  # three labs of no visit
    late = broken["labs"]["visit_id"] > 0
    broken["labs"].loc[late[late].index[:4], "taken"] = pd.Timestamp("2030-01-01")
    problems = check_records(parse_dates(broken), schema)
    assert "patients.patient_id: primary key not unique (2 rows share a value)" in problems
    assert any(
        p.startswith("labs.visit_id: 3 of ") and "refer to no visits.visit_id" in p
        for p in problems
    )
    assert any(
        p.startswith("labs.taken: 4 of ") and "outside visits.start..end" in p for p in problems
    )
    missing = {n: df for n, df in tables.items() if n != "labs"}
    assert "labs: table missing" in check_records(parse_dates(missing), schema)


def test_a_schema_that_cannot_hold_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="refers to wards, which is not a table"):
        RecordSchema.model_validate(
            {
                "tables": {
                    "stays": {
                        "primary_key": "id",
                        "foreign_keys": [{"column": "ward", "parent": "wards"}],
                    }
                }
            }
        )
    with pytest.raises(ValueError, match="form a cycle"):
        RecordSchema.model_validate(
            {
                "tables": {
                    "a": {"primary_key": "id", "foreign_keys": [{"column": "b", "parent": "b"}]},
                    "b": {"primary_key": "id", "foreign_keys": [{"column": "a", "parent": "a"}]},
                }
            }
        )
    with pytest.raises(ValueError, match="is not the parent"):
        RecordSchema.model_validate(
            {
                "tables": {"p": {"primary_key": "id"}, "c": {"primary_key": "id"}},
                "dates": [{"table": "c", "column": "t", "parent": "p", "start": "a", "end": "b"}],
            }
        )


def test_the_checks_are_a_great_expectations_suite_per_table() -> None:
    import great_expectations as gx

    from tasks.records import checked_frame, record_suite

    tables, schema = clinic_database(60, seed=4)
    tables = parse_dates(tables)
    gx.get_context(mode="ephemeral")
    kinds = [e.expectation_type for e in record_suite(tables, schema, "labs").expectations]
    assert kinds.count("expect_column_values_to_be_in_set") == len(
        schema.tables["labs"].foreign_keys
    )
    assert kinds.count("expect_column_pair_values_a_to_be_greater_than_b") == 2
    assert {"expect_column_values_to_be_unique", "expect_column_values_to_not_be_null"} <= set(
        kinds
    )
    frame = checked_frame(tables, schema, "labs")
    inside = frame["__start__taken"].notna()
    assert (frame.loc[inside, "taken"] >= frame.loc[inside, "__start__taken"]).all()


def test_before_the_start_and_after_the_end_are_counted_apart_and_orphans_within_the_allowance() -> (
    None
):
    tables, schema = clinic_database(200, seed=3)
    broken = {n: df.copy() for n, df in tables.items()}
    dated = broken["labs"].index[broken["labs"]["visit_id"].notna()]
    broken["labs"].loc[dated[:2], "taken"] = pd.Timestamp("1990-01-01")
    broken["labs"].loc[dated[2:5], "taken"] = pd.Timestamp("2030-01-01")
    broken["patients"].loc[0, "patient_id"] = None
    lines = check_records(parse_dates(broken), schema)
    assert any(" (2 before the start, 3 after the end; allowed 0.0%)" in p for p in lines)
    assert "patients.patient_id: primary key empty in 1 rows" in lines
    raw = schema.model_dump()
    for fk in raw["tables"]["labs"]["foreign_keys"]:
        fk["max_orphans"] = 0.5
    loose = RecordSchema.model_validate(raw)
    orphaned = {n: df.copy() for n, df in tables.items()}
    orphaned["labs"].loc[:2, "visit_id"] = -7
    assert not any(
        p.startswith("labs.visit_id") for p in check_records(parse_dates(orphaned), loose)
    )
    no_key = {**tables, "visits": tables["visits"].drop(columns="visit_id")}
    assert "visits.visit_id: primary key column missing" in check_records(
        parse_dates(no_key), schema
    )
    undated = {**tables, "labs": tables["labs"].drop(columns="taken")}
    assert "labs.taken: date column of a date rule missing" in check_records(
        parse_dates(undated), schema
    )
