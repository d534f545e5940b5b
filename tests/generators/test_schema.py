import pandas as pd
import pytest

from generators.schema import DatasetSpec, SpecError, infer_spec
from tests.conftest import make_patients


def test_infer_types_roles_and_bounds(patients: pd.DataFrame) -> None:
    spec = infer_spec(patients, name="p", target="died")
    types = {c.name: c.type for c in spec.columns}
    assert types == {
        "patient_id": "integer",
        "age": "integer",
        "sex": "categorical",
        "creatinine": "numeric",
        "stage": "categorical",
        "admitted": "datetime",
        "ward": "categorical",
        "died": "boolean",
    }
    assert spec.id_columns == ["patient_id"]  # unique, id-like name
    assert spec.column("patient_id").min is None  # new patients bring new ids
    assert spec.column("admitted").format == "%Y-%m-%d"
    assert spec.column("creatinine").decimals == 1
    assert spec.column("creatinine").nullable and not spec.column("age").nullable
    assert spec.column("age").min == patients["age"].min() and isinstance(
        spec.column("age").min, int
    )
    assert spec.column("stage").values == [1, 2, 3, 4]
    assert spec.column("ward").values == ["cardio", "general", "icu", "onco"]
    assert spec.predictors == ["age", "sex", "creatinine", "stage", "admitted", "ward"]


def test_yes_no_column_is_boolean_and_text_keys_are_ids() -> None:
    df = pd.DataFrame({"mrn": [f"A{i:04d}" for i in range(30)], "smoker": ["yes", "no"] * 15})
    spec = infer_spec(df)
    assert spec.column("smoker").type == "boolean"
    assert spec.id_columns == ["mrn"] and spec.column("mrn").values is None


def test_yaml_round_trip(patients: pd.DataFrame) -> None:
    spec = infer_spec(patients, name="p", target="died", non_predictors=["ward"])
    again = DatasetSpec.from_yaml(spec.to_yaml())
    assert again == spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("columns: [{name: a, type: numbr}]", "columns.0.type"),
        ("columns: [{name: a, type: numeric}]\ntarget: b", "target 'b' is not a column"),
        ("columns: [{name: a, type: categorical, min: 1}]", "min/max apply to numbers"),
        ("columns: [{name: a, type: numeric, colour: red}]", "colour"),
        ("- just\n- a list", "expected a mapping"),
        ("columns: [", "not valid YAML"),
    ],
)
def test_bad_specs_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(SpecError, match="my.yaml") as err:
        DatasetSpec.from_yaml(text, source="my.yaml")
    assert message in str(err.value)


def test_privacy_and_survival_roles(patients: pd.DataFrame) -> None:
    df = patients.assign(days=range(len(patients)))
    spec = infer_spec(
        df,
        target="died",
        survival_time="days",
        quasi_identifiers=["age", "sex"],
        sensitive=["ward"],
    )
    assert "days" not in spec.predictors and "died" not in spec.predictors
    again = DatasetSpec.from_yaml(spec.to_yaml())
    assert again.survival_time == "days" and again.quasi_identifiers == ["age", "sex"]
    assert again.sensitive == ["ward"]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"sensitive": ["diagnosis"]}, "sensitive names unknown columns"),
        (
            {"quasi_identifiers": ["age"], "sensitive": ["age"]},
            "both quasi-identifier and sensitive",
        ),
        ({"quasi_identifiers": ["patient_id"]}, "cannot hold id columns"),
        ({"survival_time": "sex"}, "needs a numeric column"),
        ({"survival_time": "age", "target": None}, "needs a numeric column"),
    ],
)
def test_bad_roles_name_the_problem(patients: pd.DataFrame, roles: dict, message: str) -> None:
    settings = {"target": "died", **roles}
    with pytest.raises(SpecError, match=message):
        infer_spec(patients, **settings)


def test_declared_ranges_replace_the_inferred_ones_and_name_unknown_columns() -> None:
    spec = infer_spec(make_patients(200), target="died")
    wide = spec.with_ranges({"age": (0, 120), "admitted": ("2019-01-01", "2023-12-31")})
    assert (wide.column("age").min, wide.column("age").max) == (0, 120)
    assert wide.column("admitted").bound("max") == pd.Timestamp("2023-12-31")
    assert wide.column("creatinine") == spec.column("creatinine")  # the others untouched
    assert spec.column("age").max < 120  # a copy: the inferred spec keeps its own
    with pytest.raises(KeyError, match="no column 'lactate'"):
        spec.with_ranges({"lactate": (0, 20)})
