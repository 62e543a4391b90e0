"""Output validation (docs/data-contract.md §6): runs on the raw text after it is saved, so a
failure never loses what was paid for."""

from __future__ import annotations

from daydream.errors import OutputValidationError
from daydream.llm.types import LLMResult

DEFAULT_MIN_DRAFT_LINES = 3


def is_truncated(finish_reason: str | None, completion_tokens: int, max_tokens: int | None) -> bool:
    if (finish_reason or "").lower() == "length":
        return True
    return bool(max_tokens) and completion_tokens >= int(max_tokens or 0)


def validate_output(
    stage: str, result: LLMResult, *, max_tokens: int | None, min_draft_lines: int = DEFAULT_MIN_DRAFT_LINES
) -> None:
    """Raise ``OutputValidationError`` for truncated, empty, or too-short drafts."""
    if result.truncated or is_truncated(result.finish_reason, result.usage.completion_tokens, max_tokens):
        raise OutputValidationError(
            f"truncated output (finish_reason={result.finish_reason!r}, completion_tokens="
            f"{result.usage.completion_tokens}, max_tokens={max_tokens}); raise max_tokens for the {stage} stage"
        )
    if not result.text.strip():
        raise OutputValidationError("empty output from the model")
    if stage == "draft":
        lines = sum(1 for line in result.text.splitlines() if line.strip())
        if lines < min_draft_lines:
            raise OutputValidationError(f"draft has {lines} non-empty line(s), at least {min_draft_lines} required")
