"""Where DayDream's data lives: the local disk or object storage, behind one small interface.

``open_storage(root)`` gives a ``Storage`` for a path, ``file://`` or ``s3://bucket/prefix`` URL;
``daydream.airflow.storage.open_airflow_storage`` does the same for URLs that name an Airflow
connection (``s3://<conn_id>@bucket/prefix``). Importing this package never imports Airflow or s3fs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from daydream.storage.base import (
        Lease,
        LeaseLost,
        Ledger,
        ObjectInfo,
        Storage,
        StorageError,
        UnsupportedStorage,
        check_key,
    )
    from daydream.storage.local import LocalStorage
    from daydream.storage.s3 import S3Settings, S3Storage
    from daydream.storage.semaphore import Semaphore
    from daydream.storage.url import open_storage

_HOMES = {
    **dict.fromkeys(
        ("Lease", "LeaseLost", "Ledger", "ObjectInfo", "Storage", "StorageError", "UnsupportedStorage", "check_key"),
        "base",
    ),
    "LocalStorage": "local",
    "S3Settings": "s3",
    "S3Storage": "s3",
    "Semaphore": "semaphore",
    "open_storage": "url",
}


def __getattr__(name: str) -> Any:
    """Lazy: ``daydream.paths`` imports ``daydream.storage.objpath`` on every CLI start, and a local data
    root must not pay for importing s3fs's asyncio stack."""
    if name not in _HOMES:
        raise AttributeError(name)
    return getattr(import_module(f"daydream.storage.{_HOMES[name]}"), name)


__all__ = [
    "Lease",
    "LeaseLost",
    "Ledger",
    "LocalStorage",
    "ObjectInfo",
    "S3Settings",
    "S3Storage",
    "Semaphore",
    "Storage",
    "StorageError",
    "UnsupportedStorage",
    "check_key",
    "open_storage",
]
