"""Pure logic of daydream.storage: keys, URLs, lease expiry on the server's clock. No server needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from daydream.airflow.storage import open_airflow_storage, settings_from_connection
from daydream.storage import LocalStorage, S3Settings, S3Storage, StorageError, UnsupportedStorage, open_storage
from daydream.storage.leases import CLOCK_SLACK_S, LeaseBody, is_free
from daydream.storage.s3 import Fetched
from daydream.storage.url import split_url


def test_import_needs_neither_airflow_nor_s3fs() -> None:
    code = (
        "import sys, daydream.storage; "
        "print([m for m in sys.modules if m.split('.')[0] in ('airflow', 's3fs', 'botocore')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_split_url() -> None:
    assert split_url("s3://aws_lab@bucket/data/root") == ("s3", "aws_lab", "bucket", "data/root")
    assert split_url("s3://bucket") == ("s3", None, "bucket", "")


def test_open_storage_dispatch(tmp_path: Path) -> None:
    assert isinstance(open_storage(tmp_path), LocalStorage)
    local = open_storage(f"file://{tmp_path}/data")
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "data"
    s3 = open_storage(
        "s3://bucket/some/prefix", s3=S3Settings(endpoint_url="http://127.0.0.1:9", access_key="k", secret_key="s")
    )
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    assert "secret" not in repr(S3Settings(secret_key="secret"))
    with pytest.raises(UnsupportedStorage, match="Airflow connection 'lab'"):
        open_storage("s3://lab@bucket/x")
    with pytest.raises(UnsupportedStorage, match="Google Cloud Storage"):
        open_storage("gs://bucket/x")
    with pytest.raises(UnsupportedStorage, match="unsupported data root"):
        open_storage("ftp://host/x")
    with pytest.raises(StorageError, match="invalid storage key"):
        open_storage("s3://bucket/a/../b", s3=S3Settings())


def test_airflow_bridge_passes_plain_roots_through(tmp_path: Path) -> None:
    assert isinstance(open_airflow_storage(tmp_path), LocalStorage)
    assert isinstance(open_airflow_storage(f"file://{tmp_path}"), LocalStorage)


def _fetched(body: bytes, modified: float, now: float) -> Fetched:
    return Fetched(body, '"etag"', modified, now)


def test_lease_expiry_is_judged_on_the_server_clock() -> None:
    body = LeaseBody("w1", "token", 30.0).encode()
    assert not is_free(_fetched(body, 1000.0, 1000.0 + 30.0), 30.0)  # at the TTL: the slack still protects it
    assert not is_free(_fetched(body, 1000.0, 1000.0 + 30.0 + CLOCK_SLACK_S - 0.5), 30.0)
    assert is_free(_fetched(body, 1000.0, 1000.0 + 30.0 + CLOCK_SLACK_S), 30.0)
    released = LeaseBody("w1", "token", 30.0, released=True).encode()
    assert is_free(_fetched(released, 1000.0, 1000.0), 30.0)
    assert not is_free(_fetched(b"not json", 1000.0, 1001.0), 30.0)  # garbage waits for the caller's TTL
    assert is_free(_fetched(b"not json", 1000.0, 1033.0), 30.0)


def test_lease_body_round_trip_and_unique_content() -> None:
    one, two = LeaseBody("w", "t1", 5.0), LeaseBody("w", "t2", 5.0)
    assert LeaseBody.decode(one.encode()) == one
    assert one.encode() != two.encode()  # ETags are content hashes: holders never share one
    assert LeaseBody.decode(b'{"owner": 1}') is None


class _Conn:
    def __init__(self, login: str | None, password: str | None, extra: str) -> None:
        self.login, self.password, self.extra = login, password, extra


def test_connection_fields_become_s3_settings() -> None:
    conn = _Conn("AKIA", "s3cret", '{"endpoint_url": "http://127.0.0.1:8333", "region_name": "eu-west-1"}')
    settings = settings_from_connection(conn)
    assert settings == S3Settings("http://127.0.0.1:8333", "AKIA", "s3cret", "eu-west-1", path_style=True)
    aws = settings_from_connection(_Conn("AKIA", "s3cret", "{}"))
    assert aws is not None and aws.endpoint_url is None and not aws.path_style
    assert settings_from_connection(_Conn(None, None, "{}")) is None  # a role: Airflow's own filesystem


def test_lost_lease_raises_on_ensure_valid(tmp_path: Path) -> None:
    from daydream.storage import LeaseLost

    lease = LocalStorage(tmp_path).acquire_lease("locks/x", 10)
    assert lease is not None
    lease.ensure_valid()
    lease.release()
    with pytest.raises(LeaseLost, match="locks/x"):
        lease.ensure_valid()
