"""The contract every shipped generator of patient histories keeps (the sequence counterpart of
``test_contract``): a new one joins by being a sequence built-in and given fast settings here."""

import numpy as np
import pandas as pd
import pytest
import torch

from generators import registry
from generators.schema import infer_spec
from generators.sequence import check_sequences
from tests.generators.test_dgan import make_visits, visits_spec
from tests.generators.test_signal import beats_spec, make_beats

SETTINGS = {
    "dgan": {
        "epochs": 20,
        "batch_size": 40,
        "static_dim": [32],
        "rnn_hidden": 16,
        "critic_dim": [32],
        "threads": 1,
    },
    "signal": {"max_components": 8},
}
# each family on the shape of data it takes: irregular visits, fixed-length signals
DATA = {"dgan": (make_visits, visits_spec), "signal": (make_beats, beats_spec)}
EPOCHS = {"signal": 1}  # one pass


def test_every_builtin_sequence_generator_is_under_contract() -> None:
    assert sorted(SETTINGS) == registry.builtin("sequence")
    assert all(registry.kind_of(name) == "sequence" for name in SETTINGS)


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def fitted(request):  # noqa: ANN001, ANN201
    make, spec_of = DATA[request.param]
    df = make(60, seed=2)
    spec = spec_of(df)
    model = registry.create(request.param, SETTINGS[request.param])
    report = model.fit(df, spec, seed=0)
    return df, spec, model, report


def test_fit_reports_its_work(fitted) -> None:  # noqa: ANN001
    _, _, model, report = fitted
    expected = EPOCHS.get(model.name) or SETTINGS[model.name]["epochs"]
    assert report.epochs == expected and report.seconds > 0


def test_sample_is_whole_patients_in_the_input_columns(fitted) -> None:  # noqa: ANN001
    df, spec, model, _ = fitted
    synth = model.sample(30, seed=1, first_id=500)
    assert list(synth.columns) == list(df.columns)
    assert sorted(synth["pid"].unique()) == list(range(500, 530))
    check_sequences(synth, spec, "synthetic")  # times increase, static columns constant
    for column in spec.columns:  # categories only from the data's
        if column.is_discrete and column.name != "pid":
            assert set(synth[column.name].dropna()) <= set(df[column.name].dropna())
    assert synth.groupby("pid").size().max() <= df.groupby("pid").size().max()


def test_same_seed_same_patients_other_seed_other_patients(fitted) -> None:  # noqa: ANN001
    _, _, model, _ = fitted
    pd.testing.assert_frame_equal(model.sample(20, seed=3), model.sample(20, seed=3))
    assert not model.sample(20, seed=3).equals(model.sample(20, seed=4))


def test_checkpoint_alone_samples_the_same_patients(fitted) -> None:  # noqa: ANN001
    _, _, model, _ = fitted
    files = model.save()
    assert set(files) == {"model.json", "weights.pt"}
    pd.testing.assert_frame_equal(registry.load(files).sample(20, seed=5), model.sample(20, seed=5))


def test_a_table_without_sequence_roles_is_refused(fitted) -> None:  # noqa: ANN001
    df, spec, model, _ = fitted
    fresh = registry.create(model.name, SETTINGS[model.name])
    with pytest.raises(ValueError, match="sequence roles"):
        fresh.fit(df, infer_spec(df, target=spec.target, id_columns=["pid"]), seed=0)
    with pytest.raises(RuntimeError, match="before fit"):
        fresh.sample(5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_cuda_fit_sample_and_reload(name) -> None:  # noqa: ANN001
    make, spec_of = DATA[name]
    df = make(40, seed=3)
    spec = spec_of(df)
    fast = {"epochs": 3} if "epochs" in SETTINGS[name] else {}
    model = registry.create(name, {**SETTINGS[name], "device": "cuda", **fast})
    model.fit(df, spec, seed=0)
    synth = model.sample(10, seed=1)
    check_sequences(synth, spec, "cuda")
    assert np.isfinite(synth[spec.sequence.time].to_numpy(dtype=float)).all()
    pd.testing.assert_frame_equal(registry.load(model.save()).sample(10, seed=1), synth)
