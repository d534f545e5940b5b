"""``dp``: differentially private synthesis from noisy marginals, after MST and AIM.

The winners of NIST's differential privacy challenges measure a few low-order marginals of the
real table with Gaussian noise and sample from a graphical model consistent with them (MST:
McKenna, Miklau & Sheldon 2021; AIM: McKenna, Mullins, Sheldon & Miklau, VLDB 2022). This family
follows them, with the prediction target given the place it deserves:

1. **Domains from the spec only.** Categories come from the declared ``values`` (missing is a
   cell of its own), numbers and dates are cut into ``bins`` equal bins over the declared
   ``[min, max]`` (one bin per integer where the range is short), missing again a cell. Nothing
   about the domain is read from the data (``TableTransformer.from_spec``).
2. **Base marginals**, ``base_share`` of the budget: with a target, the pair (target, column) of
   every column, so the outcome's relationship with each predictor is always measured; without
   one, every column's one-way marginal.
3. **Selection**, ``selection_share``: a spanning forest over the other columns, edge by edge
   (Kruskal's order) with the exponential mechanism. An edge (a, b) scores the L1 distance between
   its true marginal (with the target: the triple (target, a, b)) and what the base marginals
   predict for it under conditional independence, less the noise its measurement would carry
   (AIM's penalty, so wide marginals are chosen only where the signal pays for the noise).
   Marginals above ``max_cells`` cells are never candidates.
4. **Measurement** of the chosen marginals with the rest of the budget.
5. **Estimation and sampling** (post-processing, free): the model is a tree-augmented network:
   the target first, then each column given the target and its parent in the forest. Each
   conditional is the clipped noisy counts, shrunk towards the coarser estimate by a pseudo-count
   the size of the noise (where a slice of the table holds few patients, noise would otherwise
   decide). Within its bin a number falls in a sub-bin drawn by the shares of its fine one-way
   marginal (``fine`` sub-bins a bin, measured with ``fine_share`` of the budget), uniformly
   inside it; the decoder keeps integers, decimals, dates and bounds.

Accounting is zCDP (``generators.accounting``): every measurement, its noise and its share is in
the fit report, and the manifest. Conditioning on the target at sampling time is exact and costs
nothing; other conditions are met by drawing more rows. Dropping exact copies of real rows after
sampling reads the real rows and is outside the guarantee, as for DP-CTGAN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator

from generators.accounting import Ledger, exponential_epsilon, gaussian_sigma, rho_for
from generators.base import EpochCallback, FitReport, Generator, GeneratorConfig
from generators.conditions import Condition
from generators.layout import EncodedTable
from generators.registry import register
from generators.schema import DatasetSpec
from generators.transforms import DiscreteTransform, TableTransformer


class PrivateMarginalsConfig(GeneratorConfig):
    dp_epsilon: float = Field(1.0, gt=0, description="The privacy budget epsilon")
    dp_delta: float | None = Field(
        None, gt=0, lt=1, description="delta; default 1 / (10 n), always below 1 / n"
    )
    bins: int = Field(8, ge=2, le=512, description="Bins of a number or date over [min, max]")
    max_cells: int = Field(4096, ge=4, description="Largest marginal a selection may measure")
    base_share: float = Field(
        0.4, gt=0, lt=1, description="Budget share of the base marginals (target pairs)"
    )
    selection_share: float = Field(
        0.1, gt=0, lt=1, description="Budget share of choosing the other marginals"
    )
    fine: int = Field(
        16, ge=1, description="Sub-bins per bin whose shares shape values within a bin (1: uniform)"
    )
    fine_share: float = Field(
        0.1, ge=0, lt=1, description="Budget share of the numbers' fine one-way marginals"
    )

    @model_validator(mode="after")
    def _check_shares(self) -> PrivateMarginalsConfig:
        if self.base_share + self.selection_share + self.fine_share >= 1:
            raise ValueError(
                "base_share + selection_share + fine_share must leave budget for measuring"
            )
        return self


@dataclass(frozen=True)
class Attribute:
    """One column as the model's discrete variable."""

    column: str
    cells: int
    start: int  # the column's first position in the encoded matrix
    edges: list[float] | None = None  # a number's bin edges, in its encoded units
    missing: bool = False  # a number's last cell is "missing" (categories carry None themselves)
    mean: float = 0.0  # a number's encoding: offset = (value - mean) / (4 * std)
    std: float = 1.0
    fine: int = 1  # sub-bins per bin, measured to shape values within a bin

    @property
    def step(self) -> float:
        """A bin's width (numbers)."""
        return self.edges[1] - self.edges[0]


def attributes_of(transformer: TableTransformer, bins: int, fine: int = 1) -> list[Attribute]:
    """The variables of a transformer built from the spec (one mode per number); numbers cut
    into equal bins get up to ``fine`` sub-bins each (integers: none narrower than 1)."""
    out, start = [], 0
    for t in transformer.transforms:
        width = sum(d for d, _, _ in t.dims)
        if isinstance(t, DiscreteTransform):
            out.append(Attribute(t.column, len(t.categories), start))
        else:
            lo, hi = t.lower, t.upper
            sub = 1
            if t.kind == "integer" and hi - lo + 1 <= bins:  # one bin per integer
                edges = (np.arange(lo, hi + 2) - 0.5).tolist()
            elif hi <= lo:  # a constant
                edges = [lo, hi]
            else:
                edges = np.linspace(lo, hi, bins + 1).tolist()
                width_of_bin = (hi - lo) / bins
                sub = fine if t.kind != "integer" else max(1, min(fine, int(width_of_bin)))
            out.append(
                Attribute(
                    t.column,
                    len(edges) - 1 + t.has_missing,
                    start,
                    edges=edges,
                    missing=t.has_missing,
                    mean=t.means[0],
                    std=t.stds[0],
                    fine=sub,
                )
            )
        start += width
    return out


def values_of(table: EncodedTable, transformer: TableTransformer, a: Attribute) -> np.ndarray:
    """A number's values in its encoded units (days for dates)."""
    span = next(s for s in transformer.spans if s.start == a.start)
    return a.mean + table.scalar_of(span).astype(float) * 4 * a.std


def codes_of(
    table: EncodedTable, transformer: TableTransformer, attrs: list[Attribute]
) -> np.ndarray:
    """(n, columns) cell of every row in every attribute."""
    spans = {s.start: s for s in transformer.spans}
    out = np.empty((len(table), len(attrs)), dtype=np.int64)
    for j, a in enumerate(attrs):
        if a.edges is None:
            out[:, j] = table.code_of(spans[a.start])
            continue
        value = values_of(table, transformer, a)
        nb = len(a.edges) - 1
        code = np.clip(np.searchsorted(a.edges, value, side="right") - 1, 0, nb - 1)
        if a.missing:
            code = np.where(table.code_of(spans[a.start + 2]) == 1, nb, code)
        out[:, j] = code
    return out


def counts(codes: np.ndarray, columns: list[int], shape: tuple[int, ...]) -> np.ndarray:
    """The contingency table of ``columns``."""
    flat = np.ravel_multi_index(tuple(codes[:, c] for c in columns), shape)
    return np.bincount(flat, minlength=math.prod(shape)).reshape(shape).astype(float)


@register("dp")
class PrivateMarginals(Generator):
    """A tree-augmented network fitted to noisy marginals, under (epsilon, delta)-DP."""

    config_class = PrivateMarginalsConfig
    config: PrivateMarginalsConfig

    def __init__(self, config: Any = None):
        super().__init__(config)
        self.attributes: list[Attribute] = []
        self.root: int | None = None  # the target's attribute
        self.parents: dict[int, int] = {}  # forest edges, child -> parent
        self.order: list[int] = []  # sampling order
        self.tables: dict[int, np.ndarray] = {}  # conditional of each attribute
        self.within: dict[int, np.ndarray] = {}  # a number's sub-bin shares within each bin

    def _fit_transformer(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int
    ) -> TableTransformer:
        return TableTransformer.from_spec(spec)  # nothing learnt outside the budget

    # -- fit ------------------------------------------------------------------------------------
    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        cfg = self.config
        rng = np.random.default_rng(seed)
        n = len(table)
        delta = cfg.dp_delta if cfg.dp_delta is not None else 1.0 / (10 * n)
        if delta >= 1.0 / n:
            raise ValueError(f"dp_delta {delta:g} must be below 1/n = {1 / n:g} for {n} rows")
        ledger = Ledger(rho_for(cfg.dp_epsilon, delta), delta)
        attrs = attributes_of(self.transformer, cfg.bins, cfg.fine)
        codes = codes_of(table, self.transformer, attrs)
        names = [a.column for a in attrs]
        size = [a.cells for a in attrs]
        target = self.spec.target
        root = names.index(target) if target in names else None
        others = [j for j in range(len(attrs)) if j != root]
        ctx = [] if root is None else [root]

        def shape(cols: list[int]) -> tuple[int, ...]:
            return tuple(size[c] for c in cols)

        feasible = [
            (a, b)
            for i, a in enumerate(others)
            for b in others[i + 1 :]
            if math.prod(shape([*ctx, a, b])) <= cfg.max_cells
        ]
        rounds = len(others) - _components(others, feasible)
        shaped = [j for j, a in enumerate(attrs) if a.fine > 1]
        fine_share = cfg.fine_share if shaped else 0.0
        base_share = cfg.base_share if rounds else 1.0 - fine_share
        select_share = cfg.selection_share if rounds else 0.0
        edge_share = 1.0 - base_share - select_share - fine_share

        # 2. base marginals: (target, a) for every column a, or a's one-way marginal
        bases = [[*ctx, a] for a in others] or [[root]]
        sigma_base = gaussian_sigma(ledger.rho * base_share / len(bases))
        noisy: dict[tuple[int, ...], np.ndarray] = {}
        sigma_of: dict[tuple[int, ...], float] = {}

        def measure(cols: list[int], sigma: float) -> None:
            true = counts(codes, cols, shape(cols))
            noisy[tuple(cols)] = true + rng.normal(0, sigma, true.shape)
            sigma_of[tuple(cols)] = sigma
            ledger.gaussian(f"marginal ({', '.join(names[c] for c in cols)})", sigma, true.size)

        for cols in bases:
            measure(cols, sigma_base)
        total = float(np.mean([m.sum() for m in noisy.values()]))

        # the shape of each number within its bins: a fine one-way marginal of the present values
        self.within = {}
        sigma_fine = gaussian_sigma(ledger.rho * fine_share / len(shaped)) if shaped else 0.0
        for j in shaped:
            a = attrs[j]
            nb = len(a.edges) - 1
            value = values_of(table, self.transformer, a)[codes[:, j] < nb]
            sub = np.floor((value - a.edges[0]) / (a.step / a.fine)).astype(np.int64)
            fine = np.bincount(np.clip(sub, 0, nb * a.fine - 1), minlength=nb * a.fine)
            noisy_fine = (fine + rng.normal(0, sigma_fine, fine.shape)).reshape(nb, a.fine)
            uniform = np.ones((nb, a.fine))
            self.within[j] = _conditional(noisy_fine, uniform, sigma_fine)
            ledger.gaussian(f"fine marginal ({a.column})", sigma_fine, fine.size)
        p_root = None
        if root is not None:  # the target's share: each base's margin, weighed by its noise
            weights = np.array([1.0 / size[c[-1]] for c in bases])
            margins = np.array([noisy[tuple(c)].sum(axis=-1) for c in bases])
            p_root = _normalised(np.clip(weights @ margins / weights.sum(), 0, None))
        joint = {
            c[-1]: _normalised(np.clip(noisy[tuple(c)], 0, None)) for c in bases if c[-1] != root
        }

        # 3. selection of a spanning forest, 4. its measurement
        edges: list[tuple[int, int]] = []
        if rounds:
            eps_select = exponential_epsilon(ledger.rho * select_share / rounds)
            sigma_edge = gaussian_sigma(ledger.rho * edge_share / rounds)
            group = {j: j for j in others}
            # an edge's score depends on the base estimates only: computed once
            score = {
                (a, b): np.abs(
                    counts(codes, [*ctx, a, b], shape([*ctx, a, b]))
                    - total * _independent(joint[a], joint[b], p_root)
                ).sum()
                - math.sqrt(2 / math.pi) * sigma_edge * math.prod(shape([*ctx, a, b]))
                for a, b in feasible
            }
            candidates = list(feasible)
            for _ in range(rounds):
                candidates = [(a, b) for a, b in candidates if _find(group, a) != _find(group, b)]
                scores = np.array([score[e] for e in candidates])
                logits = eps_select / 2 * (scores - scores.max())  # sensitivity 1
                pick = candidates[rng.choice(len(candidates), p=_normalised(np.exp(logits)))]
                ledger.exponential("select a marginal", eps_select)
                group[_find(group, pick[0])] = _find(group, pick[1])
                edges.append(pick)
                measure([*ctx, *pick], sigma_edge)

        # 5. the network: target, then each forest from its first column
        self.attributes, self.root = attrs, root
        self.parents, self.order = _orient(others, edges), ([] if root is None else [root])
        self.order += _topological(others, self.parents)
        self.tables = {}
        if root is not None:
            self.tables[root] = p_root
        for j in self.order:
            if j == root:
                continue
            base = noisy[tuple([*ctx, j])]
            coarse = _conditional(
                base,
                _normalised(np.clip(base, 0, None).reshape(-1, size[j]).sum(0)),
                sigma_of[tuple([*ctx, j])],
            )
            if j not in self.parents:
                self.tables[j] = coarse
                continue
            p = self.parents[j]
            key = tuple([*ctx, *sorted((j, p))])
            measured = noisy[key]
            if j > p:  # the measured axes are (ctx, p, j): already parent before child
                slices = measured
            else:
                slices = np.swapaxes(measured, -1, -2)
            prior = coarse[:, None, :] if root is not None else coarse[None, :]
            self.tables[j] = _conditional(slices, prior, sigma_of[key])
        report = ledger.summary()
        report.update(
            method="tree-augmented network on noisy marginals (after MST / AIM)",
            preprocessing="spec bounds and values only (nothing fitted on the data)",
            bins=cfg.bins,
            chosen=[[names[c] for c in [*ctx, *e]] for e in edges],
        )
        if on_epoch is not None:
            on_epoch(1, 1, {})
        return FitReport(epochs=1, seconds=0.0, history=[{"epoch": 1}], privacy=report)

    # -- sample ---------------------------------------------------------------------------------
    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        return self._draw(n, seed, {})

    def _sample_given(self, n: int, *, seed: int, conditions: list[Condition]) -> np.ndarray:
        """A condition on the target is exact (it is the network's first variable); others are
        met by the caller drawing more rows."""
        fixed = {}
        if self.root is not None:
            for c in conditions:
                if c.column == self.attributes[self.root].column:
                    fixed[self.root] = c.index
        return self._draw(n, seed, fixed)

    def _draw(self, n: int, seed: int, fixed: dict[int, int]) -> np.ndarray:
        rng = np.random.default_rng(seed)
        codes = np.zeros((n, len(self.attributes)), dtype=np.int64)
        for j in self.order:
            if j in fixed:
                codes[:, j] = fixed[j]
                continue
            probs = self.tables[j]
            index: tuple[Any, ...] = ()
            if self.root is not None and j != self.root:
                index += (codes[:, self.root],)
            if j in self.parents:
                index += (codes[:, self.parents[j]],)
            rows = probs[index] if index else np.broadcast_to(probs, (n, probs.shape[-1]))
            codes[:, j] = _categorical(rows, rng)
        return self._encode(codes, rng)

    def _encode(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(codes)
        out = np.zeros((n, self.transformer.width), dtype=np.float32)
        rows = np.arange(n)
        for j, a in enumerate(self.attributes):
            code = codes[:, j]
            if a.edges is None:
                out[rows, a.start + code] = 1.0
                continue
            nb = len(a.edges) - 1
            edges = np.asarray(a.edges)
            inside = np.minimum(code, nb - 1)
            if j in self.within:  # a sub-bin by its measured share, then uniform within it
                sub = _categorical(self.within[j][inside], rng)
                value = edges[inside] + (sub + rng.random(n)) * (a.step / a.fine)
            else:
                value = edges[inside] + rng.random(n) * (edges[inside + 1] - edges[inside])
            out[:, a.start] = np.clip((value - a.mean) / (4 * a.std), -1.0, 1.0)
            out[:, a.start + 1] = 1.0  # the one mode
            if a.missing:
                gone = code == nb
                out[:, a.start + 2] = ~gone
                out[:, a.start + 3] = gone
        return out

    # -- checkpoint -----------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {
            "attributes": [asdict(a) for a in self.attributes],
            "root": self.root,
            "parents": {str(k): v for k, v in self.parents.items()},
            "order": self.order,
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"table.{j}": torch.as_tensor(t) for j, t in self.tables.items()}
        tensors.update({f"within.{j}": torch.as_tensor(t) for j, t in self.within.items()})
        return tensors

    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self.attributes = [Attribute(**a) for a in meta["attributes"]]
        if [a.column for a in self.attributes] != self.transformer.columns:
            raise ValueError("checkpoint's dp variables do not match its transforms")
        self.root = meta["root"]
        self.parents = {int(k): v for k, v in meta["parents"].items()}
        self.order = list(meta["order"])
        self.tables, self.within = {}, {}
        for key, tensor in tensors.items():
            kind, j = key.split(".")
            (self.tables if kind == "table" else self.within)[int(j)] = tensor.numpy()


def _normalised(x: np.ndarray) -> np.ndarray:
    total = x.sum()
    return x / total if total > 0 else np.full(x.shape, 1.0 / x.size)


def _independent(p_a: np.ndarray, p_b: np.ndarray, p_root: np.ndarray | None) -> np.ndarray:
    """The joint of a and b (with the target: of target, a, b) if they were independent (given
    the target), from the base estimates p_a = P(target, a), p_b = P(target, b)."""
    if p_root is None:
        return p_a[:, None] * p_b[None, :]
    safe = np.where(p_root > 0, p_root, 1.0)
    return p_a[:, :, None] * p_b[:, None, :] / safe[:, None, None]


def _conditional(noisy: np.ndarray, prior: np.ndarray, sigma: float) -> np.ndarray:
    """Rows of P(last axis | the others) from noisy counts: negatives clipped, each slice shrunk
    towards ``prior`` by a pseudo-count the size of the noise on its total."""
    cells = noisy.shape[-1]
    kappa = sigma * math.sqrt(cells)
    prior = prior / np.maximum(prior.sum(axis=-1, keepdims=True), 1e-300)
    mass = np.clip(noisy, 0, None) + kappa * prior
    total = mass.sum(axis=-1, keepdims=True)
    return np.where(total > 0, mass / np.where(total > 0, total, 1.0), 1.0 / cells)


def _categorical(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a (rows, cells) probability matrix."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(probs))[:, None] * cum[:, -1:]
    return np.minimum((u >= cum).sum(axis=1), probs.shape[1] - 1)


def _find(group: dict[int, int], j: int) -> int:
    while group[j] != j:
        group[j] = group[group[j]]
        j = group[j]
    return j


def _components(nodes: list[int], edges: list[tuple[int, int]]) -> int:
    group = {j: j for j in nodes}
    for a, b in edges:
        group[_find(group, a)] = _find(group, b)
    return len({_find(group, j) for j in nodes})


def _orient(nodes: list[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    """child -> parent of each forest edge, each tree hanging from its first column."""
    near: dict[int, list[int]] = {j: [] for j in nodes}
    for a, b in edges:
        near[a].append(b)
        near[b].append(a)
    parents: dict[int, int] = {}
    seen: set[int] = set()
    for start in nodes:
        if start in seen:
            continue
        seen.add(start)
        queue = [start]
        while queue:
            j = queue.pop(0)
            for k in sorted(near[j]):
                if k not in seen:
                    seen.add(k)
                    parents[k] = j
                    queue.append(k)
    return parents


def _topological(nodes: list[int], parents: dict[int, int]) -> list[int]:
    order: list[int] = []
    placed: set[int] = set()
    while len(order) < len(nodes):
        for j in nodes:
            if j not in placed and (j not in parents or parents[j] in placed):
                order.append(j)
                placed.add(j)
    return order
