"""Flow matching with gradient-boosted trees (``forestflow``), after Jolicoeur-Martineau, Fatras &
Kachman (AISTATS 2024).

A flow carries Gaussian noise ``x0`` to a real row ``x1`` along the straight line
``x_t = (1 - t) x0 + t x1``, whose velocity is ``x1 - x0``. Instead of a network, the velocity is
learnt by gradient-boosted trees: at each of ``levels`` noise levels ``t`` (0, 1/levels, ...),
one regressor per variable is fitted on ``duplicates`` noisy copies of every real row.
Sampling starts from noise and takes one Euler step per level with that level's regressors.

- **Variables** come from our reversible transforms with one linear offset per number (as the
  copula and ``cart`` use), so bounds, integers, dates and missing values decode identically to
  every other family. Each variable is scaled to [-1, 1] on the training rows; a one-hot block
  (a category, a missing flag) is one variable per category, and the generated block is its
  largest variable. A category with more than ``max_onehot`` values (diagnosis codes) is one
  variable instead: its values, likeliest first, split (0, 1) by their training shares, and a
  row's value is a uniform draw within its value's interval, as a normal score (the flow's own
  noise distribution, so the marginal is already right); the score's interval is the value.
  One regressor, not hundreds. Numbers are clipped to the training range, as in the paper.
- **Conditioned on the outcome**: with a categorical target, a separate flow is learnt for each
  of its classes (the paper's label-conditional version), and synthetic rows take the classes
  in their training shares. So the relationship between the outcome and every other column is
  learnt class by class, never averaged away; a condition on the target samples its class
  directly.
- **Trees** are grown by scikit-learn's HistGradientBoosting machinery (its binning, tree
  grower and compiled tree walker; every core through OpenMP), driven here as its least-squares
  regressor drives them, with one difference: a level's noisy rows are binned once for all its
  regressors instead of once per variable (binning was half of a regressor's time). The trees
  are kept as plain node arrays (the checkpoint is tensors + JSON, no pickled estimator). These
  are scikit-learn internals: the node layout is checked on import, and
  ``tests/generators/test_forestflow.py`` checks that the boosting fits exactly what
  ``HistGradientBoostingRegressor`` fits and that the kept trees predict what it predicts.

Cost: ``levels`` x variables regressors (per class), each on ``rows x duplicates`` rows (at most
``max_rows``). Sampling evaluates every tree once per row, so it costs about as much per row as
fitting did.
"""

from __future__ import annotations

import os
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

# Fit cost on the 2-core CPU, per boosting tree: a fixed part and one per row of the regressor's
# data, fitted to the quality suite's fit times at the defaults and rounded up
# (benchmarks/README.md, "forestflow": 4 to 246 s on 14 tables, estimated at 0.44-1.81 x).
# ``estimated_seconds`` uses them for auto's time budget.
SECONDS_PER_TREE = 2.5e-4
SECONDS_PER_TREE_ROW = 7.5e-8

# the fields of a scikit-learn tree node this module keeps (``PREDICTOR_RECORD_DTYPE``)
NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right")
NODE_FLAGS = ("is_leaf",)


class ForestFlowConfig(GeneratorConfig):
    levels: int = Field(20, ge=2, description="Noise levels: Euler steps from noise to data")
    duplicates: int = Field(
        20, ge=1, description="Noisy copies of each real row per level (the paper's K)"
    )
    max_rows: int = Field(
        60_000, ge=100, description="At most this many rows per regressor (fewer copies above)"
    )
    trees: int = Field(40, ge=1, description="Boosting iterations per regressor")
    learning_rate: float = Field(0.3, gt=0, le=1)
    max_leaf_nodes: int = Field(31, ge=2)
    min_leaf: int = Field(
        10,
        ge=1,
        description="Fewest real rows behind a leaf of a regressor (a leaf holds at least this "
        "many times the copies): the privacy knob, larger = blurrier",
    )
    conditional: bool = Field(
        True, description="One flow per class of a categorical target (the outcome kept)"
    )
    smoothing: float = Field(
        0.0,
        ge=0,
        description="Gaussian noise added to every generated variable (its standard deviation "
        "on the [-1, 1] scale): a privacy knob that blurs rows away from training rows",
    )
    max_onehot: int = Field(
        32,
        ge=2,
        description="A category with more values is one variable (its values ranked by "
        "frequency) instead of one variable per value",
    )


def flow_shape(spec: DatasetSpec, max_onehot: int = 32) -> tuple[int, int]:
    """(flow variables, outcome classes) the spec gives the flow, before any fit: a number's
    offset (and missing flag), one variable per value of a category with 2 to ``max_onehot``
    values, one for a category with more, and the classes of a categorical target (1 without).
    """
    variables, classes = 0, 1
    for col in spec.modelled:
        if col.is_discrete:
            k = len(col.values or []) + int(col.nullable)
            if col.name == spec.target:
                classes = max(k, 1)
            elif k > max_onehot:
                variables += 1
            elif k > 1:
                variables += k
        else:
            variables += 1 + 2 * int(col.nullable)
    return max(variables, 1), classes


def estimated_seconds(spec: DatasetSpec, rows: int, settings: dict[str, Any]) -> float:
    """Fit seconds on the 2-core CPU for ``rows`` training rows: levels x variables regressors
    per class, each of ``trees`` trees on the class's rows x copies."""
    cfg = ForestFlowConfig(**settings)
    variables, classes = flow_shape(spec, cfg.max_onehot)
    per_class = max(rows // classes, 1)
    data_rows = min(per_class * cfg.duplicates, max(cfg.max_rows, per_class))
    per_tree = SECONDS_PER_TREE + SECONDS_PER_TREE_ROW * data_rows
    return cfg.levels * variables * classes * cfg.trees * per_tree


def _predictor_api() -> tuple[type, Any]:
    """scikit-learn's compiled tree walker and its node dtype, or a clear error."""
    try:
        from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    except ImportError as exc:  # pragma: no cover - depends on the installed scikit-learn
        raise RuntimeError(
            "forestflow needs scikit-learn's HistGradientBoosting tree predictor "
            f"(tested with scikit-learn 1.5 to 1.9): {exc}"
        ) from exc
    missing = [f for f in NODE_FIELDS + NODE_FLAGS if f not in PREDICTOR_RECORD_DTYPE.names]
    if missing:  # pragma: no cover
        raise RuntimeError(f"forestflow: this scikit-learn's tree nodes lack {missing}")
    return TreePredictor, PREDICTOR_RECORD_DTYPE


class Binned:
    """A level's noisy rows binned once for all its regressors, as HistGradientBoosting bins
    them (up to 255 bins a feature and one for missing values)."""

    def __init__(self, x: np.ndarray, seed: int, threads: int):
        from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

        self.mapper = _BinMapper(n_bins=256, random_state=seed, n_threads=threads)
        self.x = np.asfortranarray(self.mapper.fit_transform(np.asarray(x, dtype=np.float64)))
        missing = self.mapper.missing_values_bin_idx_
        self.has_missing = (self.x == missing).any(axis=0).astype(np.uint8)


def boost(
    binned: Binned, y: np.ndarray, cfg: ForestFlowConfig, min_samples_leaf: int, threads: int
) -> tuple[float, list[Any]]:
    """Least-squares gradient boosting on binned rows: what ``HistGradientBoostingRegressor``
    fits with these settings (no early stopping), without binning the same rows again for
    every variable (half of its time on a level's rows). Returns (baseline, tree predictors)."""
    from sklearn.ensemble._hist_gradient_boosting._gradient_boosting import (
        _update_raw_predictions,
    )
    from sklearn.ensemble._hist_gradient_boosting.common import G_H_DTYPE
    from sklearn.ensemble._hist_gradient_boosting.grower import TreeGrower

    y = np.asarray(y, dtype=np.float64)
    baseline = float(np.mean(y))
    raw = np.full(len(y), baseline)
    gradients = np.empty(len(y), dtype=G_H_DTYPE)
    hessians = np.ones(1, dtype=G_H_DTYPE)  # constant for squared error
    predictors = []
    for _ in range(cfg.trees):
        np.subtract(raw, y, out=gradients, casting="unsafe")
        grower = TreeGrower(
            X_binned=binned.x,
            gradients=gradients,
            hessians=hessians,
            max_leaf_nodes=cfg.max_leaf_nodes,
            min_samples_leaf=min_samples_leaf,
            n_bins=256,
            n_bins_non_missing=binned.mapper.n_bins_non_missing_,
            has_missing_values=binned.has_missing,
            shrinkage=cfg.learning_rate,
            n_threads=threads,
        )
        grower.grow()
        predictors.append(grower.make_predictor(binning_thresholds=binned.mapper.bin_thresholds_))
        _update_raw_predictions(raw, grower, threads)
    return baseline, predictors


class Forest:
    """Every regressor of one flow: ``levels x variables`` models, each a baseline plus trees,
    all trees' nodes in one table (tree ``k``'s nodes are ``nodes[bounds[k]:bounds[k + 1]]``,
    a model's trees are ``trees[m]:trees[m + 1]``)."""

    def __init__(
        self,
        nodes: dict[str, np.ndarray],
        bounds: np.ndarray,
        trees: np.ndarray,
        baselines: np.ndarray,
        levels: int,
        variables: int,
    ):
        self.nodes, self.bounds, self.trees = nodes, bounds, trees
        self.baselines, self.levels, self.variables = baselines, levels, variables
        self._predictors: list[Any] | None = None

    @classmethod
    def of(cls, models: list[tuple[float, list[Any]]], levels: int, variables: int) -> Forest:
        """From boosted models (baseline, tree predictors), level by level, variable by
        variable."""
        parts, bounds, trees, baselines = [], [0], [0], []
        for baseline, predictors in models:
            for predictor in predictors:
                parts.append(predictor.nodes)
                bounds.append(bounds[-1] + len(predictor.nodes))
            trees.append(trees[-1] + len(predictors))
            baselines.append(float(baseline))
        table = np.concatenate(parts) if parts else np.zeros(0, dtype=_predictor_api()[1])
        nodes = {f: np.asarray(table[f]) for f in NODE_FIELDS + NODE_FLAGS}
        return cls(
            nodes,
            np.asarray(bounds, dtype=np.int64),
            np.asarray(trees, dtype=np.int64),
            np.asarray(baselines, dtype=np.float64),
            levels,
            variables,
        )

    def predictors(self) -> list[Any]:
        if self._predictors is None:
            tree_predictor, dtype = _predictor_api()
            table = np.zeros(int(self.bounds[-1]), dtype=dtype)
            for f, values in self.nodes.items():
                table[f] = values
            empty = np.zeros((0, 8), dtype=np.uint32)
            self._predictors = [
                tree_predictor(table[a:b].copy(), empty, empty)
                for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)
            ]
        return self._predictors

    def velocity(self, level: int, x: np.ndarray, threads: int) -> np.ndarray:
        """Every variable's predicted velocity at ``level`` for the rows ``x`` (rows, variables)."""
        predictors = self.predictors()
        no_categories = np.zeros((0, 8), dtype=np.uint32)
        feature_map = np.zeros(x.shape[1], dtype=np.uint32)
        x = np.ascontiguousarray(x, dtype=np.float64)
        out = np.empty((len(x), self.variables))
        for v in range(self.variables):
            m = level * self.variables + v
            total = np.full(len(x), self.baselines[m])
            for k in range(self.trees[m], self.trees[m + 1]):
                total += predictors[k].predict(x, no_categories, feature_map, threads)
            out[:, v] = total
        return out

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        out = {f"{prefix}.node.{f}": torch.as_tensor(v) for f, v in self.nodes.items()}
        out[f"{prefix}.bounds"] = torch.as_tensor(self.bounds)
        out[f"{prefix}.trees"] = torch.as_tensor(self.trees)
        out[f"{prefix}.baselines"] = torch.as_tensor(self.baselines)
        return out

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], prefix: str, levels: int, variables: int
    ) -> Forest:
        nodes = {f: tensors[f"{prefix}.node.{f}"].numpy() for f in NODE_FIELDS + NODE_FLAGS}
        forest = cls(
            nodes,
            tensors[f"{prefix}.bounds"].numpy(),
            tensors[f"{prefix}.trees"].numpy(),
            tensors[f"{prefix}.baselines"].numpy(),
            levels,
            variables,
        )
        if len(forest.trees) != levels * variables + 1:
            raise ValueError(f"checkpoint's {prefix} does not hold {levels} x {variables} models")
        return forest


@register("forestflow")
class ForestFlow(Generator):
    """Flow matching with gradient-boosted trees, one flow per outcome class."""

    config_class = ForestFlowConfig
    config: ForestFlowConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.columns: list[int] = []  # matrix columns that are flow variables
        self.blocks: list[tuple[int, int]] = []  # (start, dim) of one-hot blocks, in the matrix
        # (start, dim) of many-valued categories: one variable each, the value's frequency rank
        self.ordinal: list[tuple[int, int]] = []
        self.ranked: list[np.ndarray] = []  # per ordinal block: its categories, likeliest first
        self.edges: list[np.ndarray] = []  # per ordinal block: cumulative shares, ranked order
        self.constant: list[int] = []  # single-column blocks (a number's one mode): always 1
        self.low = np.zeros(0)
        self.high = np.zeros(0)
        self.target: tuple[int, int] | None = None  # (start, dim) of the conditioning block
        self.shares = np.ones(1)  # class shares of the target (one class when unconditional)
        self.flows: list[Forest | None] = []  # per class; None for a class with no rows

    def _fit_transformer(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int
    ) -> TableTransformer:
        return TableTransformer.fit_linear(data, spec, seed)

    def _layout(self) -> None:
        self.blocks, self.ordinal, self.constant, self.target = [], [], [], None
        target = self.spec.target if self.spec is not None else None
        for span in self.transformer.spans:
            if span.activation == "tanh":
                continue
            if span.dim == 1:
                self.constant.append(span.start)
            elif self.config.conditional and span.column == target and span.discrete:
                self.target = (span.start, span.dim)
            elif span.dim > self.config.max_onehot:
                self.ordinal.append((span.start, span.dim))
            else:
                self.blocks.append((span.start, span.dim))
        skip = set(self.constant)
        if self.target is not None:
            skip |= set(range(self.target[0], self.target[0] + self.target[1]))
        for start, dim in self.ordinal:
            skip |= set(range(start, start + dim))
        self.columns = [j for j in range(self.transformer.width) if j not in skip]

    @property
    def variables(self) -> int:
        return len(self.columns) + len(self.ordinal)

    def _variables(self, matrix: np.ndarray) -> np.ndarray:
        """The flow's variables of encoded rows: direct columns, then each many-valued
        category's frequency rank."""
        ranks = []
        for (start, dim), ranked in zip(self.ordinal, self.ranked, strict=True):
            rank_of = np.empty(dim, dtype=np.float64)
            rank_of[ranked] = np.arange(dim)
            ranks.append(rank_of[matrix[:, start : start + dim].argmax(axis=1)])
        return np.column_stack([matrix[:, self.columns].astype(np.float64), *ranks])

    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        self._layout()
        matrix = table.layout.from_model(table.dense())
        self.ranked = [
            np.argsort(-matrix[:, start : start + dim].sum(axis=0), kind="stable")
            for start, dim in self.ordinal
        ]
        x = self._variables(matrix)
        direct = len(self.columns)  # ranks (the variables after these) are not scaled
        self.low, self.high = x[:, :direct].min(axis=0), x[:, :direct].max(axis=0)
        self.edges = [
            np.concatenate([[0.0], np.cumsum(matrix[:, start : start + dim].sum(axis=0)[ranked])])
            / len(matrix)
            for (start, dim), ranked in zip(self.ordinal, self.ranked, strict=True)
        ]
        scaled = self._scale(x)
        if self.target is None:
            groups = [np.arange(len(matrix))]
            self.shares = np.ones(1)
        else:
            start, dim = self.target
            codes = matrix[:, start : start + dim].argmax(axis=1)
            groups = [np.flatnonzero(codes == c) for c in range(dim)]
            self.shares = np.bincount(codes, minlength=dim) / len(codes)
        total = self.config.levels * len(groups)
        self.flows = []
        for c, rows in enumerate(groups):
            done = c * self.config.levels

            def progress(level: int, done: int = done) -> None:
                if on_epoch is not None:
                    on_epoch(done + level + 1, total, {})

            self.flows.append(
                self._fit_flow(scaled[rows], seed + 7_919 * c, progress) if len(rows) else None
            )
        history = [{"epoch": k} for k in range(1, total + 1)]  # one step: one class's level
        return FitReport(epochs=total, seconds=0.0, history=history)

    def _fit_flow(self, x1: np.ndarray, seed: int, progress: Any) -> Forest:
        cfg = self.config
        threads = cfg.threads or os.cpu_count() or 1
        rng = np.random.default_rng(seed)
        copies = max(1, min(cfg.duplicates, cfg.max_rows // max(len(x1), 1)))
        data = np.tile(x1, (copies, 1))
        for k, edges in enumerate(self.edges):  # each copy's rank becomes a normal score
            j = len(self.columns) + k
            rank = data[:, j].astype(np.int64)
            u = edges[rank] + rng.random(len(data)) * (edges[rank + 1] - edges[rank])
            data[:, j] = ndtri(np.clip(u, 1e-6, 1 - 1e-6))
        models = []
        for level in range(cfg.levels):
            t = level / cfg.levels
            noise = rng.standard_normal(data.shape)
            xt = (1 - t) * noise + t * data
            target = data - noise
            seeds = [int(rng.integers(2**31)) for _ in range(x1.shape[1])]
            binned = Binned(xt, seeds[0] if seeds else 0, threads)  # once for every variable
            for v in range(x1.shape[1]):
                models.append(boost(binned, target[:, v], cfg, cfg.min_leaf * copies, threads))
            progress(level)
        return Forest.of(models, cfg.levels, x1.shape[1])

    def _scale(self, x: np.ndarray) -> np.ndarray:
        """Direct variables to [-1, 1]; ranks (after them) as they are."""
        k = len(self.low)
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return np.column_stack([2.0 * (x[:, :k] - self.low) / span - 1.0, x[:, k:]])

    def _unscale(self, z: np.ndarray) -> np.ndarray:
        """Direct variables back into the training range; normal scores as they are."""
        k = len(self.low)
        span = np.where(self.high > self.low, self.high - self.low, 1.0)
        return np.column_stack(
            [self.low + (np.clip(z[:, :k], -1.0, 1.0) + 1.0) * span / 2, z[:, k:]]
        )

    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n, self.shares)
        counts[[f is None for f in self.flows]] = 0
        if counts.sum() < n:  # shares of classes without a flow go to the likeliest class
            counts[int(np.argmax(self.shares))] += n - counts.sum()
        return self._draw(counts, rng, seed)

    def _sample_given(self, n: int, *, seed: int, conditions: list[Condition]) -> np.ndarray:
        """A condition on the target's class draws from that class's flow; others draw freely
        (rows that miss are replaced by the caller)."""
        on_target = [c for c in conditions if self.target and c.span.start == self.target[0]]
        if not on_target or self.flows[on_target[0].index] is None:
            return self._sample(n, seed=seed)
        counts = np.zeros(len(self.flows), dtype=np.int64)
        counts[on_target[0].index] = n
        return self._draw(counts, np.random.default_rng(seed), seed)

    def _draw(self, counts: np.ndarray, rng: np.random.Generator, seed: int) -> np.ndarray:
        n = int(counts.sum())
        threads = self.config.threads or os.cpu_count() or 1
        out = np.zeros((n, self.transformer.width), dtype=np.float32)
        out[:, self.constant] = 1.0
        row = 0
        for c, count in enumerate(counts):
            if not count:
                continue
            flow = self.flows[c]
            z = rng.standard_normal((int(count), self.variables))
            for level in range(self.config.levels):
                z = z + flow.velocity(level, z, threads) / self.config.levels
            if self.config.smoothing:  # the end point blurred, away from any one patient
                direct = len(self.columns)  # own stream: the same rows as without, then noise
                noise = np.random.default_rng((seed, 1 + c)).standard_normal((int(count), direct))
                z[:, :direct] += self.config.smoothing * noise
            values = self._unscale(z)
            out[row : row + count, self.columns] = values[:, : len(self.columns)]
            for k, (start, dim) in enumerate(self.ordinal):  # the nearest rank's category
                u = ndtr(values[:, len(self.columns) + k])
                rank = np.clip(np.searchsorted(self.edges[k], u, side="right") - 1, 0, dim - 1)
                out[row + np.arange(count), start + self.ranked[k][rank]] = 1.0
            if self.target is not None:
                out[row : row + count, self.target[0] + c] = 1.0
            row += count
        for start, dim in self.blocks:  # a block's largest variable is its category
            block = out[:, start : start + dim]
            out[:, start : start + dim] = np.eye(dim, dtype=np.float32)[block.argmax(axis=1)]
        return out[rng.permutation(n)]

    def _meta(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "blocks": self.blocks,
            "ordinal": self.ordinal,
            "ranked": [r.tolist() for r in self.ranked],
            "edges": [e.tolist() for e in self.edges],
            "constant": self.constant,
            "target": self.target,
            "flows": [f is not None for f in self.flows],
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {
            "low": torch.as_tensor(self.low),
            "high": torch.as_tensor(self.high),
            "shares": torch.as_tensor(self.shares),
        }
        for c, flow in enumerate(self.flows):
            if flow is not None:
                out.update(flow.tensors(f"flow.{c}"))
        return out

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self._layout()
        target = tuple(meta["target"]) if meta["target"] is not None else None
        ordinal = [tuple(b) for b in meta["ordinal"]]
        if meta["columns"] != self.columns or target != self.target or ordinal != self.ordinal:
            raise ValueError("checkpoint's flow variables do not match its transforms")
        self.ranked = [np.asarray(r, dtype=np.int64) for r in meta["ranked"]]
        self.edges = [np.asarray(e, dtype=np.float64) for e in meta["edges"]]
        self.low, self.high = tensors["low"].numpy(), tensors["high"].numpy()
        self.shares = tensors["shares"].numpy()
        self.flows = [
            Forest.from_tensors(tensors, f"flow.{c}", self.config.levels, self.variables)
            if kept
            else None
            for c, kept in enumerate(meta["flows"])
        ]
