"""Bad input gets a clear error naming the file, column and rule, and nothing is written."""

from pathlib import Path

import pandas as pd
import pytest

from flows.cli import EXIT_BAD_INPUT, main
from generators.schema import infer_spec
from tasks.validation import DataValidationError, read_table, validate


@pytest.fixture
def spec_file(tmp_path: Path, patients: pd.DataFrame) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(infer_spec(patients, name="patients", target="died").to_yaml())
    return path


def _broken(tmp_path: Path, patients: pd.DataFrame, change) -> Path:  # noqa: ANN001
    df = patients.copy().astype({"age": object, "sex": object})
    df = change(df) if change else df
    path = tmp_path / "broken.csv"
    df.to_csv(path, index=False)
    return path


CASES = {
    "wrong type": (
        lambda d: d.assign(age=d["age"].where(d.index != 3, "old")),
        ["'age'", "type integer: not a number", "1 row(s)", "old"],
    ),
    "out of range": (
        lambda d: d.assign(age=d["age"].where(d.index > 1, 150)),
        ["'age'", "out of range", "2 row(s)", "150"],
    ),
    "unknown category": (
        lambda d: d.assign(sex=d["sex"].where(d.index != 0, "X")),
        ["'sex'", "unknown category", "1 row(s)", "X"],
    ),
    "missing column": (
        lambda d: d.drop(columns=["creatinine"]),
        ["'creatinine'", "missing column"],
    ),
    "null in required column": (
        lambda d: d.assign(age=d["age"].where(d.index != 5, None)),
        ["'age'", "not nullable", "1 row(s)"],
    ),
    "duplicate id": (
        lambda d: d.assign(patient_id=d["patient_id"].where(d.index != 1, d["patient_id"][0])),
        ["'patient_id'", "duplicate values", "2 row(s)"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_violations_name_file_column_rule_count_and_examples(
    case, tmp_path, patients, spec_file
) -> None:
    change, expected = CASES[case]
    path = _broken(tmp_path, patients, change)
    spec = infer_spec(patients, name="patients", target="died")
    with pytest.raises(DataValidationError) as err:
        validate(read_table(str(path), spec), spec, str(path))
    message = str(err.value)
    assert message.startswith(str(path))
    for piece in expected:
        assert piece in message


def test_all_problems_are_reported_at_once(tmp_path, patients) -> None:
    spec = infer_spec(patients, name="patients", target="died")
    path = _broken(tmp_path, patients, lambda d: d.assign(sex="X", extra=1).drop(columns=["ward"]))
    with pytest.raises(DataValidationError) as err:
        validate(read_table(str(path), spec), spec, str(path))
    rules = {(v.column, v.rule.split(":")[0]) for v in err.value.violations}
    assert ("extra", "unexpected column") in rules
    assert ("ward", "missing column") in rules
    assert ("sex", "unknown category (not in the spec's values)") in rules


UNREADABLE = {
    "empty file": (b"", "empty file"),
    "header only": (b"age,sex\n", "no rows"),
    "binary": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "not a CSV file: binary",
    ),
    "not UTF-8": ("age;name\n1;Müller\n".encode("latin-1") * 50, "not UTF-8"),
    "html page": (b"<html><body><h1>Login</h1></body></html>\n", "looks like markup"),
    "corrupt parquet": (b"PAR1" + b"garbage" * 20, "not a readable Parquet"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_files_fail_clearly(case, tmp_path) -> None:
    payload, message = UNREADABLE[case]
    path = tmp_path / ("data.parquet" if "parquet" in case else "data.csv")
    path.write_bytes(payload)
    with pytest.raises(DataValidationError, match=message) as err:
        read_table(str(path))
    assert str(path) in str(err.value)


def test_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(DataValidationError, match="(?s)nope.csv: .*file not found"):
        read_table(str(tmp_path / "nope.csv"))


@pytest.mark.parametrize("case", ["wrong type", "missing column", "out of range"])
def test_cli_generate_on_bad_input_exits_2_and_writes_nothing(
    case, tmp_path, patients, spec_file, capsys
) -> None:
    path = _broken(tmp_path, patients, CASES[case][0])
    out = tmp_path / "out"
    code = main(
        [
            "generate",
            str(path),
            "--target",
            "died",
            "--spec",
            str(spec_file),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--no-progress",
        ]
    )
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert str(path) in err and CASES[case][1][0] in err
    assert not out.exists() or not any(out.rglob("*"))


@pytest.mark.parametrize("payload", [b"", b"\x00\x01\x02garbage"])
def test_cli_generate_on_unreadable_file_writes_nothing(payload, tmp_path, capsys) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(payload)
    out = tmp_path / "out"
    assert (
        main(["generate", str(path), "--target", "died", "--out", str(out), "--no-progress"])
        == EXIT_BAD_INPUT
    )
    assert "data.csv" in capsys.readouterr().err
    assert not out.exists()


def test_cli_validate_prints_inferred_spec_and_accepts_good_file(
    patients_csv, tmp_path, capsys
) -> None:
    spec_out = tmp_path / "inferred.yaml"
    assert (
        main(["validate", str(patients_csv), "--target", "died", "--write-spec", str(spec_out)])
        == 0
    )
    out = capsys.readouterr().out
    assert "type: datetime" in out and out.strip().endswith("300 rows x 8 columns")
    assert main(["validate", str(patients_csv), "--spec", str(spec_out)]) == 0


def test_target_must_exist(patients_csv, spec_file, capsys) -> None:
    assert (
        main(["validate", str(patients_csv), "--spec", str(spec_file), "--target", "survived"])
        == EXIT_BAD_INPUT
    )
    assert "--target 'survived' is not a column" in capsys.readouterr().err


def test_codes_that_look_numeric_stay_text(tmp_path) -> None:
    df = pd.DataFrame({"icd": ["007", "010", "007", "123"] * 10, "x": range(40)})
    path = tmp_path / "codes.csv"
    df.to_csv(path, index=False)
    spec = infer_spec(read_table(str(path)).astype({"icd": str}))
    assert read_table(
        str(path),
        spec.model_copy(
            update={
                "columns": [
                    spec.column("icd").model_copy(
                        update={"type": "categorical", "values": ["007", "010", "123"]}
                    ),
                    spec.column("x"),
                ]
            }
        ),
    )["icd"].tolist()[:2] == ["007", "010"]
