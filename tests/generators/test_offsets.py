"""Dates generated as offsets from an earlier date: discharge never before admission."""

import numpy as np
import pandas as pd
import pytest

from generators import registry
from generators.schema import DatasetSpec, infer_spec
from generators.transforms import TableTransformer
from tasks.validation import coerce
from tests.generators.test_contract import SETTINGS


@pytest.fixture(scope="module")
def stays() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 600
    admitted = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
    los = np.round(rng.lognormal(1.3, 0.7, n))  # days, skewed, 0 for day cases
    discharged = admitted + pd.to_timedelta(los, unit="D")
    df = pd.DataFrame(
        {
            "age": rng.integers(20, 90, n),
            "admitted": admitted.strftime("%Y-%m-%d"),
            "discharged": discharged.strftime("%Y-%m-%d"),
        }
    )
    df.loc[rng.random(n) < 0.05, "discharged"] = None  # still in hospital
    return df


def test_inferred_spec_links_discharge_to_admission(stays) -> None:
    spec = infer_spec(stays)
    assert spec.column("discharged").offset_from == "admitted"
    assert spec.column("admitted").offset_from is None
    assert DatasetSpec.from_yaml(spec.to_yaml()).column("discharged").offset_from == "admitted"


def test_round_trip_is_exact(stays) -> None:
    spec = infer_spec(stays)
    typed = coerce(stays, spec)[0]
    t = TableTransformer.fit(typed, spec)
    back = t.inverse(t.transform(typed))
    pd.testing.assert_series_equal(
        back["discharged"], typed["discharged"].astype("datetime64[ns]"), check_names=False
    )
    again = TableTransformer.from_dict(t.to_dict())
    assert again.to_dict() == t.to_dict()


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_generator_keeps_the_order_and_the_length_of_stay(stays, name) -> None:
    spec = infer_spec(stays)
    typed = coerce(stays, spec)[0]
    model = registry.create(name, SETTINGS[name])
    model.fit(typed, spec, seed=0)
    out = model.sample(2000, seed=1)
    both = out["discharged"].notna() & out["admitted"].notna()
    los = (out.loc[both, "discharged"] - out.loc[both, "admitted"]).dt.days
    real = (typed["discharged"] - typed["admitted"]).dt.days.dropna()
    assert (los >= 0).all()  # in every row, by construction
    assert (out["discharged"].dropna() == out["discharged"].dropna().dt.normalize()).all()
    assert los.median() == pytest.approx(real.median(), abs=2.5)
    # still in hospital: the offset's own missing flag (shares are the contract test's business)
    assert 0 < out["discharged"].isna().mean() < 0.5


def test_offset_must_name_an_earlier_date(stays) -> None:
    spec = infer_spec(stays)
    bad = spec.model_dump()
    bad["columns"][1]["offset_from"] = "discharged"  # admitted after a later column
    with pytest.raises(ValueError, match="must name an earlier datetime column"):
        DatasetSpec.model_validate(bad)


def test_a_private_offset_spans_what_the_declared_dates_allow(stays) -> None:
    spec = infer_spec(stays)
    t = TableTransformer.from_spec(spec).transforms[2]
    first, last = spec.column("admitted").bound("min"), spec.column("discharged").bound("max")
    assert t.offset_from == "admitted" and t.lower == 0.0
    assert t.upper == (last - first).days and t.resolution_days == 1.0
