"""Summary tables built from the aggregated scores (one vectorised pass each).

Means use only usable rows (a score, and not stale unless the report includes stale rows); every
table also says how many stale and failed evaluations it left out (``n_stale``, ``n_errors``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from daydream.reports.scores import usable

HIGH_THRESHOLD = 0.8
"""A high score: ``score_normalized >= 0.8`` (e.g. 8/10, 7.2/9)."""
LOW_THRESHOLD = 0.3
"""A low score: ``score_normalized <= 0.3`` (e.g. 3/10, 2.7/9)."""
_EPS = 1e-9
JUDGE_SEP = "__"
"""Judge column names of the pivot: ``<evaluation_llm>__<evaluation_template>``."""

DOCUMENT_KEYS = [
    "document_gen_id",
    "document_stage",
    "combo_id",
    "draft_gen_id",
    "draft_template",
    "essay_template",
    "generation_model",
    "essay_llm",
]

GROUPINGS: list[tuple[str, list[str]]] = [
    ("overall", []),
    ("draft_template", ["draft_template"]),
    ("essay_template", ["essay_template"]),
    ("generation_model", ["generation_model"]),
    ("evaluation_llm", ["evaluation_llm"]),
    ("evaluation_template", ["evaluation_template"]),
    ("combo_id", ["combo_id"]),
    ("draft_template+generation_model", ["draft_template", "generation_model"]),
    ("essay_template+generation_model", ["essay_template", "generation_model"]),
]
GROUP_KEY_COLUMNS = [
    "draft_template",
    "essay_template",
    "generation_model",
    "evaluation_llm",
    "evaluation_template",
    "combo_id",
]
STAT_COLUMNS = [
    "count",
    "mean",
    "std",
    "min",
    "max",
    "mean_normalized",
    "std_normalized",
    "high_share",
    "low_share",
    "n_stale",
    "n_errors",
    "n_reparsed",
]
FINAL_COLUMNS = ["grouping", "key", *GROUP_KEY_COLUMNS, *STAT_COLUMNS]
PERFECT_COLUMNS = [
    "document_gen_id",
    "document_stage",
    "combo_id",
    "draft_template",
    "essay_template",
    "generation_model",
    "evaluation_gen_id",
    "evaluation_template",
    "evaluation_llm",
    "score",
    "implied_scale",
    "stale",
    "draft_path",
    "essay_path",
    "evaluation_path",
    "all_evaluation_paths",
    "reparsed",
]


def with_flags(scores: pd.DataFrame, include_stale: bool) -> pd.DataFrame:
    """The scores plus ``use`` (counts in means), ``is_stale``, ``is_error`` and ``is_reparsed``
    (a used score that came from re-parsing ``raw.txt``) helper columns."""
    use = usable(scores, include_stale)
    return scores.assign(
        use=use,
        is_reparsed=use & scores["reparsed"].astype(bool),
        is_stale=scores["stale"].astype(bool) & (scores["status"] == "ok") & (not include_stale),
        is_error=scores["status"] != "ok",
        document_gen_id=scores["parent_gen_id"],
        high=(scores["score_normalized"] >= HIGH_THRESHOLD - _EPS)
        .astype(float)
        .where(scores["score_normalized"].notna()),
        low=(scores["score_normalized"] <= LOW_THRESHOLD + _EPS)
        .astype(float)
        .where(scores["score_normalized"].notna()),
    )


def _used(frame: pd.DataFrame, col: str) -> pd.Series:
    return frame[col].where(frame["use"])


def _stats(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """count/mean/std/min/max of raw and normalised scores per group, plus stale/error counts."""
    work = pd.DataFrame(
        {
            "score": _used(frame, "score"),
            "norm": _used(frame, "score_normalized"),
            "high": _used(frame, "high"),
            "low": _used(frame, "low"),
            "is_stale": frame["is_stale"].astype(int),
            "is_error": frame["is_error"].astype(int),
            "is_reparsed": frame["is_reparsed"].astype(int),
        }
    )
    for key in keys:
        work[key] = frame[key].astype(str)
    grouped = work.groupby(keys, sort=True, dropna=False) if keys else work.groupby(np.zeros(len(work)))
    out = grouped.agg(
        count=("score", "count"),
        mean=("score", "mean"),
        std=("score", "std"),
        min=("score", "min"),
        max=("score", "max"),
        mean_normalized=("norm", "mean"),
        std_normalized=("norm", "std"),
        high_share=("high", "mean"),
        low_share=("low", "mean"),
        n_stale=("is_stale", "sum"),
        n_errors=("is_error", "sum"),
        n_reparsed=("is_reparsed", "sum"),
    )
    return out.reset_index(drop=not keys)


def final_results(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """One row per group of every grouping in ``GROUPINGS`` (the ``grouping`` column says which)."""
    frame = with_flags(scores, include_stale)
    parts = []
    for name, keys in GROUPINGS:
        if frame.empty and keys:
            continue
        stats = _stats(frame, keys)
        stats.insert(0, "grouping", name)
        stats.insert(1, "key", stats[keys].astype(str).replace("", "(none)").agg(" | ".join, axis=1) if keys else "all")
        parts.append(stats)
    if not parts:
        return pd.DataFrame(columns=FINAL_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=FINAL_COLUMNS).fillna({c: "" for c in GROUP_KEY_COLUMNS})


def _judge_column(frame: pd.DataFrame) -> pd.Series:
    return frame["evaluation_llm"].astype(str) + JUDGE_SEP + frame["evaluation_template"].astype(str)


DOCUMENT_COLUMNS = [
    *DOCUMENT_KEYS,
    "stale",
    "n",
    "n_stale",
    "n_errors",
    "mean",
    "min",
    "max",
    "mean_normalized",
    "max_normalized",
    "n_reparsed",
]


def document_table(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """One row per evaluated document: lineage, n, mean/min/max score and mean normalised score."""
    frame = with_flags(scores, include_stale)
    if frame.empty:
        return pd.DataFrame(columns=DOCUMENT_COLUMNS)
    docs = frame.groupby("document_gen_id", sort=False).agg(
        **{k: (k, "first") for k in DOCUMENT_KEYS if k != "document_gen_id"},
        stale=("document_stale", "max"),
        n_stale=("is_stale", "sum"),
        n_errors=("is_error", "sum"),
        n_reparsed=("is_reparsed", "sum"),
    )
    used = (
        frame[frame["use"]]
        .groupby("document_gen_id")
        .agg(
            n=("score", "count"),
            mean=("score", "mean"),
            min=("score", "min"),
            max=("score", "max"),
            mean_normalized=("score_normalized", "mean"),
            max_normalized=("score_normalized", "max"),
        )
    )
    out = docs.join(used, how="left")
    out["n"] = out["n"].fillna(0).astype(int)
    return out.reset_index()[DOCUMENT_COLUMNS]


def generation_scores_pivot(
    scores: pd.DataFrame, include_stale: bool = False, docs: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Documents x judges: one column per ``<evaluation_llm>__<evaluation_template>`` (mean score).
    ``docs``: ``document_table(scores, include_stale)`` when the caller has it already."""
    docs = document_table(scores, include_stale) if docs is None else docs
    frame = with_flags(scores, include_stale)
    judges = sorted(_judge_column(frame).unique()) if not frame.empty else []
    if judges:
        used = frame[frame["use"]]
        wide = (
            used.assign(judge=_judge_column(used))
            .pivot_table(index="document_gen_id", columns="judge", values="score", aggfunc="mean")
            .reindex(columns=judges)
        )
        wide.columns = list(wide.columns)
        docs = docs.join(wide, on="document_gen_id")
    ordered = [
        *DOCUMENT_KEYS,
        "stale",
        *judges,
        "n",
        "n_stale",
        "n_errors",
        "min",
        "max",
        "mean",
        "mean_normalized",
        "n_reparsed",
    ]
    docs = docs.reindex(columns=ordered)
    return docs.sort_values(
        ["mean_normalized", "document_gen_id"], ascending=[False, True], na_position="last", kind="stable"
    ).reset_index(drop=True)


def evaluation_model_template_pivot(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """Evaluation model x evaluation template: mean score per cell, with counts per model."""
    frame = with_flags(scores, include_stale)
    templates = sorted(frame["evaluation_template"].astype(str).unique())
    base_cols = [
        "evaluation_llm",
        *templates,
        *[f"n{JUDGE_SEP}{t}" for t in templates],
        "n",
        "mean_normalized",
        "n_stale",
        "n_errors",
        "n_reparsed",
    ]
    if frame.empty:
        return pd.DataFrame(columns=base_cols)
    used = frame[frame["use"]]
    means = used.pivot_table(index="evaluation_llm", columns="evaluation_template", values="score", aggfunc="mean")
    counts = used.pivot_table(index="evaluation_llm", columns="evaluation_template", values="score", aggfunc="count")
    counts.columns = [f"n{JUDGE_SEP}{c}" for c in counts.columns]
    per_model = frame.groupby("evaluation_llm").agg(
        n=("use", "sum"), n_stale=("is_stale", "sum"), n_errors=("is_error", "sum"), n_reparsed=("is_reparsed", "sum")
    )
    per_model["mean_normalized"] = used.groupby("evaluation_llm")["score_normalized"].mean()
    out = per_model.join(means).join(counts).reset_index()
    for t in templates:
        col = f"n{JUDGE_SEP}{t}"
        out[col] = out[col].fillna(0).astype(int) if col in out else 0
    return out.reindex(columns=base_cols)


def perfect_score_paths(scores: pd.DataFrame) -> pd.DataFrame:
    """Evaluations at the top of their scale (``score == implied_scale``) with every lineage file."""
    ok = scores[(scores["status"] == "ok") & scores["score"].notna()]
    perfect = ok[ok["score"] >= ok["implied_scale"] - _EPS]
    if perfect.empty:
        return pd.DataFrame(columns=PERFECT_COLUMNS)
    of_perfect = scores[scores["parent_gen_id"].isin(perfect["parent_gen_id"])]  # only the groups needed
    all_paths = (of_perfect["evaluation_path"] + "/raw.txt").groupby(of_perfect["parent_gen_id"]).agg(";".join)
    essay = perfect["essay_gen_id"].astype(str)
    out = pd.DataFrame(
        {
            "document_gen_id": perfect["parent_gen_id"],
            "document_stage": perfect["document_stage"],
            "combo_id": perfect["combo_id"],
            "draft_template": perfect["draft_template"],
            "essay_template": perfect["essay_template"],
            "generation_model": perfect["generation_model"],
            "evaluation_gen_id": perfect["gen_id"],
            "evaluation_template": perfect["evaluation_template"],
            "evaluation_llm": perfect["evaluation_llm"],
            "score": perfect["score"],
            "implied_scale": perfect["implied_scale"],
            "stale": perfect["stale"],
            "draft_path": np.where(
                perfect["draft_gen_id"] != "", "gens/draft/" + perfect["draft_gen_id"] + "/parsed.txt", ""
            ),
            "essay_path": np.where(essay != "", "gens/essay/" + essay + "/parsed.txt", ""),
            "evaluation_path": perfect["evaluation_path"] + "/raw.txt",
            "all_evaluation_paths": perfect["parent_gen_id"].map(all_paths),
            "reparsed": perfect["reparsed"].astype(bool),
        }
    )
    return out.sort_values(["document_gen_id", "evaluation_gen_id"]).reset_index(drop=True)


_VERSION = re.compile(r"^(?P<family>.+?)[-_]v(?P<version>\d+)$")
VERSION_KINDS = ("draft_template", "essay_template", "evaluation_template")


def template_family(template_id: str) -> tuple[str, str]:
    """``creative-synthesis-v10`` -> (``creative-synthesis``, ``10``); no suffix -> (id, "")."""
    match = _VERSION.match(template_id)
    return (match["family"], match["version"]) if match else (template_id, "")


def template_version_comparison(scores: pd.DataFrame, include_stale: bool = False) -> pd.DataFrame:
    """Template versions side by side: one row per template (kind, family, version), mean normalised
    score overall and per evaluation model (columns ``<evaluation_llm>``)."""
    frame = with_flags(scores, include_stale)
    llms = sorted(frame["evaluation_llm"].astype(str).unique()) if not frame.empty else []
    columns = [
        "template_kind",
        "family",
        "version",
        "template_id",
        "n",
        "mean_normalized",
        *llms,
        "n_stale",
        "n_errors",
        "n_reparsed",
    ]
    parts = []
    for kind in VERSION_KINDS:
        sub = frame[frame[kind].astype(str) != ""]
        if sub.empty:
            continue
        used = sub[sub["use"]]
        base = sub.groupby(kind).agg(
            n=("use", "sum"),
            n_stale=("is_stale", "sum"),
            n_errors=("is_error", "sum"),
            n_reparsed=("is_reparsed", "sum"),
        )
        base["mean_normalized"] = used.groupby(kind)["score_normalized"].mean()
        per_llm = used.pivot_table(index=kind, columns="evaluation_llm", values="score_normalized", aggfunc="mean")
        base = base.join(per_llm).reset_index().rename(columns={kind: "template_id"})
        fam = base["template_id"].map(template_family)
        base.insert(0, "template_kind", kind)
        base.insert(1, "family", fam.str[0])
        base.insert(2, "version", fam.str[1])
        parts.append(base)
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    out["_v"] = pd.to_numeric(out["version"], errors="coerce")
    return (
        out.sort_values(["template_kind", "family", "_v", "template_id"], na_position="first")
        .drop(columns="_v")
        .reset_index(drop=True)
    )
