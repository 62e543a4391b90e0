"""Factors of the product, and the shape a rule writes one factor's value in.

A factor is one dimension of the Cartesian product: a free axis, or axes a rule bound together
(a tie, a pair, a tuple, a several-column ``@file`` axis). Its rows are flat, one value per axis,
so the product never nests. A bound factor keeps the *shape* its rule gave it, because a later
``pairs`` rule may name it as a side (the older DSL's "bundle") and then writes each of its values
the way the rule that made it did: a tuple's item as a list, a tie's value as one value, a pair's
as ``[left, right]``. ``flatten`` turns such a written value back into the flat row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daydream.errors import shown
from daydream.spec.values import Row, Site, Value, level


@dataclass(frozen=True)
class One:
    """A value for one axis."""

    axis: str


@dataclass(frozen=True)
class Same:
    """One value shared by several axes: a tie."""

    axes: tuple[str, ...]


@dataclass(frozen=True)
class Seq:
    """A list with one part per side: a tuple's item, or a pair's ``[left, right]``."""

    parts: tuple[Shape, ...]


Shape = One | Same | Seq


def slots(shape: Shape) -> list[str]:
    """One name per scalar a value of this shape holds, in writing order (a tie counts once)."""
    if isinstance(shape, One):
        return [shape.axis]
    if isinstance(shape, Same):
        return [shape.axes[0]]
    return [name for part in shape.parts for name in slots(part)]


def describe(shape: Shape) -> str:
    """A shape as the researcher would write one value of it: ``[essay_template, essay_llm]``."""
    if isinstance(shape, One):
        return shape.axis
    if isinstance(shape, Same):
        return "=".join(shape.axes)
    return "[" + ", ".join(describe(part) for part in shape.parts) + "]"


def flatten(shape: Shape, raw: Any, site: Site) -> list[Value]:
    """A written value as its flat row (one value per axis of the shape), each level normalised."""
    if isinstance(shape, One):
        return [level(shape.axis, raw, site)]
    if isinstance(shape, Same):
        value = level(shape.axes[0], raw, site)
        return [value] * len(shape.axes)
    if not isinstance(raw, (list, tuple)) or len(raw) != len(shape.parts):
        raise site.error(f"expected a list of {len(shape.parts)} values {describe(shape)}, got {shown(raw, 60)}")
    return [value for part, item in zip(shape.parts, raw, strict=True) for value in flatten(part, item, site)]


def expand(shape: Shape, flat: Sequence[Value]) -> Row:
    """Slot values (one per ``slots(shape)``) as the flat row (a tie's value repeated per axis)."""
    out: list[Value] = []
    position = 0

    def walk(part: Shape) -> None:
        nonlocal position
        if isinstance(part, Seq):
            for inner in part.parts:
                walk(inner)
            return
        width = 1 if isinstance(part, One) else len(part.axes)
        out.extend([flat[position]] * width)
        position += 1

    walk(shape)
    return tuple(out)


def axes_of(shape: Shape) -> tuple[str, ...]:
    if isinstance(shape, One):
        return (shape.axis,)
    if isinstance(shape, Same):
        return shape.axes
    return tuple(axis for part in shape.parts for axis in axes_of(part))


@dataclass(eq=False)
class Factor:
    """One dimension of the product; ``order`` places it (see ``Compiler.ordered``)."""

    name: str
    rule: str
    shape: Shape
    rows: list[Row]
    order: int

    @property
    def axes(self) -> tuple[str, ...]:
        return axes_of(self.shape)

    @property
    def bound(self) -> bool:
        return len(self.axes) > 1 or self.rule not in ("axis", "injected")

    @property
    def label(self) -> str:
        return f"{self.rule} '{self.name}'"

    def column(self, axis: str) -> list[Value]:
        i = self.axes.index(axis)
        return [row[i] for row in self.rows]

    def shown_row(self, row: Row) -> str:
        """A row as a value of this factor is written: ``x`` for one value, ``[x, y]`` for a bundle."""
        if isinstance(self.shape, (One, Same)):
            return str(row[0])
        return "[" + ", ".join(str(v) for v in _slot_values(self.shape, row)) + "]"


def _slot_values(shape: Shape, row: Row) -> list[Value]:
    values: list[Value] = []
    position = 0
    for part in shape.parts if isinstance(shape, Seq) else (shape,):
        width = len(axes_of(part))
        chunk = row[position : position + width]
        values.append(chunk[0] if isinstance(part, (One, Same)) else "[" + ", ".join(map(str, chunk)) + "]")
        position += width
    return values
