"""Utility: is the synthetic table as good as the real one for training a prediction model?

TSTR (train on synthetic, test on real holdout) against TRTR (train on real train, same holdout),
for several model families, so the verdict does not hinge on one learner. Classification targets
score ROC AUC (macro one-vs-rest for more than two classes); numeric targets score R^2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score

from evaluation.encoding import Kind, TableEncoder, as_float, as_labels


def _models(task: str, seed: int) -> dict[str, object]:
    if task == "classification":
        return {
            "logistic_regression": LogisticRegression(max_iter=2000, C=1.0),
            "random_forest": RandomForestClassifier(
                n_estimators=200, min_samples_leaf=5, n_jobs=1, random_state=seed
            ),
            "gradient_boosting": HistGradientBoostingClassifier(
                max_iter=200, learning_rate=0.05, random_state=seed
            ),
        }
    return {
        "ridge": Ridge(alpha=1.0),
        "random_forest": RandomForestRegressor(
            n_estimators=200, min_samples_leaf=5, n_jobs=1, random_state=seed
        ),
        "gradient_boosting": HistGradientBoostingRegressor(
            max_iter=200, learning_rate=0.05, random_state=seed
        ),
    }


def _score(task: str, model, x: np.ndarray, y: np.ndarray, classes: list[str]) -> float:  # noqa: ANN001
    if task == "regression":
        return float(r2_score(y, model.predict(x)))
    proba = model.predict_proba(x)
    known = [str(c) for c in model.classes_]
    full = np.zeros((len(x), len(classes)))
    for i, c in enumerate(known):
        full[:, classes.index(c)] = proba[:, i]
    if len(classes) == 2:
        return float(roc_auc_score(y == classes[1], full[:, 1]))
    return float(roc_auc_score(y, full, multi_class="ovr", average="macro", labels=classes))


def tstr(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    *,
    target: str,
    target_kind: Kind,
    predictors: Sequence[str],
    kinds: Mapping[str, Kind],
    seed: int = 0,
) -> dict[str, object]:
    """Per model family: TRTR and TSTR scores and their gap (TRTR - TSTR); means across families."""
    task = "classification" if target_kind == "categorical" else "regression"
    features = {c: kinds[c] for c in predictors}
    enc = TableEncoder.fit(train, features)
    x_real, x_syn, x_test = enc.transform(train), enc.transform(synth), enc.transform(holdout)
    if task == "classification":
        y_real, y_syn, y_test = (
            as_labels(train[target]),
            as_labels(synth[target]),
            as_labels(holdout[target]),
        )
        classes = sorted(set(y_real) | set(y_test))
        if len(set(y_syn)) < 2:
            raise ValueError(f"synthetic target {target!r} has a single class; TSTR is undefined")
    else:
        y_real, y_syn, y_test = (
            as_float(train[target]),
            as_float(synth[target]),
            as_float(holdout[target]),
        )
        keep_r, keep_s, keep_t = ~np.isnan(y_real), ~np.isnan(y_syn), ~np.isnan(y_test)
        x_real, y_real, x_syn, y_syn = x_real[keep_r], y_real[keep_r], x_syn[keep_s], y_syn[keep_s]
        x_test, y_test = x_test[keep_t], y_test[keep_t]
        classes = []
    metric = "auc" if task == "classification" else "r2"
    per_model = {}
    for name, model in _models(task, seed).items():
        real_model = clone(model).fit(x_real, y_real)
        syn_model = clone(model).fit(x_syn, y_syn)
        trtr = _score(task, real_model, x_test, y_test, classes)
        tstr_ = _score(task, syn_model, x_test, y_test, classes)
        per_model[name] = {"trtr": trtr, "tstr": tstr_, "gap": trtr - tstr_}
    return {
        "task": task,
        "metric": metric,
        "models": per_model,
        "trtr": float(np.mean([m["trtr"] for m in per_model.values()])),
        "tstr": float(np.mean([m["tstr"] for m in per_model.values()])),
        "gap": float(np.mean([m["gap"] for m in per_model.values()])),
        "predictors": list(predictors),
    }
