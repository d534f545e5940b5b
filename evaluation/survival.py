"""Survival utility: Harrell's concordance index and a ridge-penalised Cox model, in numpy.

Our own small implementation keeps the core free of GPL dependencies (scikit-survival is only the
demo's data source). The Cox fit maximises the Breslow partial likelihood with an L2 penalty
(L-BFGS); it is enough to rank patients by risk, which is all the concordance index looks at.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

CINDEX_ROWS = 20_000  # larger test sets are subsampled (stated in the result)


def concordance_index(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C: among comparable pairs (the earlier time is an event; a censoring at the same
    time counts as later), the share in which the patient who failed first has the higher risk;
    ties in risk count one half. 0.5 is chance, 1 a perfect ranking."""
    time, event, risk = (np.asarray(a, dtype=float) for a in (time, event, risk))
    if len(time) > CINDEX_ROWS:
        pick = np.random.default_rng(0).choice(len(time), CINDEX_ROWS, replace=False)
        time, event, risk = time[pick], event[pick], risk[pick]
    concordant = comparable = 0.0
    cases = np.flatnonzero(event > 0)
    for start in range(0, len(cases), 1024):  # (cases chunk x patients) at a time
        i = cases[start : start + 1024]
        # j outlived i: a later time, or the same time without an event (censored at it)
        later = (time[None, :] > time[i, None]) | (
            (time[None, :] == time[i, None]) & (event[None, :] == 0)
        )
        comparable += later.sum()
        concordant += (later & (risk[i, None] > risk[None, :])).sum()
        concordant += 0.5 * (later & (risk[i, None] == risk[None, :])).sum()
    if comparable == 0:
        raise ValueError("no comparable pairs: the concordance index needs at least one event")
    return float(concordant / comparable)


class CoxRidge:
    """Cox proportional hazards with an L2 penalty; ``predict`` returns the linear risk score."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha
        self.coef_: np.ndarray | None = None

    def fit(self, x: np.ndarray, time: np.ndarray, event: np.ndarray) -> CoxRidge:
        order = np.argsort(-np.asarray(time, dtype=float), kind="stable")  # longest first
        x, event = np.asarray(x, dtype=float)[order], np.asarray(event, dtype=float)[order]
        neg_time = -np.asarray(time, dtype=float)[order]
        # risk set of row k: every row with time >= time_k, i.e. rows 0..last[k] in this order
        # (Breslow's handling of ties: tied rows share one risk set)
        last = np.searchsorted(neg_time, neg_time, side="right") - 1
        n = len(x)

        def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
            eta = x @ beta
            shift = eta.max()
            w = np.exp(eta - shift)
            cum_w = np.cumsum(w)[last]
            cum_wx = np.cumsum(w[:, None] * x, axis=0)[last]
            log_risk = np.log(cum_w) + shift
            nll = -(event * (eta - log_risk)).sum() / n + 0.5 * self.alpha * beta @ beta / n
            grad = -(event[:, None] * (x - cum_wx / cum_w[:, None])).sum(0) / n
            return float(nll), grad + self.alpha * beta / n

        result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B")
        self.coef_ = result.x
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.coef_ is None:
            raise RuntimeError("CoxRidge.predict before fit")
        return np.asarray(x, dtype=float) @ self.coef_
