"""Time every case of the refusal catalogue through the console script, as a user runs it.

The cases are the ones ``tests/flows/test_refusals.py`` checks (message, exit code, nothing
written); here each runs in its own ``synthcare generate`` process and the wall time from start
to exit is measured, interpreter start included. Prints a Markdown table.

    .venv/bin/python benchmarks/refusals.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.flows.test_refusals import CASES  # noqa: E402

REPEATS = 3


def main() -> None:
    script = Path(sys.executable).parent / "synthcare"
    print("| case | exit | message (first problem) | seconds to refuse (median of 3) |")
    print("|---|---:|---|---:|")
    times = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "input.csv"
            case.write(data)
            argv = [str(script), "generate", str(data), "--out", f"{tmp}/out", *case.args]
            if case.target:
                argv += ["--target", case.target]
            seconds = []
            for _ in range(REPEATS):
                start = time.perf_counter()
                done = subprocess.run(argv, capture_output=True, text=True, check=False)
                seconds.append(time.perf_counter() - start)
            lines = [ln.strip() for ln in done.stderr.strip().splitlines()]
            first = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
            first = first.replace(str(data), "FILE").replace("|", "\\|")
            median = statistics.median(seconds)
            times.append(median)
            print(f"| {case.name} | {done.returncode} | {first[:150]} | {median:.2f} |")
    print(f"\nslowest {max(times):.2f} s, median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
