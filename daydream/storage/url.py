"""From a data root (a path or an object-storage URL) to a ``Storage``, without Airflow.

A URL that names an Airflow connection (``s3://<conn_id>@bucket/prefix``) needs Airflow to turn the
connection into credentials: ``daydream.airflow.storage`` does that and hands the filesystem
here. Everything else can be opened directly: a path or ``file://`` URL is the local disk, and
``s3://bucket/prefix`` uses the given ``S3Settings`` (or s3fs's usual environment credentials).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from daydream.errors import shown
from daydream.storage.base import Storage, UnsupportedStorage
from daydream.storage.local import LocalStorage
from daydream.storage.s3 import S3Settings, S3Storage

OBJECT_SCHEMES = ("s3", "s3a", "gs", "gcs")


def is_url(root: str | os.PathLike[str]) -> bool:
    return "://" in str(root)


def split_url(url: str) -> tuple[str, str | None, str, str]:
    """``scheme://[conn_id@]bucket/prefix`` -> (scheme, conn_id, bucket, prefix)."""
    parts = urlsplit(url)
    conn_id, _, bucket = parts.netloc.rpartition("@")
    return parts.scheme.lower(), (unquote(conn_id) or None), bucket, parts.path.strip("/")


def open_storage(
    root: str | os.PathLike[str], *, fs: Any = None, s3: S3Settings | None = None, concurrency: int | None = None
) -> Storage:
    """The storage at ``root``: a local path, ``file:///...``, or ``s3://bucket/prefix``.

    ``fs`` is an fsspec filesystem already holding credentials (what the Airflow bridge passes);
    ``s3`` are explicit settings (tests, the benchmark, a lab without Airflow).
    """
    text = str(root)
    if not is_url(text):
        return LocalStorage(Path(text).expanduser())
    scheme, conn_id, bucket, prefix = split_url(text)
    if scheme == "file":
        return LocalStorage(Path(unquote(urlsplit(text).path)))
    if scheme in ("s3", "s3a"):
        if conn_id is not None and fs is None:
            raise UnsupportedStorage(
                f"{shown(text)} names the Airflow connection {conn_id!r}: open it with "
                "daydream.airflow.storage.open_airflow_storage"
            )
        extra = {"concurrency": concurrency} if concurrency else {}
        return S3Storage(bucket, prefix, fs=fs, settings=s3, **extra)
    if scheme in ("gs", "gcs"):
        raise UnsupportedStorage(
            f"{shown(text)}: Google Cloud Storage is not supported yet (its conditional writes are "
            "generation preconditions, not If-None-Match/If-Match); use its S3-interoperable endpoint"
        )
    raise UnsupportedStorage(f"unsupported data root {shown(text)}: expected a path, file://, or s3:// URL")


_opened: dict[tuple[int, str], Storage] = {}
"""One storage per data-root URL per process: its s3fs session and connection pool are reused by
every ``DataLayout`` built on that root (a task builds several). Keyed by pid too: a forked child
(a Celery or LocalExecutor task) must not use its parent's event-loop thread, which it lacks."""


def open_data_root(url: str) -> Path:
    """The data root ``url`` as a path: a plain local ``Path`` for ``file://``, an ``ObjectPath`` for
    object storage. A URL naming an Airflow connection gets its credentials through the Airflow bridge
    (imported only then); ``s3://bucket/prefix`` uses s3fs's environment credentials
    (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``)."""
    from daydream.storage.objpath import object_root

    scheme, conn_id, _, _ = split_url(url)
    if scheme == "file":
        return Path(unquote(urlsplit(url).path))
    key = url.rstrip("/")
    storage = _opened.get((os.getpid(), key))
    if storage is None:
        if conn_id is not None:
            from daydream.airflow.storage import open_airflow_storage

            storage = open_airflow_storage(url)
        else:
            storage = open_storage(url, s3=settings_from_env())
        _opened[(os.getpid(), key)] = storage
    return object_root(storage, key)


def settings_from_env() -> S3Settings:
    """The standard AWS variables, the endpoint included (botocore reads it too; s3fs needs it given)."""
    return S3Settings(
        endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None,
        access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        region=os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1",
        path_style=bool(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")),
    )


def reopen_object_path(text: str) -> Path:
    """An ``ObjectPath`` from its ``str`` (unpickling): the root it belongs to, opened once per process."""
    for root_url in sorted({url for _, url in _opened}, key=len, reverse=True):
        if text == root_url or text.startswith(root_url + "/"):
            return open_data_root(root_url) / text[len(root_url) :].lstrip("/")
    raise UnsupportedStorage(f"cannot reopen {shown(text)}: its data root was not opened in this process")
