"""Our concordance index and Cox model agree with scikit-survival's (the demo extra) to the digit."""

import numpy as np
import pytest

from evaluation.survival import CoxRidge, concordance_index


def _survival_data(n: int, seed: int):  # noqa: ANN202
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    beta = np.array([1.0, -0.5, 0.0])
    event_time = rng.exponential(1 / np.exp(x @ beta))
    censor_time = rng.exponential(2.0, n)
    time = np.round(np.minimum(event_time, censor_time), 1)  # rounding makes ties
    return x, beta, time, (event_time <= censor_time).astype(int)


def test_concordance_matches_scikit_survival_with_ties() -> None:
    sksurv_metrics = pytest.importorskip("sksurv.metrics")
    x, beta, time, event = _survival_data(1500, 0)
    for risk in (x @ beta, np.round(x[:, 0], 1), -x @ beta):
        expected = sksurv_metrics.concordance_index_censored(event.astype(bool), time, risk)[0]
        assert concordance_index(time, event, risk) == pytest.approx(expected, abs=1e-12)


def test_concordance_extremes() -> None:
    time = np.arange(1.0, 11.0)
    event = np.ones(10)
    assert concordance_index(time, event, -time) == 1.0  # earliest death, highest risk
    assert concordance_index(time, event, time) == 0.0
    assert concordance_index(time, event, np.zeros(10)) == 0.5
    with pytest.raises(ValueError, match="at least one event"):
        concordance_index(time, np.zeros(10), time)


def test_cox_recovers_coefficients_and_matches_scikit_survival() -> None:
    x, beta, time, event = _survival_data(3000, 1)
    coef = CoxRidge(alpha=0.0).fit(x, time, event).coef_
    assert coef == pytest.approx(beta, abs=0.1)
    linear = pytest.importorskip("sksurv.linear_model")
    y = np.array(
        list(zip(event.astype(bool), time, strict=True)), dtype=[("e", bool), ("t", float)]
    )
    reference = linear.CoxPHSurvivalAnalysis(alpha=0.0, ties="breslow").fit(x, y).coef_
    assert coef == pytest.approx(reference, abs=1e-4)
