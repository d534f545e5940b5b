"""TVAE learns a table's structure, not only its columns one by one."""

import numpy as np
import pandas as pd

from generators.schema import infer_spec
from generators.tvae import TVAE


def test_tvae_learns_a_conditional_rate_and_reports_its_losses() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    stage = rng.choice([1, 2, 3, 4], n, p=[0.4, 0.3, 0.2, 0.1])
    died = (rng.random(n) < 0.05 + 0.25 * (stage - 1)).astype(int)
    table = pd.DataFrame({"stage": stage, "age": rng.integers(30, 90, n), "died": died})
    model = TVAE(
        {
            "epochs": 80,
            "batch_size": 200,
            "compress_dims": [64],
            "decompress_dims": [64],
            "embedding_dim": 16,
            "threads": 1,
        }
    )
    report = model.fit(table, infer_spec(table, target="died"), seed=0)
    first, last = report.history[0], report.history[-1]
    assert last["reconstruction"] < first["reconstruction"]
    rates = model.sample(5000, seed=2).groupby("stage")["died"].mean()
    assert rates[4] - rates[1] > 0.35  # real: 0.75
