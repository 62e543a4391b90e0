"""Make an object-storage data root ready: the bucket exists, and the catalogs and cohort specs are in it.

    python -m daydream.storage.prepare s3://<conn_id>@bucket/prefix --seed data

What a lab does once per bucket (``docker compose`` runs it in ``airflow-init`` when the data root is
a URL). The bucket is created only when it is missing and the credentials may create it; the seed
copies ``1_raw/`` and ``cohorts/`` of a local data directory, and only when the root has no
``1_raw/`` yet, so a bucket already in use is never overwritten. A URL naming a connection needs
Airflow (its connection gives the credentials); ``s3://bucket/prefix`` uses the AWS variables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from daydream.errors import DayDreamError
from daydream.storage.base import Storage
from daydream.storage.s3 import S3Storage
from daydream.storage.url import open_data_root, split_url

SEEDED = ("1_raw", "cohorts")


def ensure_bucket(storage: S3Storage) -> bool:
    """True when this call created the bucket."""
    buckets = {b["Name"] for b in storage.fs.call_s3("list_buckets").get("Buckets", [])}
    if storage.bucket in buckets:
        return False
    storage.fs.call_s3("create_bucket", Bucket=storage.bucket)
    return True


def seed(storage: Storage, local: Path) -> int:
    """Upload ``local``'s catalogs and cohort specs unless the root already has catalogs; files written."""
    if storage.any_below("1_raw/"):
        return 0
    files = [p for part in SEEDED for p in sorted((local / part).rglob("*")) if p.is_file()]
    for path in files:
        storage.write_bytes(path.relative_to(local).as_posix(), path.read_bytes())
    return len(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the data root: s3://<conn_id>@bucket/prefix or s3://bucket/prefix")
    parser.add_argument("--seed", type=Path, default=None, help="a local data directory to copy 1_raw/, cohorts/ from")
    args = parser.parse_args(argv)
    if split_url(args.url)[0] not in ("s3", "s3a"):
        print(f"{args.url}: not an s3:// data root; nothing to prepare", file=sys.stderr)
        return 0
    try:
        root = open_data_root(args.url)
        storage = root.storage  # type: ignore[attr-defined]
        created = ensure_bucket(storage)
        copied = seed(storage, args.seed) if args.seed else 0
    except (DayDreamError, OSError) as exc:
        print(f"cannot prepare {args.url}: {exc}", file=sys.stderr)
        return 2
    print(f"{args.url}: bucket {'created' if created else 'present'}; {copied} files seeded")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
