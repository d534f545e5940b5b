"""zCDP accounting: the conversion to (epsilon, delta) agrees with Opacus, budgets invert, and a
ledger refuses to overspend."""

import math

import numpy as np
import pytest
from opacus.accountants.analysis.rdp import get_privacy_spent

from generators.accounting import (
    Ledger,
    epsilon_of,
    exponential_epsilon,
    exponential_rho,
    gaussian_rho,
    gaussian_sigma,
    replay,
    rho_for,
)


@pytest.mark.parametrize(("rho", "delta"), [(0.01, 1e-5), (0.03, 1e-6), (0.5, 1e-5), (2.0, 1e-4)])
def test_conversion_agrees_with_opacus_on_the_same_renyi_curve(rho, delta) -> None:
    orders = np.linspace(1.001, 3000, 300_000)  # rho-zCDP is RDP of order a at rho * a
    expected, _ = get_privacy_spent(orders=list(orders), rdp=list(rho * orders), delta=delta)
    assert epsilon_of(rho, delta) == pytest.approx(expected, rel=1e-3)


def test_budget_inverts_and_beats_the_textbook_conversion() -> None:
    for eps in (0.5, 1.0, 3.0, 10.0):
        rho = rho_for(eps, 1e-5)
        assert epsilon_of(rho, 1e-5) == pytest.approx(eps, rel=1e-6)
        assert epsilon_of(rho * 1.01, 1e-5) > eps
        # Bun & Steinke's eps = rho + 2 sqrt(rho log(1/delta)) allows less rho
        textbook = (
            (-2 * math.sqrt(math.log(1e5)) + math.sqrt(4 * math.log(1e5) + 4 * eps)) / 2
        ) ** 2
        assert rho > textbook
    assert rho_for(1.0, 1e-5) == pytest.approx(0.0306, abs=2e-4)
    with pytest.raises(ValueError, match="0 < delta < 1"):
        rho_for(1.0, 1.5)


def test_mechanisms_cost_what_the_literature_says() -> None:
    assert gaussian_rho(gaussian_sigma(0.02)) == pytest.approx(0.02)
    assert gaussian_rho(2.0, sensitivity=2.0) == pytest.approx(0.5)  # s^2 / (2 sigma^2)
    assert exponential_rho(exponential_epsilon(0.01)) == pytest.approx(0.01)
    assert exponential_rho(0.4) == pytest.approx(0.02)  # eps^2 / 8


def test_ledger_refuses_to_overspend_and_replays() -> None:
    ledger = Ledger(rho=rho_for(1.0, 1e-5), delta=1e-5)
    sigma = gaussian_sigma(ledger.rho / 2)
    ledger.gaussian("marginal (a)", sigma, cells=4)
    ledger.exponential("select a marginal", exponential_epsilon(ledger.rho / 4))
    with pytest.raises(RuntimeError, match="privacy budget exceeded by marginal \\(b\\)"):
        ledger.gaussian("marginal (b)", sigma, cells=4)  # another half: over by a quarter
    ledger.gaussian("marginal (b)", gaussian_sigma(ledger.rho / 4), cells=4)
    summary = ledger.summary()
    assert summary["epsilon"] == pytest.approx(1.0, rel=1e-6)
    assert [m["what"] for m in summary["measurements"]] == [
        "marginal (a)",
        "select a marginal",
        "marginal (b)",
    ]
    assert replay(summary["measurements"], 1e-5) == pytest.approx(summary["epsilon"])
