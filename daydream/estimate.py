"""What a cohort will cost before it runs: calls, tokens and dollars per stage and model, for both lanes.

Each row is priced as direct calls (``cost_usd``) and, when its model has a batch API, at the batch
price (``batch_cost_usd``: catalog price x (1 - the model's batch discount)); ``lane`` says which one a
run with the given ``batch`` switch uses (``daydream.batch.batch_api_for``), so the table shows what
the switch saves. Prompt tokens come from the rendered prompts where the inputs exist (drafts always; essays and
evaluations once their parent is done), otherwise from the template plus the expected parent length.
Completion tokens are the store's observed mean for that stage and model when there is history, else a
per-stage default. A model without catalog prices shows its cost as unknown, never as zero.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from daydream.catalogs import Catalogs
from daydream.combos import ComboCatalog
from daydream.errors import DayDreamError
from daydream.membership import read_membership
from daydream.paths import STAGES, DataLayout
from daydream.rendering import render_text
from daydream.spend import estimate_cost
from daydream.store import GensStore

CHARS_PER_TOKEN = 4.0
DEFAULT_COMPLETION_TOKENS = {"draft": 1200, "essay": 1500, "evaluation": 700}


def count_tokens(text: str) -> int:
    """A provider-neutral approximation (~4 characters per token for English prose)."""
    return max(1, int(round(len(text) / CHARS_PER_TOKEN)))


class EstimateRow(BaseModel):
    stage: str
    llm_model_id: str
    tier: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # as direct calls
    batch_api: str | None = None  # the model's batch API, when it has one
    batch_cost_usd: float | None = None  # at the batch price (None: no batch API, or no price)
    lane: str = "direct"  # what a run with the estimate's ``batch`` switch does: "direct" or "batch"

    @property
    def lane_cost(self) -> float | None:
        return self.batch_cost_usd if self.lane == "batch" else self.cost_usd


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.4f}"


class CohortEstimate(BaseModel):
    cohort_id: str
    rows: list[EstimateRow]
    skipped_done: int
    batch: bool | None = None  # the run switch the ``lane`` column is for (None: the default)

    @property
    def total_cost(self) -> float | None:
        """Everything as direct calls."""
        costs = [r.cost_usd for r in self.rows if r.calls]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    @property
    def run_cost(self) -> float | None:
        """As a run with the estimate's ``batch`` switch goes (each row in its lane)."""
        costs = [r.lane_cost for r in self.rows if r.calls]
        return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)

    def table(self) -> str:
        head = (
            f"{'stage':<11}{'model':<24}{'tier':<6}{'calls':>7}{'prompt tok':>12}{'compl tok':>11}"
            f"{'lane':>8}{'batch USD':>12}{'direct USD':>12}"
        )
        switch = {None: "default", True: "true", False: "false"}[self.batch]
        lines = [
            f"estimate for cohort {self.cohort_id} ({self.skipped_done} generation(s) already done, not counted; "
            f"lane: what a run with param batch={switch} does)",
            head,
        ]
        for r in self.rows:
            batch = "-" if r.batch_api is None else _money(r.batch_cost_usd)
            lines.append(
                f"{r.stage:<11}{r.llm_model_id:<24}{r.tier:<6}{r.calls:>7}{r.prompt_tokens:>12}"
                f"{r.completion_tokens:>11}{r.lane:>8}{batch:>12}{_money(r.cost_usd):>12}"
            )
        known = sum(r.cost_usd or 0.0 for r in self.rows)
        unknown = [f"{r.stage}/{r.llm_model_id}" for r in self.rows if r.cost_usd is None and r.calls]
        total = f"total: ${known:.4f}" + (f" + unknown for {', '.join(unknown)} (no catalog price)" if unknown else "")
        if any(r.lane == "batch" for r in self.rows):
            lane_total = sum(r.lane_cost or 0.0 for r in self.rows)
            total += f" as direct calls; ${lane_total:.4f} with the batch lane (saves ${known - lane_total:.4f})"
        lines.append(total)
        return "\n".join(lines)


def _observed_completion(store: GensStore) -> dict[tuple[str, str], float]:
    sums: dict[tuple[str, str], list[int]] = defaultdict(list)
    for stage, gen_id in store.iter_all():
        try:
            meta = store.read_json(stage, gen_id, "raw_metadata.json") or {}
        except DayDreamError:
            continue  # an unreadable history only makes the estimate use the default
        usage = meta.get("usage")
        tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
        if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0:
            sums[(stage, str(meta.get("llm_model_id")))].append(tokens)
    return {key: sum(v) / len(v) for key, v in sums.items()}


def estimate_cohort(
    layout: DataLayout, cohort_id: str, catalogs: Catalogs | None = None, *, batch: bool | None = None
) -> CohortEstimate:
    """``batch``: the run switch whose lanes the ``lane`` column shows (None: the default run's)."""
    catalogs = catalogs or Catalogs.load(layout)
    combos = ComboCatalog(layout.combo_mappings)
    if layout.membership(cohort_id).exists():
        membership = read_membership(layout, cohort_id)
    else:  # not built yet: price the plan, writing nothing, so the cost is known before the build
        from daydream.cohorts import plan_cohort

        plan = plan_cohort(layout, cohort_id, catalogs=catalogs)
        membership = plan.membership
        combos.ensure(plan.new_combos, write=False)
    store = GensStore(layout)
    observed = _observed_completion(store)
    rendered_len: dict[str, int] = {}  # gen_id -> expected output tokens, for children's prompts
    agg: dict[tuple[str, str], dict[str, Any]] = {}
    skipped = 0
    for row in membership.itertuples(index=False):
        stage, gen_id = row.stage, row.gen_id
        template = catalogs.templates[stage].get(row.template_id)
        expected_out = observed.get((stage, row.llm_model_id), DEFAULT_COMPLETION_TOKENS[stage])
        rendered_len[gen_id] = int(expected_out)
        if template is None or template.is_copy:
            continue
        if _done(store, stage, gen_id):
            skipped += 1
            continue
        key = (stage, row.llm_model_id)
        bucket = agg.setdefault(key, {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0})
        bucket["calls"] += 1
        bucket["prompt_tokens"] += _prompt_tokens(catalogs, combos, store, row, template.template_id, rendered_len)
        bucket["completion_tokens"] += int(expected_out)
    rows = [
        _estimate_row(catalogs, stage, model_id, bucket, batch)
        for (stage, model_id), bucket in sorted(agg.items(), key=lambda kv: (STAGES.index(kv[0][0]), kv[0][1]))
    ]
    return CohortEstimate(cohort_id=cohort_id, rows=rows, skipped_done=skipped, batch=batch)


def _done(store: GensStore, stage: str, gen_id: str) -> bool:
    """Done generations cost nothing more; one whose files cannot be read is priced as still to run."""
    try:
        return store.is_done(stage, gen_id)  # type: ignore[arg-type]
    except DayDreamError:
        return False


def _prompt_tokens(
    catalogs: Catalogs, combos: ComboCatalog, store: GensStore, row: Any, template_id: str, rendered: dict[str, int]
) -> int:
    """The rendered prompt's tokens where the inputs exist, else the template plus the expected parent."""
    stage = row.stage
    text = ""
    try:
        text = catalogs.template_text(stage, template_id)
        if stage == "draft":
            combo = combos.get(row.combo_id)
            concepts = [
                {
                    "name": catalogs.concepts[c].name if c in catalogs.concepts else c,
                    "content": catalogs.concept_text(c, combo.level),
                }
                for c in combo.concept_ids
            ]
            path = catalogs.template_path(stage, template_id)
            return count_tokens(render_text(text, {"concepts": concepts}, path=path))
        parent_text = store.parsed_text(
            "draft" if stage == "essay" else "essay", row.parent_gen_id
        ) or store.parsed_text("draft", row.parent_gen_id)
        parent_tokens = (
            count_tokens(parent_text)
            if parent_text
            else rendered.get(row.parent_gen_id, DEFAULT_COMPLETION_TOKENS["essay"])
        )
        factor = 2 if stage == "essay" else 1  # essay templates use the draft twice (draft + links)
        return count_tokens(text) + factor * parent_tokens
    except DayDreamError:
        return count_tokens(text) if text else 0


def _estimate_row(
    catalogs: Catalogs, stage: str, model_id: str, bucket: dict[str, Any], batch: bool | None
) -> EstimateRow:
    from daydream.batch.lane import batch_api_for
    from daydream.batch.runner import batch_cost

    model = catalogs.models.get(model_id)
    tokens = (bucket["prompt_tokens"], bucket["completion_tokens"])
    cost = estimate_cost(model, *tokens) if model else None
    api = batch_api_for(model, stage, True)  # what the model can do, whatever the switch
    return EstimateRow(
        stage=stage,
        llm_model_id=model_id,
        tier=model.tier if model else "unknown",
        cost_usd=cost,
        batch_api=api,
        batch_cost_usd=batch_cost(model, *tokens) if model and api else None,
        lane="batch" if batch_api_for(model, stage, batch) else "direct",
        **bucket,
    )
