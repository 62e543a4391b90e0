"""Run one generation (``stage``, ``gen_id``) end to end: prompt, LLM call, raw, validation, parse.

Order matters for money: the raw answer is written the moment it arrives, before any validation or
parsing, and a generation with ``raw.txt`` is never sent to the model again unless forced. A
per-generation lock keeps two workers (an Airflow retry racing a zombie) from paying twice.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from daydream.catalogs import Catalogs, Template
from daydream.errors import DayDreamError, LLMError, OutputValidationError, ParseError, StoreError
from daydream.llm.settings import DEFAULT_STAGE_REQUESTS
from daydream.llm.types import LLMClient, LLMResult
from daydream.locks import try_lock
from daydream.parsers import parse_draft, parse_evaluation
from daydream.paths import DataLayout, Stage
from daydream.rendering import render_text, template_sha256
from daydream.spend import SpendLedger, estimate_cost
from daydream.store import LOCK_FILE, GenMetadata, GensStore, utc_now
from daydream.validation import DEFAULT_MIN_DRAFT_LINES, is_truncated, validate_output

OutcomeState = Literal["done", "skipped", "failed", "budget", "blocked", "busy"]

PARSED_OUTPUTS = ("parsed.txt", "parsed_metadata.json")


class RunOptions(BaseModel):
    force: bool = False
    max_cost_usd: float | None = None
    # per-stage overrides; otherwise the LLM connection's stage settings (llm/settings.py) decide
    max_tokens: dict[str, int] = Field(default_factory=dict)
    temperature: dict[str, float] = Field(default_factory=dict)
    min_draft_lines: int = DEFAULT_MIN_DRAFT_LINES


class GenerationOutcome(BaseModel):
    stage: Stage
    gen_id: str
    state: OutcomeState
    message: str = ""
    called_llm: bool = False
    cost_usd: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    ):
        self.layout = layout
        self.catalogs = catalogs or Catalogs.load(layout)
        self.store = GensStore(layout)
        self.llm = llm
        self.options = options or RunOptions()
        self.cohort_id = cohort_id
        self.ledger = SpendLedger(layout, cohort_id) if cohort_id else None

    # -- public -------------------------------------------------------------------------------
    def run(self, stage: Stage, gen_id: str, *, metadata: GenMetadata | None = None) -> GenerationOutcome:
        if metadata is None and not self.store.exists(stage, gen_id, "metadata.json"):
            # nothing to run, and nothing written: a typo'd id must not leave a directory behind
            return GenerationOutcome(
                stage=stage,
                gen_id=gen_id,
                state="failed",
                message=f"gens/{stage}/{gen_id}/metadata.json not found; build the cohort first",
            )
        with try_lock(self.store.path(stage, gen_id, LOCK_FILE)) as acquired:
            if not acquired:
                return GenerationOutcome(
                    stage=stage, gen_id=gen_id, state="busy", message="another worker is running this generation"
                )
            try:
                return self._run_locked(stage, gen_id, metadata)
            except DayDreamError as exc:  # a template, catalog, combo, store or LLM problem of this generation
                self.store.record_error(stage, gen_id, type(exc).__name__, str(exc))
                return GenerationOutcome(stage=stage, gen_id=gen_id, state="failed", message=str(exc))

    # -- steps --------------------------------------------------------------------------------
    def _run_locked(self, stage: Stage, gen_id: str, given: GenMetadata | None) -> GenerationOutcome:
        meta = self.store.read_metadata(stage, gen_id) or given
        if meta is None:
            raise StoreError(f"gens/{stage}/{gen_id}/metadata.json is missing; build the cohort first")
        if given is not None:
            self.store.seed_metadata(meta)
        force = self.options.force
        if self.store.is_done(stage, gen_id) and not force:
            return GenerationOutcome(stage=stage, gen_id=gen_id, state="skipped", message="already done")
        template = self.catalogs.template(stage, meta.template_id or "")

        parent_text = self._parent_text(stage, meta)
        if parent_text is None and stage != "draft":
            return GenerationOutcome(
                stage=stage, gen_id=gen_id, state="blocked", message=f"parent {meta.parent_gen_id} is not done"
            )

        if meta.mode == "copy" or template.is_copy:
            return self._copy(stage, gen_id, meta, parent_text or "")

        template_text = self.catalogs.template_text(stage, template.template_id)
        prompt = self._render(stage, meta, template_text, parent_text)
        raw_text = None if force else self.store.read_text(stage, gen_id, "raw.txt")
        if raw_text is not None:
            # paid for already: re-validate and re-parse the kept answer, no call
            raw_meta = self.store.read_json(stage, gen_id, "raw_metadata.json") or {}
            result = _result_from_raw(raw_text, raw_meta)
            outcome = self._finish(stage, gen_id, template, result, called=False)
            return outcome

        budget = self._budget_block(stage, gen_id)
        if budget is not None:
            return budget
        if self.llm is None:
            raise LLMError("no LLM client configured for this run")
        model = self.catalogs.model(meta.llm_model_id or "")
        self.store.write_text(stage, gen_id, "prompt.txt", prompt)
        max_tokens, temperature = self._stage_request(stage)
        started = time.monotonic()
        result = self.llm.complete(model=model.model, prompt=prompt, max_tokens=max_tokens, temperature=temperature)
        if not result.duration_s:
            result.duration_s = round(time.monotonic() - started, 3)
        result.truncated = result.truncated or is_truncated(
            result.finish_reason, result.usage.completion_tokens, max_tokens
        )
        cost, estimated = result.cost_usd, False
        if cost is None:
            cost = estimate_cost(model, result.usage.prompt_tokens, result.usage.completion_tokens)
            estimated = cost is not None
        if force:  # the old outputs stay until a new answer has arrived; its parse replaces them
            self.store.remove_outputs(stage, gen_id, PARSED_OUTPUTS)
        self.store.write_text(stage, gen_id, "raw.txt", result.text)
        self.store.write_json(
            stage,
            gen_id,
            "raw_metadata.json",
            {
                "stage": stage,
                "gen_id": gen_id,
                "mode": "llm",
                "llm_model_id": model.id,
                "model": model.model,
                "finish_reason": result.finish_reason,
                "truncated": result.truncated,
                "usage": result.usage.model_dump(),
                "cost_usd": result.cost_usd,
                "cost_estimated_usd": cost if estimated else None,
                "duration_s": result.duration_s,
                "attempts": result.attempts,
                "max_tokens": max_tokens,
                "prompt_sha256": _sha256(prompt),
                "template_sha256": template_sha256(template_text),
                "cohort_id": self.cohort_id,
                "created_at": utc_now(),
            },
        )
        if self.ledger is not None:
            self.ledger.record(
                stage=stage,
                gen_id=gen_id,
                llm_model_id=model.id,
                cost_usd=cost,
                estimated=estimated,
                usage=result.usage.model_dump(),
            )
        return self._finish(stage, gen_id, template, result, called=True, cost=cost)

    def _stage_request(self, stage: Stage) -> tuple[int, float]:
        """``(max_tokens, temperature)``: run overrides, else the LLM connection's, else the defaults."""
        ask = getattr(self.llm, "stage_request", None)
        max_tokens, temperature = ask(stage) if callable(ask) else DEFAULT_STAGE_REQUESTS[stage].as_tuple()
        return (self.options.max_tokens.get(stage, max_tokens), self.options.temperature.get(stage, temperature))

    def _parent_text(self, stage: Stage, meta: GenMetadata) -> str | None:
        if stage == "draft":
            return None
        parent = meta.parent_gen_id or ""
        if stage == "essay":
            return self.store.parsed_text("draft", parent)
        # an evaluation's parent is normally an essay; a draft may be evaluated directly
        text = self.store.parsed_text("essay", parent)
        return text if text is not None else self.store.parsed_text("draft", parent)

    def _render(self, stage: Stage, meta: GenMetadata, template_text: str, parent_text: str | None) -> str:
        path = self.catalogs.template_path(stage, meta.template_id or "")
        if stage == "draft":
            combo = self._combo(meta)
            concepts = [
                {
                    "name": self.catalogs.concepts[c].name if c in self.catalogs.concepts else c,
                    "content": self.catalogs.concept_text(c, combo.level),
                }
                for c in combo.concept_ids
            ]
            variables: dict[str, Any] = {"concepts": concepts}
        elif stage == "essay":
            variables = {"draft_block": parent_text, "links_block": parent_text}
        else:
            variables = {"response": parent_text}
        return render_text(template_text, variables, path=path)

    def _combo(self, meta: GenMetadata):
        from daydream.combos import ComboCatalog

        if not hasattr(self, "_combos"):
            self._combos = ComboCatalog(self.layout.combo_mappings)
        return self._combos.get(meta.combo_id or "")

    def _copy(self, stage: Stage, gen_id: str, meta: GenMetadata, parent_text: str) -> GenerationOutcome:
        self.store.write_text(stage, gen_id, "prompt.txt", parent_text)
        self.store.write_text(stage, gen_id, "parsed.txt", parent_text)
        self.store.write_json(
            stage,
            gen_id,
            "parsed_metadata.json",
            {
                "stage": stage,
                "gen_id": gen_id,
                "mode": "copy",
                "parser": "copy",
                "success": True,
                "source_gen_id": meta.parent_gen_id,
                "created_at": utc_now(),
            },
        )
        self.store.clear_error(stage, gen_id)
        return GenerationOutcome(stage=stage, gen_id=gen_id, state="done", message="copied from parent draft")

    def _budget_block(self, stage: Stage, gen_id: str) -> GenerationOutcome | None:
        limit = self.options.max_cost_usd
        if limit is None or self.ledger is None:
            return None
        spent = self.ledger.total_cost()
        if spent >= limit:
            return GenerationOutcome(
                stage=stage,
                gen_id=gen_id,
                state="budget",
                message=f"cohort spend ${spent:.4f} reached max_cost_usd ${limit:.4f}",
            )
        return None

    def _finish(
        self,
        stage: Stage,
        gen_id: str,
        template: Template,
        result: LLMResult,
        *,
        called: bool,
        cost: float | None = None,
    ) -> GenerationOutcome:
        facts = dict(
            stage=stage,
            gen_id=gen_id,
            called_llm=called,
            cost_usd=cost,
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
        )
        parser = template.parser or ("identity" if stage != "evaluation" else "")
        base = {"stage": stage, "gen_id": gen_id, "parser": parser, "created_at": utc_now()}
        try:
            validate_output(
                stage,
                result,
                max_tokens=self._stage_request(stage)[0] if called else None,
                min_draft_lines=self.options.min_draft_lines,
            )
            if stage == "evaluation":
                score = parse_evaluation(parser, result.text)
                parsed = f"{score.score}\n"
                extra = score.model_dump()
            else:
                parsed = parse_draft(parser, result.text)
                extra = {}
        except (OutputValidationError, ParseError) as exc:
            kind = "validation" if isinstance(exc, OutputValidationError) else "parse"
            self.store.write_json(
                stage, gen_id, "parsed_metadata.json", {**base, "success": False, "error_kind": kind, "error": str(exc)}
            )
            self.store.record_error(stage, gen_id, kind, str(exc))
            return GenerationOutcome(state="failed", message=f"{kind}: {exc} (raw output kept)", **facts)
        self.store.write_text(stage, gen_id, "parsed.txt", parsed)
        self.store.write_json(stage, gen_id, "parsed_metadata.json", {**base, "success": True, **extra})
        self.store.clear_error(stage, gen_id)
        return GenerationOutcome(state="done", message="generated" if called else "re-parsed kept raw output", **facts)


def _result_from_raw(text: str, raw_meta: dict[str, Any]) -> LLMResult:
    usage = raw_meta.get("usage") or {}
    return LLMResult(
        text=text,
        finish_reason=raw_meta.get("finish_reason"),
        truncated=bool(raw_meta.get("truncated", False)),
        usage={k: int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
        cost_usd=raw_meta.get("cost_usd"),
        duration_s=float(raw_meta.get("duration_s") or 0.0),
        model=str(raw_meta.get("model") or ""),
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
