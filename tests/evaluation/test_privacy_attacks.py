"""The privacy attacks find memorised patients and stay at chance on an honest sample."""

import numpy as np
import pandas as pd
import pytest

from evaluation.privacy import (
    attribute_inference,
    dcr,
    density_membership_inference,
    k_anonymity,
)
from tests.conftest import make_patients
from tests.evaluation.test_metrics import KINDS


def _patients(n: int, seed: int) -> pd.DataFrame:
    return make_patients(n, seed).assign(admitted=lambda d: pd.to_datetime(d["admitted"]))


@pytest.fixture(scope="module")
def split():  # noqa: ANN201
    train, holdout, population = _patients(800, 0), _patients(800, 1), _patients(800, 2)
    return train, holdout, population


def test_nndr_is_zero_for_copies_and_like_unseen_patients_for_an_honest_sample(split) -> None:
    train, holdout, population = split
    copied = dcr(train, holdout, train, KINDS)
    honest = dcr(train, holdout, population, KINDS)
    assert copied["nndr_median"] == 0.0
    assert honest["nndr_median"] == pytest.approx(honest["nndr_median_holdout"], abs=0.1)
    assert honest["nndr_median"] > 0.5


def test_density_attack_separates_members_when_rows_are_copied(split) -> None:
    train, holdout, population = split
    leaked = density_membership_inference(train, holdout, train, KINDS)
    honest = density_membership_inference(train, holdout, population, KINDS)
    assert leaked["density_auc"] > 0.65
    assert abs(honest["density_auc"] - 0.5) < 0.08
    assert leaked["attack_rows"] == 400  # half the holdout are non-members, as many members
    with pytest.raises(ValueError, match="at least 20 holdout rows"):
        density_membership_inference(train, holdout.iloc[:10], population, KINDS)


def test_attribute_inference_advantage_only_for_memorised_patients(split) -> None:
    train, holdout, population = split
    sensitive = ["ward", "creatinine"]
    leaked = attribute_inference(train, holdout, train, KINDS, sensitive)
    honest = attribute_inference(train, holdout, population, KINDS, sensitive)
    assert leaked["ward"]["members"] == 1.0  # the nearest synthetic row is the patient
    assert leaked["ward"]["advantage"] > 0.5 and leaked["creatinine"]["advantage"] > 0.3
    for col in sensitive:
        assert abs(honest[col]["advantage"]) < 0.08
    # the sensitive columns are never among the attacker's known columns
    assert leaked["ward"]["known_columns"] == len(KINDS) - 2
    # an attacker who only knows sex learns nothing patient-specific, copies or not
    weak = attribute_inference(train, holdout, train, KINDS, ["ward"], ["sex"])
    assert abs(weak["ward"]["advantage"]) < 0.08 and weak["ward"]["known_columns"] == 1


def test_k_anonymity_counts_groups_and_points_at_small_real_groups() -> None:
    real = pd.DataFrame({"sex": ["F"] * 6 + ["M"] * 2, "ward": ["icu"] * 6 + ["onco", "icu"]})
    kinds = {"sex": "categorical", "ward": "categorical"}
    synth = pd.DataFrame({"sex": ["F", "F", "M", "M"], "ward": ["icu", "icu", "onco", "general"]})
    out = k_anonymity(real, synth, kinds, ["sex", "ward"])
    assert out["k_real"] == 1 and out["groups_real"] == 3
    assert out["k_synthetic"] == 1  # (M, onco) and (M, general) are alone
    # (M, onco) points at one real patient; (M, general) at none; (F, icu) at six
    assert out["small_group_share"] == 0.25
    with pytest.raises(ValueError, match="quasi-identifier"):
        k_anonymity(real, synth, kinds, [])


def test_k_anonymity_generalises_numbers_to_deciles() -> None:
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"age": rng.integers(20, 90, 1000)})
    out = k_anonymity(real, real, {"age": "numeric"}, ["age"])
    assert out["groups_real"] == 10 and out["k_real"] >= 70
