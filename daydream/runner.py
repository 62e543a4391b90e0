"""Run one generation (``stage``, ``gen_id``): prompt, LLM call, raw answer, validation, parse.

Order matters for money: the raw answer is written the moment it arrives, before any validation or
parsing, and a generation with ``raw.txt`` is never sent to the model again unless forced. A
per-generation lock keeps two workers (an Airflow retry racing a zombie) from paying twice. A forced
rerun never destroys a good result: its answer waits in ``attempts/incoming/`` until it has
validated and parsed (``daydream.attempts``).

One generation is four steps around the call, so a synchronous worker and an asynchronous caller (a
trigger awaiting the provider) share every rule; only the call itself differs:

- ``prepare(stage, gen_id) -> CallPlan | GenerationOutcome``: reads the metadata, skips what is done,
  re-judges a kept answer without a call, checks the budget, renders and writes ``prompt.txt``;
- ``record_answer(plan, result)``: writes ``raw.txt`` and ``raw_metadata.json``, then the spend ledger;
- ``finish(plan, result) -> GenerationOutcome``: validates, parses, writes the outputs or the error;
- ``record_call_failure(plan, error) -> GenerationOutcome``: a call that failed for good.

The caller holds ``generation_lock(stage, gen_id)`` from ``prepare`` to the end; ``StageRunner.run``
is that composition with ``llm.complete``, ``StageRunner.arun`` the same on an event loop with an async
call (``daydream.engine.generation``: the triggerer's face, each step in a worker thread). Both stop
at a model whose daily quota is used up (``daydream.engine.quota``) instead of calling it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from daydream import atomic, gen_index
from daydream.attempts import Attempts
from daydream.call_plan import CallPlan, RunOptions, parser_name
from daydream.catalogs import Catalogs, Template
from daydream.copy_mode import copy_from_parent
from daydream.engine.genlock import hold_generation
from daydream.engine.quota import QuotaBook, QuotaStop, daily_quota_reset
from daydream.errors import DayDreamError, LLMError, StoreError
from daydream.judging import Judging, judge, result_from_raw
from daydream.llm.retry import LLMCallError
from daydream.llm.settings import DEFAULT_STAGE_REQUESTS
from daydream.llm.types import LLMClient, LLMResult
from daydream.outcome import GenerationOutcome, OutcomeState
from daydream.outcome import outcome as _outcome
from daydream.paths import DataLayout, Stage
from daydream.prompting import Prompts
from daydream.raw_answer import answer_cost, raw_metadata
from daydream.rendering import template_sha256
from daydream.spend import SpendLedger
from daydream.storage import LocalStorage, Storage
from daydream.store import LOCK_FILE, GenMetadata, GensStore

log = logging.getLogger(__name__)

__all__ = ["CallPlan", "GenerationOutcome", "OutcomeState", "RunOptions", "StageRunner", "run_generation"]


class StageRunner:
    """Runs generations of one data root; catalogs are loaded once and shared across calls."""

    def __init__(
        self,
        layout: DataLayout,
        *,
        catalogs: Catalogs | None = None,
        llm: LLMClient | None = None,
        options: RunOptions | None = None,
        cohort_id: str | None = None,
        storage: Storage | None = None,
    ):
        self.layout = layout
        # Where locks and quota stops live: the data root's storage (object storage: leases, not flock).
        self.storage = storage or LocalStorage(layout.root)
        self.quota = QuotaBook(self.storage)
        self.catalogs = catalogs or Catalogs.load(layout)
        self.store = GensStore(layout)
        self.llm = llm
        self.options = options or RunOptions()
        self.cohort_id = cohort_id
        self.ledger = SpendLedger(layout, cohort_id) if cohort_id else None
        self.prompts = Prompts(layout, self.catalogs, self.store)

    # -- the sync composition ------------------------------------------------------------------
    def run(self, stage: Stage, gen_id: str, *, metadata: GenMetadata | None = None) -> GenerationOutcome:
        try:
            missing = None if metadata is not None else self.missing_outcome(stage, gen_id)
            if missing is not None:
                return missing
            with self.generation_lock(stage, gen_id) as acquired:
                if not acquired:
                    return _outcome(stage, gen_id, "busy", "another worker is running this generation")
                step = self.prepare(stage, gen_id, metadata=metadata)
                return step if isinstance(step, GenerationOutcome) else self.call(step)
        except DayDreamError as exc:  # the directory itself is unusable (a file, unreadable, a bad id)
            return _outcome(stage, gen_id, "failed", str(exc))

    def call(self, plan: CallPlan) -> GenerationOutcome:
        """The synchronous call between ``prepare`` and ``finish``."""
        if self.llm is None:
            return self.record_call_failure(plan, LLMError("no LLM client configured for this run"))
        stopped = self.quota_outcome(plan)
        if stopped is not None:
            return stopped
        started = time.monotonic()
        try:
            result = self.llm.complete(**plan.request())
        except DayDreamError as exc:
            return self.quota_outcome(plan, exc) or self.record_call_failure(plan, exc)
        if not result.duration_s:
            result.duration_s = round(time.monotonic() - started, 3)
        try:
            self.record_answer(plan, result)
        except DayDreamError as exc:
            return _outcome(plan.stage, plan.gen_id, "failed", f"the answer could not be saved: {exc}", called_llm=True)
        return self.finish(plan, result)

    async def arun(
        self,
        stage: Stage,
        gen_id: str,
        acall: Callable[[CallPlan], Awaitable[LLMResult]],
        **kwargs: Any,
    ) -> GenerationOutcome:
        """``run`` on an event loop with an async call; see ``daydream.engine.generation.run_async``."""
        from daydream.engine.generation import run_async

        return await run_async(self, stage, gen_id, acall, **kwargs)

    def lock_target(self, stage: Stage, gen_id: str) -> tuple[Path, str]:
        """The generation lock's file (local data root) and storage key (object storage)."""
        path = self.store.writable(self.store.path(stage, gen_id, LOCK_FILE))
        return path, f"gens/{stage}/{gen_id}/{LOCK_FILE}"

    @contextmanager
    def generation_lock(self, stage: Stage, gen_id: str) -> Iterator[bool]:
        """Held from ``prepare`` to the end of the generation; yields whether this process got it."""
        with hold_generation(self.storage, *self.lock_target(stage, gen_id)) as acquired:
            try:
                if acquired:
                    self.sweep(stage, gen_id)
                yield acquired
            finally:
                if acquired:
                    self.index_outcome(stage, gen_id)

    def sweep(self, stage: Stage, gen_id: str) -> None:
        """A worker or triggerer killed mid-write left temporary files; whoever holds the lock next
        clears them, so a crash leaves nothing behind once its generation runs again."""
        swept = self.store.sweep_interrupted_writes(stage, gen_id)
        if swept:
            log.warning("%s %s: removed what an interrupted write left: %s", stage, gen_id, ", ".join(swept))

    def index_outcome(self, stage: Stage, gen_id: str) -> None:
        """On object storage, the stage index's record of a generation this runner wrote, taken while
        its lock is still held. Never fails the generation: without a record, readers read its files."""
        if (stage, gen_id) not in self.store.changed:
            return
        self.store.changed.discard((stage, gen_id))
        try:
            gen_index.record_generation(self.layout, stage, gen_id)
        except (DayDreamError, OSError) as exc:
            log.warning("%s %s: not recorded in the stage index (%s); readers read its files", stage, gen_id, exc)

    def quota_outcome(self, plan: CallPlan, error: BaseException | None = None) -> GenerationOutcome | None:
        """State ``quota`` when the plan's model is stopped for the day, or ``error`` says its quota is
        used up (then the stop is recorded for every process); None otherwise."""
        stop: QuotaStop | None = None
        if error is None:
            stop = self.quota.stopped(plan.llm_model_id)
        elif isinstance(error, LLMCallError):
            until = daily_quota_reset(error.status, str(error), {})
            if until is not None:
                stop = self.quota.stop(plan.llm_model_id, plan.model, until, str(error))
        return None if stop is None else _outcome(plan.stage, plan.gen_id, "quota", stop.describe())

    # -- step 1: prepare ---------------------------------------------------------------------
    def prepare(
        self, stage: Stage, gen_id: str, *, metadata: GenMetadata | None = None
    ) -> CallPlan | GenerationOutcome:
        """What to do for this generation: an outcome when no call is needed, else the call to make.

        Generation-level problems (template, catalog, combo, store) come back as a ``failed`` outcome,
        recorded in ``error.json`` unless a forced rerun is protecting a kept result.
        """
        try:
            return self._prepare(stage, gen_id, metadata)
        except DayDreamError as exc:
            return self._failed_before_call(stage, gen_id, exc)

    def _prepare(self, stage: Stage, gen_id: str, given: GenMetadata | None) -> CallPlan | GenerationOutcome:
        meta = self.store.read_metadata(stage, gen_id) or given
        if meta is None:
            raise StoreError(f"gens/{stage}/{gen_id}/metadata.json is missing; build the cohort first")
        if given is not None:
            self.store.seed_metadata(meta)
        force = self.options.force
        if self.store.is_done(stage, gen_id) and not force:
            return _outcome(stage, gen_id, "skipped", "already done")
        template = self.catalogs.template(stage, meta.template_id or "")
        parent_text = self.prompts.parent_text(stage, meta)
        if parent_text is None and stage != "draft":
            return _outcome(stage, gen_id, "blocked", f"parent {meta.parent_gen_id} is not done")
        if meta.mode == "copy" or template.is_copy:
            return copy_from_parent(self.store, stage, gen_id, meta, parent_text or "")
        kept = None if force else self.store.read_text(stage, gen_id, "raw.txt")
        if kept is not None:  # paid for already: re-judge the kept answer, no call
            return self._rejudge(stage, gen_id, template, kept)
        budget = self._budget_block(stage, gen_id)
        if budget is not None:
            return budget
        model = self.catalogs.model(meta.llm_model_id or "")
        template_text = self.catalogs.template_text(stage, template.template_id)
        prompt = self.prompts.render(stage, meta, template_text, parent_text)
        incoming = Attempts(self.store, stage, gen_id).stage_forced() if force else None
        protecting = incoming is not None
        answer_dir = incoming or self.store.dir(stage, gen_id)
        atomic.write_text(self.store.writable(answer_dir / "prompt.txt"), prompt)
        max_tokens, temperature = self._stage_request(stage)
        return CallPlan(
            stage=stage,
            gen_id=gen_id,
            llm_model_id=model.id,
            model=model.model,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            parser=parser_name(stage, template),
            template_sha256=template_sha256(template_text),
            answer_dir=answer_dir,
            protecting=protecting,
        )

    # -- step 2: record the answer -----------------------------------------------------------
    def record_answer(self, plan: CallPlan, result: LLMResult) -> None:
        """``raw.txt`` and ``raw_metadata.json`` first (the answer is paid for), then the spend ledger,
        which is written even when the answer could not be."""
        cost, estimated = self._cost(plan, result)
        try:
            atomic.write_text(plan.answer_dir / "raw.txt", result.text)
            atomic.write_json(plan.answer_dir / "raw_metadata.json", self._raw_metadata(plan, result, cost, estimated))
            if not plan.protecting:
                self.store.wrote(plan.stage, plan.gen_id)
        finally:
            if self.ledger is not None:
                self.ledger.record(
                    stage=plan.stage,
                    gen_id=plan.gen_id,
                    llm_model_id=plan.llm_model_id,
                    cost_usd=cost,
                    estimated=estimated,
                    usage=result.usage.model_dump(),
                )

    # -- step 3: finish ----------------------------------------------------------------------
    def finish(self, plan: CallPlan, result: LLMResult) -> GenerationOutcome:
        """Validate and parse the recorded answer; write the outputs, or file the failed attempt."""
        work = Judging(
            store=self.store,
            stage=plan.stage,
            gen_id=plan.gen_id,
            parser=plan.parser,
            max_tokens=plan.max_tokens,
            min_draft_lines=self.options.min_draft_lines,
            called=True,
            cost_usd=self._cost(plan, result)[0],
            incoming=plan.answer_dir if plan.protecting else None,
        )
        return GenerationOutcome.model_validate(judge(work, result))

    def record_call_failure(self, plan: CallPlan, error: BaseException) -> GenerationOutcome:
        """A call that failed for good (after retries): recorded beside a protected result, else in
        ``error.json``; the prompt stays, and the next run calls again."""
        message = str(error)
        kind = type(error).__name__
        if plan.protecting:
            number = Attempts(self.store, plan.stage, plan.gen_id).reject_incoming(kind, message)
            kept = f"{message} (the previous output is kept; this attempt is in attempts/{number})"
            return _outcome(plan.stage, plan.gen_id, "failed", kept, attempt=number)
        self.store.record_error(plan.stage, plan.gen_id, kind, message)
        return _outcome(plan.stage, plan.gen_id, "failed", message)

    # -- helpers -----------------------------------------------------------------------------
    def missing_outcome(self, stage: Stage, gen_id: str) -> GenerationOutcome | None:
        if self.store.exists(stage, gen_id, "metadata.json"):
            return None
        if self.store.dir(stage, gen_id).is_file():
            return _outcome(stage, gen_id, "failed", f"{self.store.dir(stage, gen_id)}: is a file, not a directory")
        # nothing to run, and nothing written: a typo'd id must not leave a directory behind
        return _outcome(
            stage, gen_id, "failed", f"gens/{stage}/{gen_id}/metadata.json not found; build the cohort first"
        )

    def _failed_before_call(self, stage: Stage, gen_id: str, exc: DayDreamError) -> GenerationOutcome:
        message = str(exc)
        try:
            if self.options.force and Attempts(self.store, stage, gen_id).protects():
                return _outcome(stage, gen_id, "failed", f"{message} (nothing was sent; the previous output is kept)")
            self.store.record_error(stage, gen_id, type(exc).__name__, message)
        except DayDreamError as again:
            message = f"{message}; and it could not be recorded: {again}"
        return _outcome(stage, gen_id, "failed", message)

    def _rejudge(self, stage: Stage, gen_id: str, template: Template, kept: str) -> GenerationOutcome:
        raw_meta = self.store.read_json(stage, gen_id, "raw_metadata.json") or {}
        work = Judging(
            store=self.store,
            stage=stage,
            gen_id=gen_id,
            parser=parser_name(stage, template),
            max_tokens=None,
            min_draft_lines=self.options.min_draft_lines,
            called=False,
        )
        return GenerationOutcome.model_validate(judge(work, result_from_raw(kept, raw_meta)))

    def _stage_request(self, stage: Stage) -> tuple[int, float]:
        """``(max_tokens, temperature)``: run overrides, else the LLM connection's, else the defaults."""
        ask = getattr(self.llm, "stage_request", None)
        max_tokens, temperature = ask(stage) if callable(ask) else DEFAULT_STAGE_REQUESTS[stage].as_tuple()
        return (self.options.max_tokens.get(stage, max_tokens), self.options.temperature.get(stage, temperature))

    def _budget_block(self, stage: Stage, gen_id: str) -> GenerationOutcome | None:
        limit = self.options.max_cost_usd
        if limit is None or self.ledger is None:
            return None
        spent = self.ledger.total_cost()
        if spent >= limit:
            return _outcome(stage, gen_id, "budget", f"cohort spend ${spent:.4f} reached max_cost_usd ${limit:.4f}")
        return None

    def _cost(self, plan: CallPlan, result: LLMResult) -> tuple[float | None, bool]:
        return answer_cost(self.catalogs.model(plan.llm_model_id), result)

    def _raw_metadata(self, plan: CallPlan, result: LLMResult, cost: float | None, estimated: bool) -> dict[str, Any]:
        return raw_metadata(
            stage=plan.stage,
            gen_id=plan.gen_id,
            llm_model_id=plan.llm_model_id,
            model=plan.model,
            result=result,
            max_tokens=plan.max_tokens,
            prompt=plan.prompt,
            template_sha256=plan.template_sha256,
            cost=cost,
            estimated=estimated,
            cohort_id=self.cohort_id,
        )


def run_generation(
    layout: DataLayout,
    stage: Stage,
    gen_id: str,
    *,
    llm: LLMClient | None,
    cohort_id: str | None = None,
    options: RunOptions | None = None,
    catalogs: Catalogs | None = None,
) -> GenerationOutcome:
    """One generation; generation-level failures come back as state ``failed``, recorded in the store."""
    try:
        runner = StageRunner(layout, catalogs=catalogs, llm=llm, options=options, cohort_id=cohort_id)
    except DayDreamError as exc:
        return GenerationOutcome(stage=stage, gen_id=gen_id, state="failed", message=str(exc))
    return runner.run(stage, gen_id)
