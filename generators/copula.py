"""Gaussian copula: a fast statistical baseline for mixed-type tables.

Each encoded variable gets its own empirical marginal, and one correlation matrix ties them
together in normal-score space (the idea of SDV's GaussianCopula, written anew on our transforms):

- the generator works on the same reversible matrix as the neural models (``generators.transforms``),
  so bounds, integers, dates, decimals and missing values decode identically; each number is
  encoded as one linear offset (no mixture modes), so its marginal is the column's own;
- a continuous offset is mapped to a normal score through its ranks, and back through a grid of
  its quantiles;
- a one-hot block (a category, a numeric column's mode, a missing flag) is a categorical variable:
  its categories own consecutive intervals of [0, 1], ordered by
  frequency, and a value maps to a uniform draw inside its
  interval, then to a normal score.

Fitting is one pass over the data and one correlation matrix: seconds, no GPU, no epochs. The known
weakness of this baseline: the Pearson correlation of jittered category scores understates the
dependence between categorical columns (a stage -> death gradient comes back at about a third).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from scipy.special import ndtr, ndtri

from generators.base import EpochCallback, FitReport, Generator, GeneratorConfig
from generators.conditions import Condition
from generators.layout import EncodedTable
from generators.registry import register
from generators.schema import DatasetSpec
from generators.transforms import TableTransformer


class GaussianCopulaConfig(GeneratorConfig):
    quantiles: int = Field(1000, ge=10, description="Knots of each continuous marginal")
    shrinkage: float = Field(
        0.01, ge=0, lt=1, description="Pulls correlations towards 0 (stabilises small tables)"
    )


@register("gaussian_copula")
class GaussianCopula(Generator):
    """Empirical marginals joined by a Gaussian copula."""

    config_class = GaussianCopulaConfig
    config: GaussianCopulaConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.correlation: np.ndarray | None = None
        self.knots: list[np.ndarray] = []  # per variable: quantiles, or category cum. probs
        self.orders: list[np.ndarray] = []  # per categorical variable: codes in interval order

    def _fit_transformer(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int
    ) -> TableTransformer:
        # One linear offset per number: its empirical marginal then is the column's own, and the
        # correlation is not diluted across mixture modes.
        return TableTransformer.fit_linear(data, spec, seed)

    def _variables(self) -> list[tuple[int, int, bool]]:
        """(start, dim, categorical) of every span of the encoded matrix."""
        return [(s.start, s.dim, s.activation == "softmax") for s in self.transformer.spans]

    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        rng = np.random.default_rng(seed)
        n = len(table)
        grid = np.linspace(0, 1, min(self.config.quantiles, n))
        scores = np.empty((n, len(self.transformer.spans)))
        self.knots, self.orders = [], []
        for j, span in enumerate(self.transformer.spans):
            dim = span.dim
            if span.activation == "tanh":
                x = table.scalar_of(span).astype(float)
                self.knots.append(np.quantile(x, grid))
                self.orders.append(np.zeros(0, dtype=int))
                ranks = (np.argsort(np.argsort(x, kind="stable"), kind="stable") + 0.5) / n
                scores[:, j] = ndtri(ranks)
                continue
            codes = table.code_of(span)
            freq = np.bincount(codes, minlength=dim) / n
            order = np.argsort(-freq, kind="stable")
            position = np.empty(dim, dtype=int)
            position[order] = np.arange(dim)
            cum = np.concatenate([[0.0], np.cumsum(freq[order])])
            self.knots.append(cum)
            self.orders.append(order)
            pos = position[codes]
            u = cum[pos] + rng.random(n) * (cum[pos + 1] - cum[pos])
            scores[:, j] = ndtri(np.clip(u, 1e-9, 1 - 1e-9))
        corr = np.corrcoef(scores, rowvar=False) if scores.shape[1] > 1 else np.ones((1, 1))
        corr = np.nan_to_num(corr, nan=0.0)  # constant variables correlate with nothing
        np.fill_diagonal(corr, 1.0)
        self.correlation = _nearest_correlation((1 - self.config.shrinkage) * corr)
        if on_epoch is not None:
            on_epoch(1, 1, {})
        return FitReport(epochs=1, seconds=0.0, history=[{"epoch": 1}])

    def _sample_given(self, n: int, *, seed: int, conditions: list[Condition]) -> np.ndarray:
        """Exact conditioning on the first condition: its normal score is drawn within its
        category's interval, the others from the Gaussian conditional on it."""
        starts = [start for start, _, _ in self._variables()]
        c = conditions[0]
        j = starts.index(c.span.start)
        pos = int(np.flatnonzero(self.orders[j] == c.index)[0])
        lo, hi = self.knots[j][pos], self.knots[j][pos + 1]
        if hi <= lo:  # a category the data never had: no interval to draw from
            return self._sample(n, seed=seed)
        rng = np.random.default_rng(seed)
        z_j = ndtri(np.clip(lo + rng.random(n) * (hi - lo), 1e-12, 1 - 1e-12))
        corr = self.correlation
        others = np.delete(np.arange(len(corr)), j)
        mean = np.outer(z_j, corr[others, j])  # (n, V-1): E[z_rest | z_j]
        cov = corr[np.ix_(others, others)] - np.outer(corr[others, j], corr[j, others])
        chol = np.linalg.cholesky(cov + 1e-9 * np.eye(len(others)))
        z = np.empty((n, len(corr)))
        z[:, j] = z_j
        z[:, others] = mean + rng.standard_normal((n, len(others))) @ chol.T
        return self._decode(ndtr(z))

    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        chol = np.linalg.cholesky(self.correlation)
        return self._decode(ndtr(rng.standard_normal((n, len(chol))) @ chol.T))

    def _decode(self, u: np.ndarray) -> np.ndarray:
        """Uniform scores (n, variables) to the encoded matrix."""
        n = len(u)
        out = np.zeros((n, self.transformer.width), dtype=np.float32)
        for j, (start, dim, categorical) in enumerate(self._variables()):
            if not categorical:
                knots = self.knots[j]
                out[:, start] = np.interp(u[:, j], np.linspace(0, 1, len(knots)), knots)
                continue
            cum = self.knots[j]
            pos = np.clip(np.searchsorted(cum, u[:, j], side="right") - 1, 0, dim - 1)
            out[np.arange(n), start + self.orders[j][pos]] = 1.0
        return out

    def _meta(self) -> dict[str, Any]:
        return {"variables": len(self.knots)}

    def _tensors(self) -> dict[str, torch.Tensor]:
        state = {"correlation": torch.as_tensor(self.correlation)}
        for j, (knots, order) in enumerate(zip(self.knots, self.orders, strict=True)):
            state[f"knots.{j}"] = torch.as_tensor(knots)
            state[f"order.{j}"] = torch.as_tensor(order)
        return state

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        count = meta["variables"]
        if count != len(self.transformer.spans):
            raise ValueError("checkpoint's copula variables do not match its transforms")
        self.correlation = tensors["correlation"].numpy()
        self.knots = [tensors[f"knots.{j}"].numpy() for j in range(count)]
        self.orders = [tensors[f"order.{j}"].numpy() for j in range(count)]


def _nearest_correlation(corr: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues (from ties and constant variables) and rescale to unit diagonal,
    so the Cholesky factor exists."""
    values, vectors = np.linalg.eigh(corr)
    fixed = (vectors * np.maximum(values, 1e-6)) @ vectors.T
    d = np.sqrt(np.diag(fixed))
    return fixed / d[:, None] / d[None, :]
