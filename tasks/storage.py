"""Object storage through fsspec URLs: local paths / ``file://`` by default, ``s3://`` through s3fs.

S3 endpoint and credentials come from the environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` or ``SYNTHCARE_S3_ENDPOINT``, ``AWS_REGION``),
never from code, and are never logged. Artifacts are write-once: writing an existing path fails.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from typing import Any

import fsspec
import pandas as pd
from fsspec.implementations.local import LocalFileSystem


class ArtifactExistsError(FileExistsError):
    """An artifact is written once; a second write would overwrite a result."""


class StorageError(OSError):
    """Storage that cannot be reached or refuses us, said plainly."""


def storage_options(url: str) -> dict[str, Any]:
    if not url.startswith("s3://"):
        return {}
    options: dict[str, Any] = {
        "client_kwargs": {"region_name": os.environ.get("AWS_REGION", "us-east-1")}
    }
    endpoint = os.environ.get("SYNTHCARE_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        options["key"] = os.environ["AWS_ACCESS_KEY_ID"]
        options["secret"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    return options


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(url, **storage_options(url))
    return fs, path


def join(root: str, *parts: str) -> str:
    """``root``/``parts``; a part that climbs (a ``..`` segment) is refused, so nothing built
    under a root can land outside it."""
    for part in parts:
        if ".." in part.split("/"):
            raise ValueError(f"path part {part!r} climbs out of {root!r} ('..' is not allowed)")
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    return _guard(url, lambda: fs.exists(path))


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    if not _guard(url, lambda: fs.exists(path)):
        raise FileNotFoundError(f"{url}: no such file")
    return _guard(url, lambda: fs.cat_file(path))


def write_once(url: str, data: bytes) -> str:
    """Write ``data`` to ``url`` unless something is there; local writes are atomic (rename)."""
    fs, path = filesystem(url)
    if _guard(url, lambda: fs.exists(path)):
        raise ArtifactExistsError(f"{url}: already exists; artifacts are write-once")
    if isinstance(fs, LocalFileSystem):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        try:
            os.link(tmp, path)  # fails if another writer won the race
        except FileExistsError as exc:
            raise ArtifactExistsError(f"{url}: already exists; artifacts are write-once") from exc
        finally:
            os.unlink(tmp)
    else:
        _guard(url, lambda: fs.pipe_file(path, data))
    return url


def replace(url: str, data: bytes) -> str:
    """Write ``data`` to ``url``, replacing what is there, atomically: for scratch state such as
    training checkpoints, never for artifacts (those are ``write_once``)."""
    fs, path = filesystem(url)
    if isinstance(fs, LocalFileSystem):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    else:
        _guard(url, lambda: fs.pipe_file(path, data))  # one PUT: readers see old or new
    return url


def copy_once(source: str, target: str) -> str:
    """Copy one artifact to a new place (server-side on S3); the target must not exist."""
    fs, src = filesystem(source)
    _, dst = filesystem(target)
    if _guard(target, lambda: fs.exists(dst)):
        raise ArtifactExistsError(f"{target}: already exists; artifacts are write-once")
    if isinstance(fs, LocalFileSystem):
        return write_once(target, read_bytes(source))
    _guard(target, lambda: fs.copy(src, dst))
    return target


def copy_folder_once(source: str, target: str) -> list[str]:
    """Copy every file directly in ``source`` into ``target`` (write-once); their names."""
    names = sorted(u.rsplit("/", 1)[-1] for u in list_files(source))
    for name in names:
        copy_once(join(source, name), join(target, name))
    return names


def remove(url: str) -> None:
    fs, path = filesystem(url)
    _guard(url, lambda: fs.rm(path))


def write_json(url: str, obj: Any) -> str:
    return write_once(url, json.dumps(obj, indent=2, sort_keys=False, default=str).encode())


def read_json(url: str) -> Any:
    return json.loads(read_bytes(url))


def write_parquet(url: str, df: pd.DataFrame) -> str:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return write_once(url, buffer.getvalue())


def read_parquet(url: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(read_bytes(url)))


def list_files(url: str) -> list[str]:
    fs, path = filesystem(url)
    if not _guard(url, lambda: fs.exists(path)):
        return []
    protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
    return sorted(
        protocol + p if protocol and not p.startswith(protocol) else p for p in fs.find(path)
    )


def check_writable(url: str) -> str:
    """One cheap look before any work: can runs be written under ``url``? A local root's nearest
    existing folder must be writable; an S3 root needs credentials, a live endpoint and its
    bucket. Errors name the URL and the variable to set, never a secret. Nothing is written."""
    if not url.startswith("s3://"):
        fs, path = filesystem(url)
        if not isinstance(fs, LocalFileSystem):
            return url  # another fsspec backend: its first write says what is wrong
        folder = os.path.abspath(path)
        while not os.path.exists(folder):
            folder = os.path.dirname(folder)
        if not os.path.isdir(folder):
            raise StorageError(f"{url}: {folder} is a file, not a folder; choose another --out")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise StorageError(
                f"{url}: {folder} is not writable by this user; choose another --out"
            )
        return url
    bucket = url[len("s3://") :].split("/", 1)[0]
    if not os.environ.get("AWS_ACCESS_KEY_ID") or not os.environ.get("AWS_SECRET_ACCESS_KEY"):
        raise StorageError(
            f"{url}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
            "SYNTHCARE_S3_ENDPOINT or AWS_ENDPOINT_URL for a non-AWS store)"
        )
    options = storage_options(url)
    endpoint = options.get("endpoint_url", "the default AWS endpoint")
    import s3fs

    fs = s3fs.S3FileSystem(
        **{**options, "config_kwargs": {"connect_timeout": 5, "retries": {"max_attempts": 1}}},
        skip_instance_cache=True,
    )
    try:
        fs.ls(bucket, refresh=True)  # one request: endpoint, credentials and bucket at once
    except FileNotFoundError:
        raise StorageError(
            f"{url}: bucket {bucket!r} does not exist at {endpoint}; create it or fix the URL"
        ) from None
    except PermissionError:
        raise StorageError(
            f"{url}: access denied at {endpoint}: check AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (the secret is not shown)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - botocore's connection errors have many types
        reason = type(exc).__name__
        raise StorageError(
            f"{url}: cannot reach the S3 endpoint {endpoint} ({reason}); check "
            "SYNTHCARE_S3_ENDPOINT or AWS_ENDPOINT_URL"
        ) from None
    return url


def _guard(url: str, action):  # noqa: ANN001, ANN202 - a thin error translator
    try:
        return action()
    except (ArtifactExistsError, FileNotFoundError):
        raise
    except PermissionError as exc:
        raise StorageError(f"{url}: access denied — check the storage credentials ({exc})") from exc
    except OSError as exc:
        raise StorageError(f"{url}: storage error: {exc}") from exc
