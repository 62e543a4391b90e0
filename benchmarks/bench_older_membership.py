"""Benchmark: reading an older two-column ``membership.csv`` (``stage,gen_id``) of 100,000 evaluations.

The older pipeline's membership lists only stage and gen id; DayDream fills the other columns
(parent, combo, template, model, replicate) from each generation's ``metadata.json``, and an essay's
or evaluation's combo from its parent draft. At 100k+ generations that is 100k+ small files.

Setup (not timed) writes a store in the older layout in a temporary directory: 1,000 drafts, 5,000
essays, 100,000 evaluations (20 judges per essay), with the older metadata spellings mixed in
(``evaluation_template``, ``model_id``, no ``replicate``/``mode``, no essay model), and the two-column
membership listing evaluations before their parents, as a hand-edited file may. The timed part is
``read_membership(layout, cohort)``: first with the metadata files' data evicted from the page cache
(as after a reboot; reported, no target), then again with it cached (the target). The result is
compared with a plain one-generation-at-a-time reading of the same store through
``GensStore.read_metadata`` (the slow path it replaces), which must give the same frame. Run::

    .venv/bin/python benchmarks/bench_older_membership.py [--evaluations 100000] [--store DIR]

Target: the read takes at most a third of the one-at-a-time reference timed in the same run (the
code it replaces took 1.5 times as long as the reference), about 3 s or less for 100k on the 2-core
machine. Exits 1 when missed or when the frames differ.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from daydream import ids
from daydream.combos import combo_id
from daydream.membership import MEMBERSHIP_COLUMNS, read_membership
from daydream.paths import DataLayout
from daydream.store import GenMetadata, GensStore

TARGET_SECONDS = 3.0
TARGET_RATIO = 0.33
"""The read against the one-at-a-time reference timed in the same run, so the check holds on a busy
machine too; on the 2-core machine that is about TARGET_SECONDS or less."""
COHORT = "older"
ESSAYS_PER_DRAFT = 5
JUDGES_PER_ESSAY = 20


def _write_json(path: str, data: dict) -> None:
    os.mkdir(os.path.dirname(path))
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)


def build_store(root: Path, evaluations: int) -> int:
    """The older store and its two-column membership; returns the number of generations."""
    gens = root / "gens"
    for stage in ("draft", "essay", "evaluation"):
        (gens / stage).mkdir(parents=True)
    drafts = max(1, evaluations // (ESSAYS_PER_DRAFT * JUDGES_PER_ESSAY))
    rows: list[tuple[str, str]] = []
    evaluation_rows: list[tuple[str, str]] = []
    for d in range(drafts):
        combo = combo_id([f"concept{d % 97}", f"concept{d % 89 + 100}"], "paragraph", 2)
        draft_template, model = f"draft-v{d % 3}", f"writer{d % 4}"
        draft = ids.draft_id(combo, draft_template, model)
        meta = {"stage": "draft", "gen_id": draft, "template_id": draft_template, "combo_id": combo}
        meta["model_id" if d % 2 else "llm_model_id"] = model
        _write_json(f"{gens}/draft/{draft}/metadata.json", {**meta, "function": "draft_raw"})
        rows.append(("draft", draft))
        for e in range(ESSAYS_PER_DRAFT):
            essay = ids.essay_id(draft, f"essay-v{e}")
            _write_json(
                f"{gens}/essay/{essay}/metadata.json",
                {"stage": "essay", "gen_id": essay, "essay_template": f"essay-v{e}", "parent_gen_id": draft},
            )
            rows.append(("essay", essay))
            for j in range(JUDGES_PER_ESSAY):
                template, judge = f"judge-v{j % 5}", f"judge{j // 5}"
                evaluation = ids.evaluation_id(essay, template, judge)
                meta = {"stage": "evaluation", "gen_id": evaluation, "parent_gen_id": essay, "llm_model_id": judge}
                meta["evaluation_template" if j % 2 else "template_id"] = template
                if j % 3 == 0:
                    meta.update(replicate=1, mode="llm", origin_cohort_id=COHORT)
                _write_json(f"{gens}/evaluation/{evaluation}/metadata.json", meta)
                evaluation_rows.append(("evaluation", evaluation))
    membership = root / "cohorts" / COHORT / "membership.csv"
    membership.parent.mkdir(parents=True)
    lines = [f"{stage},{gen_id}\n" for stage, gen_id in evaluation_rows + rows]
    membership.write_text("stage,gen_id\n" + "".join(lines), encoding="utf-8")
    return len(lines)


def one_at_a_time(layout: DataLayout, cohort_id: str) -> pd.DataFrame:
    """The reference: every listed generation's metadata read on its own, a combo from its parent chain."""
    store = GensStore(layout)
    frame = pd.read_csv(layout.membership(cohort_id), dtype=str, keep_default_na=False)

    def combo_of(meta: GenMetadata | None, depth: int = 0) -> str:
        if meta is None:
            return ""
        if meta.stage == "draft" or meta.combo_id or not meta.parent_gen_id or depth > 2:
            return meta.combo_id or ""
        for stage in ("draft",) if meta.stage == "essay" else ("essay", "draft"):
            parent = store.read_metadata(stage, meta.parent_gen_id)  # type: ignore[arg-type]
            if parent is not None:
                return combo_of(parent, depth + 1)
        return ""

    records = []
    for stage, gen_id in zip(frame["stage"], frame["gen_id"], strict=True):
        meta = store.read_metadata(stage, gen_id)
        assert meta is not None, gen_id
        records.append(
            {
                "stage": stage,
                "gen_id": gen_id,
                "cohort_id": cohort_id,
                "parent_gen_id": meta.parent_gen_id or "",
                "combo_id": combo_of(meta),
                "template_id": meta.template_id or "",
                "llm_model_id": meta.llm_model_id or "",
                "replicate": int(meta.replicate),
            }
        )
    return pd.DataFrame.from_records(records, columns=MEMBERSHIP_COLUMNS)


def drop_cached_pages(root: Path) -> None:
    """Evict the metadata files' data from the page cache (``POSIX_FADV_DONTNEED``), as after a reboot."""
    for directory, _, files in os.walk(root / "gens"):
        for name in files:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed_read(layout: DataLayout) -> tuple[pd.DataFrame, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    frame = read_membership(layout, COHORT)
    return frame, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--store", type=Path, default=None, help="build (or reuse) the store here and keep it")
    args = parser.parse_args()
    root = args.store or Path(tempfile.mkdtemp(prefix="daydream-bench-older-"))
    try:
        layout = DataLayout(root)
        if not layout.membership(COHORT).exists():
            start = time.perf_counter()
            total = build_store(root, args.evaluations)
            print(f"setup: {total:,} generations in the older layout in {time.perf_counter() - start:.1f} s")
        drop_cached_pages(root)
        _, cold, cold_cpu = timed_read(layout)
        frame, first, first_cpu = timed_read(layout)
        print(f"rows: {len(frame):,} ({frame['stage'].value_counts().to_dict()})")
        print(f"read_membership, two-column form: {first:.2f} s ({first_cpu:.2f} s CPU)")
        print(f"the same with the metadata files evicted from the page cache: {cold:.2f} s ({cold_cpu:.2f} s CPU)")
        start = time.perf_counter()
        reference = one_at_a_time(layout, COHORT)
        slow = time.perf_counter() - start
        ratio = first / slow
        print(f"one generation at a time (the reference, same run): {slow:.2f} s")
        print(
            f"read / reference: {ratio:.2f}  [target <= {TARGET_RATIO:g}; about {TARGET_SECONDS:g} s or less "
            "on the 2-core machine]"
        )
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
        same = frame.equals(reference)
        print("same frame as the reference" if same else "DIFFERENT from the reference")
        if not same:
            diff = frame.compare(reference) if frame.shape == reference.shape else f"{frame.shape} vs {reference.shape}"
            print(diff)
        ok = same and ratio <= TARGET_RATIO
        print("PASS" if ok else "MISS")
        return 0 if ok else 1
    finally:
        if args.store is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
