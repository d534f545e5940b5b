"""cart: the trees as arrays route rows as scikit-learn does, numbers are smoothed within their
leaf, missingness is its own step, the outcome link is kept, and copying is caught."""

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeRegressor

from evaluation.gate import decide
from evaluation.privacy import dcr
from generators import registry
from generators.cart import Cart, Tree, _silverman
from generators.schema import infer_spec
from tasks.config import GateConfig
from tasks.sample import row_hashes
from tasks.split import split_frame
from tasks.validation import coerce
from tests.conftest import coerced_patients, make_patients


def fitted(df: pd.DataFrame, spec, seed: int = 0, **settings) -> Cart:  # noqa: ANN001
    model = registry.create("cart", settings)
    model.fit(df, spec, seed=seed)
    return model


@pytest.fixture(scope="module")
def data():  # noqa: ANN201
    return coerced_patients(1200, seed=11)


def test_tree_arrays_route_rows_like_sklearn_missing_values_included() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    x[rng.random((400, 3)) < 0.2] = np.nan
    y = np.nan_to_num(x[:, 0]) * 2 + np.isnan(x[:, 1]) + rng.normal(0, 0.1, 400)
    model = DecisionTreeRegressor(min_samples_leaf=5, random_state=0).fit(x, y)
    fresh = rng.normal(size=(300, 3))
    fresh[rng.random((300, 3)) < 0.3] = np.nan
    np.testing.assert_array_equal(Tree.of(model).apply(fresh), model.apply(fresh))
    assert (Tree.constant().apply(fresh) == 0).all()


def test_silverman_bandwidth() -> None:
    assert _silverman(np.array([3.0])) == 0.0 and _silverman(np.array([2.0, 2.0, 2.0])) == 0.0
    values = np.sort(np.random.default_rng(1).normal(0, 2, 1000))
    assert _silverman(values) == pytest.approx(0.9 * 2 * 1000**-0.2, rel=0.1)


def test_visit_sequence_puts_missing_flags_before_values_and_the_target_last(data) -> None:
    df, _ = data
    spec = infer_spec(df, name="p", target="stage")
    model = fitted(df, spec)
    steps = [(s.kind, s.column) for s in model.steps]
    assert steps[-1] == ("category", "stage")
    assert steps.index(("missing", "creatinine")) + 1 == steps.index(("value", "creatinine"))
    data_order = fitted(df, spec, order="data")
    columns = [s.column for s in data_order.steps]
    assert columns.index("stage") == columns.index("creatinine") + 2  # where the data has it
    assert columns[-1] == "died"


def test_smoothed_numbers_are_new_values_and_stay_in_range(data) -> None:
    df, spec = data
    model = fitted(df, spec)
    out = model.sample(2000, seed=1)
    creat = out["creatinine"].dropna()
    assert creat.between(df["creatinine"].min(), df["creatinine"].max()).all()
    assert creat.round(1).eq(creat).all()  # the spec's one decimal kept
    raw = model._sample(2000, seed=1)  # before decoding: the smoothed offsets themselves
    value = next(s for s in model.steps if s.kind == "value" and s.column == "age")
    real = set(np.round(model.transformer.transform(df)[:, value.start], 6))
    drawn = np.round(raw[:, value.start], 6)
    assert np.isin(drawn, list(real)).mean() < 0.05  # donors are never handed out as they are


def test_the_outcome_link_is_kept(data) -> None:
    df, spec = data
    model = fitted(df, spec)
    out = model.sample(3000, seed=2)
    real = df.groupby("stage")["died"].mean()
    synth = out.groupby("stage")["died"].mean()
    assert synth.is_monotonic_increasing and synth[4] - synth[1] > 0.4  # real: 0.64
    assert (synth - real).abs().max() < 0.15
    assert out["died"].mean() == pytest.approx(df["died"].mean(), abs=0.03)


def test_without_smoothing_and_leaves_cart_copies_and_the_gate_catches_it(data) -> None:
    df, spec = data
    train, holdout, _ = split_frame(df, spec, 0.3, 0)
    modelled = [c.name for c in spec.modelled]
    forbidden = row_hashes(train[modelled])
    kinds = spec.kinds()
    gate = GateConfig().model_dump()

    def privacy(settings: dict) -> tuple[float, float]:
        model = fitted(train, spec, **settings)
        synth = model.sample(len(train), seed=1)
        copies = float(np.isin(row_hashes(synth[modelled]), forbidden).mean())
        return copies, dcr(train, holdout, synth, kinds, seed=0)["share"]

    copying = {"smoothing": False, "min_leaf": 1, "subsample": 1.0}
    copies, share = privacy(copying)
    assert copies > 0.3 and share > 0.7
    decision = decide({"exact_copies": int(copies * len(train)), "dcr_share": share}, gate)
    assert not decision.passed and "dcr_share" in decision.reasons[1]
    copies, share = privacy({})
    assert copies < 0.01 and share < gate["max_dcr_share"]


def test_leaf_size_is_the_privacy_knob(data) -> None:
    df, spec = data
    small, large = fitted(df, spec, min_leaf=2), fitted(df, spec, min_leaf=80)
    leaves = (
        [int((t.left < 0).sum()) for t in small.trees],
        [int((t.left < 0).sum()) for t in large.trees],
    )
    assert sum(leaves[0]) > 4 * sum(leaves[1])
    for tree in large.trees:  # every leaf holds at least min_leaf of the subsampled rows
        if tree.counts is not None and len(tree.left) > 1:
            assert tree.counts[tree.left < 0].sum(axis=1).min() >= 80


def test_fit_uses_threads_and_the_same_seed_gives_the_same_trees(data) -> None:
    df, spec = data
    one, two = fitted(df, spec, seed=3, threads=1), fitted(df, spec, seed=3, threads=2)
    pd.testing.assert_frame_equal(one.sample(500, seed=4), two.sample(500, seed=4))


def test_an_all_null_column_stays_null() -> None:
    raw = make_patients(200, seed=1).assign(lab=np.nan)
    spec = infer_spec(raw, name="p", target="died")
    model = fitted(coerce(raw, spec)[0], spec)
    out = model.sample(50, seed=1)
    assert len(out) == 50 and out["lab"].isna().all()


def test_sample_given_keeps_each_rows_condition_and_draws_the_rest_given_it() -> None:
    """A child record drawn given its parent's columns: one row per given row, those columns
    exactly as given, the rest drawn from trees that learnt them given those columns."""
    from tasks.validation import coerce

    raw = make_patients(600, seed=4)[["stage", "creatinine", "age", "sex", "died", "ward"]]
    spec = infer_spec(raw, name="p")  # no target: the spec's order is the visit order
    df = coerce(raw, spec)[0]
    model = registry.create("cart", {"order": "data"})
    model.fit(df, spec, seed=0)
    given = pd.DataFrame({"stage": [1] * 300 + [4] * 300, "creatinine": [1.0] * 300 + [None] * 300})
    drawn = model.sample_given(given, seed=1)
    assert len(drawn) == 600 and list(drawn.columns) == list(df.columns)
    assert drawn["stage"].tolist() == given["stage"].tolist()
    assert (
        drawn["creatinine"].iloc[:300].eq(1.0).all() and drawn["creatinine"].iloc[300:].isna().all()
    )
    # death follows stage in the real rows (0.8 per stage on the risk): so in the drawn ones
    real = df.groupby("stage")["died"].mean()
    late, early = drawn["died"].iloc[300:].mean(), drawn["died"].iloc[:300].mean()
    assert late - early > 0.5 * (real[4] - real[1]) > 0.1
    assert drawn.equals(model.sample_given(given, seed=1))  # same seed, same rows
    with pytest.raises(ValueError, match="must open the visit sequence"):
        model.sample_given(given[["creatinine"]], seed=1)  # stage comes first
    with pytest.raises(ValueError, match="must open the visit sequence"):
        model.sample_given(df[["stage", "age"]], seed=1)  # creatinine sits between them


def _wide_patients(n: int, seed: int) -> pd.DataFrame:
    """Age and stage drive the outcome (``make_patients``' rule); 20 lab columns, 30 % missing,
    are noise: a single tree on them is unstable, as on a wide trial table."""
    df = make_patients(n, seed=seed)[["age", "stage", "died"]]
    rng = np.random.default_rng(seed + 100)
    noise = rng.normal(size=(n, 20)).round(2)
    noise[rng.random(noise.shape) < 0.3] = np.nan
    return pd.concat([df, pd.DataFrame(noise, columns=[f"lab{i}" for i in range(20)])], axis=1)


def test_a_forest_for_the_target_draws_closer_to_the_true_outcome_risk() -> None:
    """The target drawn from a bagged forest: its risk given the other columns is nearer the
    true risk than one tree's (each row drawn 25 times given its columns; rule of
    ``make_patients``: died when 0.04 (age - 60) + 0.8 (stage - 2) + N(0, 1) > 0.8)."""
    from scipy.stats import norm

    raw = _wide_patients(400, seed=0)
    spec = infer_spec(raw, name="wide", target="died")
    train = coerce(raw, spec)[0]
    test = coerce(_wide_patients(300, seed=1), spec)[0]
    risk = norm.cdf(0.04 * (test["age"] - 60) + 0.8 * (test["stage"] - 2) - 0.8)
    given = test.drop(columns=["died"]).loc[test.index.repeat(25)].reset_index(drop=True)

    def error(model: Cart) -> float:
        drawn = model.sample_given(given, seed=1)["died"].to_numpy(dtype=float)
        return float(np.abs(drawn.reshape(len(test), 25).mean(axis=1) - risk).mean())

    one, forest = fitted(train, spec, target_trees=0), fitted(train, spec, target_trees=25)
    assert not one.forests and [len(t) for t in forest.forests.values()] == [25]
    target = next(k for k, s in enumerate(forest.steps) if s.column == "died")
    members = forest.forests[target]
    assert all(m.counts[m.left < 0].sum() == len(train) for m in members)  # each a bootstrap
    assert len({m.counts[m.left < 0].tobytes() for m in members}) == 25  # of its own rows
    tree_error, forest_error = error(one), error(forest)
    assert forest_error < 0.8 * tree_error, (forest_error, tree_error)  # measured 0.11 vs 0.16+


def test_a_forest_checkpoint_alone_samples_the_same_rows(data) -> None:
    df, spec = data
    model = fitted(df, spec, target_trees=4)
    again = registry.load(model.save())
    assert [len(t) for t in again.forests.values()] == [4]
    pd.testing.assert_frame_equal(model.sample(300, seed=5), again.sample(300, seed=5))
