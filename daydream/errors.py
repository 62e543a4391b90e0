"""User-facing errors.

Every error a researcher can cause (a bad catalog row, a spec rule, a template) is a
``DayDreamError`` whose message is one line naming the file, the row or line, and the field, so the
CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError as PydanticValidationError


class DayDreamError(Exception):
    """An error caused by user input or data; the message alone tells the user what to fix."""

    exit_code = 2


MAX_SHOWN = 80
"""How many characters of a user's value an error message quotes at most."""


MAX_MESSAGE = 2000
"""A message longer than this is cut: a list of offending values can be long, a terminal line less so."""


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters: no error message ever quotes an unbounded value."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 15]}... ({len(str(value)):,} chars)"


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
    text = " ".join((f"{where}: {message}" if where else message).splitlines())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


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


class OutputValidationError(DayDreamError):
    """A model output failed validation (truncated, empty, too short).

    Not called ``ValidationError``: pydantic's class of that name is used beside it.
    """


class IdError(DayDreamError):
    """An id that would become part of a path is not in the id grammar (``daydream.paths``)."""


class OutsideDataRootError(DayDreamError):
    """A path would leave the data root (``..``, an absolute path, or a symlink pointing out)."""


class LLMError(DayDreamError):
    """An LLM call failed for good (after retries, or a non-retryable 4xx)."""


def first_problem(exc: PydanticValidationError) -> tuple[str | None, str]:
    """``(field, message)`` of a pydantic error's first problem, as one line for ``located``.

    pydantic's own ``str(exc)`` spans several lines and quotes the whole input; every edge that
    validates user data with a pydantic model reports through here instead.
    """
    errors = exc.errors()
    if not errors:
        return None, "invalid value"
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] in ("literal_error", "enum"):
        message = f"{message}, got {shown(first.get('input'))}"
    return field, message
