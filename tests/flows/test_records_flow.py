"""`synthcare generate DIR [--schema]`: whole records through the Prefect flow, a run folder per
run (synthetic tables in their input's file type, the schema, the scores, manifest last), and
nothing written when the tables break their schema."""

import json
from pathlib import Path

import pandas as pd

from flows.cli import EXIT_BAD_INPUT, main
from tests.generators.test_records import clinic_database


def _write(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True)
    for name, df in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
    (folder / "notes.txt").write_text("not a table")
    return folder


def test_a_folder_of_tables_gives_whole_synthetic_records(
    prefect_harness, tmp_path, capsys
) -> None:
    tables, schema = clinic_database(300, seed=5)
    data = _write(tmp_path / "clinic", tables)
    code = main(["generate", str(data), "--out", str(tmp_path / "out"), "--seed", "2"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    run = Path(lines[-1])
    assert any("schema inferred" in line for line in lines)  # no --schema given
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["schema_inferred"] and manifest["training_patients"] == 210
    m = manifest["metrics"]
    assert m["referential_integrity_min"] == 1.0 and m["record_copies"] == 0
    assert m["date_containment_min"] == 1.0  # no rule inferred: vacuously (the rules are declared)
    for name in ("clinics", "patients", "visits", "labs"):
        assert (run / "synthetic" / name / "part-0.csv").exists()
    assert not (run / "synthetic" / "notes").exists()
    page = (run / "evaluation" / "report.html").read_text()
    assert page.count("<svg") == 2 and "One patient's timeline" in page
    visits = pd.read_csv(run / "synthetic" / "visits" / "part-0.csv")
    patients = pd.read_csv(run / "synthetic" / "patients" / "part-0.csv")
    assert visits["patient_id"].isin(patients["patient_id"]).all()
    assert len(patients) == 210  # as many patients as it learnt from
    # the inferred schema, handed back with the date rule, is used as it stands
    text = (run / "schema.yaml").read_text()
    text += "dates:\n- {table: labs, column: taken, parent: visits, start: start, end: end}\n"
    (tmp_path / "schema.yaml").write_text(text)
    code = main(
        [
            "generate",
            str(data),
            "--schema",
            str(tmp_path / "schema.yaml"),
            "--out",
            str(tmp_path / "out"),
            "--seed",
            "2",
        ]
    )
    assert code == 0
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads((run / "manifest.json").read_text())
    assert not manifest["schema_inferred"]
    assert manifest["metrics"]["date_containment"] == {"labs.taken within visits.start..end": 1.0}


def test_tables_that_break_their_schema_are_refused_and_nothing_is_written(
    prefect_harness, tmp_path, capsys
) -> None:
    tables, schema = clinic_database(120, seed=6)
    tables["labs"].loc[:4, "visit_id"] = 999_999  # five labs of no visit
    data = _write(tmp_path / "clinic", tables)
    (tmp_path / "schema.yaml").write_text(schema.to_yaml())
    out = tmp_path / "out"
    code = main(
        ["generate", str(data), "--schema", str(tmp_path / "schema.yaml"), "--out", str(out)]
    )
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "labs.visit_id: 5 of " in err and "refer to no visits.visit_id" in err
    assert not out.exists() or not any(out.rglob("*"))
    # options of one table are refused for a folder, not ignored
    assert main(["generate", str(data), "--target", "died", "--out", str(out)]) == EXIT_BAD_INPUT
    assert "--target applies to one table" in capsys.readouterr().err
