"""Where a cohort stands: per stage pending / done / failed / stale / broken, and what it has spent.

It degrades per generation: a generation whose files cannot be read (a corrupt ``raw_metadata.json``,
permission denied, a file where its directory should be) is counted ``broken`` in its stage's row,
and an unreadable spend ledger shows as unknown spend; neither takes the whole status down.
``daydream store check`` says what is wrong with each.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
from pydantic import BaseModel

from daydream.catalogs import Catalogs
from daydream.errors import DayDreamError
from daydream.membership import read_membership
from daydream.paths import STAGES, DataLayout
from daydream.rendering import template_sha256
from daydream.spend import SpendLedger
from daydream.storage.objpath import ObjectPath
from daydream.store import GensStore, GenState


class TemplateShas:
    """Current template hashes, read once per command (staleness compares against them)."""

    def __init__(self, catalogs: Catalogs):
        self.catalogs = catalogs

        self._shas: dict[tuple[str, str], str | None] = {}

    def get(self, stage: str, template_id: str) -> str | None:
        key = (stage, template_id)
        if key not in self._shas:
            self._shas[key] = self._compute(stage, template_id)
        return self._shas[key]

    def _compute(self, stage: str, template_id: str) -> str | None:
        template = self.catalogs.templates.get(stage, {}).get(template_id)
        if template is None or template.is_copy:
            return None
        try:
            return template_sha256(self.catalogs.template_text(stage, template_id))  # type: ignore[arg-type]
        except DayDreamError:
            return None


def member_states(layout: DataLayout, membership: pd.DataFrame, catalogs: Catalogs) -> list[GenState]:
    store = GensStore(layout)
    shas = TemplateShas(catalogs)
    if isinstance(layout.root, ObjectPath):  # one listing per stage, concurrent reads
        from daydream import store_objects

        members = zip(membership["stage"], membership["gen_id"], membership["template_id"], strict=False)
        return store_objects.states(layout, list(members), shas.get)
    return [
        store.state(stage, gen_id, shas.get(stage, template))
        for stage, gen_id, template in zip(
            membership["stage"], membership["gen_id"], membership["template_id"], strict=False
        )
    ]


class StageStatus(BaseModel):
    total: int = 0
    pending: int = 0
    done: int = 0
    failed: int = 0
    stale: int = 0
    broken: int = 0


class CohortStatus(BaseModel):
    cohort_id: str
    stages: dict[str, StageStatus]
    spend: dict[str, Any]

    @property
    def unfinished(self) -> bool:
        return any(s.pending or s.failed for s in self.stages.values())

    def table(self) -> str:
        broken = any(s.broken for s in self.stages.values())  # the column appears only when needed
        lines = [
            f"cohort {self.cohort_id}",
            f"  {'stage':<11}{'total':>8}{'pending':>9}{'done':>8}{'failed':>8}{'stale':>7}"
            + (f"{'broken':>8}" if broken else ""),
        ]
        for stage, s in self.stages.items():
            lines.append(
                f"  {stage:<11}{s.total:>8}{s.pending:>9}{s.done:>8}{s.failed:>8}{s.stale:>7}"
                + (f"{s.broken:>8}" if broken else "")
            )
        if broken:
            lines.append("  broken: files that cannot be read; 'daydream store check' names each")
        sp = self.spend
        if sp.get("error"):
            lines.append(f"  spent: unknown ({sp['error']})")
            return "\n".join(lines)
        unknown = (
            f" ({sp['calls_with_unknown_cost']} call(s) with unknown cost)" if sp["calls_with_unknown_cost"] else ""
        )
        lines.append(
            f"  spent: {sp['calls']} LLM calls, {sp['prompt_tokens']} prompt + {sp['completion_tokens']} "
            f"completion tokens, ${sp['cost_usd']:.4f}{unknown}"
        )
        return "\n".join(lines)


def cohort_status(layout: DataLayout, cohort_id: str, catalogs: Catalogs | None = None) -> CohortStatus:
    catalogs = catalogs or Catalogs.load(layout)
    membership = read_membership(layout, cohort_id)
    states = member_states(layout, membership, catalogs)
    counts: dict[str, Counter[str]] = {stage: Counter() for stage in STAGES}
    for stage, state in zip(membership["stage"], states, strict=False):
        counts[stage][state.value] += 1
    stages = {stage: StageStatus(total=sum(c.values()), **{k: v for k, v in c.items()}) for stage, c in counts.items()}
    try:
        spend = SpendLedger(layout, cohort_id).totals()
    except DayDreamError as exc:
        spend = {"error": str(exc)}
    return CohortStatus(cohort_id=cohort_id, stages=stages, spend=spend)
