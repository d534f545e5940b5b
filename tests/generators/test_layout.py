"""The model's column order: a permutation that round-trips, and batched activations that equal
the per-block ones."""

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from generators.layout import SpanLayout, negative_gumbel_
from generators.transforms import Span

# scalar, 3-block, scalar, 2-block, 3-block, 2-block: blocks of equal width get grouped
SPANS = [
    Span(0, 1, "tanh", "a", False),
    Span(1, 3, "softmax", "a", False),
    Span(4, 1, "tanh", "b", False),
    Span(5, 2, "softmax", "b", False),
    Span(7, 3, "softmax", "c", True),
    Span(10, 2, "softmax", "d", True),
]


def _blocks(x: np.ndarray) -> list[np.ndarray]:
    return [x[:, s.start : s.stop] for s in SPANS if s.activation == "softmax"]


def test_layout_round_trips_and_groups_blocks_by_width():
    layout = SpanLayout(SPANS)
    matrix = np.arange(12 * 4, dtype=float).reshape(4, 12)
    model = layout.to_model(matrix)
    assert model[:, :2].tolist() == matrix[:, [0, 4]].tolist()  # scalars first
    assert layout.groups == [(2, 2, 2), (6, 2, 3)]
    np.testing.assert_array_equal(layout.from_model(model), matrix)


def test_activate_is_tanh_and_per_block_softmax():
    layout = SpanLayout(SPANS)
    raw = torch.randn(500, 12, dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    out = layout.from_model(layout.activate(raw, 0.5, gen).numpy())
    raw_m = layout.from_model(raw.numpy())
    np.testing.assert_allclose(out[:, [0, 4]], np.tanh(raw_m[:, [0, 4]]))
    for block in _blocks(out):
        np.testing.assert_allclose(block.sum(axis=1), 1.0)


def test_hard_draws_follow_the_softmax():
    """Gumbel-max: the argmax of each hard block is a draw from that block's softmax."""
    layout = SpanLayout(SPANS)
    logits = torch.tensor([0.0, 1.0, 2.0])
    raw = torch.zeros(40_000, 12)
    raw[:, 7:10] = logits  # span c, in matrix order
    hard = layout.activate(raw[:, layout.order], 0.2, torch.Generator().manual_seed(1), hard=True)
    picks = layout.from_model(hard.numpy())[:, 7:10].argmax(axis=1)
    shares = np.bincount(picks, minlength=3) / len(picks)
    np.testing.assert_allclose(shares, F.softmax(logits, dim=0).numpy(), atol=0.01)


def test_draw_with_the_callers_noise_subtracts_it_from_the_blocks():
    """``draw(..., noise=...)``: the scalars get tanh, every block loses exactly its slice of
    the noise, and with ``likeliest_modes`` a number's mode blocks keep their logits."""
    layout = SpanLayout(SPANS)
    raw = torch.randn(500, 12)
    u = torch.rand(500, 12 - layout.scalars, generator=torch.Generator().manual_seed(5))
    noise = negative_gumbel_(u.clone())
    np.testing.assert_allclose(noise.numpy(), np.log(-np.log(u.numpy())), atol=1e-5)
    drawn = layout.draw(raw.clone(), noise=noise)
    np.testing.assert_array_equal(drawn[:, :2].numpy(), torch.tanh(raw[:, :2]).numpy())
    np.testing.assert_array_equal(drawn[:, 2:].numpy(), (raw[:, 2:] - noise).numpy())
    modes = layout.draw(raw.clone(), noise=noise, likeliest_modes=True)
    modes_m, raw_m, drawn_m = (layout.from_model(x.numpy()) for x in (modes, raw, drawn))
    for span in SPANS:
        cols = slice(span.start, span.stop)
        if span.activation == "softmax" and not span.discrete:
            np.testing.assert_array_equal(modes_m[:, cols], raw_m[:, cols])
        else:
            np.testing.assert_array_equal(modes_m[:, cols], drawn_m[:, cols])


def test_activate_with_the_callers_noise_is_the_soft_draw_of_logits_minus_noise():
    """Training's soft activation with ``noise`` given: each block is the softmax of its logits
    minus exactly its slice of that noise at temperature tau (no draw of its own)."""
    layout = SpanLayout(SPANS)
    raw = torch.randn(300, 12, dtype=torch.float64)
    u = torch.rand(300, 12 - layout.scalars, dtype=torch.float64)
    noise = negative_gumbel_(u)
    out = layout.activate(raw, 0.5, noise=noise)
    expected = torch.cat([raw[:, 2:4] - noise[:, 0:2], raw[:, 4:6] - noise[:, 2:4]], dim=1)
    for k in range(2):  # the two 2-wide blocks of model order
        np.testing.assert_allclose(
            out[:, 2 + 2 * k : 4 + 2 * k].numpy(),
            torch.softmax(expected[:, 2 * k : 2 * k + 2] / 0.5, dim=1).numpy(),
        )
    np.testing.assert_allclose(out[:, :2].numpy(), torch.tanh(raw[:, :2]).numpy())


def test_noise_shared_by_a_patients_visits_draws_each_visit_from_its_own_softmax():
    """One Gumbel draw a patient, repeated at every visit (DGAN's ``persistent_draws``): each
    visit's category is still distributed as its softmax, and it changes only where the
    probabilities change (here from visit 3 on), never between visits of equal logits."""
    layout = SpanLayout(SPANS)
    patients, visits = 20_000, 5
    before, after = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([2.0, 1.0, 0.0])
    raw = torch.zeros(patients, visits, 12)
    raw[:, :3, 7:10], raw[:, 3:, 7:10] = before, after  # span c, in matrix order
    raw = raw.reshape(-1, 12)[:, layout.order]
    blocks = 12 - layout.scalars
    u = torch.rand(patients, 1, blocks, generator=torch.Generator().manual_seed(2))
    shared = negative_gumbel_(u).expand(patients, visits, blocks).reshape(-1, blocks)
    picks = layout.from_model(layout.activate(raw, 0.2, hard=True, noise=shared).numpy())
    picks = picks[:, 7:10].argmax(axis=1).reshape(patients, visits)
    assert (picks[:, :3] == picks[:, :1]).all() and (picks[:, 3:] == picks[:, 3:4]).all()
    for t, logits in ((0, before), (4, after)):
        shares = np.bincount(picks[:, t], minlength=3) / patients
        np.testing.assert_allclose(shares, F.softmax(logits, dim=0).numpy(), atol=0.015)
    changed = (picks[:, 3] != picks[:, 2]).mean()
    assert 0.3 < changed < 0.7  # the draw follows the new probabilities: many patients move


def test_log_probs_and_columns_point_at_each_category():
    layout = SpanLayout(SPANS)
    raw = torch.randn(8, 12, dtype=torch.float64)
    log_probs = layout.log_probs(raw)
    columns = layout.columns([SPANS[4], SPANS[5]])  # c's 3 categories, then d's 2
    raw_m = torch.as_tensor(layout.from_model(raw.numpy()))
    expected = torch.cat(
        [F.log_softmax(raw_m[:, 7:10], dim=1), F.log_softmax(raw_m[:, 10:12], dim=1)], dim=1
    )
    torch.testing.assert_close(log_probs[:, torch.as_tensor(columns)], expected)


def test_encoded_table_equals_the_dense_matrix_in_model_order():
    from generators.layout import EncodedTable
    from generators.schema import infer_spec
    from generators.transforms import TableTransformer
    from tasks.validation import coerce
    from tests.conftest import make_patients

    raw = make_patients(300, seed=2)  # numbers, integers, dates, categories, missing values
    spec = infer_spec(raw, name="p", target="died")
    df = coerce(raw, spec)[0]
    transformer = TableTransformer.fit(df, spec, seed=0)
    table = EncodedTable.encode(transformer, df, seed=5)
    dense = table.layout.to_model(transformer.transform(df, seed=5))
    np.testing.assert_array_equal(table.dense(), dense)
    rows = np.array([3, 0, 299, 3])
    np.testing.assert_array_equal(
        table.to(torch.device("cpu")).batch(torch.tensor(rows)), dense[rows]
    )
    for span in transformer.discrete_spans():
        np.testing.assert_array_equal(
            table.code_of(span), transformer.transform(df)[:, span.start : span.stop].argmax(1)
        )


def test_a_thousand_code_column_costs_one_integer_a_row():
    from generators.layout import EncodedTable
    from generators.schema import infer_spec
    from generators.transforms import TableTransformer

    rng = np.random.default_rng(0)
    n = 20_000
    df = pd.DataFrame(
        {"dx": [f"D{c:04d}" for c in rng.integers(0, 1000, n)], "lab": rng.normal(size=n)}
    )
    spec = infer_spec(df)
    transformer = TableTransformer.fit(df, spec)
    table = EncodedTable.encode(transformer, df)
    held = table.scalars.nbytes + sum(c.nbytes for c in table.codes)
    assert transformer.width > 1000
    assert held < n * 40  # dense float32 would be n * width * 4 > n * 4000


def test_likeliest_modes_keep_a_numbers_mode_logits_and_still_draw_categories():
    """Spans a and b are a number's modes (not discrete), c and d categories: with
    ``likeliest_modes`` the modes decode as the logits' argmax every time, the categories are
    the very same draws as without (one random stream)."""
    layout = SpanLayout(SPANS)
    assert [d.tolist() for d in layout.discrete] == [[False, True], [False, True]]
    raw = torch.randn(2_000, 12)
    plain = layout.activate(raw, 0.2, torch.Generator().manual_seed(3), hard=True)
    likeliest = layout.activate(
        raw, 0.2, torch.Generator().manual_seed(3), hard=True, likeliest_modes=True
    )
    plain_m, likeliest_m, raw_m = (layout.from_model(x.numpy()) for x in (plain, likeliest, raw))
    for span in SPANS:
        cols = slice(span.start, span.stop)
        if span.activation == "tanh":
            np.testing.assert_array_equal(likeliest_m[:, cols], plain_m[:, cols])
        elif span.discrete:
            np.testing.assert_array_equal(likeliest_m[:, cols], plain_m[:, cols])
        else:
            np.testing.assert_array_equal(likeliest_m[:, cols], raw_m[:, cols])
            # drawn modes differ from the likeliest in a good share of rows
            drawn = plain_m[:, cols].argmax(1) != raw_m[:, cols].argmax(1)
            assert drawn.mean() > 0.2


def test_likeliest_modes_train_on_a_plain_softmax_of_the_modes():
    """While training, a number's mode blocks get no Gumbel noise (the mode is a function of
    the value, nothing to draw): softmax(logits / tau). Categories get the same noisy
    softmax as without the option, from the same random stream."""
    layout = SpanLayout(SPANS)
    raw = torch.randn(300, 12, dtype=torch.float64)
    plain = layout.activate(raw, 0.5, torch.Generator().manual_seed(4))
    likeliest = layout.activate(raw, 0.5, torch.Generator().manual_seed(4), likeliest_modes=True)
    plain_m, likeliest_m = layout.from_model(plain.numpy()), layout.from_model(likeliest.numpy())
    raw_m = torch.as_tensor(layout.from_model(raw.numpy()))
    for span in SPANS:
        cols = slice(span.start, span.stop)
        if span.activation == "tanh" or span.discrete:
            np.testing.assert_array_equal(likeliest_m[:, cols], plain_m[:, cols])
        else:
            expected = F.softmax(raw_m[:, cols] / 0.5, dim=1).numpy()
            np.testing.assert_allclose(likeliest_m[:, cols], expected, rtol=1e-12)
            assert not np.allclose(plain_m[:, cols], expected)
