import pandas as pd
import pytest

from tasks import storage


def test_local_writes_are_write_once_and_atomic(tmp_path) -> None:
    url = str(tmp_path / "run" / "a.json")
    storage.write_json(url, {"x": 1})
    with pytest.raises(storage.ArtifactExistsError, match="write-once"):
        storage.write_json(url, {"x": 2})
    assert storage.read_json(url) == {"x": 1}
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["a.json"]  # no temp file left behind


def test_missing_file_is_file_not_found(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        storage.read_bytes(str(tmp_path / "nope"))


@pytest.mark.s3
def test_s3_parquet_round_trip_and_listing(s3_env) -> None:
    root = f"s3://{s3_env['bucket']}/storage-test"
    df = pd.DataFrame({"a": [1, 2, None], "b": ["x", None, "z"]})
    storage.write_parquet(storage.join(root, "t/part-0.parquet"), df)
    pd.testing.assert_frame_equal(storage.read_parquet(storage.join(root, "t/part-0.parquet")), df)
    with pytest.raises(storage.ArtifactExistsError):
        storage.write_parquet(storage.join(root, "t/part-0.parquet"), df)
    assert storage.list_files(storage.join(root, "t")) == [f"{root}/t/part-0.parquet"]


@pytest.mark.s3
def test_s3_wrong_secret_fails_clearly_and_never_shows_it(s3_env, monkeypatch) -> None:
    import s3fs

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-123")
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(storage.StorageError, match="access denied|storage error") as err:
        storage.write_once(f"s3://{s3_env['bucket']}/denied.txt", b"x")
    assert "not-the-secret-123" not in str(err.value)
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in str(err.value)
