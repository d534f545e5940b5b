"""forestflow's ``smoothing`` knob on quality-suite tables: one fit per table (seed 0, defaults),
the same model sampled at each smoothing, scored as ``benchmarks/quality.py`` scores.

    .venv/bin/python benchmarks/forestflow_smoothing.py --tables whas500 gbsg2 \\
        --smoothing 0 0.03 0.06 0.1
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from suite import TABLES, prepared  # noqa: E402


def main() -> None:
    from evaluation.gate import tstr_ratio
    from generators import registry
    from tasks.evaluate import score
    from tasks.sample import GUIDANCE_MIN_ROWS, draw
    from tasks.split import split_frame

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tables", nargs="+", choices=sorted(TABLES), required=True)
    ap.add_argument("--smoothing", nargs="+", type=float, default=[0.0, 0.03, 0.06, 0.1])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print("| table | smoothing | TSTR/TRTR | detection | shapes | DCR share | MIA AUC | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.tables:
        spec, df = prepared(name)
        train, holdout, _ = split_frame(df, spec, 0.3, args.seed)
        model = registry.create("forestflow", {})
        start = time.perf_counter()
        model.fit(train, spec, seed=args.seed)
        fit = time.perf_counter() - start
        pool = 16 if len(train) >= GUIDANCE_MIN_ROWS else 1
        for smoothing in args.smoothing:
            model.config = model.config.model_copy(update={"smoothing": smoothing})
            synth, _ = draw(model, train, spec, len(train), args.seed, pool)
            s = score(train, holdout, synth, spec, seed=args.seed)["summary"]
            print(
                f"| {name} | {smoothing:g} | {tstr_ratio(s):.3f} | {s['detection_auc']:.3f} | "
                f"{s['column_shape_similarity']:.3f} | {s['dcr_share']:.3f} | "
                f"{s['membership_auc']:.3f} | {fit:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
