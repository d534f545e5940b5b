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
    assert "patients.patient_id: primary key not unique (1 repeated values)" in problems
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
