"""Removing generations: a cascade below chosen ones, a cohort's own, and empty directories.

Every removal is planned first (``--dry-run`` prints the plan and stops) and then done one
generation at a time, children before parents, each under its generation lock (a generation a
worker is running is skipped and said so), through ``atomic.remove_tree`` on a path built from a
checked id and confined to the data root. A symlinked entry is never a generation here: it is not
followed, not removed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from daydream import atomic
from daydream.errors import StoreError, located, shown
from daydream.locks import try_lock
from daydream.maintenance.index import GenKey, StoreIndex, cohort_members
from daydream.paths import STAGES, DataLayout, Stage, check_id, check_stage
from daydream.store import ATTEMPTS_DIR, CURRENT_OUTPUTS, LOCK_FILE


@dataclass
class RemovalPlan:
    """What a command would remove and why the rest stays."""

    title: str
    remove: list[GenKey]
    kept: dict[str, list[GenKey]] = field(default_factory=dict)  # reason -> generations left alone
    notes: list[str] = field(default_factory=list)
    removed: list[GenKey] = field(default_factory=list)
    skipped: dict[str, list[GenKey]] = field(default_factory=dict)  # reason -> generations not removed

    def describe(self, *, dry_run: bool, limit: int = 50) -> str:
        verb = "would remove" if dry_run else "removed"
        done = self.remove if dry_run else self.removed
        counts = ", ".join(f"{stage} {sum(1 for s, _ in done if s == stage)}" for stage in STAGES)
        lines = [f"{self.title}: {verb} {len(done)} generation(s) ({counts})"]
        lines.extend(f"  {verb} {stage}/{gen_id}" for stage, gen_id in done[:limit])
        if len(done) > limit:
            lines.append(f"  ... {len(done) - limit} more")
        for reason, keys in {**self.kept, **self.skipped}.items():
            if keys:
                shown_keys = ", ".join(f"{s}/{g}" for s, g in keys[:10]) + (" ..." if len(keys) > 10 else "")
                lines.append(f"  left {len(keys)} generation(s): {reason}: {shown_keys}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if dry_run:
            lines.append("  (dry run: nothing was removed)")
        return "\n".join(lines)


def execute(layout: DataLayout, plan: RemovalPlan) -> RemovalPlan:
    for stage, gen_id in plan.remove:
        why = remove_generation(layout, stage, gen_id)
        if why is None:
            plan.removed.append((stage, gen_id))
        else:
            plan.skipped.setdefault(why, []).append((stage, gen_id))
    return plan


def remove_generation(layout: DataLayout, stage: Stage, gen_id: str) -> str | None:
    """Remove one generation directory; the reason it was left when it was not."""
    gen_dir = layout.gen_dir(stage, gen_id)
    if gen_dir.is_symlink():
        return "a symlink, never followed or removed"
    if not gen_dir.is_dir():
        return "not a directory"
    layout.inside(gen_dir)
    with try_lock(gen_dir / LOCK_FILE) as acquired:
        if not acquired:
            return "busy: a worker holds its generation lock"
        atomic.remove_tree(gen_dir)
    return None


def plan_cascade(
    layout: DataLayout, gen_ids: Iterable[str], *, stage: str | None = None, template_id: str | None = None
) -> RemovalPlan:
    """The generations named (or every one of ``stage`` made with ``template_id``) and all below them."""
    index = StoreIndex.load(layout)
    roots = _roots(index, list(gen_ids), stage, template_id)
    remove = index.descendants(roots)
    plan = RemovalPlan(title=f"cascade from {', '.join(f'{s}/{g}' for s, g in roots[:5])}", remove=remove)
    members = cohort_members(layout)
    listed = sorted(c for c, keys in members.items() if keys & set(remove))
    if listed:
        plan.notes.append(f"listed in cohort(s) {', '.join(listed)}: they show as pending there until rerun")
    if index.problems:
        plan.notes.append(f"{len(index.problems)} unreadable metadata file(s) not followed; first: {index.problems[0]}")
    return plan


def _roots(index: StoreIndex, gen_ids: list[str], stage: str | None, template_id: str | None) -> list[GenKey]:
    if template_id is not None:
        if stage is None or gen_ids:
            raise StoreError("--template-id needs --stage and no gen ids")
        wanted = check_stage(stage)
        check_id(template_id, kind="template id")
        roots = [k for k, m in index.metadata.items() if k[0] == wanted and m and m.template_id == template_id]
        if not roots:
            raise StoreError(f"no {wanted} generation made with template {template_id!r}")
        return sorted(roots)
    if not gen_ids:
        raise StoreError("name at least one gen id (or --stage with --template-id)")
    roots = []
    for gen_id in gen_ids:
        found = index.find(gen_id)
        if stage is not None:
            found = [k for k in found if k[0] == check_stage(stage)]
        if not found:
            where = f"gens/{stage}" if stage else "any stage"
            raise StoreError(located(f"no generation {shown(gen_id)} in {where}", file=index.layout.gens))
        if len(found) > 1:
            raise StoreError(f"{gen_id} exists in {', '.join(s for s, _ in found)}; say which with --stage")
        roots.extend(found)
    return roots


def plan_purge_cohort(layout: DataLayout, cohort_id: str) -> RemovalPlan:
    """A cohort's own generations (its members, and those it created that no cohort lists), except
    every generation another cohort lists and everything above those (their parents are needed)."""
    check_id(cohort_id, kind="cohort id")
    index = StoreIndex.load(layout)
    members = cohort_members(layout)
    listed_anywhere: set[GenKey] = set().union(*members.values())
    created = {k for k, m in index.metadata.items() if m and m.origin_cohort_id == cohort_id}
    if cohort_id not in members and not created:
        raise StoreError(
            located(f"no cohort {cohort_id!r} with a membership, and no generation it created", file=layout.cohorts)
        )
    mine = (members.get(cohort_id, set()) | (created - listed_anywhere)) & set(index.metadata)
    others: set[GenKey] = set().union(*(keys for c, keys in members.items() if c != cohort_id))
    protected = index.ancestors(others)
    plan = RemovalPlan(
        title=f"purge of cohort {cohort_id}",
        remove=sorted((k for k in mine if k not in protected), key=_deletion_order),
    )
    plan.kept["shared with another cohort (a member there, or the parent of one)"] = sorted(mine & protected)
    orphans = sorted(set(index.descendants(plan.remove)) - set(plan.remove) - protected)
    if orphans:
        plan.notes.append(
            f"{len(orphans)} generation(s) no cohort lists descend from these and will lose their parent; "
            f"'daydream store cascade' removes them"
        )
    if index.problems:
        plan.notes.append(f"{len(index.problems)} unreadable metadata file(s); first: {index.problems[0]}")
    return plan


def _deletion_order(key: GenKey) -> tuple[int, str]:
    return (-STAGES.index(key[0]), key[1])


def plan_prune_empty(layout: DataLayout) -> RemovalPlan:
    """Generation directories with no answer and no output (nothing in prompt.txt, raw.txt,
    parsed.txt, no kept attempts) that no cohort lists: what an abandoned build leaves behind. A
    listed one is pending work, and stays."""
    index = StoreIndex.load(layout)
    listed: set[GenKey] = set().union(*cohort_members(layout).values())
    empty = sorted((k for k in index.metadata if _is_empty(layout, k)), key=_deletion_order)
    plan = RemovalPlan(title="prune of empty generations", remove=[k for k in empty if k not in listed])
    plan.kept["listed in a cohort (pending work)"] = [k for k in empty if k in listed]
    with_children = [k for k in plan.remove if index.children.get(k)]
    if with_children:
        plan.remove = [k for k in plan.remove if k not in set(with_children)]
        plan.kept["has children"] = with_children
    return plan


def _is_empty(layout: DataLayout, key: GenKey) -> bool:
    gen_dir = layout.gen_dir(*key)
    try:
        if (gen_dir / ATTEMPTS_DIR).exists():
            return False
        return all(_size(gen_dir / name) == 0 for name in CURRENT_OUTPUTS if name.endswith(".txt"))
    except OSError:
        return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
