"""Data-parallel training (generators.distributed): two real processes joined by gloo on CPU, as
two GPUs of one machine would be by NCCL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generators import distributed, registry
from generators.ctgan import CTGANConfig
from generators.schema import infer_spec
from tasks.validation import coerce
from tests.conftest import make_patients


def _half_batch_gradient(x: np.ndarray, y: np.ndarray, send) -> np.ndarray:  # noqa: ANN001
    """One replica: its half of the batch, its gradient, then the all-reduce."""
    group = distributed.current()
    torch.manual_seed(0)
    model = torch.nn.Linear(x.shape[1], 1)
    group.broadcast([model])
    half = slice(group.rank, None, group.world)
    loss = ((model(torch.as_tensor(x[half])) - torch.as_tensor(y[half])) ** 2).mean()
    loss.backward()
    group.average_gradients(model)
    send(group.rank)
    return np.concatenate([model.weight.grad.numpy().ravel(), model.bias.grad.numpy()])


def test_averaged_gradients_are_the_full_batch_gradient() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32)
    heard: list[int] = []
    grads = distributed.launch(2, _half_batch_gradient, x, y, on_message=heard.append)

    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    ((model(torch.as_tensor(x)) - torch.as_tensor(y)) ** 2).mean().backward()
    full = np.concatenate([model.weight.grad.numpy().ravel(), model.bias.grad.numpy()])
    for grad in grads:
        np.testing.assert_allclose(grad, full, rtol=1e-5, atol=1e-6)
    model.zero_grad()
    ((model(torch.as_tensor(x[::2])) - torch.as_tensor(y[::2])) ** 2).mean().backward()
    assert not np.allclose(model.weight.grad.numpy().ravel(), full[:5], atol=1e-3)  # a half alone
    assert sorted(heard) == [0, 1]


def _fails_on_rank_one(send) -> None:  # noqa: ANN001
    if distributed.current().rank == 1:
        raise ValueError("replica trouble")


def test_a_failing_replica_fails_the_launch_with_its_traceback() -> None:
    with pytest.raises(RuntimeError, match="(?s)process 1.*replica trouble"):
        distributed.launch(2, _fails_on_rank_one)
    with pytest.raises(ValueError, match="at least 2"):
        distributed.launch(1, _fails_on_rank_one)


def test_ctgan_trains_data_parallel_in_two_processes() -> None:
    raw = make_patients(300, seed=2)
    spec = infer_spec(raw, name="p", target="died", id_columns=["patient_id"])
    df = coerce(raw, spec)[0]
    settings = {
        "epochs": 3,
        "batch_size": 100,
        "generator_dim": [64],
        "discriminator_dim": [64],
        "embedding_dim": 32,
        "data_parallel": 2,
    }
    model = registry.create("ctgan", settings)
    epochs: list[int] = []
    report = model.fit(df, spec, seed=0, on_epoch=lambda e, total, losses: epochs.append(e))
    assert epochs == [1, 2, 3] and [h["epoch"] for h in report.history] == [1, 2, 3]
    assert all(np.isfinite(h["critic"]) for h in report.history)
    # the launcher checked the two replicas ended with identical weights; the fitted model is
    # this object now, and it samples like any other
    synth = model.sample(200, seed=1)
    assert list(synth.columns) == list(df.columns) and len(synth) == 200
    assert set(synth["sex"].dropna()) <= {"F", "M"}
    again = registry.get("ctgan").load(model.save()).sample(200, seed=1)
    assert again.equals(synth)


def test_data_parallel_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        CTGANConfig(data_parallel=2, dp_epsilon=1.0)
    with pytest.raises(ValueError, match="fewer rows a process than pac"):
        CTGANConfig(data_parallel=8, batch_size=40, pac=10)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_ctgan_data_parallel_on_two_gpus() -> None:
    raw = make_patients(300, seed=2)
    spec = infer_spec(raw, name="p", target="died")
    df = coerce(raw, spec)[0]
    model = registry.create("ctgan", {"epochs": 2, "batch_size": 100, "data_parallel": 2})
    report = model.fit(df, spec, seed=0)
    assert len(report.history) == 2 and len(model.sample(100, seed=0)) == 100
