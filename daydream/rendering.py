"""Prompt rendering (data-contract section 2).

Templates are user data, so they render in Jinja2's sandbox with ``StrictUndefined``: a typo in a
variable name fails that one generation with the template file and line, instead of silently
sending the model a prompt with a hole in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from daydream.catalogs import read_template_text
from daydream.errors import TemplateError, located


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


def template_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _error_line(exc: BaseException) -> int | None:
    """The template line of a render-time error, from Jinja's rewritten traceback."""
    line = getattr(exc, "lineno", None)
    if line:
        return int(line)
    tb = exc.__traceback__
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def compile_template(text: str, *, path: Path) -> jinja2.Template:
    try:
        return _environment().from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(located(f"template syntax error: {exc.message}", file=path, line=exc.lineno)) from None


def render_text(text: str, variables: Mapping[str, Any], *, path: Path) -> str:
    template = compile_template(text, path=path)
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as exc:
        raise TemplateError(located(f"undefined variable: {exc.message}", file=path, line=_error_line(exc))) from None
    except jinja2.exceptions.SecurityError as exc:
        raise TemplateError(located(f"unsafe template operation: {exc}", file=path, line=_error_line(exc))) from None
    except jinja2.TemplateError as exc:
        raise TemplateError(located(f"template error: {exc}", file=path, line=_error_line(exc))) from None
    except Exception as exc:  # a filter or expression failing on the data (e.g. int('x'))
        raise TemplateError(
            located(f"template error: {type(exc).__name__}: {exc}", file=path, line=_error_line(exc))
        ) from None


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
