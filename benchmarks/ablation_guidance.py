"""What discriminator-guided sampling buys: one CTGAN trained on the flchain demo split, then
sampled plainly and through guidance pools of several sizes, each scored by the run's metrics plus
an independent detector (a random forest) that the guidance never trained against.

    .venv/bin/python benchmarks/ablation_guidance.py [--epochs 300] [--pools 1 4 8 16 32]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import numpy as np  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402


def random_forest_detection(real, synth, kinds) -> float:  # noqa: ANN001
    from evaluation.encoding import TableEncoder

    enc = TableEncoder.fit(real, kinds)
    x = np.concatenate([enc.transform(real), enc.transform(synth)])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(synth))])
    forest = RandomForestClassifier(300, min_samples_leaf=3, n_jobs=2, random_state=0)
    return float(cross_val_score(forest, x, y, cv=3, scoring="roc_auc").mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--pools", type=int, nargs="+", default=[1, 4, 8, 16, 32])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from evaluation.privacy import row_hashes
    from flows.demo import NON_PREDICTORS, flchain_frame
    from generators import registry
    from generators.schema import infer_spec
    from tasks.evaluate import score
    from tasks.sample import fit_guidance, guided_sample, sample_without_copies, target_shares
    from tasks.split import split_frame
    from tasks.validation import coerce

    raw = flchain_frame()
    spec = infer_spec(raw, name="flchain", target="death", non_predictors=NON_PREDICTORS)
    train, holdout, _ = split_frame(coerce(raw, spec)[0], spec, 0.2, args.seed)
    model = registry.create("ctgan", {"epochs": args.epochs})
    start = time.perf_counter()
    model.fit(train, spec, seed=args.seed)
    print(f"fit: {time.perf_counter() - start:.0f} s for {args.epochs} epochs")
    modelled = [c.name for c in spec.modelled]
    forbidden = row_hashes(train[modelled])
    n = len(train)
    ratio = fit_guidance(model, train, spec, args.seed, forbidden)
    shares = target_shares(train, spec)
    print(
        "\n| pool | sample s | detection AUC | RF detection AUC | TSTR AUC | TRTR − TSTR "
        "| column shapes | pair trends | DCR share | exact copies |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for pool in args.pools:
        start = time.perf_counter()
        if pool == 1:
            rows, _ = sample_without_copies(model, n, args.seed + 2, forbidden)
        else:
            rows, _, _ = guided_sample(model, n, args.seed + 2, forbidden, ratio, pool, 0, shares)
        seconds = time.perf_counter() - start
        s = score(train, holdout, rows, spec, seed=args.seed)["summary"]
        rf = random_forest_detection(train[modelled], rows[modelled], spec.kinds())
        print(
            f"| {pool} | {seconds:.1f} | {s['detection_auc']:.3f} | {rf:.3f} | {s['tstr_auc']:.3f} "
            f"| {s['auc_gap']:.3f} | {s['column_shape_similarity']:.3f} "
            f"| {s['pair_trend_similarity']:.3f} | {s['dcr_share']:.3f} | {s['exact_copies']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
