"""The planner: generations of one cohort with their gen ids, collisions resolved, nothing written.

A cohort can hold a million generations, so the planner works in batches (one call per stage) and
keeps each generation as a ``PlanRow``, a named tuple: as small and as fast to build as a plain
tuple, but read by field name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from daydream.catalogs import Catalogs
from daydream.errors import CohortError, located
from daydream.ids import gen_id_from_signature, normalize_part, plain_gen_ids, resolve_gen_id
from daydream.membership import MEMBERSHIP_COLUMNS, check_metadata_ids
from daydream.paths import ID_MAX_LENGTH, ID_PATTERN, STAGES, DataLayout, Stage
from daydream.storage.objpath import readable
from daydream.store import GenMetadata, GensStore, identity_key


class PlanRow(NamedTuple):
    """One planned generation: its ``membership.csv`` row, then how it runs (``llm`` or ``copy``)."""

    stage: Stage
    gen_id: str
    cohort_id: str
    parent_gen_id: str
    combo_id: str
    template_id: str
    llm_model_id: str
    replicate: int
    mode: str


_new_row = tuple.__new__
"""``_new_row(PlanRow, values)`` is ``PlanRow._make(values)`` without its Python-level call: a million
rows are built per large cohort, and this keeps a named row as cheap as a plain tuple."""

Identity = tuple[Any, ...]


class _IdResolver:
    """Assigns gen ids with collision handling against the store and this build.

    An id is taken when its directory's metadata records another identity. The store's directories
    are listed once per stage (a set lookup per id instead of a ``stat``), and the cohort's previous
    membership (same id, same identity) spares re-reading metadata of a cohort that is rebuilt.
    """

    def __init__(self, store: GensStore, trusted: dict[str, Identity]):
        self.store = store
        self.trusted = trusted
        self.assigned: dict[str, Identity] = {}
        self._present: dict[str, set[str]] = {}

    def in_store(self, stage: Stage, gen_id: str) -> bool:
        present = self._present.get(stage)
        if present is None:
            present = self._present[stage] = set(self.store.iter_gen_ids(stage))
        return gen_id in present

    def resolve(self, stage: Stage, sig: str, identity: Identity) -> str:
        plain = gen_id_from_signature(stage, sig)
        if plain not in self.assigned and not self.in_store(stage, plain):  # the common case: a new id
            self.assigned[plain] = identity
            return plain

        def taken(candidate: str) -> bool:
            owner = self.assigned.get(candidate)
            if owner is not None:
                return owner != identity
            if not self.in_store(stage, candidate) or self.trusted.get(candidate) == identity:
                return False
            meta = self.store.read_metadata(stage, candidate)
            return meta is not None and not meta.matches(identity)

        gen_id = resolve_gen_id(stage, sig, taken)
        self.assigned[gen_id] = identity
        return gen_id


def previous_identities(layout: DataLayout, cohort_id: str) -> dict[str, Identity]:
    """The identities a previous build of this cohort recorded; an unreadable membership is not trusted."""
    path = layout.inside(layout.membership(cohort_id))
    try:
        frame = pd.read_csv(readable(path), dtype=str, keep_default_na=False)
    except Exception:  # absent, a directory, unreadable, malformed: simply not trusted
        return {}
    if not set(MEMBERSHIP_COLUMNS) <= set(frame.columns):
        return {}
    gen_ids = frame["gen_id"]
    frame = frame[gen_ids.str.fullmatch(ID_PATTERN) & (gen_ids.str.len() <= ID_MAX_LENGTH)]
    columns = [
        frame[c].tolist()
        for c in ("stage", "gen_id", "combo_id", "parent_gen_id", "template_id", "llm_model_id", "replicate")
    ]
    trusted = {}
    for stage, gen_id, combo, parent, template, llm, replicate in zip(*columns, strict=False):
        try:
            trusted[gen_id] = identity_key(stage, combo, parent, template, llm, replicate or 1)
        except ValueError:  # a replicate that is not a number: that row is not trusted
            continue
    return trusted


class Planner:
    """Collects a cohort's generations stage by stage; each unique generation once, in planning order."""

    def __init__(self, layout: DataLayout, cohort_id: str, catalogs: Catalogs):
        self.layout = layout
        self.cohort_id = cohort_id
        self.catalogs = catalogs
        self.store = GensStore(layout)
        self.ids = _IdResolver(self.store, previous_identities(layout, cohort_id))
        self.rows: list[PlanRow] = []
        self.seen: set[str] = set()
        self._normalised: dict[str, str] = {}
        self._copy_templates = {t.template_id for t in catalogs.templates["essay"].values() if t.is_copy}

    def _extend(self, gen_ids: list[str], rows: list[PlanRow]) -> None:
        """Add rows whose generation is not planned yet; a batch of new, distinct ids in one step."""
        seen, append = self.seen, self.rows.append
        if seen.isdisjoint(gen_ids):
            before = len(seen)
            seen.update(gen_ids)
            if len(seen) - before == len(gen_ids):
                self.rows.extend(rows)
                return
            seen.difference_update(gen_ids)  # a duplicate within the batch: row by row below
        for row in rows:
            if row.gen_id not in seen:
                seen.add(row.gen_id)
                append(row)

    def _n(self, value: str | None) -> str:
        """A catalog id normalised as signatures need it, once per distinct id."""
        key = value or ""
        cached = self._normalised.get(key)
        if cached is None:
            cached = self._normalised[key] = normalize_part(key)
        return cached

    # Signatures are built here rather than with ``ids.*_signature`` for speed (a million rows); the
    # parts are the same normalised strings, and gen ids made by this planner are already normalised.
    # tests/test_ids.py pins that both give the same ids.

    def _assign(self, stage: Stage, signatures: list[str], identities: list[Identity]) -> list[str]:
        """Ids for many generations of one stage: the plain ids at once, the collision path when taken."""
        assigned, resolve, in_store = self.ids.assigned, self.ids.resolve, self.ids.in_store
        out = []
        for plain, sig, identity in zip(plain_gen_ids(stage, signatures), signatures, identities, strict=False):
            if plain not in assigned and not in_store(stage, plain):
                assigned[plain] = identity
                out.append(plain)
            else:
                out.append(resolve(stage, sig, identity))
        return out

    def drafts(self, keys: list[tuple[Any, ...]]) -> list[str]:
        """Keys ``(combo_id, template, llm, replicate)``."""
        n, sigs, identities = self._n, [], []
        for combo_id, template, llm, replicate in keys:
            c, t, m, r = n(combo_id), n(template), n(llm), int(replicate)
            sigs.append(f"{c}|{t}|{m}|{r}")
            identities.append(("draft", c, "", t, m, r))
        ids = self._assign("draft", sigs, identities)
        cohort = self.cohort_id
        rows = [
            _new_row(PlanRow, ("draft", gen_id, cohort, "", combo_id, template, llm, int(replicate), "llm"))
            for gen_id, (combo_id, template, llm, replicate) in zip(ids, keys, strict=False)
        ]
        self._extend(ids, rows)
        return ids

    def _children(self, stage: Stage, keys: list[tuple[Any, ...]]) -> list[str]:
        """Keys ``(parent_gen_id, combo_id, template, llm, replicate)``; an essay's signature leaves its LLM
        out (docs/data-contract.md, "Generation ids") while its identity keeps it."""
        n, sigs, identities = self._n, [], []
        for parent_id, _combo, template, llm, replicate in keys:
            t, m, r = n(template), n(llm), int(replicate)
            sigs.append(f"{parent_id}|{t}|{r}" if stage == "essay" else f"{parent_id}|{t}|{m}|{r}")
            identities.append((stage, "", parent_id, t, m, r))
        ids = self._assign(stage, sigs, identities)
        cohort, copies = self.cohort_id, self._copy_templates if stage == "essay" else set()
        rows = [
            _new_row(
                PlanRow,
                (
                    stage,
                    gen_id,
                    cohort,
                    parent_id,
                    combo_id,
                    template,
                    llm,
                    int(replicate),
                    "copy" if template in copies else "llm",
                ),
            )
            for gen_id, (parent_id, combo_id, template, llm, replicate) in zip(ids, keys, strict=False)
        ]
        self._extend(ids, rows)
        return ids

    def essays(self, keys: list[tuple[Any, ...]]) -> list[str]:
        return self._children("essay", keys)

    def evaluations(self, keys: list[tuple[Any, ...]]) -> list[str]:
        return self._children("evaluation", keys)

    def evaluation(self, parent_id: str, combo_id: str, template: str, llm: str, replicate: int) -> str:
        return self.evaluations([(parent_id, combo_id, template, llm, replicate)])[0]

    def _metadata(self, stage: Stage, gen_id: str, *, file: Path, line: int) -> GenMetadata:
        meta = self.store.read_metadata(stage, gen_id)
        if meta is None:
            raise CohortError(
                located(
                    f"{stage} {gen_id} not found in the gens store (gens/{stage}/{gen_id}/metadata.json)",
                    file=file,
                    line=line,
                    field="gen_id",
                )
            )
        check_metadata_ids(meta, self.store.path(stage, gen_id, "metadata.json"))
        return meta

    def existing(self, stage: Stage, gen_id: str, *, file: Path, line: int) -> tuple[GenMetadata, str]:
        """Add a generation that already exists in the store (curated cohorts); returns it and its combo."""
        meta = self._metadata(stage, gen_id, file=file, line=line)
        combo = meta.combo_id
        if stage != "draft" and meta.parent_gen_id:
            parent = self.store.read_metadata("draft", meta.parent_gen_id)
            if parent is not None:
                check_metadata_ids(parent, self.store.path("draft", meta.parent_gen_id, "metadata.json"))
            combo = parent.combo_id if parent else None
        row = (
            stage,
            gen_id,
            self.cohort_id,
            meta.parent_gen_id or "",
            combo or "",
            meta.template_id or "",
            meta.llm_model_id or "",
            meta.replicate,
            meta.mode,
        )
        self._extend([gen_id], [_new_row(PlanRow, row)])
        return meta, combo or ""

    def frame(self) -> pd.DataFrame:
        """The membership: every planned row, drafts first, then essays, then evaluations."""
        frame = pd.DataFrame.from_records(self.rows, columns=PlanRow._fields).drop(columns="mode")
        order = {stage: i for i, stage in enumerate(STAGES)}
        return frame.sort_values("stage", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
