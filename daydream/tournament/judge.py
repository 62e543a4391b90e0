"""Run one comparison generation: prompt with both essays, call the judge, keep the raw answer, parse.

The same money rules as ``daydream.runner`` for the three stages (docs/data-contract.md §6): the
generation lock; a done comparison is never called again; a kept ``raw.txt`` is re-parsed without a
call; ``raw.txt`` and ``raw_metadata.json`` are written the moment the answer arrives, then the spend
ledger line, then validation and the pairwise parser. A failure is recorded in ``error.json`` and
returned as an outcome, never raised. A forced rerun (``force``) asks the judge again under the
same never-destroy-a-good-result rules as the other stages (``daydream.attempts``): when a verdict or
an answer exists, the new answer is staged in ``attempts/incoming/``; if it fails (call, validation,
parse) it is filed as a failed attempt and the old verdict stays, else the old one is archived as
superseded and the new one replaces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daydream import atomic
from daydream.attempts import Attempts
from daydream.catalogs import Catalogs
from daydream.errors import DayDreamError, OutputValidationError, ParseError
from daydream.judging import result_from_raw
from daydream.llm.settings import DEFAULT_STAGE_REQUESTS
from daydream.llm.types import LLMClient, LLMResult
from daydream.locks import try_lock
from daydream.parsers import parse_pairwise_verdict
from daydream.raw_answer import answer_cost, raw_metadata
from daydream.rendering import render_text, template_sha256
from daydream.spend import SpendLedger
from daydream.store import ERROR_FILE, LOCK_FILE, GensStore, read_json_file, utc_now
from daydream.tournament.store import COMPARISON_STAGE, ComparisonMetadata, ComparisonStore
from daydream.validation import validate_output

REQUEST_STAGE = "evaluation"
"""A judge's request settings (max_tokens, temperature) are the evaluation stage's."""


def _outcome(gen_id: str, state: str, message: str, **facts: Any) -> dict[str, Any]:
    return {"stage": COMPARISON_STAGE, "gen_id": gen_id, "state": state, "message": message, **facts}


@dataclass
class ComparisonRunner:
    """Runs comparisons of one data root; ``cohort_id`` names the spend ledger."""

    catalogs: Catalogs
    llm: LLMClient | None
    cohort_id: str
    max_cost_usd: float | None = None
    """The tournament cohort's budget, against its spend ledger (as ``RunOptions.max_cost_usd``)."""
    force: bool = False
    """Judge done comparisons again (as ``RunOptions.force``); a failed rerun keeps the old verdict."""

    def __post_init__(self) -> None:
        self.layout = self.catalogs.layout
        self.store = ComparisonStore(self.layout)
        self.gens = GensStore(self.layout)
        self.ledger = SpendLedger(self.layout, self.cohort_id)

    def run(self, gen_id: str) -> dict[str, Any]:
        try:
            if self.store.read_metadata(gen_id) is None:
                return _outcome(gen_id, "failed", f"gens/comparison/{gen_id}/metadata.json not found")
            with try_lock(self.store.path(gen_id, LOCK_FILE)) as acquired:
                if not acquired:
                    return _outcome(gen_id, "busy", "another worker is running this comparison")
                return self._run_locked(gen_id)
        except DayDreamError as exc:
            return self._failed(gen_id, type(exc).__name__, str(exc))

    def _run_locked(self, gen_id: str) -> dict[str, Any]:
        meta = self.store.read_metadata(gen_id)
        assert meta is not None
        if self.store.is_done(gen_id) and not self.force:
            return _outcome(gen_id, "skipped", "already done")
        texts = [self.gens.parsed_text("essay", essay) for essay in meta.presented]
        if any(text is None for text in texts):
            return _outcome(gen_id, "blocked", f"an essay of {', '.join(meta.presented)} is not done")
        kept = None if self.force else self.store.read_text(gen_id, "raw.txt")
        if kept is not None:  # paid for already: parse the kept answer again, no call
            raw_meta = self.store.read_json(gen_id, "raw_metadata.json") or {}
            return self._judge(meta, result_from_raw(kept, raw_meta), None, called=False)
        template = self.catalogs.template("evaluation", meta.template_id)
        template_text = self.catalogs.template_text("evaluation", template.template_id)
        path = self.catalogs.template_path("evaluation", template.template_id)
        prompt = render_text(template_text, {"essay_a": texts[0], "essay_b": texts[1]}, path=path)
        if self.llm is None:
            return self._failed(gen_id, "LLMError", "no LLM client configured for this run")
        if self.max_cost_usd is not None and (spent := self.ledger.total_cost()) >= self.max_cost_usd:
            return _outcome(
                gen_id, "budget", f"cohort spend ${spent:.4f} reached max_cost_usd ${self.max_cost_usd:.4f}"
            )
        incoming = self._attempts(gen_id).stage_forced() if self.force else None
        answer_dir = incoming or self.store.path(gen_id, "prompt.txt").parent
        atomic.write_text(answer_dir / "prompt.txt", prompt)
        max_tokens, temperature = self._request()
        model = self.catalogs.model(meta.llm_model_id)
        started = time.monotonic()
        try:
            result = self.llm.complete(model=model.model, prompt=prompt, max_tokens=max_tokens, temperature=temperature)
        except DayDreamError as exc:
            return self._failed(gen_id, type(exc).__name__, str(exc), incoming=incoming)
        result.duration_s = result.duration_s or round(time.monotonic() - started, 3)
        cost, estimated = self._cost(meta, result)
        raw_meta = raw_metadata(
            stage=COMPARISON_STAGE,
            gen_id=gen_id,
            llm_model_id=meta.llm_model_id,
            model=model.model,
            result=result,
            max_tokens=max_tokens,
            prompt=prompt,
            template_sha256=template_sha256(template_text),
            cost=cost,
            estimated=estimated,
            cohort_id=self.cohort_id,
        )
        try:
            atomic.write_text(answer_dir / "raw.txt", result.text)
            atomic.write_json(answer_dir / "raw_metadata.json", raw_meta)
        finally:
            self.ledger.record(
                stage=COMPARISON_STAGE,
                gen_id=gen_id,
                llm_model_id=meta.llm_model_id,
                cost_usd=cost,
                estimated=estimated,
                usage=result.usage.model_dump(),
            )
        return self._judge(meta, result, max_tokens, called=True, incoming=incoming, cost_usd=cost)

    def _attempts(self, gen_id: str) -> Attempts:
        return Attempts.in_dir(self.store.dir(gen_id), lambda path: read_json_file(self.layout.inside(path)))

    def _judge(
        self,
        meta: ComparisonMetadata,
        result: LLMResult,
        max_tokens: int | None,
        *,
        called: bool,
        incoming: Path | None = None,
        **facts: Any,
    ) -> dict[str, Any]:
        gen_id = meta.gen_id
        parser = self.catalogs.template("evaluation", meta.template_id).parser
        base = {"stage": COMPARISON_STAGE, "gen_id": gen_id, "parser": parser, "created_at": utc_now()}
        facts = {"called_llm": called, **facts}
        try:
            validate_output(REQUEST_STAGE, result, max_tokens=max_tokens)
            verdict = parse_pairwise_verdict(parser, result.text)
        except (OutputValidationError, ParseError) as exc:
            kind = "validation" if isinstance(exc, OutputValidationError) else "parse"
            failure = {**base, "success": False, "error_kind": kind, "error": str(exc)}
            if incoming is not None:
                return self._failed(gen_id, kind, f"{kind}: {exc}", incoming=incoming, parsed_meta=failure, **facts)
            atomic.write_json(self.store.path(gen_id, "parsed_metadata.json"), failure)
            return self._failed(gen_id, kind, f"{kind}: {exc} (raw output kept)", **facts)
        parsed_meta = {
            **base,
            "success": True,
            "verdict": verdict.verdict,
            "winner_gen_id": meta.winner(verdict.verdict),
            "presented": list(meta.presented),
            "source": verdict.source,
            "strength": verdict.strength,
        }
        attempts = self._attempts(gen_id) if incoming is not None else None
        if attempts is not None:
            attempts.promote_incoming()
        atomic.write_json(self.store.path(gen_id, "parsed_metadata.json"), parsed_meta)
        atomic.remove_file(self.store.path(gen_id, ERROR_FILE))
        # the done marker last (judging._accepted)
        atomic.write_text(self.store.path(gen_id, "parsed.txt"), f"{verdict.verdict}\n")
        if attempts is not None:
            attempts.discard_incoming()
        return _outcome(gen_id, "done", "judged" if called else "re-parsed kept raw output", **facts)

    def _failed(
        self,
        gen_id: str,
        kind: str,
        message: str,
        *,
        incoming: Path | None = None,
        parsed_meta: dict[str, Any] | None = None,
        **facts: Any,
    ) -> dict[str, Any]:
        """``error.json``; for a forced rerun that protects a verdict, the failed attempt is filed
        instead and the verdict stays."""
        if incoming is not None:
            try:
                number = self._attempts(gen_id).reject_incoming(kind, message, parsed_meta=parsed_meta)
            except DayDreamError as again:
                return _outcome(gen_id, "failed", f"{message}; and it could not be recorded: {again}", **facts)
            kept = f"{message} (the previous verdict is kept; this attempt is in attempts/{number})"
            return _outcome(gen_id, "failed", kept, attempt=number, **facts)
        try:
            atomic.write_json(
                self.store.path(gen_id, ERROR_FILE),
                {"stage": COMPARISON_STAGE, "gen_id": gen_id, "kind": kind, "error": message, "at": utc_now()},
            )
        except DayDreamError as again:
            message = f"{message}; and it could not be recorded: {again}"
        return _outcome(gen_id, "failed", message, **facts)

    def _request(self) -> tuple[int, float]:
        ask = getattr(self.llm, "stage_request", None)
        return ask(REQUEST_STAGE) if callable(ask) else DEFAULT_STAGE_REQUESTS[REQUEST_STAGE].as_tuple()

    def _cost(self, meta: ComparisonMetadata, result: LLMResult) -> tuple[float | None, bool]:
        return answer_cost(self.catalogs.model(meta.llm_model_id), result)
