"""`synthcare evaluate`: score tables from any tool; exit 0 when the gate passes, 3 when it fails."""

import json

import pandas as pd

from flows.cli import EXIT_REJECTED, main
from tests.conftest import make_patients


def _write(df: pd.DataFrame, path) -> str:  # noqa: ANN001
    df.to_csv(path, index=False)
    return str(path)


def test_independent_sample_passes_and_copies_fail(tmp_path, capsys) -> None:
    real = _write(make_patients(600, seed=0), tmp_path / "real.csv")
    holdout = _write(
        make_patients(300, seed=1).assign(patient_id=lambda d: d["patient_id"] + 5000),
        tmp_path / "holdout.csv",
    )
    fresh = _write(
        make_patients(600, seed=2).assign(patient_id=lambda d: d["patient_id"] + 9000),
        tmp_path / "fresh.csv",
    )
    code = main(
        [
            "evaluate",
            real,
            fresh,
            "--target",
            "died",
            "--holdout",
            holdout,
            "--out",
            str(tmp_path / "good"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    metrics = json.loads((tmp_path / "good" / "metrics.json").read_text())
    assert metrics["gate"]["passed"] and metrics["summary"]["exact_copies"] == 0
    page = (tmp_path / "good" / "report.html").read_text()
    assert "Verdict: PASSED" in page and "<svg" in page and "Membership-attack AUC" in page
    assert out.strip().endswith("report.html")

    copied = _write(pd.read_csv(real).sample(400, random_state=0), tmp_path / "copied.csv")
    code = main(
        [
            "evaluate",
            real,
            copied,
            "--target",
            "died",
            "--holdout",
            holdout,
            "--out",
            str(tmp_path / "bad"),
        ]
    )
    out = capsys.readouterr().out
    assert code == EXIT_REJECTED
    assert "gate: FAILED" in out and "exact_copies = 400" in out
    assert "Verdict: REJECTED" in (tmp_path / "bad" / "report.html").read_text()


def test_without_holdout_privacy_is_not_measured_and_the_gate_says_so(tmp_path, capsys) -> None:
    real = _write(make_patients(400, seed=0), tmp_path / "real.csv")
    fresh = _write(
        make_patients(400, seed=2).assign(patient_id=lambda d: d["patient_id"] + 9000),
        tmp_path / "fresh.csv",
    )
    assert main(["evaluate", real, fresh, "--out", str(tmp_path / "o")]) == EXIT_REJECTED
    out = capsys.readouterr().out
    assert "dcr_share = not measured" in out and "membership_auc = not measured" in out


def test_patient_histories_from_any_tool_get_the_history_scores(tmp_path, capsys) -> None:
    from tests.generators.test_dgan import make_visits

    shift = lambda df, k: df.assign(pid=df["pid"] + k)  # noqa: E731
    real = _write(make_visits(120, seed=1), tmp_path / "real.csv")
    holdout = _write(shift(make_visits(40, seed=2), 5000), tmp_path / "holdout.csv")
    roles = ["--id-column", "pid", "--time-column", "day", "--target", "group"]
    args = ["--holdout", holdout, *roles]
    copied = _write(shift(pd.read_csv(real), 9000), tmp_path / "copied.csv")  # new ids only
    code = main(["evaluate", real, copied, *args, "--out", str(tmp_path / "bad")])
    assert code == EXIT_REJECTED, capsys.readouterr().out
    metrics = json.loads((tmp_path / "bad" / "metrics.json").read_text())
    assert metrics["kind"] == "sequence" and metrics["summary"]["exact_copies"] == 120
    # each copy is nearest to its source when that patient is among the 40 training patients
    # drawn against the 40 holdout ones (1 in 3): 1/3 + 2/3 * 1/2 = 0.67, against 0.5 unmemorised
    assert metrics["summary"]["dcr_share"] > 0.6
    assert "Trajectories" in (tmp_path / "bad" / "report.html").read_text()
    assert main(["evaluate", real, copied, *roles, "--out", str(tmp_path / "x")]) == 2
    assert "give --holdout" in capsys.readouterr().err


def test_a_holdout_beyond_the_real_range_is_real_data_not_an_error(tmp_path, capsys) -> None:
    """Without --spec, the spec is inferred from REAL and the holdout together: an ordinary
    holdout patient just older than every training patient is scored, not refused."""
    train = make_patients(300, seed=0)
    holdout = make_patients(120, seed=1).assign(patient_id=lambda d: d["patient_id"] + 5000)
    holdout.loc[0, "age"] = train["age"].max() + 1
    real = _write(train, tmp_path / "real.csv")
    held = _write(holdout, tmp_path / "holdout.csv")
    fresh = _write(
        make_patients(300, seed=2).assign(patient_id=lambda d: d["patient_id"] + 9000),
        tmp_path / "fresh.csv",
    )
    args = ["--target", "died", "--id-column", "patient_id", "--holdout", held]
    code = main(["evaluate", real, fresh, *args, "--out", str(tmp_path / "o")])
    captured = capsys.readouterr()
    assert code in (0, EXIT_REJECTED), captured.err  # scored, whatever the verdict
    assert "out of range" not in captured.err


def test_identical_rows_are_reported_as_a_copy_signal_not_as_quality(tmp_path, capsys) -> None:
    """A synthetic file equal to the training rows: the detection classifier pairs each row with
    its twin and its AUC falls far below 0.5; that is said to be copying, never "good"."""
    real = _write(make_patients(400, seed=0), tmp_path / "real.csv")
    holdout = _write(
        make_patients(200, seed=1).assign(patient_id=lambda d: d["patient_id"] + 5000),
        tmp_path / "holdout.csv",
    )
    code = main(
        [
            "evaluate",
            real,
            real,
            "--target",
            "died",
            "--holdout",
            holdout,
            "--out",
            str(tmp_path / "o"),
        ]
    )
    out = capsys.readouterr().out
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert code == EXIT_REJECTED and metrics["summary"]["detection_auc"] < 0.4
    assert any("copy signal" in n for n in metrics["notes"])
    assert "note: detection AUC" in out and "copy signal" in out
