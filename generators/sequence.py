"""Patient histories as tensors and back: static attributes, visits with irregular gaps, missing
measurements and variable lengths.

A long table (one row per visit, ``spec.sequence`` naming the id, time and static columns) becomes

- ``static``  (patients, Ws): each patient's static columns, encoded by a ``TableTransformer``;
- ``steps``   (patients, L, Wt): each visit's gap since the previous visit (the first visit's is
  its time) and its temporal columns, encoded by a second ``TableTransformer``; a missing
  measurement is the transforms' missing flag, so masks are learnt like any category;
- ``present`` (patients, L): 1 for a real visit, 0 for the padding after the last one.

Structure the data holds exactly is kept exactly: when every patient has the same number of
visits (an ECG beat of 96 samples) every synthetic patient has it too, and when every patient is
sampled on the same regular grid (first time and gap constant) the synthetic times are that grid.

A static column that bounds the visit time (the spec's ``time <= years``: no visit after death or
censoring) can be encoded as the time left after the patient's last visit (``follow_up``), which
is never negative; decoding adds it back to the last visit's time, so every synthetic patient
keeps the rule by construction and none of its visits has to be cut.

Otherwise decoding turns gaps back into times by a running sum, each gap after the first at least the
smallest gap seen in the data, so times increase strictly within every synthetic patient and
stay in the data's units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from generators.constraints import breaks
from generators.schema import ColumnSpec, DatasetSpec
from generators.transforms import TableTransformer

GAP = "__gap__"  # the encoded time since the previous visit
MID, HALF = "__mid__", "__half__"  # per-patient centre and half-range of a scaled measurement
AFTER = "__after__"  # a follow-up bound encoded as the time left after the last visit


class SequenceError(ValueError):
    """A long table that breaks the sequence rules (order, duplicate times, static columns)."""


@dataclass
class EncodedSequences:
    static: np.ndarray  # (patients, Ws) float32
    steps: np.ndarray  # (patients, L, Wt) float32, zeros after each patient's last visit
    present: np.ndarray  # (patients, L) float32
    lengths: np.ndarray  # (patients,) int


def check_sequences(df: pd.DataFrame, spec: DatasetSpec, source: str = "data") -> None:
    """The sequence rules: times present and strictly increasing within a patient (no duplicate
    timestamps), static columns constant within a patient. Raises naming file, column, rule."""
    roles = spec.sequence
    if roles is None:
        raise SequenceError(f"{source}: the spec declares no sequence roles")
    ids, times = df[roles.id], pd.to_numeric(df[roles.time], errors="coerce")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise SequenceError(f"{source}: column {roles.time!r}: missing time at row {row}")
    frame = pd.DataFrame({"id": ids.to_numpy(), "t": times.to_numpy()})
    step = frame.groupby("id", sort=False)["t"].diff()
    bad = step.le(0).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        rule = "duplicate timestamp" if step.iloc[row] == 0 else "time goes backwards"
        raise SequenceError(
            f"{source}: column {roles.time!r}: {rule} for patient {frame['id'].iloc[row]!r} at "
            f"row {row} (times must increase strictly within a patient)"
        )
    for column in roles.static:
        varying = df.groupby(roles.id, sort=False)[column].nunique(dropna=False) > 1
        if varying.any():
            patient = varying.index[np.flatnonzero(varying.to_numpy())[0]]
            raise SequenceError(
                f"{source}: column {column!r} is declared static but changes within patient "
                f"{patient!r}"
            )


def keep_constraints(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Synthetic histories (a long table) cut or dropped so that every row keeps the spec's
    constraints.

    - A rule bounding the visit time by another column (``year <= years``: visits end where
      follow-up ends, at death or censoring) censors: the visits after the bound are dropped.
    - Any other rule a visit breaks drops the whole patient (the caller draws more): cutting a
      history at one implausible measurement would bias what is left.

    A patient left without visits is dropped.
    """
    roles = spec.sequence
    censoring = [r for r in spec.constraints if r.less_equal and r.less_equal[0] == roles.time]
    keep = np.ones(len(df), dtype=bool)
    for rule in censoring:
        keep &= ~breaks(df, rule)
    df = df[keep].reset_index(drop=True)
    broken = np.zeros(len(df), dtype=bool)
    for rule in spec.constraints:
        if rule not in censoring:
            broken |= breaks(df, rule)
    return df[~df[roles.id].isin(df.loc[broken, roles.id])].reset_index(drop=True)


def follow_up_bounds(spec: DatasetSpec) -> list[str]:
    """Static numeric columns that the spec declares as bounds of the visit time
    (``less_equal: [time, column]``): candidates for ``SequenceEncoder``'s ``follow_up``."""
    roles = spec.sequence
    if roles is None:
        return []
    out = []
    for rule in spec.constraints:
        if not rule.less_equal or rule.less_equal[0] != roles.time:
            continue
        bound = rule.less_equal[1]
        if bound in roles.static and spec.column(bound).type in ("numeric", "integer"):
            out.append(bound)
    return list(dict.fromkeys(out))


def infer_sequence_roles(df: pd.DataFrame, id_column: str, time_column: str) -> list[str]:
    """The static columns of a long table: those constant within every patient."""
    for name in (id_column, time_column):
        if name not in df.columns:
            raise SequenceError(f"column {name!r} is not in the data; columns: {list(df.columns)}")
    others = [c for c in df.columns if c not in (id_column, time_column)]
    varying = df.groupby(id_column, sort=False)[others].nunique(dropna=False).max()
    return [c for c in others if varying[c] <= 1]


class SequenceEncoder:
    """Fitted encoders for one long table (see the module doc)."""

    def __init__(
        self,
        spec: DatasetSpec,
        static: TableTransformer,
        steps: TableTransformer,
        max_length: int,
        min_gap: float,
        fixed_length: bool = False,
        grid: tuple[float, float] | None = None,
        scaled: list[str] | None = None,
        follow_up: list[str] | None = None,
    ):
        self.spec = spec
        self.static = static
        self.steps = steps
        self.max_length = max_length
        self.min_gap = min_gap
        self.fixed_length = fixed_length  # every patient has max_length visits
        self.grid = grid  # (first time, gap) shared by every patient, or None
        # measurements scaled per patient: each patient's centre and half-range are static
        # attributes, the visits a shape in [-1, 1] (DoppelGANger's auto-normalisation)
        self.scaled = list(scaled or [])
        # static bounds of the visit time, encoded as the time left after the last visit
        self.follow_up = list(follow_up or [])

    # -- specs of the two tables ---------------------------------------------------------------
    @staticmethod
    def _static_spec(spec: DatasetSpec, scaled: list[str], follow_up: list[str]) -> DatasetSpec:
        cols = []
        for name in spec.sequence.static:
            col = spec.column(name)
            if name in follow_up:  # what is left after the last visit: never negative
                hi = col.bound("max")
                col = ColumnSpec(
                    name=AFTER + name,
                    type=col.type,
                    nullable=col.nullable,
                    min=0,
                    max=hi,
                    decimals=col.decimals,
                )
            cols.append(col)
        for name in scaled:
            col = spec.column(name)
            lo, hi = col.bound("min"), col.bound("max")
            half_max = None if lo is None or hi is None else (hi - lo) / 2
            cols += [
                ColumnSpec(name=MID + name, type="numeric", min=lo, max=hi),
                ColumnSpec(name=HALF + name, type="numeric", min=0, max=half_max),
            ]
        return DatasetSpec(name=f"{spec.name}-static", columns=cols)

    @staticmethod
    def _step_spec(spec: DatasetSpec, scaled: list[str]) -> DatasetSpec:
        gap = ColumnSpec(name=GAP, type="numeric", nullable=False, min=0)
        cols = [gap]
        for name in spec.temporal:
            col = spec.column(name)
            if name in scaled:  # the shape within the patient's own range
                col = ColumnSpec(name=name, type="numeric", nullable=col.nullable, min=-1, max=1)
            cols.append(col)
        return DatasetSpec(name=f"{spec.name}-steps", columns=cols)

    # -- tables ------------------------------------------------------------------------------
    @staticmethod
    def _ordered(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
        roles = spec.sequence
        order = np.lexsort((df[roles.time].to_numpy(), pd.factorize(df[roles.id])[0]))
        return df.iloc[order].reset_index(drop=True)

    @staticmethod
    def _tables(
        df: pd.DataFrame, spec: DatasetSpec, scaled: list[str], follow_up: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
        roles = spec.sequence
        ids = pd.factorize(df[roles.id])[0]
        times = df[roles.time].astype(float).to_numpy()
        first = np.r_[True, ids[1:] != ids[:-1]]
        gaps = np.where(first, times, times - np.r_[0.0, times[:-1]])
        steps = df[spec.temporal].copy()
        steps.insert(0, GAP, gaps)
        static = df.loc[first, roles.static].reset_index(drop=True)
        if follow_up:
            last = np.r_[first[1:], True]  # each patient's last visit
            for name in follow_up:
                bound = pd.to_numeric(static[name], errors="coerce").to_numpy(dtype=float)
                left = bound - times[last]
                if (left < 0).any():
                    patient = df[roles.id].to_numpy()[first][np.flatnonzero(left < 0)[0]]
                    patient = patient.item() if hasattr(patient, "item") else patient
                    raise SequenceError(
                        f"column {name!r}: a visit lies after it for patient {patient!r} "
                        f"(rule {roles.time} <= {name})"
                    )
                static[name] = left
                static = static.rename(columns={name: AFTER + name})
        for name in scaled:
            x = pd.to_numeric(df[name], errors="coerce").astype(float)
            by_patient = x.groupby(ids)
            lo, hi = by_patient.min().to_numpy(), by_patient.max().to_numpy()  # NaN: never seen
            mid, half = (hi + lo) / 2, (hi - lo) / 2
            static[MID + name], static[HALF + name] = mid, half
            centre, spread = mid[ids], half[ids]
            with np.errstate(invalid="ignore", divide="ignore"):
                shape = np.where(spread > 0, (x.to_numpy() - centre) / spread, 0.0)
            steps[name] = np.where(np.isnan(x.to_numpy()), np.nan, np.clip(shape, -1, 1))
        lengths = np.bincount(ids)
        return static, steps, lengths, first

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        spec: DatasetSpec,
        seed: int = 0,
        patient_scaling: bool = False,
        likeliest_modes: bool = False,
        follow_up: list[str] | None = None,
    ) -> SequenceEncoder:
        """``patient_scaling``: numeric measurements as per-patient ranges (static) and shapes
        (visits) instead of raw values. ``likeliest_modes``: every visit's numbers (gap and
        measurements) encoded in their likeliest mode rather than a drawn one, so a patient's
        smooth series does not hop between overlapping modes from one visit to the next.
        ``follow_up``: static columns bounding the visit time (``follow_up_bounds``), encoded as
        the time left after the last visit."""
        follow_up = list(follow_up or [])
        allowed = follow_up_bounds(spec)
        for name in follow_up:
            if name not in allowed:
                raise SequenceError(
                    f"column {name!r}: follow_up needs a static numeric column that the spec "
                    f"declares as a bound of the visit time ({spec.sequence.time} <= {name}); "
                    f"such columns here: {allowed}"
                )
        scaled = [
            c
            for c in spec.temporal
            if patient_scaling and spec.column(c).type in ("numeric", "integer")
        ]
        ordered = cls._ordered(df, spec)
        static, steps, lengths, first = cls._tables(ordered, spec, scaled, follow_up)
        later = steps[GAP].to_numpy()[~first]
        positive = later[later > 0]
        starts = steps[GAP].to_numpy()[first]
        grid = None
        if np.ptp(starts) == 0 and (later.size == 0 or np.ptp(later) == 0):
            grid = (float(starts[0]), float(later[0]) if later.size else 1.0)
        static_transformer = (
            TableTransformer.fit(static, cls._static_spec(spec, scaled, follow_up), seed)
            if len(static.columns)
            else TableTransformer([])
        )
        step_transformer = TableTransformer.fit(steps, cls._step_spec(spec, scaled), seed + 1)
        if likeliest_modes:
            step_transformer = step_transformer.with_likeliest_modes()
        return cls(
            spec,
            static_transformer,
            step_transformer,
            int(lengths.max()),
            float(positive.min()) if positive.size else 1.0,
            bool(lengths.min() == lengths.max()),
            grid,
            scaled,
            follow_up,
        )

    def encode(self, df: pd.DataFrame, seed: int = 0) -> EncodedSequences:
        ordered = self._ordered(df, self.spec)
        static, steps, lengths, _ = self._tables(ordered, self.spec, self.scaled, self.follow_up)
        if lengths.max() > self.max_length:
            raise SequenceError(
                f"a patient has {lengths.max()} visits; this model was fitted on at most "
                f"{self.max_length}"
            )
        n, width = len(lengths), self.steps.width
        flat = self.steps.transform(steps, seed).astype(np.float32)
        out = np.zeros((n, self.max_length, width), dtype=np.float32)
        present = np.zeros((n, self.max_length), dtype=np.float32)
        patient = np.repeat(np.arange(n), lengths)
        position = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[patient, position] = flat
        present[patient, position] = 1.0
        static_matrix = (
            self.static.transform(static, seed).astype(np.float32)
            if self.static.width
            else np.zeros((n, 0), dtype=np.float32)
        )
        return EncodedSequences(static_matrix, out, present, lengths)

    def decode(
        self, static: np.ndarray, steps: np.ndarray, lengths: np.ndarray, first_id: int = 0
    ) -> pd.DataFrame:
        """A long table from encoded patients: ``steps`` (patients, L, Wt), ``lengths`` >= 1."""
        roles = self.spec.sequence
        n = len(lengths)
        keep = np.arange(steps.shape[1])[None, :] < lengths[:, None]
        rows = self.steps.inverse(steps[keep])
        gaps = rows.pop(GAP).astype(float).to_numpy()
        first = np.zeros(len(gaps), dtype=bool)
        first[np.cumsum(lengths) - lengths] = True
        time_spec = self.spec.column(roles.time)
        unit = 1.0 if time_spec.type == "integer" else 10.0 ** -(time_spec.decimals or 6)
        step = max(self.min_gap, unit)  # the data's resolution: no two visits at one time
        gaps = np.where(first, np.maximum(gaps, 0.0), np.maximum(gaps, step))
        gaps = np.where(first, gaps, np.maximum(np.round(gaps / unit) * unit, step))
        patient = np.repeat(np.arange(n), lengths)
        starts = np.cumsum(lengths) - lengths
        running = np.cumsum(gaps)
        times = running - np.repeat(running[starts] - gaps[starts], lengths)
        times = np.round(times / unit) * unit  # on the data's grid (days, 0.01 years, ...)
        if self.grid is not None:  # sampled on one regular grid: exactly that grid
            position = np.arange(len(times)) - np.repeat(starts, lengths)
            times = self.grid[0] + self.grid[1] * position
        # Follow-up ends where the data's did: visits after the latest real time are not kept
        # (administrative censoring), so every time stays within the spec's range.
        latest = time_spec.bound("max")
        keep = np.ones(len(times), dtype=bool)
        if latest is not None:
            times[first] = np.minimum(times[first], latest)
            keep = first | (times <= latest)
        if time_spec.type == "integer":  # e.g. sample index, day number
            times = np.round(times).astype(np.int64)
        else:
            decimals = time_spec.decimals if time_spec.decimals is not None else 6
            times = np.round(times, decimals)
        out = pd.DataFrame({roles.id: patient + first_id, roles.time: times})
        rows = rows.reset_index(drop=True)
        if self.static.width:
            static_rows = self.static.inverse(static).iloc[patient].reset_index(drop=True)
            for name in self.scaled:  # the patient's range times the visit's shape
                mid = static_rows.pop(MID + name).astype(float).to_numpy()
                half = static_rows.pop(HALF + name).astype(float).to_numpy()
                rows[name] = self._unscale(name, mid + half * rows[name].astype(float).to_numpy())
            out = pd.concat([out, static_rows], axis=1)
        out = pd.concat([out, rows], axis=1)
        out = out[keep].reset_index(drop=True)
        if self.follow_up:  # each bound: the last kept visit's time plus the time left after it
            last = out.groupby(roles.id, sort=False)[roles.time].transform("max").to_numpy()
            for name in self.follow_up:
                left = out.pop(AFTER + name)
                values = self._bound(name, last.astype(float) + left.astype(float).to_numpy())
                out[name] = (
                    pd.Series(values, index=out.index).astype(left.dtype)
                    if left.dtype.kind in "iu"
                    else values
                )
        return out[[c for c in self.spec.names if c in out.columns]]

    def _bound(self, name: str, values: np.ndarray) -> np.ndarray:
        """A follow-up bound in its column's precision, never before the last visit (rounding
        goes up) and within the column's maximum (visits past it are censored by the caller)."""
        col = self.spec.column(name)
        decimals = 0 if col.type == "integer" else col.decimals
        if decimals is not None:
            scale = 10.0**decimals
            values = np.ceil(np.round(values * scale, 6)) / scale  # up, not below the last visit
            values = np.round(values, decimals)
        hi = col.bound("max")
        return values if hi is None else np.minimum(values, hi)

    def _unscale(self, name: str, values: np.ndarray) -> np.ndarray:
        """A scaled measurement back in its column's bounds and precision."""
        col = self.spec.column(name)
        lo, hi = col.bound("min"), col.bound("max")
        values = np.clip(values, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        if col.type == "integer":
            return np.round(values)
        return np.round(values, col.decimals) if col.decimals is not None else values

    def to_dict(self) -> dict[str, Any]:
        return {
            "static": self.static.to_dict(),
            "steps": self.steps.to_dict(),
            "max_length": self.max_length,
            "min_gap": self.min_gap,
            "fixed_length": self.fixed_length,
            "grid": list(self.grid) if self.grid is not None else None,
            "scaled": self.scaled,
            "follow_up": self.follow_up,
        }

    @classmethod
    def from_dict(cls, spec: DatasetSpec, data: dict[str, Any]) -> SequenceEncoder:
        return cls(
            spec,
            TableTransformer.from_dict(data["static"]),
            TableTransformer.from_dict(data["steps"]),
            int(data["max_length"]),
            float(data["min_gap"]),
            bool(data.get("fixed_length", False)),
            tuple(data["grid"]) if data.get("grid") else None,
            data.get("scaled", []),
            data.get("follow_up", []),
        )
