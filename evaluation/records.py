"""Whole records across tables: are keys, dates and family sizes consistent, and is any
synthetic patient's whole record a real one?

- referential integrity: the share of rows whose every foreign key finds its parent, per table
  (dictionary codes included); primary keys unique and present.
- date containment: the share of rows inside their parent's interval, per declared rule.
- child counts: per parent-child pair, the Kolmogorov-Smirnov distance between the real and the
  synthetic distributions of how many children a parent has (zero included).
- record copies: a root record (a patient) with everything under it, as one signature of its
  columns without keys; synthetic signatures equal to a real one are copies.

Pure functions on DataFrames and a schema (``generators.records.RecordSchema``, read by its
fields): they know nothing of how the tables were made.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

SPREAD_REPEATS = 20  # random halvings of the held-out patients for the real DCR spread
RecordSchema = Any  # generators.records.RecordSchema; evaluation reads its fields only


def integrity(tables: dict[str, pd.DataFrame], schema: RecordSchema) -> dict[str, float]:
    """Per table: the share of rows whose every foreign key is empty or finds its parent; 0 when
    its primary key repeats or is empty anywhere."""
    out = {}
    for name, table in schema.tables.items():
        if table.dictionary:
            continue
        df = tables[name]
        ok = np.ones(len(df), dtype=bool)
        for fk in table.foreign_keys:
            pk = schema.tables[fk.parent].primary_key
            value = df[fk.column]
            ok &= (value.isna() | value.isin(tables[fk.parent][pk])).to_numpy()
        key = table.primary_key
        if key is not None and (df[key].isna().any() or df[key].duplicated().any()):
            ok[:] = False
        out[name] = float(ok.mean()) if len(df) else 1.0
    return out


def containment(
    tables: dict[str, pd.DataFrame], schema: RecordSchema, rule: Any
) -> tuple[int, int]:
    """(rows breaking the rule, rows with a date and a parent) for one date rule."""
    link = next(fk for fk in schema.links(rule.table) if fk.parent == rule.parent)
    pk = schema.tables[rule.parent].primary_key
    child = tables[rule.table][[link.column, rule.column]].dropna()
    parent = tables[rule.parent][[pk, rule.start, rule.end]].drop_duplicates(pk)
    merged = child.merge(parent, left_on=link.column, right_on=pk, how="inner")
    when = pd.to_datetime(merged[rule.column])
    start, end = pd.to_datetime(merged[rule.start]), pd.to_datetime(merged[rule.end])
    if rule.by_day:
        start, end = start.dt.normalize(), end.dt.normalize()
    broken = ~((when >= start) & (when <= end))
    return int(broken.sum()), len(merged)


def date_containment(tables: dict[str, pd.DataFrame], schema: RecordSchema) -> dict[str, float]:
    """Per declared rule: the share of dated rows inside their parent's interval."""
    out = {}
    for rule in schema.dates:
        broken, rows = containment(tables, schema, rule)
        out[rule.describe()] = 1.0 - broken / rows if rows else 1.0
    return out


def child_counts(tables: dict[str, pd.DataFrame], schema: RecordSchema, name: str) -> np.ndarray:
    """How many rows of ``name`` each row of its parent has (zero included)."""
    parent = schema.primary_parent(name)
    link = schema.link(name, parent)
    keys = tables[parent][schema.tables[parent].primary_key]
    return keys.map(tables[name][link].value_counts()).fillna(0).to_numpy(dtype=float)


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The largest gap between two empirical distribution functions."""
    if not len(a) or not len(b):
        return 1.0
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(fa - fb).max())


def child_count_distances(
    real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame], schema: RecordSchema
) -> dict[str, float]:
    """Per parent-child pair (``PARENT -> CHILD``): KS distance of the children-per-parent."""
    return {
        f"{schema.primary_parent(n)} -> {n}": ks_distance(
            child_counts(real, schema, n), child_counts(synth, schema, n)
        )
        for n in schema.order()
        if schema.primary_parent(n) is not None
    }


def record_signatures(tables: dict[str, pd.DataFrame], schema: RecordSchema) -> pd.Series:
    """One hash per root record over its own columns and every descendant row, keys left out
    (fresh keys must not hide a copied record), children in a canonical order."""
    order = schema.order()
    roots = [n for n in order if schema.primary_parent(n) is None]
    digests: dict[str, pd.Series] = {}
    for name in reversed(order):  # children first: a row's digest includes its children's
        df = tables[name].reset_index(drop=True)
        own = [_canonical(values) for _, values in _without_keys(df, schema, name).items()]
        text = pd.Series([""] * len(df), index=df.index, dtype=object)
        for part in own:
            text = text + "\x1f" + part
        for child in schema.children(name):
            link = schema.link(child, name)
            kids = (
                digests[child]
                .groupby(tables[child][link].to_numpy())
                .agg(lambda s: "|".join(sorted(s)))
            )
            text = (
                text
                + f"\x1e{child}:"
                + df[schema.tables[name].primary_key].map(kids).fillna("").astype(str)
            )
        digests[name] = text.map(lambda t: hashlib.sha256(t.encode()).hexdigest())
    return pd.concat([digests[r] for r in roots], ignore_index=True)


def _canonical(series: pd.Series) -> pd.Series:
    """Values as text that does not depend on the dtype a file was read with: numbers as floats,
    dates in ISO form, missing as an empty string."""
    series = series.reset_index(drop=True)
    missing = series.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(series):
        text = series.astype(object).map(lambda v: v.isoformat() if not pd.isna(v) else "")
    elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        text = series.astype(float).map(repr)
    else:
        text = series.astype(object).map(str)
    return text.where(~missing, "").astype(object)


def record_copies(
    real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame], schema: RecordSchema
) -> int:
    """Synthetic root records (with everything under them) equal to a real one."""
    return int(record_signatures(synth, schema).isin(record_signatures(real, schema)).sum())


def score_records(
    real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame], schema: RecordSchema
) -> dict[str, object]:
    """The cross-table scores of a synthetic database against the real one."""
    kept = integrity(synth, schema)
    dates = date_containment(synth, schema)
    counts = child_count_distances(real, synth, schema)
    return {
        "referential_integrity": kept,
        "referential_integrity_min": min(kept.values()) if kept else 1.0,
        "date_containment": dates,
        "date_containment_min": min(dates.values()) if dates else 1.0,
        "child_count_ks": counts,
        "child_count_ks_max": max(counts.values()) if counts else 0.0,
        "record_copies": record_copies(real, synth, schema),
        "rows": {n: len(synth[n]) for n in schema.synthesised()},
    }


def record_frame(
    tables: dict[str, pd.DataFrame], schema: RecordSchema, table: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per row of ``table`` for a record-level prediction: its own columns, its
    ancestors' columns (``PARENT.column``), dates as hours after the row's first date (an age at
    admission, a length of stay), and how many rows each child table holds under it; with the
    root record each row belongs to (for splits that keep a patient on one side)."""
    own = tables[table].reset_index(drop=True)
    frame = _without_keys(own, schema, table)
    rows = np.arange(len(own))
    name = table
    while (parent := schema.primary_parent(name)) is not None:
        link = schema.link(name, parent)
        up = tables[parent].reset_index(drop=True)
        position = pd.Series(np.arange(len(up)), index=up[schema.tables[parent].primary_key])
        here = tables[name].reset_index(drop=True)[link].to_numpy()[rows]
        rows = position.reindex(here).to_numpy()
        ok = ~np.isnan(rows.astype(float))
        rows = np.where(ok, rows, 0).astype(int)
        theirs = _without_keys(up, schema, parent).iloc[rows].reset_index(drop=True)
        theirs[~ok] = None
        frame = pd.concat([frame, theirs.add_prefix(f"{parent}.")], axis=1)
        name = parent
    root_key = schema.tables[name].primary_key
    roots = tables[name].reset_index(drop=True)[root_key].to_numpy()[rows]
    dates = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
    if dates:
        first = frame[dates[0]].astype("datetime64[s]")
        for c in dates:
            gap = (frame[c].astype("datetime64[s]") - first).dt.total_seconds() / 3600.0
            frame[c] = gap if c != dates[0] else 0.0
        frame = frame.drop(columns=[dates[0]])
    pk = schema.tables[table].primary_key
    for child in schema.children(table):
        link = schema.link(child, table)
        counts = own[pk].map(tables[child][link].value_counts()).fillna(0)
        frame[f"n.{child}"] = counts.to_numpy(dtype=float)
    return frame, roots


def _without_keys(df: pd.DataFrame, schema: RecordSchema, name: str) -> pd.DataFrame:
    keys = schema.key_columns(name)
    return df[[c for c in df.columns if c not in keys]].reset_index(drop=True)


def _aligned(frames: list[pd.DataFrame]) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """The columns every frame has and the first has values in, and each column's kind."""
    first = frames[0]
    columns = [
        c for c in first.columns if all(c in f.columns for f in frames) and first[c].notna().any()
    ]
    kinds = {
        c: "numeric"
        if pd.api.types.is_numeric_dtype(first[c]) and not pd.api.types.is_bool_dtype(first[c])
        else "categorical"
        for c in columns
    }
    return [f[columns] for f in frames], kinds


def record_utility(
    train: dict[str, pd.DataFrame],
    test: dict[str, pd.DataFrame],
    synth: dict[str, pd.DataFrame],
    schema: RecordSchema,
    *,
    table: str,
    target: str,
    leaks: list[str] | tuple[str, ...] = (),
    seed: int = 0,
) -> dict[str, float]:
    """TRTR and TSTR of ``target`` on ``table``'s record frames (``record_frame``): models
    trained on the real training records or on the synthetic ones, scored on ``test``, whose
    patients neither saw. ``leaks``: columns that give the outcome away (a death time)."""
    from evaluation.utility import tstr

    frames, kinds = _aligned([record_frame(t, schema, table)[0] for t in (train, test, synth)])
    columns = list(kinds)
    kinds[target] = "categorical"
    predictors = [
        c for c in columns if c != target and c not in leaks and frames[0][c].notna().any()
    ]
    result = tstr(
        frames[0],
        frames[1],
        frames[2],
        target=target,
        target_kind="categorical",
        predictors=predictors,
        kinds=kinds,
        seed=seed,
    )
    return {k: result[k] for k in ("trtr_auc", "tstr_auc") if k in result}


def patient_summaries(tables: dict[str, pd.DataFrame], schema: RecordSchema) -> pd.DataFrame:
    """One row per record (patient): its own columns, and per table under it how many rows it
    has and the mean of each number: the unit the privacy attacks compare."""
    root = schema.record_root()
    frame, _ = record_frame(tables, schema, root)
    pk = schema.tables[root].primary_key
    keys = tables[root][pk].reset_index(drop=True)
    for name in schema.descendants(root):
        rows = tables[name].reset_index(drop=True)
        owner = _root_keys(tables, schema, name, root)
        frame[f"n.{name}"] = keys.map(pd.Series(owner).value_counts()).fillna(0).to_numpy()
        numbers = [
            c
            for c in _without_keys(rows, schema, name).columns
            if pd.api.types.is_numeric_dtype(rows[c]) and not pd.api.types.is_bool_dtype(rows[c])
        ]
        if numbers:
            means = rows[numbers].groupby(owner).mean()
            for c in numbers:
                frame[f"{name}.{c}"] = keys.map(means[c]).to_numpy()
    return frame


def _root_keys(
    tables: dict[str, pd.DataFrame], schema: RecordSchema, name: str, root: str
) -> np.ndarray:
    """The record root's key of each row of ``name``."""
    values = tables[name].reset_index(drop=True)
    while (parent := schema.primary_parent(name)) is not None:
        link = schema.link(name, parent)
        pk = schema.tables[parent].primary_key
        here = values[link].to_numpy()
        values = tables[parent].set_index(pk).reindex(here).reset_index()
        name = parent
    return values[schema.tables[root].primary_key].to_numpy()


def record_privacy(
    train: dict[str, pd.DataFrame],
    holdout: dict[str, pd.DataFrame],
    synth: dict[str, pd.DataFrame],
    schema: RecordSchema,
    seed: int = 0,
) -> dict[str, float]:
    """The table attacks on patient summaries (``patient_summaries``): DCR share (0.5 = no
    memorisation), what real unseen patients reach at these sizes (``real_dcr_spread``), and the
    distance membership attack's AUC, training patients as members and held-out patients as
    non-members."""
    from evaluation.privacy import dcr, membership_inference

    frames, kinds = _aligned([patient_summaries(t, schema) for t in (train, holdout, synth)])
    share = dcr(*frames, kinds, seed=seed)["share"]
    mia = membership_inference(*frames, kinds, seed=seed)
    return {
        "patient_dcr_share": share,
        "patient_dcr_share_real_p95": real_dcr_spread(frames[0], frames[1], kinds, seed),
        "patient_membership_auc": mia["distance_auc"],
    }


def real_dcr_spread(
    train: pd.DataFrame, holdout: pd.DataFrame, kinds: dict[str, str], seed: int = 0
) -> float:
    """What real unseen patients score: half the held-out patients, in the synthetic data's
    place, against the training patients and the other half, over ``SPREAD_REPEATS`` random
    halvings; the 95th percentile. A synthetic DCR share below it is within what patients who
    never met the model reach at these sizes (half the reference rows: a little wider)."""
    from evaluation.privacy import dcr

    rng = np.random.default_rng(seed)
    shares = []
    for r in range(SPREAD_REPEATS):
        order = rng.permutation(len(holdout))
        half = len(order) // 2
        unseen, reference = holdout.iloc[order[:half]], holdout.iloc[order[half:]]
        shares.append(dcr(train, reference, unseen, kinds, seed=seed + r)["share"])
    return float(np.percentile(shares, 95))
