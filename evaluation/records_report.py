"""The report of a whole-records run: the cross-table scores, the record-level prediction, the
patient-level privacy, and one synthetic patient's timeline beside a real one's.

A timeline lays a patient's record out in days from its first dated row (each on its own scale,
its span in its title): one lane per table
under the patient that has dates (a row with two or more dates is a bar from its first to its
second date, as admission to discharge or ICU in to out; with one date, a tick), and the
number of rows of the tables without dates (diagnoses, procedures) beside it. Codes, keys and
values are not drawn. The real timeline is one training patient's record: the page is for the
data owner who holds the real data, not for release with the synthetic tables.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from evaluation.report import _CSS, _fmt, _svg, _table, plt
from generators.records import RecordSchema, date_columns, records_of

CANDIDATES = 200  # patients looked at when picking the ones to draw


def record_sizes(
    tables: dict[str, pd.DataFrame], schema: RecordSchema, keys: list[Any]
) -> pd.DataFrame:
    """Rows per table under each root key (one row a patient, one column a table)."""
    below = schema.descendants(schema.record_root())
    sizes = []
    for key in keys:
        record = records_of(tables, schema, {key})
        sizes.append({name: len(record[name]) for name in below})
    return pd.DataFrame(sizes, index=keys, columns=below)


def pick_patients(
    real: dict[str, pd.DataFrame],
    synth: dict[str, pd.DataFrame],
    schema: RecordSchema,
    seed: int = 0,
) -> tuple[Any, Any]:
    """(real key, synthetic key): a real patient of typical size among those with more than one
    row in the first table under the root (a returning patient, where there is one), and the
    synthetic patient with as many rows there and the closest number of rows in all."""
    root = schema.record_root()
    pk = schema.tables[root].primary_key
    rng = np.random.default_rng(seed)

    def sample(keys: np.ndarray) -> list[Any]:
        chosen = rng.choice(len(keys), min(len(keys), CANDIDATES), replace=False)
        return [keys[i] for i in sorted(chosen)]

    real_sizes = record_sizes(real, schema, sample(real[root][pk].to_numpy()))
    synth_sizes = record_sizes(synth, schema, sample(synth[root][pk].to_numpy()))
    first = schema.children(root)[0] if schema.children(root) else None
    pool = real_sizes
    if first is not None and (real_sizes[first] > 1).any():
        pool = real_sizes[real_sizes[first] > 1]
    total = pool.sum(axis=1)
    real_key = (total - total.median()).abs().idxmin()
    same = synth_sizes
    if first is not None and (synth_sizes[first] == pool.loc[real_key, first]).any():
        same = synth_sizes[synth_sizes[first] == pool.loc[real_key, first]]
    synth_key = (same.sum(axis=1) - total[real_key]).abs().idxmin()
    return real_key, synth_key


def timeline_frame(record: dict[str, pd.DataFrame], schema: RecordSchema) -> pd.DataFrame:
    """One row a dated row of the record: table, start and end in days from the record's first
    date (end = start for a single date)."""
    rows = []
    for name in schema.descendants(schema.record_root()):
        df = record[name]
        dates = [c for c in date_columns(df) if c not in schema.key_columns(name)]
        if not dates or df.empty:
            continue
        start = pd.to_datetime(df[dates[0]])
        end = pd.to_datetime(df[dates[1]]) if len(dates) > 1 else start
        for s, e in zip(start, end, strict=True):
            if pd.isna(s):
                continue
            rows.append({"table": name, "start": s, "end": s if pd.isna(e) else max(s, e)})
    out = pd.DataFrame(rows, columns=["table", "start", "end"])
    if out.empty:
        return out.assign(start=[], end=[])
    origin = out["start"].min()
    days = pd.Timedelta(days=1)
    out["start"] = (out["start"] - origin) / days
    out["end"] = (out["end"] - origin) / days
    return out


def _timeline_plot(frame: pd.DataFrame, lanes: list[str], title: str) -> str:
    span = float(frame["end"].max()) if len(frame) else 0.0
    title = f"{title}: {span:,.1f} days from first to last"
    fig, ax = plt.subplots(figsize=(5.6, 0.55 * len(lanes) + 1.0))
    colours = plt.get_cmap("tab10")
    for i, lane in enumerate(lanes):
        rows = frame[frame["table"] == lane]
        width = (rows["end"] - rows["start"]).to_numpy()
        bars = width > 0
        if bars.any():
            ax.barh(
                [i] * int(bars.sum()),
                width[bars],
                left=rows["start"].to_numpy()[bars],
                height=0.5,
                color=colours(i % 10),
                alpha=0.55,
            )
        if (~bars).any():
            ax.plot(
                rows["start"].to_numpy()[~bars],
                [i] * int((~bars).sum()),
                "|",
                color=colours(i % 10),
                markersize=12,
            )
    ax.set_yticks(range(len(lanes)), lanes, fontsize=8)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    ax.set_xlim(-0.02 * span - 0.5, span * 1.02 + 0.5)
    ax.invert_yaxis()
    ax.set_xlabel("days from the first dated row", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    return _svg(fig)


def timelines_html(
    real: dict[str, pd.DataFrame],
    synth: dict[str, pd.DataFrame],
    schema: RecordSchema,
    seed: int = 0,
) -> str:
    """A real and a synthetic patient's timelines on one scale, and their rows per table."""
    real_key, synth_key = pick_patients(real, synth, schema, seed)
    records = {
        "real (a training patient)": records_of(real, schema, {real_key}),
        "synthetic": records_of(synth, schema, {synth_key}),
    }
    frames = {who: timeline_frame(record, schema) for who, record in records.items()}
    lanes = [
        n
        for n in schema.descendants(schema.record_root())
        if any(n in set(f["table"]) for f in frames.values())
    ]
    if not lanes:
        return "<p>No table under the patient has dates: no timeline to draw.</p>"
    plots = "".join(
        f"<div class=card style='width:auto'>{_timeline_plot(f, lanes, who)}</div>"
        for who, f in frames.items()
    )
    below = schema.descendants(schema.record_root())
    counts = _table(
        ["table", *records],
        [[n, *(len(r[n]) for r in records.values())] for n in below],
    )
    return f"<div class=cols>{plots}</div><p>Rows per table in the two records:</p>{counts}"


def records_html(
    scores: dict[str, Any],
    real: dict[str, pd.DataFrame],
    synth: dict[str, pd.DataFrame],
    schema: RecordSchema,
    title: str,
    seed: int = 0,
) -> str:
    """One self-contained page for a records run (``flows.records``)."""
    integrity = _table(
        ["foreign key", "synthetic rows whose parent exists"],
        [[k, v] for k, v in scores["referential_integrity"].items()],
    )
    containment = _table(
        ["date rule", "synthetic rows inside"],
        [[k, v] for k, v in scores["date_containment"].items()],
    )
    counts = _table(
        ["parent → child", "KS distance of children per parent"],
        [[k, v] for k, v in scores["child_count_ks"].items()],
    )
    utility = scores.get("utility") or {}
    if utility:
        ratio = utility["tstr_auc"] / utility["trtr_auc"] if utility.get("trtr_auc") else None
        utility_words = (
            f"<p>A model of the record-level outcome trained on the synthetic records and tested "
            f"on held-out real patients (TSTR AUC {_fmt(utility.get('tstr_auc'))}) against the same "
            f"model trained on the real training records (TRTR AUC {_fmt(utility.get('trtr_auc'))})"
            f"{'' if ratio is None else f': {ratio:.2f} × TRTR'}.</p>"
        )
    else:
        utility_words = (
            "<p>No record-level outcome was named (<code>utility</code>): not measured.</p>"
        )
    share, spread = scores.get("patient_dcr_share"), scores.get("patient_dcr_share_real_p95")
    privacy = f"<p>{scores['record_copies']} synthetic patients' whole records equal a real one. "
    if share is None:
        privacy += "No held-out patients: the patient-level attacks were not run.</p>"
    else:
        privacy += (
            f"Patient-level DCR share {_fmt(share)} (the share of synthetic patients whose closest real "
            "patient, by their record's summary, is a training patient rather than a held-out one; "
            f"0.5 = none closer than unseen patients are); real patients the model never saw reach "
            f"up to {_fmt(spread)} at these sizes (95th percentile). Membership-attack AUC "
            f"{_fmt(scores.get('patient_membership_auc'))} (0.5 = no better than a coin).</p>"
        )
    rows = _table(["table", "synthetic rows"], [[k, v] for k, v in scores["rows"].items()])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Keys, dates and codes: every synthetic foreign key finds its parent
(worst {_fmt(scores["referential_integrity_min"])}), every date rule holds
(worst {_fmt(scores["date_containment_min"])}), and the number of children per parent is
within KS {_fmt(scores["child_count_ks_max"])} of the real records at worst.</p>
<div class=cols><div>{integrity}</div><div>{containment}</div><div>{counts}</div><div>{rows}</div></div>
<h2>Record-level prediction</h2>{utility_words}
<h2>Privacy</h2>{privacy}
<h2>One patient's timeline, real and synthetic</h2>
<p>This page shows one real training patient's record (days only: no codes, keys or values); keep
it with the real data.</p>
{timelines_html(real, synth, schema, seed)}
</body></html>"""
