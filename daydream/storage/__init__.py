"""Where DayDream's data lives: the local disk or object storage, behind one small interface.

``open_storage(root)`` gives a ``Storage`` for a path, ``file://`` or ``s3://bucket/prefix`` URL;
``daydream.storage.airflow_bridge.open_airflow_storage`` does the same for URLs that name an Airflow
connection (``s3://<conn_id>@bucket/prefix``). Importing this package never imports Airflow or s3fs.
"""

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
