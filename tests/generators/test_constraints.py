"""Constraints hold in every synthetic row, and real data that breaks them is reported."""

import numpy as np
import pandas as pd
import pytest

from generators import registry
from generators.schema import DatasetSpec, SpecError, infer_spec
from tasks.validation import DataValidationError, validate
from tests.generators.test_contract import SETTINGS

RULES = [
    {"less_equal": ["diastolic", "systolic"]},
    {"forbidden": {"sex": "M", "pregnant": "yes"}},
]


@pytest.fixture(scope="module")
def vitals() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 800
    sex = rng.choice(["F", "M"], n)
    systolic = np.round(rng.normal(130, 18, n))
    diastolic = np.round(np.minimum(systolic - 5, 0.6 * systolic + rng.normal(5, 9, n)))
    pregnant = np.where((sex == "F") & (rng.random(n) < 0.15), "yes", "no")
    return pd.DataFrame(
        {"sex": sex, "pregnant": pregnant, "systolic": systolic, "diastolic": diastolic}
    )


@pytest.fixture(scope="module")
def spec(vitals) -> DatasetSpec:  # noqa: ANN001
    return DatasetSpec.model_validate({**infer_spec(vitals).model_dump(), "constraints": RULES})


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_synthetic_row_keeps_the_constraints(vitals, spec, name) -> None:
    model = registry.create(name, SETTINGS[name])
    model.fit(validate(vitals, spec, "vitals"), spec)
    out = model.sample(1500, seed=1)
    assert len(out) == 1500
    assert (out["diastolic"] <= out["systolic"]).all()
    assert not ((out["sex"] == "M") & (out["pregnant"] == "yes")).any()
    both = model.sample(300, seed=2, conditions={"pregnant": "yes"})  # with a condition too
    assert (both["sex"] == "F").all() and (both["pregnant"] == "yes").all()


def test_real_rows_that_break_a_constraint_are_reported(vitals, spec) -> None:
    broken = vitals.copy()
    broken.loc[[3, 7], "diastolic"] = 250  # above any systolic
    broken.loc[broken.index[broken["sex"] == "M"][:4], "pregnant"] = "yes"
    with pytest.raises(DataValidationError) as caught:
        validate(broken, spec, "vitals.csv")
    text = str(caught.value)
    assert "vitals.csv" in text
    assert "column 'diastolic, systolic': constraint diastolic <= systolic: 2 row(s)" in text
    assert "constraint never sex='M' with pregnant='yes': 4 row(s)" in text


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"less_equal": ["diastolic", "pulse"]}, "unknown columns"),
        ({"less_equal": ["sex", "systolic"]}, "compares two numbers or two dates"),
        ({"forbidden": {"systolic": 200, "sex": "M"}}, "categorical or boolean"),
        ({"less_equal": ["a", "b"], "forbidden": {"x": 1, "y": 2}}, "either"),
    ],
)
def test_bad_constraints_name_the_problem(vitals, rule, message) -> None:
    text = infer_spec(vitals).to_yaml() + "constraints:\n- " + repr(rule).replace("'", '"') + "\n"
    with pytest.raises(SpecError, match=message):
        DatasetSpec.from_yaml(text)
