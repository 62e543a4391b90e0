"""Where a cohort stands: per-stage progress and how reliably each judge's output parses."""

from __future__ import annotations

import pandas as pd

from daydream.paths import STAGES
from daydream.reports.aggregate import ScopeData

STATE_COLUMNS = ["done", "stale", "failed", "pending"]
STAGE_SUMMARY_COLUMNS = ["stage", "total", *STATE_COLUMNS, "invalid", "unparsed"]
RELIABILITY_COLUMNS = [
    "evaluation_template",
    "evaluation_llm",
    "evaluations",
    "with_output",
    "parsed",
    "parse_failures",
    "parse_failure_rate",
    "other_failures",
    "missing",
    "stale",
    "unparsed",
    "reparsed",
    "invalid",
]


def stage_summary(data: ScopeData) -> pd.DataFrame:
    """Per stage, counts of the cohort's generations by ``GensStore.state``: done, stale, failed, pending.

    The state is derived from the records already read (same rule as ``GensStore.state``: parsed.txt
    means done, or stale when the template changed since; raw.txt or error.json without it, failed;
    otherwise pending), so the store is not read twice. ``invalid`` counts membership entries the
    report refused to read (an id outside the grammar, a link); ``unparsed``, a part of ``failed``,
    the answers kept in raw.txt but never validated, which a rerun validates without a new call.
    """
    rows = []
    for stage in STAGES:
        frame = data.gens.get(stage)
        members = frame[frame["member"]] if frame is not None and len(frame) else None
        counts = members["state"].value_counts() if members is not None else pd.Series(dtype=int)
        rows.append(
            {
                "stage": stage,
                "total": 0 if members is None else len(members),
                **{state: int(counts.get(state, 0)) for state in [*STATE_COLUMNS, "invalid"]},
                "unparsed": 0 if members is None else int(members["unparsed"].sum()),
            }
        )
    return pd.DataFrame(rows, columns=STAGE_SUMMARY_COLUMNS)


def judge_reliability(scores: pd.DataFrame) -> pd.DataFrame:
    """Parse failures per evaluation template and model.

    ``parse_failure_rate = parse_failures / with_output``: of the judge outputs that came back (a
    score, or raw text that failed to parse), the share that did not parse. Other failures (LLM
    errors, truncation, validation), missing (pending), unparsed (kept, never validated), reparsed
    (scored by ``--reparse-raw``) and invalid (refused) evaluations are counted separately.
    """
    if scores.empty:
        return pd.DataFrame(columns=RELIABILITY_COLUMNS)
    status = scores["status"]
    work = pd.DataFrame(
        {
            "evaluation_template": scores["evaluation_template"],
            "evaluation_llm": scores["evaluation_llm"],
            "parsed": (status == "ok").astype(int),
            "parse_failures": (status == "parse_error").astype(int),
            "other_failures": (status == "failed").astype(int),
            "missing": (status == "missing").astype(int),
            "stale": ((status == "ok") & scores["stale"].astype(bool)).astype(int),
            "unparsed": (status == "unparsed").astype(int),
            "reparsed": ((status == "ok") & scores["reparsed"].astype(bool)).astype(int),
            "invalid": (status == "invalid").astype(int),
        }
    )
    out = (
        work.groupby(["evaluation_template", "evaluation_llm"], sort=True)
        .agg(
            evaluations=("parsed", "size"),
            parsed=("parsed", "sum"),
            parse_failures=("parse_failures", "sum"),
            other_failures=("other_failures", "sum"),
            missing=("missing", "sum"),
            stale=("stale", "sum"),
            unparsed=("unparsed", "sum"),
            reparsed=("reparsed", "sum"),
            invalid=("invalid", "sum"),
        )
        .reset_index()
    )
    out["with_output"] = out["parsed"] + out["parse_failures"]
    out["parse_failure_rate"] = (out["parse_failures"] / out["with_output"]).where(out["with_output"] > 0)
    return out[RELIABILITY_COLUMNS]
