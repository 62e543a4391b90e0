"""The score of every evaluation, and the rules that decide it (``parsing/aggregated_scores.csv``).

An evaluation is scored only when it is done: its ``parsed.txt`` exists, the rule of the runner
(``GensStore.state``) and of the older pipeline's aggregator ("parsed.txt-only: no parser maps or
raw fallback"), so the same store gives the same means in every DayDream report, in ``daydream
cohort status`` and in DayDreaming's reports. The score is the last line of ``parsed.txt``, as the
older aggregator read it. A judge's answer that came back but was never validated (``raw.txt``
without ``parsed.txt`` and no recorded failure) is ``unparsed``: a rerun re-validates it without a
new call; only an explicit ``reparse_raw`` (``daydream report --reparse-raw``) scores it here, and
such rows say ``reparsed`` in every table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from daydream.errors import DayDreamError, shown
from daydream.parsers import parse_evaluation
from daydream.paths import DataLayout
from daydream.reports.safefs import read_gen_text

DEFAULT_SCALE = {"in_last_line": 9.0, "complex": 10.0}
"""The scale a score is on when the judge wrote none (the parsers' ``implied_scale``)."""

OLDER_COLUMNS = [
    "gen_id",
    "parent_gen_id",
    "evaluation_template",
    "evaluation_llm_model",
    "score",
    "error",
    "evaluation_response_path",
    "combo_id",
    "draft_template",
    "generation_template",
    "generation_model",
    "origin_cohort_id",
    "generation_response_path",
    "input_mode",
    "copied_from",
    "template_id",
    "evaluation_model",
    "stage",
]
"""The columns of the older pipeline's ``aggregated_scores.csv``, with their names and meanings
(docs/reports.md): the first fifteen in its order, then the three its fallback path added."""

DAYDREAM_COLUMNS = [
    "evaluation_llm",
    "scale",
    "implied_scale",
    "score_normalized",
    "status",
    "error_detail",
    "hint",
    "reparsed",
    "draft_gen_id",
    "draft_llm",
    "essay_gen_id",
    "essay_template",
    "essay_llm",
    "replicate",
    "draft_replicate",
    "essay_replicate",
    "document_stage",
    "stale",
    "document_stale",
    "evaluation_path",
    "document_path",
    "evaluation_parser",
    "lineage_error",
    "read_error",
]
SCORE_COLUMNS = [*OLDER_COLUMNS, *DAYDREAM_COLUMNS]
"""Columns of a cohort's ``aggregated_scores.csv`` in order: the older ones first, DayDream's after."""
CROSS_SCORE_COLUMNS = [
    "parent_gen_id",
    "gen_id",
    "evaluation_template",
    "evaluation_llm_model",
    "score",
    "error",
    "evaluation_response_path",
    "combo_id",
    "draft_template",
    "generation_template",
    "generation_model",
    "generation_response_path",
    "origin_cohort_id",
    "input_mode",
    "copied_from",
    "template_id",
    "evaluation_model",
    "stage",
    *DAYDREAM_COLUMNS,
]
"""``7_cross_experiment/aggregated_scores.csv``: the same columns, the older ones in the order the older
``scripts/aggregate_scores.py`` wrote them there (``parent_gen_id`` first)."""

STATUSES = ("ok", "unparsed", "parse_error", "failed", "missing", "invalid")
MISSING_PARSED = "missing parsed.txt"
"""The older aggregator's error for an evaluation without ``parsed.txt``, kept word for word."""
HINTS = {
    "unparsed": "rerun the evaluation stage: it re-validates the kept raw.txt without a new call "
    "(or 'daydream report --reparse-raw' to score it in this report only)",
    "parse_error": "the judge answered without a readable verdict: see raw.txt; a rerun with force asks again",
    "failed": "an LLM error is retried by a rerun; an answer kept in raw.txt that failed validation is "
    "validated again by a rerun (no call), so fix the cause or rerun with force",
    "missing": "not run yet: run the evaluation stage",
    "invalid": "the store entry was refused (see error_detail); fix or remove it",
}
_PARSE_KINDS = ("parse", "parseerror")
TRUNCATED = "truncated output (finish_reason length)"


def _str_col(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str)


def _failure_status(kind: pd.Series) -> np.ndarray:
    return np.where(kind.str.lower().isin(_PARSE_KINDS), "parse_error", "failed")


def _parsed_read_error(evals: pd.DataFrame) -> pd.Series:
    """Rows whose ``parsed.txt`` could not be read at all (a link, a directory), not just parsed."""
    out = pd.Series(False, index=evals.index)
    errors = evals.loc[evals["parsed_error"].notna(), "parsed_error"].astype(str)
    out[errors.index] = errors.str.startswith("Read error")
    return out


def _pm_status(sub: pd.DataFrame) -> np.ndarray:
    kind = _str_col(sub["pm_error_kind"])
    return np.where(kind == "", "parse_error", _failure_status(kind))


def _pm_detail(sub: pd.DataFrame) -> pd.Series:
    return (_str_col(sub["pm_error_kind"]) + ": " + _str_col(sub["pm_error"])).str.removeprefix(": ")


Rule = tuple[pd.Series, "str | Callable[[pd.DataFrame], Any]", "str | Callable[[pd.DataFrame], Any]"]


def classify(evals: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """``(status, error_detail)`` of every evaluation record; the first matching rule wins.

    A rule's status and detail may depend on the row: they are then computed for the rows the rule
    takes only (most rules take a few rows of 100,000).
    """
    has_parsed, has_raw = evals["has_parsed"].astype(bool), evals["has_raw"].astype(bool)
    rules: list[Rule] = [
        (evals["refused"].notna(), "invalid", lambda sub: _str_col(sub["refused"])),
        (has_parsed & evals["parsed_value"].notna(), "ok", ""),
        (has_parsed & _parsed_read_error(evals), "invalid", lambda sub: _str_col(sub["parsed_error"])),
        (has_parsed, "parse_error", lambda sub: _str_col(sub["parsed_error"])),
        (evals["pm_success"].eq(False), _pm_status, _pm_detail),
        (
            evals["has_error"].astype(bool),
            lambda sub: _failure_status(_str_col(sub["error_kind"])),
            lambda sub: _str_col(sub["error_kind"]) + ": " + _str_col(sub["error_message"]),
        ),
        (has_raw & evals["rm_truncated"].eq(True), "failed", TRUNCATED),
        (has_raw, "unparsed", "raw.txt without parsed.txt: the answer was kept but never validated"),
        (evals["read_error"].notna(), "failed", lambda sub: "unreadable files: " + _str_col(sub["read_error"])),
        (~evals["found"].astype(bool), "missing", "no generation directory (pending)"),
    ]
    status = pd.Series("missing", index=evals.index, dtype=object)
    detail = pd.Series("not evaluated yet (pending)", index=evals.index, dtype=object)
    decided = pd.Series(False, index=evals.index)
    for mask, value, why in rules:
        take = mask.astype(bool) & ~decided
        if not take.any():
            continue
        sub = evals[take]
        status[take] = value(sub) if callable(value) else value
        detail[take] = why(sub) if callable(why) else why
        decided |= take
    return status, detail


def _older_error(evals: pd.DataFrame, status: pd.Series) -> pd.Series:
    """The older ``error`` column: empty when scored, ``Invalid parsed.txt: ...`` when its text is not
    a number, ``missing parsed.txt`` when there is none."""
    error = pd.Series(MISSING_PARSED, index=evals.index, dtype=object)
    parsed = evals["has_parsed"].astype(bool)
    error[parsed] = _str_col(evals["parsed_error"])[parsed]
    refused = evals["refused"].notna()
    error[refused] = "Read error: " + _str_col(evals["refused"])[refused]
    error[status == "ok"] = ""
    return error


def _reparse(evals: pd.DataFrame, frame: pd.DataFrame, parser: pd.Series, layout: DataLayout, rows: pd.Index) -> None:
    """Score ``unparsed`` rows by parsing their ``raw.txt`` here (``--reparse-raw`` only)."""
    for idx in rows:
        name = parser[idx]
        if not name:
            why = f"no parser for evaluation template {shown(evals.at[idx, 'template_id'])} in evaluation_templates.csv"
            frame.loc[idx, ["status", "error_detail"]] = "parse_error", f"re-parsing raw.txt failed: {why}"
            continue
        text, problem = read_gen_text(layout, "evaluation", str(evals.at[idx, "gen_id"]), "raw.txt")
        try:
            if text is None:
                raise DayDreamError(problem or "raw.txt not readable")
            parsed = parse_evaluation(name, text)
        except DayDreamError as exc:
            frame.loc[idx, ["status", "error_detail"]] = "parse_error", f"re-parsing raw.txt failed: {exc}"
            continue
        frame.loc[idx, ["score", "scale", "implied_scale"]] = (
            parsed.score,
            np.nan if parsed.scale is None else parsed.scale,
            parsed.implied_scale,
        )
        frame.loc[idx, ["status", "error", "reparsed", "evaluation_parser"]] = "ok", "", True, parsed.parser
        frame.at[idx, "error_detail"] = "scored by re-parsing raw.txt (--reparse-raw); it has no parsed.txt"


def resolve_scores(
    evals: pd.DataFrame, parser_of: dict[str, str | None], layout: DataLayout, *, reparse_raw: bool = False
) -> pd.DataFrame:
    """The evaluation records with ``score`` .. ``evaluation_parser`` (see ``DAYDREAM_COLUMNS``)."""
    catalog_parser = evals["template_id"].map(parser_of)
    parser = _str_col(evals["pm_parser"].where(evals["pm_parser"].notna() & (evals["pm_parser"] != ""), catalog_parser))
    status, detail = classify(evals)
    pm_ok = evals["pm_success"].ne(False)
    frame = pd.DataFrame(
        {
            "score": evals["parsed_value"].where(status == "ok").astype(float),
            "scale": evals["pm_scale"].where(pm_ok).astype(float),
            "implied_scale": evals["pm_implied_scale"].where(pm_ok).astype(float),
            "status": status,
            "error": _older_error(evals, status),
            "error_detail": detail,
            "reparsed": False,
            "evaluation_parser": parser,
        },
        index=evals.index,
    )
    frame["implied_scale"] = frame["implied_scale"].fillna(frame["scale"]).fillna(parser.map(DEFAULT_SCALE))
    if reparse_raw:
        _reparse(evals, frame, parser, layout, evals.index[status == "unparsed"])
    scored = frame["status"] == "ok"
    for column in ("scale", "implied_scale"):
        frame.loc[~scored, column] = np.nan
    frame["score_normalized"] = frame["score"] / frame["implied_scale"]
    unscaled = scored & frame["implied_scale"].isna()
    frame.loc[unscaled, "error_detail"] = (
        "unknown scale: its evaluation template has no known parser in evaluation_templates.csv; "
        "the score is kept but counts in no mean"
    )
    frame["hint"] = frame["status"].map(HINTS).fillna("")
    truncated = frame["error_detail"] == TRUNCATED
    frame.loc[truncated, "hint"] = "raise max_tokens for the evaluation stage, then rerun with force"
    frame.loc[unscaled, "hint"] = "add the template with its parser to evaluation_templates.csv"
    return frame


def usable(scores: pd.DataFrame, include_stale: bool = False) -> pd.Series:
    """Rows that count in means: a normalised score, and not stale unless ``include_stale``."""
    mask = (scores["status"] == "ok") & scores["score_normalized"].notna()
    if not include_stale:
        mask &= ~scores["stale"].astype(bool)
    return mask
