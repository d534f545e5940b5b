"""Fuzzing the ingest path: a few hundred malformed tables (random types, nulls, special values,
encodings, truncations, broken headers) through every check a run makes before Prefect starts.
Each one ends in a clean refusal (one of the input errors, naming the file) or is accepted; an
accepted table must then fit and sample. Any other exception is a crash, and fails the test."""

from __future__ import annotations

import gzip
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from flows.cli import _preflight
from generators import registry
from generators.conditions import ConditionError
from generators.schema import SpecError
from generators.sequence import SequenceError
from tasks.config import ConfigError, RunConfig
from tasks.validation import DataValidationError

CLEAN = (DataValidationError, SpecError, SequenceError, ConditionError, ConfigError)
TABLES = 300  # small tables: the run takes well under a minute on the 2-core CI machine


def _column(rng: np.random.Generator, n: int) -> list:
    kind = rng.choice(["int", "float", "cat", "date", "mixed_dates", "bool", "null", "const", "id"])
    if kind == "int":
        values = list(rng.integers(-5, 100, n))
    elif kind == "float":
        values = list(np.round(rng.normal(50, 20, n), 2))
    elif kind == "cat":
        values = list(rng.choice(["a", "b", "c", "d,e", 'q"u', "é", " "], n))
    elif kind == "date":
        values = [
            str(d.date())
            for d in pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D")
        ]
    elif kind == "mixed_dates":
        days = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D")
        values = [d.strftime(rng.choice(["%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y"])) for d in days]
    elif kind == "bool":
        values = list(rng.choice(["yes", "no"], n))
    elif kind == "null":
        values = [None] * n
    elif kind == "const":
        values = [7] * n
    else:
        values = list(range(1000, 1000 + n))
    specials = [np.inf, -np.inf, 1e300, "NaN", "", "  ", "n/a", -1e20, "1e5", "abc"]
    for i in np.flatnonzero(rng.random(n) < rng.choice([0.0, 0.02, 0.3])):
        values[i] = None if rng.random() < 0.7 else specials[rng.integers(len(specials))]
    return values


def _table(rng: np.random.Generator) -> tuple[bytes, str | None]:
    """A random table's bytes, and the column to use as target (or None)."""
    n = int(rng.choice([0, 1, 5, 30, 60, 150, 150, 300, 300]))
    width = int(rng.integers(1, 6))
    names = [f"c{i}" for i in range(width)]
    if rng.random() < 0.1 and width > 1:
        names[-1] = names[0]  # duplicate names
    df = pd.DataFrame({f"x{i}": _column(rng, n) for i in range(width)})
    df.columns = names
    text = df.to_csv(index=False)
    if rng.random() < 0.1:
        text = text.split("\n", 1)[-1]  # no header
    if rng.random() < 0.1:
        text += "1,2,3,4,5,6,7,8\n"  # a ragged row
    encoding = rng.choice(["utf-8", "utf-8-sig", "utf-16", "latin-1"], p=[0.7, 0.1, 0.1, 0.1])
    data = text.encode(str(encoding), errors="replace")
    if rng.random() < 0.15:
        data = data[: int(rng.integers(0, len(data) + 1))]  # truncated anywhere
    if rng.random() < 0.05:
        data = gzip.compress(data)
    target = names[int(rng.integers(width))] if rng.random() < 0.6 else None
    return data, target


def test_malformed_tables_end_in_a_clean_refusal_or_a_valid_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(20261204)
    outcomes: Counter[str] = Counter()
    start = time.perf_counter()
    for i in range(TABLES):
        data, target = _table(rng)
        path = tmp_path / f"t{i}.csv"
        path.write_bytes(data)
        out = tmp_path / "out"
        try:
            config = RunConfig(data=str(path), target=target, output=str(out))
            _preflight(config)
        except CLEAN as exc:
            message = str(exc)
            assert message.startswith((str(path), "--", "condition", "generator")), message
            assert "Traceback" not in message
            outcomes["refused: " + type(exc).__name__] += 1
            continue
        except Exception as exc:  # a crash: the table that caused it is kept for the report
            raise AssertionError(f"table {i} ({path}) crashed the checks: {exc!r}") from exc
        finally:
            assert not out.exists()  # the checks never write
        from tasks.inputs import check_input

        checked = check_input(config, expectations=False)
        model = registry.create("cart", {"threads": 1})
        model.fit(checked.typed, checked.spec, seed=0)
        synth = model.sample(20, seed=0)
        assert list(synth.columns) == checked.spec.names
        outcomes["accepted, fitted and sampled"] += 1
    elapsed = time.perf_counter() - start
    print(dict(outcomes), f"{elapsed:.1f} s")  # the counts for the notes (pytest -s)
    assert sum(outcomes.values()) == TABLES
    assert outcomes["accepted, fitted and sampled"] >= 20  # the generator makes valid tables too
    assert sum(v for k, v in outcomes.items() if k.startswith("refused")) >= 100
