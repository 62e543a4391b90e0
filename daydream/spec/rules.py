"""The four rule kinds, applied in the order written: ``subsets``, ``ties``, ``pairs``, ``tuples``.

``ties``, ``pairs`` and ``tuples`` bind *sides* into one factor. A side is an axis not bound yet,
an axis the rule introduces, or (as in the older DSL) the name of an earlier group, whose values
are then written as that group writes them: a tuple's item as a list, a tie's value as one value.
A group stays one factor until the product is expanded back to the original axes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from daydream.errors import shown
from daydream.spec.compiler import Compiler
from daydream.spec.factors import Factor, One, Same, Seq, Shape, axes_of, describe, expand, flatten, slots
from daydream.spec.files import FILE_PREFIX
from daydream.spec.load import check_keys, expect_mapping
from daydream.spec.values import (
    LISTED_LEVELS,
    Row,
    Site,
    canonical_axis,
    clip,
    kind,
    level,
    listing,
    quoted,
    unique,
)

RULE_SECTIONS = ("subsets", "ties", "pairs", "tuples")
BALANCE_MODES = ("left", "right", "both")


def apply_rules(c: Compiler, rules: Any) -> None:
    for section, body in _sections(c, rules):
        entries = expect_mapping(c.site(f"rules.{section}"), body)
        for name, rule in entries.items():
            _RULES[section](c, str(name), rule, c.site(f"{section} '{clip(name)}'"))


def _sections(c: Compiler, rules: Any) -> Iterator[tuple[str, Any]]:
    """``(section, body)`` in the order written, from the mapping form or the list form."""
    if rules is None:
        return
    if isinstance(rules, dict):
        check_keys(c.site("rules"), rules, RULE_SECTIONS)
        yield from ((str(k), v) for k, v in rules.items())
        return
    for number, block in enumerate(rules, start=1):
        site = c.site(f"rules item {number}")
        if not isinstance(block, dict) or len(block) != 1:
            shape = f"a mapping with {len(block)} keys" if isinstance(block, dict) else kind(block)
            raise site.error(f"expected a mapping with one section ({', '.join(RULE_SECTIONS)}), got {shape}")
        check_keys(site, block, RULE_SECTIONS)
        yield from ((str(k), v) for k, v in block.items())


# ---- subsets


def subsets(c: Compiler, name: str, raw: Any, site: Site) -> None:
    """Keep the listed levels of an axis (or items of a group named by its rule), in their own order."""
    axis = canonical_axis(name)
    group = c.groups.get(name)
    if group is not None and axis not in c.factors and axis not in c.pending:
        _subset_group(c, group, raw, site)
        return
    factor = c.existing(axis, site.where)
    keep = c.values(axis, raw, site)
    if not keep:
        raise site.error("keeps no levels (empty list)")
    levels = unique(factor.column(axis))
    present = set(levels)
    missing = [v for v in keep if v not in present]
    if missing:
        raise site.error(
            f"value(s) not among the levels of '{clip(axis)}': {listing(missing)} "
            f"(levels: {listing(levels, LISTED_LEVELS)})"
        )
    i = factor.axes.index(axis)
    wanted = set(keep)
    factor.rows = [row for row in factor.rows if row[i] in wanted]


def _subset_group(c: Compiler, group: Factor, raw: Any, site: Site) -> None:
    keep = _written(c, group.shape, raw, site)
    if not keep:
        raise site.error("keeps no items (empty list)")
    factor = c.factors[group.axes[0]]
    at = [factor.axes.index(axis) for axis in group.axes]
    items = unique(tuple(row[i] for i in at) for row in factor.rows)
    present = set(items)
    missing = [group.shown_row(row) for row in keep if row not in present]
    if missing:
        shown_items = [group.shown_row(row) for row in items]
        raise site.error(
            f"item(s) not among the items of {group.label}: {listing(missing)} "
            f"(items: {listing(shown_items, LISTED_LEVELS)})"
        )
    wanted = set(keep)
    factor.rows = [row for row in factor.rows if tuple(row[i] for i in at) in wanted]


# ---- ties


def ties(c: Compiler, name: str, raw: Any, site: Site) -> None:
    """Tied axes take the same value in every row, drawn from their common levels."""
    if isinstance(raw, dict):
        check_keys(site, raw, ("axes",))
        raw = raw.get("axes")
    axes = axis_names(raw, site, minimum=2)
    members = [c.free_axis(axis, site.where) for axis in axes]
    levels = {axis: unique(member.column(axis)) for axis, member in zip(axes, members, strict=True)}
    others = [set(levels[axis]) for axis in axes[1:]]
    common = [v for v in levels[axes[0]] if all(v in other for other in others)]
    if not common:
        listed = "; ".join(f"{clip(axis)}: {listing(levels[axis], LISTED_LEVELS)}" for axis in axes)
        raise site.error(f"axes {listing(axes)} have no common levels ({listed})")
    named = canonical_axis(name)
    order = c.rank[named] if named in axes else min(member.order for member in members)
    _register(c, Factor(name, "ties", Same(axes), [(v,) * len(axes) for v in common], order))


# ---- pairs and tuples


@dataclass(frozen=True)
class Side:
    """What a binding rule names: ``factor`` is None for axes the rule itself introduces."""

    label: str
    shape: Shape
    factor: Factor | None


def pairs(c: Compiler, name: str, raw: Any, site: Site) -> None:
    spec = expect_mapping(site, raw, allow_none=False)
    check_keys(site, spec, ("left", "right", "allowed", "balance"))
    for key in ("left", "right", "allowed"):
        if key not in spec:
            raise site.error(f"missing '{clip(key)}'")
    left, right = axis_names([spec["left"], spec["right"]], site, minimum=2, canonical=False)
    balance = spec.get("balance")
    if balance is not None and balance not in BALANCE_MODES:
        raise site.error(f"balance must be one of {', '.join(BALANCE_MODES)}, got {shown(balance, 40)}")
    sides = [_side(c, left, site), _side(c, right, site)]
    if sides[0].factor is not None and sides[0].factor is sides[1].factor:
        raise site.error(f"'{clip(left)}' and '{clip(right)}' are already bound together by {sides[0].factor.label}")
    _check_new_sides(c, sides, spec["allowed"], site)
    rows = _written(c, Seq(tuple(side.shape for side in sides)), spec["allowed"], site)
    _check_domains(sides, rows, site)
    if balance is not None:
        _check_balance(sides, rows, balance, site)
    _bind(c, name, "pairs", sides, rows)


def tuples(c: Compiler, name: str, raw: Any, site: Site) -> None:
    spec = expect_mapping(site, raw, allow_none=False)
    check_keys(site, spec, ("axes", "items"))
    if "items" not in spec:
        raise site.error("missing 'items'")
    sides = [_side(c, axis, site) for axis in axis_names(spec.get("axes"), site, minimum=1, canonical=False)]
    bound = [side.factor for side in sides if side.factor is not None]
    if len({id(f) for f in bound}) < len(bound):
        raise site.error("two of its axes are already bound together; name their group once")
    rows = _written(c, Seq(tuple(side.shape for side in sides)), spec["items"], site)
    _check_domains(sides, rows, site)
    _bind(c, name, "tuples", sides, rows)


def axis_names(raw: Any, site: Site, *, minimum: int, canonical: bool = True) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(a, str) and a for a in raw):
        raise site.error(f"expected axis names, got {shown(raw, 60)}")
    names = tuple(canonical_axis(a) for a in raw)
    repeated = [a for a, n in Counter(names).items() if n > 1]
    if repeated:
        raise site.error(f"axis {quoted(repeated)} named more than once")
    if len(names) < minimum:
        raise site.error(f"needs at least {minimum} axes, got {len(names)}")
    return names if canonical else tuple(raw)


def _side(c: Compiler, name: str, site: Site) -> Side:
    """An axis not bound yet, an earlier group by its rule's name, or an axis this rule introduces."""
    axis = canonical_axis(name)
    factor = c.factors.get(axis)
    if factor is not None and not factor.bound:
        return Side(axis, One(axis), factor)
    group = c.groups.get(name)
    if group is not None and c.whole(group):
        return Side(name, group.shape, group)
    if factor is not None:
        raise site.error(f"axis '{clip(axis)}' is already bound by {factor.label}{c.hint(factor)}")
    if group is not None:
        current = c.factors[group.axes[0]]
        raise site.error(f"'{clip(name)}' ({group.label}) is already bound by {current.label}")
    return Side(axis, One(axis), None)


def _check_new_sides(c: Compiler, sides: Sequence[Side], raw: Any, site: Site) -> None:
    """A list written for a side that names nothing known yet: most likely a bundle defined further down."""
    if not isinstance(raw, list):
        return
    for i, side in enumerate(sides):
        written = (item[i] for item in raw if isinstance(item, (list, tuple)) and len(item) > i)
        if side.factor is None and any(isinstance(value, (list, tuple)) for value in written):
            groups = listing(list(c.groups), LISTED_LEVELS) or "none"
            raise site.error(
                f"'{clip(side.label)}' is written as a list, but it is no axis and no group of a rule above "
                f"(groups so far: {groups}); rules apply in the order written"
            )


def _written(c: Compiler, shape: Shape, raw: Any, site: Site) -> list[Row]:
    """Values of ``shape`` as flat rows, inline or from an ``@file``, de-duplicated in written order.

    A value of a list shape may also be written flat, one cell per axis, as a CSV row is: for a
    pair with a bundle side, ``[a, b, c]`` means ``[a, [b, c]]``.
    """
    names = slots(shape)
    if isinstance(raw, str) and raw.startswith(FILE_PREFIX):
        table = c.table(raw, site)
        header = [canonical_axis(name) for name in table.header or ()]
        items: list[Any] = list(table.rows)
        if sorted(header) == sorted(names) and header != names:  # a header naming the axes maps them
            order = [header.index(name) for name in names]
            items = [tuple(row[i] for i in order) for row in items]
        if not isinstance(shape, Seq):
            items = [row[0] if len(row) == 1 else row for row in items]
    elif isinstance(raw, list):
        items = raw
    else:
        raise site.error(f"expected a list of items or '{FILE_PREFIX}path', got {kind(raw)}")
    rows: list[Row] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(shape, Seq):
            rows.append(tuple(flatten(shape, item, site)))
            continue
        cells = tuple(item) if isinstance(item, (list, tuple)) else (item,)
        if len(cells) == len(shape.parts):
            rows.append(tuple(flatten(shape, cells, site)))
        elif len(cells) == len(names) and not any(isinstance(v, (list, tuple)) for v in cells):
            rows.append(expand(shape, [level(n, v, site) for n, v in zip(names, cells, strict=True)]))
        else:
            parts = [describe(part) for part in shape.parts]
            flat = f" or {len(names)} ({', '.join(names)})" if len(names) != len(parts) else ""
            raise site.error(
                f"item {number} {shown(list(cells))} has {len(cells)} value(s), "
                f"expected {len(parts)} ({', '.join(parts)}){flat}"
            )
    if not rows and isinstance(shape, Seq):
        raise site.error("no items given")
    return unique(rows)


def _chunks(sides: Sequence[Side]) -> list[tuple[int, int]]:
    """Where each side's axes sit in a bound row."""
    bounds, start = [], 0
    for side in sides:
        width = len(axes_of(side.shape))
        bounds.append((start, start + width))
        start += width
    return bounds


def _check_domains(sides: Sequence[Side], rows: list[Row], site: Site) -> None:
    """Values on a side that already exists must be among its levels (or its group's items)."""
    problems: list[str] = []
    for side, (start, end) in zip(sides, _chunks(sides), strict=True):
        factor = side.factor
        if factor is None:
            continue
        present = set(factor.rows)
        missing = unique(row[start:end] for row in rows if row[start:end] not in present)
        if not missing:
            continue
        if isinstance(side.shape, One):
            levels = unique(r[0] for r in factor.rows)
            problems.append(
                f"value(s) not among the levels of '{clip(side.label)}': {listing([m[0] for m in missing])} "
                f"(levels: {listing(levels, LISTED_LEVELS)})"
            )
        else:
            problems.append(
                f"item(s) not among the items of {factor.label}: {listing([factor.shown_row(m) for m in missing])} "
                f"(items: {listing([factor.shown_row(r) for r in factor.rows], LISTED_LEVELS)})"
            )
    if problems:
        raise site.error("; ".join(problems))


def _check_balance(sides: Sequence[Side], rows: list[Row], balance: str, site: Site) -> None:
    """Each level of the balanced side (a level left out counts 0) must appear equally often."""
    chosen = {"left": (0,), "right": (1,), "both": (0, 1)}[balance]
    chunks = _chunks(sides)
    problems: list[str] = []
    for i in chosen:
        side, (start, end) = sides[i], chunks[i]
        levels = side.factor.rows if side.factor is not None else unique(row[start:end] for row in rows)
        counts = Counter(row[start:end] for row in rows)
        per_level = {level_: counts.get(level_, 0) for level_ in levels}
        if len(set(per_level.values())) > 1:
            show = side.factor.shown_row if side.factor is not None else (lambda r: str(r[0]))
            listed = listing([f"{show(level_)}={n}" for level_, n in per_level.items()])
            problems.append(f"{('left', 'right')[i]} '{clip(side.label)}' is unbalanced: {listed}")
    if problems:
        raise site.error("; ".join(problems))


def _bind(c: Compiler, name: str, rule: str, sides: Sequence[Side], rows: list[Row]) -> None:
    """Replace the sides by one factor holding exactly ``rows``; introduced axes rank after the others."""
    orders = []
    for side, (start, end) in zip(sides, _chunks(sides), strict=True):
        if side.factor is not None:
            orders.append(side.factor.order)
            continue
        axes = axes_of(side.shape)
        for axis in axes:
            c.rank.setdefault(axis, len(c.rank))
        orders.append(min(c.rank[axis] for axis in axes))
        c.note(axes, (row[start:end] for row in rows))
    shape = Seq(tuple(side.shape for side in sides))
    _register(c, Factor(name, rule, shape, rows, min(orders)))


def _register(c: Compiler, factor: Factor) -> None:
    c.groups[factor.name] = factor
    c.add(factor)


_RULES: dict[str, Callable[[Compiler, str, Any, Site], None]] = {
    "subsets": subsets,
    "ties": ties,
    "pairs": pairs,
    "tuples": tuples,
}
