"""PatientSummaries: the summaries of encoded histories equal those computed from the table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from generators.layout import SpanLayout
from generators.sequence import SequenceEncoder
from generators.summaries import PatientSummaries
from tests.generators.test_dgan import make_visits, visits_spec


def encoded_visits() -> tuple[pd.DataFrame, SequenceEncoder, PatientSummaries, torch.Tensor]:
    df = make_visits(60, seed=4)
    spec = visits_spec(df)
    enc = SequenceEncoder.fit(df, spec, seed=0)
    data = enc.encode(df, seed=0)
    layout = SpanLayout(enc.steps.spans)
    n, length, wt = data.steps.shape
    steps = torch.as_tensor(layout.to_model(data.steps.reshape(-1, wt)).reshape(n, length, wt))
    summaries = PatientSummaries(enc.steps, layout, length)
    return df, enc, summaries, summaries(steps, torch.as_tensor(data.present))


def standard(enc: SequenceEncoder, column: str, x: np.ndarray) -> np.ndarray:
    t = next(t for t in enc.steps.transforms if t.column == column)
    if t.log_shift is not None:
        x = np.log(x + t.log_shift)
    w, m, s = (np.asarray(v) for v in (t.weights, t.means, t.stds))
    w = w / w.sum()
    centre = w @ m
    return (x - centre) / np.sqrt(w @ (s**2 + m**2) - centre**2)


def test_summaries_of_encoded_histories_match_the_table() -> None:
    df, enc, summaries, out = encoded_visits()
    got = pd.DataFrame(out.numpy(), columns=summaries.names)
    length = enc.max_length
    assert summaries.width == out.shape[1]
    for k, (pid, visits) in enumerate(df.groupby("pid", sort=True)):
        lab = visits["lab"].to_numpy(dtype=float)
        seen = ~np.isnan(lab)
        z = standard(enc, "lab", lab[seen])
        index = np.flatnonzero(seen).astype(float)
        row = got.iloc[k]
        assert row["lab_measured"] == np.float32(seen.mean()), pid
        if not seen.any():
            assert row[["lab_mean", "lab_min", "lab_max", "lab_last"]].abs().max() == 0
            continue
        np.testing.assert_allclose(
            row[["lab_mean", "lab_min", "lab_max", "lab_last"]].to_numpy(dtype=float),
            [z.mean(), z.min(), z.max(), z[-1]],
            atol=1e-4,
            err_msg=str(pid),
        )
        slope = np.polyfit(index, z, 1)[0] * (length - 1) if seen.sum() > 1 else 0.0
        np.testing.assert_allclose(row["lab_slope"], slope, atol=1e-3, err_msg=str(pid))
        assert row[f"stage_last={visits['stage'].iloc[-1]}"] == 1.0
        assert row[["stage_last=I", "stage_last=II"]].sum() == 1.0


def test_summaries_separate_the_kinds_of_patient_the_data_has() -> None:
    """Long patients' lab rises over six visits, short ones' falls over two."""
    df, _, summaries, out = encoded_visits()
    got = pd.DataFrame(out.numpy(), columns=summaries.names)
    long = (df.groupby("pid", sort=True)["group"].first() == "long").to_numpy()
    assert (got.loc[long, "lab_slope"] > 0).mean() > 0.9
    assert (got.loc[~long, "lab_slope"] <= 0).mean() > 0.9
    # six visits: the mean gap is over the first visit's 0 and five gaps of 0.5-2
    assert got.loc[long, "__gap___mean"].mean() > got.loc[~long, "__gap___mean"].mean()


def test_gradients_reach_every_input_that_a_summary_reads() -> None:
    _, enc, summaries, _ = encoded_visits()
    layout = SpanLayout(enc.steps.spans)
    torch.manual_seed(0)
    raw = torch.randn(8, enc.max_length, enc.steps.width, requires_grad=True)
    steps = layout.activate(raw.reshape(-1, enc.steps.width), 0.2).reshape(raw.shape)
    presence = torch.cumprod(torch.sigmoid(torch.randn(8, enc.max_length)), dim=1)
    out = summaries(steps, presence)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(raw.grad).all()
    # the offsets and mode logits of the lab, and the stage's logits, all get gradient
    assert (raw.grad.abs().sum((0, 1)) > 0).sum() >= enc.steps.width - 1
