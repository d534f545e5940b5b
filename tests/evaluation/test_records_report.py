"""The records report: a real and a synthetic patient's timelines in days, and the run's scores."""

import pandas as pd

from evaluation.records import score_records
from evaluation.records_report import pick_patients, record_sizes, records_html, timeline_frame
from generators.records import records_of
from tests.generators.test_records import mimic  # noqa: F401 - the fitted MIMIC demo fixture


def test_timeline_days_follow_the_record_dates(mimic) -> None:  # noqa: F811
    schema, real, _, _ = mimic
    key = real["PATIENTS"]["subject_id"].iloc[0]
    record = records_of(real, schema, {key})
    frame = timeline_frame(record, schema)
    admissions = record["ADMISSIONS"].sort_values("admittime")
    bars = frame[frame["table"] == "ADMISSIONS"].sort_values("start")
    day = pd.Timedelta(days=1)
    stay = (admissions["dischtime"] - admissions["admittime"]) / day
    assert bars["end"].sub(bars["start"]).round(6).tolist() == stay.round(6).tolist()
    gaps = admissions["admittime"].diff().dropna() / day  # between admissions, as on the page
    assert bars["start"].diff().dropna().round(6).tolist() == gaps.round(6).tolist()
    assert frame["start"].min() == 0.0  # days from the record's first dated row
    assert (frame["end"] >= frame["start"]).all()
    # diagnoses have no dates: they are counted, not drawn
    assert "DIAGNOSES_ICD" not in set(frame["table"])
    assert (
        len(frame[frame["table"] == "PRESCRIPTIONS"])
        == record["PRESCRIPTIONS"]["startdate"].notna().sum()
    )


def test_the_patients_drawn_are_alike_and_the_page_shows_them(mimic) -> None:  # noqa: F811
    schema, real, _, synth = mimic
    real_key, synth_key = pick_patients(real, synth, schema, seed=0)
    sizes = record_sizes(real, schema, [real_key])
    synth_sizes = record_sizes(synth, schema, [synth_key])
    assert sizes.loc[real_key, "ADMISSIONS"] > 1  # a returning patient: several admissions
    assert synth_sizes.loc[synth_key, "ADMISSIONS"] == sizes.loc[real_key, "ADMISSIONS"]
    assert real_key in set(real["PATIENTS"]["subject_id"])
    assert synth_key in set(synth["PATIENTS"]["subject_id"])
    scores = score_records(real, synth, schema)
    page = records_html(scores, real, synth, schema, "records: mimic")
    assert page.count("<svg") == 2  # the two timelines
    assert "real (a training patient)" in page and "synthetic" in page
    assert "ICUSTAYS" in page and "not measured" in page  # no utility task named here
    assert "keep\nit with the real data" in page
