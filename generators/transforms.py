"""Reversible column encoders: a typed table <-> a float matrix a neural generator learns.

One fitted record per column says how the column is encoded, how many output dimensions it uses and
which activation produces them; the same records decode generated matrices and drive the
generator's output activations (the idea of CTGAN's ``DataTransformer``, written anew).

- numeric / integer / datetime: mode-specific normalisation. A variational Gaussian mixture finds the
  modes; a value becomes (its mode as a one-hot, its offset within the mode scaled to [-1, 1]).
  Missing values get their own 2-way one-hot ("present", "missing"), so missingness is learnt.
- categorical / boolean: one-hot; a missing value is a category of its own.

Records are plain JSON (``to_dict``/``from_dict``), so a checkpoint needs no pickle.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from generators.schema import ColumnSpec, DatasetSpec, SpecError, _sorted_values

Activation = Literal["tanh", "softmax"]
NS_PER_DAY = 86_400 * 10**9
MAX_MODES = 10
MIN_MODE_WEIGHT = 0.005
BGM_FIT_ROWS = 20_000  # modes are found on a seeded subsample; encoding uses every row


@dataclass(frozen=True)
class Span:
    """A slice of the encoded matrix produced by one activation."""

    start: int
    dim: int
    activation: Activation
    column: str
    discrete: bool  # a one-hot the conditional vector may condition on

    @property
    def stop(self) -> int:
        return self.start + self.dim


@dataclass
class ContinuousTransform:
    """Mode-specific normalisation of one numeric, integer or datetime column."""

    column: str
    kind: Literal["numeric", "integer", "datetime"]
    means: list[float] = field(default_factory=list)
    stds: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    has_missing: bool = False
    lower: float | None = None  # bounds in encoded units (days for datetimes)
    upper: float | None = None
    decimals: int | None = None
    resolution_days: float | None = (
        None  # datetimes: the coarsest unit every value is a multiple of
    )
    log_shift: float | None = (
        None  # right-skewed non-negative columns are modelled as log(x + shift)
    )
    # a datetime generated as days after another column; lower/upper then bound the offset and
    # the column's own bounds (days since the epoch) are kept here
    offset_from: str | None = None
    date_lower: float | None = None
    date_upper: float | None = None
    # each value encoded by its likeliest mode instead of one drawn from the posterior: a
    # smooth series then stays in one mode between mode boundaries (see generators.sequence)
    likeliest_mode: bool = False
    # no value was ever observed (an all-null column): it decodes to all missing, whatever a
    # model outputs, so no value is invented for it
    all_missing: bool = False

    @property
    def dims(self) -> list[tuple[int, Activation, bool]]:
        out: list[tuple[int, Activation, bool]] = [
            (1, "tanh", False),
            (len(self.means), "softmax", False),
        ]
        if self.has_missing:
            out.append((2, "softmax", True))
        return out

    @staticmethod
    def to_float(series: pd.Series, kind: str) -> np.ndarray:
        if kind == "datetime":
            values = pd.to_datetime(series).astype("datetime64[ns]")
            ns = values.to_numpy().astype("int64").astype(float)
            ns[values.isna().to_numpy()] = np.nan
            return ns / NS_PER_DAY
        return pd.to_numeric(series).to_numpy(dtype=float, na_value=np.nan)

    @classmethod
    def fit(cls, series: pd.Series, col: ColumnSpec, seed: int) -> ContinuousTransform:
        kind = col.type if col.type in ("integer", "datetime") else "numeric"
        values = cls.to_float(series, kind)
        present = values[~np.isnan(values)]
        lo, hi = col.bound("min"), col.bound("max")
        if kind == "datetime":
            lo = None if lo is None else lo.value / NS_PER_DAY
            hi = None if hi is None else hi.value / NS_PER_DAY
        log_shift = _log_shift(present) if kind != "datetime" else None
        if log_shift is not None:
            present = np.log(present + log_shift)
        if present.size == 0:
            means, stds, weights = [0.0], [1.0], [1.0]
        else:
            means, stds, weights = _fit_modes(present, seed)
        return cls(
            column=col.name,
            kind=kind,
            means=means,
            stds=stds,
            weights=weights,
            has_missing=bool(np.isnan(values).any()),
            lower=lo,
            upper=hi,
            decimals=col.decimals if kind == "numeric" else None,
            resolution_days=_resolution(series) if kind == "datetime" else None,
            log_shift=log_shift,
            all_missing=present.size == 0,
        )

    def as_linear(self, series: pd.Series) -> ContinuousTransform:
        """The same column as one mode spanning the data's range: the offset becomes a linear
        function of the value, for models with their own marginals (the Gaussian copula)."""
        values = self.to_float(series, self.kind)
        present = values[~np.isnan(values)]
        lo, hi = (float(present.min()), float(present.max())) if present.size else (0.0, 1.0)
        return ContinuousTransform(
            **{
                **asdict(self),
                "means": [(lo + hi) / 2],
                # the range's ends land on offsets +-0.99, inside the encoder's clip
                "stds": [max(hi - lo, 1e-9) / (8 * 0.99)],
                "weights": [1.0],
                "log_shift": None,
            }
        )

    @classmethod
    def from_bounds(cls, col: ColumnSpec) -> ContinuousTransform:
        """One mode spanning the declared [min, max]: nothing is learnt from the data, as
        differential privacy needs (the data's own modes and tails would leak)."""
        kind = col.type if col.type in ("integer", "datetime") else "numeric"
        lo, hi = col.bound("min"), col.bound("max")
        if kind == "datetime":
            lo, hi = lo.value / NS_PER_DAY, hi.value / NS_PER_DAY
        time_of_day = col.format is not None and any(t in col.format for t in ("%H", "%M"))
        return cls(
            column=col.name,
            kind=kind,
            means=[(lo + hi) / 2],
            stds=[max(hi - lo, 1e-9) / 8],  # the range is +-4 sigma: offsets fill [-1, 1]
            weights=[1.0],
            has_missing=col.nullable,
            lower=lo,
            upper=hi,
            decimals=col.decimals if kind == "numeric" else None,
            resolution_days=None if kind != "datetime" or time_of_day else 1.0,
        )

    def encode(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        x = self.to_float(series, self.kind)
        if self.log_shift is not None:
            x = np.log(np.maximum(x + self.log_shift, 1e-12))
        missing = np.isnan(x)
        means, stds = np.asarray(self.means), np.asarray(self.stds)
        filled = np.where(missing, means[int(np.argmax(self.weights))], x)
        # Posterior of each mode, then one mode sampled per value (as CTGAN does), shape (n, K).
        z = (filled[:, None] - means[None, :]) / stds[None, :]
        log_p = np.log(np.asarray(self.weights))[None, :] - np.log(stds)[None, :] - 0.5 * z**2
        log_p -= log_p.max(axis=1, keepdims=True)
        prob = np.exp(log_p)
        prob /= prob.sum(axis=1, keepdims=True)
        cum = prob.cumsum(axis=1)
        mode = (cum < rng.random(len(x))[:, None]).sum(axis=1).clip(0, len(means) - 1)
        if self.likeliest_mode:  # the same draw is consumed, so the stream does not shift
            mode = prob.argmax(axis=1)
        rows = np.arange(len(x))
        # A value more than 4 sigma from its sampled mode is encoded by its nearest mode instead.
        far = np.abs(z[rows, mode]) > 3.96
        mode[far] = np.abs(z[far]).argmin(axis=1)
        offset = np.clip(z[rows, mode] / 4.0, -0.99, 0.99)
        parts = [offset[:, None], np.eye(len(means))[mode]]
        if self.has_missing:
            parts.append(np.stack([~missing, missing], axis=1).astype(float))
        return np.concatenate(parts, axis=1)

    def decode(self, block: np.ndarray) -> pd.Series:
        k = len(self.means)
        offset = np.clip(block[:, 0], -1.0, 1.0)
        mode = _argmax(block[:, 1 : 1 + k])
        x = offset * 4.0 * np.asarray(self.stds)[mode] + np.asarray(self.means)[mode]
        if self.log_shift is not None:
            x = np.exp(np.minimum(x, 700.0)) - self.log_shift
        if self.lower is not None or self.upper is not None:
            x = np.clip(x, self.lower, self.upper)
        if self.kind == "integer":
            x = np.round(x)
        elif self.resolution_days:
            x = np.round(x / self.resolution_days) * self.resolution_days
        elif self.decimals is not None:
            x = np.round(x, self.decimals)
        if self.all_missing:
            x = np.full(len(x), np.nan)
        elif self.has_missing:
            x = np.where(block[:, 2 + k] > block[:, 1 + k], np.nan, x)  # the flag's argmax
        if self.kind == "datetime":
            ns = np.round(x * NS_PER_DAY)
            out = pd.Series(pd.NaT, index=range(len(x)), dtype="datetime64[ns]")
            ok = ~np.isnan(ns)
            out[ok] = pd.to_datetime(ns[ok].astype("int64"), unit="ns")
            return out
        return pd.Series(x, dtype=float)


SKEW_FOR_LOG = 1.0


def _argmax(block: np.ndarray) -> np.ndarray:
    """Row-wise argmax (first of ties, as numpy) of a column slice of a wide matrix: torch reduces
    strided rows about 1.5x faster than numpy on the CI machine, and decoding is mostly this."""
    if (
        block.dtype not in (np.float32, np.float64)
        or not block.flags.writeable
        or min(block.strides, default=0) < 0
    ):  # torch cannot wrap these without a copy or a warning
        return block.argmax(axis=1)
    import torch  # here, so that reading and checking a table never loads torch

    return torch.from_numpy(block).argmax(dim=1).numpy()


def _log_shift(values: np.ndarray) -> float | None:
    """A shift for modelling log(x + shift), when x is non-negative and strongly right-skewed.

    Lab values (creatinine, free light chains) are often log-normal: in log space their modes are
    few and wide, so the GAN's errors become relative rather than absolute.
    """
    if values.size < 20 or values.min() < 0:
        return None
    positive = values[values > 0]
    if positive.size == 0:
        return None
    shift = 0.0 if values.min() > 0 else float(positive.min()) / 2
    if _skew(values) < SKEW_FOR_LOG or abs(_skew(np.log(values + shift))) >= _skew(values):
        return None
    return shift


def _skew(x: np.ndarray) -> float:
    std = x.std()
    return float(((x - x.mean()) ** 3).mean() / std**3) if std > 0 else 0.0


def _resolution(series: pd.Series) -> float | None:
    """Days, hours, minutes or seconds: the coarsest unit that divides every timestamp."""
    ns = pd.to_datetime(series).dropna().astype("datetime64[ns]").to_numpy().astype("int64")
    for unit in (86_400, 3_600, 60, 1):
        if ns.size and not np.any(ns % (unit * 10**9)):
            return unit / 86_400
    return None


def _fit_modes(values: np.ndarray, seed: int) -> tuple[list[float], list[float], list[float]]:
    # scikit-learn loads here, when a model is fitted, not when a table is read and checked
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    rng = np.random.default_rng(seed)
    if values.size > BGM_FIT_ROWS:
        values = rng.choice(values, BGM_FIT_ROWS, replace=False)
    spread = float(values.std()) or 1.0
    n_unique = len(np.unique(values))
    if n_unique < 2:
        return [float(values[0])], [max(spread, 1e-3)], [1.0]
    bgm = BayesianGaussianMixture(
        n_components=min(MAX_MODES, n_unique),
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=0.001,
        max_iter=100,
        n_init=1,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(values.reshape(-1, 1))
    keep = bgm.weights_ > MIN_MODE_WEIGHT
    means = bgm.means_.ravel()[keep]
    stds = np.sqrt(bgm.covariances_.ravel()[keep])
    weights = bgm.weights_[keep] / bgm.weights_[keep].sum()
    floor = 1e-3 * spread  # a mode on a single repeated value would have zero width
    means, stds, weights = _cover_tails(values, means, np.maximum(stds, floor), weights)
    return means.tolist(), stds.tolist(), weights.tolist()


def _cover_tails(
    values: np.ndarray, means: np.ndarray, stds: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add a mode for each tail no mode reaches within 4 sigma, so outliers decode exactly.

    CTGAN clips such values to the nearest mode's edge, which silently shrinks the range.
    """
    z = np.abs(values[:, None] - means[None, :]) / stds[None, :]
    uncovered = values[z.min(axis=1) > 3.9]
    if uncovered.size == 0:
        return means, stds, weights
    centre = np.median(values)
    extra_m, extra_s, extra_w = [], [], []
    for tail in (uncovered[uncovered < centre], uncovered[uncovered >= centre]):
        if tail.size:
            lo, hi = tail.min(), tail.max()
            extra_m.append((lo + hi) / 2)
            extra_s.append(max((hi - lo) / 7.0, stds.min()))
            extra_w.append(max(tail.size / values.size, MIN_MODE_WEIGHT))
    weights = np.concatenate([weights, extra_w])
    return (
        np.concatenate([means, extra_m]),
        np.concatenate([stds, extra_s]),
        weights / weights.sum(),
    )


@dataclass
class DiscreteTransform:
    """One-hot encoding of a categorical or boolean column; missing is its own category."""

    column: str
    categories: list[Any]  # JSON scalars; None stands for missing
    frequencies: list[float] = field(default_factory=list)

    @property
    def dims(self) -> list[tuple[int, Activation, bool]]:
        return [(len(self.categories), "softmax", True)]

    @classmethod
    def fit(cls, series: pd.Series, col: ColumnSpec, seed: int) -> DiscreteTransform:
        del seed  # deterministic
        counts = series.value_counts(dropna=False, sort=False)
        present = [v for v in counts.index if not pd.isna(v)]
        cats: list[Any] = _sorted_values(pd.Series(present, dtype=object))
        freq = np.array([counts[c] for c in cats], dtype=float)
        if len(present) < len(counts):
            cats.append(None)
            freq = np.append(freq, counts[counts.index.isna()].sum())
        return cls(column=col.name, categories=cats, frequencies=(freq / freq.sum()).tolist())

    @classmethod
    def from_values(cls, col: ColumnSpec) -> DiscreteTransform:
        """The declared values (and missing, when nullable), learnt from nothing."""
        cats: list[Any] = list(col.values or [])
        if col.nullable:
            cats.append(None)
        return cls(column=col.name, categories=cats, frequencies=[1 / len(cats)] * len(cats))

    def codes(self, series: pd.Series) -> np.ndarray:
        lookup = {c: i for i, c in enumerate(self.categories) if c is not None}
        values = series.astype(object)
        missing = values.isna().to_numpy()
        codes = values.map(lookup).to_numpy(dtype=float, na_value=np.nan).copy()
        bad = np.isnan(codes) & ~missing
        if bad.any():
            examples = pd.unique(values[bad])[:5].tolist()
            raise ValueError(f"column {self.column!r}: values not seen when fitting: {examples}")
        if missing.any():
            if None not in self.categories:
                raise ValueError(f"column {self.column!r}: missing values, none seen when fitting")
            codes[missing] = self.categories.index(None)
        return codes.astype(int)

    def encode(self, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        del rng
        return np.eye(len(self.categories))[self.codes(series)]

    def decode(self, block: np.ndarray) -> pd.Series:
        values = np.array(self.categories, dtype=object)[_argmax(block)]
        return pd.Series(values, dtype=object)


ColumnTransform = ContinuousTransform | DiscreteTransform


def _days(series: pd.Series) -> np.ndarray:
    return ContinuousTransform.to_float(series.reset_index(drop=True), "datetime")


def _fit_offset(df: pd.DataFrame, col: ColumnSpec, seed: int) -> ContinuousTransform:
    """Days after ``col.offset_from``, modelled like a number (length of stay is often skewed,
    so it may get the log scale), bounded by the offsets seen and the column's own bounds."""
    offsets = pd.Series(_days(df[col.name]) - _days(df[col.offset_from]))
    present = offsets.dropna()
    as_number = ColumnSpec(
        name=col.name,
        type="numeric",
        nullable=True,
        min=float(present.min()) if len(present) else None,
        max=float(present.max()) if len(present) else None,
    )
    t = ContinuousTransform.fit(offsets, as_number, seed)
    lo, hi = col.bound("min"), col.bound("max")
    t.offset_from = col.offset_from
    t.resolution_days = _resolution(df[col.name])
    t.date_lower = None if lo is None else lo.value / NS_PER_DAY
    t.date_upper = None if hi is None else hi.value / NS_PER_DAY
    t.has_missing = bool(offsets.isna().any())
    return t


def _offset_from_bounds(col: ColumnSpec, reference: ColumnSpec) -> ContinuousTransform:
    """Days after the reference date, over the widest range the declared bounds allow:
    0 to the column's latest date less the reference's earliest."""
    days = (col.bound("max") - reference.bound("min")) / pd.Timedelta(days=1)
    as_number = ColumnSpec(
        name=col.name, type="numeric", nullable=col.nullable, min=0.0, max=max(float(days), 0.0)
    )
    t = ContinuousTransform.from_bounds(as_number)
    t.offset_from = col.offset_from
    t.resolution_days = ContinuousTransform.from_bounds(col).resolution_days
    t.date_lower = col.bound("min").value / NS_PER_DAY
    t.date_upper = col.bound("max").value / NS_PER_DAY
    return t


def _after(reference: pd.Series, offsets: pd.Series, t: ContinuousTransform) -> pd.Series:
    """Reference date + offset days, at the column's resolution and within its bounds."""
    days = _days(reference) + offsets.to_numpy(dtype=float)
    if t.resolution_days:
        days = np.round(days / t.resolution_days) * t.resolution_days
    if t.date_lower is not None or t.date_upper is not None:
        days = np.clip(days, t.date_lower, t.date_upper)
    ns = np.round(days * NS_PER_DAY)
    out = pd.Series(pd.NaT, index=range(len(days)), dtype="datetime64[ns]")
    ok = ~np.isnan(ns)
    out[ok] = pd.to_datetime(ns[ok].astype("int64"), unit="ns")
    return out


class TableTransformer:
    """Fits one transform per modelled column and maps tables to matrices and back."""

    def __init__(self, transforms: list[ColumnTransform]):
        self.transforms = transforms
        self.spans: list[Span] = []
        start = 0
        for t in transforms:
            for dim, act, discrete in t.dims:
                self.spans.append(Span(start, dim, act, t.column, discrete))
                start += dim
        self.width = start

    @classmethod
    def fit(cls, df: pd.DataFrame, spec: DatasetSpec, seed: int = 0) -> TableTransformer:
        transforms: list[ColumnTransform] = []
        for i, col in enumerate(spec.modelled):
            if col.offset_from is not None:
                transforms.append(_fit_offset(df, col, seed + i))
                continue
            make = DiscreteTransform if col.is_discrete else ContinuousTransform
            transforms.append(make.fit(df[col.name], col, seed + i))
        return cls(transforms)

    @classmethod
    def fit_linear(cls, df: pd.DataFrame, spec: DatasetSpec, seed: int = 0) -> TableTransformer:
        """Every number as one linear offset (no mixture modes), for models that learn their
        own marginals (the Gaussian copula, diffusion): dependence is not split across modes."""
        fitted = cls.fit(df, spec, seed)
        return cls(
            [
                t.as_linear(fitted._input(t, df)) if isinstance(t, ContinuousTransform) else t
                for t in fitted.transforms
            ]
        )

    def with_likeliest_modes(self) -> TableTransformer:
        """The same transforms, every number encoded by its likeliest mode (``encode``)."""
        return type(self)(
            [
                replace(t, likeliest_mode=True) if isinstance(t, ContinuousTransform) else t
                for t in self.transforms
            ]
        )

    def _input(self, t: ColumnTransform, df: pd.DataFrame) -> pd.Series:
        """The values a transform encodes: the column, or its offset in days from another."""
        if isinstance(t, ContinuousTransform) and t.offset_from is not None:
            return pd.Series(_days(df[t.column]) - _days(df[t.offset_from]))
        return df[t.column].reset_index(drop=True)

    @classmethod
    def from_spec(cls, spec: DatasetSpec) -> TableTransformer:
        """Transforms built from the spec alone (declared bounds and values), for training
        under differential privacy: fitting them on the data would spend privacy unaccounted."""
        undeclared = [
            f"{c.name} (values)" if c.is_discrete else f"{c.name} (min and max)"
            for c in spec.modelled
            if (c.is_discrete and not c.values)
            or (not c.is_discrete and (c.min is None or c.max is None))
        ]
        if undeclared:
            raise SpecError(
                f"spec {spec.name!r}: differential privacy needs every column's range declared "
                f"in the spec, not learnt from the data; missing: {', '.join(undeclared)}"
            )
        by_name = {c.name: c for c in spec.columns}
        return cls(
            [
                DiscreteTransform.from_values(c)
                if c.is_discrete
                else _offset_from_bounds(c, by_name[c.offset_from])
                if c.offset_from is not None
                else ContinuousTransform.from_bounds(c)
                for c in spec.modelled
            ]
        )

    @property
    def columns(self) -> list[str]:
        return [t.column for t in self.transforms]

    def transform(self, df: pd.DataFrame, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        blocks = [t.encode(self._input(t, df), rng) for t in self.transforms]
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def inverse(self, matrix: np.ndarray) -> pd.DataFrame:
        out, start = {}, 0
        for t in self.transforms:
            width = sum(d for d, _, _ in t.dims)
            out[t.column] = t.decode(matrix[:, start : start + width])
            if isinstance(t, ContinuousTransform) and t.offset_from is not None:
                out[t.column] = _after(out[t.offset_from], out[t.column], t)
            start += width
        return pd.DataFrame(out)

    def discrete_spans(self) -> list[Span]:
        return [s for s in self.spans if s.discrete]

    def to_dict(self) -> dict[str, Any]:
        return {
            "transforms": [
                {
                    "type": "continuous" if isinstance(t, ContinuousTransform) else "discrete",
                    **asdict(t),
                }
                for t in self.transforms
            ]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableTransformer:
        transforms: list[ColumnTransform] = []
        for item in data["transforms"]:
            item = dict(item)
            kind = item.pop("type")
            transforms.append(
                ContinuousTransform(**item) if kind == "continuous" else DiscreteTransform(**item)
            )
        return cls(transforms)
