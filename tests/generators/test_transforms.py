import numpy as np
import pandas as pd
import pytest

from generators.schema import infer_spec
from generators.transforms import TableTransformer
from tasks.validation import coerce


@pytest.fixture
def typed(patients: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    spec = infer_spec(patients, name="p", target="died")
    return coerce(patients, spec)[0], spec


def test_every_column_type_round_trips_exactly(typed) -> None:
    df, spec = typed
    tt = TableTransformer.fit(df, spec, seed=0)
    back = tt.inverse(tt.transform(df, seed=0))
    for col in [c.name for c in spec.modelled]:
        original, decoded = df[col].reset_index(drop=True), back[col]
        assert original.isna().tolist() == decoded.isna().tolist(), col
        present = original.notna()
        if spec.column(col).is_discrete:
            assert original[present].astype(object).tolist() == decoded[present].tolist(), col
        elif spec.column(col).type == "datetime":
            assert (original[present] == decoded[present]).all(), col
        else:
            np.testing.assert_allclose(
                original[present].astype(float), decoded[present].astype(float), err_msg=col
            )


def test_outliers_are_not_clipped() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(1.0, 0.1, 500), [45.0, 80.0, -30.0]])
    df = pd.DataFrame({"x": values})
    spec = infer_spec(df)
    tt = TableTransformer.fit(df, spec, seed=0)
    back = tt.inverse(tt.transform(df))["x"].to_numpy()
    np.testing.assert_allclose(back, values, rtol=1e-6, atol=1e-6)


def test_missing_values_get_their_own_output_and_are_restored(typed) -> None:
    df, spec = typed
    tt = TableTransformer.fit(df, spec, seed=0)
    creat = [s for s in tt.spans if s.column == "creatinine"]
    assert [s.activation for s in creat] == ["tanh", "softmax", "softmax"]
    assert creat[-1].dim == 2 and creat[-1].discrete  # present / missing
    ward = [s for s in tt.spans if s.column == "ward"]
    assert ward[0].dim == 5  # four wards + missing


def test_records_serialise_to_json_and_decode_identically(typed) -> None:
    import json

    df, spec = typed
    tt = TableTransformer.fit(df, spec, seed=3)
    clone = TableTransformer.from_dict(json.loads(json.dumps(tt.to_dict())))
    matrix = tt.transform(df, seed=5)
    np.testing.assert_array_equal(matrix, clone.transform(df, seed=5))
    pd.testing.assert_frame_equal(tt.inverse(matrix), clone.inverse(matrix))


def test_unseen_category_is_refused(typed) -> None:
    df, spec = typed
    tt = TableTransformer.fit(df, spec)
    bad = df.copy()
    bad.loc[0, "sex"] = "X"
    with pytest.raises(ValueError, match="'sex'.*not seen when fitting.*X"):
        tt.transform(bad)


def test_decoding_argmax_matches_numpy_on_slices_ties_and_read_only_blocks() -> None:
    from generators.transforms import _argmax

    m = np.random.default_rng(0).standard_normal((500, 12)).astype(np.float32)
    m[:, 3] = m[:, 4]  # ties: the first column wins, as in numpy
    read_only = m.copy()
    read_only.flags.writeable = False
    for block in (m[:, 2:9], m[:, ::-1][:, 1:7], m.astype(np.float64)[:, 3:5], read_only[:, 1:6]):
        np.testing.assert_array_equal(_argmax(block), block.argmax(axis=1))
    assert (_argmax(np.zeros((4, 3), dtype=np.float32)) == 0).all()


def test_likeliest_mode_encodes_each_value_in_its_most_probable_mode() -> None:
    """Two overlapping modes: a drawn mode splits values near the middle between them; the
    likeliest mode is one function of the value. Both decode to the value exactly."""
    from generators.schema import ColumnSpec, DatasetSpec

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, 3_000), rng.normal(2.5, 1, 3_000)]
    df = pd.DataFrame({"x": x})
    spec = DatasetSpec(name="m", columns=[ColumnSpec(name="x", type="numeric")])
    drawn = TableTransformer.fit(df, spec, seed=0)
    likeliest = drawn.with_likeliest_modes()
    assert len(drawn.transforms[0].means) >= 2
    assert not drawn.transforms[0].likeliest_mode and likeliest.transforms[0].likeliest_mode
    modes = {}
    for name, tt in (("drawn", drawn), ("likeliest", likeliest)):
        encoded = tt.transform(df, seed=0)
        np.testing.assert_allclose(tt.inverse(encoded)["x"].to_numpy(), x, atol=1e-6)
        modes[name] = encoded[:, 1:].argmax(1)
    # the likeliest mode is monotone in the value between mode centres: sorting the values
    # sorts the modes by their means, so neighbouring values rarely change mode
    order = np.argsort(x)
    centres = np.asarray(drawn.transforms[0].means)
    switches = {k: int((np.diff(m[order]) != 0).sum()) for k, m in modes.items()}
    assert switches["likeliest"] < len(centres) * 3
    assert switches["drawn"] > 100 * switches["likeliest"]
    np.testing.assert_array_equal(
        modes["likeliest"],
        np.argmax(
            np.log(drawn.transforms[0].weights)
            - np.log(drawn.transforms[0].stds)
            - 0.5 * ((x[:, None] - centres) / np.asarray(drawn.transforms[0].stds)) ** 2,
            axis=1,
        ),
    )
    # serialised and back, the flag is kept
    assert TableTransformer.from_dict(likeliest.to_dict()).transforms[0].likeliest_mode
