"""Whole records across tables (generators/records.py): the MIMIC-III demo and a second schema
of another shape (three levels, a table with two parents)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.records import child_count_distances, score_records
from generators.records import RecordSchema, RecordsModel, infer_schema, parse_dates
from tasks.records import check_records

MIMIC = Path(__file__).resolve().parents[2] / "flows" / "data" / "mimic-iii-demo"


def mimic_tables(schema: RecordSchema) -> dict[str, pd.DataFrame]:
    return {n: pd.read_csv(MIMIC / f"{n}.csv", dtype={"icd9_code": str}) for n in schema.tables}


@pytest.fixture(scope="module")
def mimic():
    schema = RecordSchema.from_yaml((MIMIC / "schema.yaml").read_text())
    real = mimic_tables(schema)
    model = RecordsModel()
    model.fit(real, schema, seed=0)
    return schema, parse_dates(real), model, model.sample(seed=0)


def test_the_mimic_keys_are_inferred_as_the_demo_documents_them() -> None:
    shipped = RecordSchema.from_yaml((MIMIC / "schema.yaml").read_text())
    schema = infer_schema(mimic_tables(shipped))
    t = schema.tables
    assert {n: t[n].primary_key for n in t} == {
        "PATIENTS": "subject_id",
        "ADMISSIONS": "hadm_id",
        "ICUSTAYS": "icustay_id",
        "DIAGNOSES_ICD": "row_id",
        "PROCEDURES_ICD": "row_id",
        "PRESCRIPTIONS": "row_id",
        "D_ICD_DIAGNOSES": "icd9_code",
        "D_ICD_PROCEDURES": "icd9_code",
    }
    assert [n for n in t if t[n].dictionary] == ["D_ICD_DIAGNOSES", "D_ICD_PROCEDURES"]
    links = {n: {(fk.column, fk.parent) for fk in t[n].foreign_keys} for n in t}
    assert links["ICUSTAYS"] == {("subject_id", "PATIENTS"), ("hadm_id", "ADMISSIONS")}
    assert ("icd9_code", "D_ICD_DIAGNOSES") in links["DIAGNOSES_ICD"]
    assert t["PATIENTS"].ids == ["row_id"]  # every MIMIC table's row_id: renumbered, no link
    rx = {fk.column: fk for fk in t["PRESCRIPTIONS"].foreign_keys}
    assert rx["icustay_id"].optional and not rx["hadm_id"].optional
    # 2.6 % of diagnosis codes are missing from the dictionary in the real data
    dx = {fk.column: fk for fk in t["DIAGNOSES_ICD"].foreign_keys}
    assert dx["icd9_code"].max_orphans == pytest.approx(0.026)
    assert schema.primary_parent("PRESCRIPTIONS") == "ADMISSIONS"  # not the optional ICU stay
    assert schema.order()[:2] == ["PATIENTS", "ADMISSIONS"]
    assert check_records(parse_dates(mimic_tables(shipped)), shipped) == []


def test_mimic_records_keep_every_key_date_and_code_consistent(mimic) -> None:
    schema, real, _, synth = mimic
    scores = score_records(real, synth, schema)
    assert scores["referential_integrity_min"] == 1.0  # (the real data breaks none either)
    assert scores["date_containment_min"] == 1.0  # the real data: 1 ICU stay of 136 outside
    assert scores["record_copies"] == 0
    assert check_records(synth, schema) == []
    for table, dictionary in (
        ("DIAGNOSES_ICD", "D_ICD_DIAGNOSES"),
        ("PROCEDURES_ICD", "D_ICD_PROCEDURES"),
    ):
        assert synth[table]["icd9_code"].isin(real[dictionary]["icd9_code"]).all()
        assert synth[dictionary].equals(real[dictionary])  # dictionaries copied
    # fresh keys: none is a real key
    for name in schema.synthesised():
        pk = schema.tables[name].primary_key
        assert not synth[name][pk].isin(real[name][pk]).any()
        assert synth[name][pk].is_unique
    # a prescription's ICU stay (when it has one) belongs to the prescription's own admission
    rx, icu = synth["PRESCRIPTIONS"], synth["ICUSTAYS"]
    linked = rx.dropna(subset=["icustay_id"]).merge(icu, on="icustay_id", suffixes=("", "_icu"))
    assert len(linked) and (linked["hadm_id"] == linked["hadm_id_icu"]).all()
    assert (linked["subject_id"] == linked["subject_id_icu"]).all()
    share = rx["icustay_id"].isna().mean()
    assert abs(share - real["PRESCRIPTIONS"]["icustay_id"].isna().mean()) < 0.15
    # a stay ends after it starts, an admission too, as in every real row
    assert (icu["outtime"] >= icu["intime"]).mean() > 0.97
    adm = synth["ADMISSIONS"]
    assert (adm["dischtime"] >= adm["admittime"]).mean() > 0.97
    # family sizes: KS 0.01-0.20 over the five parent-child pairs; two samples of 100 parents
    # differ by up to 1.36 * sqrt(2 / 100) = 0.19 by chance alone (95 %)
    assert scores["child_count_ks_max"] < 0.25
    # a later date follows the earlier one it varies least after: a death is one death
    pat = synth["PATIENTS"].dropna(subset=["dod", "dod_hosp"])
    real_pat = real["PATIENTS"].dropna(subset=["dod", "dod_hosp"])
    assert (real_pat["dod"] == real_pat["dod_hosp"]).mean() > 0.95
    assert len(pat) > 10 and (pat["dod"] == pat["dod_hosp"]).mean() > 0.9
    assert 0.6 < len(synth["PRESCRIPTIONS"]) / len(real["PRESCRIPTIONS"]) < 1.4
    # dates without a time stay so
    assert (rx["startdate"].dropna() == rx["startdate"].dropna().dt.normalize()).all()


def test_same_seed_same_records(mimic) -> None:
    schema, _, model, synth = mimic
    again = model.sample(seed=0)
    for name in schema.synthesised():
        pd.testing.assert_frame_equal(again[name], synth[name])
    assert not model.sample(seed=1)["ADMISSIONS"].equals(synth["ADMISSIONS"])


def clinic_database(n: int = 400, seed: int = 0) -> tuple[dict[str, pd.DataFrame], RecordSchema]:
    """Another shape: patients -> visits -> labs (three levels), visits with a second parent
    (the clinician, a root table of its own), lab times inside their visit, and family sizes that depend on
    the parent: older patients visit more, severe visits get more labs."""
    rng = np.random.default_rng(seed)
    clinics = pd.DataFrame(  # the second parent of a visit: who saw the patient
        {
            "clinic_id": [f"C{i}" for i in range(40)],
            "specialty": rng.choice(["cardiology", "oncology", "general", "renal"], 40),
            "experience": np.round(rng.gamma(4.0, 3.0, 40), 1),
            # records of two short columns would meet real ones by chance alone
            "weekly_hours": np.round(rng.normal(38, 6, 40), 1),
        }
    )
    age = rng.integers(20, 90, n)
    patients = pd.DataFrame(
        {
            "patient_id": np.arange(1, n + 1),
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "weight": np.round(rng.normal(75, 12, n), 1),
            "height": np.round(rng.normal(170, 9, n), 1),
        }
    )
    visits_per = rng.poisson(0.5 + (age - 20) / 25)
    owner = np.repeat(patients["patient_id"].to_numpy(), visits_per)
    m = len(owner)
    start = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000 * 24, m), "h")
    severe = rng.random(m) < 0.3
    visits = pd.DataFrame(
        {
            "visit_id": np.arange(100, 100 + m),
            "patient_id": owner,
            "clinic_id": rng.choice(clinics["clinic_id"], m),
            "start": start,
            "end": start + pd.to_timedelta(rng.integers(2, 200, m), "h"),
            "severe": np.where(severe, "yes", "no"),
        }
    )
    labs_per = rng.poisson(np.where(severe, 6, 1))
    visit = np.repeat(np.arange(m), labs_per)
    k = len(visit)
    span = (visits["end"] - visits["start"]).iloc[visit].to_numpy()
    labs = pd.DataFrame(
        {
            "lab_id": np.arange(k) + 5000,
            "visit_id": visits["visit_id"].to_numpy()[visit],
            "patient_id": visits["patient_id"].to_numpy()[visit],
            "taken": visits["start"].to_numpy()[visit] + span * rng.random(k),
            "value": np.round(rng.normal(np.where(severe[visit], 8.0, 5.0), 1.0), 1),
        }
    )
    labs["taken"] = labs["taken"].dt.round("s")
    tables = {"clinics": clinics, "patients": patients, "visits": visits, "labs": labs}
    inferred = infer_schema(tables)
    schema = RecordSchema.model_validate(
        {
            **inferred.model_dump(),
            "dates": [
                {
                    "table": "labs",
                    "column": "taken",
                    "parent": "visits",
                    "start": "start",
                    "end": "end",
                }
            ],
        }
    )
    return tables, schema


def test_a_second_schema_three_levels_and_two_parents() -> None:
    tables, schema = clinic_database()
    t = schema.tables
    assert [t[n].primary_key for n in t] == ["clinic_id", "patient_id", "visit_id", "lab_id"]
    assert {(fk.column, fk.parent) for fk in t["visits"].foreign_keys} == {
        ("patient_id", "patients"),
        ("clinic_id", "clinics"),
    }
    assert schema.primary_parent("labs") == "visits" and schema.ancestors("labs") == [
        "visits",
        "patients",
    ]
    model = RecordsModel()
    model.fit(tables, schema, seed=0)
    synth = model.sample(seed=0)
    real = parse_dates(tables)
    scores = score_records(real, synth, schema)
    assert scores["referential_integrity_min"] == 1.0
    assert scores["date_containment_min"] == 1.0
    assert scores["record_copies"] == 0
    assert max(child_count_distances(real, synth, schema).values()) < 0.15
    # the lab's patient is its visit's patient; every visit has a synthetic clinician
    labs = synth["labs"].merge(synth["visits"], on="visit_id", suffixes=("", "_visit"))
    assert (labs["patient_id"] == labs["patient_id_visit"]).all()
    assert synth["visits"]["clinic_id"].isin(synth["clinics"]["clinic_id"]).all()
    # family sizes follow the parent: severe visits have more labs, older patients more visits
    per_visit = synth["labs"].groupby("visit_id").size()
    v = synth["visits"].set_index("visit_id")
    sizes = v["severe"].to_frame().join(per_visit.rename("labs")).fillna(0)
    ratio = sizes.groupby("severe")["labs"].mean()
    assert ratio["yes"] / ratio["no"] > 3  # real: 6 / 1
    per_patient = synth["visits"].groupby("patient_id").size()
    p = synth["patients"].set_index("patient_id").join(per_patient.rename("visits")).fillna(0)
    assert np.corrcoef(p["age"], p["visits"])[0, 1] > 0.4
    # and a child's values follow its parent: severe visits' labs run higher
    assert labs.groupby("severe")["value"].mean().diff().iloc[-1] > 2


def _readmission_days(admissions: pd.DataFrame) -> pd.Series:
    """Days between a patient's consecutive admissions."""
    ordered = admissions.sort_values(["subject_id", "admittime"])
    gaps = ordered.groupby("subject_id")["admittime"].diff().dropna()
    return gaps / pd.Timedelta(days=1)


def test_a_patients_admissions_follow_each_other_as_real_readmissions_do(mimic) -> None:
    schema, real, _, synth = mimic
    real_gaps, synth_gaps = (
        _readmission_days(real["ADMISSIONS"]),
        _readmission_days(synth["ADMISSIONS"]),
    )
    assert real_gaps.median() < 60 and real_gaps.max() < 1500  # weeks to months, at most 4 years
    # each admission drawing its own age put a patient's admissions a median 6 years apart;
    # as gaps after the admission before, they stay within the real range
    assert len(synth_gaps) >= 4
    assert synth_gaps.median() < 365 and synth_gaps.max() < 3 * real_gaps.max()
    assert (synth_gaps >= 0).all()
    assert synth["ADMISSIONS"]["admittime"].notna().all()  # never a missing first date


def test_a_declared_outcome_closes_its_tables_visit_sequence() -> None:
    schema = RecordSchema.from_yaml((MIMIC / "schema.yaml").read_text())
    real = mimic_tables(schema)
    model = RecordsModel(targets={"ADMISSIONS": "hospital_expire_flag"})
    model.fit(real, schema, seed=0)
    steps = [s.column for s in model.models["ADMISSIONS"].steps]
    assert steps[-1] == "hospital_expire_flag"  # drawn given the row and its child counts
    assert steps[0].startswith("parent.")  # the patient's columns still open the sequence
    admissions = model.sample(seed=0)["ADMISSIONS"]
    assert set(admissions["hospital_expire_flag"].unique()) == {0, 1}
    with pytest.raises(ValueError, match="ADMISSIONS has no outcome column 'death'"):
        RecordsModel(targets={"ADMISSIONS": "death"}).fit(real, schema, seed=0)
