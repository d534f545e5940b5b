"""Scores for synthetic patient histories (long tables: one row per visit).

- **Discriminative score** (Yoon et al., 2019, TimeGAN): a GRU classifier learns real from
  synthetic patients on 80 % of a balanced set; the score is |accuracy - 0.5| on the rest
  (0: indistinguishable, 0.5: always told apart).
- **Predictive score**: a GRU trained on synthetic histories predicts each next visit's
  measurements; its mean absolute error on real patients, next to the same model trained on
  real ones (on the standardised scale of the real data).
- **TSTR on a per-patient outcome**: every patient summarised as one row (static columns; per
  measurement its last, mean, min, max and slope; visits and follow-up span), then the tabular
  TSTR / TRTR of ``evaluation.utility``.
- **Autocorrelation**: per numeric measurement, the mean lag-k autocorrelation within patients,
  real against synthetic.
- **Nearest-sequence distance** (privacy): every synthetic patient's distance to the nearest
  training patient and to the nearest holdout patient (whole histories, padded and
  standardised); the share closer to training should be about half, and no synthetic history
  may equal a real one. How far above half is chance at the run's sizes is measured, not
  assumed: ``share_noise`` is two standard deviations of the share over random relabellings of
  the real patients into training and holdout (the gate's DCR limit is one half plus that, or
  ``max_dcr_share``, whichever is larger).

Roles are plain arguments (``Roles``): evaluation knows nothing of generators.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from evaluation.encoding import TableEncoder, as_float
from evaluation.fidelity import column_shapes
from evaluation.privacy import history_hashes
from evaluation.utility import tstr

Kind = Literal["numeric", "categorical"]
GAP = "gap"
MAX_PATIENTS = 2_000  # patients per side a GRU score trains on
MAX_LAG = 3


@dataclass(frozen=True)
class Roles:
    id: str
    time: str
    static: list[str]
    temporal: list[str]
    kinds: Mapping[str, Kind]  # every static and temporal column
    target: str | None = None
    non_predictors: list[str] = field(default_factory=list)


@dataclass
class _Histories:
    static: np.ndarray  # (patients, S)
    steps: np.ndarray  # (patients, L, F)
    lengths: np.ndarray  # (patients,)


class SequenceFeatures:
    """Standardisation fitted on the real training patients, applied to any long table."""

    def __init__(self, roles: Roles, real: pd.DataFrame):
        self.roles = roles
        real = _ordered(real, roles)
        self.static = TableEncoder.fit(
            _first(real, roles), {c: roles.kinds[c] for c in roles.static}
        )
        steps = _steps(real, roles)
        kinds = {GAP: "numeric", **{c: roles.kinds[c] for c in roles.temporal}}
        self.steps = TableEncoder.fit(steps, kinds)
        self.numeric = [c for c in roles.temporal if roles.kinds[c] == "numeric"]
        self.length = int(real.groupby(roles.id, sort=False).size().max())

    def histories(self, df: pd.DataFrame, length: int | None = None) -> _Histories:
        roles, length = self.roles, length or self.length
        df = _ordered(df, roles)
        ids = pd.factorize(df[roles.id])[0]
        lengths = np.bincount(ids)
        keep = _position(lengths) < length
        flat = self.steps.transform(_steps(df, roles)[keep]).astype(np.float32)
        steps = np.zeros((len(lengths), length, flat.shape[1]), dtype=np.float32)
        steps[ids[keep], _position(lengths)[keep]] = flat
        static = self.static.transform(_first(df, roles)).astype(np.float32)
        return _Histories(static, steps, np.minimum(lengths, length))

    def flat(self, df: pd.DataFrame) -> np.ndarray:
        """(patients, S + L * F): each patient's static values and padded steps in one row."""
        h = self.histories(df)
        return np.concatenate([h.static, h.steps.reshape(len(h.lengths), -1)], axis=1)

    def targets(self, df: pd.DataFrame) -> np.ndarray:
        """(patients, L, M) standardised numeric measurements, NaN where missing or absent."""
        roles = self.roles
        df = _ordered(df, roles)
        ids = pd.factorize(df[roles.id])[0]
        lengths = np.bincount(ids)
        keep = _position(lengths) < self.length
        out = np.full((len(lengths), self.length, len(self.numeric)), np.nan, dtype=np.float32)
        for j, col in enumerate(self.numeric):
            z = (as_float(df[col]) - self.steps.centre[col]) / self.steps.scale[col]
            out[ids[keep], _position(lengths)[keep], j] = z[keep]
        return out


def _ordered(df: pd.DataFrame, roles: Roles) -> pd.DataFrame:
    order = np.lexsort((as_float(df[roles.time]), pd.factorize(df[roles.id])[0]))
    return df.iloc[order].reset_index(drop=True)


def _first(df: pd.DataFrame, roles: Roles) -> pd.DataFrame:
    return df.groupby(roles.id, sort=False).head(1)[roles.static].reset_index(drop=True)


def _position(lengths: np.ndarray) -> np.ndarray:
    return np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _steps(df: pd.DataFrame, roles: Roles) -> pd.DataFrame:
    times = as_float(df[roles.time])
    ids = pd.factorize(df[roles.id])[0]
    first = np.r_[True, ids[1:] != ids[:-1]]
    out = df[roles.temporal].copy()
    out.insert(0, GAP, np.where(first, times, times - np.r_[0.0, times[:-1]]))
    return out


class _GRU(nn.Module):
    def __init__(self, static: int, step: int, hidden: int, out: int, per_step: bool):
        super().__init__()
        self.per_step = per_step
        self.rnn = nn.GRU(static + step, hidden, batch_first=True)
        self.head = nn.Linear(hidden, out)

    def forward(
        self, static: torch.Tensor, steps: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        x = torch.cat([static[:, None, :].expand(-1, steps.shape[1], -1), steps], dim=2)
        if self.per_step:
            h, _ = self.rnn(x)
            return self.head(h)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        return self.head(h[-1])


def _fit(model: nn.Module, loss_fn, batches, iterations: int, seed: int) -> None:  # noqa: ANN001
    """``iterations`` minibatch steps (whatever the data's size: a small set gets passed over
    many times, so the post-hoc model is trained enough to find a difference if there is one)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    done = 0
    while done < iterations:
        for batch in batches():
            opt.zero_grad()
            loss_fn(*batch).backward()
            opt.step()
            done += 1
            if done == iterations:
                return


def _cap(h: _Histories, rng: np.random.Generator, n: int) -> _Histories:
    if len(h.lengths) <= n:
        return h
    keep = rng.choice(len(h.lengths), n, replace=False)
    return _Histories(h.static[keep], h.steps[keep], h.lengths[keep])


def discriminative_score(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    roles: Roles,
    *,
    seed: int = 0,
    iterations: int = 300,
    hidden: int = 32,
) -> dict[str, float]:
    """|accuracy - 0.5| of a post-hoc GRU telling real from synthetic patients (held-out 20 %)."""
    features = SequenceFeatures(roles, real)
    rng = np.random.default_rng(seed)
    a, b = features.histories(real), features.histories(synth)
    n = min(len(a.lengths), len(b.lengths), MAX_PATIENTS)
    a, b = _cap(a, rng, n), _cap(b, rng, n)
    static = np.concatenate([a.static, b.static])
    steps = np.concatenate([a.steps, b.steps])
    lengths = np.concatenate([a.lengths, b.lengths])
    label = np.r_[np.ones(n), np.zeros(n)].astype(np.float32)
    order = rng.permutation(2 * n)
    cut = int(0.8 * 2 * n)
    train, test = order[:cut], order[cut:]
    tensors = [torch.as_tensor(x) for x in (static, steps, lengths, label)]
    model = _GRU(static.shape[1], steps.shape[2], hidden, 1, per_step=False)
    bce = nn.BCEWithLogitsLoss()

    def batches():  # noqa: ANN202
        shuffled = train[rng.permutation(len(train))]
        for i in range(0, len(shuffled), 128):
            idx = shuffled[i : i + 128]
            yield tuple(t[idx] for t in tensors)

    _fit(model, lambda s, x, ln, y: bce(model(s, x, ln)[:, 0], y), batches, iterations, seed)
    with torch.no_grad():
        logits = model(*(t[test] for t in tensors[:3]))[:, 0].numpy()
    accuracy = float(((logits > 0) == (label[test] > 0.5)).mean())
    return {"score": abs(accuracy - 0.5), "accuracy": accuracy, "patients_per_side": n}


def detection_auc(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    roles: Roles,
    *,
    seed: int = 0,
    folds: int = 3,
    iterations: int = 100,
) -> float:
    """ROC AUC of a gradient-boosting classifier telling real from synthetic patients, each one
    row (static columns and every step's values, padded and standardised as the DCR share sees
    them), cross-validated over ``folds`` on as many patients a side (0.5: cannot tell them
    apart). A tree reads single samples (a peak's height at one instant), which the GRU's
    summary of a whole history blurs; it is also steadier than the GRU's accuracy on a few
    hundred patients."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    features = SequenceFeatures(roles, real)

    rng = np.random.default_rng(seed)
    a, b = features.flat(real), features.flat(synth)
    n = min(len(a), len(b), MAX_PATIENTS)
    x = np.concatenate(
        [a[rng.choice(len(a), n, replace=False)], b[rng.choice(len(b), n, replace=False)]]
    )
    y = np.r_[np.zeros(n), np.ones(n)]
    model = HistGradientBoostingClassifier(max_iter=iterations, random_state=seed)
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    p = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def predictive_score(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    roles: Roles,
    *,
    seed: int = 0,
    iterations: int = 300,
    hidden: int = 32,
) -> dict[str, float]:
    """MAE on real holdout patients of a GRU predicting the next visit's numeric measurements,
    trained on synthetic (``synthetic``) and on real training patients (``real``)."""
    features = SequenceFeatures(roles, train)
    if not features.numeric:
        raise ValueError("predictive score: no numeric measurement to predict")
    rng = np.random.default_rng(seed)

    def tensors(df: pd.DataFrame) -> list[torch.Tensor]:
        h = features.histories(df)
        y = features.targets(df)
        return [torch.as_tensor(x) for x in (h.static, h.steps[:, :-1], h.lengths, y[:, 1:])]

    def masked_mae(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        seen = ~torch.isnan(y)
        return (pred[seen] - y[seen]).abs().mean()

    test = tensors(holdout)
    out: dict[str, float] = {}
    for name, df in (("synthetic", synth), ("real", train)):
        data = tensors(df)
        model = _GRU(data[0].shape[1], data[1].shape[2], hidden, len(features.numeric), True)
        n = len(data[2])

        def batches(data=data, n=n):  # noqa: ANN001, ANN202
            order = rng.permutation(n)[: MAX_PATIENTS * 4]
            for i in range(0, len(order), 128):
                idx = order[i : i + 128]
                yield tuple(t[idx] for t in data)

        _fit(
            model,
            lambda s, x, ln, y, m=model: masked_mae(m(s, x, ln), y),
            batches,
            iterations,
            seed,
        )
        with torch.no_grad():
            out[name] = float(masked_mae(model(*test[:3]), test[3]))
    out["ratio"] = out["synthetic"] / out["real"] if out["real"] > 0 else float("nan")
    return out


def patient_table(df: pd.DataFrame, roles: Roles) -> tuple[pd.DataFrame, dict[str, Kind]]:
    """One row per patient: static columns, visits, follow-up span, and per measurement its
    last, mean, min, max and slope over time (numbers) or last value (categories)."""
    df = _ordered(df, roles)
    groups = df.groupby(roles.id, sort=False)
    out = groups[roles.static].first().reset_index(drop=True)
    kinds: dict[str, Kind] = {c: roles.kinds[c] for c in roles.static}
    times = as_float(df[roles.time])
    out["visits"] = groups.size().to_numpy()
    span = pd.Series(times).groupby(pd.factorize(df[roles.id])[0]).agg(["min", "max"])
    out["follow_up"] = (span["max"] - span["min"]).to_numpy()
    kinds.update(visits="numeric", follow_up="numeric")
    for col in roles.temporal:
        if roles.kinds[col] != "numeric":
            out[f"{col}_last"] = groups[col].last().to_numpy()
            kinds[f"{col}_last"] = "categorical"
            continue
        values = pd.DataFrame({"id": df[roles.id].to_numpy(), "t": times, "x": as_float(df[col])})
        stats = values.groupby("id", sort=False)["x"].agg(["last", "mean", "min", "max"])
        slope = values.dropna().groupby("id", sort=False).apply(_slope, include_groups=False)
        for stat in ("last", "mean", "min", "max"):
            out[f"{col}_{stat}"] = stats[stat].to_numpy()
            kinds[f"{col}_{stat}"] = "numeric"
        out[f"{col}_slope"] = slope.reindex(stats.index).to_numpy()
        kinds[f"{col}_slope"] = "numeric"
    return out, kinds


def _slope(p: pd.DataFrame) -> float:
    if len(p) < 2 or np.ptp(p["t"]) == 0:
        return np.nan
    return float(np.polyfit(p["t"], p["x"], 1)[0])


def outcome_tstr(
    train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame, roles: Roles, *, seed: int = 0
) -> dict[str, Any]:
    """TSTR and TRTR on the per-patient outcome ``roles.target`` (summaries as features)."""
    if roles.target is None:
        raise ValueError("outcome TSTR needs a target (a static column)")
    tables = [patient_table(df, roles) for df in (train, holdout, synth)]
    kinds = tables[0][1]
    skip = {roles.target, *roles.non_predictors}
    predictors = [c for c in kinds if c not in skip]
    return tstr(
        tables[0][0],
        tables[1][0],
        tables[2][0],
        target=roles.target,
        target_kind=roles.kinds[roles.target],
        predictors=predictors,
        kinds=kinds,
        seed=seed,
    )


def autocorrelation(real: pd.DataFrame, synth: pd.DataFrame, roles: Roles) -> dict[str, Any]:
    """Mean lag-1..3 autocorrelation within patients per numeric measurement, and the mean
    absolute difference between real and synthetic."""
    numeric = [c for c in roles.temporal if roles.kinds[c] == "numeric"]
    per: dict[str, dict[str, list[float]]] = {}
    gaps = []
    for col in numeric:
        per[col] = {"real": _acf(real, roles, col), "synthetic": _acf(synth, roles, col)}
        pairs = [(r, s) for r, s in zip(per[col]["real"], per[col]["synthetic"], strict=True)]
        gaps += [abs(r - s) for r, s in pairs if not (np.isnan(r) or np.isnan(s))]
    return {"by_column": per, "mean_abs_difference": float(np.mean(gaps)) if gaps else None}


def _acf(df: pd.DataFrame, roles: Roles, col: str) -> list[float]:
    df = _ordered(df, roles)
    x = as_float(df[col])
    ids = pd.factorize(df[roles.id])[0]
    out = []
    for lag in range(1, MAX_LAG + 1):
        same = ids[lag:] == ids[:-lag]
        a, b = x[:-lag][same], x[lag:][same]
        ok = ~(np.isnan(a) | np.isnan(b))
        out.append(float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 2 else float("nan"))
    return out


def history_shapes(real: pd.DataFrame, synth: pd.DataFrame, roles: Roles) -> dict[str, float]:
    """Marginal similarity (1 - KS or total variation, as ``column_shapes``) of each static
    column over patients, each measurement over visits, the number of visits per patient and
    the gap between visits."""

    def parts(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        df = _ordered(df, roles)
        first = _first(df, roles)
        first["visits per patient"] = df.groupby(roles.id, sort=False).size().to_numpy()
        steps = _steps(df, roles)
        codes = pd.factorize(df[roles.id])[0]
        later = np.r_[False, codes[1:] == codes[:-1]]
        steps["gap between visits"] = np.where(later, steps[GAP], np.nan)
        return first, steps.drop(columns=[GAP])

    (real_first, real_steps), (synth_first, synth_steps) = parts(real), parts(synth)
    static_kinds = {c: roles.kinds[c] for c in roles.static} | {"visits per patient": "numeric"}
    step_kinds = {c: roles.kinds[c] for c in roles.temporal} | {"gap between visits": "numeric"}
    return {
        **column_shapes(real_first, synth_first, static_kinds),
        **column_shapes(real_steps, synth_steps, step_kinds),
    }


def history_copies(train: pd.DataFrame, synth: pd.DataFrame, roles: Roles) -> int:
    """Synthetic patients whose whole history (static values, times, measurements) equals a
    training patient's."""
    columns = [roles.id, roles.time, *roles.static, *roles.temporal]
    real = history_hashes(train[columns], roles.id, roles.time)
    return int(np.isin(history_hashes(synth[columns], roles.id, roles.time), real).sum())


def score_histories(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    roles: Roles,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Every history score as one JSON-able dict; headline figures under ``summary`` (the keys
    of ``evaluation.catalogue``)."""
    timings: dict[str, float] = {}

    def timed(name: str, fn, *args, **kwargs):  # noqa: ANN001, ANN202
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            timings[name] = round(time.perf_counter() - start, 3)

    shapes = timed("column_shapes", history_shapes, train, synth, roles)
    discriminative = timed("discriminative", discriminative_score, train, synth, roles, seed=seed)
    nearest = timed("nearest_history", nearest_sequence, train, holdout, synth, roles, seed=seed)
    copies = timed("exact_copies", history_copies, train, synth, roles)
    autocorr = timed("autocorrelation", autocorrelation, train, synth, roles)
    summary: dict[str, Any] = {
        "column_shape_similarity": float(np.mean(list(shapes.values()))),
        "discriminative_score": discriminative["score"],
    }
    predictive = None
    if any(roles.kinds[c] == "numeric" for c in roles.temporal):
        predictive = timed("predictive", predictive_score, train, holdout, synth, roles, seed=seed)
        summary.update(
            predictive_mae_synthetic=predictive["synthetic"],
            predictive_mae_real=predictive["real"],
        )
    if autocorr["mean_abs_difference"] is not None:
        summary["autocorrelation_difference"] = autocorr["mean_abs_difference"]
    utility, notes = None, []
    if roles.target is not None:
        utility = timed("utility", outcome_tstr, train, holdout, synth, roles, seed=seed)
        notes += utility["notes"]
        for key in ("trtr_auc", "tstr_auc", "trtr_f1", "tstr_f1", "trtr_r2", "tstr_r2"):
            if key in utility:
                summary[key] = utility[key]
        summary[f"{utility['metric']}_gap"] = utility["gap"]
        summary["importance_rank_agreement"] = utility["importance"]["spearman"]
    summary.update(
        dcr_share=nearest["share"],
        dcr_share_noise=nearest["share_noise"],
        membership_auc=nearest["membership_auc"],
        exact_copies=copies,
    )
    patients = {
        name: int(df[roles.id].nunique())
        for name, df in (("train", train), ("holdout", holdout), ("synthetic", synth))
    }
    notes.append(
        f"patient histories: {patients['synthetic']} synthetic patients against "
        f"{patients['train']} training and {patients['holdout']} holdout patients; the "
        "discriminative and predictive GRUs see at most "
        f"{MAX_PATIENTS} patients a side; the DCR share and membership attack compare whole "
        "histories"
    )
    return {
        "kind": "sequence",
        "summary": summary,
        "column_shapes": shapes,
        "discriminative": discriminative,
        "predictive": predictive,
        "utility": utility,
        "autocorrelation": autocorr,
        "nearest_history": nearest,
        "notes": notes,
        "timings": timings,
        "patients": patients,
        "rows": {"train": len(train), "holdout": len(holdout), "synthetic": len(synth)},
    }


def sequence_profile(df: pd.DataFrame, roles: Roles, *, bins: int = 10) -> dict[str, Any]:
    """What a long table looks like as histories: visits per patient, gaps between visits, and
    per numeric measurement its median and quartiles by visit number (trajectories)."""
    df = _ordered(df, roles)
    codes = pd.factorize(df[roles.id])[0]
    lengths = np.bincount(codes)
    times = as_float(df[roles.time])
    later = np.r_[False, codes[1:] == codes[:-1]]
    gaps = (times - np.r_[0.0, times[:-1]])[later]

    def spread(x: np.ndarray) -> dict[str, Any]:
        x = x[~np.isnan(x)]
        if not x.size:
            return {"count": 0}
        q = np.quantile(x, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])
        counts, edges = np.histogram(x, bins=bins)
        return {
            "count": int(x.size),
            "mean": float(x.mean()),
            **dict(
                zip(("min", "p10", "q1", "median", "q3", "p90", "max"), map(float, q), strict=True)
            ),
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        }

    position = _position(lengths)
    shown = min(int(lengths.max()), 20)
    trajectories = {}
    for col in (c for c in roles.temporal if roles.kinds[c] == "numeric"):
        x = as_float(df[col])
        by_visit = []
        for k in range(shown):
            v = x[(position == k) & ~np.isnan(x)]
            if v.size:
                q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
                by_visit.append(
                    {
                        "visit": k + 1,
                        "n": int(v.size),
                        "q1": float(q1),
                        "median": float(med),
                        "q3": float(q3),
                    }
                )
        trajectories[col] = {
            "by_visit": by_visit,
            "missing_share": float(np.isnan(x).mean()),
        }
    return {
        "patients": int(len(lengths)),
        "visits": int(len(df)),
        "time_column": roles.time,
        "visits_per_patient": spread(lengths.astype(float)),
        "gap_between_visits": spread(gaps),
        "follow_up": spread(
            pd.Series(times).groupby(codes).agg(lambda t: t.max() - t.min()).to_numpy()
        ),
        "trajectories": trajectories,
    }


def nearest_sequence(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    roles: Roles,
    *,
    seed: int = 0,
    draws: int = 10,
) -> dict[str, float]:
    """Distances from each synthetic patient's whole history to the nearest training and
    holdout histories; ``share`` closer to training (about 0.5 when nothing is memorised: the
    training side is cut to as many patients as the holdout, else the larger set would be
    nearer by its size alone), ``membership_auc`` of the distance attack, both averaged over
    ``draws`` cuts, and ``copies``: synthetic histories equal to a training one."""
    # scaled on both real sides alike, so neither is nearer by construction
    features = SequenceFeatures(roles, pd.concat([train, holdout], ignore_index=True))

    x_all, x_ho, x_sy = features.flat(train), features.flat(holdout), features.flat(synth)
    copies = int(
        (NearestNeighbors(n_neighbors=1).fit(x_all).kneighbors(x_sy)[0][:, 0] < 1e-6).sum()
    )
    rng = np.random.default_rng(seed)
    d_ho = NearestNeighbors(n_neighbors=1).fit(x_ho).kneighbors(x_sy)[0][:, 0]
    to_synth = NearestNeighbors(n_neighbors=1).fit(x_sy)
    other = to_synth.kneighbors(x_ho)[0][:, 0]
    member_all = to_synth.kneighbors(x_all)[0][:, 0]
    labels = np.r_[np.ones(min(len(x_all), len(x_ho))), np.zeros(len(other))]
    shares, aucs, medians = [], [], []
    # Each draw cuts the training side to as many patients as the holdout; averaging over draws
    # removes the noise of which training patients were drawn (not that of the holdout's size).
    for _ in range(draws):
        pick = rng.choice(len(x_all), min(len(x_all), len(x_ho)), replace=False)
        d_tr = NearestNeighbors(n_neighbors=1).fit(x_all[pick]).kneighbors(x_sy)[0][:, 0]
        shares.append((d_tr < d_ho).mean() + 0.5 * (d_tr == d_ho).mean())
        medians.append(np.median(d_tr))
        # the attack: a patient whose history lies closer to a synthetic one was trained on
        aucs.append(roc_auc_score(labels, -np.r_[member_all[pick], other]))
    null = _null_shares(x_all, x_ho, x_sy, draws, rng)
    return {
        "share": float(np.mean(shares)),
        "share_noise": float(2.0 * null.std(ddof=1)),
        "share_null_mean": float(null.mean()),
        "membership_auc": float(np.mean(aucs)),
        "median_distance_train": float(np.mean(medians)),
        "median_distance_holdout": float(np.median(d_ho)),
        "copies": copies,
        "reference_patients": int(labels.sum()),
        "draws": draws,
        "relabellings": len(null),
    }


NULL_WORK = 100_000_000  # distance reads the relabellings may take (about a second)
NULL_SYNTHETIC = 1_000  # synthetic patients the relabellings look at, at most
NULL_DISTANCES = 20_000_000  # synthetic x real distances held at once, at most (80 MB)


def _null_shares(
    x_train: np.ndarray,
    x_holdout: np.ndarray,
    x_synth: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    relabellings: int = 100,
) -> np.ndarray:
    """The nearest-history share of these synthetic patients when training and holdout patients
    are exchangeable: the real patients pooled, a random set of as many as the holdout called
    holdout and the rest training, the share computed as ``nearest_sequence`` does (``draws``
    cuts of the training side to the holdout's size), over ``relabellings`` relabellings (at
    least 30; fewer than 100 when the sets are large). Its spread is what an honest generator
    reaches by chance at these sizes: the holdout's size, the training side's, and how these
    synthetic patients fall among the real ones. A copier's synthetic patients sit on single
    real patients, so relabelling moves its share little, and its real share stands out."""
    from sklearn.metrics import pairwise_distances

    pool = np.concatenate([x_train, x_holdout])
    n_ho, n_cut = len(x_holdout), min(len(x_train), len(x_holdout))
    keep = min(len(x_synth), NULL_SYNTHETIC, max(1, NULL_DISTANCES // len(pool)))
    synth = x_synth[rng.choice(len(x_synth), keep, replace=False)]
    distances = pairwise_distances(synth, pool).astype(np.float32)
    per_relabelling = keep * (n_ho + draws * n_cut)
    relabellings = int(np.clip(NULL_WORK // per_relabelling, 30, relabellings))
    shares = np.empty(relabellings)
    for k in range(relabellings):
        order = rng.permutation(len(pool))
        d_ho = distances[:, order[:n_ho]].min(axis=1)
        rest = order[n_ho:]
        total = 0.0
        for _ in range(draws):
            d_tr = distances[:, rng.choice(rest, n_cut, replace=False)].min(axis=1)
            total += (d_tr < d_ho).mean() + 0.5 * (d_tr == d_ho).mean()
        shares[k] = total / draws
    return shares


def trajectory_plot(
    real: pd.DataFrame, synth: pd.DataFrame, roles: Roles, *, patients: int = 20, seed: int = 0
) -> bytes:
    """PNG: for each numeric measurement (up to 6), real and synthetic trajectories over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = [c for c in roles.temporal if roles.kinds[c] == "numeric"][:6]
    if not numeric:
        raise ValueError("trajectory plot: no numeric measurement")
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(numeric), 2, figsize=(10, 2.4 * len(numeric)), squeeze=False)
    for col, row in zip(numeric, axes, strict=True):
        for ax, (name, df) in zip(row, (("real", real), ("synthetic", synth)), strict=True):
            ids = df[roles.id].unique()
            for pid in rng.choice(ids, min(patients, len(ids)), replace=False):
                p = df[df[roles.id] == pid]
                ax.plot(as_float(p[roles.time]), as_float(p[col]), lw=0.8, alpha=0.7)
            ax.set_title(f"{col}: {name}", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()
