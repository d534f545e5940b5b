"""The generate flow on patient histories (a long table), on small data and few epochs: static
columns in a second table, roles inferred from --id-column/--time-column, a split by patient,
DGAN, whole-history copy protection, the history scores, and bad input refused before any write."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evaluation.catalogue import out_of_range
from flows.cli import EXIT_BAD_INPUT, main
from flows.generate import generate
from flows.sample import sample_more
from generators.schema import DatasetSpec, SpecError
from generators.sequence import SequenceError, check_sequences
from tasks.config import ConfigError, GateConfig, RunConfig
from tasks.inputs import join_static
from tasks.validation import DataValidationError
from tests.generators.test_dgan import make_visits

pytestmark = pytest.mark.slow

SMALL = {"batch_size": 50, "static_dim": [32], "rnn_hidden": 16, "critic_dim": [32], "threads": 1}
# 30 holdout patients make the privacy estimates noisy; the gate's own logic is tested elsewhere
LOOSE = GateConfig(max_dcr_share=1.0, max_membership_auc=1.0, min_tstr_ratio=None)


@pytest.fixture
def visit_files(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    """150 patients: the visits in one file, their static columns in another."""
    df = make_visits(150, seed=4)
    visits, static = tmp_path / "visits.csv", tmp_path / "patients.csv"
    df[["pid", "day", "lab", "stage"]].to_csv(visits, index=False)
    df[["pid", "group", "age"]].drop_duplicates("pid").to_csv(static, index=False)
    return visits, static, df


def test_histories_from_two_tables_end_to_end(prefect_harness, visit_files, tmp_path) -> None:  # noqa: ANN001
    visits, static, real = visit_files
    config = RunConfig(
        data=str(visits),
        static_data=str(static),
        id_columns=["pid"],
        time_column="day",
        target="group",
        epochs=30,
        generator_config=SMALL,
        rows=40,
        gate=LOOSE,
        output=str(tmp_path / "out"),
    )
    run = Path(generate(config))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["results"]["kind"] == "sequence" and manifest["results"]["spec_inferred"]
    assert manifest["results"]["train"]["generator"] == "dgan"  # the default for histories
    spec = DatasetSpec.from_yaml((run / "spec.yaml").read_text())  # the inferred spec, stored
    assert spec.sequence.model_dump() == {"id": "pid", "time": "day", "static": ["group", "age"]}

    split = manifest["results"]["split"]
    train = pd.read_parquet(run / "split" / "train.parquet")
    holdout = pd.read_parquet(run / "split" / "holdout.parquet")
    assert (split["train_patients"], split["holdout_patients"]) == (120, 30)
    assert not set(train["pid"]) & set(holdout["pid"])  # every visit follows its patient
    assert len(train) + len(holdout) == len(real)

    synth = pd.concat(pd.read_parquet(p) for p in sorted((run / "synthetic").glob("*.parquet")))
    assert synth["pid"].nunique() == 40 and manifest["results"]["sample"]["patients"] == 40
    assert sorted(synth.columns) == sorted(real.columns)
    check_sequences(synth, spec, "synthetic")  # times strictly increase, static constant
    assert synth["day"].max() <= real["day"].max() and synth["day"].min() >= 0
    assert (synth["day"].round(2) == synth["day"]).all()  # in the data's units and precision

    metrics = manifest["metrics"]
    for key in (
        "discriminative_score",
        "predictive_mae_synthetic",
        "predictive_mae_real",
        "autocorrelation_difference",
        "tstr_auc",
        "trtr_auc",
        "column_shape_similarity",
        "dcr_share",
        "dcr_share_noise",
        "membership_auc",
    ):
        assert key in metrics, key
    assert 0 < metrics["dcr_share_noise"] < 0.3  # 30 holdout patients: a wide chance level
    assert metrics["exact_copies"] == 0 and out_of_range(metrics) == []
    assert metrics["trtr_auc"] > 0.9  # the group is plain from the visits
    profile = json.loads((run / "profile" / "profile.json").read_text())["sequence"]
    assert profile["patients"] == 150 and profile["visits_per_patient"]["max"] == 6
    assert "Patient histories" in (run / "profile" / "profile.html").read_text()
    report = (run / "evaluation" / "report.html").read_text()
    assert "Trajectories" in report and "Nearest-history share" in report
    assert "by chance alone" in report

    more = Path(sample_more(str(run), rows=15, seed=2))  # more patients, no training
    again = json.loads((more / "manifest.json").read_text())
    assert again["status"] == "complete" and again["results"]["sample"]["patients"] == 15
    extra = pd.concat(pd.read_parquet(p) for p in (more / "synthetic").glob("*.parquet"))
    assert extra["pid"].nunique() == 15
    check_sequences(extra, spec, "more")


def test_cli_infers_the_roles_and_counts_rows_in_patients(
    prefect_harness, visit_files, tmp_path, capsys
) -> None:  # noqa: ANN001
    _, _, real = visit_files
    data = tmp_path / "long.csv"
    last = real.groupby("pid")["day"].transform("max")
    real.assign(followup=(last + 0.25 + (real["pid"] % 7) / 10).round(2)).to_csv(data, index=False)
    out = tmp_path / "cli"
    code = main(
        [
            "generate",
            str(data),
            "--id-column",
            "pid",
            "--time-column",
            "day",
            "--target",
            "group",
            "--constraint",
            "day<=followup",
            "--epochs",
            "5",
            "--rows",
            "25",
            "--set",
            "likeliest_modes=true",
            "--set",
            "outcome_weight=1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    run = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert code in (0, 3), "a run that finished, whatever the gate said"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["results"]["sample"]["patients"] == 25
    # the settings reached the model: its saved config, and the outcome classifier's losses
    assert {"outcome_real", "outcome_generated"} <= set(
        manifest["results"]["train"]["final_losses"]
    )
    saved = json.loads((Path(manifest["results"]["train"]["model_url"]) / "model.json").read_text())
    assert saved["config"]["likeliest_modes"] is True and saved["config"]["outcome_weight"] == 1
    # a setting the generator does not have, or one without a value: refused, nothing written;
    # so is a constraint that is not A<=B, names no column, or that the real visits break
    for bad, message in (
        (["--set", "steps=3"], "steps"),
        (["--set", "likeliest_modes"], "expected NAME=VALUE"),
        (["--constraint", "day<followup"], "expected COLUMN<=COLUMN"),
        (["--constraint", "day<=discharge"], "discharge"),
        (["--constraint", "followup<=day"], "constraint followup <= day"),
    ):
        never = tmp_path / "never"
        argv = ["generate", str(data), "--id-column", "pid", "--time-column", "day"]
        argv += ["--target", "group", *bad, "--out", str(never), "--no-progress"]
        assert main(argv) == EXIT_BAD_INPUT
        assert message in capsys.readouterr().err and not never.exists()
    spec = DatasetSpec.from_yaml((run / "spec.yaml").read_text())
    assert "followup" in spec.sequence.static
    assert [rule.less_equal for rule in spec.constraints] == [["day", "followup"]]
    folder = "synthetic" if code == 0 else "candidate"
    synth = pd.concat(pd.read_parquet(p) for p in (run / folder).glob("*.parquet"))
    assert synth["pid"].nunique() == 25
    assert (synth["day"] <= synth["followup"]).all()  # every history ends by its follow-up


def test_bad_histories_are_refused_before_anything_is_written(
    prefect_harness, visit_files, tmp_path
) -> None:  # noqa: ANN001
    _, _, real = visit_files
    broken = real.copy()
    broken.loc[3, "day"] = broken.loc[2, "day"]  # patient 1001's second visit twice
    data = tmp_path / "broken.csv"
    broken.to_csv(data, index=False)
    out = tmp_path / "never"
    config = RunConfig(
        data=str(data), id_columns=["pid"], time_column="day", target="group", output=str(out)
    )
    with pytest.raises(SequenceError, match=r"'day'.*duplicate timestamp.*1001"):
        generate(config)
    assert not out.exists()
    with pytest.raises(ConfigError, match="generates one row per patient"):
        generate(config.model_copy(update={"generator": "ctgan"}))
    with pytest.raises(ConfigError, match="conditions is not supported"):
        generate(config.model_copy(update={"conditions": {"group": "long"}}))
    assert not out.exists()
    with pytest.raises(ValueError, match="exactly one id column"):
        RunConfig(data=str(data), time_column="day")
    with pytest.raises(ValueError, match="a given spec declares its own"):
        RunConfig(data=str(data), spec="spec.yaml", constraints=[{"less_equal": ["day", "age"]}])


def test_static_table_join_names_the_rule(visit_files) -> None:  # noqa: ANN001
    visits_csv, static_csv, _ = visit_files
    visits, static = pd.read_csv(visits_csv), pd.read_csv(static_csv)
    joined = join_static(visits, static, "pid", "patients.csv")
    assert len(joined) == len(visits) and joined.groupby("pid")["age"].nunique().max() == 1
    with pytest.raises(DataValidationError, match="more than one row per patient"):
        join_static(visits, pd.concat([static, static.head(2)]), "pid", "patients.csv")
    with pytest.raises(DataValidationError, match=r"no row in the static table.*\[1000"):
        join_static(visits, static.iloc[1:], "pid", "patients.csv")
    with pytest.raises(DataValidationError, match="id column missing"):
        join_static(visits, static.rename(columns={"pid": "patient"}), "pid", "patients.csv")
    with pytest.raises(DataValidationError, match="in both tables"):
        join_static(visits, static.assign(lab=1.0), "pid", "patients.csv")


def test_a_spec_without_sequence_roles_and_a_time_column_conflict(
    prefect_harness, visit_files, tmp_path
) -> None:  # noqa: ANN001
    from generators.schema import infer_spec
    from tasks.inputs import data_kind

    visits, _, real = visit_files
    data = tmp_path / "long.csv"
    real.to_csv(data, index=False)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(infer_spec(real, id_columns=["pid"]).to_yaml())
    out = tmp_path / "never"
    config = RunConfig(
        data=str(data), spec=str(spec_file), id_columns=["pid"], time_column="day", output=str(out)
    )
    assert data_kind(config) == "sequence"
    assert data_kind(config.model_copy(update={"time_column": None, "id_columns": []})) == "table"
    with pytest.raises(SpecError, match="declares no sequence roles"):
        generate(config)
    assert not out.exists()


def test_generator_defaults_follow_the_data_and_a_mismatch_is_refused() -> None:
    table = RunConfig(data="x.csv")
    assert table.generator_name("table") == "auto" and table.generator_name("sequence") == "auto"
    with pytest.raises(ConfigError, match="'dgan' generates patient histories"):
        RunConfig(data="x.csv", generator="dgan").generator_settings("table")
    with pytest.raises(ConfigError, match="'ctgan' generates one row per patient"):
        RunConfig(
            data="x.csv", generator="ctgan", id_columns=["pid"], time_column="day"
        ).generator_settings("sequence")
    histories = RunConfig(data="x.csv", generator="auto", id_columns=["pid"], time_column="day")
    assert histories.generator_settings("sequence") == {}  # the shape chooses at training
    assert RunConfig(data="x.csv", epochs=7).generator_settings("sequence") == {"epochs": 7}


def test_fixed_length_signals_go_to_the_signal_family_by_their_shape(
    prefect_harness, tmp_path, capsys
) -> None:  # noqa: ANN001
    """No generator named: the shape of the data chooses (beats on one grid: signal; the
    visits above: dgan), the manifest and the command line say why."""
    from tests.generators.test_signal import make_beats

    data = tmp_path / "beats.csv"
    make_beats(60, seed=3).to_csv(data, index=False)
    code = main(
        [
            "generate",
            str(data),
            "--id-column",
            "pid",
            "--time-column",
            "ms",
            "--target",
            "kind",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    run = Path(lines[-1])
    assert code in (0, 3), "a run that finished, whatever the gate said"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["results"]["train"]["generator"] == "signal"
    assert "fixed-length numeric signal" in manifest["results"]["auto"]["reason"]
    assert any(line.strip().startswith("auto chose signal") for line in lines)
    synth = pd.concat(pd.read_parquet(p) for p in sorted((run / "synthetic").glob("*.parquet")))
    assert (synth.groupby("pid").size() == 48).all() and synth["pid"].nunique() == 60
    assert manifest["metrics"]["exact_copies"] == 0  # its quality: tests/generators/test_signal.py
