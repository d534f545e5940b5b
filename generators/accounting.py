"""Privacy accounting in zero-concentrated differential privacy (zCDP), auditable by hand.

A private fit is a sequence of measurements of the real rows; each spends part of a budget rho:

- the Gaussian mechanism (a count vector plus N(0, sigma^2) noise per cell) with L2 sensitivity
  ``s`` is ``s^2 / (2 sigma^2)``-zCDP (Bun & Steinke 2016);
- the exponential mechanism at epsilon ``e`` (scores of L1 sensitivity 1) is ``e^2 / 8``-zCDP
  (Cesar & Rogers 2021, bounded range), as AIM accounts it;
- rho adds up over measurements, however adaptively they were chosen.

rho-zCDP is Renyi DP of every order alpha at ``rho * alpha``, and converts to (epsilon, delta)-DP by
the bound Opacus uses for RDP (Balle et al. 2020; Canonne, Kamath & Steinke 2020):
``epsilon = min over alpha of rho*alpha + log((alpha-1)/alpha) - (log delta + log alpha)/(alpha-1)``.
``Ledger`` records every measurement with its noise and share, so a run's manifest lists them and a
test can replay the total.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

_ORDERS = np.concatenate([1 + np.logspace(-4, 0, 400)[:-1], np.logspace(np.log10(2), 5, 2000)])


def epsilon_of(rho: float, delta: float) -> float:
    """The (epsilon, delta)-DP a rho-zCDP mechanism satisfies."""
    if rho <= 0:
        return 0.0
    a = _ORDERS
    eps = rho * a + np.log((a - 1) / a) - (np.log(delta) + np.log(a)) / (a - 1)
    return float(max(np.min(eps), 0.0))


def rho_for(epsilon: float, delta: float) -> float:
    """The largest zCDP budget whose conversion stays within (epsilon, delta)."""
    if not (epsilon > 0 and 0 < delta < 1):
        raise ValueError(f"need epsilon > 0 and 0 < delta < 1, got ({epsilon}, {delta})")
    lo, hi = 0.0, max(epsilon, 1.0)
    while epsilon_of(hi, delta) < epsilon:
        hi *= 2
    for _ in range(100):  # bisection: epsilon_of grows with rho
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if epsilon_of(mid, delta) <= epsilon else (lo, mid)
    return lo * (1 - 1e-9)  # shares of it summed in floating point stay within epsilon


def gaussian_rho(sigma: float, sensitivity: float = 1.0) -> float:
    return sensitivity**2 / (2 * sigma**2)


def gaussian_sigma(rho: float, sensitivity: float = 1.0) -> float:
    return sensitivity / math.sqrt(2 * rho)


def exponential_rho(epsilon: float) -> float:
    return epsilon**2 / 8


def exponential_epsilon(rho: float) -> float:
    return math.sqrt(8 * rho)


@dataclass(frozen=True)
class Measurement:
    """One use of the real rows: what was measured, how, and what it cost."""

    what: str  # e.g. "marginal (death, age)" or "select a pair"
    mechanism: Literal["gaussian", "exponential"]
    rho: float
    sigma: float | None = None  # gaussian: noise per cell
    epsilon: float | None = None  # exponential
    cells: int | None = None  # gaussian: the marginal's size


@dataclass
class Ledger:
    """The measurements of one fit against its budget ``rho``."""

    rho: float
    delta: float
    entries: list[Measurement] = field(default_factory=list)

    @property
    def spent(self) -> float:
        return float(sum(m.rho for m in self.entries))

    def gaussian(self, what: str, sigma: float, cells: int) -> None:
        self._add(Measurement(what, "gaussian", gaussian_rho(sigma), sigma=sigma, cells=cells))

    def exponential(self, what: str, epsilon: float) -> None:
        self._add(Measurement(what, "exponential", exponential_rho(epsilon), epsilon=epsilon))

    def _add(self, m: Measurement) -> None:
        if self.spent + m.rho > self.rho * (1 + 1e-9):
            raise RuntimeError(
                f"privacy budget exceeded by {m.what}: {self.spent + m.rho:.6g} > rho {self.rho:.6g}"
            )
        self.entries.append(m)

    def summary(self) -> dict[str, Any]:
        return {
            "epsilon": epsilon_of(self.spent, self.delta),
            "delta": self.delta,
            "rho": self.spent,
            "rho_budget": self.rho,
            "accountant": "zCDP, converted to (epsilon, delta) as Opacus converts RDP",
            "measurements": [
                {k: v for k, v in asdict(m).items() if v is not None} for m in self.entries
            ],
        }


def replay(measurements: list[dict[str, Any]], delta: float) -> float:
    """The epsilon of a recorded list of measurements, recomputed from their noise alone."""
    rho = 0.0
    for m in measurements:
        if m["mechanism"] == "gaussian":
            rho += gaussian_rho(m["sigma"])
        else:
            rho += exponential_rho(m["epsilon"])
    return epsilon_of(rho, delta)
