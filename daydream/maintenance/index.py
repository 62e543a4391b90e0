"""The whole store's lineage and cohort memberships, read once for a maintenance command.

Cleanup must know every descendant of a generation and every cohort that still uses one, across
the whole store, not just one cohort: a draft may have essays from three cohorts. So this reads
every ``metadata.json`` once (parent links) and every ``membership.csv`` (``stage,gen_id`` columns,
the older two-column form included). What it cannot read is kept in ``problems`` and shown: a
command never acts as if an unreadable file did not exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from daydream.csvio import read_rows
from daydream.errors import CohortError, DayDreamError, StoreError, located, shown
from daydream.paths import STAGES, DataLayout, Stage, check_id
from daydream.store import GenMetadata, GensStore

GenKey = tuple[Stage, str]


@dataclass
class StoreIndex:
    layout: DataLayout
    metadata: dict[GenKey, GenMetadata | None] = field(default_factory=dict)
    children: dict[GenKey, list[GenKey]] = field(default_factory=lambda: defaultdict(list))
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, layout: DataLayout) -> StoreIndex:
        index = cls(layout)
        store = GensStore(layout)
        for stage in STAGES:
            try:
                ids, _ = store.scan(stage)
            except StoreError as exc:
                index.problems.append(str(exc))
                continue
            for gen_id in ids:
                try:
                    index.metadata[(stage, gen_id)] = store.read_metadata(stage, gen_id)
                except StoreError as exc:
                    index.metadata[(stage, gen_id)] = None
                    index.problems.append(str(exc))
        index._link()
        return index

    def _link(self) -> None:
        for (stage, gen_id), meta in self.metadata.items():
            parent = self.parent_of(stage, meta)
            if parent is not None:
                self.children[parent].append((stage, gen_id))

    def parent_of(self, stage: Stage, meta: GenMetadata | None) -> GenKey | None:
        """An essay's parent draft; an evaluation's parent essay, else the draft it evaluates directly."""
        if meta is None or stage == "draft" or not meta.parent_gen_id:
            return None
        parent = meta.parent_gen_id
        if stage == "essay":
            return ("draft", parent)
        return ("essay", parent) if ("essay", parent) in self.metadata else ("draft", parent)

    def descendants(self, roots: Iterable[GenKey]) -> list[GenKey]:
        """``roots`` and everything below them, children before parents (the order to delete in)."""
        seen: dict[GenKey, None] = {}
        stack = list(roots)
        while stack:
            key = stack.pop()
            if key in seen:
                continue
            seen[key] = None
            stack.extend(self.children.get(key, []))
        return sorted(seen, key=lambda key: (-STAGES.index(key[0]), key[1]))

    def ancestors(self, keys: Iterable[GenKey]) -> set[GenKey]:
        """``keys`` and every generation above them."""
        out: set[GenKey] = set()
        for key in keys:
            while key not in out:
                out.add(key)
                parent = self.parent_of(key[0], self.metadata.get(key))
                if parent is None:
                    break
                key = parent
        return out

    def find(self, gen_id: str) -> list[GenKey]:
        """The stages holding ``gen_id`` (ids carry their stage's prefix, but older stores may not)."""
        check_id(gen_id, kind="gen id")
        return [(stage, gen_id) for stage in STAGES if (stage, gen_id) in self.metadata]


def cohort_members(layout: DataLayout) -> dict[str, set[GenKey]]:
    """Every cohort's ``membership.csv`` as ``(stage, gen_id)`` keys; an unreadable one is an error,
    because a generation it lists would look unused."""
    out: dict[str, set[GenKey]] = {}
    if not layout.cohorts.is_dir():
        return out
    try:
        names = sorted(p.name for p in layout.cohorts.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise CohortError(f"{layout.cohorts}: cannot list ({exc.strerror or exc})") from None
    for name in names:
        path = layout.cohorts / name / "membership.csv"
        if not path.exists():
            continue
        members: set[GenKey] = set()
        try:
            for row_no, row in read_rows(path, ["stage", "gen_id"], error=CohortError):
                stage = row["stage"]
                if stage not in STAGES:
                    raise CohortError(located(f"unknown stage {shown(stage)}", file=path, row=row_no, field="stage"))
                members.add((stage, check_id(row["gen_id"], kind="gen id", file=path, row=row_no, field="gen_id")))
        except DayDreamError as exc:
            raise CohortError(
                f"{exc} (a cohort whose membership cannot be read protects nothing; fix it first)"
            ) from None
        out[name] = members
    return out
