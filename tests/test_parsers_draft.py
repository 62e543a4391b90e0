"""Draft parsers (docs/data-contract.md §7) on realistic fixtures and on each rule's edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daydream.errors import ParseError
from daydream.parsers import DRAFT_PARSER_NAMES, parse_draft
from daydream.parsers.draft import DRAFT_PARSERS

FIXTURES = Path(__file__).parent / "fixtures" / "drafts"
EXPECTED: dict[str, dict] = json.loads((FIXTURES / "expected.json").read_text())


def test_every_fixture_has_an_expectation_and_back() -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in FIXTURES.glob("*.txt"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    expected = EXPECTED[name]
    text = (FIXTURES / name).read_text()
    if expected["error"]:
        with pytest.raises(ParseError) as info:
            parse_draft(expected["parser"], text)
        assert str(info.value).startswith(expected["parser"] + ":")
        assert "\n" not in str(info.value)
        return
    out = parse_draft(expected["parser"], text)
    assert out.startswith(expected["starts_with"])
    assert out.endswith(expected["ends_with"])
    for fragment in expected.get("excludes", []):
        assert fragment not in out


def test_names_match_the_registry() -> None:
    assert tuple(DRAFT_PARSERS) == DRAFT_PARSER_NAMES


def test_unknown_parser_names_it_and_lists_the_known_ones() -> None:
    with pytest.raises(
        ParseError,
        match=r"unknown draft parser 'essay_last' \(known: identity, "
        r"essay_idea_last, essay_block, essay_block_lenient\)",
    ):
        parse_draft("essay_last", "text")


def idea(body: str, attrs: str = "") -> str:
    return f"<essay-idea{attrs}>\n{body}\n</essay-idea>\n"


@pytest.mark.parametrize("parser", DRAFT_PARSER_NAMES)
@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_every_parser_refuses_empty_text(parser: str, text: str) -> None:
    with pytest.raises(ParseError, match=f"^{parser}: the text is empty$"):
        parse_draft(parser, text)


PARSED = {
    # identity
    "identity keeps the text unchanged": ("identity", "  a\nb\n", "  a\nb\n"),
    "a blank parser name means identity": ("", "draft", "draft"),
    # essay_idea_last
    "highest stage wins, numerically": (
        "essay_idea_last",
        idea("two", ' stage="2"') + idea("ten", ' stage="10"') + idea("three", ' stage="3"'),
        "ten",
    ),
    "the last block wins a stage tie": (
        "essay_idea_last",
        idea("first", ' stage="2"') + idea("second", ' stage="2"') + idea("one", ' stage="1"'),
        "second",
    ),
    "staged blocks beat unstaged ones": ("essay_idea_last", idea("staged", ' stage="1"') + idea("unstaged"), "staged"),
    "without stages the last block wins": ("essay_idea_last", idea("a") + "prose\n" + idea("b"), "b"),
    "a non-numeric stage counts as none": (
        "essay_idea_last",
        idea("numbered", ' stage="1"') + idea("named", ' stage="final"'),
        "numbered",
    ),
    "content is stripped": ("essay_idea_last", idea("\n  line one\nline two  \n", ' stage="1"'), "line one\nline two"),
    "tags may have whitespace around them and other attributes": (
        "essay_idea_last",
        '   <essay-idea id="x" stage="4">  \nbody\n\t</essay-idea>\t\n',
        "body",
    ),
    "an unclosed block is ignored": (
        "essay_idea_last",
        idea("closed", ' stage="1"') + '<essay-idea stage="2">\ncut off',
        "closed",
    ),
    "an opening tag inside an open block restarts it": (
        "essay_idea_last",
        '<essay-idea stage="1">\nabandoned\n<essay-idea stage="2">\nkept\n</essay-idea>\n',
        "kept",
    ),
    # essay_block
    "the first essay block is taken": ("essay_block", "pre <essay>\n one \n</essay> mid <essay>two</essay>", "one"),
    "essay tags are case-insensitive and may carry attributes": (
        "essay_block",
        '<Essay title="T">\nbody\n</ESSAY >',
        "body",
    ),
    "an unclosed essay runs to the end": ("essay_block", "intro\n<essay>\nbody\nmore\n", "body\nmore"),
    # essay_block_lenient
    "thinking blocks are dropped case-insensitively": (
        "essay_block_lenient",
        "<THINKING>plan</thinking>\nessay body\n<thinking>\nmore plan\n</Thinking>\n",
        "essay body",
    ),
    "think blocks of reasoning models are dropped too": ("essay_block_lenient", "<think>plan</think>\n\nbody", "body"),
    "the essay block is preferred after cleaning": (
        "essay_block_lenient",
        "<thinking>draft <essay>fake</essay></thinking>\nnote\n<essay>real</essay>\ntrailer",
        "real",
    ),
    "an unclosed thinking block ends at the essay tag": (
        "essay_block_lenient",
        "<thinking>\nplan...\n<essay>\nbody\n</essay>",
        "body",
    ),
    "an orphan closing tag drops the reasoning before it": (
        "essay_block_lenient",
        "reasoning without opener\n</think>\nthe essay",
        "the essay",
    ),
}


@pytest.mark.parametrize("case", sorted(PARSED))
def test_parses(case: str) -> None:
    parser, text, expected = PARSED[case]
    assert parse_draft(parser, text) == expected


FAILS = {
    "an evaluation parser is not a draft parser": ("complex", "SCORE: 7", "^unknown draft parser 'complex'"),
    "inline idea tags are not blocks": (
        "essay_idea_last",
        'x <essay-idea stage="1">inline</essay-idea>\n',
        "^essay_idea_last: no closed <essay-idea> block with its tags on their own lines$",
    ),
    "prose mentioning an essay idea has no block": (
        "essay_idea_last",
        "I have an essay idea about moats.\n",
        "^essay_idea_last: no closed",
    ),
    "an empty chosen idea block fails": (
        "essay_idea_last",
        idea("full", ' stage="1"') + idea("  ", ' stage="3"'),
        '^essay_idea_last: the stage="3" block is empty$',
    ),
    "an empty last unstaged block fails": (
        "essay_idea_last",
        idea("full") + idea(""),
        "^essay_idea_last: the last block is empty$",
    ),
    "essay-idea is not an essay tag": (
        "essay_block",
        idea("not an essay", ' stage="1"'),
        "^essay_block: no <essay> tag$",
    ),
    "an empty essay block fails": (
        "essay_block",
        "<essay>  </essay> after",
        "^essay_block: the <essay> block is empty$",
    ),
    "an unclosed thinking block without essay leaves nothing": (
        "essay_block_lenient",
        "<thinking>\nplan that never ends",
        "^essay_block_lenient: nothing is left after dropping <thinking> blocks$",
    ),
    "an empty lenient essay block names the lenient parser": (
        "essay_block_lenient",
        "<essay></essay>",
        "^essay_block_lenient: the <essay> block is empty$",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILS))
def test_fails(case: str) -> None:
    parser, text, message = FAILS[case]
    with pytest.raises(ParseError, match=message):
        parse_draft(parser, text)
