"""An ended batch into the gens store, one result at a time, exactly as a direct answer would go.

For each item, under its generation lock: a succeeded answer is recorded by the runner's
``record_answer`` (``raw.txt`` and ``raw_metadata.json`` first, with ``batch_id``, then the spend
ledger) and judged by ``finish``; an errored, expired, canceled or missing request is a failed
generation (``record_call_failure``) carrying the provider's reason, so a rerun sends only those.
Collecting twice is harmless: an answer already filed from this batch is re-judged, never recorded
(or paid) again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from daydream.batch.manifest import BatchManifest, BatchManifests, ManifestItem, text_sha256
from daydream.batch.runner import BatchAnswer, BatchRunner
from daydream.call_plan import CallPlan, RunOptions
from daydream.errors import DayDreamError, LLMError
from daydream.llm.batch import BatchAdapter, ItemResult
from daydream.outcome import GenerationOutcome, outcome
from daydream.paths import DataLayout
from daydream.store import utc_now

log = logging.getLogger("daydream.batch")


class BatchItemFailed(LLMError):
    """A request of a batch did not come back with an answer."""


class BatchItemErrored(BatchItemFailed):
    """The provider answered the request with an error."""


class BatchItemExpired(BatchItemFailed):
    """The batch's window closed before the request was processed."""


class BatchItemCanceled(BatchItemFailed):
    """The batch was cancelled before the request was processed."""


class BatchItemMissing(BatchItemFailed):
    """The ended batch listed no result for the request."""


_FAILURES: dict[str, type[BatchItemFailed]] = {
    "errored": BatchItemErrored,
    "expired": BatchItemExpired,
    "canceled": BatchItemCanceled,
    "missing": BatchItemMissing,
}


def plan_of(runner: BatchRunner, manifest: BatchManifest, item: ManifestItem) -> CallPlan | str:
    """The ``CallPlan`` the item was sent with, rebuilt from the manifest and its ``prompt.txt``; or
    why it cannot be (the prompt is gone or changed since the batch was sent)."""
    answer_dir = runner.layout.root / item.answer_dir
    try:
        runner.layout.inside(answer_dir.parent)
        prompt = runner.store.read_file(answer_dir / "prompt.txt")
        model = runner.catalogs.model(manifest.llm_model_id)
    except DayDreamError as exc:
        return str(exc)
    if prompt is None or text_sha256(prompt) != item.prompt_sha256:
        where = Path(item.answer_dir) / "prompt.txt"
        return f"{where} is {'gone' if prompt is None else 'changed'} since batch {manifest.key} was sent"
    return CallPlan(
        stage=manifest.stage,
        gen_id=item.gen_id,
        llm_model_id=manifest.llm_model_id,
        model=model.model,
        prompt=prompt,
        max_tokens=item.max_tokens,
        temperature=item.temperature,
        parser=item.parser,
        template_sha256=item.template_sha256,
        answer_dir=answer_dir,
        protecting=item.protecting,
    )


def collect_batch(
    layout: DataLayout, manifest: BatchManifest, adapter: BatchAdapter, *, options: RunOptions
) -> list[dict[str, Any]]:
    """File every result of an ended batch; the outcomes, each with its ``batch_id`` and ``batch_key``.

    A batch that has not ended (or an item whose generation another worker holds) stays open: the
    next attempt collects it.
    """
    manifests = BatchManifests(layout, manifest.cohort_id)
    if manifest.state == "collected":
        return _outcomes(manifest)
    if manifest.batch_id is None:
        return []
    status = adapter.status(manifest.batch_id)
    manifest = manifests.update(manifest.key, lambda m: m.polled(status))
    if not status.ended:
        return []
    results: dict[str, ItemResult] = {r.custom_id: r for r in adapter.results(status)}
    runner = BatchRunner(layout, options=options, cohort_id=manifest.cohort_id)
    filed: dict[str, tuple[str, str, str]] = {}
    outcomes = []
    cost = 0.0
    for item in manifest.items:
        if item.state != "pending":
            continue
        missing = ItemResult(
            custom_id=item.custom_id,
            kind="missing",
            reason=f"the batch ended ({status.status}) without a result for this request",
        )
        result = _file(runner, manifest, item, results.get(item.custom_id, missing), adapter)
        state = "pending" if result.state == "busy" else ("done" if result.state == "done" else result.state)
        kind = results.get(item.custom_id, missing).kind
        filed[item.gen_id] = (state, kind, result.message)
        cost += result.cost_usd or 0.0
        outcomes.append({**result.as_dict(), "batch_id": manifest.batch_id, "batch_key": manifest.key})

    def collected(m: BatchManifest) -> None:
        for it in m.items:
            if it.gen_id in filed:
                it.state, it.kind, it.message = filed[it.gen_id]  # type: ignore[assignment]
        if all(it.state != "pending" for it in m.items):
            m.state, m.collected_at = "collected", utc_now()
        m.cost_usd = (m.cost_usd or 0.0) + cost

    manifest = manifests.update(manifest.key, collected)
    log.info("collected batch %s (%s): %s", manifest.key, manifest.batch_id, manifest.item_counts())
    return outcomes


def _file(
    runner: BatchRunner, manifest: BatchManifest, item: ManifestItem, result: ItemResult, adapter: BatchAdapter
) -> GenerationOutcome:
    stage, gen_id = manifest.stage, item.gen_id
    try:
        with runner.generation_lock(stage, gen_id) as acquired:
            if not acquired:
                return outcome(stage, gen_id, "busy", f"another worker holds it; batch {manifest.key} waits")
            plan = plan_of(runner, manifest, item)
            if isinstance(plan, str):
                return _failed(runner, stage, gen_id, plan)
            if result.kind != "succeeded" or result.body is None:
                error = _FAILURES.get(result.kind, BatchItemErrored)(_reason(manifest, result.kind, result.reason))
                return runner.record_call_failure(plan, error)
            answer = adapter.answer(result.body, model=plan.model, max_tokens=plan.max_tokens)
            if isinstance(answer, str):
                return runner.record_call_failure(plan, BatchItemErrored(_reason(manifest, "errored", answer)))
            filed = BatchAnswer(**answer.model_dump(), batch_id=str(manifest.batch_id), batch_api=manifest.api)
            return _record(runner, manifest, plan, filed)
    except DayDreamError as exc:
        return outcome(stage, gen_id, "failed", f"batch {manifest.key}: {exc}", called_llm=True)


def _record(runner: BatchRunner, manifest: BatchManifest, plan: CallPlan, answer: BatchAnswer) -> GenerationOutcome:
    """Record (once) and judge one answer, unless the generation got done another way meanwhile."""
    kept = runner.store.read_json_file(plan.answer_dir / "raw_metadata.json") or {}
    if kept.get("batch_id") == manifest.batch_id:  # filed by an earlier, interrupted collection
        return runner.finish(plan, answer)
    if not plan.protecting and runner.store.is_done(plan.stage, plan.gen_id):
        if runner.ledger is not None:  # paid all the same: the ledger must say so
            cost, estimated = runner._cost(plan, answer)
            runner.ledger.record(
                stage=plan.stage,
                gen_id=plan.gen_id,
                llm_model_id=plan.llm_model_id,
                cost_usd=cost,
                estimated=estimated,
                usage=answer.usage.model_dump(),
            )
        return outcome(plan.stage, plan.gen_id, "skipped", "done meanwhile; the batch answer was not filed")
    try:
        runner.record_answer(plan, answer)
    except DayDreamError as exc:
        return outcome(plan.stage, plan.gen_id, "failed", f"the answer could not be saved: {exc}", called_llm=True)
    return runner.finish(plan, answer)


def _reason(manifest: BatchManifest, kind: str, reason: str) -> str:
    return f"{manifest.api} batch {manifest.batch_id}: request {kind}: {reason}"


def _failed(runner: BatchRunner, stage: Any, gen_id: str, message: str) -> GenerationOutcome:
    runner.store.record_error(stage, gen_id, "BatchItemFailed", message)
    return outcome(stage, gen_id, "failed", message)


def _outcomes(manifest: BatchManifest) -> list[dict[str, Any]]:
    """What a collected batch did, for a summary asked again (a retried task)."""
    states = {"done": "done", "failed": "failed", "skipped": "skipped", "pending": "busy", "busy": "busy"}
    return [
        {
            **outcome(manifest.stage, item.gen_id, states[item.state], item.message or "collected earlier").as_dict(),  # type: ignore[arg-type]
            "batch_id": manifest.batch_id,
            "batch_key": manifest.key,
        }
        for item in manifest.items
    ]
