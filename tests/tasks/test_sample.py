import numpy as np
import pandas as pd
import pytest

from evaluation.density_ratio import fit_density_ratio
from evaluation.privacy import row_hashes
from generators import registry
from generators.schema import infer_spec
from tasks.sample import (
    class_quotas,
    guided_sample,
    sample_without_copies,
    target_shares,
    to_output,
)
from tasks.validation import coerce
from tests.conftest import make_patients


def test_class_quotas_sum_to_n_and_follow_shares() -> None:
    assert class_quotas({0: 0.725, 1: 0.275}, 1000) == {0: 725, 1: 275}
    quotas = class_quotas({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, 100)
    assert sum(quotas.values()) == 100 and sorted(quotas.values()) == [33, 33, 34]


@pytest.fixture(scope="module")
def trained():
    raw = make_patients(400, seed=4)
    spec = infer_spec(raw, name="p", target="died")
    df = coerce(raw, spec)[0]
    model = registry.create(
        "ctgan",
        {
            "epochs": 30,
            "batch_size": 100,
            "generator_dim": [64],
            "discriminator_dim": [64],
            "embedding_dim": 32,
            "threads": 1,
        },
    )
    model.fit(df, spec, seed=0)
    return model, df, spec


def test_guided_sample_keeps_target_prevalence_ids_and_no_copies(trained) -> None:
    model, df, spec = trained
    modelled = [c.name for c in spec.modelled]
    forbidden = row_hashes(df[modelled])
    calibration, _ = sample_without_copies(model, len(df), 1, forbidden)
    ratio = fit_density_ratio(df[modelled], calibration[modelled], spec.kinds())
    shares = target_shares(df, spec)
    rows, _, ess = guided_sample(
        model, 500, 2, forbidden, ratio, 4, id_offset=10, target_shares=shares
    )
    assert len(rows) == 500 and list(rows.columns) == list(df.columns)
    assert rows["died"].mean() == pytest.approx(df["died"].mean(), abs=1 / 500)
    assert rows["patient_id"].is_unique and rows["patient_id"].min() == df["patient_id"].max() + 11
    assert not np.isin(row_hashes(rows[modelled]), forbidden).any()
    assert 0 < ess <= 1
    again, _, _ = guided_sample(
        model, 500, 2, forbidden, ratio, 4, id_offset=10, target_shares=shares
    )
    pd.testing.assert_frame_equal(rows, again)  # same seed, same rows


def test_sampling_replaces_exact_copies_of_training_rows(trained) -> None:
    model, df, spec = trained
    modelled = [c.name for c in spec.modelled]
    first = model.sample(50, seed=5)
    forbidden = row_hashes(first[modelled])  # pretend these were training rows
    rows, replaced = sample_without_copies(model, 50, 5, forbidden)
    assert replaced == 50 and len(rows) == 50
    assert not np.isin(row_hashes(rows[modelled]), forbidden).any()


def test_datetimes_go_back_to_their_text_format(trained) -> None:
    model, df, spec = trained
    out = to_output(model.sample(20, seed=0), spec)
    assert out["admitted"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()


def test_output_takes_the_files_own_dtypes(tmp_path) -> None:
    from tasks.validation import read_table, validate

    raw = make_patients(200, seed=6)
    raw["admitted"] = pd.to_datetime(raw["admitted"]).astype("datetime64[us]")
    raw["sex"] = raw["sex"].astype("category")
    raw["visits"] = pd.array(
        np.where(np.arange(200) % 7 == 0, None, np.arange(200) % 5), dtype="Int64"
    )
    path = tmp_path / "p.parquet"
    raw.to_parquet(path)
    table = read_table(str(path))
    spec = infer_spec(table, name="p", target="died")
    typed = validate(table, spec, str(path))
    out = to_output(typed, spec, table.attrs["file_dtypes"])
    assert out.dtypes.astype(str).to_dict() == raw.dtypes.astype(str).to_dict()
    assert list(out["sex"].cat.categories) == ["F", "M"]

    csv = tmp_path / "gaps.csv"
    x = [None if i % 3 == 0 else i for i in range(30)]  # 20 distinct integers and gaps
    pd.DataFrame({"x": x, "y": range(30)}).to_csv(csv, index=False)
    table = read_table(str(csv))  # pandas reads an int column with gaps as float64
    spec = infer_spec(table)
    typed = validate(table, spec, str(csv))
    assert spec.column("x").type == "integer" and str(typed["x"].dtype) == "Int64"
    out = to_output(typed, spec, table.attrs["file_dtypes"])
    assert str(out["x"].dtype) == "float64" and out["x"].isna().sum() == 10
