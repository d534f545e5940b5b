"""The refusal catalogue: every bad input ends in exit 2 (1 for storage) with one ``error:`` block
naming the file, column and rule, before any Prefect machinery starts, and leaves no file behind.

Each case is a table (or option) a new user could hand over; ``benchmarks/refusals.py`` times the
same catalogue through the console script.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from tests.conftest import make_patients


@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Path], None]  # writes the input file at the given path
    expect: list[str]  # every one of these is in the error message
    args: list[str] = field(default_factory=list)
    target: str | None = "died"
    code: int = 2


def _csv(df: pd.DataFrame) -> Callable[[Path], None]:
    return lambda path: df.to_csv(path, index=False)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


P = make_patients(200, seed=3)
_dates = pd.date_range("2020-01-01", periods=len(P))
MIXED_DATES = [d.strftime("%Y-%m-%d" if i % 2 else "%d/%m/%Y") for i, d in enumerate(_dates)]
HEADER = ",".join(P.columns)

CASES = [
    Case("empty file", _bytes(b""), ["empty file"]),
    Case("header only", _bytes(HEADER.encode() + b"\n"), ["no rows"]),
    Case(
        "duplicate column names",
        _bytes(b"age,sex,age,died\n" + b"\n".join(b"1,F,2,0" for _ in range(60))),
        ["'age'", "duplicate column name", "columns [1, 3]"],
    ),
    Case(
        "infinity",
        _csv(P.assign(creatinine=P.creatinine.fillna(np.inf))),
        ["'creatinine'", "not finite"],
    ),
    Case(
        "absurd magnitude",
        _csv(P.assign(creatinine=P.creatinine.where(P.index != 7, 1e308))),
        ["'creatinine'", "magnitude beyond 1e+15", "spec"],
    ),
    Case(
        "mixed date formats",
        _csv(P.assign(admitted=MIXED_DATES)),
        ["'admitted'", "2 formats", "%Y-%m-%d: 100", "%d/%m/%Y: 100"],
    ),
    Case("single-class target", _csv(P.assign(died=1)), ["'died'", "one value 1"]),
    Case(
        "too few rows of a class",
        _csv(P.assign(died=np.where(np.arange(len(P)) < 3, 1, 0))),
        ["'died'", "fewer than 5 rows", "1: 3"],
    ),
    Case("one row", _csv(P.head(1)), ["1 rows are too few"]),
    Case("ten rows", _csv(P.head(10)), ["10 rows are too few", "give at least 46 rows"]),
    Case(
        "nothing to model",
        _csv(pd.DataFrame({"patient_id": range(100)})),
        ["nothing to model"],
        ["--id-column", "patient_id"],
        target=None,
    ),
    Case("target not a column", _csv(P.drop(columns="died")), ["target 'died' is not a column"]),
    Case("UTF-16", _bytes(P.to_csv(index=False).encode("utf-16")), ["UTF-16", "iconv"]),
    Case("gzip", _bytes(gzip.compress(P.to_csv(index=False).encode())), ["gzip", "gunzip"]),
    Case("Excel workbook", _bytes(b"PK\x03\x04" + b"\x00" * 64), ["Excel", "export"]),
    Case("JSON", _bytes(b'[{"age": 1}]'), ["JSON"]),
    Case("rows 0", _csv(P), ["--rows", "greater than or equal to 1"], ["--rows", "0"]),
    Case("rows -5", _csv(P), ["--rows"], ["--rows", "-5"]),
    Case("epochs 0", _csv(P), ["--epochs"], ["--epochs", "0"]),
    Case(
        "unknown generator", _csv(P), ["unknown generator 'gan'", "known:"], ["--generator", "gan"]
    ),
    Case("dataset name climbs", _csv(P), ["--dataset", "'..'"], ["--dataset", "../../escaped"]),
    Case("dataset name with a slash", _csv(P), ["--dataset"], ["--dataset", "a/b"]),
    Case("condition on a number", _csv(P), ["age"], ["--condition", "age=50"]),
]


def _refuse(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    data = tmp_path / "input.csv"
    case.write(data)
    out = tmp_path / "out"
    argv = ["generate", str(data), "--out", str(out), *case.args]
    if case.target:
        argv += ["--target", case.target]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == case.code, captured.err
    assert captured.out == ""
    assert captured.err.startswith("error: ") and "Traceback" not in captured.err
    assert not out.exists()  # no run folder, no model store, nothing
    return captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_cleanly_and_writes_nothing(case, tmp_path, capsys) -> None:
    err = _refuse(case, tmp_path, capsys)
    for text in case.expect:
        assert text in err, err
    option_at_fault = {"--rows", "--epochs", "--generator", "--dataset", "--condition"}
    if not option_at_fault & set(case.args):
        assert f"{tmp_path / 'input.csv'}: " in err  # a data problem names the file


def test_an_all_null_column_is_kept_empty_and_a_constant_kept_constant(tmp_path) -> None:
    """The degenerate-column policy at ingest: declared nullable / one value, never refused."""
    from tasks.config import RunConfig
    from tasks.inputs import check_input

    data = tmp_path / "p.csv"
    P.assign(lactate=np.nan, site="A").to_csv(data, index=False)
    checked = check_input(RunConfig(data=str(data), target="died"), expectations=False)
    lactate, site = checked.spec.column("lactate"), checked.spec.column("site")
    assert lactate.nullable and checked.typed["lactate"].isna().all()
    assert site.values == ["A"]


def test_unwritable_output_is_refused_before_reading(tmp_path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    case = Case(
        "out under a file", _csv(P), ["is a file, not a folder"], ["--out", str(blocker / "sub")]
    )
    data = tmp_path / "input.csv"
    case.write(data)
    code = main(["generate", str(data), "--target", "died", *case.args])
    err = capsys.readouterr().err
    assert code == 1 and "is a file, not a folder" in err and str(blocker) in err


def test_s3_without_credentials_or_endpoint_names_the_variable(
    tmp_path, monkeypatch, capsys
) -> None:
    data = tmp_path / "input.csv"
    P.to_csv(data, index=False)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "SYNTHCARE_S3_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    code = main(["generate", str(data), "--out", "s3://bucket/root"])
    err = capsys.readouterr().err
    assert code == 1 and "s3://bucket/root" in err and "AWS_ACCESS_KEY_ID" in err
    # a dead endpoint: nothing listens on this loopback port
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-value-42")
    monkeypatch.setenv("SYNTHCARE_S3_ENDPOINT", "http://127.0.0.1:9")
    code = main(["generate", str(data), "--out", "s3://bucket/root"])
    err = capsys.readouterr().err
    assert code == 1 and "cannot reach the S3 endpoint http://127.0.0.1:9" in err
    assert "SYNTHCARE_S3_ENDPOINT" in err and "secret-value-42" not in err


@pytest.mark.s3
def test_s3_missing_bucket_and_wrong_secret_are_named(
    s3_env, tmp_path, monkeypatch, capsys
) -> None:
    import s3fs

    data = tmp_path / "input.csv"
    P.to_csv(data, index=False)
    code = main(["generate", str(data), "--out", "s3://no-such-bucket-here/root"])
    err = capsys.readouterr().err
    assert code == 1 and "bucket 'no-such-bucket-here' does not exist" in err
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-77")
    s3fs.S3FileSystem.clear_instance_cache()
    code = main(["generate", str(data), "--out", f"s3://{s3_env['bucket']}/root"])
    err = capsys.readouterr().err
    assert code == 1 and "access denied" in err and "wrong-secret-77" not in err


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter at the repository root, as a user's process."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=300,
        check=False,
    )


def test_a_refusal_starts_no_prefect_and_leaves_no_prefect_files(tmp_path) -> None:
    """The console script as a user runs it: refused before Prefect is even imported, so no
    server, no result storage, nothing under PREFECT_HOME."""
    data = tmp_path / "input.csv"
    P.assign(died=1).to_csv(data, index=False)
    home = tmp_path / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": ""}
    probe = (
        "import sys; from flows.cli import main; "
        f"code = main(['generate', {str(data)!r}, '--target', 'died', '--out', "
        f"{str(tmp_path / 'out')!r}]); "
        "print(code, 'prefect' in sys.modules, 'torch' in sys.modules, "
        "'great_expectations' in sys.modules)"
    )
    done = _python(probe, env)
    assert done.stdout.split() == ["2", "False", "False", "False"], done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 2
    assert not home.exists() and not (tmp_path / "out").exists()


def test_debug_shows_the_traceback(tmp_path, capsys) -> None:
    data = tmp_path / "input.csv"
    data.write_bytes(b"")
    assert main(["--debug", "generate", str(data)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-2].startswith("error: ")


def test_traversal_is_refused_by_the_config_the_flow_form_and_storage() -> None:
    from prefect.exceptions import ParameterTypeError
    from pydantic import ValidationError

    from flows.generate import generate
    from tasks import storage
    from tasks.config import RunConfig, dataset_name_of

    for name in ("..", "../x", "a/../../b", "", "a b", "/etc"):
        with pytest.raises(ValidationError, match="dataset"):
            RunConfig(data="x.csv", dataset=name)
        with pytest.raises(ParameterTypeError, match="dataset"):  # the Prefect run form's
            generate.validate_parameters({"config": {"data": "x.csv", "dataset": name}})
    with pytest.raises(ValueError, match="climbs"):
        storage.join("/root", "runs", "../../etc")
    assert dataset_name_of("s3://b/..%2F..%2Fx.csv") == "dataset"  # file names are made safe
    assert dataset_name_of("/data/my cohort (v2).csv") == "my_cohort__v2_"


@pytest.mark.slow
def test_a_run_refused_inside_prefect_leaves_no_real_value_in_prefect_storage(tmp_path) -> None:
    """A run started past the CLI (the UI's form, a deployment) is refused by its ingest step;
    Prefect keeps the failed run's exception (its state message, logs, database and a pickle in
    result storage), so that exception carries the problems but no real value."""
    data = tmp_path / "input.csv"
    marked = P.astype({"age": object})
    marked.loc[4, "age"] = "unknown-987654"  # a value that must not leave the run's machine
    marked.to_csv(data, index=False)
    spec = tmp_path / "spec.yaml"
    from generators.schema import infer_spec

    spec.write_text(infer_spec(P, name="p", target="died").to_yaml())
    home, results = tmp_path / "prefect-home", tmp_path / "prefect-results"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_LOCAL_STORAGE_PATH": str(results),
        "PREFECT_API_URL": "",
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",  # as a server configured to keep results
    }
    probe = (
        "from flows.generate import generate; from tasks.config import RunConfig\n"
        "try:\n"
        f"    generate(RunConfig(data={str(data)!r}, spec={str(spec)!r}, "
        f"output={str(tmp_path / 'out')!r}))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    done = _python(probe, env)
    assert done.stdout.strip().splitlines()[-1] == "DataValidationError", done.stderr[-2000:]
    assert "type integer: not a number" in done.stderr  # the problem is reported
    assert "987654" not in done.stdout + done.stderr
    import base64

    written = [p for p in [*home.rglob("*"), *results.rglob("*")] if p.is_file()]
    assert written  # Prefect did keep its database and the failed run's exception
    for path in written:
        raw = path.read_bytes()
        try:
            raw += base64.b64decode(raw, validate=False)
        except ValueError:
            pass
        assert b"987654" not in raw, path
    assert not (tmp_path / "out").exists()
