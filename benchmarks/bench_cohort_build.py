"""Benchmark: compile a spec and build a cohort of more than 1,000,000 generation rows.

40 concepts, k_max 4 -> 91,390 combos; x 2 draft templates x 1 model = 182,780 drafts; x 1 copy-mode
essay template = 182,780 essays; x 1 evaluation template x 4 judges = 731,120 evaluations;
1,096,680 rows in all. Target on the 2-core machine: at most 15 s and 2 GiB peak memory for the build
(spec compile, ids with collision checks, membership, manifest). Seeding one ``metadata.json`` per
generation is timed separately: it is a million small files, bound by the filesystem.

Run: ``.venv/bin/python benchmarks/bench_cohort_build.py [--seed]``
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from daydream.cohorts import _seed_all, plan_cohort
from daydream.combos import append_combos
from daydream.membership import write_membership
from daydream.paths import DataLayout
from daydream.store import GensStore

N_CONCEPTS = 40
K_MAX = 4


def make_data_root(root: Path) -> None:
    raw = root / "1_raw"
    (raw / "templates" / "draft").mkdir(parents=True)
    (raw / "templates" / "evaluation").mkdir(parents=True)
    concepts = [f"concept-{i:02d}" for i in range(N_CONCEPTS)]
    (raw / "concepts_metadata.csv").write_text("concept_id,name\n" + "".join(f"{c},Concept {c}\n" for c in concepts))
    (raw / "draft_templates.csv").write_text("template_id,parser\nbench-draft-a,identity\nbench-draft-b,identity\n")
    (raw / "essay_templates.csv").write_text("template_id,generator\nbench-copy,copy\n")
    (raw / "evaluation_templates.csv").write_text("template_id,parser\nbench-eval,in_last_line\n")
    for t in ("bench-draft-a", "bench-draft-b"):
        (raw / "templates" / "draft" / f"{t}.txt").write_text(
            "DRAFT TASK {% for c in concepts %}{{ c.name }}{% endfor %}\n"
        )
    (raw / "templates" / "evaluation" / "bench-eval.txt").write_text("EVALUATION TASK {{ response }} SCORE: <n>\n")
    (raw / "llm_models.csv").write_text(
        "id,model,tier\nwriter,vendor/writer,paid\n" + "".join(f"judge{i},vendor/judge{i},paid\n" for i in range(4))
    )
    spec = root / "cohorts" / "bench" / "spec"
    spec.mkdir(parents=True)
    (spec / "config.yaml").write_text(
        "combos:\n  k_max: 4\n  description_level: paragraph\n"
        "axes:\n"
        "  draft_template: [bench-draft-a, bench-draft-b]\n"
        "  draft_llm: [writer]\n"
        "  essay_template: [bench-copy]\n"
        "  evaluation_template: [bench-eval]\n"
        "  evaluation_llm: [judge0, judge1, judge2, judge3]\n"
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", action="store_true", help="also seed every metadata.json (filesystem-bound)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="daydream-bench-build-"))
    try:
        make_data_root(tmp)
        layout = DataLayout(tmp)
        start, cpu = time.perf_counter(), time.process_time()
        plan = plan_cohort(layout, "bench")
        planned = time.perf_counter()
        append_combos(layout.combo_mappings, plan.new_combos)
        write_membership(layout.membership("bench"), plan.membership)
        built, cpu = time.perf_counter(), time.process_time() - cpu
        rows = len(plan.membership)
        print(f"rows: {rows:,} ({plan.counts()})")
        print(f"plan (compile + ids + collision checks): {planned - start:.2f} s")
        print(
            f"build total (plan + combo catalog + membership.csv): {built - start:.2f} s ({cpu:.2f} s CPU)"
            "  [target <= 15 s]"
        )
        print(f"peak RSS: {peak_rss_mib():.0f} MiB  [target <= 2048 MiB]")
        ok = built - start <= 15 and peak_rss_mib() <= 2048 and rows >= 1_000_000
        if args.seed:
            seed_start = time.perf_counter()
            seeded = _seed_all(GensStore(layout), plan.rows)
            print(f"seeding {seeded:,} metadata.json files: {time.perf_counter() - seed_start:.1f} s")
        print("PASS" if ok else "MISS")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
