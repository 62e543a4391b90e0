"""Draft parsers (docs/data-contract.md §7): a draft model's raw text -> the draft's ``parsed.txt``.

Each parser takes the raw text and returns the stage output, or raises ``ParseError`` with a
one-line message: a parse failure must fail that one generation loudly rather than store an empty
draft that every essay built on it would silently inherit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from daydream.errors import ParseError

DraftParser = Callable[[str], str]

# essay_idea_last: the templates put each tag on its own line; inline tags are prose, not blocks.
_IDEA_OPEN = re.compile(r"^\s*<essay-idea(?P<attrs>\s[^>]*)?>\s*$", re.IGNORECASE)
_IDEA_CLOSE = re.compile(r"^\s*</essay-idea\s*>\s*$", re.IGNORECASE)
_STAGE_ATTR = re.compile(r"""(?<![\w-])stage\s*=\s*["']?\s*(?P<stage>\d+(?:\.\d+)?)\s*["']?""", re.IGNORECASE)

# essay_block: an <essay> tag, with attributes up to the first ">", but not ``<essay-idea>`` or
# ``<essays>``. Tags are found by their start and closed with ``str.find``: a pattern like
# ``<essay(?:\s[^>]*)?>`` rescans the rest of the text at every "<essay " when no ">" follows,
# which made a long unclosed answer quadratic.
_ESSAY_TAG = re.compile(r"<essay(?=[\s>])", re.IGNORECASE)
_ESSAY_CLOSE = re.compile(r"</essay\s*>", re.IGNORECASE)

# essay_block_lenient: an unclosed reasoning block ends at the next <essay> tag (else at the end),
# so a model that forgot </thinking> still yields its essay.
_REASONING_TAG = re.compile(r"<(?P<tag>thinking|think)\b", re.IGNORECASE)
_REASONING_END = {tag: re.compile(rf"</{tag}\s*>|(?=<essay[\s>])", re.IGNORECASE) for tag in ("thinking", "think")}
_ORPHAN_REASONING_CLOSE = re.compile(r"</think(?:ing)?\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class _IdeaBlock:
    stage: float | None
    content: str


def _require_text(parser: str, text: str) -> str:
    """Every parser refuses empty output, so the message names the parser that was asked."""
    if not text.strip():
        raise ParseError(f"{parser}: the text is empty")
    return text


def parse_identity(text: str) -> str:
    """The text as the model wrote it: templates that need no extraction."""
    return _require_text("identity", text)


def _stage_of(attrs: str | None) -> float | None:
    match = _STAGE_ATTR.search(attrs or "")
    return float(match.group("stage")) if match else None


def _idea_blocks(text: str) -> list[_IdeaBlock]:
    """Closed blocks in order; an opening tag inside an open block abandons the unfinished one."""
    blocks: list[_IdeaBlock] = []
    body: list[str] | None = None
    stage: float | None = None
    for line in text.splitlines():
        opening = _IDEA_OPEN.match(line)
        if opening:
            body, stage = [], _stage_of(opening.group("attrs"))
        elif body is not None and _IDEA_CLOSE.match(line):
            blocks.append(_IdeaBlock(stage, "\n".join(body).strip()))
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def parse_essay_idea_last(text: str) -> str:
    """The most developed idea of a rolling-thread draft: highest stage wins, the later on ties.

    Blocks with a numeric stage outrank blocks without one, because an unstaged block next to
    staged ones is usually a scratch note; only when no block carries a stage does position decide.
    """
    _require_text("essay_idea_last", text)
    blocks = _idea_blocks(text)
    if not blocks:
        raise ParseError("essay_idea_last: no closed <essay-idea> block with its tags on their own lines")
    staged = [block for block in blocks if block.stage is not None]
    if staged:
        top = max(block.stage for block in staged if block.stage is not None)
        chosen = [block for block in staged if block.stage == top][-1]
        where = f'the stage="{top:g}" block'
    else:
        chosen = blocks[-1]
        where = "the last block"
    if not chosen.content:
        raise ParseError(f"essay_idea_last: {where} is empty")
    return chosen.content


def _tag_end(text: str, start: re.Match[str] | None) -> int | None:
    """Where the tag whose name ``start`` matched ends (after its ">"); None without a ">" after it,
    and then no later tag can close either."""
    if start is None:
        return None
    close = text.find(">", start.end())
    return None if close < 0 else close + 1


def _first_essay(parser: str, text: str) -> str | None:
    """The first <essay> block, or None without a tag; a missing close runs to the end of the text
    so a dropped closing tag loses nothing."""
    opened = _tag_end(text, _ESSAY_TAG.search(text))
    if opened is None:
        return None
    closing = _ESSAY_CLOSE.search(text, opened)
    content = text[opened : closing.start() if closing else len(text)].strip()
    if not content:
        raise ParseError(f"{parser}: the <essay> block is empty")
    return content


def parse_essay_block(text: str) -> str:
    """Templates that ask for a tagged essay: anything outside the tag is commentary."""
    content = _first_essay("essay_block", _require_text("essay_block", text))
    if content is None:
        raise ParseError("essay_block: no <essay> tag")
    return content


def _drop_reasoning_blocks(text: str) -> str:
    """Every <think>/<thinking> block removed, up to its own closing tag, else the next <essay> tag,
    else the end of the text."""
    kept: list[str] = []
    at = 0
    while (start := _REASONING_TAG.search(text, at)) is not None:
        opened = _tag_end(text, start)
        if opened is None:
            break
        end = _REASONING_END[start.group("tag").lower()].search(text, opened)
        kept.append(text[at : start.start()])
        at = end.end() if end else len(text)
    kept.append(text[at:])
    return "".join(kept)


def strip_reasoning(text: str) -> str:
    """Drop <thinking>/<think> blocks, and everything before a closing tag left without its opener
    (some providers cut the opening tag of a reasoning trace but keep the close)."""
    cleaned = _drop_reasoning_blocks(text)
    orphans = list(_ORPHAN_REASONING_CLOSE.finditer(cleaned))
    return cleaned[orphans[-1].end() :] if orphans else cleaned


def parse_essay_block_lenient(text: str) -> str:
    """``essay_block`` after dropping reasoning; with no <essay> tag the whole cleaned text, since
    templates using this parser let the model answer untagged."""
    cleaned = strip_reasoning(_require_text("essay_block_lenient", text))
    content = _first_essay("essay_block_lenient", cleaned)
    if content is not None:
        return content
    if not cleaned.strip():
        raise ParseError("essay_block_lenient: nothing is left after dropping <thinking> blocks")
    return cleaned.strip()


DRAFT_PARSERS: dict[str, DraftParser] = {
    "identity": parse_identity,
    "essay_idea_last": parse_essay_idea_last,
    "essay_block": parse_essay_block,
    "essay_block_lenient": parse_essay_block_lenient,
}
