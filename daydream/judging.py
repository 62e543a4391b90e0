"""Judge an answer that is already on disk: validate, parse, then write the outputs or the failure.

Shared by a fresh answer (``StageRunner.finish``) and a kept one re-judged without a call. When a
forced rerun protects a current result (``incoming`` is set), a failing answer is filed under
``attempts/<n>/`` and the top-level files stay; a passing one replaces them after they are archived
(``daydream.attempts``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daydream.attempts import Attempts
from daydream.errors import DayDreamError, OutputValidationError, ParseError
from daydream.llm.types import LLMResult, Usage
from daydream.outcome import GenerationOutcome, outcome
from daydream.parsers import parse_draft, parse_evaluation
from daydream.paths import Stage
from daydream.store import GensStore, utc_now
from daydream.validation import validate_output


@dataclass(frozen=True)
class Judging:
    store: GensStore
    stage: Stage
    gen_id: str
    parser: str
    max_tokens: int | None  # None for a kept answer: its recorded finish reason decides truncation
    min_draft_lines: int
    called: bool
    cost_usd: float | None = None
    incoming: Path | None = None  # attempts/incoming of a forced rerun that protects a result


def _parse(stage: Stage, parser: str, text: str) -> tuple[str, dict[str, Any]]:
    if stage == "evaluation":
        score = parse_evaluation(parser, text)
        return f"{score.score}\n", score.model_dump()
    return parse_draft(parser, text), {}


def judge(work: Judging, result: LLMResult) -> GenerationOutcome:
    facts: dict[str, Any] = dict(
        called_llm=work.called,
        cost_usd=work.cost_usd,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
    )
    base = {"stage": work.stage, "gen_id": work.gen_id, "parser": work.parser, "created_at": utc_now()}
    try:
        validate_output(work.stage, result, max_tokens=work.max_tokens, min_draft_lines=work.min_draft_lines)
        parsed, extra = _parse(work.stage, work.parser, result.text)
    except (OutputValidationError, ParseError) as exc:
        kind = "validation" if isinstance(exc, OutputValidationError) else "parse"
        return _rejected(work, {**base, "success": False, "error_kind": kind, "error": str(exc)}, kind, exc, facts)
    try:
        _accepted(work, parsed, {**base, "success": True, **extra})
    except DayDreamError as exc:
        return outcome(work.stage, work.gen_id, "failed", f"the outputs could not be written: {exc}", **facts)
    message = "generated" if work.called else "re-parsed kept raw output"
    return outcome(work.stage, work.gen_id, "done", message, **facts)


def _rejected(
    work: Judging, parsed_meta: dict[str, Any], kind: str, exc: Exception, facts: dict[str, Any]
) -> GenerationOutcome:
    store, stage, gen_id = work.store, work.stage, work.gen_id
    try:
        if work.incoming is None:
            store.write_json(stage, gen_id, "parsed_metadata.json", parsed_meta)
            store.record_error(stage, gen_id, kind, str(exc))
            return outcome(stage, gen_id, "failed", f"{kind}: {exc} (raw output kept)", **facts)
        attempts = Attempts(store, stage, gen_id)
        number = attempts.reject_incoming(kind, str(exc), reason=f"{kind}: {exc}", parsed_meta=parsed_meta)
    except DayDreamError as again:
        return outcome(stage, gen_id, "failed", f"{kind}: {exc}; and it could not be recorded: {again}", **facts)
    message = f"{kind}: {exc} (the previous output is kept; this answer is in attempts/{number})"
    return outcome(stage, gen_id, "failed", message, attempt=number, **facts)


def _accepted(work: Judging, parsed: str, parsed_meta: dict[str, Any]) -> None:
    store, stage, gen_id = work.store, work.stage, work.gen_id
    if work.incoming is not None:
        Attempts(store, stage, gen_id).promote_incoming()
    # parsed.txt marks the generation done, so it goes last: a process killed before it leaves a
    # generation that runs again (re-judging its kept answer, no call) and sweeps what the kill left;
    # written first, a kill after it left a done generation, never visited again, with a temporary
    # parsed_metadata.json beside it and a stale error.json (seen in the triggerer-kill test)
    store.write_json(stage, gen_id, "parsed_metadata.json", parsed_meta)
    store.clear_error(stage, gen_id)
    store.write_text(stage, gen_id, "parsed.txt", parsed)
    if work.incoming is not None:
        Attempts(store, stage, gen_id).discard_incoming()


def result_from_raw(text: str, raw_meta: dict[str, Any]) -> LLMResult:
    """A kept answer as the ``LLMResult`` it came from, for re-judging without a call."""
    recorded = raw_meta.get("usage")
    usage: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    return LLMResult(
        text=text,
        finish_reason=raw_meta.get("finish_reason") if isinstance(raw_meta.get("finish_reason"), str) else None,
        truncated=bool(raw_meta.get("truncated", False)),
        usage=Usage(**{k: int(_number(usage.get(k))) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}),
        cost_usd=_number(raw_meta.get("cost_usd"), None),
        duration_s=_number(raw_meta.get("duration_s")),
        model=str(raw_meta.get("model") or ""),
    )


def _number(value: Any, default: float | None = 0.0) -> Any:
    """A number from a JSON file someone may have edited: anything else (text, NaN, inf) is ``default``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return default
