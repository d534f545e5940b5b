"""Fixed-length signals (an ECG beat, a sampled waveform): principal components and a mixture.

Patient histories where every patient has the same samples on the same time grid (ECG200's 96
samples of one heartbeat, a torso ECG's 205) are one vector per patient and measurement. A
recurrent GAN has to learn such a vector one step at a time; this family learns it whole:

1. each temporal column's vectors are centred and projected on their principal components, as
   many as hold ``variance`` of the spread (at most ``max_components`` and a quarter of the
   patients);
2. patients are grouped by their categorical static columns (the outcome among them, so the
   signal's link to the outcome is learnt per group); a group of fewer than ``min_group``
   patients joins the pooled rest;
3. per group, a Gaussian mixture (``mixture`` components, fewer when the group is small) over
   the component scores and the numeric static columns, standardised, each covariance shrunk
   towards its diagonal by ``shrinkage`` (a mixture on few patients otherwise sits on them);
4. sampling draws a group by its share, a mixture component by its weight and a vector from it,
   maps the scores back and adds the spread the kept components leave out (``residual_noise``):
   independent Gaussian scores on every other component, each with its real spread, so the
   noise keeps the real signals' correlation over time (white noise at every sample is told
   from real by a recurrent classifier).

With ``align`` (a share of the signal's length, 0 by default), each patient's signals are first
shifted in time onto a common template (the shift that best matches the mean signal, refined
twice, one shift a patient for all measurements, ends held at their edge value); the components
then describe the aligned shape, the shift is one more number in the mixture, and a sampled
signal is shifted back by its drawn shift. A peak that moves from beat to beat is blurred by a
linear basis without it (the average of shifted peaks is wider and lower), and a detector reads
the blur; where peaks do not move, alignment only adds a column. ``auto`` decides per data set
by a validation score (``tasks.select_sequence``).

When every real patient's signal has the same mean and spread (UCR's beats are z-normalised one
by one), every synthetic one is standardised to them too: a classifier reading a whole beat
would otherwise see that no real beat is off by a little.

Values are clipped to the spec's bounds and rounded to its decimals; the time grid, the id
column's fresh ids and the column order and dtypes are the input's. The model is arrays only
(JSON settings + a tensor file, no pickle). What it does not take (a varying number of samples,
times that differ between patients, categorical or missing measurements) is refused by
``signal_shape`` with the reason, and ``dgan`` takes it.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from generators.base import FitReport, pack_checkpoint, unpack_checkpoint
from generators.registry import register
from generators.schema import DatasetSpec
from generators.sequence import check_sequences

MIN_SAMPLES = 8  # fewer samples a patient are visits, not a signal
NORMALISED = 0.02  # per-patient means and spreads this alike (relative): a standardised signal


class SignalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = "auto"  # accepted for the shared settings; the fit is numpy on the CPU
    threads: int | None = None
    variance: float = Field(0.995, gt=0, lt=1)
    max_components: int = Field(20, ge=1)
    mixture: int = Field(3, ge=1)
    min_group: int = Field(10, ge=2)
    shrinkage: float = Field(0.02, ge=0, le=1)
    residual_noise: bool = True
    align: float = Field(0.0, ge=0, lt=0.5)  # the largest shift, a share of the length


def signal_shape(data: pd.DataFrame, spec: DatasetSpec) -> str | None:
    """None when ``data`` is fixed-length signals this family takes; else the reason it is not."""
    roles = spec.sequence
    if roles is None:
        return "the spec declares no sequence roles"
    if not pd.api.types.is_numeric_dtype(data[roles.time]):
        return f"time column {roles.time!r} is not a number"
    sizes = data.groupby(roles.id, sort=False).size()
    if sizes.nunique() != 1:
        return f"patients have {sizes.min()} to {sizes.max()} samples, not one fixed length"
    if int(sizes.iloc[0]) < MIN_SAMPLES:
        return f"{int(sizes.iloc[0])} samples a patient: visits, not a signal"
    ordered = data.sort_values([roles.id, roles.time], kind="stable")
    grid = ordered[roles.time].to_numpy(dtype=float).reshape(len(sizes), -1)
    if not np.allclose(grid, grid[:1]):
        return "patients are sampled at different times"
    temporal = spec.temporal
    if not temporal:
        return "no temporal column"
    for name in temporal:
        column = spec.column(name)
        if column.type not in ("integer", "numeric"):
            return f"temporal column {name!r} is {column.type}, not a number"
        if data[name].isna().any():
            return f"temporal column {name!r} has missing values"
    for name in roles.static:
        if spec.column(name).type == "datetime":
            return f"static column {name!r} is a date"
    known = {roles.id, roles.time, *roles.static, *temporal}
    other = [c for c in data.columns if c not in known]
    if other:
        return f"column {other[0]!r} is neither the id, the time, static nor a measurement"
    return None


def _standardised(x: np.ndarray) -> list[float] | None:
    """[mean, spread] when every patient's signal (a row of ``x``) has the same mean and
    spread to within ``NORMALISED`` (z-normalised beats), else None."""
    centres, spreads = x.mean(1), x.std(1)
    if centres.std() <= NORMALISED * max(float(x.std()), 1e-12) and spreads.std() <= (
        NORMALISED * max(float(spreads.mean()), 1e-12)
    ):
        return [float(centres.mean()), float(spreads.mean())]
    return None


def _shifted(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Row ``i`` of ``x`` read ``shifts[i]`` samples later (``y[t] = x[t + s]``), ends held at
    their edge value."""
    at = np.clip(np.arange(x.shape[1])[None, :] + shifts[:, None], 0, x.shape[1] - 1)
    return np.take_along_axis(x, at, axis=1)


def _alignment(signals: list[np.ndarray], largest: int, rounds: int = 3) -> np.ndarray:
    """One shift a patient (``-largest..largest`` samples) that lays all its signals best on
    the mean of the shifted ones: the inner product with the template, each measurement
    standardised, summed over measurements; the template is the mean again after each round."""
    z = [(x - x.mean()) / max(float(x.std()), 1e-12) for x in signals]
    shifts = np.zeros(len(z[0]), dtype=np.int64)
    options = np.arange(-largest, largest + 1)
    for _ in range(rounds):
        templates = [_shifted(x, shifts).mean(0) for x in z]
        fit = np.zeros((len(shifts), len(options)))
        for x, template in zip(z, templates, strict=True):
            for j, s in enumerate(options):
                fit[:, j] += _shifted(x, np.full(len(x), s)) @ template
        # ties (flat signals) keep the smallest shift
        best = options[np.argmax(fit - 1e-9 * np.abs(options), axis=1)]
        if np.array_equal(best, shifts):
            break
        shifts = best
    return shifts


def _shrunk(cov: np.ndarray, weight: float) -> np.ndarray:
    return (1 - weight) * cov + weight * np.diag(np.diag(cov))


def _mixture(x: np.ndarray, components: int, shrinkage: float, seed: int) -> dict[str, np.ndarray]:
    """A Gaussian mixture fitted by scikit-learn's EM, covariances shrunk towards the diagonal
    and kept as Cholesky factors for sampling."""
    from sklearn.mixture import GaussianMixture

    components = max(1, min(components, len(x) // max(2 * x.shape[1], 1)))
    if components == 1 or len(x) < 4:
        means = x.mean(0, keepdims=True)
        covs = np.cov(x, rowvar=False, bias=True).reshape(1, x.shape[1], x.shape[1])
        weights = np.ones(1)
    else:
        fitted = GaussianMixture(
            components, covariance_type="full", reg_covar=1e-6, n_init=2, random_state=seed
        ).fit(x)
        means, covs, weights = fitted.means_, fitted.covariances_, fitted.weights_
    floor = 1e-6 * max(float(np.mean(np.var(x, axis=0))), 1e-12)
    chol = np.stack(
        [np.linalg.cholesky(_shrunk(c, shrinkage) + floor * np.eye(x.shape[1])) for c in covs]
    )
    return {"weights": weights / weights.sum(), "means": means, "chol": chol}


@register("signal")
class Signal:
    """Principal components of fixed-length signals and a Gaussian mixture (see the module doc)."""

    name: ClassVar[str]
    kind: ClassVar[str] = "sequence"
    resumable: ClassVar[bool] = False
    config_class: ClassVar[type[SignalConfig]] = SignalConfig

    def __init__(self, config: SignalConfig | dict[str, Any] | None = None):
        if isinstance(config, SignalConfig):
            config = config.model_dump()
        self.config = SignalConfig.model_validate(dict(config or {}))
        self.spec: DatasetSpec | None = None
        self.meta: dict[str, Any] = {}
        self.arrays: dict[str, np.ndarray] = {}

    # -- fitting ------------------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame,
        spec: DatasetSpec,
        *,
        seed: int = 0,
        on_epoch: Any = None,
        checkpointing: Any = None,
    ) -> FitReport:
        if checkpointing is not None:
            raise ValueError("signal fits in one pass: there is nothing to checkpoint")
        if spec.sequence is None:
            raise ValueError("signal needs a spec with sequence roles (id, time, static columns)")
        check_sequences(data, spec)
        reason = signal_shape(data, spec)
        if reason is not None:
            raise ValueError(f"signal takes fixed-length numeric signals: {reason} (use dgan)")
        start = time.perf_counter()
        cfg, roles = self.config, spec.sequence
        ordered = data.sort_values([roles.id, roles.time], kind="stable")
        first = ordered.groupby(roles.id, sort=False).head(1).reset_index(drop=True)
        patients, length = len(first), len(ordered) // len(first)
        categorical = [c for c in roles.static if spec.column(c).is_discrete]
        numeric = [c for c in roles.static if c not in categorical]
        blocks, bases, normalised = [], {}, {}
        signals = {
            name: ordered[name].to_numpy(dtype=float).reshape(patients, length)
            for name in spec.temporal
        }
        largest = int(round(cfg.align * length))
        shifts = _alignment(list(signals.values()), largest) if largest else None
        for name, x in signals.items():
            if (alike := _standardised(x)) is not None:
                normalised[name] = alike
            if shifts is not None:
                x = _shifted(x, shifts)
            mean = x.mean(0)
            _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
            explained = np.cumsum(s**2) / max(float((s**2).sum()), 1e-300)
            k = int(np.searchsorted(explained, cfg.variance) + 1)
            k = max(1, min(k, cfg.max_components, patients // 4, len(s)))
            scores = (x - mean) @ vt[:k].T
            # the rest of the spread, on the components left out (each its own spread): noise
            # with the real signals' correlation over time, not independent at every sample
            tail = (x - mean) @ vt[k:].T
            bases[name] = {
                "mean": mean,
                "components": vt[:k],
                "tail": vt[k:],
                "tail_spread": tail.std(axis=0),
            }
            blocks.append(scores)
        if shifts is not None:
            blocks.append(shifts[:, None].astype(float))
        for name in numeric:
            values = pd.to_numeric(first[name], errors="coerce").astype(float)
            blocks.append(values.fillna(values.median()).to_numpy()[:, None])
        z = np.hstack(blocks)
        centre, scale = z.mean(0), np.where(z.std(0) > 0, z.std(0), 1.0)
        z = (z - centre) / scale
        keys = (
            first[categorical].astype(object).where(first[categorical].notna(), None)
            if categorical
            else pd.DataFrame(index=first.index)
        )
        combos = [
            tuple(v.item() if isinstance(v, np.generic) else v for v in row)
            for row in keys.itertuples(index=False)
        ]
        members: dict[tuple, list[int]] = {}
        for i, combo in enumerate(combos):
            members.setdefault(combo, []).append(i)
        groups: list[dict[str, Any]] = [
            {"values": [list(combo)], "shares": [1.0], "rows": rows}
            for combo, rows in members.items()
            if len(rows) >= cfg.min_group
        ]
        small = {combo: rows for combo, rows in members.items() if len(rows) < cfg.min_group}
        if small:  # small groups pooled: their categories drawn by their shares within
            pooled = sum(len(rows) for rows in small.values())
            groups.append(
                {
                    "values": [list(combo) for combo in small],
                    "shares": [len(rows) / pooled for rows in small.values()],
                    "rows": sorted(i for rows in small.values() for i in rows),
                }
            )
        arrays: dict[str, np.ndarray] = {
            "centre": centre,
            "scale": scale,
            **{f"{name}.{part}": a for name, b in bases.items() for part, a in b.items()},
        }
        for g, group in enumerate(groups):
            fitted = _mixture(z[group["rows"]], cfg.mixture, cfg.shrinkage, seed + g)
            arrays.update({f"group{g}.{part}": a for part, a in fitted.items()})
            group["patients"] = len(group.pop("rows"))
        self.spec = spec
        self.arrays = arrays
        self.meta = {
            "grid": ordered[roles.time].iloc[:length].tolist(),
            "components": {name: int(b["components"].shape[0]) for name, b in bases.items()},
            "normalised": normalised,
            "largest_shift": largest,
            "categorical": categorical,
            "numeric": numeric,
            "groups": groups,
            "dtypes": {c: str(data[c].dtype) for c in data.columns},
            "columns": list(data.columns),
        }
        return FitReport(epochs=1, seconds=time.perf_counter() - start)

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, n: int, *, seed: int = 0, first_id: int = 0) -> pd.DataFrame:
        """``n`` synthetic patients as a long table (one row per sample), ids from
        ``first_id``."""
        if self.spec is None:
            raise RuntimeError("signal: sample before fit")
        meta, arrays, spec = self.meta, self.arrays, self.spec
        roles = spec.sequence
        rng = np.random.default_rng(seed)
        groups = meta["groups"]
        sizes = np.array([g["patients"] for g in groups], dtype=float)
        which = rng.choice(len(groups), n, p=sizes / sizes.sum())
        z = np.empty((n, len(arrays["centre"])))
        combos: list[list[Any]] = [[] for _ in range(n)]
        for g, group in enumerate(groups):
            rows = np.flatnonzero(which == g)
            if not len(rows):
                continue
            weights = arrays[f"group{g}.weights"]
            means, chol = arrays[f"group{g}.means"], arrays[f"group{g}.chol"]
            parts = rng.choice(len(weights), len(rows), p=weights)
            noise = rng.standard_normal((len(rows), means.shape[1]))
            z[rows] = means[parts] + np.einsum("nij,nj->ni", chol[parts], noise)
            picks = rng.choice(len(group["values"]), len(rows), p=group["shares"])
            for row, pick in zip(rows, picks, strict=True):
                combos[row] = group["values"][pick]
        z = z * arrays["scale"] + arrays["centre"]
        length = len(meta["grid"])
        out = pd.DataFrame(
            {
                roles.id: np.repeat(np.arange(first_id, first_id + n), length),
                roles.time: np.tile(np.asarray(meta["grid"]), n),
            }
        )
        largest = int(meta.get("largest_shift", 0))
        at = sum(meta["components"].values())
        shifts = None
        if largest:  # drawn in the aligned frame: each signal is moved back by its shift
            shifts = np.clip(np.rint(z[:, at]), -largest, largest).astype(np.int64)
            at += 1
        numeric_at, at = at, 0
        for name, k in meta["components"].items():
            scores, at = z[:, at : at + k], at + k
            x = arrays[f"{name}.mean"] + scores @ arrays[f"{name}.components"]
            if self.config.residual_noise:
                tail = arrays[f"{name}.tail_spread"]
                x = x + (rng.standard_normal((n, len(tail))) * tail) @ arrays[f"{name}.tail"]
            if shifts is not None:
                x = _shifted(x, -shifts)
            if name in meta["normalised"]:
                centre, spread = meta["normalised"][name]
                std = x.std(1, keepdims=True)
                x = centre + (x - x.mean(1, keepdims=True)) * spread / np.where(std > 0, std, 1)
            out[name] = self._kept(name, x.ravel())
        at = numeric_at
        for name in meta["numeric"]:
            out[name] = np.repeat(self._kept(name, z[:, at]), length)
            at += 1
        for j, name in enumerate(meta["categorical"]):
            out[name] = np.repeat(np.array([c[j] for c in combos], dtype=object), length)
        return self._typed(out[meta["columns"]])

    def _kept(self, name: str, values: np.ndarray) -> np.ndarray:
        """Within the spec's bounds, at its precision (integers for integer columns)."""
        column = self.spec.column(name)
        low = -np.inf if column.min is None else float(column.min)
        high = np.inf if column.max is None else float(column.max)
        values = np.clip(values, low, high)
        if column.type == "integer":
            return np.round(values)
        return values if column.decimals is None else np.round(values, column.decimals)

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The input's dtypes (a category or string column from its values, as read)."""
        for name, dtype in self.meta["dtypes"].items():
            if dtype != "object" and not dtype.startswith("category"):
                frame[name] = frame[name].astype(dtype)
        return frame

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self) -> dict[str, bytes]:
        if self.spec is None:
            raise RuntimeError("signal: nothing to save before fit")
        meta = {
            "generator": self.name,
            "config": self.config.model_dump(mode="json"),
            "spec": self.spec.model_dump(mode="json"),
            **self.meta,
        }
        return pack_checkpoint(meta, {k: torch.from_numpy(v) for k, v in self.arrays.items()})

    @classmethod
    def load(cls, files: dict[str, bytes]) -> Signal:
        meta, tensors = unpack_checkpoint(files, cls.name)
        model = cls(meta.pop("config"))
        model.spec = DatasetSpec.model_validate(meta.pop("spec"))
        meta.pop("generator")
        model.meta = meta
        model.arrays = {k: v.numpy() for k, v in tensors.items()}
        return model
