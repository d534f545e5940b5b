"""The signal family: fixed-length signals through principal components and a mixture."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation import timeseries as ts
from flows.timeseries_data import with_sequence
from generators import registry
from generators.schema import infer_spec
from generators.sequence import check_sequences
from generators.signal import _alignment, _shifted, signal_shape
from tests.generators.test_dgan import make_visits, visits_spec


def make_beats(patients: int = 120, samples: int = 48, seed: int = 0) -> pd.DataFrame:
    """Two kinds of beats on one grid: 'slow' ones with one bump, 'fast' ones with two, each
    with its own amplitude and phase, sensor noise on every sample; age as a static number."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, samples)
    rows = []
    for pid in range(patients):
        kind = "fast" if pid % 3 == 0 else "slow"
        cycles = 2 if kind == "fast" else 1
        amplitude, phase = rng.uniform(0.8, 1.2), rng.uniform(-0.05, 0.05)
        wave = amplitude * np.sin(2 * np.pi * cycles * (t + phase)) + rng.normal(0, 0.05, samples)
        age = int(rng.integers(30, 80))
        for k in range(samples):
            rows.append(
                {"pid": 500 + pid, "ms": 4 * k, "kind": kind, "age": age, "mv": round(wave[k], 3)}
            )
    return pd.DataFrame(rows)


def beats_spec(df: pd.DataFrame):  # noqa: ANN201
    spec = infer_spec(df, name="beats", target="kind", id_columns=["pid"])
    return with_sequence(spec, "pid", "ms", ["kind", "age"])


def make_moving_peaks(patients: int = 160, samples: int = 64, seed: int = 0) -> pd.DataFrame:
    """One narrow peak a beat, at a place that moves up to 8 samples from beat to beat, on a
    flat baseline; the outcome is where the peak sits (early or late)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples)
    rows = []
    for pid in range(patients):
        centre = samples // 2 + int(rng.integers(-8, 9))
        wave = rng.uniform(0.9, 1.1) * np.exp(-0.5 * ((t - centre) / 1.5) ** 2)
        wave += rng.normal(0, 0.02, samples)
        kind = "early" if centre < samples // 2 else "late"
        for k in range(samples):
            rows.append({"pid": pid, "ms": 2 * k, "kind": kind, "mv": round(wave[k], 3)})
    return pd.DataFrame(rows)


def peaks_spec(df: pd.DataFrame):  # noqa: ANN201
    return with_sequence(
        infer_spec(df, name="peaks", target="kind", id_columns=["pid"]), "pid", "ms", ["kind"]
    )


ROLES = ts.Roles(
    id="pid",
    time="ms",
    static=["kind", "age"],
    temporal=["mv"],
    kinds={"kind": "categorical", "age": "numeric", "mv": "numeric"},
    target="kind",
)


@pytest.fixture(scope="module")
def fitted():  # noqa: ANN201
    df = make_beats(120, seed=1)
    spec = beats_spec(df)
    model = registry.create("signal")
    report = model.fit(df, spec, seed=0)
    return df, spec, model, report


def test_the_shape_it_takes_and_what_it_refuses() -> None:
    df = make_beats(30)
    assert signal_shape(df, beats_spec(df)) is None
    visits = make_visits(30)
    assert "not one fixed length" in signal_shape(visits, visits_spec(visits))
    shifted = df.copy()
    shifted.loc[shifted["pid"] == 500, "ms"] += 1  # one patient on another grid
    assert "different times" in signal_shape(shifted, beats_spec(df))
    holes = df.copy()
    holes.loc[3, "mv"] = np.nan
    assert "missing values" in signal_shape(holes, beats_spec(df))
    with pytest.raises(ValueError, match="fixed-length numeric signals.*use dgan"):
        registry.create("signal").fit(visits, visits_spec(visits))


def test_beats_keep_their_kind_grid_bounds_and_types(fitted) -> None:  # noqa: ANN001
    df, spec, model, report = fitted
    assert report.epochs == 1 and model.meta["components"]["mv"] >= 2
    synth = model.sample(90, seed=2, first_id=10)
    check_sequences(synth, spec, "synthetic")
    assert list(synth.columns) == list(df.columns) and dict(synth.dtypes) == dict(df.dtypes)
    assert sorted(synth["pid"].unique()) == list(range(10, 100))
    assert (synth.groupby("pid").size() == 48).all()
    assert (synth.groupby("pid")["ms"].apply(list).map(tuple) == tuple(range(0, 192, 4))).all()
    assert synth["mv"].between(df["mv"].min(), df["mv"].max()).all()
    assert (synth["mv"].round(3) == synth["mv"]).all() and synth["age"].between(30, 79).all()
    share_fast = synth.groupby("pid")["kind"].first().eq("fast").mean()
    assert 0.2 < share_fast < 0.5  # a third of the real ones
    # the outcome's link: fast beats cross zero about twice as often as slow ones
    crossings = synth.groupby("pid").apply(
        lambda p: int((np.diff(np.sign(p["mv"].to_numpy())) != 0).sum()), include_groups=False
    )
    kinds = synth.groupby("pid")["kind"].first()
    assert crossings[kinds == "fast"].median() >= crossings[kinds == "slow"].median() + 1.5


def test_faithful_private_and_useful_on_unseen_beats(fitted) -> None:  # noqa: ANN001
    df, _, model, _ = fitted
    holdout = make_beats(60, seed=9)
    synth = model.sample(120, seed=3)
    assert ts.discriminative_score(df, synth, ROLES, seed=0)["score"] < 0.15
    utility = ts.outcome_tstr(df, holdout, synth, ROLES, seed=0)
    assert utility["tstr_auc"] > 0.95 * utility["trtr_auc"]
    nearest = ts.nearest_sequence(df, holdout, synth, ROLES)
    assert nearest["copies"] == 0 and nearest["share"] < 0.5 + nearest["share_noise"]


def test_same_seed_same_beats_and_the_checkpoint_alone_samples_them(fitted) -> None:  # noqa: ANN001
    _, _, model, _ = fitted
    pd.testing.assert_frame_equal(model.sample(20, seed=4), model.sample(20, seed=4))
    assert not model.sample(20, seed=4).equals(model.sample(20, seed=5))
    files = model.save()
    assert set(files) == {"model.json", "weights.pt"}
    pd.testing.assert_frame_equal(registry.load(files).sample(20, seed=4), model.sample(20, seed=4))


def test_small_groups_are_pooled_and_keep_their_categories() -> None:
    df = make_beats(60, seed=2)
    df["site"] = np.where(df["pid"] < 504, "rare", "common")  # 4 patients: below min_group
    spec = infer_spec(df, name="beats", target="kind", id_columns=["pid"])
    spec = with_sequence(spec, "pid", "ms", ["kind", "age", "site"])
    model = registry.create("signal")
    model.fit(df, spec, seed=0)
    pooled = model.meta["groups"][-1]
    assert pooled["patients"] == 4 and all(v[1] == "rare" for v in pooled["values"])
    synth = model.sample(300, seed=1)
    rare = synth.groupby("pid")["site"].first().eq("rare").mean()
    assert 0.0 < rare < 0.2  # 4 of 60


def test_alignment_finds_each_beats_shift_and_undoes_it() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(64)
    offsets = rng.integers(-6, 7, 40)
    beats = np.exp(-0.5 * ((t[None, :] - 32 - offsets[:, None]) / 2.0) ** 2)
    shifts = _alignment([beats], largest=8)
    # each beat read `shift` samples later puts its peak in one place (the offsets' centre)
    assert np.ptp(shifts - offsets) == 0
    aligned = _shifted(beats, shifts)
    assert np.ptp(aligned.argmax(1)) == 0
    np.testing.assert_allclose(_shifted(aligned, -shifts)[:, 10:54], beats[:, 10:54])


def test_aligned_beats_keep_a_moving_peak_sharp_and_round_trip() -> None:
    df = make_moving_peaks(160, seed=1)
    spec = peaks_spec(df)
    plain, aligned = registry.create("signal"), registry.create("signal", {"align": 0.1})
    plain.fit(df, spec, seed=0)
    aligned.fit(df, spec, seed=0)
    assert aligned.meta["largest_shift"] == 6 and plain.meta["largest_shift"] == 0

    def heights(frame: pd.DataFrame) -> float:
        return float(frame.groupby("pid")["mv"].max().median())

    real = heights(df)  # about 1.0
    # a linear basis averages peaks at different places: lower and wider; aligned, they stay
    assert abs(heights(aligned.sample(160, seed=2)) - real) < 0.05
    assert heights(plain.sample(160, seed=2)) < real - 0.1
    synth = aligned.sample(160, seed=2)
    early = synth.groupby("pid").apply(
        lambda p: int(p["mv"].to_numpy().argmax()), include_groups=False
    )
    kinds = synth.groupby("pid")["kind"].first()
    assert early[kinds == "early"].median() < early[kinds == "late"].median()  # the outcome's link
    files = aligned.save()
    pd.testing.assert_frame_equal(
        registry.load(files).sample(30, seed=4), aligned.sample(30, seed=4)
    )
