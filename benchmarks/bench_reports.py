"""Benchmark: the reports of a cohort of 100,000 evaluations and of a tournament of 20,000 comparisons.

Setup (not timed) writes a synthetic data root once: catalogs, templates, combos, drafts, essays and
evaluations with every file of the current layout (metadata.json, prompt.txt, raw.txt,
raw_metadata.json, parsed.txt, parsed_metadata.json), about 2% parse failures, 1% pending
evaluations and one draft template edited since its drafts ran (stale lineages), plus the cohort's
membership.csv; then a tournament cohort over 2,000 of the essays (``build_tournament``): 5 rounds,
both orders, two judges, 20,000 comparison generations and the tournament's ``rounds.json``. The
store is kept and reused by later runs (``--store``).

Before each timed run every file of the store is read once (``warm_page_cache``, untimed), so both
versions start from the same page cache. The timed part runs in a fresh Python process, so the
figure includes imports and the peak RSS is the reports' own: ``build_cohort_reports(layout,
"bench")`` end to end (reading the store, every table with its intervals, the bias checks, the
diversity of ideas, the charts and index.html), then
``build_cohort_reports(layout, "bench-tournament")`` (the Bradley-Terry leaderboard pooled and per
judge with bootstrap intervals, the absolute scores beside it, position bias). Run::

    .venv/bin/python benchmarks/bench_reports.py [--evaluations 100000] [--store DIR] [--repeat 1]
    .venv/bin/python benchmarks/bench_reports.py --repeat 4 --compare /tmp/daydream-main

Target: <= 30 s on 2 cores for both reports together: issue 14's "the current report benchmark's
time", this benchmark's budget before the tournament and the new statistics were added.
``--compare SRC`` (a checkout of another version, e.g. ``git worktree add /tmp/daydream-main main``)
times that version on the same store in the same session, the two alternating, and prints the ratio
of the best wall times and of the best CPU times (user + system: steadier than wall time on a shared
machine). It fails when this version is more than ``MAX_SLOWDOWN`` slower by both measures on the
same work: the whole when the other version builds the tournament report too, else (a version from
before issue 14) the cohort report alone; the whole's ratio is then printed as well.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EVAL_TEMPLATES = {"judge-a": "in_last_line", "judge-b": "complex"}
EVAL_MODELS = ["judge1", "judge2", "judge3"]
GEN_MODELS = ["gen1", "gen2", "gen3"]
DRAFT_TEMPLATES = ["creative-v1", "creative-v2", "plain-v1"]
ESSAY_TEMPLATES = ["essay-v1", "essay-v2"]
TOURNAMENT = "bench-tournament"
TOURNAMENT_OVER = "bench-top"
TOURNAMENT_ESSAYS = 2_000
TOURNAMENT_JUDGES = ["judge1", "judge2"]
TOURNAMENT_ROUNDS = 5
"""2,000 essays x 5 rounds x 1,000 pairs x 2 orders x 2 judges = 20,000 comparisons."""
TARGET_SECONDS = 30.0
MAX_SLOWDOWN = 1.10


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def build_store(root: Path, evaluations: int, seed: int = 1) -> dict:
    """Write the synthetic data root; returns counts."""
    import random

    from daydream import ids
    from daydream.combos import combo_id
    from daydream.rendering import template_sha256

    rng = random.Random(seed)
    raw = root / "1_raw"
    per_combo = len(DRAFT_TEMPLATES) * len(GEN_MODELS) * len(ESSAY_TEMPLATES) * len(EVAL_TEMPLATES) * len(EVAL_MODELS)
    n_combos = -(-evaluations // per_combo)
    concepts = [f"concept{i:03d}" for i in range(64)]
    (raw / "templates" / "draft").mkdir(parents=True, exist_ok=True)
    (raw / "templates" / "essay").mkdir(parents=True, exist_ok=True)
    (raw / "templates" / "evaluation").mkdir(parents=True, exist_ok=True)
    _write(str(raw / "concepts_metadata.csv"), "concept_id,name\n" + "".join(f"{c},{c.title()}\n" for c in concepts))
    _write(
        str(raw / "draft_templates.csv"), "template_id,parser\n" + "".join(f"{t},identity\n" for t in DRAFT_TEMPLATES)
    )
    _write(str(raw / "essay_templates.csv"), "template_id,generator\n" + "".join(f"{t},llm\n" for t in ESSAY_TEMPLATES))
    _write(
        str(raw / "evaluation_templates.csv"),
        "template_id,parser\n" + "".join(f"{t},{p}\n" for t, p in EVAL_TEMPLATES.items()) + "pairwise-v1,pairwise\n",
    )
    _write(
        str(raw / "llm_models.csv"),
        "id,model,price_prompt_per_mtok,price_completion_per_mtok\n"
        + "".join(f"{m},prov/{m},1.0,3.0\n" for m in GEN_MODELS + EVAL_MODELS),
    )
    shas = {}
    for stage, templates in (("draft", DRAFT_TEMPLATES), ("essay", ESSAY_TEMPLATES), ("evaluation", EVAL_TEMPLATES)):
        for template in templates:
            text = f"Template {template} {{{{ x }}}}"
            _write(str(raw / "templates" / stage / f"{template}.txt"), text + "\n")
            shas[(stage, template)] = template_sha256(text)
    shas[("draft", "plain-v1")] = "0" * 64  # edited since its drafts ran: those lineages are stale

    def gen(
        stage: str,
        gen_id: str,
        meta: dict,
        text: str,
        llm: str,
        *,
        parsed: str | None,
        parsed_meta: dict,
        state: str = "done",
    ) -> None:
        gdir = root / "gens" / stage / gen_id
        os.makedirs(gdir, exist_ok=True)
        base = {"stage": stage, "gen_id": gen_id, "origin_cohort_id": "bench", "mode": "llm", **meta}
        _write(str(gdir / "metadata.json"), json.dumps(base))
        if state == "pending":
            return
        _write(str(gdir / "prompt.txt"), f"prompt of {gen_id}")
        _write(str(gdir / "raw.txt"), text)
        p, c = rng.randint(200, 2000), rng.randint(50, 800)
        _write(
            str(gdir / "raw_metadata.json"),
            json.dumps(
                {
                    "stage": stage,
                    "gen_id": gen_id,
                    "mode": "llm",
                    "llm_model_id": llm,
                    "model": f"prov/{llm}",
                    "finish_reason": "stop",
                    "truncated": False,
                    "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
                    "cost_usd": None if rng.random() < 0.3 else round((p + 3 * c) / 1e6, 8),
                    "duration_s": 1.2,
                    "prompt_sha256": "x",
                    "template_sha256": shas[(stage, meta["template_id"])],
                    "created_at": "2025-01-01T00:00:00+00:00",
                }
            ),
        )
        if parsed is not None:
            _write(str(gdir / "parsed.txt"), parsed)
        _write(str(gdir / "parsed_metadata.json"), json.dumps({"stage": stage, "gen_id": gen_id, **parsed_meta}))
        if parsed is None:
            _write(
                str(gdir / "error.json"),
                json.dumps({"stage": stage, "gen_id": gen_id, "kind": "parse", "error": "no score"}),
            )

    members = ["stage,gen_id,cohort_id,parent_gen_id,combo_id,template_id,llm_model_id,replicate\n"]
    combo_rows = ["combo_id,version,concept_id,description_level,k_max,created_at\n"]
    n_eval = 0
    seen: set[str] = set()
    while len(seen) < n_combos:
        chosen = rng.sample(concepts, 3)
        cid = combo_id(chosen, "paragraph", 3)
        if cid in seen:
            continue
        seen.add(cid)
        combo_rows += [f"{cid},v1,{c},paragraph,3,2025-01-01\n" for c in chosen]
        for dt in DRAFT_TEMPLATES:
            for gm in GEN_MODELS:
                did = ids.draft_id(cid, dt, gm)
                gen(
                    "draft",
                    did,
                    {"template_id": dt, "combo_id": cid, "llm_model_id": gm, "parent_gen_id": None, "replicate": 1},
                    "line\n" * 5,
                    gm,
                    parsed="line\n" * 5,
                    parsed_meta={"parser": "identity", "success": True},
                )
                members.append(f"draft,{did},bench,,{cid},{dt},{gm},1\n")
                quality = rng.random()
                for et in ESSAY_TEMPLATES:
                    eid = ids.essay_id(did, et)
                    gen(
                        "essay",
                        eid,
                        {"template_id": et, "combo_id": None, "llm_model_id": gm, "parent_gen_id": did, "replicate": 1},
                        "An essay. " * 50,
                        gm,
                        parsed="An essay. " * 50,
                        parsed_meta={"parser": "identity", "success": True},
                    )
                    members.append(f"essay,{eid},bench,{did},{cid},{et},{gm},1\n")
                    for vt, parser in EVAL_TEMPLATES.items():
                        scale = 9.0 if parser == "in_last_line" else 10.0
                        for vm in EVAL_MODELS:
                            if n_eval >= evaluations:
                                break
                            vid = ids.evaluation_id(eid, vt, vm)
                            n_eval += 1
                            roll = rng.random()
                            score = float(max(0, min(scale, round(quality * scale + rng.gauss(0, 1.5)))))
                            meta = {
                                "template_id": vt,
                                "combo_id": None,
                                "llm_model_id": vm,
                                "parent_gen_id": eid,
                                "replicate": 1,
                            }
                            members.append(f"evaluation,{vid},bench,{eid},{cid},{vt},{vm},1\n")
                            if roll < 0.01:
                                gen("evaluation", vid, meta, "", vm, parsed=None, parsed_meta={}, state="pending")
                            elif roll < 0.03:
                                gen(
                                    "evaluation",
                                    vid,
                                    meta,
                                    "I cannot decide.",
                                    vm,
                                    parsed=None,
                                    parsed_meta={
                                        "parser": parser,
                                        "success": False,
                                        "error_kind": "parse",
                                        "error": f"{parser}: no score",
                                    },
                                )
                            else:
                                gen(
                                    "evaluation",
                                    vid,
                                    meta,
                                    f"Reasoning...\nSCORE: {score:g}",
                                    vm,
                                    parsed=f"{score}\n",
                                    parsed_meta={
                                        "parser": parser,
                                        "success": True,
                                        "score": score,
                                        "scale": None,
                                        "implied_scale": scale,
                                        "score_normalized": score / scale,
                                    },
                                )
    _write(str(root / "combo_mappings.csv"), "".join(combo_rows))
    (root / "cohorts" / "bench").mkdir(parents=True, exist_ok=True)
    _write(str(root / "cohorts" / "bench" / "membership.csv"), "".join(members))
    counts = {"combos": n_combos, "evaluations": n_eval, "generations": len(members) - 1}
    counts["comparisons"] = build_tournament(root, members[1:], rng)
    _write(str(root / ".bench-store.json"), json.dumps(counts))
    return counts


def build_tournament(root: Path, members: list[str], rng) -> int:
    """A tournament cohort over ``TOURNAMENT_ESSAYS`` of the essays (a cohort of them and their
    evaluations, so the leaderboard has absolute scores beside the ratings): every round's pairs,
    both orders, each judge, with verdicts from a planted quality plus noise and judge2 leaning to
    the first slot (position bias). Returns the number of comparisons."""
    from daydream.paths import DataLayout
    from daydream.tournament.rounds import PlannedComparison, Round, TournamentState, state_path
    from daydream.tournament.store import ComparisonStore, new_metadata

    layout = DataLayout(root)
    essays = sorted({line.split(",")[1] for line in members if line.startswith("essay,")})
    chosen = sorted(rng.sample(essays, TOURNAMENT_ESSAYS))
    wanted = set(chosen)
    rows = [line for line in members if line.split(",")[1] in wanted or line.split(",")[3] in wanted]
    header = "stage,gen_id,cohort_id,parent_gen_id,combo_id,template_id,llm_model_id,replicate\n"
    (root / "cohorts" / TOURNAMENT_OVER).mkdir(parents=True, exist_ok=True)
    _write(str(layout.membership(TOURNAMENT_OVER)), header + "".join(rows))
    spec = layout.spec_file(TOURNAMENT)
    spec.parent.mkdir(parents=True, exist_ok=True)
    _write(
        str(spec),
        f"tournament:\n  over: {TOURNAMENT_OVER}\n  judges: [{', '.join(TOURNAMENT_JUDGES)}]\n"
        f"  template: pairwise-v1\n  rounds: {TOURNAMENT_ROUNDS}\n",
    )
    quality = {e: rng.gauss(0, 1) for e in chosen}
    store = ComparisonStore(layout)
    state = TournamentState(cohort_id=TOURNAMENT)
    for number in range(1, TOURNAMENT_ROUNDS + 1):
        order = rng.sample(chosen, len(chosen))
        planned = []
        for pair, (x, y) in enumerate(zip(order[::2], order[1::2], strict=True)):
            for a, b in ((x, y), (y, x)):
                for judge in TOURNAMENT_JUDGES:
                    placed = store.place(new_metadata(a, b, "pairwise-v1", judge, cohort_id=TOURNAMENT))
                    lean = 0.8 if judge == "judge2" else 0.0
                    margin = quality[a] - quality[b] + lean + rng.gauss(0, 1)
                    verdict = "tie" if abs(margin) < 0.1 else ("A" if margin > 0 else "B")
                    _write(str(store.path(placed.gen_id, "raw.txt")), f"Reasoning...\nVerdict: {verdict}")
                    _write(str(store.path(placed.gen_id, "parsed.txt")), f"{verdict}\n")
                    planned.append(
                        PlannedComparison(
                            comparison_id=placed.gen_id, document_a=a, document_b=b, judge=judge, pair=pair
                        )
                    )
        state.rounds.append(
            Round(round=number, template="pairwise-v1", planned_at="2025-01-01T00:00:00+00:00", comparisons=planned)
        )
    path = state_path(layout, TOURNAMENT)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(str(path), json.dumps(state.model_dump(mode="json")))
    return sum(len(r.comparisons) for r in state.rounds)


def child(root: str) -> None:
    """The timed run, in a fresh interpreter."""
    started = time.perf_counter()
    from daydream.paths import DataLayout
    from daydream.reports import build_cohort_reports

    layout = DataLayout(Path(root))
    result = build_cohort_reports(layout, "bench")
    cohort, cohort_cpu = time.perf_counter() - started, time.process_time()
    tournament = build_cohort_reports(layout, TOURNAMENT)
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cohort_seconds": cohort,
                "tournament_seconds": elapsed - cohort,
                "cohort_cpu_seconds": cohort_cpu,
                "tournament_cpu_seconds": time.process_time() - cohort_cpu,
                "tournament_files": len(tournament.paths),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "evaluations": result.headline.evaluations,
                "used": result.headline.evaluations_used,
            }
        )
    )


def warm_page_cache(root: Path) -> tuple[int, float]:
    """Read every file of the store once (untimed): ``(files, seconds)``.

    Each timed run then starts with the store in the page cache, whichever version runs. Without it
    the figures measured the kernel's luck: this VM's memory reclaim (DAMON) evicts idle page-cache
    pages within minutes, and the same code measured 18.5-27.4 s CPU from one run to the next as more
    or less of the store had to come from the disk. A store out of the cache is ``coldread``'s case
    (docs/reports.md, Performance)."""
    started, files, stack = time.perf_counter(), 0, [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    with open(entry.path, "rb") as handle:
                        while handle.read(1 << 20):
                            pass
                    files += 1
    return files, time.perf_counter() - started


def _timed_child(root: Path, source: Path | None) -> dict:
    """One timed report in a fresh interpreter; ``source`` puts another checkout first on the path."""
    files, seconds = warm_page_cache(root)
    print(f"(page cache warmed: {files:,} files read in {seconds:.1f} s, untimed)", flush=True)
    env = dict(os.environ)
    script = Path(__file__)
    if source is not None:
        env["PYTHONPATH"] = str(source)
        script = source / "benchmarks" / "bench_reports.py"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, str(script), "--child", str(root)], check=True, capture_output=True, text=True, env=env
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = json.loads(out.stdout.strip().splitlines()[-1])
    run["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return run


def _store(args: argparse.Namespace) -> Path | None:
    root = Path(args.store or Path(tempfile.gettempdir()) / f"daydream-bench-reports-{args.evaluations}-t")
    marker = root / ".bench-store.json"
    if marker.is_file() and json.loads(marker.read_text())["evaluations"] == args.evaluations:
        print(f"reusing store {root}: {json.loads(marker.read_text())}")
        return root
    if root.exists() and any(root.iterdir()):
        print(f"refusing to write into non-empty {root} without a benchmark marker", file=sys.stderr)
        return None
    started = time.perf_counter()
    counts = build_store(root, args.evaluations)
    print(f"built store {root} in {time.perf_counter() - started:.0f}s (setup, not timed): {counts}")
    return root


def _split(run: dict) -> str:
    """The cohort and tournament parts of a run (a compared older version times the cohort only)."""
    if "tournament_seconds" not in run:
        return " (cohort only)"
    return (
        f" (cohort {run['cohort_seconds']:.2f} s + tournament {run['tournament_seconds']:.2f} s; CPU of this "
        f"process {run['cohort_cpu_seconds']:.2f} s + {run['tournament_cpu_seconds']:.2f} s)"
    )


def _ratios(this: list[dict], compared: list[dict], seconds: str, cpu: str) -> tuple[float, float]:
    """Best wall and best CPU of ``this`` (its ``seconds``/``cpu`` figures) over ``compared``'s whole."""
    wall = min(r[seconds] for r in this) / min(r["seconds"] for r in compared)
    return wall, min(r[cpu] for r in this) / min(r["cpu_seconds"] for r in compared)


def _compare(runs: dict[str, list[dict]]) -> bool:
    """Print the ratios; True when the same work is within ``MAX_SLOWDOWN`` by wall or by CPU."""
    this, compared = runs["this"], runs["compared"]
    wall, cpu = _ratios(this, compared, "seconds", "cpu_seconds")
    if all("tournament_seconds" in r for r in compared) or not all("cohort_seconds" in r for r in this):
        print(f"this / compared: wall {wall:.2f}x, CPU {cpu:.2f}x (allowed {MAX_SLOWDOWN:.2f}x)")
        return min(wall, cpu) <= MAX_SLOWDOWN
    print(f"this (with the tournament report) / compared (cohort report only): wall {wall:.2f}x, CPU {cpu:.2f}x")
    wall, cpu = _ratios(this, compared, "cohort_seconds", "cohort_cpu_seconds")
    print(f"the cohort report alone / compared: wall {wall:.2f}x, CPU {cpu:.2f}x (allowed {MAX_SLOWDOWN:.2f}x)")
    return min(wall, cpu) <= MAX_SLOWDOWN


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluations", type=int, default=100_000)
    parser.add_argument("--store", default=None, help="data root to build or reuse (default: a dir under $TMPDIR)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs (the best and every figure are printed)")
    parser.add_argument("--compare", default=None, help="another checkout to time on the same store, alternating")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    root = _store(args)
    if root is None:
        return 2
    versions: dict[str, Path | None] = {"this": None}
    if args.compare:
        versions["compared"] = Path(args.compare).resolve()
    runs: dict[str, list[dict]] = {name: [] for name in versions}
    for _ in range(args.repeat):
        for name, source in versions.items():
            run = _timed_child(root, source)
            runs[name].append(run)
            print(
                f"{name}: build_cohort_reports {run['seconds']:.2f} s{_split(run)}, CPU {run['cpu_seconds']:.2f} s, "
                f"peak RSS {run['peak_rss_mb']:.0f} MB ({run['evaluations']:,} evaluations, "
                f"{run['used']:,} used in means)",
                flush=True,
            )
    best = min(r["seconds"] for r in runs["this"])
    verdict = "OK" if best <= TARGET_SECONDS else "SLOWER THAN TARGET"
    print(f"best {best:.2f} s on {os.cpu_count()} cores (target <= {TARGET_SECONDS:.0f} s): {verdict}")
    ok = best <= TARGET_SECONDS
    if args.compare:
        ok = _compare(runs) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
