"""What a cohort has spent, for budgets and status.

Every paid call appends one line to ``cohorts/<id>/runs/spend.jsonl``. A single ``write`` of a short
line with ``O_APPEND`` is atomic on POSIX, so parallel workers never interleave lines, and reading
the ledger is one small file instead of every generation's ``raw_metadata.json``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from daydream.catalogs import LlmModel
from daydream.paths import DataLayout
from daydream.store import utc_now


def estimate_cost(model: LlmModel, prompt_tokens: int, completion_tokens: int) -> float | None:
    """Cost from catalog prices per million tokens; ``None`` (unknown, not zero) when a price is missing."""
    if model.price_prompt_per_mtok is None or model.price_completion_per_mtok is None:
        return None
    return (prompt_tokens * model.price_prompt_per_mtok + completion_tokens * model.price_completion_per_mtok) / 1e6


class SpendLedger:
    def __init__(self, layout: DataLayout, cohort_id: str):
        self.path = layout.runs_dir(cohort_id) / "spend.jsonl"

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
        line = (
            json.dumps(
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
            + "\n"
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)

    def entries(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write is ignored, never fatal
        return out

    def total_cost(self) -> float:
        return sum(float(e.get("cost_usd") or 0.0) for e in self.entries())

    def totals(self) -> dict[str, Any]:
        entries = self.entries()
        return {
            "calls": len(entries),
            "prompt_tokens": sum(int(e.get("prompt_tokens") or 0) for e in entries),
            "completion_tokens": sum(int(e.get("completion_tokens") or 0) for e in entries),
            "total_tokens": sum(int(e.get("total_tokens") or 0) for e in entries),
            "cost_usd": sum(float(e.get("cost_usd") or 0.0) for e in entries),
            "calls_with_unknown_cost": sum(1 for e in entries if e.get("cost_usd") is None),
        }
