"""Does guided sampling cost privacy on small tables? DCR share and membership AUC, plain vs
guided, for a tiny CTGAN on the synthetic test table of ``tests/conftest.py`` at several sizes.

    .venv/bin/python benchmarks/guidance_small_tables.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test table lives in tests/
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

TINY = {"batch_size": 100, "generator_dim": [64], "discriminator_dim": [64], "embedding_dim": 32}


def main() -> None:
    from evaluation.density_ratio import fit_density_ratio
    from evaluation.privacy import row_hashes
    from generators import registry
    from generators.schema import infer_spec
    from tasks.evaluate import score
    from tasks.sample import guided_sample, sample_without_copies, target_shares
    from tasks.split import split_frame
    from tasks.validation import coerce
    from tests.conftest import make_patients

    print(
        "| rows (train) | epochs | pool | (DCR share, membership AUC) for sampling seeds 0, 1, 2 |"
    )
    print("|---|---|---|---|")
    for n, epochs in [(300, 2), (300, 60), (1500, 60)]:
        raw = make_patients(n, seed=0)
        spec = infer_spec(raw, name="patients", target="died")
        train, holdout, _ = split_frame(coerce(raw, spec)[0], spec, 0.2, 3)
        model = registry.create("ctgan", {**TINY, "epochs": epochs})
        model.fit(train, spec, seed=3)
        modelled = [c.name for c in spec.modelled]
        forbidden = row_hashes(train[modelled])
        for pool in (1, 16):
            cells = []
            for s in range(3):
                if pool == 1:
                    rows, _ = sample_without_copies(model, len(train), 10 + s, forbidden)
                else:
                    cal, _ = sample_without_copies(model, len(train), 20 + s, forbidden)
                    ratio = fit_density_ratio(train[modelled], cal[modelled], spec.kinds())
                    rows, _, _ = guided_sample(
                        model,
                        len(train),
                        30 + s,
                        forbidden,
                        ratio,
                        pool,
                        0,
                        target_shares(train, spec),
                    )
                summary = score(train, holdout, rows, spec)["summary"]
                cells.append(f"({summary['dcr_share']:.2f}, {summary['membership_auc']:.2f})")
            print(f"| {n} ({len(train)}) | {epochs} | {pool} | {' '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
