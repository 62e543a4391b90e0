"""Fast reading of the gens store for reports.

A report over 100,000 evaluations reads a few hundred thousand small files, so this module stays
plain Python: one ``os.listdir`` per generation directory tells which files exist, then only the
files a report needs are opened (``raw_metadata.json`` and ``parsed_metadata.json``; ``parsed.txt``
only when an older store has no ``parsed_metadata.json``; ``metadata.json`` only when the caller
does not already know the generation from a cohort's membership). The result is one column-wise
frame; everything after that is vectorised.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from daydream.paths import DataLayout, Stage
from daydream.values import optional_float

META_FIELDS = ("template_id", "llm_model_id", "parent_gen_id", "combo_id", "replicate", "mode", "origin_cohort_id")
"""``metadata.json`` fields a report uses; read into ``m_<field>`` columns."""

RECORD_COLUMNS = (
    "gen_id",
    "found",
    "has_metadata",
    *(f"m_{f}" for f in META_FIELDS),
    "has_raw",
    "has_parsed",
    "has_error",
    "has_raw_meta",
    "has_parsed_meta",
    "error_kind",
    "error_message",
    "rm_llm_model_id",
    "rm_model",
    "rm_mode",
    "rm_template_sha",
    "rm_finish_reason",
    "rm_truncated",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "cost_estimated_usd",
    "pm_success",
    "pm_error_kind",
    "pm_error",
    "pm_parser",
    "pm_score",
    "pm_scale",
    "pm_implied_scale",
    "pm_score_normalized",
    "parsed_value",
    "read_error",
)
_INDEX = {name: i for i, name in enumerate(RECORD_COLUMNS)}
_WIDTH = len(RECORD_COLUMNS)


def _json(path: str) -> dict[str, Any] | None:
    """A JSON object, or None when the file is not one (the caller records ``read_error``)."""
    with open(path, "rb") as handle:
        data = json.loads(handle.read())
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


_PRESENCE = (
    ("has_metadata", "metadata.json"),
    ("has_raw", "raw.txt"),
    ("has_parsed", "parsed.txt"),
    ("has_error", "error.json"),
    ("has_raw_meta", "raw_metadata.json"),
    ("has_parsed_meta", "parsed_metadata.json"),
)
# (column, key in the JSON file, conversion)
_ERROR_FIELDS = (("error_kind", "kind", _text), ("error_message", "error", _text))
_RAW_FIELDS = (
    ("rm_llm_model_id", "llm_model_id", _text),
    ("rm_model", "model", _text),
    ("rm_mode", "mode", _text),
    ("rm_template_sha", "template_sha256", _text),
    ("rm_finish_reason", "finish_reason", _text),
    ("rm_truncated", "truncated", _flag),
    ("cost_usd", "cost_usd", optional_float),
    ("cost_estimated_usd", "cost_estimated_usd", optional_float),
)
_USAGE_FIELDS = tuple((name, name, optional_float) for name in ("prompt_tokens", "completion_tokens", "total_tokens"))
_PARSED_FIELDS = (
    ("pm_success", "success", _flag),
    ("pm_error_kind", "error_kind", _text),
    ("pm_error", "error", _text),
    ("pm_parser", "parser", _text),
    ("pm_score", "score", optional_float),
    ("pm_scale", "scale", optional_float),
    ("pm_implied_scale", "implied_scale", optional_float),
    ("pm_score_normalized", "score_normalized", optional_float),
)
_META_FIELDS = tuple((f"m_{name}", name, _text) for name in META_FIELDS)


def _fill(row: list[Any], data: dict[str, Any], fields: tuple) -> None:
    for column, key, convert in fields:
        row[_INDEX[column]] = convert(data.get(key))


def read_one(gen_dir: str, gen_id: str, *, metadata: bool, evaluation: bool) -> list[Any]:
    """One generation directory as a ``RECORD_COLUMNS`` row (missing values are None)."""
    row: list[Any] = [None] * _WIDTH
    row[0] = gen_id
    try:
        names = set(os.listdir(gen_dir))
        row[1] = True
    except (FileNotFoundError, NotADirectoryError):
        names, row[1] = set(), False
    for column, name in _PRESENCE:
        row[_INDEX[column]] = name in names
    if not row[1]:
        return row
    problems: list[str] = []

    def load(name: str) -> dict[str, Any] | None:
        try:
            data = _json(os.path.join(gen_dir, name))
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problems.append(f"{name}: {type(exc).__name__}")
            return None
        if data is None:
            problems.append(f"{name}: not a JSON object")
        return data

    if metadata and "metadata.json" in names:
        _fill(row, load("metadata.json") or {}, _META_FIELDS)
    if "error.json" in names:
        _fill(row, load("error.json") or {}, _ERROR_FIELDS)
    if "raw_metadata.json" in names:
        raw = load("raw_metadata.json") or {}
        _fill(row, raw, _RAW_FIELDS)
        _fill(row, raw["usage"] if isinstance(raw.get("usage"), dict) else {}, _USAGE_FIELDS)
    if evaluation and "parsed_metadata.json" in names:
        _fill(row, load("parsed_metadata.json") or {}, _PARSED_FIELDS)
    if evaluation and "parsed.txt" in names and row[_INDEX["pm_score"]] is None:
        try:  # an older store without parsed_metadata.json: the score is parsed.txt's float
            with open(os.path.join(gen_dir, "parsed.txt"), encoding="utf-8") as handle:
                row[_INDEX["parsed_value"]] = float(handle.read().strip())
        except (OSError, ValueError):
            problems.append("parsed.txt: not a number")
    if problems:
        row[_INDEX["read_error"]] = "; ".join(problems)
    return row


def read_gens(layout: DataLayout, stage: Stage, gen_ids: Iterable[str], *, metadata: bool) -> pd.DataFrame:
    """Records of ``gen_ids`` of one stage, one row each, in ``RECORD_COLUMNS``."""
    base = str(layout.gens / stage)
    evaluation = stage == "evaluation"
    rows = [
        read_one(os.path.join(base, gen_id), gen_id, metadata=metadata, evaluation=evaluation)
        for gen_id in dict.fromkeys(gen_ids)
    ]
    frame = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    frame = frame.astype({c: "object" for c in RECORD_COLUMNS}) if frame.empty else frame
    frame.insert(1, "stage", stage)
    return frame


def list_gen_ids(layout: DataLayout, stage: Stage) -> list[str]:
    """Every generation directory of a stage (sorted, hidden entries skipped)."""
    stage_dir = layout.gens / stage
    if not stage_dir.is_dir():
        return []
    with os.scandir(stage_dir) as entries:
        return sorted(e.name for e in entries if not e.name.startswith(".") and e.is_dir())


def read_text_file(layout: DataLayout, stage: Stage, gen_id: str, name: str, *, limit: int | None = None) -> str | None:
    """A text file of one generation (None when absent), optionally cut to ``limit`` characters."""
    try:
        with open(layout.gen_dir(stage, gen_id) / name, encoding="utf-8", errors="replace") as handle:
            return handle.read() if limit is None else handle.read(limit)
    except (FileNotFoundError, NotADirectoryError):
        return None
