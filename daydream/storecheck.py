"""Health of the gens store: what a researcher must know before trusting or resuming it."""

from __future__ import annotations

import os
from collections import Counter

from pydantic import BaseModel

from daydream.catalogs import Catalogs
from daydream.combos import ComboCatalog
from daydream.errors import DayDreamError, StoreError
from daydream.paths import STAGES, DataLayout
from daydream.status import TemplateShas
from daydream.store import KNOWN_FILES, GensStore, GenState

PROBLEM_KINDS = (
    "missing_metadata",
    "unreadable_metadata",
    "raw_without_parsed",
    "failed",
    "broken_parent",
    "unknown_combo",
    "stale",
    "outside_layout",
    "leftover_temp",
)


class StoreIssue(BaseModel):
    kind: str
    stage: str
    gen_id: str
    detail: str


class StoreReport(BaseModel):
    generations: dict[str, int]
    issues: list[StoreIssue]

    def counts(self) -> Counter[str]:
        return Counter(issue.kind for issue in self.issues)

    @property
    def healthy(self) -> bool:
        return not self.issues

    def table(self, limit: int = 200) -> str:
        gens = ", ".join(f"{stage} {n}" for stage, n in self.generations.items())
        lines = [f"gens store: {gens}"]
        if self.healthy:
            lines.append("no problems found")
            return "\n".join(lines)
        lines.append(f"{'kind':<20}{'stage':<11}{'gen_id':<26}detail")
        for issue in self.issues[:limit]:
            lines.append(f"{issue.kind:<20}{issue.stage:<11}{issue.gen_id:<26}{issue.detail}")
        if len(self.issues) > limit:
            lines.append(f"... {len(self.issues) - limit} more")
        lines.append("summary: " + ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts().items())))
        return "\n".join(lines)


def check_store(layout: DataLayout, catalogs: Catalogs | None = None) -> StoreReport:
    try:
        catalogs = catalogs or Catalogs.load(layout)
    except DayDreamError:
        catalogs = None
    shas = TemplateShas(catalogs) if catalogs else None
    try:
        combos = ComboCatalog(layout.combo_mappings)
    except DayDreamError:
        combos = None
    store = GensStore(layout)
    issues: list[StoreIssue] = []
    generations: dict[str, int] = {}

    def add(kind: str, stage: str, gen_id: str, detail: str) -> None:
        issues.append(StoreIssue(kind=kind, stage=stage, gen_id=gen_id, detail=detail))

    if layout.gens.is_dir():
        for entry in sorted(os.listdir(layout.gens)):
            if entry not in STAGES:
                add("outside_layout", "-", "-", f"gens/{entry} is not a stage directory")
    present = {stage: set(store.iter_gen_ids(stage)) for stage in STAGES}
    for stage in STAGES:
        generations[stage] = len(present[stage])
        stage_dir = layout.gens / stage
        if stage_dir.is_dir():
            for entry in os.scandir(stage_dir):
                if not entry.is_dir():
                    add(
                        "outside_layout", stage, "-", f"gens/{stage}/{entry.name} is a file, not a generation directory"
                    )
        for gen_id in sorted(present[stage]):
            gen_dir = store.dir(stage, gen_id)
            for name in sorted(os.listdir(gen_dir)):
                if name.endswith(".tmp"):
                    add("leftover_temp", stage, gen_id, f"{name} (an interrupted write; safe to delete)")
                elif name not in KNOWN_FILES:
                    add("outside_layout", stage, gen_id, f"unexpected file {name}")
            try:
                meta = store.read_metadata(stage, gen_id)
            except StoreError as exc:
                add("unreadable_metadata", stage, gen_id, str(exc))
                continue
            if meta is None:
                add("missing_metadata", stage, gen_id, "no metadata.json")
                continue
            try:
                state = store.state(stage, gen_id, shas.get(stage, meta.template_id or "") if shas else None)
            except StoreError as exc:  # an unreadable raw_metadata.json
                add("unreadable_metadata", stage, gen_id, str(exc))
                state = None
            has_raw = (gen_dir / "raw.txt").exists()
            if state == GenState.FAILED:
                err = store.read_json(stage, gen_id, "error.json") if (gen_dir / "error.json").exists() else None
                detail = (err or {}).get("error", "")
                add(
                    "raw_without_parsed" if has_raw else "failed",
                    stage,
                    gen_id,
                    (detail or "raw.txt kept, no parsed.txt")[:160],
                )
            elif state == GenState.STALE:
                add("stale", stage, gen_id, f"template {meta.template_id} changed since this ran")
            if stage == "draft":
                if combos is not None and meta.combo_id and meta.combo_id not in combos:
                    add("unknown_combo", stage, gen_id, f"combo {meta.combo_id} not in combo_mappings.csv")
            else:
                parent = meta.parent_gen_id or ""
                ok = (
                    parent in present["draft"]
                    if stage == "essay"
                    else (parent in present["essay"] or parent in present["draft"])
                )
                if not ok:
                    add("broken_parent", stage, gen_id, f"parent {parent or '(none)'} not in the store")
    return StoreReport(generations=generations, issues=issues)
