"""Utility: is the synthetic table as good as the real one for training a prediction model?

TSTR (train on synthetic, test on real holdout) against TRTR (train on real train, same holdout),
for three model families, so the verdict does not hinge on one learner.

- classification target: ROC AUC (macro one-vs-rest beyond two classes) and F1 (of the positive
  class for two classes, macro otherwise), higher is better;
- numeric target: R^2 (higher is better) and mean absolute error (lower is better);
- survival target (event indicator + follow-up time in the spec): also Harrell's concordance
  index of each family's risk score and of a Cox model, on the real holdout;
- feature-importance agreement: Spearman rank correlation between the random forests' per-column
  importances when trained on real and on synthetic rows (1 = same ranking).

Training sets above ``UTILITY_ROWS`` are subsampled (stated in the result), which keeps 100k-row
tables within the evaluation's time budget; test sets are used whole.

The models trained on the real rows are kept for the next call with the same real rows
(``REAL_FITS`` of them, keyed by the model and a hash of its rows): ``auto`` scores every
candidate against the same fit and validation rows, so TRTR is trained once per fold, not once
per candidate. A fit is deterministic given its rows and seed, so the scores are the same.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import f1_score, mean_absolute_error, r2_score, roc_auc_score

from evaluation.encoding import Kind, TableEncoder, as_float, as_labels
from evaluation.survival import CoxRidge, concordance_index

UTILITY_ROWS = 20_000  # per training set (real and synthetic)
REAL_FITS = 16  # models trained on real rows kept for reuse (3 families x 5 folds fit)

_real_fits: OrderedDict[str, Any] = OrderedDict()
_real_fits_lock = threading.Lock()


def _fit_real(name: str, model: Any, x: np.ndarray, y: np.ndarray) -> Any:  # noqa: ANN401
    """``clone(model).fit(x, y)``, or the same fit kept from an earlier call on these rows."""
    digest = hashlib.sha256()
    digest.update(f"{name}|{sorted(model.get_params().items())!r}|{x.shape}".encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    digest.update(pd.util.hash_array(np.asarray(y, dtype=object)).tobytes())
    key = digest.hexdigest()
    with _real_fits_lock:
        if key in _real_fits:
            _real_fits.move_to_end(key)
            return _real_fits[key]
    fitted = clone(model).fit(x, y)
    with _real_fits_lock:
        _real_fits[key] = fitted
        while len(_real_fits) > REAL_FITS:
            _real_fits.popitem(last=False)
    return fitted


def _models(task: str, seed: int) -> dict[str, object]:
    if task == "classification":
        return {
            "logistic_regression": LogisticRegression(max_iter=2000, C=1.0),
            "random_forest": RandomForestClassifier(
                n_estimators=200, min_samples_leaf=5, n_jobs=-1, random_state=seed
            ),
            "gradient_boosting": HistGradientBoostingClassifier(
                max_iter=200, learning_rate=0.05, random_state=seed
            ),
        }
    return {
        "ridge": Ridge(alpha=1.0),
        "random_forest": RandomForestRegressor(
            n_estimators=200, min_samples_leaf=5, n_jobs=-1, random_state=seed
        ),
        "gradient_boosting": HistGradientBoostingRegressor(
            max_iter=200, learning_rate=0.05, random_state=seed
        ),
    }


def _class_scores(model, x: np.ndarray, y: np.ndarray, classes: list[str]) -> dict[str, float]:  # noqa: ANN001
    """AUC and F1 of a fitted classifier; classes the model never saw get probability 0."""
    proba = model.predict_proba(x)
    full = np.zeros((len(x), len(classes)))
    for i, c in enumerate(str(c) for c in model.classes_):
        full[:, classes.index(c)] = proba[:, i]
    predicted = np.asarray(classes, dtype=object)[full.argmax(1)]
    if len(classes) == 2:
        auc = roc_auc_score(y == classes[1], full[:, 1])
        f1 = f1_score(y == classes[1], predicted == classes[1], zero_division=0)
    else:
        auc = roc_auc_score(y, full, multi_class="ovr", average="macro", labels=classes)
        f1 = f1_score(y, predicted, average="macro", labels=classes, zero_division=0)
    return {"auc": float(auc), "f1": float(f1), "risk": full[:, -1]}


def _importances(model, widths: Mapping[str, int]) -> pd.Series:  # noqa: ANN001
    """A random forest's impurity importances summed over each input column's encoded dims."""
    edges = np.cumsum([0, *widths.values()])
    imp = model.feature_importances_
    return pd.Series(
        [imp[a:b].sum() for a, b in zip(edges[:-1], edges[1:], strict=True)], index=list(widths)
    )


def _cap(x: np.ndarray, y: np.ndarray, extra: np.ndarray | None, seed: int):  # noqa: ANN202
    if len(x) <= UTILITY_ROWS:
        return x, y, extra
    pick = np.random.default_rng(seed).choice(len(x), UTILITY_ROWS, replace=False)
    return x[pick], y[pick], None if extra is None else extra[pick]


def tstr(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    *,
    target: str,
    target_kind: Kind,
    predictors: Sequence[str],
    kinds: Mapping[str, Kind],
    survival_time: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Per model family: TRTR and TSTR scores and their gap (TRTR - TSTR); means across families."""
    task = "classification" if target_kind == "categorical" else "regression"
    features = {c: kinds[c] for c in predictors}
    enc = TableEncoder.fit(train, features)
    x_real, x_syn, x_test = enc.transform(train), enc.transform(synth), enc.transform(holdout)
    times = None
    if survival_time is not None:
        times = [as_float(df[survival_time]) for df in (train, synth, holdout)]
    if task == "classification":
        y_real, y_syn, y_test = (as_labels(df[target]) for df in (train, synth, holdout))
        classes = sorted(set(y_real) | set(y_test))
        if len(set(y_syn)) < 2:
            raise ValueError(f"synthetic target {target!r} has a single class; TSTR is undefined")
    else:
        y_real, y_syn, y_test = (as_float(df[target]) for df in (train, synth, holdout))
        keep_r, keep_s, keep_t = ~np.isnan(y_real), ~np.isnan(y_syn), ~np.isnan(y_test)
        x_real, y_real, x_syn, y_syn = x_real[keep_r], y_real[keep_r], x_syn[keep_s], y_syn[keep_s]
        x_test, y_test = x_test[keep_t], y_test[keep_t]
        classes = []
    sizes = {"real": len(x_real), "synthetic": len(x_syn)}
    x_real, y_real, t_real = _cap(x_real, y_real, None if times is None else times[0], seed)
    x_syn, y_syn, t_syn = _cap(x_syn, y_syn, None if times is None else times[1], seed + 1)
    notes = [
        f"{name} training rows subsampled from {n} to {UTILITY_ROWS}"
        for name, n in sizes.items()
        if n > UTILITY_ROWS
    ]

    metrics = ("auc", "f1") if task == "classification" else ("r2", "mae")
    per_model: dict[str, dict[str, float]] = {}
    fitted = {}
    for name, model in _models(task, seed).items():
        fitted[name] = (_fit_real(name, model, x_real, y_real), clone(model).fit(x_syn, y_syn))
        entry: dict[str, float] = {}
        for side, m in zip(("trtr", "tstr"), fitted[name], strict=True):
            if task == "classification":
                scores = _class_scores(m, x_test, y_test, classes)
                entry[f"{side}_auc"], entry[f"{side}_f1"] = scores["auc"], scores["f1"]
                if times is not None:
                    entry[f"{side}_cindex"] = concordance_index(
                        times[2], y_test == classes[-1], scores["risk"]
                    )
            else:
                pred = m.predict(x_test)
                entry[f"{side}_r2"] = float(r2_score(y_test, pred))
                entry[f"{side}_mae"] = float(mean_absolute_error(y_test, pred))
        entry["trtr"], entry["tstr"] = entry[f"trtr_{metrics[0]}"], entry[f"tstr_{metrics[0]}"]
        entry["gap"] = entry["trtr"] - entry["tstr"]
        per_model[name] = entry

    result: dict[str, Any] = {
        "task": task,
        "metric": metrics[0],
        "models": per_model,
        "predictors": list(predictors),
        "training_rows": {"real": len(x_real), "synthetic": len(x_syn)},
        "notes": notes,
    }
    for key in per_model[next(iter(per_model))]:
        result[key] = float(np.mean([m[key] for m in per_model.values()]))

    widths = enc.widths()
    real_imp, syn_imp = (_importances(m, widths) for m in fitted["random_forest"])
    rho = spearmanr(real_imp.to_numpy(), syn_imp.to_numpy()).statistic if len(widths) > 1 else 1.0
    result["importance"] = {
        "spearman": float(rho) if np.isfinite(rho) else 0.0,
        "real": real_imp.round(4).to_dict(),
        "synthetic": syn_imp.round(4).to_dict(),
    }
    if times is not None:
        result["survival"] = _cox_cindex(
            (x_real, t_real, y_real == classes[-1]),
            (x_syn, t_syn, y_syn == classes[-1]),
            (x_test, times[2], y_test == classes[-1]),
        )
    return result


def _cox_cindex(real, synth, test) -> dict[str, float]:  # noqa: ANN001 - (x, time, event) triples
    """A Cox model fitted on real and on synthetic rows, both scored on the real holdout."""
    out = {}
    for side, (x, t, e) in (("trtr", real), ("tstr", synth)):
        keep = np.isfinite(t)
        model = CoxRidge(alpha=1.0).fit(x[keep], t[keep], e[keep])
        keep_test = np.isfinite(test[1])
        out[f"{side}_cindex"] = concordance_index(
            test[1][keep_test], test[2][keep_test], model.predict(test[0][keep_test])
        )
    out["gap"] = out["trtr_cindex"] - out["tstr_cindex"]
    return out
