"""What a cohort has spent, for budgets and status.

Every paid call appends one line to ``cohorts/<id>/runs/spend.jsonl``. Many workers of many
processes append to the same ledger at once, so each append holds the ledger's lock
(``locks.hold``) and writes the whole line with ``atomic.append_line``: lines follow one another
whole, none is lost or interleaved, and a line cut by a crash stays alone on its line (it is skipped
when read). Reading the ledger is one small file instead of every generation's
``raw_metadata.json``.

On object storage nothing can be appended to, and one lease serialising every paid call of the
cluster would be a bottleneck: the ledger is ``Storage.ledger`` there (one small object per line,
written by a conditional create that never conflicts; read by one listing and concurrent GETs).
"""

from __future__ import annotations

import json
from typing import Any

from daydream import atomic
from daydream.catalogs import LlmModel
from daydream.locks import hold
from daydream.paths import DataLayout
from daydream.storage.objpath import ObjectPath, split
from daydream.store import GensStore, utc_now

SPEND_FILE = "spend.jsonl"


def estimate_cost(model: LlmModel, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Cost from catalog prices per million tokens; ``None`` (unknown, not zero) when a price is missing."""
    if model.price_prompt_per_mtok is None or model.price_completion_per_mtok is None:
        return None
    return (prompt_tokens * model.price_prompt_per_mtok + completion_tokens * model.price_completion_per_mtok) / 1e6


def _number(value: Any) -> float:
    """A cost or count from a ledger line; anything that is not a number (a hand edit) counts as 0."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class SpendLedger:
    def __init__(self, layout: DataLayout, cohort_id: str):
        self.layout = layout
        self.path = layout.runs_dir(cohort_id) / SPEND_FILE

    def record(
        self,
        *,
        stage: str,
        gen_id: str,
        llm_model_id: str,
        cost_usd: float | None,
        estimated: bool,
        usage: dict[str, int],
    ) -> None:
        line = json.dumps(
            {
                "at": utc_now(),
                "stage": stage,
                "gen_id": gen_id,
                "llm_model_id": llm_model_id,
                "cost_usd": cost_usd,
                "estimated": estimated,
                **usage,
            }
        )
        self.layout.inside(self.path.parent)
        if isinstance(self.path, ObjectPath):
            storage, key = split(self.path)
            storage.ledger(key).append(line)
            return
        with hold(self.path):
            atomic.append_line(self.path, line)

    def entries(self) -> list[dict[str, Any]]:
        """Every whole line; one cut by a crash mid-write is skipped, never fatal. An unreadable
        ledger is a ``StoreError``: a budget cannot be checked against spend nobody can read."""
        if isinstance(self.path, ObjectPath):
            storage, key = split(self.path)
            text = "\n".join(storage.ledger(key).lines())
        else:
            text = GensStore(self.layout).read_file(self.path) or ""
        out = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out

    def total_cost(self) -> float:
        return sum(_number(e.get("cost_usd")) for e in self.entries())

    def totals(self) -> dict[str, Any]:
        entries = self.entries()
        return {
            "calls": len(entries),
            "prompt_tokens": int(sum(_number(e.get("prompt_tokens")) for e in entries)),
            "completion_tokens": int(sum(_number(e.get("completion_tokens")) for e in entries)),
            "total_tokens": int(sum(_number(e.get("total_tokens")) for e in entries)),
            "cost_usd": sum(_number(e.get("cost_usd")) for e in entries),
            "calls_with_unknown_cost": sum(1 for e in entries if e.get("cost_usd") is None),
        }
