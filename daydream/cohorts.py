"""Building a cohort (data-contract section 5): spec (or no-code, or curated list) -> generations.

A build is planned fully in memory first (ids, collisions, parent checks) and only then written, so a
bad spec or catalog leaves nothing half-written. Writing is idempotent: rerunning a build rewrites
the same membership and never touches an existing generation's ``metadata.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from daydream import atomic
from daydream.catalogs import Catalogs
from daydream.combos import DEFAULT_K_MAX, DEFAULT_LEVEL, Combo, ComboCatalog, k_subsets
from daydream.errors import CohortError, DayDreamError, SpecError, located
from daydream.ids import gen_id_from_signature, normalize_part, plain_gen_ids, resolve_gen_id
from daydream.membership import MEMBERSHIP_COLUMNS, write_membership
from daydream.paths import DESCRIPTION_LEVELS, STAGES, DataLayout, Stage
from daydream.rendering import check_template
from daydream.store import GenMetadata, GensStore, identity_key, utc_now

SELECTED_ESSAYS = "selected_essays.txt"
SELECTED_DRAFTS = "selected_drafts.txt"
AXIS_CATALOG = {
    "draft_template": "draft",
    "essay_template": "essay",
    "evaluation_template": "evaluation",
}
LLM_AXES = ("draft_llm", "essay_llm", "evaluation_llm")


class CohortSettings(BaseModel):
    """Per-cohort combo settings: from the spec's ``combos`` key, CLI flags, or the defaults."""

    k_max: int = DEFAULT_K_MAX
    description_level: str = DEFAULT_LEVEL
    concepts: list[str] | None = None


@dataclass
class CohortPlan:
    cohort_id: str
    source: str
    settings: CohortSettings
    membership: pd.DataFrame
    rows: list[PlanRow]
    combos: list[Combo]
    new_combos: list[Combo]
    manifest: dict[str, Any]
    tiers: dict[str, dict[str, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {stage: int((self.membership["stage"] == stage).sum()) for stage in STAGES}


class CohortBuildResult(BaseModel):
    cohort_id: str
    source: str
    dry_run: bool
    stages: dict[str, int]
    tiers: dict[str, dict[str, int]]
    combos: int
    new_combos: int
    seeded_metadata: int
    membership_path: str
    manifest_path: str

    def describe(self) -> str:
        verb = "would write" if self.dry_run else "wrote"
        lines = [
            f"cohort {self.cohort_id} ({self.source}): {sum(self.stages.values())} generations, "
            f"{self.combos} combos ({self.new_combos} new)"
        ]
        for stage in STAGES:
            tiers = ", ".join(f"{tier} {n}" for tier, n in sorted(self.tiers.get(stage, {}).items()))
            lines.append(f"  {stage:<10} {self.stages.get(stage, 0):>8}   {tiers}")
        lines.append(f"{verb} {self.membership_path}")
        lines.append(f"{verb} {self.manifest_path}")
        if not self.dry_run:
            lines.append(f"seeded {self.seeded_metadata} new metadata.json under gens/")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# reading the cohort definition


def list_cohorts(layout: DataLayout) -> list[str]:
    if not layout.cohorts.is_dir():
        return []
    return sorted(
        p.name
        for p in layout.cohorts.iterdir()
        if p.is_dir() and not p.name.startswith(".") and ((p / "spec").is_dir() or (p / "membership.csv").exists())
    )


def read_id_list(path: Path) -> list[str]:
    """One gen id per line, ``#`` comments and blank lines ignored, duplicates dropped."""
    return list(_id_lines(path))


def _id_lines(path: Path) -> dict[str, int]:
    """Each listed gen id -> the line it is first listed on."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CohortError(located(f"cannot read: {exc}", file=path)) from None
    lines: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        gen_id = raw.split("#", 1)[0].strip()
        if gen_id:
            lines.setdefault(gen_id, number)
    return lines


def _load_spec_doc(path: Path) -> dict[str, Any]:
    from daydream.spec import load_spec

    return load_spec(path)


def _settings_from(
    spec_doc: dict[str, Any] | None, path: Path | None, *, k_max: int | None, level: str | None
) -> CohortSettings:
    raw = (spec_doc or {}).get("combos") or {}
    if not isinstance(raw, dict):
        raise SpecError(
            located("'combos' must be a mapping with k_max, description_level, concepts", file=path, field="combos")
        )
    unknown = set(raw) - {"k_max", "description_level", "level", "concepts"}
    if unknown:
        raise SpecError(
            located(
                f"unknown key(s) {', '.join(sorted(unknown))} (known: k_max, description_level, concepts)",
                file=path,
                field="combos",
            )
        )
    try:
        settings = CohortSettings(
            k_max=k_max if k_max is not None else int(raw.get("k_max", DEFAULT_K_MAX)),
            description_level=level or raw.get("description_level") or raw.get("level") or DEFAULT_LEVEL,
            concepts=[str(c) for c in raw["concepts"]] if raw.get("concepts") else None,
        )
    except (TypeError, ValueError) as exc:
        raise SpecError(located(f"invalid combos settings: {exc}".splitlines()[0], file=path, field="combos")) from None
    if settings.description_level not in DESCRIPTION_LEVELS:
        raise SpecError(
            located(
                f"unknown description level {settings.description_level!r} (known: {', '.join(DESCRIPTION_LEVELS)})",
                file=path,
                field="combos.description_level",
            )
        )
    return settings


def _combos_for(settings: CohortSettings, catalogs: Catalogs, spec_path: Path | None) -> list[Combo]:
    if settings.concepts is None:
        concept_ids = catalogs.active_concept_ids
    else:
        missing = [c for c in settings.concepts if c not in catalogs.concepts]
        if missing:
            raise SpecError(
                located(
                    f"unknown concept id(s) not in concepts_metadata.csv: {', '.join(missing)}",
                    file=spec_path,
                    field="combos.concepts",
                )
            )
        concept_ids = list(dict.fromkeys(settings.concepts))
    try:
        return k_subsets(concept_ids, settings.k_max, settings.description_level)
    except DayDreamError as exc:
        raise SpecError(located(str(exc), file=spec_path or catalogs.layout.concepts_csv, field="k_max")) from None


def known_ids(catalogs: Catalogs, combo_ids: Iterable[str]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {axis: set(catalogs.templates[stage]) for axis, stage in AXIS_CATALOG.items()}
    for axis in LLM_AXES:
        known[axis] = set(catalogs.models)
    known["combo_id"] = set(combo_ids)
    return known


def compile_cohort_spec(
    layout: DataLayout,
    spec_path: Path,
    catalogs: Catalogs | None = None,
    *,
    k_max: int | None = None,
    level: str | None = None,
    combo_catalog: ComboCatalog | None = None,
) -> tuple[pd.DataFrame, CohortSettings, list[Combo]]:
    """Compile a spec with the cohort's combos injected; shared by ``spec compile`` and ``cohort build``."""
    from daydream.spec import compile_spec

    catalogs = catalogs or Catalogs.load(layout)
    combo_catalog = combo_catalog or ComboCatalog(layout.combo_mappings)
    doc = _load_spec_doc(spec_path)
    settings = _settings_from(doc, spec_path, k_max=k_max, level=level)
    injected: dict[str, list[str]] = {}
    generated: list[Combo] = []
    if "combos" in doc:
        generated = _combos_for(settings, catalogs, spec_path)
        injected["combo_id"] = [c.combo_id for c in generated]
    frame = compile_spec(
        spec_path,
        known_ids=known_ids(catalogs, [*combo_catalog.combos, *injected.get("combo_id", [])]),
        injected_axes=injected,
    )
    return frame, settings, generated


# ---------------------------------------------------------------------------------------------
# planning


class _IdResolver:
    """Assigns gen ids with collision handling against the store and this build.

    An id is taken when its directory's metadata records another identity. The store's directories
    are listed once per stage (a set lookup per id instead of a ``stat``), and the cohort's previous
    membership (same id, same identity) spares re-reading metadata of a cohort that is rebuilt.
    """

    def __init__(self, store: GensStore, trusted: dict[str, tuple[Any, ...]]):
        self.store = store
        self.trusted = trusted
        self.assigned: dict[str, tuple[Any, ...]] = {}
        self._present: dict[str, set[str]] = {}

    def _in_store(self, stage: Stage, gen_id: str) -> bool:
        present = self._present.get(stage)
        if present is None:
            present = self._present[stage] = set(self.store.iter_gen_ids(stage))
        return gen_id in present

    def resolve(self, stage: Stage, sig: str, identity: tuple[Any, ...]) -> str:
        plain = gen_id_from_signature(stage, sig)
        if plain not in self.assigned and not self._in_store(stage, plain):  # the common case: a new id
            self.assigned[plain] = identity
            return plain

        def taken(candidate: str) -> bool:
            owner = self.assigned.get(candidate)
            if owner is not None:
                return owner != identity
            if not self._in_store(stage, candidate) or self.trusted.get(candidate) == identity:
                return False
            meta = self.store.read_metadata(stage, candidate)
            return meta is not None and not meta.matches(identity)

        gen_id = resolve_gen_id(stage, sig, taken)
        self.assigned[gen_id] = identity
        return gen_id


def _previous_identities(layout: DataLayout, cohort_id: str) -> dict[str, tuple[Any, ...]]:
    path = layout.membership(cohort_id)
    if not path.exists():
        return {}
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception:  # an unreadable old membership is simply not trusted
        return {}
    if not set(MEMBERSHIP_COLUMNS) <= set(frame.columns):
        return {}
    columns = [
        frame[c].tolist()
        for c in ("stage", "gen_id", "combo_id", "parent_gen_id", "template_id", "llm_model_id", "replicate")
    ]
    return {
        gen_id: identity_key(stage, combo, parent, template, llm, replicate or 1)
        for stage, gen_id, combo, parent, template, llm, replicate in zip(*columns, strict=False)
    }


# one membership row plus the generation's mode:
# (stage, gen_id, cohort_id, parent, combo, template, llm, replicate, mode)
PlanRow = tuple[str, str, str, str, str, str, str, int, str]


class _Planner:
    def __init__(self, layout: DataLayout, cohort_id: str, catalogs: Catalogs):
        self.layout = layout
        self.cohort_id = cohort_id
        self.catalogs = catalogs
        self.store = GensStore(layout)
        self.ids = _IdResolver(self.store, _previous_identities(layout, cohort_id))
        self.rows: list[PlanRow] = []
        self.seen: set[str] = set()
        self._normalised: dict[str, str] = {}
        self._copy_templates = {t.template_id for t in catalogs.templates["essay"].values() if t.is_copy}

    def _add(
        self,
        stage: Stage,
        gen_id: str,
        parent: str | None,
        combo: str | None,
        template: str,
        llm: str | None,
        replicate: int,
        mode: str,
    ) -> None:
        if gen_id in self.seen:
            return
        self.seen.add(gen_id)
        self.rows.append(
            (stage, gen_id, self.cohort_id, parent or "", combo or "", template, llm or "", replicate, mode)
        )

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

    def _assign(self, stage: Stage, signatures: list[str], identities: list[tuple[Any, ...]]) -> list[str]:
        """Ids for many generations of one stage: the plain ids at once, the collision path when taken."""
        assigned, resolve, in_store = self.ids.assigned, self.ids.resolve, self.ids._in_store
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
        for gen_id, (combo_id, template, llm, replicate) in zip(ids, keys, strict=False):
            self._add("draft", gen_id, None, combo_id, template, llm, int(replicate), "llm")
        return ids

    def _children(self, stage: Stage, keys: list[tuple[Any, ...]]) -> list[str]:
        """Keys ``(parent_gen_id, combo_id, template, llm, replicate)``; an essay's signature leaves its LLM
        out (data-contract section 4) while its identity keeps it."""
        n, sigs, identities = self._n, [], []
        for parent_id, _, template, llm, replicate in keys:
            t, m, r = n(template), n(llm), int(replicate)
            sigs.append(f"{parent_id}|{t}|{r}" if stage == "essay" else f"{parent_id}|{t}|{m}|{r}")
            identities.append((stage, "", parent_id, t, m, r))
        ids = self._assign(stage, sigs, identities)
        for gen_id, (parent_id, combo_id, template, llm, replicate) in zip(ids, keys, strict=False):
            mode = "copy" if stage == "essay" and template in self._copy_templates else "llm"
            self._add(stage, gen_id, parent_id, combo_id, template, llm, int(replicate), mode)
        return ids

    def essays(self, keys: list[tuple[Any, ...]]) -> list[str]:
        return self._children("essay", keys)

    def evaluations(self, keys: list[tuple[Any, ...]]) -> list[str]:
        return self._children("evaluation", keys)

    def evaluation(self, parent_id: str, combo_id: str, template: str, llm: str, replicate: int) -> str:
        return self.evaluations([(parent_id, combo_id, template, llm, replicate)])[0]

    def existing(self, stage: Stage, gen_id: str, *, file: Path, line: int) -> tuple[GenMetadata, str]:
        """Add a generation that already exists in the store (curated cohorts); returns it and its combo."""
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
        combo = meta.combo_id
        if stage != "draft" and meta.parent_gen_id:
            parent = self.store.read_metadata("draft", meta.parent_gen_id)
            combo = parent.combo_id if parent else None
        self._add(
            stage,
            gen_id,
            meta.parent_gen_id,
            combo,
            meta.template_id or "",
            meta.llm_model_id,
            meta.replicate,
            meta.mode,
        )
        return meta, combo or ""

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame.from_records([row[:8] for row in self.rows], columns=MEMBERSHIP_COLUMNS)
        order = {stage: i for i, stage in enumerate(STAGES)}
        return frame.sort_values("stage", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def iter_metadata(rows: Iterable[PlanRow]) -> Iterator[GenMetadata]:
    """The ``metadata.json`` of each planned generation, built only when it is written."""
    for stage, gen_id, cohort_id, parent, combo, template, llm, replicate, mode in rows:
        yield GenMetadata(
            stage=stage,
            gen_id=gen_id,
            origin_cohort_id=cohort_id,
            mode=mode,
            template_id=template,
            combo_id=(combo or None) if stage == "draft" else None,
            parent_gen_id=parent or None,
            llm_model_id=llm or None,
            replicate=replicate,
        )


def _replicate_column(frame: pd.DataFrame, stage: str) -> pd.Series:
    for name in (f"{stage}_replicate", f"{stage}_template_replicate"):
        if name in frame.columns:
            return pd.to_numeric(frame[name]).astype(int)
    return pd.Series(1, index=frame.index)


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A spec column as an object array of Python strings, without iterating element by element."""
    column = frame[name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        categories = np.array([str(c) for c in column.cat.categories], dtype=object)
        return categories[column.cat.codes.to_numpy()]
    return np.array([str(v) for v in column.to_numpy(dtype=object)], dtype=object)


def _unique_keys(work: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, list[tuple[Any, ...]]]:
    """Codes of each row's key (first-appearance order) and the unique keys in that order.

    Column-by-column factorisation keeps the combined key below the row count, so it never overflows.
    """
    key = np.zeros(len(work), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(work[column].to_numpy(), sort=False)
        key, _ = pd.factorize(key * len(uniques) + codes, sort=False)
    _, first = np.unique(key, return_index=True)
    values = [work[column].to_numpy()[first] for column in columns]
    return key, list(zip(*values, strict=False))


def _expand_rows(planner: _Planner, frame: pd.DataFrame, spec_path: Path) -> None:
    """Spec rows -> drafts, essays, evaluations (each unique generation once)."""
    if "combo_id" not in frame.columns or "draft_template" not in frame.columns or "draft_llm" not in frame.columns:
        needed = [c for c in ("combo_id", "draft_template", "draft_llm") if c not in frame.columns]
        raise SpecError(
            located(
                f"the spec must define axis/axes {', '.join(needed)} (or a 'combos' section for combo_id)",
                file=spec_path,
                field="axes",
            )
        )
    has_essay = "essay_template" in frame.columns
    has_eval = "evaluation_template" in frame.columns
    if has_eval and "evaluation_llm" not in frame.columns:
        raise SpecError(located("evaluation_template needs an evaluation_llm axis", file=spec_path, field="axes"))
    work = pd.DataFrame(
        {
            "combo_id": _column(frame, "combo_id"),
            "draft_template": _column(frame, "draft_template"),
            "draft_llm": _column(frame, "draft_llm"),
            "draft_replicate": _replicate_column(frame, "draft").to_numpy(),
        }
    )
    if has_essay:
        work["essay_template"] = _column(frame, "essay_template")
        work["essay_llm"] = _column(frame, "essay_llm") if "essay_llm" in frame.columns else ""
        work["essay_replicate"] = _replicate_column(frame, "essay").to_numpy()
    if has_eval:
        work["evaluation_template"] = _column(frame, "evaluation_template")
        work["evaluation_llm"] = _column(frame, "evaluation_llm")
        work["evaluation_replicate"] = _replicate_column(frame, "evaluation").to_numpy()

    codes, keys = _unique_keys(work, ["combo_id", "draft_template", "draft_llm", "draft_replicate"])
    draft_ids = planner.drafts(keys)
    if not (has_essay or has_eval):
        return
    work["draft_gen_id"] = np.asarray(draft_ids, dtype=object)[codes]

    parent_col = "draft_gen_id"
    if has_essay:
        copy_templates = {t for t in set(work["essay_template"]) if planner.catalogs.template("essay", t).is_copy}
        codes, keys = _unique_keys(
            work, ["draft_gen_id", "combo_id", "draft_llm", "essay_template", "essay_llm", "essay_replicate"]
        )
        essay_keys = []
        for draft_id, combo, draft_llm, template, llm, replicate in keys:
            # a copy-mode essay calls no model: it takes the draft's LLM, so it is one generation per draft
            llm_id = draft_llm if template in copy_templates else llm
            if not llm_id:
                raise SpecError(
                    located(
                        f"essay template {template!r} calls an LLM but the spec has no essay_llm axis",
                        file=spec_path,
                        field="essay_llm",
                    )
                )
            essay_keys.append((draft_id, combo, template, llm_id, replicate))
        work["essay_gen_id"] = np.asarray(planner.essays(essay_keys), dtype=object)[codes]
        parent_col = "essay_gen_id"
    if has_eval:
        _, keys = _unique_keys(
            work, [parent_col, "combo_id", "evaluation_template", "evaluation_llm", "evaluation_replicate"]
        )
        planner.evaluations(keys)


def _no_code_frame(catalogs: Catalogs, combos: list[Combo]) -> pd.DataFrame:
    """Every combo × active template × generation model, evaluated by every evaluation model.

    The model that writes a draft also writes its essays: the essay id does not include the LLM, so
    crossing essay models independently would give each (draft, essay template) one id per model, with
    ``-N`` suffixes that run out after five models.
    """
    axes = {
        "combo_id": [c.combo_id for c in combos],
        "draft_template": catalogs.active_template_ids("draft"),
        "draft_llm": catalogs.generation_model_ids,
        "essay_template": catalogs.active_template_ids("essay"),
        "evaluation_template": catalogs.active_template_ids("evaluation"),
        "evaluation_llm": catalogs.evaluation_model_ids,
    }
    empty = [name for name, values in axes.items() if not values]
    if empty:
        raise CohortError(
            f"no-code cohort: nothing active for {', '.join(empty)} in {catalogs.layout.raw} "
            f"(check the 'active' / 'for_generation' / 'for_evaluation' columns)"
        )
    index = pd.MultiIndex.from_product(list(axes.values()), names=list(axes))
    frame = index.to_frame(index=False)
    frame["essay_llm"] = frame["draft_llm"]
    return frame


def _curated(
    planner: _Planner,
    layout: DataLayout,
    cohort_id: str,
    spec_dir: Path,
    catalogs: Catalogs,
    spec_frame: pd.DataFrame | None,
) -> str:
    essays_file, drafts_file = spec_dir / SELECTED_ESSAYS, spec_dir / SELECTED_DRAFTS
    stage: Stage = "essay" if essays_file.exists() else "draft"
    path = essays_file if stage == "essay" else drafts_file
    lines = _id_lines(path)
    ids = list(lines)
    if not ids:
        raise CohortError(located("no gen ids listed", file=path))
    eval_templates = catalogs.active_template_ids("evaluation")
    eval_llms = catalogs.evaluation_model_ids
    replicates = [1]
    if spec_frame is not None:
        if "evaluation_template" in spec_frame.columns:
            eval_templates = list(dict.fromkeys(spec_frame["evaluation_template"].astype(str)))
        if "evaluation_llm" in spec_frame.columns:
            eval_llms = list(dict.fromkeys(spec_frame["evaluation_llm"].astype(str)))
        if "evaluation_replicate" in spec_frame.columns:
            replicates = sorted(set(_replicate_column(spec_frame, "evaluation")))
    for gen_id in ids:
        meta, combo = planner.existing(stage, gen_id, file=path, line=lines.get(gen_id, 0))
        gen_id = normalize_part(gen_id)
        if stage == "essay":
            if not meta.parent_gen_id:
                raise CohortError(
                    located(
                        f"essay {gen_id} has no parent draft in its metadata",
                        file=path,
                        line=lines.get(gen_id),
                        field="parent_gen_id",
                    )
                )
            planner.existing("draft", meta.parent_gen_id, file=path, line=lines.get(gen_id, 0))
        for template in eval_templates:
            for llm in eval_llms:
                for replicate in replicates:
                    planner.evaluation(gen_id, combo, template, llm, int(replicate))
    return f"curated:{path.name}"


def _check_cohort_id(layout: DataLayout, cohort_id: str, *, no_code: bool) -> None:
    """A cohort must exist as a directory: a typo in an id must not plan (and pay for) the whole no-code cohort."""
    if not cohort_id or cohort_id in (".", "..") or "/" in cohort_id or "\\" in cohort_id:
        raise CohortError(f"invalid cohort id {cohort_id!r}: a directory name under {layout.cohorts}")
    if layout.cohort_dir(cohort_id).is_dir() or no_code:
        return
    known = list_cohorts(layout)
    raise CohortError(
        located(
            f"cohort {cohort_id!r} not found (existing: {', '.join(known) or 'none'}); create "
            f"cohorts/{cohort_id}/spec/config.yaml, or pass --no-code for every k-subset of the active concepts",
            file=layout.cohort_dir(cohort_id),
        )
    )


def plan_cohort(
    layout: DataLayout,
    cohort_id: str,
    *,
    k_max: int | None = None,
    level: str | None = None,
    catalogs: Catalogs | None = None,
    no_code: bool = False,
) -> CohortPlan:
    catalogs = catalogs or Catalogs.load(layout)
    _check_cohort_id(layout, cohort_id, no_code=no_code)
    combo_catalog = ComboCatalog(layout.combo_mappings)
    spec_dir = layout.spec_dir(cohort_id)
    spec_path = layout.spec_file(cohort_id)
    curated = (spec_dir / SELECTED_ESSAYS).exists() or (spec_dir / SELECTED_DRAFTS).exists()
    if (k_max is not None or level is not None) and spec_path.exists() and "combos" not in _load_spec_doc(spec_path):
        raise SpecError(
            located(
                "--k-max/--level only apply to a spec with a 'combos' section or to the no-code "
                "cohort; this spec lists its combo_id axis itself",
                file=spec_path,
                field="combos",
            )
        )
    planner = _Planner(layout, cohort_id, catalogs)
    generated: list[Combo] = []
    if curated:
        spec_frame = None
        settings = CohortSettings()
        if spec_path.exists():
            spec_frame, settings, generated = compile_cohort_spec(
                layout, spec_path, catalogs, k_max=k_max, level=level, combo_catalog=combo_catalog
            )
        source = _curated(planner, layout, cohort_id, spec_dir, catalogs, spec_frame)
    elif spec_path.exists():
        frame, settings, generated = compile_cohort_spec(
            layout, spec_path, catalogs, k_max=k_max, level=level, combo_catalog=combo_catalog
        )
        _expand_rows(planner, frame, spec_path)
        source = "spec"
    else:
        settings = _settings_from(None, None, k_max=k_max, level=level)
        generated = _combos_for(settings, catalogs, None)
        _expand_rows(planner, _no_code_frame(catalogs, generated), layout.concepts_csv)
        source = "no-code"
    new_combos = combo_catalog.ensure(generated, write=False)
    membership = planner.frame()
    used_combos = [
        combo_catalog.combos[c]
        for c in dict.fromkeys(membership.loc[membership["stage"] == "draft", "combo_id"])
        if c in combo_catalog.combos
    ]
    _check_parents(layout, membership)
    _check_templates(catalogs, membership)
    tiers = _tier_counts(planner.rows, catalogs)
    manifest = _manifest(cohort_id, source, settings, membership, used_combos, tiers)
    return CohortPlan(
        cohort_id=cohort_id,
        source=source,
        settings=settings,
        membership=membership,
        rows=planner.rows,
        combos=used_combos,
        new_combos=new_combos,
        manifest=manifest,
        tiers=tiers,
    )


def _check_parents(layout: DataLayout, membership: pd.DataFrame) -> None:
    drafts = set(membership.loc[membership["stage"] == "draft", "gen_id"])
    essays = membership[membership["stage"] == "essay"]
    orphans = essays[~essays["parent_gen_id"].isin(drafts)]
    if len(orphans):
        raise CohortError(
            f"essay {orphans['gen_id'].iloc[0]}: parent draft {orphans['parent_gen_id'].iloc[0]} is "
            f"not a draft of the cohort"
        )
    evaluations = membership[membership["stage"] == "evaluation"]
    outside = evaluations[~evaluations["parent_gen_id"].isin(membership["gen_id"])].drop_duplicates("parent_gen_id")
    store = GensStore(layout)
    for gen_id, parent in zip(outside["gen_id"], outside["parent_gen_id"], strict=False):
        if not (store.exists("essay", parent, "metadata.json") or store.exists("draft", parent, "metadata.json")):
            raise CohortError(f"evaluation {gen_id}: parent {parent} exists neither in the cohort nor in gens/")


def _check_templates(catalogs: Catalogs, membership: pd.DataFrame) -> None:
    """Every LLM template the cohort uses must render; a broken one stops the build before any write."""
    for stage in STAGES:
        for template_id in membership.loc[membership["stage"] == stage, "template_id"].unique():
            template = catalogs.templates[stage].get(template_id)
            if template is None or template.is_copy:
                continue
            check_template(stage, catalogs.template_path(stage, template_id))


def _tier_counts(rows: list[PlanRow], catalogs: Catalogs) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {stage: {} for stage in STAGES}
    tiers = {model_id: model.tier for model_id, model in catalogs.models.items()}
    for stage, _, _, _, _, _, llm, _, mode in rows:
        tier = "local" if mode == "copy" else tiers.get(llm, "unknown")
        counts[stage][tier] = counts[stage].get(tier, 0) + 1
    return counts


def tier_of(catalogs: Catalogs, model_id: str | None) -> str:
    model = catalogs.models.get(model_id or "")
    return model.tier if model else "unknown"


def _manifest(
    cohort_id: str,
    source: str,
    settings: CohortSettings,
    membership: pd.DataFrame,
    combos: list[Combo],
    tiers: dict[str, dict[str, int]],
) -> dict[str, Any]:
    def unique(stage: str, column: str) -> list[str]:
        values = membership.loc[membership["stage"] == stage, column]
        return [v for v in dict.fromkeys(values) if v]

    generation_llms = list(dict.fromkeys(unique("draft", "llm_model_id") + unique("essay", "llm_model_id")))
    return {
        "cohort_id": cohort_id,
        "source": source,
        "combos": [c.combo_id for c in combos],
        "templates": {stage: unique(stage, "template_id") for stage in STAGES},
        "llms": {"generation": generation_llms, "evaluation": unique("evaluation", "llm_model_id")},
        "k_max": settings.k_max,
        "description_level": settings.description_level,
        "counts": {stage: int((membership["stage"] == stage).sum()) for stage in STAGES},
        "tiers": tiers,
    }


# ---------------------------------------------------------------------------------------------
# writing


def _metadata_bytes(row: PlanRow) -> bytes:
    """``metadata.json`` of a planned row; compact JSON through the C encoder (a million of these)."""
    stage, gen_id, cohort_id, parent, combo, template, llm, replicate, mode = row
    return (
        json.dumps(
            {
                "stage": stage,
                "gen_id": gen_id,
                "origin_cohort_id": cohort_id,
                "mode": mode,
                "template_id": template,
                "combo_id": (combo or None) if stage == "draft" else None,
                "parent_gen_id": parent or None,
                "llm_model_id": llm or None,
                "replicate": replicate,
            },
            ensure_ascii=False,
        )
        + "\n"
    ).encode("utf-8")


def _seed_all(store: GensStore, rows: list[PlanRow], workers: int = 4) -> int:
    """Write ``metadata.json`` where it is absent; an existing one is never replaced.

    A generation directory this call creates is new, so its file can be written under a fixed temporary
    name and renamed into place (atomic, fewer syscalls than ``mkstemp``); a directory that already
    exists goes through ``create_exclusive``. Threads overlap the filesystem calls.
    """
    if not rows:
        return 0
    gens = str(store.layout.gens)
    for stage in {row[0] for row in rows}:
        os.makedirs(f"{gens}/{stage}", exist_ok=True)

    def seed(row: PlanRow) -> int:
        gen_dir = f"{gens}/{row[0]}/{row[1]}"
        try:
            os.mkdir(gen_dir)
        except FileExistsError:
            return int(atomic.create_exclusive(f"{gen_dir}/metadata.json", _metadata_bytes(row)))
        tmp = f"{gen_dir}/.metadata.json.seed.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, _metadata_bytes(row))
        finally:
            os.close(fd)
        os.rename(tmp, f"{gen_dir}/metadata.json")
        return 1

    def seed_chunk(chunk: list[PlanRow]) -> int:
        return sum(map(seed, chunk))

    chunks = [rows[i : i + 4096] for i in range(0, len(rows), 4096)]
    if workers <= 1 or len(chunks) == 1:
        return sum(map(seed_chunk, chunks))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(seed_chunk, chunks))


def build_cohort(
    layout: DataLayout,
    cohort_id: str,
    *,
    dry_run: bool = False,
    k_max: int | None = None,
    level: str | None = None,
    catalogs: Catalogs | None = None,
    no_code: bool = False,
) -> CohortBuildResult:
    plan = plan_cohort(layout, cohort_id, k_max=k_max, level=level, catalogs=catalogs, no_code=no_code)
    seeded = 0
    if not dry_run:
        ComboCatalog(layout.combo_mappings).ensure(plan.new_combos)
        seeded = _seed_all(GensStore(layout), plan.rows)
        plan.manifest["built_at"] = utc_now()
        write_membership(layout.membership(cohort_id), plan.membership)
        atomic.write_json(layout.manifest(cohort_id), plan.manifest)
    return CohortBuildResult(
        cohort_id=cohort_id,
        source=plan.source,
        dry_run=dry_run,
        stages=plan.counts(),
        tiers=plan.tiers,
        combos=len(plan.combos),
        new_combos=len(plan.new_combos),
        seeded_metadata=seeded,
        membership_path=str(layout.membership(cohort_id)),
        manifest_path=str(layout.manifest(cohort_id)),
    )


def spec_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def read_manifest(layout: DataLayout, cohort_id: str) -> dict[str, Any]:
    path = layout.manifest(cohort_id)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise CohortError(located(f"unreadable JSON: {exc}", file=path)) from None
