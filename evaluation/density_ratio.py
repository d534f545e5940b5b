"""How much more likely is a row under the real distribution than under the generator's?

A classifier trained to tell real rows from synthetic ones estimates p(real | x); with balanced
classes, p / (1 - p) estimates the density ratio p_real(x) / p_synth(x). Resampling a large pool of
synthetic rows by that ratio moves the kept rows' distribution towards the real one
(discriminator-guided sampling, after Azadi et al., 2019, "Discriminator Rejection Sampling").

The classifier is fitted on a calibration sample and applied to fresh rows it never saw, and the
ratio is capped, so no single synthetic row can dominate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from evaluation.encoding import Kind, TableEncoder

CAP_QUANTILE = 0.99


@dataclass
class DensityRatio:
    encoder: TableEncoder
    model: HistGradientBoostingClassifier
    prior: float  # synthetic / real rows in the calibration fit

    def weights(self, rows: pd.DataFrame) -> np.ndarray:
        p = np.clip(self.model.predict_proba(self.encoder.transform(rows))[:, 1], 1e-4, 1 - 1e-4)
        ratio = p / (1 - p) * self.prior
        return np.minimum(ratio, np.quantile(ratio, CAP_QUANTILE))


def fit_density_ratio(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, Kind], *, seed: int = 0
) -> DensityRatio:
    encoder = TableEncoder.fit(real, kinds)
    x = np.concatenate([encoder.transform(real), encoder.transform(synth)])
    y = np.concatenate([np.ones(len(real)), np.zeros(len(synth))])
    # Regularised (large leaves, L2) so that it learns where the densities differ, not single rows.
    model = HistGradientBoostingClassifier(
        max_iter=300,
        learning_rate=0.05,
        min_samples_leaf=40,
        l2_regularization=1.0,
        random_state=seed,
    ).fit(x, y)
    return DensityRatio(encoder, model, prior=len(synth) / len(real))


def weighted_choice(weights: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct indices drawn with probability proportional to ``weights``
    (Efraimidis & Spirakis, 2006: the n largest u^(1/w))."""
    if n > len(weights):
        raise ValueError(f"cannot choose {n} of {len(weights)} rows")
    keys = np.log(rng.random(len(weights))) / np.maximum(weights, 1e-12)
    return np.sort(np.argpartition(-keys, n - 1)[:n]) if n else np.zeros(0, dtype=int)


def effective_sample_size(weights: np.ndarray) -> float:
    return float(weights.sum() ** 2 / (weights**2).sum()) if weights.size else 0.0
