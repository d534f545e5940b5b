"""CTGAN under differential privacy: the budget is kept and nothing is learnt outside it."""

import warnings

import numpy as np
import pandas as pd
import pytest

from generators.ctgan import CTGAN
from generators.schema import SpecError, infer_spec
from generators.transforms import TableTransformer
from tests.conftest import declared_spec, make_patients

SMALL = {
    "epochs": 3,
    "batch_size": 100,
    "generator_dim": [32],
    "discriminator_dim": [32],
    "embedding_dim": 16,
    "threads": 1,
}


@pytest.fixture(scope="module")
def declared():  # noqa: ANN201
    """A spec whose bounds a clinician would declare, wider than this sample's extremes."""
    df = make_patients(600, seed=0)
    return df, declared_spec(df)


def _fit(df: pd.DataFrame, spec, **settings):  # noqa: ANN001, ANN202
    model = CTGAN({**SMALL, **settings})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus warns about secure_mode being off
        report = model.fit(df, spec, seed=0)
    return model, report


def test_private_fit_keeps_the_budget_and_reports_it(declared) -> None:
    df, spec = declared
    model, report = _fit(df, spec, dp_epsilon=2.0)
    dp = report.privacy
    assert dp["epsilon"] <= 2.0 and dp["epsilon"] > 1.8  # the budget is spent, not exceeded
    assert dp["delta"] == pytest.approx(1 / (10 * len(df))) and dp["delta"] < 1 / len(df)
    assert dp["noise_multiplier"] > 0.5 and dp["steps"] == 3 * 6  # 3 epochs of 600/100 batches
    out = model.sample(500, seed=1)
    assert list(out.columns) == spec.names
    assert out["age"].between(0, 120).all() and out["creatinine"].dropna().between(0, 15).all()
    assert set(out["ward"].dropna()) <= {"cardio", "onco", "icu", "general"}
    again = CTGAN.load(model.save())
    pd.testing.assert_frame_equal(again.sample(50, seed=4), model.sample(50, seed=4))


def test_a_tighter_budget_means_more_noise(declared) -> None:
    df, spec = declared
    loose = _fit(df, spec, dp_epsilon=10.0)[1].privacy
    tight = _fit(df, spec, dp_epsilon=1.0)[1].privacy
    assert tight["noise_multiplier"] > 2 * loose["noise_multiplier"]


def test_private_transforms_come_from_the_spec_not_the_data(declared) -> None:
    df, spec = declared
    model, _ = _fit(df, spec, dp_epsilon=5.0)
    other = make_patients(600, seed=7)  # other patients, same spec
    assert model.transformer.to_dict() == TableTransformer.from_spec(spec).to_dict()
    assert TableTransformer.fit(other, spec).to_dict() != model.transformer.to_dict()
    age = next(t for t in model.transformer.transforms if t.column == "age")
    assert age.means == [60.0] and len(age.stds) == 1  # the declared 0..120, one mode


def test_undeclared_bounds_and_a_large_delta_are_refused(declared) -> None:
    df, spec = declared
    bare = spec.model_copy(
        update={
            "columns": [
                c.model_copy(update={"min": None}) if c.name == "age" else c for c in spec.columns
            ]
        }
    )
    with pytest.raises(SpecError, match=r"age \(min and max\)"):
        _fit(df, bare, dp_epsilon=1.0)
    with pytest.raises(ValueError, match="must be below 1/n"):
        _fit(df, spec, dp_epsilon=1.0, dp_delta=0.01)
    with pytest.raises(ValueError, match="dp_delta is set but dp_epsilon is not"):
        CTGAN({"dp_delta": 1e-6})


def test_plain_fit_is_unchanged_by_the_private_path() -> None:
    df = make_patients(300, seed=1)
    spec = infer_spec(df, target="died")
    model, report = _fit(df, spec)
    assert report.privacy is None and model._pac == 10
    assert np.isfinite(report.history[-1]["critic"])


def test_a_critic_step_in_passes_equals_one_pass() -> None:
    """The bounded-memory step (``dp_grad_memory_mb``) clips and sums each pass's per-row
    gradients and updates once: with the noise off, the same weights as one pass over all rows."""
    import torch
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    def one_step(rows_a_pass: int) -> list:
        torch.manual_seed(0)
        critic = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
        opt = torch.optim.SGD(critic.parameters(), lr=0.5)
        loader = DataLoader(TensorDataset(torch.zeros(40, 6)), batch_size=20)
        critic, opt, _ = PrivacyEngine(accountant="rdp").make_private(
            module=critic, optimizer=opt, data_loader=loader, noise_multiplier=0.0,
            max_grad_norm=0.05, poisson_sampling=False,
        )  # fmt: skip
        rows = torch.randn(30, 6, generator=torch.Generator().manual_seed(1))
        labels = (torch.arange(30) < 15).float()
        CTGAN._private_critic_step(critic, opt, rows, labels, rows_a_pass)
        return [p.detach().clone() for p in critic.parameters()]

    whole = one_step(30)
    for passes in (7, 1):
        for a, b in zip(one_step(passes), whole, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    before = torch.nn.Linear(6, 8).weight.detach()
    assert float((whole[0] - before).abs().max()) > 1e-4  # the step did move the weights


def test_a_wide_table_trains_in_bounded_memory_with_the_same_accounting(declared) -> None:
    df, spec = declared
    plain = _fit(df, spec, dp_epsilon=2.0)[1].privacy
    model, report = _fit(df, spec, dp_epsilon=2.0, dp_grad_memory_mb=0.02)  # a few rows a pass
    assert report.privacy["steps"] == plain["steps"]
    assert report.privacy["epsilon"] == pytest.approx(plain["epsilon"])
    assert report.privacy["noise_multiplier"] == pytest.approx(plain["noise_multiplier"])
    assert set(model.sample(200, seed=1)["ward"].dropna()) <= {"cardio", "onco", "icu", "general"}
