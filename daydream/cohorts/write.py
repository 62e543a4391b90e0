"""Writing a planned cohort: new combos, seeded ``metadata.json``, then membership and manifest.

Writing is idempotent: rerunning a build rewrites the same membership and never touches an existing
generation's ``metadata.json``. Every target is checked before the first byte is written (a file
where a directory belongs, a directory where a file belongs, no permission), and the order is the
safe one: the append-only combo catalog and the new generations' identities first, the cohort's own
files last, so a failure part-way leaves nothing that points at what is missing.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

from daydream import atomic, locks
from daydream.catalogs import Catalogs
from daydream.cohorts.definition import os_errors_as_one_line
from daydream.cohorts.plan import CohortPlan, plan_cohort
from daydream.cohorts.planner import PlanRow
from daydream.combos import append_combos
from daydream.errors import CohortError, OutsideDataRootError, located
from daydream.membership import write_membership
from daydream.paths import STAGES, DataLayout
from daydream.storage.objpath import ObjectPath
from daydream.store import GensStore, utc_now

SEED_CHUNK = 4096


class CohortBuildResult(BaseModel):
    cohort_id: str
    source: str
    dry_run: bool
    stages: dict[str, int]
    tiers: dict[str, dict[str, int]]
    combos: int
    new_combos: int
    seeded_metadata: int
    membership_path: str
    manifest_path: str

    def describe(self) -> str:
        verb = "would write" if self.dry_run else "wrote"
        lines = [
            f"cohort {self.cohort_id} ({self.source}): {sum(self.stages.values())} generations, "
            f"{self.combos} combos ({self.new_combos} new)"
        ]
        for stage in STAGES:
            tiers = ", ".join(f"{tier} {n}" for tier, n in sorted(self.tiers.get(stage, {}).items()))
            lines.append(f"  {stage:<10} {self.stages.get(stage, 0):>8}   {tiers}")
        lines.append(f"{verb} {self.membership_path}")
        lines.append(f"{verb} {self.manifest_path}")
        if not self.dry_run:
            lines.append(f"seeded {self.seeded_metadata} new metadata.json under gens/")
        return "\n".join(lines)


def _metadata_bytes(row: PlanRow) -> bytes:
    """``metadata.json`` of a planned row; compact JSON through the C encoder (a million of these)."""
    return (
        json.dumps(
            {
                "stage": row.stage,
                "gen_id": row.gen_id,
                "origin_cohort_id": row.cohort_id,
                "mode": row.mode,
                "template_id": row.template_id,
                "combo_id": (row.combo_id or None) if row.stage == "draft" else None,
                "parent_gen_id": row.parent_gen_id or None,
                "llm_model_id": row.llm_model_id or None,
                "replicate": row.replicate,
            },
            ensure_ascii=False,
        )
        + "\n"
    ).encode("utf-8")


def _seed_one(gens: str, row: PlanRow) -> int:
    """1 when this call wrote the generation's ``metadata.json``, 0 when one was already there.

    A directory this call creates is new, so its file is written under a fixed temporary name and
    linked into place (fewer syscalls than ``mkstemp``); ``os.link`` fails when the target exists, so
    a concurrent build seeding the same generation can never replace the file this one wrote, nor
    the other way round. A directory that already exists goes through ``create_exclusive``.
    """
    gen_dir = f"{gens}/{row.stage}/{row.gen_id}"
    try:
        os.mkdir(gen_dir)
    except FileExistsError:
        if os.path.islink(gen_dir):  # its stage directory is inside the root (checked): so must it be
            raise OutsideDataRootError(
                located("is a symbolic link; a generation directory must be inside the data root", file=gen_dir)
            ) from None
        if not os.path.isdir(gen_dir):
            raise CohortError(located("is a file where a generation directory belongs", file=gen_dir)) from None
        return int(atomic.create_exclusive(f"{gen_dir}/metadata.json", _metadata_bytes(row)))
    tmp = f"{gen_dir}/.metadata.json.seed.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, _metadata_bytes(row))
    finally:
        os.close(fd)
    try:
        os.link(tmp, f"{gen_dir}/metadata.json")
    except FileExistsError:
        return 0
    finally:
        os.unlink(tmp)
    return 1


def _seed_all(store: GensStore, rows: list[PlanRow], workers: int = 4) -> int:
    """Write ``metadata.json`` where it is absent; an existing one is never replaced. Threads overlap
    the filesystem calls."""
    if not rows:
        return 0
    if isinstance(store.layout.gens, ObjectPath):
        return _seed_objects(store, rows, workers)
    gens = str(store.layout.gens)
    for stage in {row.stage for row in rows}:
        os.makedirs(f"{gens}/{stage}", exist_ok=True)

    def seed_chunk(chunk: list[PlanRow]) -> int:
        return sum(_seed_one(gens, row) for row in chunk)

    chunks = [rows[i : i + SEED_CHUNK] for i in range(0, len(rows), SEED_CHUNK)]
    if workers <= 1 or len(chunks) == 1:
        return sum(map(seed_chunk, chunks))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(seed_chunk, chunks))


def _seed_objects(store: GensStore, rows: list[PlanRow], workers: int) -> int:
    """On object storage: one conditional create per generation (``PUT If-None-Match: *``), many in
    flight at once, since each is a network round trip."""
    with ThreadPoolExecutor(max_workers=max(workers, 16)) as pool:
        return sum(
            pool.map(lambda row: int(atomic.create_exclusive(_gen_file(store, row), _metadata_bytes(row))), rows)
        )


def _gen_file(store: GensStore, row: PlanRow) -> Path:
    return store.layout.gen_dir(row.stage, row.gen_id) / "metadata.json"


def _writable_dir(layout: DataLayout, path: Path) -> None:
    """``path`` is, or can become, a directory inside the data root this process may create files in."""
    probe = layout.inside(path)
    if isinstance(probe, ObjectPath):
        return  # no directories, modes or owners on object storage: its credentials decide
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise CohortError(located("is not a directory", file=probe))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise CohortError(located("cannot write: permission denied", file=probe))


def _check_targets(layout: DataLayout, plan: CohortPlan) -> None:
    """Every path the build writes, checked before it writes anything."""
    _writable_dir(layout, layout.cohort_dir(plan.cohort_id))
    for target in (layout.membership(plan.cohort_id), layout.manifest(plan.cohort_id), layout.combo_mappings):
        if layout.inside(target).is_dir():
            raise CohortError(located("is a directory, expected a file", file=target))
    if plan.new_combos:
        _writable_dir(layout, layout.combo_mappings.parent)
    for stage in {row.stage for row in plan.rows}:
        _writable_dir(layout, layout.stage_dir(stage))


def build_cohort(
    layout: DataLayout,
    cohort_id: str,
    *,
    dry_run: bool = False,
    k_max: int | None = None,
    level: str | None = None,
    catalogs: Catalogs | None = None,
    no_code: bool = False,
) -> CohortBuildResult:
    """Plan the cohort, then (unless ``dry_run``) write it; see the module docstring for the order."""
    plan = plan_cohort(layout, cohort_id, k_max=k_max, level=level, catalogs=catalogs, no_code=no_code)
    seeded = 0
    if not dry_run:
        with os_errors_as_one_line("write"):
            _check_targets(layout, plan)
            append_combos(layout.combo_mappings, plan.new_combos)
            seeded = _seed_all(GensStore(layout), plan.rows)
            plan.manifest["built_at"] = utc_now()
            with locks.hold(layout.membership(cohort_id)):
                write_membership(layout.membership(cohort_id), plan.membership)
                atomic.write_json(layout.manifest(cohort_id), plan.manifest)
    return CohortBuildResult(
        cohort_id=cohort_id,
        source=plan.source,
        dry_run=dry_run,
        stages=plan.counts(),
        tiers=plan.tiers,
        combos=len(plan.combos),
        new_combos=len(plan.new_combos),
        seeded_metadata=seeded,
        membership_path=str(layout.membership(cohort_id)),
        manifest_path=str(layout.manifest(cohort_id)),
    )
