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
    .venv/bin/python benchmarks/bench_storage.py --generations 10000 [--no-per-file] [--keep DIR]

``--generations N`` measures DayDream's own readers instead: N evaluations (``metadata.json``,
``raw_metadata.json``, ``parsed_metadata.json``, ``parsed.txt`` each) read by the reports loader
(``read_gens``: a descriptor per directory locally, one listing on S3) and by ``cohort status``
(``GensStore.state`` per member locally, ``store_objects.states`` on S3), with the data root a local
path, then ``s3://bucket/prefix`` without the stage index (concurrent GETs of every JSON file), then
with it (``daydream.gen_index``, written here as one segment, as a compacted index is); every frame
and every state list must equal the local ones. ``--no-per-file`` skips the read without the index
(at 100,000 evaluations it takes hours on a loaded machine). Last, the cost the runner pays per
generation for its record is timed on ``--writer-sample`` generations.
"""

from __future__ import annotations

import argparse
import json
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


def gen_files(i: int) -> dict[str, bytes]:
    """One evaluation as the runner leaves it (``gens/evaluation/e<i>/...``)."""
    score = random.Random(i).randint(1, 10)
    meta = {"stage": "evaluation", "gen_id": f"e{i:06d}", "template_id": "t", "llm_model_id": "m", "parent_gen_id": "x"}
    raw = {"llm_model_id": "m", "template_sha256": "abc", "usage": {"prompt_tokens": 100, "completion_tokens": 20}}
    parsed = {"success": True, "score": score, "parser": "in_last_line"}
    return {
        "metadata.json": json.dumps(meta).encode(),
        "raw_metadata.json": json.dumps(raw).encode(),
        "parsed_metadata.json": json.dumps(parsed).encode(),
        "parsed.txt": f"SCORE: {score}\n{score}\n".encode(),
    }


def seed_local(root: Path, count: int) -> None:
    marker = root / ".built"
    if marker.exists():
        return
    for i in range(count):
        gen_dir = root / "gens" / "evaluation" / f"e{i:06d}"
        gen_dir.mkdir(parents=True, exist_ok=True)
        for name, data in gen_files(i).items():
            (gen_dir / name).write_bytes(data)
    marker.touch()


def bulk_index(local: Any, remote: Any, ids: list[str]) -> int:
    """The stage index as the runner's records would make it, in one segment: each generation's
    record from the bucket's listing (sizes, ETags) and the local copy's bytes (the same bytes)."""
    from daydream import gen_index

    storage, _, listed = gen_index.stage_listing(remote, "evaluation")
    lines = []
    for gen_id in ids:
        files = listed.get(gen_id, {})
        bodies = {name: (local.gen_dir("evaluation", gen_id) / name).read_bytes() for name in files}
        line = gen_index.build_record(gen_id, files, bodies)
        if line is not None:
            lines.append(line)
    storage.ledger(gen_index.index_key(remote, "evaluation")[1]).extend(lines)
    return len(lines)


def bench_daydream(base: Path, count: int, per_file: bool, writer_sample: int) -> int:
    """The reports loader and cohort status over ``count`` evaluations: local path, then S3 without
    the stage index (a GET per JSON file), then S3 with it; the frames and states must be equal."""
    import os

    from daydream.paths import DataLayout
    from daydream.reports.loader import read_gens
    from daydream.store import GensStore, GenState
    from daydream.store_objects import states

    local_root = base / f"dd-{count}"
    seed_local(local_root, count)
    ids = [f"e{i:06d}" for i in range(count)]
    members = [("evaluation", g, "t") for g in ids]
    rows: list[tuple[str, float, float | None, float | None]] = []
    with SeaweedServer(base / "s3dd", s3_port=None) as server:
        filer, grpc = server.ports[4], server.ports[5]
        target = f"http://127.0.0.1:{filer}.{grpc}/buckets/{server.bucket}/dd/"
        command = [weed_binary(), "filer.copy", "-c", "32", str(local_root / "gens"), target]
        _, up_s = timed("upload", subprocess.run, command, check=True)
        print(f"setup: {count:,} evaluations ({4 * count:,} objects), weed filer.copy {up_s:.1f} s", flush=True)
        os.environ.update(
            AWS_ACCESS_KEY_ID=server.settings.access_key or "",
            AWS_SECRET_ACCESS_KEY=server.settings.secret_key or "",
            AWS_ENDPOINT_URL=server.settings.endpoint_url or "",
        )
        local, remote = DataLayout(local_root), DataLayout.at(server.url("dd"))
        store = GensStore(local)
        frames = {}
        frames["local"], local_s = timed("local report", read_gens, local, "evaluation", ids, metadata=True)
        local_states, local_status_s = timed("local status", lambda: [store.state("evaluation", g, "abc") for g in ids])
        report_s: dict[str, float | None] = {"files": None}
        status_s: dict[str, float | None] = {"files": None}
        results = {}
        if per_file:
            frames["files"], report_s["files"] = timed("s3 report", read_gens, remote, "evaluation", ids, metadata=True)
            results["files"], status_s["files"] = timed("s3 status", states, remote, members, lambda s, t: "abc")
        indexed, index_s = timed("index", bulk_index, local, remote, ids)
        print(f"setup: stage index of {indexed:,} records written as one segment in {index_s:.1f} s", flush=True)
        frames["index"], report_s["index"] = timed("s3 report", read_gens, remote, "evaluation", ids, metadata=True)
        results["index"], status_s["index"] = timed("s3 status", states, remote, members, lambda s, t: "abc")
        writer = writer_cost(remote, ids[:writer_sample])
    rows.append(("reports loader (read_gens)", local_s, report_s["files"], report_s["index"]))
    rows.append(("cohort status (states)", local_status_s, status_s["files"], status_s["index"]))
    print_rows(count, rows)
    print(f"runner's extra cost per generation on S3 (list + GETs + one record PUT): {writer * 1000:.0f} ms")
    same = all(frame.equals(frames["local"]) for frame in frames.values()) and all(
        got == local_states == [GenState.DONE] * count for got in results.values()
    )
    if not same:
        print("WRONG: an S3 frame or states differ from the local ones", file=sys.stderr)
        return 1
    return 0


def writer_cost(remote: Any, sample: list[str]) -> float:
    """Seconds per generation that ``record_generation`` adds to the runner (sequential, as one worker)."""
    from daydream import gen_index

    if not sample:
        return 0.0
    _, spent = timed("writer", lambda: [gen_index.record_generation(remote, "evaluation", g) for g in sample])
    return spent / len(sample)


def print_rows(count: int, rows: list[tuple[str, float, float | None, float | None]]) -> None:
    def cell(value: float | None, scale: float) -> str:
        return f"{'-':>9} {'-':>8}" if value is None else f"{value:9.2f} {value / scale:7.1f}x"

    head = f"{'local s':>8} {'S3 files':>9} {'/local':>8} {'S3 index':>9} {'/local':>8}"
    print(f"\n{count:,} evaluations (4 files each)  {head}")
    for name, local_s, files_s, index_s in rows:
        print(f"{name:34} {local_s:8.2f} {cell(files_s, local_s)} {cell(index_s, local_s)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument(
        "--generations", "--daydream", type=int, default=0, help="measure DayDream's readers over this many evaluations"
    )
    parser.add_argument(
        "--no-per-file", action="store_true", help="skip the S3 read without the index (hours at 100,000)"
    )
    parser.add_argument("--writer-sample", type=int, default=200, help="generations the runner's record is timed on")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--keep", type=Path, default=None, help="keep (and reuse) both stores in this directory")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="daydream-bench-storage-"))
    base.mkdir(parents=True, exist_ok=True)
    if args.generations:
        return bench_daydream(base, args.generations, not args.no_per_file, args.writer_sample)
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
