"""The one place ``daydream.storage`` meets Airflow: a connection id in a URL becomes credentials.

``s3://<conn_id>@bucket/prefix`` is Airflow's ``ObjectStoragePath`` form; Airflow (with the Amazon
provider) builds an s3fs filesystem from that connection (keys, role, ``endpoint_url`` in its extra),
and DayDream's storage runs its own S3 operations on that filesystem. Airflow is imported lazily, so
``daydream.storage`` stays importable without it; part B moves this module under
``daydream/airflow/``.
"""

from __future__ import annotations

import os
from typing import Any

from daydream.storage.base import Storage, UnsupportedStorage
from daydream.storage.url import is_url, open_storage, split_url


def filesystem_for(url: str) -> Any:
    """The fsspec filesystem Airflow configures for ``url`` (its connection's credentials)."""
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
    fs = filesystem_for(text)
    if type(fs).__name__ != "S3FileSystem":
        raise UnsupportedStorage(f"{scheme}:// through Airflow gave {type(fs).__name__}; DayDream needs s3fs")
    return open_storage(text, fs=fs, concurrency=concurrency)
