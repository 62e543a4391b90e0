"""Where ``daydream.storage`` meets Airflow: a connection id in a URL becomes credentials.

``s3://<conn_id>@bucket/prefix`` is Airflow's ``ObjectStoragePath`` form. A connection that carries
keys (login = access key, password = secret, extra ``endpoint_url`` / ``region_name``, the fields of
an ``aws`` connection) is read with ``BaseHook.get_connection`` and becomes ``S3Settings``, so the
Amazon provider is not required. A connection without keys (an instance role, an assumed role, a
profile) needs the Amazon provider: then Airflow's own ``ObjectStoragePath(url).fs`` supplies the
s3fs filesystem. Airflow is imported lazily, so ``daydream.storage`` stays importable without it;
it lives under ``daydream/airflow/`` with the other modules that face Airflow.
"""

from __future__ import annotations

import json
import os
from typing import Any

from daydream.storage.base import Storage, UnsupportedStorage
from daydream.storage.s3 import S3Settings
from daydream.storage.url import is_url, open_storage, split_url


def settings_from_connection(conn: Any) -> S3Settings | None:
    """``S3Settings`` from an Airflow connection's fields, or None when it holds no keys."""
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    if not conn.login and not extra.get("endpoint_url"):
        return None
    return S3Settings(
        endpoint_url=extra.get("endpoint_url") or None,
        access_key=conn.login or None,
        secret_key=conn.password or None,
        region=extra.get("region_name") or "us-east-1",
        path_style=bool(extra.get("endpoint_url")),  # S3-compatible services usually want path style
    )


def filesystem_for(url: str) -> Any:
    """The fsspec filesystem Airflow itself configures for ``url`` (needs the Amazon provider for s3)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url).fs


def open_airflow_storage(root: str | os.PathLike[str], *, concurrency: int | None = None) -> Storage:
    """``open_storage`` for a data root that may name an Airflow connection."""
    text = str(root)
    if not is_url(text):
        return open_storage(text)
    scheme, conn_id, _, _ = split_url(text)
    if scheme == "file" or conn_id is None:
        return open_storage(text, concurrency=concurrency)
    from airflow.sdk import BaseHook

    settings = settings_from_connection(BaseHook.get_connection(conn_id))
    if settings is not None:
        return open_storage(text, fs=_fs(settings, concurrency), concurrency=concurrency)
    fs = filesystem_for(text)
    if type(fs).__name__ != "S3FileSystem":
        raise UnsupportedStorage(f"{scheme}:// through Airflow gave {type(fs).__name__}; DayDream needs s3fs")
    return open_storage(text, fs=fs, concurrency=concurrency)


def _fs(settings: S3Settings, concurrency: int | None) -> Any:
    from daydream.storage.s3 import DEFAULT_CONCURRENCY, make_s3fs

    return make_s3fs(settings, concurrency=concurrency or DEFAULT_CONCURRENCY)
