"""``daydream select top``: pick a cohort's best documents, optionally as a new curated cohort.

The ranking is the document table of the reports: mean (or max) normalised score over the usable
evaluations (scored, not stale unless asked); ties go to the document with more evaluations, then
the smaller gen id, so the same store always selects the same list.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel

from daydream import atomic
from daydream.catalogs import Catalogs
from daydream.errors import CatalogError, CohortError, located, shown
from daydream.paths import DataLayout, check_id
from daydream.reports.aggregate import load_scope
from daydream.reports.pivots import document_table

RANK_BY = {"mean": "mean_normalized", "max": "max_normalized"}
SELECTED_FILE = {"essay": "selected_essays.txt", "draft": "selected_drafts.txt"}


class SelectionResult(BaseModel):
    cohort_id: str
    stage: str
    by: str
    gen_ids: list[str]
    paths: list[Path]
    new_cohort: str | None = None


def rank_documents(
    scores: pd.DataFrame, *, by: str = "mean", include_stale: bool = False, stage: str | None = None
) -> pd.DataFrame:
    """Scored documents best first; ``stage`` essay or draft (default: essays if any were judged)."""
    if by not in RANK_BY:
        raise CohortError(f"--by must be one of {', '.join(RANK_BY)}, got {shown(by)}")
    docs = document_table(scores, include_stale)
    docs = docs[docs["n"] > 0]
    if stage is None:
        stage = "essay" if (docs["document_stage"] == "essay").any() else "draft"
    docs = docs[docs["document_stage"] == stage]
    column = RANK_BY[by]
    return docs.sort_values(
        [column, "n", "document_gen_id"], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)


def _check_new_cohort(layout: DataLayout, name: str) -> Path:
    """The new cohort's directory: an id in the grammar (no trailing space, invisible character or
    ``..``), inside the data root, and not taken (an existing cohort is never overwritten)."""
    check_id(name, kind="cohort id", field="--new-cohort")
    target = layout.inside(layout.cohort_dir(name))
    if os.path.lexists(target):
        raise CohortError(
            located(
                f"cohort {shown(name)} already exists; choose another --new-cohort name "
                f"(an existing cohort is never overwritten)",
                file=target,
            )
        )
    return target


def _listed(values: Sequence[str], most: int = 10) -> str:
    """Values for an error message, each and their number bounded."""
    text = ", ".join(v if len(v) <= 80 else shown(v) for v in values[:most])
    return text + (f", ... ({len(values) - most:,} more)" if len(values) > most else "")


def _check_ids(kind: str, wanted: Sequence[str], known: Sequence[str], file: Path, field: str) -> list[str]:
    missing = [w for w in wanted if w not in known]
    if missing:
        raise CatalogError(
            located(f"unknown {kind}: {_listed(missing)} (known: {_listed(known)})", file=file, field=field)
        )
    return list(dict.fromkeys(wanted))


def _header(lines: list[str]) -> str:
    """``#`` comment lines; a line break inside a value (a crafted ``--data-root``, say) cannot start a
    line that ``read_id_list`` would take for a gen id."""
    return "".join(f"# {' '.join(line.splitlines())}\n" for line in lines)


def _judges(
    layout: DataLayout, catalogs: Catalogs, templates: Sequence[str], llms: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The new cohort's evaluation templates and models: known ids, default the active ones."""
    return (
        _check_ids(
            "evaluation template",
            templates or catalogs.active_template_ids("evaluation"),
            list(catalogs.templates["evaluation"]),
            layout.templates_csv("evaluation"),
            "template_id",
        ),
        _check_ids(
            "evaluation model",
            llms or catalogs.evaluation_model_ids,
            list(catalogs.models),
            layout.models_csv,
            "id",
        ),
    )


def _write_selection(layout: DataLayout, cohort_id: str, name: str, text: str, chosen: pd.DataFrame) -> list[Path]:
    out_dir = layout.inside(layout.reports(cohort_id) / "selection")
    paths = [atomic.write_text(layout.inside(out_dir / name), text)]
    ranked = chosen.assign(rank=range(1, len(chosen) + 1))
    csv_path = layout.inside(out_dir / name.replace(".txt", ".csv"))
    paths.append(atomic.write_text(csv_path, ranked.to_csv(index=False, lineterminator="\n")))
    return paths


def _write_new_cohort(target: Path, name: str, text: str, intro: list[str], axes: dict[str, list[str]]) -> list[Path]:
    try:
        target.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise CohortError(
            located(f"cohort {shown(target.name)} already exists; not overwritten", file=target)
        ) from None
    config = _header(intro) + yaml.safe_dump({"axes": axes}, sort_keys=False, default_flow_style=False)
    return [atomic.write_text(target / "spec" / name, text), atomic.write_text(target / "spec" / "config.yaml", config)]


def select_top(
    layout: DataLayout,
    cohort_id: str,
    top_n: int,
    *,
    by: str = "mean",
    new_cohort: str | None = None,
    evaluation_llms: Sequence[str] = (),
    evaluation_templates: Sequence[str] = (),
    include_stale: bool = False,
    command: str | None = None,
    catalogs: Catalogs | None = None,
) -> SelectionResult:
    """Write ``reports/selection/selected_<stage>s.txt`` (and the ranking as CSV); with ``new_cohort``,
    ``cohorts/<new>/spec/selected_<stage>s.txt`` and ``spec/config.yaml`` naming the judges."""
    if top_n < 1:
        raise CohortError(f"--top-n must be at least 1, got {top_n}")
    if by not in RANK_BY:
        raise CohortError(f"--by must be one of {', '.join(RANK_BY)}, got {shown(by)}")
    check_id(cohort_id, kind="cohort id", field="--cohort")
    catalogs = catalogs or Catalogs.load(layout)
    target = _check_new_cohort(layout, new_cohort) if new_cohort is not None else None
    templates, llms = _judges(layout, catalogs, evaluation_templates, evaluation_llms)
    ranking = rank_documents(
        load_scope(layout, catalogs, cohort_id=cohort_id).scores, by=by, include_stale=include_stale
    )
    if ranking.empty:
        raise CohortError(
            located(
                f"cohort {shown(cohort_id)} has no scored documents to select from; run its evaluations first",
                file=layout.membership(cohort_id),
            )
        )
    stage = str(ranking["document_stage"].iloc[0])
    chosen = ranking.head(top_n)
    gen_ids = list(chosen["document_gen_id"])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    header = _header(
        [
            f"selected by: {command or f'daydream select top --cohort {cohort_id} --top-n {top_n} --by {by}'}",
            f"cohort {cohort_id}: top {len(gen_ids)} of {len(ranking)} scored {stage}s by {by} normalised score "
            f"(score / scale) over their evaluations ({'stale included' if include_stale else 'stale excluded'})",
            f"created {now}",
        ]
    )
    text = header + "".join(f"{g}\n" for g in gen_ids)
    name = SELECTED_FILE[stage]
    paths = _write_selection(layout, cohort_id, name, text, chosen)
    if target is not None:
        intro = [
            f"Curated cohort: the top {len(gen_ids)} {stage}s of cohort {cohort_id} by {by} "
            f"normalised score, re-evaluated by the judges below.",
            f"Written by daydream select top on {now}; build it with: daydream cohort build {new_cohort}",
        ]
        axes = {"evaluation_template": templates, "evaluation_llm": llms}
        paths += _write_new_cohort(target, name, text, intro, axes)
    return SelectionResult(cohort_id=cohort_id, stage=stage, by=by, gen_ids=gen_ids, paths=paths, new_cohort=new_cohort)
