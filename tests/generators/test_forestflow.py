"""forestflow: the kept trees predict as scikit-learn's fitted regressors do, one flow per outcome
class keeps the outcome link, a condition on the outcome draws from its class's flow, the leaf
size blurs, and no real row comes back."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor

from evaluation.privacy import dcr
from generators import registry
from generators.conditions import resolve
from generators.forestflow import Binned, Forest, ForestFlow, ForestFlowConfig, boost, flow_shape
from generators.schema import infer_spec
from tasks.config import GateConfig
from tasks.sample import row_hashes
from tasks.split import split_frame
from tasks.validation import coerce
from tests.conftest import coerced_patients, make_patients

FAST = {"levels": 8, "trees": 20, "duplicates": 10}


def fitted(df: pd.DataFrame, spec, seed: int = 0, **settings) -> ForestFlow:  # noqa: ANN001
    model = registry.create("forestflow", {**FAST, **settings})
    model.fit(df, spec, seed=seed)
    return model


@pytest.fixture(scope="module")
def data():  # noqa: ANN201
    return coerced_patients(1200, seed=11)


@pytest.fixture(scope="module")
def model(data) -> ForestFlow:  # noqa: ANN001
    df, spec = data
    return fitted(df, spec)


def test_boosting_on_shared_bins_fits_what_histgradientboosting_fits() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    x[rng.random((2000, 3)) < 0.1] = np.nan  # missing values take the learnt side
    ys = [np.nan_to_num(x[:, 0]) ** 2 - np.isnan(x[:, 1]), np.sin(np.nan_to_num(x[:, 2]))]
    cfg = ForestFlowConfig(trees=15, max_leaf_nodes=15, learning_rate=0.2)
    binned = Binned(x, seed=0, threads=2)
    ours = [boost(binned, y, cfg, min_samples_leaf=30, threads=2) for y in ys]
    forest = Forest.of(ours, levels=1, variables=2)
    fresh = rng.normal(size=(500, 3))
    fresh[rng.random((500, 3)) < 0.2] = np.nan
    got = forest.velocity(0, fresh, threads=2)
    for v, y in enumerate(ys):
        reference = HistGradientBoostingRegressor(
            max_iter=15,
            max_leaf_nodes=15,
            learning_rate=0.2,
            min_samples_leaf=30,
            early_stopping=False,
            random_state=0,
        ).fit(x, y)
        np.testing.assert_allclose(got[:, v], reference.predict(fresh), rtol=1e-9, atol=1e-12)
    again = Forest.from_tensors(forest.tensors("f"), "f", levels=1, variables=2)
    np.testing.assert_array_equal(again.velocity(0, fresh, threads=1), got)
    with pytest.raises(ValueError, match="does not hold 2 x 2 models"):
        Forest.from_tensors(forest.tensors("f"), "f", levels=2, variables=2)


def test_one_flow_per_outcome_class_in_the_training_shares(data, model) -> None:
    df, spec = data
    assert len(model.flows) == 2 and all(f is not None for f in model.flows)
    assert flow_shape(spec) == (len(model.columns), 2)  # the time budget's estimate counts these
    assert model.shares[1] == pytest.approx(df["died"].mean())
    assert len(model.flows[0].trees) == FAST["levels"] * len(model.columns) + 1
    out = model.sample(3000, seed=1)
    assert out["died"].mean() == pytest.approx(df["died"].mean(), abs=0.03)


def test_the_outcome_link_is_kept(data, model) -> None:
    df, _ = data
    out = model.sample(3000, seed=2)
    real = df.groupby("stage")["died"].mean()
    synth = out.groupby("stage")["died"].mean()
    assert synth.is_monotonic_increasing and synth[4] - synth[1] > 0.4  # real: 0.64
    assert (synth - real).abs().max() < 0.15
    gap = out.loc[out["died"] == 1, "age"].mean() - out.loc[out["died"] == 0, "age"].mean()
    real_gap = df.loc[df["died"] == 1, "age"].mean() - df.loc[df["died"] == 0, "age"].mean()
    assert gap == pytest.approx(real_gap, rel=0.35) and real_gap > 10


def test_a_condition_on_the_outcome_draws_from_its_class_flow(model) -> None:
    wanted = resolve(model.transformer, {"died": 1}, [])
    decoded = model.transformer.inverse(model._sample_given(500, seed=0, conditions=wanted))
    assert (decoded["died"] == 1).all()  # drawn from the class's flow, nothing rejected
    other = resolve(model.transformer, {"stage": 4}, [])
    assert len(model._sample_given(50, seed=0, conditions=other)) == 50  # the caller filters


def test_numbers_stay_in_range_and_keep_their_decimals(data, model) -> None:
    df, _ = data
    out = model.sample(2000, seed=3)
    creat = out["creatinine"].dropna()
    assert creat.between(df["creatinine"].min(), df["creatinine"].max()).all()
    assert creat.round(1).eq(creat).all()
    assert out["creatinine"].isna().mean() == pytest.approx(
        df["creatinine"].isna().mean(), abs=0.05
    )


def test_no_real_row_comes_back(data) -> None:
    df, spec = data
    train, holdout, _ = split_frame(df, spec, 0.3, 0)
    modelled = [c.name for c in spec.modelled]
    synth = fitted(train, spec, min_leaf=1).sample(len(train), seed=1)  # the tightest leaves
    assert not np.isin(row_hashes(synth[modelled]), row_hashes(train[modelled])).any()
    # no closer to its training rows than to unseen patients beyond the DCR share's noise here
    # (0.54-0.58 over the attack's seeds; the gate's limit is 0.55: benchmarks/README.md)
    shares = [dcr(train, holdout, synth, spec.kinds(), seed=s)["share"] for s in range(3)]
    assert np.mean(shares) < GateConfig().max_dcr_share + 0.05


def test_leaf_size_bounds_the_leaves(data) -> None:
    df, spec = data
    small, large = fitted(df, spec, min_leaf=1, levels=2), fitted(df, spec, min_leaf=60, levels=2)

    def leaves(m: ForestFlow) -> int:
        return int(sum(f.nodes["is_leaf"].sum() for f in m.flows))

    assert leaves(small) > 2 * leaves(large)


def test_the_same_seed_gives_the_same_rows_whatever_the_threads(data) -> None:
    df, spec = data
    one = fitted(df.iloc[:300], spec, seed=3, threads=1, levels=3)
    two = fitted(df.iloc[:300], spec, seed=3, threads=2, levels=3)
    pd.testing.assert_frame_equal(one.sample(300, seed=4), two.sample(300, seed=4))


def test_without_a_categorical_target_one_flow_learns_every_column() -> None:
    raw = make_patients(300, seed=2)
    spec = infer_spec(raw, name="p")
    model = fitted(coerce(raw, spec)[0], spec, levels=3)
    assert len(model.flows) == 1 and model.target is None
    out = model.sample(200, seed=0)
    assert set(out["died"]) <= {0, 1} and 0 < out["died"].mean() < 1


def test_a_many_valued_category_is_one_ranked_variable() -> None:
    raw = make_patients(600, seed=5)
    rng = np.random.default_rng(5)
    codes = [f"I{k:02d}" for k in range(40)]
    weights = 0.85 ** np.arange(40) / (0.85 ** np.arange(40)).sum()  # I00: 15 %
    raw["diagnosis"] = rng.choice(codes, len(raw), p=weights)
    spec = infer_spec(raw, name="p", target="died")
    seen = raw["diagnosis"].nunique()  # 29: the rarest codes never occur
    model = fitted(coerce(raw, spec)[0], spec, levels=20, max_onehot=16)
    assert len(model.ordinal) == 1 and model.ordinal[0][1] == seen
    assert flow_shape(spec, 16) == (model.variables, 2)
    assert model.variables == len(model.columns) + 1
    out = model.sample(2000, seed=1)
    assert set(out["diagnosis"]) <= set(codes)
    real = raw["diagnosis"].value_counts(normalize=True)
    synth = out["diagnosis"].value_counts(normalize=True)
    assert "I00" in synth.index[:2] and synth["I00"] == pytest.approx(real["I00"], abs=0.05)
    assert synth.reindex(real.index[:10], fill_value=0).sum() > 0.6  # real: 0.80
    again = registry.load(model.save())
    pd.testing.assert_frame_equal(again.sample(200, seed=2), model.sample(200, seed=2))


def test_smoothing_adds_noise_of_its_scale_to_the_generated_variables(model) -> None:
    def rows(smoothing: float) -> np.ndarray:
        model.config = model.config.model_copy(update={"smoothing": smoothing})
        return model._sample(3000, seed=9)

    try:
        plain, smoothed = rows(0.0), rows(0.1)
    finally:
        model.config = model.config.model_copy(update={"smoothing": 0.0})
    age = model.transformer.spans[[s.column for s in model.transformer.spans].index("age")]
    j = model.columns.index(age.start)  # age's offset: a flow variable, scaled to [-1, 1]
    half_range = (model.high[j] - model.low[j]) / 2
    moved = (smoothed[:, age.start] - plain[:, age.start]) / half_range
    inside = np.abs(smoothed[:, age.start] - model.low[j] - half_range) < 0.9 * half_range
    assert np.std(moved[inside]) == pytest.approx(0.1, rel=0.15)  # same path, then the noise
