import numpy as np
import pandas as pd
import pytest
import torch

from generators import registry
from generators.base import Generator, native_bf16
from generators.schema import infer_spec
from tasks.validation import coerce

FAST = {
    "epochs": 3,
    "batch_size": 100,
    "pac": 10,
    "generator_dim": (64,),
    "discriminator_dim": (64,),
    "embedding_dim": 32,
    "threads": 1,
}


@pytest.fixture(scope="module")
def data():
    from tests.conftest import make_patients

    raw = make_patients(400, seed=2)
    spec = infer_spec(raw, name="p", target="died")
    return coerce(raw, spec)[0], spec


@pytest.fixture(scope="module")
def fitted(data):
    df, spec = data
    model = registry.create("ctgan", FAST)
    report = model.fit(df, spec, seed=0)
    return model, report


def test_fit_reports_every_epoch(fitted) -> None:
    _, report = fitted
    assert report.epochs == 3 and [h["epoch"] for h in report.history] == [1, 2, 3]
    assert all(np.isfinite(h["generator"]) and np.isfinite(h["critic"]) for h in report.history)
    assert report.seconds > 0


def test_sample_has_input_columns_dtypes_and_fresh_ids(data, fitted) -> None:
    df, spec = data
    model, _ = fitted
    out = model.sample(250, seed=1)
    assert list(out.columns) == list(df.columns) and len(out) == 250
    assert out.dtypes.astype(str).to_dict() == df.dtypes.astype(str).to_dict()
    assert out["patient_id"].is_unique and out["patient_id"].min() > df["patient_id"].max()
    assert set(out["sex"]) <= {"F", "M"} and set(out["stage"]) <= {1, 2, 3, 4}
    assert out["age"].between(df["age"].min(), df["age"].max()).all()
    assert (out["creatinine"].dropna() == out["creatinine"].dropna().round(1)).all()


def test_same_seed_same_rows_and_different_seed_different_rows(data, fitted) -> None:
    df, spec = data
    model, _ = fitted
    pd.testing.assert_frame_equal(model.sample(100, seed=4), model.sample(100, seed=4))
    assert not model.sample(100, seed=4).equals(model.sample(100, seed=5))
    again = registry.create("ctgan", FAST)
    again.fit(df, spec, seed=0)  # same data, seed and device: the same model, the same rows
    pd.testing.assert_frame_equal(model.sample(100, seed=4), again.sample(100, seed=4))


def test_save_load_samples_identically_without_pickle(fitted, tmp_path) -> None:
    model, _ = fitted
    files = model.save()
    assert set(files) == {"model.json", "weights.pt"}
    # the weights file is a plain state dict: loadable with weights_only=True
    import io

    state = torch.load(io.BytesIO(files["weights.pt"]), weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    loaded = registry.load(files)
    pd.testing.assert_frame_equal(model.sample(200, seed=9), loaded.sample(200, seed=9))


def test_missing_share_is_modelled(data) -> None:
    df, spec = data
    model = registry.create("ctgan", {**FAST, "epochs": 150})
    model.fit(df, spec, seed=0)
    out = model.sample(2000, seed=0)
    real = df["creatinine"].isna().mean()
    assert abs(out["creatinine"].isna().mean() - real) < 0.05
    assert abs(out["ward"].isna().mean() - df["ward"].isna().mean()) < 0.05


def test_sampled_rows_do_not_depend_on_the_thread_count(fitted) -> None:
    """A chunk's noise comes from two seeded streams, the second half drawn on a second thread
    when torch has two: the rows are the same with one thread or two, and the halves differ."""
    model, _ = fitted
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = model._sample(3_000, seed=6)
        torch.set_num_threads(2)
        two = model._sample(3_000, seed=6)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, model._sample(3_000, seed=7))


def test_chunk_noise_halves_are_independent_standard_draws() -> None:
    from generators.ctgan import _ChunkNoise

    with _ChunkNoise(11, (32, 7), torch.device("cpu")) as noise:
        z, gumbel = noise.draw(20_000)
    first, second = z[:10_000], z[10_000:]
    for half in (first, second):
        assert abs(half.mean().item()) < 0.01 and abs(half.std().item() - 1) < 0.01
    assert abs(np.corrcoef(first.flatten().numpy(), second.flatten().numpy())[0, 1]) < 0.01
    # minus Gumbel noise: -gumbel has mean 0.5772 (Euler's constant) and variance pi^2 / 6
    assert abs(-gumbel.mean().item() - 0.5772) < 0.01
    assert abs(gumbel.var().item() - np.pi**2 / 6) < 0.02


def test_registry_errors_list_known_names() -> None:
    with pytest.raises(KeyError, match="unknown generator 'gpt'; known: .*ctgan"):
        registry.get("gpt")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("ctgan")(type("Again", (Generator,), {}))


def test_sampling_before_fit_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="fit or load"):
        registry.create("ctgan").sample(3)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="epochs"):
        registry.create("ctgan", {"epochs": "many"})
    with pytest.raises(ValueError, match="learning_rate"):
        registry.create("ctgan", {"learning_rate": 1})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_and_sample(data) -> None:
    df, spec = data
    model = registry.create("ctgan", {**FAST, "device": "cuda"})
    model.fit(df, spec, seed=0)
    assert next(model.generator.parameters()).is_cuda
    assert len(model.sample(100, seed=0)) == 100


@pytest.mark.skipif(not native_bf16(torch.device("cpu")), reason="no native bfloat16 on this CPU")
def test_bf16_training_learns_keeps_float32_weights_and_is_reproducible(data, fitted) -> None:
    df, spec = data
    model = registry.create("ctgan", {**FAST, "epochs": 150, "precision": "bf16"})
    report = model.fit(df, spec, seed=0)
    assert all(np.isfinite(h["generator"]) and np.isfinite(h["critic"]) for h in report.history)
    weights = [*model.trainee.parameters(), *model.generator.parameters()]
    assert all(w.dtype == torch.float32 for w in [*weights, *model.critic.parameters()])
    out = model.sample(2000, seed=0)
    assert abs(out["creatinine"].isna().mean() - df["creatinine"].isna().mean()) < 0.05
    assert abs(out["ward"].isna().mean() - df["ward"].isna().mean()) < 0.05
    assert abs(out["age"].mean() - df["age"].mean()) < 0.25 * df["age"].std()
    # same seed, same rows; and the products really ran in bfloat16: not the float32 model's rows
    short = {**FAST, "precision": "bf16"}
    first, second = registry.create("ctgan", short), registry.create("ctgan", short)
    first.fit(df, spec, seed=0)
    second.fit(df, spec, seed=0)
    pd.testing.assert_frame_equal(first.sample(100, seed=4), second.sample(100, seed=4))
    assert not first.sample(100, seed=4).equals(fitted[0].sample(100, seed=4))
    # the checkpoint samples the same rows (float32 weights, float32 sampling)
    loaded = registry.load(first.save())
    assert loaded.config.precision == "bf16"
    pd.testing.assert_frame_equal(first.sample(100, seed=4), loaded.sample(100, seed=4))


def test_bf16_is_refused_without_native_support_and_with_dp(data, monkeypatch) -> None:
    df, spec = data
    monkeypatch.setattr("generators.base.native_bf16", lambda device: False)
    model = registry.create("ctgan", {**FAST, "precision": "bf16", "device": "cpu"})
    with pytest.raises(ValueError, match="precision 'bf16' needs native bfloat16.*device cpu"):
        model.fit(df, spec, seed=0)
    with pytest.raises(ValueError, match="precision bf16 and dp_epsilon"):
        registry.create("ctgan", {"precision": "bf16", "dp_epsilon": 3})
    with pytest.raises(ValueError, match="precision"):
        registry.create("ctgan", {"precision": "fp16"})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bf16_fit_and_sample(data) -> None:
    df, spec = data
    model = registry.create("ctgan", {**FAST, "device": "cuda", "precision": "bf16"})
    report = model.fit(df, spec, seed=0)
    assert all(np.isfinite(h["critic"]) for h in report.history)
    assert next(model.generator.parameters()).dtype == torch.float32
    assert len(model.sample(100, seed=0)) == 100


@pytest.mark.parametrize("dims", [(64,), (48, 32), (32, 24, 16)])
def test_folded_sampling_generator_computes_what_the_network_does(data, dims) -> None:
    """Batch norm folded, residual inputs split, the one-hot condition as a lookup: the same
    pre-activations as the trained network for any depth, with and without a condition."""
    from generators.ctgan import _FoldedGenerator

    df, spec = data
    model = registry.create("ctgan", {**FAST, "epochs": 1, "generator_dim": dims})
    model.fit(df, spec, seed=0)
    net = model.generator.eval()
    # batch norm statistics far from (0, 1), so folding them in is really exercised
    for m in net.seq[:-1]:
        m.bn.running_mean.uniform_(-2, 2)
        m.bn.running_var.uniform_(0.2, 5)
    z = torch.randn(300, model.config.embedding_dim, generator=torch.Generator().manual_seed(0))
    category = torch.as_tensor(model.sampler.original_batch(300, np.random.default_rng(0)))
    with torch.no_grad():
        expected = net(torch.cat([z, model._one_hot(category.numpy(), torch.device("cpu"))], 1))
    got = _FoldedGenerator(net, model.config.embedding_dim)(z, category)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    # a wrong category changes the rows: the lookup is really used
    shifted = _FoldedGenerator(net, model.config.embedding_dim)(z, (category + 1) % category.max())
    assert not torch.allclose(shifted, expected, atol=1e-2)
