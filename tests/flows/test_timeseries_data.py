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
