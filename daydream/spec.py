"""The cohort spec DSL (data-contract section 5): ``spec/config.yaml`` compiled to one row per plan.

A spec names axes (lists of levels), restricts them with rules applied in the order written, and
asks for the Cartesian product of what remains. The product is built with numpy index arithmetic
(per-level codes broadcast to the product's shape), never a Python loop per row, because real cohorts reach
millions of rows. Every problem is a ``SpecError`` with one line naming the spec file, the rule and
the offending values, so a researcher can fix the YAML without reading code.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from daydream.csvio import read_rows
from daydream.errors import DayDreamError, SpecError, located
from daydream.paths import STAGES

TOP_LEVEL_KEYS = ("axes", "rules", "output", "combos", "replicates")
OUTPUT_KEYS = ("field_order",)
RULE_SECTIONS = ("subsets", "ties", "pairs", "tuples")
BALANCE_MODES = ("left", "right", "both")
REPLICATE_AXES = tuple(f"{stage}_replicate" for stage in STAGES)
REPLICATE_ALIASES = {f"{stage}_template_replicate": f"{stage}_replicate" for stage in STAGES}
FILE_PREFIX = "@file:"
FILE_SUFFIXES = (".csv", ".txt", ".yaml", ".yml", ".json")
MAX_ROWS = 50_000_000
"""A guard against a typo multiplying the plan past what memory holds; no real cohort comes close."""
LISTED_LEVELS = 20
"""How many axis levels an error shows when it lists them as a hint (offending values are all shown)."""

Value = str | int
Row = tuple[Value, ...]


def canonical_axis(name: str) -> str:
    """``<stage>_template_replicate`` is the older pipeline's spelling of ``<stage>_replicate``."""
    return REPLICATE_ALIASES.get(name, name)


def is_replicate(axis: str) -> bool:
    return axis in REPLICATE_AXES


# --------------------------------------------------------------------------------------------
# Loading


class _SpecLoader(yaml.SafeLoader):
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
                    f"duplicate key {key!r} (write it once; rules may use the list form to repeat a section)",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _fail(path: Path, where: str, message: str) -> SpecError:
    return SpecError(located(f"{where}: {message}", file=path))


def _parse_yaml(path: Path) -> Any:
    """The file's YAML; a syntax error names the line, as an editor counts it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(located("spec file not found", file=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(located(f"cannot read: {exc}", file=path)) from None
    try:
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        raise SpecError(located(f"YAML syntax error: {problem}", file=path, line=line)) from None
    except yaml.YAMLError as exc:
        raise SpecError(located(f"YAML syntax error: {exc}", file=path)) from None


def _check_keys(path: Path, where: str, mapping: Mapping[Any, Any], known: Sequence[str], hint: str = "") -> None:
    unknown = [str(k) for k in mapping if k not in known]
    if unknown:
        raise _fail(path, where, f"unknown key(s) {_quoted(unknown)} (known: {', '.join(known)}){hint}")


def _expect_mapping(path: Path, where: str, value: Any, *, allow_none: bool = True) -> Mapping[Any, Any]:
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(path, where, f"expected a mapping, got {_kind(value)}")
    return value


def load_spec(path: Path) -> dict[str, Any]:
    """The parsed spec, with its top-level shape checked so later errors can point at one rule."""
    path = Path(path)
    data = _parse_yaml(path)
    if data is None:
        raise SpecError(located("empty spec, expected a mapping with 'axes'", file=path))
    if not isinstance(data, dict):
        raise SpecError(located(f"expected a mapping at the top level, got {_kind(data)}", file=path))
    _check_keys(path, "top level", data, TOP_LEVEL_KEYS)
    if "axes" not in data:
        raise SpecError(located("missing 'axes' (axis name -> list of levels)", file=path))
    axes = _expect_mapping(path, "axes", data["axes"], allow_none=False)
    if not axes:
        raise _fail(path, "axes", "no axes given")
    rules = data.get("rules")
    if rules is not None and not isinstance(rules, (Mapping, list)):
        raise _fail(path, "rules", f"expected a mapping of sections or a list of them, got {_kind(rules)}")
    output = _expect_mapping(path, "output", data.get("output"))
    _check_keys(path, "output", output, OUTPUT_KEYS)
    return data


# --------------------------------------------------------------------------------------------
# Small helpers for messages


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _quoted(values: Iterable[Any]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _listing(values: Sequence[Any], limit: int | None = None) -> str:
    """Values joined for a message; a long hint list is cut, offending values never are."""
    shown = [str(v) for v in (values if limit is None else values[:limit])]
    if limit is not None and len(values) > limit:
        shown.append(f"... ({len(values)} in all)")
    return ", ".join(shown)


def _unique(values: Iterable[Any]) -> list[Any]:
    """De-duplicate keeping the first occurrence: the order the researcher wrote is the plan's order."""
    return list(dict.fromkeys(values))


# --------------------------------------------------------------------------------------------
# @file tables


@dataclass(frozen=True)
class _Table:
    """Rows read from an ``@file``; ``header`` only for CSV, where it names the columns."""

    header: tuple[str, ...] | None
    rows: list[tuple[Any, ...]]

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0


def _read_csv(file: Path) -> _Table:
    header: tuple[str, ...] | None = None
    rows: list[tuple[str, ...]] = []
    for row_no, row in read_rows(file, [], error=SpecError):
        if header is None:
            header = tuple(row)
        cells = tuple(row.values())
        if len(cells) > 1 and not all(cells):
            blank = next(name for name, cell in row.items() if not cell)
            raise SpecError(located("empty cell", file=file, row=row_no, field=blank))
        rows.append(cells)
    return _Table(header, rows)


def _read_txt(file: Path) -> _Table:
    lines = (line.strip() for line in file.read_text(encoding="utf-8-sig").splitlines())
    return _Table(None, [(line,) for line in lines if line and not line.startswith("#")])


def _read_structured(file: Path) -> _Table:
    text = file.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecError(located(f"JSON syntax error: {exc.msg}", file=file, line=exc.lineno)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or exc
        raise SpecError(
            located(f"YAML syntax error: {problem}", file=file, line=mark.line + 1 if mark is not None else None)
        ) from None
    if not isinstance(data, list):
        raise SpecError(located(f"expected a list, got {_kind(data)}", file=file))
    return _Table(None, [tuple(item) if isinstance(item, (list, tuple)) else (item,) for item in data])


_READERS = {
    ".csv": _read_csv,
    ".txt": _read_txt,
    ".yaml": _read_structured,
    ".yml": _read_structured,
    ".json": _read_structured,
}


# --------------------------------------------------------------------------------------------
# The compiler


@dataclass
class _Factor:
    """One dimension of the product: a free axis, or axes bound together by a rule."""

    name: str
    rule: str
    axes: tuple[str, ...]
    rows: list[Row]

    @property
    def bound(self) -> bool:
        return len(self.axes) > 1 or self.rule not in ("axis", "injected")

    def column(self, axis: str) -> list[Value]:
        i = self.axes.index(axis)
        return [row[i] for row in self.rows]


class _Compiler:
    """State of one compilation: the axes' factors and their order, keyed to one spec file."""

    def __init__(
        self,
        path: Path,
        known_ids: Mapping[str, Collection[str]] | None,
        injected_axes: Mapping[str, Sequence[str]] | None,
    ):
        self.path = path
        self.base = path.parent
        self.known = dict(known_ids or {})
        self.injected = {canonical_axis(k): v for k, v in (injected_axes or {}).items()}
        self.rank: dict[str, int] = {}
        self.factors: dict[str, _Factor] = {}
        self.pending: set[str] = set()

    def fail(self, where: str, message: str) -> SpecError:
        return _fail(self.path, where, message)

    # ---- values

    def value(self, axis: str, raw: Any, where: str) -> Value:
        """A level as the output holds it: replicates are positive ints, everything else a string."""
        if isinstance(raw, bool):
            raise self.fail(where, f"axis '{axis}': YAML read {str(raw).lower()} as a boolean; quote it")
        if raw is None or isinstance(raw, (Mapping, list, tuple)):
            raise self.fail(where, f"axis '{axis}': expected a single value, got {_kind(raw)}")
        if is_replicate(axis):
            return self.replicate(axis, raw, where)
        text = str(raw).strip()
        if not text:
            raise self.fail(where, f"axis '{axis}': empty value")
        return text

    def replicate(self, axis: str, raw: Any, where: str) -> int:
        number = raw if isinstance(raw, int) else int(raw) if str(raw).strip().isdigit() else 0
        if number < 1:
            raise self.fail(where, f"axis '{axis}': replicate values must be positive integers, got {raw!r}")
        return number

    def table(self, ref: str, where: str) -> _Table:
        """An ``@file`` relative to the spec's directory; errors name the spec, the rule and the file."""
        relative = ref[len(FILE_PREFIX) :].strip()
        file = self.base / relative
        reader = _READERS.get(file.suffix.lower())
        if reader is None:
            raise self.fail(where, f"@file '{relative}': unsupported file type (use one of {', '.join(FILE_SUFFIXES)})")
        if not file.is_file():
            raise self.fail(where, f"@file not found: {file}")
        try:
            table = reader(file)
        except DayDreamError as exc:
            raise self.fail(where, f"@file '{relative}': {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(where, f"@file '{relative}': cannot read: {exc}") from None
        if not table.rows:
            raise self.fail(where, f"@file '{relative}' has no values")
        return table

    def values(self, axis: str, raw: Any, where: str) -> list[Value]:
        """A list of levels for one axis, inline or from a one-column ``@file``, de-duplicated."""
        if isinstance(raw, str) and raw.startswith(FILE_PREFIX):
            table = self.table(raw, where)
            if table.width != 1:
                raise self.fail(where, f"{raw} has {table.width} values per row, expected one")
            raw = [row[0] for row in table.rows]
        if not isinstance(raw, list):
            raise self.fail(where, f"expected a list of values or '{FILE_PREFIX}path', got {_kind(raw)}")
        return _unique(self.value(axis, item, where) for item in raw)

    def items(self, axes: tuple[str, ...], raw: Any, where: str) -> list[Row]:
        """Rows for a pair or tuple rule, inline or from an ``@file``."""
        if isinstance(raw, str) and raw.startswith(FILE_PREFIX):
            return self.table_items(axes, self.table(raw, where), where)
        if not isinstance(raw, list):
            raise self.fail(where, f"expected a list of items or '{FILE_PREFIX}path', got {_kind(raw)}")
        return self.checked_items(axes, [tuple(i) if isinstance(i, (list, tuple)) else (i,) for i in raw], where)

    def table_items(self, axes: tuple[str, ...], table: _Table, where: str) -> list[Row]:
        """A CSV whose header names exactly the rule's axes may list its columns in any order."""
        rows = table.rows
        header = [canonical_axis(name) for name in table.header or ()]
        if sorted(header) == sorted(axes) and header != list(axes):
            order = [header.index(axis) for axis in axes]
            rows = [tuple(row[i] for i in order) for row in rows]
        return self.checked_items(axes, rows, where)

    def checked_items(self, axes: tuple[str, ...], rows: list[tuple[Any, ...]], where: str) -> list[Row]:
        for number, row in enumerate(rows, start=1):
            if len(row) != len(axes):
                raise self.fail(
                    where,
                    f"item {number} {list(row)} has {len(row)} value(s), expected {len(axes)} ({', '.join(axes)})",
                )
        result = _unique(tuple(self.value(a, v, where) for a, v in zip(axes, row, strict=False)) for row in rows)
        if not result:
            raise self.fail(where, "no items given")
        return result

    # ---- axes

    def declare(self, axis: str, where: str) -> None:
        if axis in self.rank:
            aliases = [alias for alias, target in REPLICATE_ALIASES.items() if target == axis]
            spelled = f" ({' and '.join([axis, *aliases])} are one axis)" if aliases else ""
            raise self.fail(where, f"axis '{axis}' is declared twice{spelled}")
        self.rank[axis] = len(self.rank)

    def add(self, factor: _Factor) -> None:
        for axis in factor.axes:
            self.factors[axis] = factor
            self.pending.discard(axis)

    def load_axes(self, axes: Mapping[Any, Any]) -> None:
        """Spec axes in the order written; injected axes the spec does not name go first."""
        named = {canonical_axis(str(key)) for key in axes}
        for axis in self.injected:
            if axis not in named:
                self.declare(axis, f"axis '{axis}'")
                self.add_injected(axis)
        for key, raw in axes.items():
            self.load_axis(str(key), raw)
        self.check_known(f for f in self.unique_factors() if f.rule != "injected")

    def add_injected(self, axis: str) -> None:
        """Injected levels come from the cohort builder, not the researcher: not checked against catalogs."""
        levels = self.values(axis, list(self.injected[axis]), f"injected axis '{axis}'")
        self.add(_Factor(axis, "injected", (axis,), [(v,) for v in levels]))

    def load_axis(self, key: str, raw: Any) -> None:
        axis = canonical_axis(key)
        where = f"axis '{axis}'"
        table = self.table(raw, where) if isinstance(raw, str) and raw.startswith(FILE_PREFIX) else None
        if table is not None and table.width > 1:
            self.load_group(key, raw, table)
            return
        self.declare(axis, where)
        if raw is None and axis in self.injected:
            self.add_injected(axis)
        elif raw is None:
            self.pending.add(axis)
        else:
            levels = self.values(axis, [row[0] for row in table.rows] if table else raw, where)
            if not levels:
                raise self.fail(where, "has no levels")
            self.add(_Factor(axis, "axis", (axis,), [(v,) for v in levels]))

    def load_group(self, key: str, ref: str, table: _Table) -> None:
        """A several-column CSV axis binds the columns it names, like a tuples rule written in place."""
        where = f"axis '{key}'"
        if table.header is None:
            raise self.fail(where, f"{ref} has {table.width} values per row; name the axes in a CSV header")
        axes = tuple(canonical_axis(name) for name in table.header)
        if not all(axes):
            raise self.fail(where, f"{ref} has a blank column name; the header names the axes")
        for axis in axes:
            self.declare(axis, where)
        self.add(_Factor(key, "axis file", axes, self.checked_items(axes, table.rows, where)))

    def check_known(self, factors: Iterable[_Factor]) -> None:
        """Every id must exist in the catalogs; all missing ones are listed so one edit fixes the spec."""
        problems: list[str] = []
        for factor in factors:
            for axis in factor.axes:
                ids = self.known.get(axis)
                if ids is None:
                    continue
                known = ids if isinstance(ids, (set, frozenset)) else set(ids)
                missing = [v for v in _unique(factor.column(axis)) if v not in known]
                if missing:
                    problems.append(f"axis '{axis}': unknown id(s) not in the catalogs: {_listing(missing)}")
        if problems:
            raise SpecError(located("; ".join(problems), file=self.path))

    def unique_factors(self) -> list[_Factor]:
        """Factors in plan order: where their first axis stands among the axes."""
        factors = {id(f): f for f in self.factors.values()}.values()
        return sorted(factors, key=lambda f: min(self.rank[a] for a in f.axes))

    def free_axis(self, axis: str, where: str) -> _Factor:
        """The factor of an axis a rule may still bind: declared, with levels, and not bound yet."""
        factor = self.existing(axis, where)
        if factor.bound:
            raise self.fail(where, f"axis '{axis}' is already bound by {factor.rule} '{factor.name}'")
        return factor

    def existing(self, axis: str, where: str) -> _Factor:
        factor = self.factors.get(axis)
        if factor is not None:
            return factor
        if axis in self.pending:
            raise self.fail(where, f"axis '{axis}' has no levels yet (it is declared empty)")
        raise self.fail(where, f"unknown axis '{axis}' (axes: {', '.join(self.rank)})")

    # ---- rules

    def apply_rules(self, rules: Any) -> None:
        for section, body in self.sections(rules):
            entries = _expect_mapping(self.path, f"rules.{section}", body)
            for name, rule in entries.items():
                where = f"{section} '{name}'"
                getattr(self, f"rule_{section}")(str(name), rule, where)

    def sections(self, rules: Any) -> Iterator[tuple[str, Any]]:
        """``(section, body)`` in the order written, from the mapping form or the list form."""
        if rules is None:
            return
        if isinstance(rules, Mapping):
            _check_keys(self.path, "rules", rules, RULE_SECTIONS)
            yield from ((str(k), v) for k, v in rules.items())
            return
        for number, block in enumerate(rules, start=1):
            where = f"rules item {number}"
            if not isinstance(block, Mapping) or len(block) != 1:
                shape = f"a mapping with {len(block)} keys" if isinstance(block, Mapping) else _kind(block)
                raise self.fail(where, f"expected a mapping with one section ({', '.join(RULE_SECTIONS)}), got {shape}")
            _check_keys(self.path, where, block, RULE_SECTIONS)
            yield from ((str(k), v) for k, v in block.items())

    def rule_subsets(self, name: str, raw: Any, where: str) -> None:
        axis = canonical_axis(name)
        factor = self.existing(axis, where)
        keep = self.values(axis, raw, where)
        if not keep:
            raise self.fail(where, "keeps no levels (empty list)")
        levels = _unique(factor.column(axis))
        present = set(levels)
        unknown = [v for v in keep if v not in present]
        if unknown:
            raise self.fail(
                where,
                f"value(s) not among the levels of '{axis}': {_listing(unknown)} "
                f"(levels: {_listing(levels, LISTED_LEVELS)})",
            )
        i = factor.axes.index(axis)
        wanted = set(keep)
        factor.rows = [row for row in factor.rows if row[i] in wanted]

    def rule_ties(self, name: str, raw: Any, where: str) -> None:
        if isinstance(raw, Mapping):
            _check_keys(self.path, where, raw, ("axes",))
            raw = raw.get("axes")
        axes = self.axis_names(raw, where, minimum=2)
        levels = {axis: _unique(self.free_axis(axis, where).column(axis)) for axis in axes}
        others = [set(levels[axis]) for axis in axes[1:]]
        common = [v for v in levels[axes[0]] if all(v in other for other in others)]
        if not common:
            listed = "; ".join(f"{axis}: {_listing(levels[axis], LISTED_LEVELS)}" for axis in axes)
            raise self.fail(where, f"axes {', '.join(axes)} have no common levels ({listed})")
        self.add(_Factor(name, "ties", axes, [(v,) * len(axes) for v in common]))

    def rule_pairs(self, name: str, raw: Any, where: str) -> None:
        spec = _expect_mapping(self.path, where, raw, allow_none=False)
        _check_keys(self.path, where, spec, ("left", "right", "allowed", "balance"))
        for key in ("left", "right", "allowed"):
            if key not in spec:
                raise self.fail(where, f"missing '{key}'")
        axes = self.axis_names([spec["left"], spec["right"]], where, minimum=2)
        balance = spec.get("balance")
        if balance is not None and balance not in BALANCE_MODES:
            raise self.fail(where, f"balance must be one of {', '.join(BALANCE_MODES)}, got {balance!r}")
        rows = self.items(axes, spec["allowed"], where)
        if balance is not None:
            self.check_balance(axes, rows, balance, where)
        self.bind(name, "pairs", axes, rows, where)

    def check_balance(self, axes: tuple[str, ...], rows: list[Row], balance: str, where: str) -> None:
        """Each level of the balanced side (a level left out counts 0) must appear equally often."""
        sides = {"left": (0,), "right": (1,), "both": (0, 1)}[balance]
        problems: list[str] = []
        for i in sides:
            axis = axes[i]
            factor = self.factors.get(axis)
            levels = _unique(factor.column(axis)) if factor is not None else _unique(row[i] for row in rows)
            counts = Counter(row[i] for row in rows)
            per_level = {level: counts.get(level, 0) for level in levels}
            if len(set(per_level.values())) > 1:
                shown = ", ".join(f"{level}={n}" for level, n in per_level.items())
                problems.append(f"{('left', 'right')[i]} '{axis}' is unbalanced: {shown}")
        if problems:
            raise self.fail(where, "; ".join(problems))

    def rule_tuples(self, name: str, raw: Any, where: str) -> None:
        spec = _expect_mapping(self.path, where, raw, allow_none=False)
        _check_keys(self.path, where, spec, ("axes", "items"))
        if "items" not in spec:
            raise self.fail(where, "missing 'items'")
        axes = self.axis_names(spec.get("axes"), where, minimum=1)
        self.bind(name, "tuples", axes, self.items(axes, spec["items"], where), where)

    def axis_names(self, raw: Any, where: str, *, minimum: int) -> tuple[str, ...]:
        if not isinstance(raw, list) or not all(isinstance(a, str) and a for a in raw):
            raise self.fail(where, f"expected axis names, got {raw!r}")
        axes = tuple(canonical_axis(a) for a in raw)
        repeated = [a for a, n in Counter(axes).items() if n > 1]
        if repeated:
            raise self.fail(where, f"axis {_quoted(repeated)} named more than once")
        if len(axes) < minimum:
            raise self.fail(where, f"needs at least {minimum} axes, got {len(axes)}")
        return axes

    def bind(self, name: str, rule: str, axes: tuple[str, ...], rows: list[Row], where: str) -> None:
        """Replace the axes by the listed rows; values must be levels of the axes that already exist."""
        problems: list[str] = []
        new: list[str] = []
        for i, axis in enumerate(axes):
            if axis not in self.factors:
                new.append(axis)
                continue
            factor = self.free_axis(axis, where)
            present = set(factor.column(axis))
            unknown = _unique(row[i] for row in rows if row[i] not in present)
            if unknown:
                problems.append(
                    f"value(s) not among the levels of '{axis}': {_listing(unknown)} "
                    f"(levels: {_listing(_unique(factor.column(axis)), LISTED_LEVELS)})"
                )
        if problems:
            raise self.fail(where, "; ".join(problems))
        for axis in new:
            self.rank.setdefault(axis, len(self.rank))
        factor = _Factor(name, rule, axes, rows)
        if new:
            self.check_known(
                [_Factor(name, rule, tuple(new), [tuple(row[axes.index(a)] for a in new) for row in rows])]
            )
        self.add(factor)

    # ---- output

    def columns(self, output: Mapping[Any, Any]) -> list[str]:
        """``field_order`` first, then every other axis in axis order."""
        order = output.get("field_order") or []
        where = "output.field_order"
        if not isinstance(order, list):
            raise self.fail(where, f"expected a list of axis names, got {_kind(order)}")
        fields = [canonical_axis(str(f)) for f in order]
        repeated = [f for f, n in Counter(fields).items() if n > 1]
        if repeated:
            raise self.fail(where, f"field(s) listed more than once: {_listing(repeated)}")
        axes = [a for a in self.rank if a in self.factors]
        unknown = [f for f in fields if f not in self.factors]
        if unknown:
            raise self.fail(where, f"field(s) that are not axes: {_listing(unknown)} (axes: {', '.join(axes)})")
        return fields + [a for a in axes if a not in fields]

    def finish(self) -> None:
        if self.pending:
            names = sorted(self.pending, key=self.rank.__getitem__)
            raise self.fail(
                f"axis {_quoted(names)}",
                "declared empty but no rule gives it levels (give a list, an @file, or bind it in tuples)",
            )


# --------------------------------------------------------------------------------------------
# The product


def _code_dtype(count: int) -> type[np.signedinteger[Any]]:
    """Smallest code type: a million-row column of int8 codes is 1 MB, not 8."""
    for dtype in (np.int8, np.int16, np.int32):
        if count < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _spread(per_level: np.ndarray, inner: int, outer: int) -> np.ndarray:
    """Each level repeated ``inner`` times, the whole block ``outer`` times: one product column."""
    size = len(per_level)
    return np.broadcast_to(per_level[None, :, None], (outer, size, inner)).reshape(-1)


def _product_column(axis: str, levels: list[Value], inner: int, outer: int) -> pd.Categorical | np.ndarray:
    if is_replicate(axis):
        return _spread(np.asarray(levels, dtype=np.int64), inner, outer)
    codes, categories = pd.factorize(np.asarray(levels, dtype=object))
    codes = codes.astype(_code_dtype(len(categories)))
    return pd.Categorical.from_codes(
        _spread(codes, inner, outer), categories=pd.Index(categories, dtype=object), validate=False
    )


def _product(factors: Sequence[_Factor], columns: Sequence[str], path: Path) -> pd.DataFrame:
    sizes = [len(f.rows) for f in factors]
    total = math.prod(sizes)
    if total > MAX_ROWS:
        shape = " x ".join(f"{f.name}={n}" for f, n in zip(factors, sizes, strict=False))
        raise SpecError(
            located(
                f"the spec compiles to {total:,} rows ({shape}), more than the limit of "
                f"{MAX_ROWS:,}; restrict it with rules",
                file=path,
            )
        )
    data: dict[str, Any] = {}
    inner, outer = total, 1
    for factor, size in zip(factors, sizes, strict=False):
        inner //= size
        for axis in factor.axes:
            data[axis] = _product_column(axis, factor.column(axis), inner, outer)
        outer *= size
    return pd.DataFrame({column: data[column] for column in columns}, copy=False)


def _replicate_axes(path: Path, raw: Any) -> dict[str, list[int]]:
    """DayDreaming's ``replicates: {draft_template: 2}`` as the axis ``draft_template_replicate: [1, 2]``.

    Kept so specs from an existing DayDreaming data directory compile unchanged; the alias is then
    normalised to ``draft_replicate`` like any other replicate axis.
    """
    out: dict[str, list[int]] = {}
    for axis, count in _expect_mapping(path, "replicates", raw).items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise _fail(path, f"replicates '{axis}'", f"expected a positive integer count, got {count!r}")
        name = str(axis) if str(axis).endswith("_replicate") else f"{axis}_replicate"
        if not is_replicate(canonical_axis(name)):
            raise _fail(
                path,
                f"replicates '{axis}'",
                "not a stage axis (use draft_template, essay_template, "
                "evaluation_template or draft, essay, evaluation)",
            )
        out[name] = list(range(1, count + 1))
    return out


# --------------------------------------------------------------------------------------------
# Public API


def compile_spec(
    path: Path,
    *,
    known_ids: Mapping[str, Collection[str]] | None = None,
    injected_axes: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """One row per planned combination, columns in output order; strings (categorical), replicates int64.

    ``known_ids`` maps an axis to the catalog ids it may use; ``injected_axes`` supplies axes the spec
    does not give (the cohort builder's ``combo_id`` from a ``combos`` section). Replicate columns the
    spec does not name are not added: the cohort builder defaults them to 1.
    """
    path = Path(path)
    spec = load_spec(path)
    compiler = _Compiler(path, known_ids, injected_axes)
    compiler.load_axes({**spec["axes"], **_replicate_axes(path, spec.get("replicates"))})
    compiler.apply_rules(spec.get("rules"))
    compiler.finish()
    columns = compiler.columns(spec.get("output") or {})
    return _product(compiler.unique_factors(), columns, path)
