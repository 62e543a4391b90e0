"""User-facing errors.

Every error a researcher can cause (a bad catalog row, a spec rule, a template) is a
``DayDreamError`` whose message is one line naming the file, the row or line, and the field, so the
CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class DayDreamError(Exception):
    """An error caused by user input or data; the message alone tells the user what to fix."""

    exit_code = 2


def located(
    message: str,
    *,
    file: str | Path | None = None,
    row: int | None = None,
    line: int | None = None,
    field: str | None = None,
) -> str:
    """One-line ``file:row N:field 'x': message`` text, so every error reads the same way."""
    parts: list[str] = []
    if file is not None:
        parts.append(str(file))
    if row is not None:
        parts.append(f"row {row}")
    if line is not None:
        parts.append(f"line {line}")
    if field is not None:
        parts.append(f"field '{field}'")
    where = ", ".join(parts)
    text = f"{where}: {message}" if where else message
    return " ".join(text.split("\n"))


class CatalogError(DayDreamError):
    """A raw catalog (``1_raw/*.csv``) or concept description is malformed."""


class SpecError(DayDreamError):
    """A cohort spec (``spec/config.yaml``) is malformed or references unknown ids."""


class TemplateError(DayDreamError):
    """A prompt template fails to load or render."""


class CohortError(DayDreamError):
    """A cohort cannot be built or read (membership, parents, curated lists)."""


class StoreError(DayDreamError):
    """The gens store holds something inconsistent (collision exhaustion, bad metadata)."""


class ComboError(DayDreamError):
    """``combo_mappings.csv`` would be contradicted (the catalog is append-only)."""


class ParseError(DayDreamError):
    """A parser found no usable content in a model output."""


class ValidationError(DayDreamError):
    """A model output failed validation (truncated, empty, too short)."""


class LLMError(DayDreamError):
    """An LLM call failed for good (after retries, or a non-retryable 4xx)."""
