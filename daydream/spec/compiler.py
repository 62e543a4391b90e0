"""The state of one compilation: axes, the factors they belong to, the groups rules made.

Axes are read in the order written; rules (``daydream.spec.rules``) then bind them into factors;
``ordered`` gives the factors in product order. Ids a researcher wrote are remembered as they
enter (axes, ``@file`` tables, tuple and pair items) and checked against the catalogs once, at the
end, so one error lists every missing id of every axis.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from daydream.errors import SpecError, located
from daydream.spec.factors import Factor, One, Seq
from daydream.spec.files import FILE_PREFIX, Table, read_table
from daydream.spec.values import (
    LISTED_LEVELS,
    REPLICATE_ALIASES,
    Row,
    Site,
    Value,
    canonical_axis,
    clip,
    kind,
    level,
    listing,
    quoted,
    unique,
)


class Compiler:
    """Axes, factors and groups of one spec file; every error names that file."""

    def __init__(
        self,
        path: Path,
        known_ids: Mapping[str, Collection[str]] | None,
        injected_axes: Mapping[str, Sequence[str]] | None,
        data_root: Path | None,
    ):
        self.path = path
        self.data_root = data_root
        self.known = dict(known_ids or {})
        self.injected = {canonical_axis(k): v for k, v in (injected_axes or {}).items()}
        self.rank: dict[str, int] = {}
        self.factors: dict[str, Factor] = {}
        self.groups: dict[str, Factor] = {}
        self.pending: set[str] = set()
        self.entered: dict[str, dict[Value, None]] = {}

    def site(self, where: str) -> Site:
        return Site(self.path, where)

    def fail(self, where: str, message: str) -> SpecError:
        return self.site(where).error(message)

    # ---- values

    def table(self, ref: str, site: Site) -> Table:
        return read_table(ref, self.path, self.data_root, site)

    def values(self, axis: str, raw: Any, site: Site) -> list[Value]:
        """A list of levels for one axis, inline or from a one-column ``@file``, de-duplicated."""
        if isinstance(raw, str) and raw.startswith(FILE_PREFIX):
            table = self.table(raw, site)
            if table.width != 1:
                raise site.error(f"{raw} has {table.width} values per row, expected one")
            raw = [row[0] for row in table.rows]
        if not isinstance(raw, list):
            raise site.error(f"expected a list of values or '{FILE_PREFIX}path', got {kind(raw)}")
        return unique(level(axis, item, site) for item in raw)

    def note(self, axes: Sequence[str], rows: Iterable[Row]) -> None:
        """Remember the ids the researcher wrote for these axes, for the catalog check."""
        seen = [self.entered.setdefault(axis, {}) for axis in axes]
        for row in rows:
            for values, value in zip(seen, row, strict=True):
                values[value] = None

    # ---- axes

    def declare(self, axis: str, where: str) -> None:
        if axis in self.rank:
            aliases = [alias for alias, target in REPLICATE_ALIASES.items() if target == axis]
            spelled = f" ({' and '.join([axis, *aliases])} are one axis)" if aliases else ""
            raise self.fail(where, f"axis '{clip(axis)}' is declared twice{spelled}")
        self.rank[axis] = len(self.rank)

    def add(self, factor: Factor) -> None:
        for axis in factor.axes:
            self.factors[axis] = factor
            self.pending.discard(axis)

    def load_axes(self, axes: Sequence[tuple[str, Any]], replicates: Mapping[str, int]) -> None:
        """Spec axes in the order written, then ``replicates:``; injected axes the spec does not name go first."""
        named = {canonical_axis(key) for key, _ in axes} | {canonical_axis(key) for key in replicates}
        for axis in self.injected:
            if axis not in named:
                self.declare(axis, f"axis '{clip(axis)}'")
                self.add_injected(axis)
        for key, raw in axes:
            self.load_axis(key, raw)
        for key, count in replicates.items():
            axis = canonical_axis(key)
            self.declare(axis, f"replicates '{clip(key)}'")
            self.add(Factor(axis, "axis", One(axis), [(n,) for n in range(1, count + 1)], self.rank[axis]))

    def add_injected(self, axis: str) -> None:
        """Injected levels come from the cohort builder, not the researcher: not checked against catalogs."""
        levels = self.values(axis, list(self.injected[axis]), self.site(f"injected axis '{clip(axis)}'"))
        self.add(Factor(axis, "injected", One(axis), [(v,) for v in levels], self.rank[axis]))

    def load_axis(self, key: str, raw: Any) -> None:
        axis = canonical_axis(key)
        site = self.site(f"axis '{clip(axis)}'")
        table = self.table(raw, site) if isinstance(raw, str) and raw.startswith(FILE_PREFIX) else None
        if table is not None and table.width > 1:
            self.load_group(key, raw, table)
            return
        self.declare(axis, site.where)
        if raw is None and axis in self.injected:
            self.add_injected(axis)
        elif raw is None:
            self.pending.add(axis)
        else:
            levels = self.values(axis, [row[0] for row in table.rows] if table else raw, site)
            if not levels:
                raise site.error("has no levels")
            rows: list[Row] = [(v,) for v in levels]
            self.note((axis,), rows)
            self.add(Factor(axis, "axis", One(axis), rows, self.rank[axis]))

    def load_group(self, key: str, ref: str, table: Table) -> None:
        """A several-column CSV axis binds the columns it names, like a tuples rule written in place."""
        site = self.site(f"axis '{clip(key)}'")
        if table.header is None:
            raise site.error(f"{clip(ref)} has {table.width} values per row; name the axes in a CSV header")
        axes = tuple(canonical_axis(name) for name in table.header)
        if not all(axes):
            raise site.error(f"{clip(ref)} has a blank column name; the header names the axes")
        for axis in axes:
            self.declare(axis, site.where)
        shape = Seq(tuple(One(axis) for axis in axes))
        rows = unique(tuple(level(a, v, site) for a, v in zip(axes, row, strict=True)) for row in table.rows)
        self.note(axes, rows)
        factor = Factor(key, "axis file", shape, rows, min(self.rank[a] for a in axes))
        self.groups[key] = factor
        self.add(factor)

    # ---- lookups

    def existing(self, axis: str, where: str) -> Factor:
        factor = self.factors.get(axis)
        if factor is not None:
            return factor
        if axis in self.pending:
            raise self.fail(where, f"axis '{clip(axis)}' has no levels yet (it is declared empty)")
        raise self.fail(where, f"unknown axis '{clip(axis)}' (axes: {listing(list(self.rank), LISTED_LEVELS)})")

    def free_axis(self, axis: str, where: str) -> Factor:
        """The factor of an axis a rule may still bind: declared, with levels, and not bound yet."""
        factor = self.existing(axis, where)
        if factor.bound:
            raise self.fail(where, f"axis '{clip(axis)}' is already bound by {factor.label}{self.hint(factor)}")
        return factor

    def whole(self, group: Factor) -> bool:
        """True while no later rule has merged the group into a larger factor."""
        return all(self.factors.get(axis) is group for axis in group.axes)

    def hint(self, factor: Factor) -> str:
        if self.groups.get(factor.name) is factor:
            return f" (a rule may name '{factor.name}' as a side to bind its items whole)"
        return ""

    # ---- the end

    def finish(self, has_axes_key: bool) -> None:
        if self.pending:
            names = sorted(self.pending, key=self.rank.__getitem__)
            raise self.fail(
                f"axis {quoted(names)}",
                "declared empty but no rule gives it levels (give a list, an @file, or bind it in tuples)",
            )
        if not self.factors:
            if not has_axes_key:
                raise SpecError(
                    located("missing 'axes' (axis name -> list of levels), and no rule gives any axis", file=self.path)
                )
            raise self.fail("axes", "no axes given, and no tuples or pairs rule gives any")

    def check_known(self) -> None:
        """Every id must exist in the catalogs; all missing ones are listed so one edit fixes the spec."""
        problems: list[str] = []
        for axis in sorted(self.entered, key=self.rank.__getitem__):
            ids = self.known.get(axis)
            if ids is None:
                continue
            known = ids if isinstance(ids, (set, frozenset)) else set(ids)
            missing = [v for v in self.entered[axis] if v not in known]
            if missing:
                problems.append(f"axis '{clip(axis)}': unknown id(s) not in the catalogs: {listing(missing)}")
        if problems:
            raise SpecError(located("; ".join(problems), file=self.path))

    def ordered(self) -> list[Factor]:
        """Factors in product order, the last varying fastest.

        A factor stands where the earliest of its axes was declared (axes a rule introduces rank
        after the declared ones, in the order rules introduce them); a tie named after one of its
        own axes stands where that axis was. This is the order the older DSL's compiler reached by
        splicing each bound group into its axis list at the same place.
        """
        factors = {id(f): f for f in self.factors.values()}.values()
        return sorted(factors, key=lambda f: f.order)

    def columns(self, output: Mapping[Any, Any]) -> list[str]:
        """``field_order`` first, then every other axis in axis order."""
        order = output.get("field_order") or []
        where = "output.field_order"
        if not isinstance(order, list):
            raise self.fail(where, f"expected a list of axis names, got {kind(order)}")
        fields = [canonical_axis(str(f)) for f in order]
        counts = Counter(fields)
        repeated = [f for f in counts if counts[f] > 1]
        if repeated:
            raise self.fail(where, f"field(s) listed more than once: {listing(repeated)}")
        axes = [a for a in self.rank if a in self.factors]
        unknown = [f for f in fields if f not in self.factors]
        if unknown:
            raise self.fail(
                where, f"field(s) that are not axes: {listing(unknown)} (axes: {listing(axes, LISTED_LEVELS)})"
            )
        return fields + [a for a in axes if a not in fields]
