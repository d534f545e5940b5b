"""CTGAN with different settings, same data, seeds and epochs: seconds per epoch and the run's
quality, plain and as ``synthcare generate`` ships it (guided). By default float32 against
bfloat16 (``precision: bf16``).

    .venv/bin/python benchmarks/ctgan_variants.py [--seeds 0 1 2] [--epochs 300]
        [--variant NAME=JSON ...]

e.g. ``--variant fp32='{}' --variant small='{"generator_dim": [128, 128]}'``. flchain's demo
split for each seed (80 % train, stratified on death). The variants of one seed are fitted back
to back, so a busy machine slows them alike; the table reports each fit's seconds per epoch and
each variant's ratio to the first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SCORES = ("detection_auc", "tstr_auc", "column_shape_similarity", "pair_trend_similarity")
TABLE = ["plain_detection_auc", "plain_tstr_auc", "guided_detection_auc", "guided_tstr_auc"]
TABLE += ["guided_column_shape_similarity", "guided_pair_trend_similarity", "guided_dcr_share"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=JSON")
    args = ap.parse_args()
    given = args.variant or ["fp32={}", 'bf16={"precision": "bf16"}']
    variants = {name: json.loads(text) for name, text in (v.split("=", 1) for v in given)}

    from evaluation.privacy import row_hashes
    from flows.demo import NON_PREDICTORS, flchain_frame
    from generators import registry
    from generators.schema import infer_spec
    from tasks.evaluate import score
    from tasks.sample import fit_guidance, guided_sample, target_shares
    from tasks.split import split_frame
    from tasks.validation import coerce

    raw = flchain_frame()
    spec = infer_spec(raw, name="flchain", target="death", non_predictors=NON_PREDICTORS)
    typed = coerce(raw, spec)[0]
    modelled = [c.name for c in spec.modelled]
    rows = []
    for seed in args.seeds:
        train, holdout, _ = split_frame(typed, spec, 0.2, seed)
        forbidden = row_hashes(train[modelled])
        shares = target_shares(train, spec)
        for variant, settings in variants.items():
            model = registry.create("ctgan", {"epochs": args.epochs, **settings})
            report = model.fit(train, spec, seed=seed)
            plain = score(train, holdout, model.sample(len(train), seed=seed), spec)["summary"]
            ratio = fit_guidance(model, train, spec, seed, forbidden)
            out = guided_sample(model, len(train), seed, forbidden, ratio, 16, 0, shares)[0]
            guided = score(train, holdout, out, spec)["summary"]
            row = {
                "seed": seed,
                "variant": variant,
                "s_per_epoch": report.seconds_per_epoch,
                **{f"plain_{k}": plain[k] for k in SCORES},
                **{f"guided_{k}": guided[k] for k in SCORES},
                "guided_dcr_share": guided["dcr_share"],
                "guided_exact_copies": guided["exact_copies"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; date: {time.strftime('%F')}")
    print(f"epochs {args.epochs}; " + "; ".join(f"{k}: {v}" for k, v in variants.items()) + "\n")
    head = ["seed", "variant", "s/epoch", "plain detection", "plain TSTR", "guided detection"]
    head += ["guided TSTR", "shapes", "pairs", "DCR share", "copies"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [str(r["seed"]), r["variant"], f"{r['s_per_epoch']:.3f}"]
        cells += [f"{r[k]:.3f}" for k in TABLE]
        cells.append(str(r["guided_exact_copies"]))
        print("| " + " | ".join(cells) + " |")
    first, *others = variants
    for name in others:
        base = [r["s_per_epoch"] for r in rows if r["variant"] == first]
        other = [r["s_per_epoch"] for r in rows if r["variant"] == name]
        ratios = [b / o for b, o in zip(base, other, strict=True)]
        print(f"\n{first} / {name} seconds per epoch: " + ", ".join(f"{x:.2f}" for x in ratios))


if __name__ == "__main__":
    main()
