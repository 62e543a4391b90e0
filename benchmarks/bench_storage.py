"""Benchmark: list and read 100,000 small generation-like objects, object storage against local disk.

The same store (``gens/evaluation/<gen_id>/parsed.txt``, 40-400 bytes each) is laid out on the local
disk and in a SeaweedFS S3 bucket on loopback; then, in this one run and in this order:

- local: one ``list_prefix`` walk, then ``read_many`` (sequential: today's way, a read per file);
- S3, batched: one paginated ``list_prefix`` (1,000 keys per request), then ``read_many`` with 64
  concurrent GETs on s3fs's event loop;
- S3, unbatched: a Python loop of ``read_bytes`` over a sample, the per-file round trip the issue
  forbids, extrapolated to the whole store, to show what batching buys.

The S3 side of the setup is uploaded with ``weed filer.copy`` (much faster than PUTs from Python; the
objects read back through the S3 API like any other). ``--keep DIR`` keeps both stores for the next
run. Prints the figures and the ratios against the local disk (measured in the same run); exits 1
only when a store reads back wrong.

    .venv/bin/python benchmarks/bench_storage.py [--objects 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from daydream.storage import LocalStorage, S3Storage, open_storage
from daydream.storage.seaweedfs import SeaweedServer, weed_binary

PREFIX = "gens/"
SAMPLE = 1000


def body(i: int) -> bytes:
    rng = random.Random(i)
    return (f"g{i:06d} score {rng.randint(1, 10)}\n" + "x" * rng.randint(20, 380)).encode()


def key(i: int) -> str:
    return f"{PREFIX}evaluation/v{i:06d}/parsed.txt"


def build_local(root: Path, objects: int) -> None:
    marker = root / f".built-{objects}"
    if marker.exists():
        return
    for i in range(objects):
        path = root / key(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body(i))
    marker.touch()


def upload(server: SeaweedServer, local_root: Path, objects: int) -> None:
    """Copy the local store into the bucket with weed's filer client (S3 buckets live under /buckets)."""
    storage = open_storage(server.url("bench"), s3=server.settings)
    if storage.exists(key(objects - 1)) and not storage.exists(key(objects)):
        return
    filer, filer_grpc = server.ports[4], server.ports[5]
    target = f"http://127.0.0.1:{filer}.{filer_grpc}/buckets/{server.bucket}/bench/"
    subprocess.run([weed_binary(), "filer.copy", "-c", "32", str(local_root / "gens"), target], check=True)


def timed(what: str, func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) both stores in this directory")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="daydream-bench-storage-"))
    base.mkdir(parents=True, exist_ok=True)
    local_root = base / "local"
    print(f"setup: {args.objects:,} objects under {base} (not timed)", flush=True)
    _, build_s = timed("build", build_local, local_root, args.objects)
    expected = {key(i): body(i) for i in range(args.objects)}
    with SeaweedServer(base / "s3", s3_port=None) as server:
        _, upload_s = timed("upload", upload, server, local_root, args.objects)
        print(f"setup: local files {build_s:.1f} s, weed filer.copy {upload_s:.1f} s", flush=True)
        local = LocalStorage(local_root)
        s3 = open_storage(server.url("bench"), s3=server.settings, concurrency=args.concurrency)
        assert isinstance(s3, S3Storage)

        rows = []
        listed, list_s = timed("local list", local.list_prefix, PREFIX)
        got, read_s = timed("local read", local.read_many, [i.key for i in listed])
        ok_local = len(listed) == args.objects and got == expected
        rows.append(("local disk: walk + read each file", list_s, read_s))

        listed, list_s = timed("s3 list", s3.list_prefix, PREFIX)
        got, read_s = timed("s3 read", s3.read_many, [i.key for i in listed], concurrency=args.concurrency)
        ok_s3 = len(listed) == args.objects and got == expected
        rows.append((f"S3: paginated list + {args.concurrency} concurrent GETs", list_s, read_s))

        sample = [key(i) for i in range(0, args.objects, max(1, args.objects // SAMPLE))][:SAMPLE]
        _, loop_s = timed("s3 loop", lambda: [s3.read_bytes(k) for k in sample])
        rows.append(
            (
                f"S3: a GET per file in a loop (sample of {len(sample)}, extrapolated)",
                0.0,
                loop_s * args.objects / len(sample),
            )
        )

    base_total = rows[0][1] + rows[0][2]
    print(f"\n{args.objects:,} objects, {sum(len(v) for v in expected.values()) / 1e6:.1f} MB")
    print(f"{'':62} {'list s':>8} {'read s':>8} {'total s':>8} {'obj/s':>9} {'vs local':>9}")
    for name, list_s, read_s in rows:
        total = list_s + read_s
        print(
            f"{name:62} {list_s:8.2f} {read_s:8.2f} {total:8.2f} {args.objects / total:9,.0f}"
            f" {total / base_total:8.1f}x"
        )
    if not (ok_local and ok_s3):
        print(f"WRONG CONTENT: local ok={ok_local}, s3 ok={ok_s3}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
