"""YAML and JSON for specs and ``@file`` lists, with the cost bounded before any object is built.

A 1 KB YAML file can stand for a billion nodes ("billion laughs": anchors of aliases of anchors),
and a deeply nested one can exhaust the recursion of whatever walks it. The event stream is
walked first, without building anything: each anchor's size and depth with aliases expanded is
known when the anchor closes, so an alias adds its expanded size in constant time, and the walk
stops at the first node past ``MAX_YAML_NODES`` or ``MAX_YAML_DEPTH``. Only then is the document
constructed. A self-referencing alias (which PyYAML would turn into a recursive list) is refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from daydream.errors import SpecError, located, shown
from daydream.limits import MAX_YAML_DEPTH, MAX_YAML_NODES, over_limit

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed


class SpecLoader(_Base):  # type: ignore[valid-type,misc]
    """Safe YAML that refuses duplicate keys: PyYAML would keep the last one and drop an axis silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {shown(key, 60)} (write it once; rules may use the list form to repeat a section)",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


@dataclass
class _Open:
    """A collection being walked: its anchor, the node count and depth where it started, its deepest point."""

    anchor: str | None
    start: int
    base: int
    deepest: int


class _Walk:
    """Node count and depth of a YAML event stream, aliases expanded, stopping at the first excess."""

    def __init__(self, file: Path):
        self.file = file
        self.max_nodes = MAX_YAML_NODES.value
        self.max_depth = MAX_YAML_DEPTH.value
        self.count = 0
        self.depth = 0
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[int, int]] = {}

    def fail(self, message: str, event: yaml.Event) -> SpecError:
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        return SpecError(located(message, file=self.file, line=line))

    def reach(self, nodes: int, depth: int, event: yaml.Event) -> None:
        self.count += nodes
        if self.count > self.max_nodes:
            raise self.fail(f"at least {over_limit(self.count, MAX_YAML_NODES)}", event)
        if depth > self.max_depth:
            raise self.fail(f"too deeply nested: {over_limit(depth, MAX_YAML_DEPTH)}", event)
        if self.stack:
            self.stack[-1].deepest = max(self.stack[-1].deepest, depth)

    def event(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor or ""
            if anchor in {frame.anchor for frame in self.stack}:
                raise self.fail(f"alias *{shown(anchor, 40)} refers to the collection that contains it", event)
            size, depth = self.anchors.get(anchor, (1, 0))  # an undefined alias is the loader's error
            self.reach(size, self.depth + depth, event)
        elif isinstance(event, yaml.ScalarEvent):
            self.reach(1, self.depth, event)
            if event.anchor:
                self.anchors[event.anchor] = (1, 0)
        elif isinstance(event, yaml.CollectionStartEvent):
            self.reach(1, self.depth + 1, event)
            self.stack.append(_Open(event.anchor, self.count - 1, self.depth, self.depth + 1))
            self.depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            frame = self.stack.pop()
            self.depth -= 1
            if frame.anchor:
                self.anchors[frame.anchor] = (self.count - frame.start, frame.deepest - frame.base)
            if self.stack:
                self.stack[-1].deepest = max(self.stack[-1].deepest, frame.deepest)


def _syntax_error(exc: yaml.YAMLError, file: Path) -> SpecError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or "invalid YAML"
    line = mark.line + 1 if mark is not None else None
    return SpecError(located(f"YAML syntax error: {problem}", file=file, line=line))


def load_yaml(text: str, file: Path) -> Any:
    """The document, after the event walk has bounded its expanded size and depth."""
    walk = _Walk(file)
    try:
        for event in yaml.parse(text, Loader=_Base):
            walk.event(event)
        return yaml.load(text, Loader=SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, file) from None
    except RecursionError:
        raise SpecError(located(f"YAML nested too deeply (limit {walk.max_depth})", file=file)) from None


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {shown(key, 60)}")
        out[key] = value
    return out


def load_json(text: str, file: Path) -> Any:
    """JSON has no aliases; its size is bounded by the file size, its depth checked after parsing."""
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicates)
    except json.JSONDecodeError as exc:
        raise SpecError(located(f"JSON syntax error: {exc.msg}", file=file, line=exc.lineno)) from None
    except ValueError as exc:
        raise SpecError(located(f"JSON error: {exc}", file=file)) from None
    except RecursionError:
        raise SpecError(located("JSON nested too deeply", file=file)) from None
    depth = _depth(data)
    if depth > MAX_YAML_DEPTH.value:
        raise SpecError(located(f"too deeply nested: {over_limit(depth, MAX_YAML_DEPTH)}", file=file))
    return data


def _depth(data: Any) -> int:
    """Nesting depth of parsed JSON, without recursion (the parser already bounded the size)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest
