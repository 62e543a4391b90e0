"""Object storage over the S3 API (AWS S3, SeaweedFS, MinIO, R2, ...) through s3fs.

s3fs supplies the session, credentials, retries and event loop; the operations are the S3 ones
DayDream needs, called directly, because the promises rest on them and not on a filesystem
emulation: a PUT is atomic (no temporary file, no rename), ``If-None-Match: *`` makes a write-once
create, ``If-Match: <etag>`` a compare-and-swap, one ``ListObjectsV2`` page returns 1,000 names and
sizes, and many small GETs run concurrently on s3fs's event loop, bounded by a semaphore.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from daydream.storage.base import (
    Lease,
    Ledger,
    ObjectInfo,
    Storage,
    StorageError,
    UnsupportedStorage,
    check_key,
)

DEFAULT_CONCURRENCY = 64
"""Concurrent GETs of ``read_many`` (and the HTTP connection pool s3fs opens for them)."""
LIST_PAGE = 1000
"""Keys per ``ListObjectsV2`` page: the S3 maximum."""


@dataclass(frozen=True)
class S3Settings:
    """Where an S3-compatible service is and how to sign for it, when no Airflow connection says so.

    Picklable, so worker processes can open the same storage; the secret is kept out of ``repr``.
    """

    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    path_style: bool = True


def make_s3fs(settings: S3Settings, *, concurrency: int = DEFAULT_CONCURRENCY) -> Any:
    """An ``s3fs.S3FileSystem`` of its own (no instance cache, no listing cache: listings must be fresh)."""
    try:
        import s3fs
    except ImportError as exc:  # the optional extra
        raise UnsupportedStorage("object storage needs s3fs: pip install 'daydream[cluster]'") from exc
    config: dict[str, Any] = {
        "max_pool_connections": concurrency,
        # checksums only where S3 requires them: less CPU per request, and S3-compatible stores that
        # reject botocore's newer default trailing checksums keep working
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    }
    if settings.path_style:
        config["s3"] = {"addressing_style": "path"}
    return s3fs.S3FileSystem(
        key=settings.access_key,
        secret=settings.secret_key,
        endpoint_url=settings.endpoint_url,
        client_kwargs={"region_name": settings.region},
        config_kwargs=config,
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def _error_code(exc: BaseException) -> tuple[str, int]:
    """The S3 error code and HTTP status behind an exception s3fs translated (its cause keeps them)."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            return code, status
        seen = seen.__cause__
    return "", 0


def precondition_failed(exc: BaseException) -> bool:
    code, status = _error_code(exc)
    return code == "PreconditionFailed" or status == 412


def conditional_conflict(exc: BaseException) -> bool:
    """AWS answers 409 when two conditional writes race on one key: retry, one of them wins."""
    code, status = _error_code(exc)
    return code == "ConditionalRequestConflict" or status == 409


def not_implemented(exc: BaseException) -> bool:
    code, status = _error_code(exc)
    return code in ("NotImplemented", "InvalidArgument") or status == 501


CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Fetched:
    """An object read with what a lease decision needs: its ETag, and the server's clock."""

    data: bytes
    etag: str
    modified: float
    server_now: float


class S3Storage(Storage):
    """The storage root ``s3://bucket/prefix`` on an S3-compatible service."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        fs: Any = None,
        settings: S3Settings | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ):
        if not bucket or "/" in bucket:
            raise StorageError(f"invalid bucket name {bucket!r}")
        prefix = prefix.strip("/")
        if prefix:
            check_key(prefix)
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.concurrency = concurrency
        self.fs = fs if fs is not None else make_s3fs(settings or S3Settings(), concurrency=concurrency)
        self.url = f"s3://{bucket}/{self.prefix}"

    # plumbing
    def full(self, key: str) -> str:
        return self.prefix + check_key(key)

    def call(self, method: str, **kwargs: Any) -> Any:
        """One S3 operation through s3fs (its retries, credentials and event loop)."""
        return self.fs.call_s3(method, Bucket=self.bucket, **kwargs)

    def run(self, coro: Any) -> Any:
        from fsspec.asyn import sync

        return sync(self.fs.loop, lambda: coro)

    def put(self, key: str, data: bytes, **conditions: str) -> str:
        """PUT ``data``; returns the new ETag. A 409 conditional conflict is retried (AWS asks for it)."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                return str(self.call("put_object", Key=self.full(key), Body=data, **conditions)["ETag"])
            except OSError as exc:
                if conditional_conflict(exc) and attempt + 1 < CONFLICT_RETRIES:
                    continue
                raise
        raise AssertionError("unreachable")

    async def _get(self, full: str) -> tuple[dict[str, Any], bytes]:
        resp = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=full)
        try:
            return resp, bytes(await resp["Body"].read())
        finally:
            resp["Body"].close()

    def fetch(self, key: str) -> Fetched | None:
        """GET with ETag, Last-Modified and the server's Date; None when the object does not exist."""
        from email.utils import parsedate_to_datetime

        try:
            resp, data = self.run(self._get(self.full(key)))
        except FileNotFoundError:
            return None
        date = resp.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        modified = resp["LastModified"].timestamp()
        server_now = parsedate_to_datetime(date).timestamp() if date else modified
        return Fetched(data, str(resp["ETag"]), modified, server_now)

    # the interface
    def write_bytes(self, key: str, data: bytes) -> None:
        self.put(key, data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """``PUT If-None-Match: *``. A create whose answer was lost and retried by s3fs reports False
        (the retry sees our own object): write-once files hold the same bytes whoever wins, and leases,
        which must know, recognise their own token instead (``daydream.storage.leases``)."""
        try:
            self.put(key, data, IfNoneMatch="*")
        except OSError as exc:
            if isinstance(exc, FileExistsError) or precondition_failed(exc):
                return False
            if not_implemented(exc):
                raise UnsupportedStorage(f"{self.url}: the store refuses conditional writes (If-None-Match)") from exc
            raise
        return True

    def read_bytes(self, key: str) -> bytes:
        data: bytes = self.run(self._get(self.full(key)))[1]
        return data

    def exists(self, key: str) -> bool:
        try:
            self.call("head_object", Key=self.full(key))
        except FileNotFoundError:
            return False
        return True

    def iter_pages(self, prefix: str) -> Iterator[list[dict[str, Any]]]:
        """``ListObjectsV2`` pages below ``prefix`` (the raw entries, keys still absolute)."""
        check_key(prefix, allow_dir=True)
        kwargs: dict[str, Any] = {"Prefix": self.prefix + prefix, "MaxKeys": LIST_PAGE}
        while True:
            resp = self.call("list_objects_v2", **kwargs)
            yield list(resp.get("Contents", []))
            if not resp.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = resp["NextContinuationToken"]

    def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        cut = len(self.prefix)
        out = [
            ObjectInfo(entry["Key"][cut:], int(entry["Size"]), str(entry.get("ETag", "")))
            for page in self.iter_pages(prefix)
            for entry in page
            if not entry["Key"].endswith("/")  # a folder marker some stores list, never an object of ours
        ]
        out.sort(key=lambda info: info.key)
        return out

    def any_below(self, prefix: str) -> bool:
        check_key(prefix, allow_dir=True)
        return bool(self.call("list_objects_v2", Prefix=self.prefix + prefix, MaxKeys=1).get("Contents"))

    def list_children(self, prefix: str) -> tuple[list[str], list[str]]:
        """One delimiter listing (paginated): what ``iterdir`` of a directory sees."""
        check_key(prefix, allow_dir=True)
        kwargs: dict[str, Any] = {"Prefix": self.prefix + prefix, "Delimiter": "/", "MaxKeys": LIST_PAGE}
        cut = len(self.prefix + prefix)
        dirs: list[str] = []
        files: list[str] = []
        while True:
            resp = self.call("list_objects_v2", **kwargs)
            dirs += [entry["Prefix"][cut:].rstrip("/") for entry in resp.get("CommonPrefixes", [])]
            files += [entry["Key"][cut:] for entry in resp.get("Contents", []) if not entry["Key"].endswith("/")]
            if not resp.get("IsTruncated"):
                return sorted(dirs), sorted(files)
            kwargs["ContinuationToken"] = resp["NextContinuationToken"]

    def head(self, key: str) -> tuple[int, float] | None:
        try:
            resp = self.call("head_object", Key=self.full(key))
        except FileNotFoundError:
            return None
        return int(resp["ContentLength"]), resp["LastModified"].timestamp()

    def read_many(self, keys: Iterable[str], *, concurrency: int | None = None) -> dict[str, bytes]:
        """Concurrent GETs on s3fs's event loop: ``concurrency`` workers draining one queue of keys."""
        wanted = [(key, self.full(key)) for key in keys]
        limit = max(1, concurrency or self.concurrency)
        return dict(self.run(self._get_many(wanted, limit)))

    async def _get_many(self, wanted: list[tuple[str, str]], limit: int) -> list[tuple[str, bytes]]:
        todo = iter(wanted)
        found: list[tuple[str, bytes]] = []

        async def worker() -> None:
            for key, full in todo:
                try:
                    found.append((key, (await self._get(full))[1]))
                except FileNotFoundError:
                    continue

        await asyncio.gather(*(worker() for _ in range(min(limit, len(wanted)) or 1)))
        return found

    def delete(self, key: str) -> None:
        try:
            self.call("delete_object", Key=self.full(key))
        except FileNotFoundError:
            pass

    def delete_if(self, key: str, etag: str) -> bool:
        """Delete only the version with ``etag``; False when it changed or the store refuses the condition."""
        try:
            self.call("delete_object", Key=self.full(key), IfMatch=etag)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if precondition_failed(exc) or not_implemented(exc):
                return False
            raise
        return True

    def acquire_lease(self, key: str, ttl_s: float, *, owner: str | None = None) -> Lease | None:
        from daydream.storage.leases import acquire_object_lease

        return acquire_object_lease(self, key, ttl_s, owner=owner)

    def ledger(self, key: str) -> Ledger:
        from daydream.storage.ledger import ObjectLedger

        return ObjectLedger(self, key)
