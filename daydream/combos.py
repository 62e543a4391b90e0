"""Concept combinations and the append-only combo catalog (docs/data-contract.md, "Combos").

``combo_mappings.csv`` is shared by every cohort of a data root, and two cohort builds (two cohort
DAG runs) may add combos at the same moment: every append happens under the catalog's lock
(``daydream.locks.hold``), re-reading the file under it, so no build erases another's rows. Its ids
become paths (a concept id names a description file), so each is checked against the id grammar as
the file is read.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from daydream.atomic import write_text
from daydream.csvio import read_rows
from daydream.errors import ComboError, located, shown
from daydream.locks import hold
from daydream.paths import DESCRIPTION_LEVELS, check_id

COMBO_COLUMNS = ("combo_id", "version", "concept_id", "description_level", "k_max", "created_at")
DEFAULT_K_MAX = 2
DEFAULT_LEVEL = "paragraph"


def combo_id(concept_ids: Iterable[str], level: str, k_max: int) -> str:
    material = "|".join(sorted(concept_ids)) + "|" + level + "|" + str(k_max)
    return "combo_v1_" + hashlib.sha256(material.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Combo:
    combo_id: str
    concept_ids: tuple[str, ...]
    level: str
    k_max: int

    @classmethod
    def of(cls, concept_ids: Sequence[str], level: str, k_max: int) -> Combo:
        return cls(combo_id(concept_ids, level, k_max), tuple(concept_ids), level, int(k_max))


def k_subsets(concept_ids: Sequence[str], k_max: int, level: str) -> list[Combo]:
    """Every k-subset (k = k_max) of the concepts, in catalog order."""
    if k_max < 1:
        raise ComboError(f"k_max must be at least 1, got {k_max}")
    if k_max > len(concept_ids):
        raise ComboError(f"k_max {k_max} is larger than the {len(concept_ids)} active concepts")
    return [Combo.of(subset, level, k_max) for subset in combinations(concept_ids, k_max)]


class ComboCatalog:
    """``combo_mappings.csv``: read once, appended to, never rewritten with different content."""

    def __init__(self, path: Path):
        self.path = path
        self.combos: dict[str, Combo] = {}
        self._created_at: dict[str, str] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        members: dict[str, list[str]] = {}
        facts: dict[str, tuple[str, int, int]] = {}
        concepts: set[str] = set()  # each distinct concept id is checked once
        for row_no, row in read_rows(self.path, ["combo_id", "concept_id"], error=ComboError):
            cid, concept = row["combo_id"], row["concept_id"]
            if cid not in facts:
                check_id(cid, kind="combo id", file=self.path, row=row_no, field="combo_id", error=ComboError)
            if concept not in concepts:
                check_id(concept, kind="concept id", file=self.path, row=row_no, field="concept_id", error=ComboError)
                concepts.add(concept)
            level, k_max = self._level_and_k_max(row, row_no)
            if cid in facts and facts[cid][:2] != (level, k_max):
                raise ComboError(
                    located(
                        f"combo {cid} has rows with different description_level/k_max",
                        file=self.path,
                        row=row_no,
                        field="description_level",
                    )
                )
            facts.setdefault(cid, (level, k_max, row_no))
            members.setdefault(cid, []).append(concept)
            self._created_at.setdefault(cid, row.get("created_at", ""))
        for cid, concept_ids in members.items():
            level, k_max, _ = facts[cid]
            self.combos[cid] = Combo(cid, tuple(concept_ids), level, k_max or len(concept_ids))

    def _level_and_k_max(self, row: dict[str, str], row_no: int) -> tuple[str, int]:
        level = row.get("description_level") or DEFAULT_LEVEL
        if level not in DESCRIPTION_LEVELS:
            raise ComboError(
                located(
                    f"unknown description level {shown(level)} (known: {', '.join(DESCRIPTION_LEVELS)})",
                    file=self.path,
                    row=row_no,
                    field="description_level",
                )
            )
        text = row.get("k_max") or "0"
        if not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise ComboError(
                located(f"expected a whole number, got {shown(text)}", file=self.path, row=row_no, field="k_max")
            )
        return level, int(text)

    def __contains__(self, cid: str) -> bool:
        return cid in self.combos

    def get(self, cid: str) -> Combo:
        try:
            return self.combos[cid]
        except KeyError:
            raise ComboError(located(f"unknown combo_id {cid!r}", file=self.path, field="combo_id")) from None

    def ensure(self, combos: Iterable[Combo], *, write: bool = True) -> list[Combo]:
        """Add combos that are new; an existing id with other content is an error. Returns the new ones.

        With ``write``, the new ones are appended to the file through ``append_combos`` (under the lock,
        against the file as it is then, which other builds may have extended since this one read it).
        """
        new: list[Combo] = []
        for combo in combos:
            known = self.combos.get(combo.combo_id)
            if known is None:
                self.combos[combo.combo_id] = combo
                new.append(combo)
                continue
            if (set(known.concept_ids), known.level, known.k_max) != (set(combo.concept_ids), combo.level, combo.k_max):
                raise ComboError(
                    located(
                        f"combo {combo.combo_id} exists with concepts {sorted(known.concept_ids)}, "
                        f"level {known.level}, "
                        f"k_max {known.k_max}; refusing to redefine it as {sorted(combo.concept_ids)}, {combo.level}, "
                        f"{combo.k_max}",
                        file=self.path,
                        field="combo_id",
                    )
                )
        if new and write:
            append_combos(self.path, new)
        return new

    def _append(self, new: list[Combo]) -> None:
        """Rewrite atomically with the old bytes untouched as a prefix, so the file stays append-only.

        Called under the catalog's lock only (``append_combos``). A rewrite rather than an ``O_APPEND``
        write so that a reader (a runner resolving a draft's combo) never sees half a row.
        """
        now = datetime.now(UTC).isoformat(timespec="seconds")
        old = self.path.read_bytes().decode("utf-8") if self.path.exists() else ""
        newline = "\r\n" if "\r\n" in old else "\n"
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=newline)
        if not old:
            writer.writerow(COMBO_COLUMNS)
        elif not old.endswith("\n"):
            buf.write(newline)
        for combo in new:
            for concept in combo.concept_ids:
                writer.writerow((combo.combo_id, "v1", concept, combo.level, combo.k_max, now))
        write_text(self.path, old + buf.getvalue())


def append_combos(path: Path, combos: Iterable[Combo]) -> list[Combo]:
    """Append to ``combo_mappings.csv`` the combos it lacks; returns those this call wrote.

    The read-merge-write runs under the catalog's lock and re-reads the file under it, so concurrent
    builds of different cohorts each keep their rows, and a combo another build appended first is
    not written twice.
    """
    combos = list(combos)
    if not combos:
        return []
    with hold(path):
        catalog = ComboCatalog(path)
        new = catalog.ensure(combos, write=False)
        if new:
            catalog._append(new)
    return new
