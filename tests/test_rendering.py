"""Prompt rendering (docs/data-contract.md §2): strict, sandboxed, errors name the template file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from daydream.errors import TemplateError
from daydream.rendering import render_file, render_text

PATH = Path("templates/draft/t.txt")


def _error(text: str, variables: dict[str, object] | None = None) -> str:
    with pytest.raises(TemplateError) as info:
        render_text(text, variables or {}, path=PATH)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(PATH))
    return message


def test_undefined_variable_names_file_and_line() -> None:
    assert "line 3" in _error("first\nsecond\n{{ concpets }}\n", {"concepts": []})
    assert "concpets" in _error("{{ concpets }}")


def test_missing_attribute_names_the_line() -> None:
    message = _error("intro\n{% for c in concepts %}\n{{ c.nmae }}\n{% endfor %}", {"concepts": [{"name": "x"}]})
    assert "line 3" in message and "nmae" in message


def test_syntax_error_names_the_line() -> None:
    assert "line 2" in _error("fine\n{% for c in concepts %}{{ c }}\n")


def test_sandbox_blocks_unsafe_attribute_access() -> None:
    assert "unsafe" in _error("{{ ''.__class__.__mro__ }}")
    assert "unsafe" in _error("{{ response.__class__.__init__.__globals__ }}", {"response": "x"})


def test_no_autoescape_and_concept_order() -> None:
    text = "{% for c in concepts %}{{ c.name }}: {{ c.content }}\n{% endfor %}"
    concepts = [{"name": "B & <b>", "content": "1"}, {"name": "A", "content": "2"}]
    assert render_text(text, {"concepts": concepts}, path=PATH) == "B & <b>: 1\nA: 2\n"


def test_only_one_trailing_newline_of_the_file_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Essay:\n{{ response }}\n\n", encoding="utf-8")
    assert render_file(path, {"response": "x"}) == "Essay:\nx\n"
    path.write_text("Essay:\n{{ response }}\n", encoding="utf-8")
    assert render_file(path, {"response": "x"}) == "Essay:\nx"


def test_error_in_a_filter_is_a_template_error() -> None:
    assert "ZeroDivisionError" in _error("line\n{{ 1 // zero }}", {"zero": 0})
