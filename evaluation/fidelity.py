"""Fidelity: does the synthetic table look like the real one, column by column and pair by pair,
and can a classifier tell them apart?

- column shape: numeric 1 - KS statistic (times the agreement of missing shares); categorical
  1 - total variation distance, missing being a category. 1 is identical.
- pair trend: numeric pairs 1 - |corr_real - corr_synth| / 2 (Pearson, pairwise complete);
  other pairs 1 - TVD of their contingency tables (numbers binned at the real deciles).
- coverage: the share of real categories and of the real numeric range the synthetic rows reach.
- detection AUC: gradient boosting, cross-validated, real vs synthetic rows. 0.5 means the
  classifier cannot tell them apart; 1.0 means every synthetic row is recognisable.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from evaluation.encoding import Kind, TableEncoder, as_float, as_labels

DETECTION_ROWS = 10_000  # per side; larger tables are subsampled (stated in the result)


def column_shapes(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, Kind]
) -> dict[str, float]:
    scores = {}
    for col, kind in kinds.items():
        if kind == "numeric":
            r, s = as_float(real[col]), as_float(synth[col])
            miss_r, miss_s = np.isnan(r).mean(), np.isnan(s).mean()
            r, s = r[~np.isnan(r)], s[~np.isnan(s)]
            ks = ks_2samp(r, s).statistic if r.size and s.size else float(r.size != s.size)
            scores[col] = float((1 - ks) * (1 - abs(miss_r - miss_s)))
        else:
            scores[col] = 1.0 - _tvd(as_labels(real[col]), as_labels(synth[col]))
    return scores


def _tvd(a: np.ndarray, b: np.ndarray) -> float:
    pa = pd.Series(a).value_counts(normalize=True)
    pb = pd.Series(b).value_counts(normalize=True)
    both = pa.index.union(pb.index)
    return float(
        0.5 * np.abs(pa.reindex(both, fill_value=0) - pb.reindex(both, fill_value=0)).sum()
    )


def _binned(real: pd.Series, synth: pd.Series, kind: Kind) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes shared by real and synthetic values: categories as they are, numbers binned
    at the real deciles, missing as a code of its own."""
    if kind == "categorical":
        labels = np.concatenate([as_labels(real), as_labels(synth)])
        codes = pd.factorize(labels)[0]
        return codes[: len(real)], codes[len(real) :]
    r, s = as_float(real), as_float(synth)
    finite = r[np.isfinite(r)]
    edges = (
        np.unique(np.quantile(finite, np.linspace(0, 1, 11)[1:-1])) if finite.size else np.array([])
    )

    def codes(x: np.ndarray) -> np.ndarray:
        out = np.searchsorted(edges, x, side="right")
        out[np.isnan(x)] = len(edges) + 1
        return out

    return codes(r), codes(s)


def _tvd_codes(a: np.ndarray, b: np.ndarray, size: int) -> float:
    pa = np.bincount(a, minlength=size) / max(len(a), 1)
    pb = np.bincount(b, minlength=size) / max(len(b), 1)
    return float(0.5 * np.abs(pa - pb).sum())


def pair_trends(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, Kind]
) -> dict[str, float]:
    scores = {}
    binned = {c: _binned(real[c], synth[c], k) for c, k in kinds.items()}
    floats = {
        c: (as_float(real[c]), as_float(synth[c])) for c, k in kinds.items() if k == "numeric"
    }
    for a, b in combinations(kinds, 2):
        if kinds[a] == kinds[b] == "numeric":
            cr = pd.Series(floats[a][0]).corr(pd.Series(floats[b][0]))
            cs = pd.Series(floats[a][1]).corr(pd.Series(floats[b][1]))
            if np.isfinite(cr) and np.isfinite(cs):
                scores[f"{a}|{b}"] = float(1 - abs(cr - cs) / 2)
                continue
        (ra, sa), (rb, sb) = binned[a], binned[b]
        width = int(max(rb.max(initial=0), sb.max(initial=0))) + 1
        size = (int(max(ra.max(initial=0), sa.max(initial=0))) + 1) * width
        scores[f"{a}|{b}"] = 1.0 - _tvd_codes(ra * width + rb, sa * width + sb, size)
    return scores


def detection_auc(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    *,
    seed: int = 0,
    folds: int = 5,
    max_rows: int = DETECTION_ROWS,
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    n = min(len(real), len(synth), max_rows)
    r = real.iloc[rng.choice(len(real), n, replace=False)]
    s = synth.iloc[rng.choice(len(synth), n, replace=False)]
    enc = TableEncoder.fit(r, kinds)
    x = np.concatenate([enc.transform(r), enc.transform(s)])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    aucs = []
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        clf = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
        clf.fit(x[train], y[train])
        aucs.append(roc_auc_score(y[test], clf.predict_proba(x[test])[:, 1]))
    return {"auc": float(np.mean(aucs)), "auc_std": float(np.std(aucs)), "rows_per_side": int(n)}


def coverage(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, Kind]
) -> dict[str, float]:
    """Does the synthetic table reach all of the real one? Per column, 1 is full coverage:
    categorical, the share of real categories (missing included) that occur in the synthetic rows;
    numeric, the share of the real range [min, max] that the synthetic range spans."""
    scores = {}
    for col, kind in kinds.items():
        if kind == "categorical":
            seen = set(as_labels(real[col]))
            scores[col] = len(seen & set(as_labels(synth[col]))) / max(len(seen), 1)
            continue
        r, s = as_float(real[col]), as_float(synth[col])
        r, s = r[~np.isnan(r)], s[~np.isnan(s)]
        if r.size == 0:
            scores[col] = 1.0
        elif s.size == 0:
            scores[col] = 0.0
        elif r.max() == r.min():
            scores[col] = float(s.min() <= r.min() <= s.max())
        else:
            overlap = min(r.max(), s.max()) - max(r.min(), s.min())
            scores[col] = float(np.clip(overlap / (r.max() - r.min()), 0.0, 1.0))
    return scores
