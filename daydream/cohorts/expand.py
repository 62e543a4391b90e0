"""The three sources of a cohort's generations: a compiled spec, the no-code cross product, a curated list.

Each is sized before anything is allocated for it: the rows it will plan are counted (a product of
list lengths) and checked against ``limits.MAX_PLAN_ROWS``, so a spec or a list that explodes fails
at once with the count and the limit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daydream import limits
from daydream.catalogs import Catalogs
from daydream.cohorts.definition import SELECTED_DRAFTS, SELECTED_ESSAYS, id_lines
from daydream.cohorts.planner import Planner
from daydream.combos import Combo
from daydream.errors import CohortError, SpecError, located
from daydream.ids import normalize_part
from daydream.paths import Stage

DRAFT_AXES = ("combo_id", "draft_template", "draft_llm")


def check_plan_size(rows: int, *, file: Path | None, what: str) -> None:
    """Refuse a plan of more rows than ``limits.MAX_PLAN_ROWS`` before any frame of that size exists."""
    problem = limits.over_limit(rows, limits.MAX_PLAN_ROWS)
    if problem is not None:
        raise CohortError(located(f"{what}: {problem}", file=file))


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


def _work_frame(frame: pd.DataFrame, spec_path: Path) -> pd.DataFrame:
    """The spec's rows as plain string columns per stage, after checking the axes a plan needs."""
    needed = [c for c in DRAFT_AXES if c not in frame.columns]
    if needed:
        raise SpecError(
            located(
                f"the spec must define axis/axes {', '.join(needed)} (or a 'combos' section for combo_id)",
                file=spec_path,
                field="axes",
            )
        )
    if "evaluation_template" in frame.columns and "evaluation_llm" not in frame.columns:
        raise SpecError(located("evaluation_template needs an evaluation_llm axis", file=spec_path, field="axes"))
    check_plan_size(len(frame), file=spec_path, what="the spec")
    work = pd.DataFrame({axis: _column(frame, axis) for axis in DRAFT_AXES})
    work["draft_replicate"] = _replicate_column(frame, "draft").to_numpy()
    if "essay_template" in frame.columns:
        work["essay_template"] = _column(frame, "essay_template")
        work["essay_llm"] = _column(frame, "essay_llm") if "essay_llm" in frame.columns else ""
        work["essay_replicate"] = _replicate_column(frame, "essay").to_numpy()
    if "evaluation_template" in frame.columns:
        work["evaluation_template"] = _column(frame, "evaluation_template")
        work["evaluation_llm"] = _column(frame, "evaluation_llm")
        work["evaluation_replicate"] = _replicate_column(frame, "evaluation").to_numpy()
    return work


def _essay_keys(planner: Planner, keys: list[tuple[Any, ...]], spec_path: Path) -> list[tuple[Any, ...]]:
    """``(draft, combo, template, llm, replicate)`` per essay; a copy-mode essay takes its draft's LLM.

    A copy calls no model, so it is one generation per draft whatever the essay_llm axis says.
    """
    copy_templates = {t for t in {key[3] for key in keys} if planner.catalogs.template("essay", t).is_copy}
    essay_keys = []
    for draft_id, combo, draft_llm, template, llm, replicate in keys:
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
    return essay_keys


def expand_rows(planner: Planner, frame: pd.DataFrame, spec_path: Path) -> None:
    """Spec rows -> drafts, essays, evaluations (each unique generation once)."""
    work = _work_frame(frame, spec_path)
    codes, keys = _unique_keys(work, ["combo_id", "draft_template", "draft_llm", "draft_replicate"])
    draft_ids = planner.drafts(keys)
    has_essay, has_eval = "essay_template" in work.columns, "evaluation_template" in work.columns
    if not (has_essay or has_eval):
        return
    work["draft_gen_id"] = np.asarray(draft_ids, dtype=object)[codes]
    parent_col = "draft_gen_id"
    if has_essay:
        codes, keys = _unique_keys(
            work, ["draft_gen_id", "combo_id", "draft_llm", "essay_template", "essay_llm", "essay_replicate"]
        )
        work["essay_gen_id"] = np.asarray(planner.essays(_essay_keys(planner, keys, spec_path)), dtype=object)[codes]
        parent_col = "essay_gen_id"
    if has_eval:
        _, keys = _unique_keys(
            work, [parent_col, "combo_id", "evaluation_template", "evaluation_llm", "evaluation_replicate"]
        )
        planner.evaluations(keys)


def no_code_frame(catalogs: Catalogs, combos: list[Combo]) -> pd.DataFrame:
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
    rows = math.prod(len(values) for values in axes.values())
    check_plan_size(rows, file=catalogs.layout.raw, what="the no-code cohort (combos x templates x models)")
    index = pd.MultiIndex.from_product(list(axes.values()), names=list(axes))
    frame = index.to_frame(index=False)
    frame["essay_llm"] = frame["draft_llm"]
    return frame


def _evaluation_axes(catalogs: Catalogs, spec_frame: pd.DataFrame | None) -> tuple[list[str], list[str], list[int]]:
    """The curated cohort's judges: the spec's evaluation axes, else every active one."""
    templates = catalogs.active_template_ids("evaluation")
    llms = catalogs.evaluation_model_ids
    replicates = [1]
    if spec_frame is not None:
        if "evaluation_template" in spec_frame.columns:
            templates = list(dict.fromkeys(spec_frame["evaluation_template"].astype(str)))
        if "evaluation_llm" in spec_frame.columns:
            llms = list(dict.fromkeys(spec_frame["evaluation_llm"].astype(str)))
        if "evaluation_replicate" in spec_frame.columns:
            replicates = sorted({int(r) for r in _replicate_column(spec_frame, "evaluation")})
    return templates, llms, replicates


def curated(planner: Planner, spec_dir: Path, catalogs: Catalogs, spec_frame: pd.DataFrame | None) -> str:
    """The listed essays (with their drafts) or drafts, each evaluated anew; returns the cohort's source."""
    essays_file = spec_dir / SELECTED_ESSAYS
    stage: Stage = "essay" if essays_file.exists() else "draft"
    path = essays_file if stage == "essay" else spec_dir / SELECTED_DRAFTS
    lines = id_lines(path)
    if not lines:
        raise CohortError(located("no gen ids listed", file=path))
    templates, llms, replicates = _evaluation_axes(catalogs, spec_frame)
    evaluations = len(lines) * len(templates) * len(llms) * len(replicates)
    check_plan_size(evaluations + 2 * len(lines), file=path, what="the curated cohort (ids x judges)")
    for gen_id, line in lines.items():
        meta, combo = planner.existing(stage, gen_id, file=path, line=line)
        gen_id = normalize_part(gen_id)
        if stage == "essay":
            if not meta.parent_gen_id:
                raise CohortError(
                    located(
                        f"essay {gen_id} has no parent draft in its metadata",
                        file=path,
                        line=line,
                        field="parent_gen_id",
                    )
                )
            planner.existing("draft", meta.parent_gen_id, file=path, line=line)
        planner.evaluations([(gen_id, combo, t, llm, int(r)) for t in templates for llm in llms for r in replicates])
    return f"curated:{path.name}"
