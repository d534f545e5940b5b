"""Conditional sampling: exactly the rows asked, all meeting the conditions, or a clear error."""

import numpy as np
import pytest

from generators import registry
from generators.base import FitReport, Generator
from generators.conditions import ConditionError, resolve
from generators.schema import infer_spec
from tasks.validation import coerce
from tests.conftest import make_patients
from tests.generators.test_contract import SETTINGS


@pytest.fixture(scope="module")
def data():  # noqa: ANN201
    raw = make_patients(500, seed=4)
    spec = infer_spec(raw, name="p", target="died")
    return coerce(raw, spec)[0], spec


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def model(request, data):  # noqa: ANN001, ANN201
    df, spec = data
    m = registry.create(request.param, SETTINGS[request.param])
    m.fit(df, spec, seed=0)
    return m


def test_every_row_meets_the_conditions(model) -> None:
    out = model.sample(300, seed=1, conditions={"stage": 4})
    assert len(out) == 300 and (out["stage"] == 4).all()
    both = model.sample(200, seed=2, conditions={"stage": "3", "sex": "F"})  # text, as typed
    assert len(both) == 200 and (both["stage"] == 3).all() and (both["sex"] == "F").all()
    assert both["patient_id"].is_unique
    missing = model.sample(50, seed=3, conditions={"ward": None})
    assert missing["ward"].isna().all()


def test_impossible_conditions_fail_fast_and_say_why(model) -> None:
    with pytest.raises(ConditionError, match=r"not a value of 'sex'; known: \['F', 'M'\]"):
        model.sample(10, conditions={"sex": "X"})
    with pytest.raises(ConditionError, match="only categorical and boolean"):
        model.sample(10, conditions={"age": 70})
    with pytest.raises(ConditionError, match="ids are generated fresh"):
        model.sample(10, conditions={"patient_id": 1000})
    with pytest.raises(ConditionError, match="unknown column 'bmi'"):
        model.sample(10, conditions={"bmi": 30})


def test_copula_conditions_exactly_and_keeps_the_dependence(data) -> None:
    df, spec = data
    copula = registry.create("gaussian_copula")
    copula.fit(df, spec, seed=0)
    wanted = resolve(copula.transformer, {"stage": 4}, spec.id_columns)
    matrix = copula._sample_given(2000, seed=0, conditions=wanted)
    decoded = copula.transformer.inverse(matrix)
    assert (decoded["stage"] == 4).mean() > 0.99  # drawn inside the category, not rejected
    high = decoded["died"].mean()
    low = copula.sample(2000, seed=0, conditions={"stage": 1})["died"].mean()
    assert high > low + 0.1  # real: 0.69 vs 0.11


@registry.register("always_first")
class AlwaysFirst(Generator):
    """Produces only the first category of every column: some conditions can never be met."""

    def _fit(self, table, *, seed, on_epoch):  # noqa: ANN001
        self.width = table.layout.width
        return FitReport(epochs=1, seconds=0.0)

    def _sample(self, n, *, seed):  # noqa: ANN001
        out = np.zeros((n, self.transformer.width), dtype=np.float32)
        for span in self.transformer.spans:
            out[:, span.start] = 1.0 if span.activation == "softmax" else 0.0
        return out

    def _meta(self):  # noqa: ANN202
        return {}

    def _tensors(self):  # noqa: ANN202
        return {}

    def _restore(self, meta, tensors) -> None:  # noqa: ANN001
        pass


def test_a_combination_the_model_never_makes_is_reported(data) -> None:
    df, spec = data
    model = AlwaysFirst()
    model.fit(df, spec)
    assert (model.sample(5, conditions={"sex": "F"})["sex"] == "F").all()  # F is first
    with pytest.raises(ConditionError, match=r"produced 0 of 5 rows meeting sex='M'"):
        model.sample(5, conditions={"sex": "M"})
