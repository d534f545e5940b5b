import numpy as np
import pandas as pd
import pytest

from evaluation.density_ratio import effective_sample_size, fit_density_ratio, weighted_choice
from evaluation.fidelity import detection_auc

KINDS = {"x": "numeric", "group": "categorical"}


def _table(n: int, shift: float, p_group: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"x": rng.normal(shift, 1.0, n), "group": np.where(rng.random(n) < p_group, "a", "b")}
    )


def test_ratio_is_higher_where_real_data_is_denser() -> None:
    real, synth = _table(3000, 0.0, 0.7, 0), _table(3000, 1.0, 0.3, 1)
    ratio = fit_density_ratio(real, synth, KINDS)
    probe = pd.DataFrame({"x": [-1.0, 0.0, 2.0, 3.0], "group": ["a", "a", "b", "b"]})
    w = ratio.weights(probe)
    assert w[0] > w[2] and w[1] > w[3]


def test_resampling_by_the_ratio_moves_the_synthetic_rows_towards_the_real_ones() -> None:
    real, calibration, pool = (
        _table(3000, 0.0, 0.7, 0),
        _table(3000, 0.6, 0.4, 1),
        _table(24000, 0.6, 0.4, 2),
    )
    ratio = fit_density_ratio(real, calibration, KINDS)
    keep = pool.iloc[weighted_choice(ratio.weights(pool), 3000, np.random.default_rng(0))]
    plain = pool.iloc[:3000]
    assert abs(keep["x"].mean()) < abs(plain["x"].mean()) / 2
    assert abs((keep["group"] == "a").mean() - 0.7) < abs((plain["group"] == "a").mean() - 0.7) / 2
    assert detection_auc(real, keep, KINDS)["auc"] < detection_auc(real, plain, KINDS)["auc"] - 0.05


def test_weighted_choice_is_distinct_and_proportional() -> None:
    weights = np.array([1.0] * 90 + [50.0] * 10)
    hits = np.zeros(100)
    rng = np.random.default_rng(0)
    for _ in range(300):
        pick = weighted_choice(weights, 10, rng)
        assert len(set(pick)) == 10
        hits[pick] += 1
    assert hits[90:].mean() > 5 * hits[:90].mean()
    with pytest.raises(ValueError, match="cannot choose 11 of 10"):
        weighted_choice(np.ones(10), 11, rng)


def test_effective_sample_size() -> None:
    assert effective_sample_size(np.ones(50)) == pytest.approx(50)
    assert effective_sample_size(np.array([1.0, 0, 0, 0])) == pytest.approx(1)
