"""The bundled clinical time series load as long tables whose specs pass the sequence rules."""

from flows import timeseries_data as data
from generators.sequence import check_sequences, infer_sequence_roles


def test_pbc2_is_312_patients_with_irregular_visits_and_missing_labs() -> None:
    df = data.pbc2_frame()
    assert df.shape == (1945, 20) and df["id"].nunique() == 312
    visits = df.groupby("id").size()
    assert visits.min() == 1 and visits.max() == 16
    spec = data.pbc2_spec(df)
    check_sequences(df, spec, "pbc2.csv")
    assert sorted(infer_sequence_roles(df, "id", "year")) == sorted(data.PBC2_STATIC)
    assert df["serChol"].isna().mean() > 0.4  # cholesterol often not measured
    assert spec.target == "status2" and set(df["status2"]) == {0, 1}
    gaps = df.groupby("id")["year"].diff().dropna()
    assert gaps.std() > 0.3  # irregular visits


def test_ecg200_is_200_heartbeats_of_96_samples() -> None:
    df = data.ecg200_frame()
    assert df.shape == (200 * 96, 4)
    spec = data.ecg200_spec(df)
    check_sequences(df, spec, "ECG200")
    assert spec.temporal == ["value"] and spec.sequence.static == ["label"]
    labels = df.groupby("id")["label"].first().value_counts()
    assert labels.to_dict() == {"normal": 133, "abnormal": 67}


def test_the_pbc2_demo_declares_follow_up_as_the_bound_of_every_visit(tmp_path) -> None:  # noqa: ANN001
    """Every real visit lies within its patient's follow-up, so the demo declares the rule
    (and dgan generates the follow-up after the last visit); a caller's rules come beside it."""
    from flows.demo import PBC2_FOLLOW_UP, pbc2_demo_config
    from generators.constraints import breaks
    from generators.schema import Constraint

    df = data.pbc2_frame()
    rule = Constraint.model_validate(PBC2_FOLLOW_UP)
    assert not breaks(df, rule).any()
    config = pbc2_demo_config(tmp_path / "pbc2.csv", str(tmp_path / "out"))
    assert config.constraints == [rule]
    more = {"less_equal": ["age", "years"]}
    config = pbc2_demo_config(
        tmp_path / "pbc2.csv", str(tmp_path / "out"), constraints=[PBC2_FOLLOW_UP, more]
    )
    assert [c.describe() for c in config.constraints] == ["year <= years", "age <= years"]
