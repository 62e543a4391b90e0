"""Prompt rendering (docs/data-contract.md, "templates").

Templates are user data, so they render in Jinja2's sandbox with ``StrictUndefined``: a typo in a
variable name fails that one generation with the template file and line, instead of silently
sending the model a prompt with a hole in it.

A template is also a program whose cost is not known in advance: ``{{ 'x' * 10**10 }}``,
``{{ 9 ** 9 ** 9 }}``, loops over ``range`` nested ten deep, or expressions nested so deep that the
compiler recurses out of stack. So the rendered prompt is capped at ``limits.MAX_PROMPT_CHARS``
(checked while rendering, chunk by chunk), ``*`` and ``**`` are checked before they run, ``range``
counts against one budget per render, and a ``MemoryError``, ``RecursionError`` or ``OverflowError``
at compile or render time is the same one-line ``TemplateError`` (file, line) as any other.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from daydream.catalogs import read_template_text
from daydream.errors import TemplateError, located
from daydream.limits import MAX_PROMPT_CHARS, over_limit

RUNAWAY = (MemoryError, RecursionError, OverflowError)
"""What a template whose cost explodes raises; each becomes a one-line ``TemplateError``."""
MAX_POWER_BITS = 4096
"""``a ** b`` may produce at most this many bits: enough for any number a prompt shows."""

_range_budget: ContextVar[list[int]] = ContextVar("_range_budget")


class _BoundedSandbox(SandboxedEnvironment):
    """The sandbox, with the size of ``*`` and ``**`` results and of ``range`` loops bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        _check_repeat(left, right)
        return operator.mul(left, right)


def _cap() -> int:
    return MAX_PROMPT_CHARS.value


def _check_repeat(left: Any, right: Any) -> None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int) and len(seq) * count > _cap():
            raise SecurityError(f"'*' would make {len(seq) * count:,} items, more than the prompt limit {_cap():,}")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        if exponent * max(abs(base).bit_length(), 1) > MAX_POWER_BITS:
            raise SecurityError(f"'**' would make a number of more than {MAX_POWER_BITS} bits")


def _bounded_range(*args: int) -> range:
    """``range`` whose items count against the render's budget (the prompt limit): nested loops that
    print nothing would otherwise spin for as long as their product says."""
    items = range(*args)
    budget = _range_budget.get(None)
    if budget is not None:
        budget[0] -= len(items)
        if budget[0] < 0:
            raise SecurityError(f"range() loops of this render exceed {_cap():,} items (the prompt limit)")
    return items


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    env = _BoundedSandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _bounded_range
    return env


def template_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _error_line(exc: BaseException) -> int | None:
    """The template line of an error: Jinja's own, the rewritten traceback's, or the line the parser
    or code generator was at (a compile-time ``RecursionError`` carries none of its own)."""
    line = getattr(exc, "lineno", None)
    if line:
        return int(line)
    found = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename == "<template>":
            found = tb.tb_lineno
        elif found is None:
            found = _frame_template_line(frame.f_locals)
        tb = tb.tb_next
    return found


def _frame_template_line(local: Mapping[str, Any]) -> int | None:
    current = getattr(getattr(local.get("self"), "stream", None), "current", None)
    for holder in (current, local.get("node")):
        line = getattr(holder, "lineno", None)
        if isinstance(line, int):
            return line
    return None


def compile_template(text: str, *, path: Path) -> jinja2.Template:
    problem = over_limit(len(text), MAX_PROMPT_CHARS)
    if problem:
        raise TemplateError(located(f"the template is longer than a prompt may be: {problem}", file=path))
    try:
        return _environment().from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(located(f"template syntax error: {exc.message}", file=path, line=exc.lineno)) from None
    except RUNAWAY as exc:
        raise TemplateError(
            located(f"template cannot be compiled: {_runaway(exc)}", file=path, line=_error_line(exc))
        ) from None


def _runaway(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply (RecursionError)"
    if isinstance(exc, MemoryError):
        return "out of memory (MemoryError)"
    return f"a number too large (OverflowError: {str(exc)[:80]})"


def render_text(text: str, variables: Mapping[str, Any], *, path: Path) -> str:
    """The rendered prompt; ``TemplateError`` (file, line) for any failure, including a prompt larger
    than ``limits.MAX_PROMPT_CHARS``."""
    template = compile_template(text, path=path)
    token = _range_budget.set([_cap()])
    try:
        return _render_capped(template, variables, path)
    except TemplateError:
        raise
    except jinja2.UndefinedError as exc:
        raise TemplateError(located(f"undefined variable: {exc.message}", file=path, line=_error_line(exc))) from None
    except SecurityError as exc:
        raise TemplateError(located(f"unsafe template operation: {exc}", file=path, line=_error_line(exc))) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(located(f"template error: {exc}", file=path, line=_error_line(exc))) from None
    except RUNAWAY as exc:
        raise TemplateError(located(f"template failed: {_runaway(exc)}", file=path, line=_error_line(exc))) from None
    except Exception as exc:  # a filter or expression failing on the data (e.g. int('x'))
        raise TemplateError(
            located(f"template error: {type(exc).__name__}: {exc}", file=path, line=_error_line(exc))
        ) from None
    finally:
        _range_budget.reset(token)


def _render_capped(template: jinja2.Template, variables: Mapping[str, Any], path: Path) -> str:
    """Render chunk by chunk, stopping as soon as the prompt outgrows its limit."""
    cap, size, chunks = _cap(), 0, []
    for chunk in template.generate(**variables):
        size += len(chunk)
        if size > cap:
            raise TemplateError(
                located(f"the prompt grows past its limit: {over_limit(size, MAX_PROMPT_CHARS)}", file=path)
            )
        chunks.append(chunk)
    return "".join(chunks)


def render_file(path: Path, variables: Mapping[str, Any]) -> str:
    return render_text(read_template_text(path), variables, path=path)


# Stand-ins for each stage's variables: a trial render at cohort build time catches a missing file, a
# syntax error or a misspelt variable before any generation is paid for.
_SAMPLE = "Sample text standing in for the real input."
SAMPLE_VARIABLES: dict[str, dict[str, Any]] = {
    "draft": {"concepts": [{"name": "Concept A", "content": _SAMPLE}, {"name": "Concept B", "content": _SAMPLE}]},
    "essay": {"draft_block": _SAMPLE, "links_block": _SAMPLE},
    "evaluation": {"response": _SAMPLE},
}


def check_template(stage: str, path: Path) -> None:
    """Raise ``TemplateError`` (file and line) if the template cannot render with its stage's variables."""
    render_file(path, SAMPLE_VARIABLES[stage])
