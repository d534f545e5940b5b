"""Sequential tree synthesis (``cart``), after synthpop (Nowok, Raab & Dibben 2016).

The table is drawn one variable at a time, each from a decision tree grown on the variables
drawn before it; written anew on our reversible transforms (one linear offset per number, as
the Gaussian copula uses), so bounds, integers, dates, decimals and missing values decode
identically to every other family.

- **Visit sequence**: the columns in the spec's order, the target (when there is one) last, so
  its tree is a direct model of the outcome given everything else, the link a prediction model
  trained on the synthetic rows has to learn.
- **Missingness is its own step**: a nullable number first draws its missing flag (a
  classification tree), then, only where present, its value (a regression tree grown on the
  rows where it is present). Predictors see a missing number as NaN, which the trees route.
- **Categories** are drawn from the class shares of the leaf a row falls in.
- **Numbers** are drawn from the leaf's real values (the donors), **smoothed**: a Gaussian
  kernel around the donor, bandwidth by Silverman's rule on the leaf's values, reflected into
  the leaf's range. So no real value combination is reproduced by construction, while integers,
  dates and declared bounds are restored by the transforms on decoding.
- **The target from a bagged forest** (``target_trees``, default 25): the outcome's step is
  the one a prediction model trained on the synthetic rows learns from, and one tree on a half
  subsample is unstable where many columns carry a little of it (the 172-column opt trial:
  TSTR/TRTR 0.79 with one tree, 0.90 with the forest). Each member grows on its own bootstrap
  of the rows, on every predictor (a random subset at each split, as a random forest does, lost
  the outcome where few of many columns carry it); a category is drawn from the members' leaf
  shares averaged, a number from the leaf of one member chosen per row. A deterministic link
  (a leaf that is pure in every member) draws exactly as one tree does.
- **Privacy knob**: ``min_leaf``, the fewest real rows in a leaf. Small leaves follow the data
  closely; large leaves blur it (each draw mixes at least ``min_leaf`` patients).

Trees are grown by scikit-learn on every core (the steps are independent given the data, so
they grow in parallel threads), then kept as plain arrays (children, split feature and
threshold, missing-value direction, per-leaf class counts or donors): the checkpoint is
tensors + JSON and sampling walks the arrays, with no pickled estimator.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from generators.base import EpochCallback, FitReport, Generator, GeneratorConfig
from generators.layout import EncodedTable
from generators.registry import register
from generators.schema import DatasetSpec
from generators.transforms import ContinuousTransform, TableTransformer

StepKind = Literal["category", "missing", "value"]


class CartConfig(GeneratorConfig):
    min_leaf: int = Field(
        10, ge=1, description="Fewest real rows in a leaf: the privacy knob (larger = blurrier)"
    )
    smoothing: bool = Field(
        True, description="Numbers drawn around a leaf donor (kernel jitter), never the donor"
    )
    order: Literal["target_last", "data"] = Field(
        "target_last", description="Visit sequence: the spec's column order, target last or not"
    )
    max_depth: int | None = Field(None, ge=1, description="Deepest tree (None: grow to min_leaf)")
    subsample: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of the rows each tree is grown on (its own seeded draw), so "
        "consecutive steps draw from different patients",
    )
    target_trees: int = Field(
        25,
        ge=0,
        description="The target drawn from a bagged forest of this many trees (each on its own "
        "bootstrap of the rows) instead of one tree on a subsample; 0 or 1: one tree",
    )


@dataclass
class Step:
    """One variable of the visit sequence and how it sits in the encoded matrix."""

    kind: StepKind
    column: str
    start: int  # the scalar (value) or the one-hot block (category, missing flag)
    dim: int  # classes of a one-hot block; 1 for a value


@dataclass
class Tree:
    """A fitted tree as arrays, indexed by node; leaves have ``left == -1``."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray  # where a NaN feature goes at each split
    # classification: class counts per node (rows that reached the node, leaves only filled)
    counts: np.ndarray | None = None
    # regression: the donors, grouped by leaf (node -> donors[starts[node]:starts[node + 1]])
    donors: np.ndarray | None = None
    starts: np.ndarray | None = None
    bandwidth: np.ndarray | None = None  # per node

    @classmethod
    def of(cls, model: DecisionTreeClassifier | DecisionTreeRegressor) -> Tree:
        t = model.tree_
        return cls(
            left=t.children_left.astype(np.int64),
            right=t.children_right.astype(np.int64),
            feature=np.maximum(t.feature, 0).astype(np.int64),
            threshold=t.threshold.astype(np.float64),
            missing_left=t.missing_go_to_left.astype(bool),
        )

    @classmethod
    def constant(cls) -> Tree:
        """A single leaf: the step's marginal (no predictors, or nothing to split)."""
        return cls(
            left=np.array([-1]),
            right=np.array([-1]),
            feature=np.array([0]),
            threshold=np.array([0.0]),
            missing_left=np.array([True]),
        )

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The leaf of every row of ``x`` (rows, features)."""
        node = np.zeros(len(x), dtype=np.int64)
        active = np.flatnonzero(self.left[node] >= 0)
        while active.size:
            at = node[active]
            value = x[active, self.feature[at]] if x.shape[1] else np.zeros(active.size)
            go_left = np.where(np.isnan(value), self.missing_left[at], value <= self.threshold[at])
            node[active] = np.where(go_left, self.left[at], self.right[at])
            active = active[self.left[node[active]] >= 0]
        return node

    def tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        fields = {
            "left": self.left,
            "right": self.right,
            "feature": self.feature,
            "threshold": self.threshold,
            "missing_left": self.missing_left,
            "counts": self.counts,
            "donors": self.donors,
            "starts": self.starts,
            "bandwidth": self.bandwidth,
        }
        return {f"{prefix}.{k}": torch.as_tensor(v) for k, v in fields.items() if v is not None}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], prefix: str) -> Tree:
        def get(name: str) -> np.ndarray | None:
            value = tensors.get(f"{prefix}.{name}")
            return None if value is None else value.numpy()

        return cls(
            left=get("left"),
            right=get("right"),
            feature=get("feature"),
            threshold=get("threshold"),
            missing_left=get("missing_left"),
            counts=get("counts"),
            donors=get("donors"),
            starts=get("starts"),
            bandwidth=get("bandwidth"),
        )


@register("cart")
class Cart(Generator):
    """Each variable drawn from a tree on the variables before it (synthpop's CART)."""

    config_class = CartConfig
    config: CartConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.steps: list[Step] = []
        self.trees: list[Tree] = []
        # the target's steps drawn from a forest: step -> its trees (``trees[k]`` is the first)
        self.forests: dict[int, list[Tree]] = {}

    def _fit_transformer(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int
    ) -> TableTransformer:
        # one linear offset per number: a leaf's donors and their spread are the column's own
        return TableTransformer.fit_linear(data, spec, seed)

    def _visit_sequence(self) -> list[Step]:
        steps: list[Step] = []
        spans = iter(self.transformer.spans)
        for t in self.transformer.transforms:
            if isinstance(t, ContinuousTransform):
                value, _mode = next(spans), next(spans)  # the linear transform has one mode
                if t.has_missing:
                    flag = next(spans)
                    steps.append(Step("missing", t.column, flag.start, flag.dim))
                steps.append(Step("value", t.column, value.start, 1))
            else:
                block = next(spans)
                steps.append(Step("category", t.column, block.start, block.dim))
        target = self.spec.target if self.spec is not None else None
        if self.config.order == "target_last" and target is not None:
            steps = [s for s in steps if s.column != target] + [
                s for s in steps if s.column == target
            ]
        return steps

    def _flag_of(self, k: int) -> int | None:
        """The missing-flag step of value step ``k`` (the step just before it), if any."""
        if self.steps[k].kind == "value" and k and self.steps[k - 1].kind == "missing":
            return k - 1
        return None

    def _hide_missing(self, x: np.ndarray, steps: int) -> None:
        """A number's predictor is NaN where its flag says missing (code 1), for the first
        ``steps`` steps of ``x``, in place: the trees route missing values themselves."""
        for k in range(steps):
            flag = self._flag_of(k)
            if flag is not None:
                x[x[:, flag] == 1, k] = np.nan

    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        self.steps = self._visit_sequence()
        spans = {s.start: s for s in self.transformer.spans}
        # the predictors every later step sees: a number's value (NaN where missing), a flag
        # or category as its code
        x = np.empty((len(table), len(self.steps)), dtype=np.float64)
        for k, step in enumerate(self.steps):
            span = spans[step.start]
            x[:, k] = table.scalar_of(span) if step.kind == "value" else table.code_of(span)
        self._hide_missing(x, len(self.steps))
        workers = self.config.threads or os.cpu_count() or 1
        with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=workers) as pool:
            # a category with many levels on few rows is no regression problem in disguise here
            warnings.filterwarnings("ignore", message="The number of unique classes")
            forest = self._forest_steps()  # their first member grows with the other steps
            self.trees = list(
                pool.map(
                    lambda k: self._grow(x, k, seed + k, 0 if k in forest else None),
                    range(len(self.steps)),
                )
            )
            extra = range(1, self.config.target_trees)
            self.forests = {
                k: [self.trees[k], *pool.map(lambda j, k=k: self._grow(x, k, seed + k, j), extra)]
                for k in forest
            }
        if on_epoch is not None:
            on_epoch(1, 1, {})
        return FitReport(epochs=1, seconds=0.0, history=[{"epoch": 1}])

    def _forest_steps(self) -> list[int]:
        """The steps drawn from a forest: the target's category or value step."""
        target = self.spec.target if self.spec is not None else None
        if self.config.target_trees < 2 or target is None:
            return []
        return [
            k
            for k, s in enumerate(self.steps)
            if s.column == target and s.kind in ("category", "value") and k > 0
        ]

    def _grow(self, x: np.ndarray, k: int, seed: int, member: int | None = None) -> Tree:
        """Step ``k``'s tree on the steps before it (rows where its value is present); a forest
        ``member`` grows on its own bootstrap of those rows (its own seed)."""
        step = self.steps[k]
        y = x[:, k]
        rows = ~np.isnan(y)
        if member is not None:  # every member, the first included, on its own bootstrap
            seed = seed + 1_000_003 * member
            present = np.flatnonzero(rows)
            rows = np.random.default_rng(seed).choice(present, len(present), replace=True)
        elif self.config.subsample < 1:
            rows &= np.random.default_rng(seed).random(len(y)) < self.config.subsample
        features, y = x[rows, :k], y[rows]
        if step.kind == "value":
            return self._regression_tree(features, y, seed)
        classes = y.astype(np.int64)
        splittable = k > 0 and len(np.unique(classes)) > 1
        tree, leaves = self._tree(DecisionTreeClassifier, features, classes, seed, splittable)
        counts = np.zeros((len(tree.left), step.dim), dtype=np.float32)
        np.add.at(counts, (leaves, classes), 1.0)
        tree.counts = counts
        return tree

    def _tree(
        self,
        kind: type[DecisionTreeClassifier] | type[DecisionTreeRegressor],
        features: np.ndarray,
        y: np.ndarray,
        seed: int,
        splittable: bool,
    ) -> tuple[Tree, np.ndarray]:
        """(the tree as arrays, the leaf of every training row); one leaf when not splittable."""
        if not splittable:
            return Tree.constant(), np.zeros(len(y), dtype=np.int64)
        model = kind(
            min_samples_leaf=self.config.min_leaf,
            max_depth=self.config.max_depth,
            random_state=seed,
        ).fit(features, y)
        tree = Tree.of(model)
        return tree, tree.apply(features)

    def _regression_tree(self, features: np.ndarray, y: np.ndarray, seed: int) -> Tree:
        splittable = features.shape[1] > 0 and len(y) >= 2 * self.config.min_leaf and np.ptp(y) > 0
        tree, leaves = self._tree(DecisionTreeRegressor, features, y, seed, splittable)
        order = np.lexsort((y, leaves))  # donors grouped by leaf, sorted within it
        tree.donors = y[order].astype(np.float64)
        sizes = np.bincount(leaves, minlength=len(tree.left))
        tree.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        tree.bandwidth = np.array(
            [
                _silverman(tree.donors[tree.starts[i] : tree.starts[i + 1]])
                for i in range(len(tree.left))
            ]
        )
        return tree

    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        x = np.full((n, len(self.steps)), np.nan)
        out = np.zeros((n, self.transformer.width), dtype=np.float32)
        return self._draw(x, out, 0, np.random.default_rng(seed))

    def sample_given(self, given: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
        """One row per row of ``given``, its columns kept and the rest drawn from their trees
        given them: a per-row condition (a child record drawn given its parent's columns).
        ``given``'s columns must open the visit sequence (first in the spec; a target, moved
        last, is never one of them)."""
        if self.spec is None or self.transformer is None:
            raise RuntimeError(f"{self.name}: fit or load before sampling")
        columns = set(given.columns)
        first = 0
        while first < len(self.steps) and self.steps[first].column in columns:
            first += 1
        opened = {s.column for s in self.steps[:first]}
        later = sorted({s.column for s in self.steps[first:]} & columns)
        if later or opened != columns - set(self.spec.id_columns):
            raise ValueError(
                f"cart: given columns {sorted(columns)} must open the visit sequence, "
                f"found {sorted(later or columns - opened)} out of place"
            )
        n = len(given)
        given = given.reset_index(drop=True)
        kinds = {t.column: t for t in self.transformer.transforms}
        numbers = {c for c in columns if isinstance(kinds.get(c), ContinuousTransform)}
        table = EncodedTable.encode(self.transformer, given, seed, numbers)
        spans = {s.start: s for s in self.transformer.spans}
        x = np.full((n, len(self.steps)), np.nan)
        out = np.zeros((n, self.transformer.width), dtype=np.float32)
        for k, step in enumerate(self.steps[:first]):
            span = spans[step.start]
            if step.kind == "value":
                x[:, k] = table.scalar_of(span)
                out[:, step.start], out[:, step.start + 1] = x[:, k], 1.0
                continue
            if step.kind == "missing":
                code = table.code_of(span)
            else:  # a category never seen in training is unknown (NaN): the trees route it
                lookup = {c: i for i, c in enumerate(kinds[step.column].categories)}
                code = (
                    given[step.column]
                    .astype(object)
                    .map(lambda v, lookup=lookup: lookup.get(None if pd.isna(v) else v, np.nan))
                )
                code = code.to_numpy(dtype=float)
            x[:, k] = code
            known = ~np.isnan(code)
            out[np.flatnonzero(known), step.start + code[known].astype(np.int64)] = 1.0
        self._hide_missing(x, first)
        drawn = self.transformer.inverse(self._draw(x, out, first, np.random.default_rng(seed)))
        for col in given.columns:  # the given values exactly, not their decoded encoding
            if col in drawn.columns:
                drawn[col] = given[col].to_numpy()
        return self.assign_ids(drawn)

    def _draw(
        self, x: np.ndarray, out: np.ndarray, first: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Steps ``first`` onwards drawn into ``x`` (predictors) and ``out`` (encoded rows)."""
        n = len(x)
        rows = np.arange(n)
        for k in range(first, len(self.steps)):
            step = self.steps[k]
            if step.kind == "value":
                flag = self._flag_of(k)
                present = np.ones(n, dtype=bool) if flag is None else x[:, flag] != 1
                value = self._values(k, x, rng)
                x[present, k] = value[present]
                out[:, step.start] = np.where(present, value, 0.0)
                out[:, step.start + 1] = 1.0  # the one mode of the linear encoding
                continue
            code = _draw_classes(self._class_weights(k, x), rng)
            x[:, k] = code
            out[rows, step.start + code] = 1.0
        return out

    def _class_weights(self, k: int, x: np.ndarray) -> np.ndarray:
        """Category step ``k``'s class weights per row (rows, classes): its leaf's counts, or
        with a forest the members' leaf shares averaged (the forest's class probabilities)."""
        if k not in self.forests:
            tree = self.trees[k]
            return tree.counts[tree.apply(x[:, :k])]
        shares = np.zeros((len(x), self.steps[k].dim))
        for tree in self.forests[k]:
            counts = tree.counts[tree.apply(x[:, :k])].astype(np.float64)
            shares += counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
        return shares

    def _values(self, k: int, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Value step ``k`` drawn for every row: from its leaf's donors, or with a forest from
        the leaf of one member chosen per row."""
        if k not in self.forests:
            tree = self.trees[k]
            return self._draw_value(tree, tree.apply(x[:, :k]), rng)
        forest = self.forests[k]
        member = rng.integers(len(forest), size=len(x))
        value = np.zeros(len(x))
        for j, tree in enumerate(forest):
            rows = np.flatnonzero(member == j)
            if rows.size:
                value[rows] = self._draw_value(tree, tree.apply(x[rows, :k]), rng)
        return value

    def _draw_value(self, tree: Tree, leaves: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if len(tree.donors) == 0:  # never present (an all-null column): nothing to draw
            rng.standard_normal(len(leaves))
            return np.zeros(len(leaves))
        lo, hi = tree.starts[leaves], tree.starts[leaves + 1]  # every leaf holds a donor
        size = hi - lo
        value = tree.donors[
            lo + np.minimum((rng.random(len(leaves)) * size).astype(np.int64), size - 1)
        ]
        noise = rng.standard_normal(len(leaves))  # drawn either way: same stream on or off
        if self.config.smoothing:
            value = value + tree.bandwidth[leaves] * noise
            # within the leaf's range, so the tree's structure stays as learnt: reflected at its
            # ends (clipping would pile draws onto the leaf's smallest and largest real values)
            low, high = tree.donors[lo], tree.donors[hi - 1]
            value = np.where(value < low, 2 * low - value, value)
            value = np.where(value > high, 2 * high - value, value)
            value = np.clip(value, low, high)
        return value

    def _meta(self) -> dict[str, Any]:
        return {
            "steps": [vars(s) for s in self.steps],
            "forests": {str(k): len(trees) for k, trees in self.forests.items()},
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for k, tree in enumerate(self.trees):
            out.update(tree.tensors(f"tree.{k}"))
        for k, trees in self.forests.items():
            for j, tree in enumerate(trees[1:], start=1):
                out.update(tree.tensors(f"forest.{k}.{j}"))
        return out

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.steps = [Step(**s) for s in meta["steps"]]
        starts = {s.start for s in self.transformer.spans}
        if any(s.start not in starts for s in self.steps):
            raise ValueError("checkpoint's tree steps do not match its transforms")
        self.trees = [Tree.from_tensors(tensors, f"tree.{k}") for k in range(len(self.steps))]
        self.forests = {}
        for key, size in meta.get("forests", {}).items():
            k = int(key)
            self.forests[k] = [self.trees[k]] + [
                Tree.from_tensors(tensors, f"forest.{k}.{j}") for j in range(1, size)
            ]


def _draw_classes(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One class per row from its leaf's class counts (rows, classes)."""
    cum = np.cumsum(counts, axis=1)
    u = rng.random(len(counts)) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(axis=1), counts.shape[1] - 1)


def _silverman(values: np.ndarray) -> float:
    """Silverman's rule of thumb (R's ``bw.nrd0``, synthpop's smoothing): 0 for one value."""
    if values.size < 2 or values[0] == values[-1]:
        return 0.0
    sd = values.std(ddof=1)
    q75, q25 = np.percentile(values, [75, 25])
    spread = min(sd, (q75 - q25) / 1.34) or sd
    return float(0.9 * spread * values.size ** (-0.2))
