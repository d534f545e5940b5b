"""The contract every shipped generator keeps, one parametrised test per promise.

A new generator joins by being listed in the registry's built-ins and given fast settings here;
until then the first test fails, so none ships untested.
"""

import pandas as pd
import pytest
import torch

from generators import registry
from generators.base import Checkpointing, ResumeError
from generators.schema import infer_spec
from tasks.validation import coerce
from tests.conftest import make_patients

# Small models and few epochs: the contract is about behaviour, not quality.
SETTINGS = {
    "cart": {},
    "ctgan": {
        "epochs": 40,
        "batch_size": 100,
        "generator_dim": [64],
        "discriminator_dim": [64],
        "embedding_dim": 32,
        "threads": 1,
    },
    "dp": {"dp_epsilon": 50.0},  # differential privacy: the contract, not the noise
    "forestflow": {"levels": 5, "trees": 10, "duplicates": 5},
    "gaussian_copula": {},
    "tabddpm": {
        "epochs": 100,
        "batch_size": 100,
        "timesteps": 20,
        "hidden_dims": [64, 64],
        "time_dim": 16,
        "threads": 1,
    },
    "tvae": {
        "epochs": 60,
        "batch_size": 100,
        "compress_dims": [64],
        "decompress_dims": [64],
        "embedding_dim": 32,
        "threads": 1,
    },
}


def test_every_builtin_generator_is_under_contract() -> None:
    assert sorted(SETTINGS) == registry.builtin()


@pytest.fixture(scope="module")
def data():  # noqa: ANN201
    # two constant columns and one never recorded (all null)
    raw = make_patients(500, seed=4).assign(site="A", dose=1.5, lactate=float("nan"))
    # lactate's range declared (as differential privacy needs every range to be)
    spec = infer_spec(raw, name="p", target="died").with_ranges({"lactate": (0.0, 20.0)})
    return coerce(raw, spec)[0], spec


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def fitted(request, data):  # noqa: ANN001, ANN201
    df, spec = data
    model = registry.create(request.param, SETTINGS[request.param])
    report = model.fit(df, spec, seed=0)
    return model, report


def test_fit_reports_its_work(fitted) -> None:
    _, report = fitted
    assert report.epochs >= 1 and len(report.history) == report.epochs and report.seconds > 0


def test_sample_keeps_columns_dtypes_bounds_and_makes_fresh_ids(data, fitted) -> None:
    df, _ = data
    model, _ = fitted
    out = model.sample(600, seed=1)
    assert len(out) == 600 and list(out.columns) == list(df.columns)
    assert out.dtypes.astype(str).to_dict() == df.dtypes.astype(str).to_dict()
    assert out["patient_id"].is_unique and out["patient_id"].min() > df["patient_id"].max()
    assert out["age"].between(df["age"].min(), df["age"].max()).all()
    assert (out["age"] == out["age"].round()).all()  # integers stay integers
    assert set(out["sex"]) <= {"F", "M"} and set(out["stage"]) <= {1, 2, 3, 4}
    assert set(out["ward"].dropna()) <= set(df["ward"].dropna())
    assert (out["site"] == "A").all() and (out["dose"] == 1.5).all()  # constants stay constant
    if model.name == "dp":  # under DP the missing share is itself measured, with noise
        assert out["lactate"].isna().mean() > 0.97
    else:
        assert out["lactate"].isna().all()  # a column never recorded is never invented
    assert out["admitted"].between(df["admitted"].min(), df["admitted"].max()).all()


def test_missing_shares_are_reproduced(data, fitted) -> None:
    df, _ = data
    model, _ = fitted
    out = model.sample(2000, seed=2)
    for col in ("creatinine", "ward"):
        assert out[col].isna().mean() == pytest.approx(df[col].isna().mean(), abs=0.08), col
    assert out["age"].notna().all()  # not nullable in the spec: never missing


def test_same_seed_same_rows_other_seed_other_rows(fitted) -> None:
    model, _ = fitted
    pd.testing.assert_frame_equal(model.sample(100, seed=5), model.sample(100, seed=5))
    assert not model.sample(100, seed=5).equals(model.sample(100, seed=6))


def test_checkpoint_alone_samples_the_same_rows(fitted) -> None:
    model, _ = fitted
    files = model.save()
    assert set(files) == {"model.json", "weights.pt"}
    again = registry.load(files)
    assert type(again) is type(model)
    pd.testing.assert_frame_equal(again.sample(100, seed=7), model.sample(100, seed=7))


class _Killed(Exception):
    """Stands in for a worker killed mid-training."""


def test_interrupted_training_resumes_to_the_same_model(data, fitted) -> None:
    model, _ = fitted
    if not model.resumable:
        pytest.skip(f"{model.name} does not train in epochs")
    df, spec = data
    settings = {**SETTINGS[model.name], "epochs": 5}
    saved: list[bytes] = []

    def killed_in_epoch_3(epoch: int, epochs: int, losses: dict) -> None:
        if epoch == 3:
            raise _Killed

    first = registry.create(model.name, settings)
    with pytest.raises(_Killed):
        first.fit(
            df,
            spec,
            seed=0,
            on_epoch=killed_in_epoch_3,
            checkpointing=Checkpointing(every=2, save=saved.append),
        )
    assert len(saved) == 1  # after epoch 2

    resumed = registry.create(model.name, settings)
    report = resumed.fit(
        df, spec, seed=0, checkpointing=Checkpointing(every=2, save=saved.append, resume=saved[0])
    )
    assert report.resumed_from == 2
    assert [h["epoch"] for h in report.history] == [1, 2, 3, 4, 5]
    assert len(saved) == 2  # after epoch 4, none after the last

    straight = registry.create(model.name, settings)
    straight_report = straight.fit(df, spec, seed=0)
    assert straight_report.history == report.history
    pd.testing.assert_frame_equal(resumed.sample(200, seed=3), straight.sample(200, seed=3))

    other = registry.create(model.name, {**settings, "epochs": 6})
    with pytest.raises(ResumeError, match="other data, settings"):
        other.fit(df, spec, seed=0, checkpointing=Checkpointing(2, saved.append, saved[0]))
    with pytest.raises(ResumeError):  # other data
        registry.create(model.name, settings).fit(
            df.iloc[:400], spec, seed=0, checkpointing=Checkpointing(2, saved.append, saved[0])
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_cuda_fit_sample_and_reload(data, name) -> None:
    df, spec = data
    model = registry.create(name, {**SETTINGS[name], "device": "cuda"})
    model.fit(df, spec, seed=0)
    out = model.sample(300, seed=1)
    assert len(out) == 300 and list(out.columns) == list(df.columns)
    again = registry.load(model.save())
    pd.testing.assert_frame_equal(again.sample(100, seed=7), model.sample(100, seed=7))
