"""The batch lane up to the wait: which generations go by batch, their requests, the manifests, the
submission, and re-attaching to what an earlier attempt submitted.

Never pay twice:

- a generation an open batch holds is never prepared or sent again: it is waited for;
- each generation goes through the runner's ``prepare`` (under its generation lock), so a done one is
  skipped and a kept raw answer is re-judged without a call, exactly as in the direct lane;
- the manifest is created (exclusively) before the create call; a create whose answer was lost leaves
  it ``submitting``, and the next attempt looks the batch up at the provider (``BatchAdapter.find``)
  before it would send again;
- a batch the provider refuses (4xx) costs nothing: its generations fail with the provider's words.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from daydream.batch.collect import plan_of
from daydream.batch.manifest import BatchManifest, BatchManifests, ManifestItem, fingerprint, holding, text_sha256
from daydream.batch.runner import BatchRunner, batch_cost
from daydream.call_plan import CallPlan, RunOptions
from daydream.catalogs import LlmModel
from daydream.errors import DayDreamError, LLMError, StoreError
from daydream.llm.batch import BatchAdapter, BatchRequest
from daydream.llm.retry import LLMCallError
from daydream.outcome import GenerationOutcome, outcome
from daydream.paths import DataLayout, Stage
from daydream.store import utc_now

log = logging.getLogger("daydream.batch")

Connect = Callable[[str, str | None], BatchAdapter]
"""``(api, conn_id) -> adapter``: Airflow resolves the connection (``conn_id`` None: choose one), the
CLI reads the environment."""
MAX_REQUESTS_ENV = "DAYDREAM_BATCH_MAX_REQUESTS"
BATCH_STAGE_DEFAULT = "evaluation"
"""Without ``batch: true``, only this stage goes by batch (for models with a batch API)."""


class BatchRefused(LLMError):
    """The provider refused the batch (4xx at creation): nothing was paid."""


def batch_api_for(model: LlmModel | None, stage: str, batch: bool | None) -> str | None:
    """The batch API a generation of ``model`` in ``stage`` goes through, or None (a direct call).

    ``batch``: the run's switch. ``False``: none. ``True``: every stage, for paid models with a batch
    API. ``None`` (the default): evaluations of paid models with a batch API.
    """
    if model is None or model.tier != "paid" or model.batch_api is None or batch is False:
        return None
    return model.batch_api if batch or stage == BATCH_STAGE_DEFAULT else None


def max_requests(adapter: BatchAdapter) -> int:
    """The provider's limit, lowered by ``$DAYDREAM_BATCH_MAX_REQUESTS`` (smaller batches, tests)."""
    value = os.environ.get(MAX_REQUESTS_ENV, "").strip()
    if value and (not value.isdigit() or int(value) < 1):
        raise DayDreamError(f"${MAX_REQUESTS_ENV} must be a whole number >= 1, got {value[:20]!r}")
    return min(adapter.max_requests, int(value)) if value else adapter.max_requests


def lane_groups(layout: DataLayout, cohort_id: str, stage: str, gen_ids: Iterable[str]) -> dict[str, list[str]]:
    """``llm_model_id -> gen ids`` (sorted): a lane runs per model, since a batch holds one model."""
    from daydream.membership import read_membership

    wanted = set(gen_ids)
    if not wanted:
        return {}
    rows = read_membership(layout, cohort_id)
    rows = rows[(rows["stage"] == stage) & rows["gen_id"].isin(wanted)]
    groups: dict[str, list[str]] = {}
    for gen_id, model_id in zip(rows["gen_id"], rows["llm_model_id"], strict=True):
        groups.setdefault(str(model_id), []).append(str(gen_id))
    return {model: sorted(ids) for model, ids in sorted(groups.items())}


@dataclass
class LaneStart:
    """What the lane waits for (manifest keys) and what it settled without a batch."""

    keys: list[str] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


def start_lane(
    layout: DataLayout,
    cohort_id: str,
    stage: Stage,
    llm_model_id: str,
    gen_ids: Iterable[str],
    *,
    options: RunOptions,
    connect: Connect,
) -> LaneStart:
    """Re-attach to the open batches holding these generations, submit the rest; manifests first."""
    runner = BatchRunner(layout, options=options, cohort_id=cohort_id)
    manifests = BatchManifests(layout, cohort_id)
    ids = sorted(set(gen_ids))
    held = holding(layout, cohort_id, stage, ids)
    start = LaneStart(keys=sorted(set(held.values())))
    plans, settled = _prepare(runner, stage, [g for g in ids if g not in held])
    start.outcomes += settled
    open_ones = [manifests.read(key) for key in start.keys]
    if not plans and not any(m.state == "submitting" for m in open_ones):
        return start
    model = runner.catalogs.model(llm_model_id)
    api = model.batch_api or (open_ones[0].api if open_ones else None)
    if api is None:
        raise DayDreamError(f"model {llm_model_id!r} has no batch API (llm_models.csv, column 'batch')")
    adapter = connect(api, open_ones[0].conn_id if open_ones else None)
    try:
        for manifest in open_ones:
            if manifest.state == "submitting":
                start.outcomes += _resubmit(runner, manifests, manifest, adapter)
        plans, over_budget = _within_budget(runner, model, stage, plans)
        start.outcomes += over_budget
        for chunk in _chunks(adapter, plans):
            key, failed = _submit_new(runner, manifests, adapter, model, stage, chunk)
            start.outcomes += failed
            if key is not None:
                start.keys.append(key)
    finally:
        adapter.close()
    start.keys = [k for k in dict.fromkeys(start.keys) if manifests.read(k).is_open]
    return start


def _prepare(runner: BatchRunner, stage: Stage, gen_ids: list[str]) -> tuple[list[CallPlan], list[dict[str, Any]]]:
    """The runner's ``prepare`` for each generation, under its lock: calls to make, or outcomes."""
    plans: list[CallPlan] = []
    settled: list[dict[str, Any]] = []
    for gen_id in gen_ids:
        try:
            with runner.generation_lock(stage, gen_id) as acquired:
                if not acquired:
                    step: CallPlan | GenerationOutcome = outcome(stage, gen_id, "busy", "another worker runs it")
                else:
                    step = runner.prepare(stage, gen_id)
        except DayDreamError as exc:
            step = outcome(stage, gen_id, "failed", str(exc))
        if isinstance(step, CallPlan):
            plans.append(step)
        else:
            settled.append(step.as_dict())
    return plans, settled


def _within_budget(
    runner: BatchRunner, model: LlmModel, stage: str, plans: list[CallPlan]
) -> tuple[list[CallPlan], list[dict[str, Any]]]:
    """As many requests as the budget left allows at the batch price (the direct lane checks each call
    before it starts; a batch is paid for all at once). Unknown prices cannot be bounded: all go."""
    from daydream.estimate import DEFAULT_COMPLETION_TOKENS, count_tokens  # pandas: only when a budget is set

    limit = runner.options.max_cost_usd
    if limit is None or runner.ledger is None or not plans:
        return plans, []
    left = limit - runner.ledger.total_cost()
    kept: list[CallPlan] = []
    spent = 0.0
    for plan in plans:
        cost = batch_cost(model, count_tokens(plan.prompt), DEFAULT_COMPLETION_TOKENS[stage])
        if cost is not None and spent + cost > left:
            break
        spent += cost or 0.0
        kept.append(plan)
    message = f"the batch would exceed max_cost_usd (${limit:.4f}; ${max(left, 0):.4f} left at the batch price)"
    return kept, [outcome(p.stage, p.gen_id, "budget", message).as_dict() for p in plans[len(kept) :]]


def _chunks(adapter: BatchAdapter, plans: list[CallPlan]) -> list[list[CallPlan]]:
    """Split at the provider's limits (requests and bytes), in gen id order, so a retry splits alike."""
    limit, room = max_requests(adapter), int(adapter.max_bytes * 0.95)
    chunks: list[list[CallPlan]] = []
    size = 0
    for plan in sorted(plans, key=lambda p: p.gen_id):
        grown = size + adapter.size(_request(adapter, plan, ""))
        if not chunks or len(chunks[-1]) >= limit or grown > room:
            chunks.append([])
            grown = adapter.size(_request(adapter, plan, ""))
        chunks[-1].append(plan)
        size = grown
    return chunks


def _request(adapter: BatchAdapter, plan: CallPlan, model: str) -> BatchRequest:
    return BatchRequest(
        custom_id=adapter.custom_id(plan.gen_id),
        model=model or plan.model,
        prompt=plan.prompt,
        max_tokens=plan.max_tokens,
        temperature=plan.temperature,
    )


def _item(layout: DataLayout, plan: CallPlan, request: BatchRequest) -> ManifestItem:
    return ManifestItem(
        gen_id=plan.gen_id,
        custom_id=request.custom_id,
        prompt_sha256=text_sha256(plan.prompt),
        max_tokens=plan.max_tokens,
        temperature=plan.temperature,
        parser=plan.parser,
        template_sha256=plan.template_sha256,
        answer_dir=str(plan.answer_dir.relative_to(layout.root)),
        protecting=plan.protecting,
    )


def _submit_new(
    runner: BatchRunner,
    manifests: BatchManifests,
    adapter: BatchAdapter,
    model: LlmModel,
    stage: Stage,
    plans: list[CallPlan],
) -> tuple[str | None, list[dict[str, Any]]]:
    requests = [_request(adapter, plan, model.batch_model_name) for plan in plans]
    print_ = fingerprint(requests)
    earlier = [k for k in manifests.keys() if k.startswith(f"{stage}-{print_[:16]}-")]
    manifest = BatchManifest(
        key=f"{stage}-{print_[:16]}-{len(earlier) + 1}",
        cohort_id=manifests.cohort_id,
        stage=stage,
        llm_model_id=model.id,
        api=adapter.api,
        model=model.batch_model_name,
        base_url=adapter.settings.base_url,
        conn_id=adapter.conn_id,
        fingerprint=print_,
        items=[_item(runner.layout, p, r) for p, r in zip(plans, requests, strict=True)],
        created_epoch=time.time(),
    )
    if not manifests.create(manifest):  # another attempt made this very batch a moment ago: wait for it
        return manifest.key, []
    return _send(runner, manifests, manifest, adapter, requests)


def _send(
    runner: BatchRunner,
    manifests: BatchManifests,
    manifest: BatchManifest,
    adapter: BatchAdapter,
    requests: list[BatchRequest],
) -> tuple[str | None, list[dict[str, Any]]]:
    """The create call, once. Refused (4xx): the items fail, nothing was paid. Lost (timeout, 5xx):
    raised, the manifest stays ``submitting`` and the next attempt looks the batch up."""
    try:
        status = adapter.submit(requests, model=manifest.model, tag=manifest.key)
    except LLMCallError as exc:
        if exc.retryable or exc.status is None:
            raise
        return None, _refused(runner, manifests, manifest, str(exc))

    def submitted(m: BatchManifest) -> None:
        m.batch_id, m.state, m.submitted_at = status.batch_id, "submitted", utc_now()
        m.polled(status)

    manifests.update(manifest.key, submitted)
    log.info("submitted %s batch %s (%d requests) as %s", adapter.api, status.batch_id, len(requests), manifest.key)
    return manifest.key, []


def _refused(
    runner: BatchRunner, manifests: BatchManifests, manifest: BatchManifest, message: str
) -> list[dict[str, Any]]:
    error = BatchRefused(f"the {manifest.api} batch API refused the batch: {message}")
    outcomes = []
    for item in manifest.items:
        plan = plan_of(runner, manifest, item)
        if isinstance(plan, str):
            outcomes.append(outcome(manifest.stage, item.gen_id, "failed", plan).as_dict())
        else:
            outcomes.append({**runner.record_call_failure(plan, error).as_dict(), "batch_key": manifest.key})

    def refused(m: BatchManifest) -> None:
        m.state, m.error = "refused", message
        for item in m.items:
            item.state, item.message = "failed", str(error)

    manifests.update(manifest.key, refused)
    return outcomes


def _resubmit(
    runner: BatchRunner, manifests: BatchManifests, manifest: BatchManifest, adapter: BatchAdapter
) -> list[dict[str, Any]]:
    """A manifest left ``submitting``: find the batch its create call made, else send it now."""
    taken = {m.batch_id for m in manifests.all() if m.batch_id}
    found = adapter.find(
        tag=manifest.key, model=manifest.model, count=len(manifest.items), since=manifest.created_epoch, taken=taken
    )
    if found is not None:
        status = adapter.status(found)

        def attached(m: BatchManifest) -> None:
            m.batch_id, m.state, m.submitted_at = found, "submitted", utc_now()
            m.polled(status)

        manifests.update(manifest.key, attached)
        log.info("re-attached %s to %s batch %s (its create call's answer was lost)", manifest.key, manifest.api, found)
        return []
    requests = []
    for item in manifest.items:
        plan = plan_of(runner, manifest, item)
        if isinstance(plan, str):
            raise StoreError(f"batch {manifest.key} cannot be sent again: {plan}")
        requests.append(_request(adapter, plan, manifest.model).model_copy(update={"custom_id": item.custom_id}))
    log.info("batch %s was never created at the provider; sending it now", manifest.key)
    return _send(runner, manifests, manifest, adapter, requests)[1]
