"""Fast and safe reading of the gens store for reports.

A report over 100,000 evaluations reads a few hundred thousand small files, so this module stays
plain Python on file descriptors: each generation directory is opened once (``O_NOFOLLOW``), one
``scandir`` of it tells which files exist and which are regular files, and only the files a report
needs are opened relative to it. The result is one column-wise frame; everything after that is
vectorised.

The store is data written by others, possibly hostile, so nothing here follows a symlink (a gen id
directory or a file that is a link is flagged, never read), opens anything but a regular file
(a FIFO would hang the report), reads more than a bounded number of bytes, or builds a path from an
id outside the id grammar (``daydream.paths.id_problem``). A problem with one generation becomes a
value in its row (``refused``, ``read_error``), never an exception that stops the report.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from collections.abc import Iterable
from typing import Any

import pandas as pd

from daydream.errors import DayDreamError, StoreError, located, shown
from daydream.limits import MAX_JUDGE_OUTPUT_CHARS
from daydream.paths import DataLayout, Stage, id_problem
from daydream.values import optional_float

MAX_JSON_BYTES = 1 << 20
"""A generation's JSON files are a few hundred bytes; a bigger one is flagged rather than parsed."""
MAX_PARSED_SCORE_BYTES = 1 << 20
"""An evaluation's ``parsed.txt`` holds a number; the bound only keeps a hostile one cheap."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FIRST_READ = 16384

META_FIELDS = ("template_id", "llm_model_id", "parent_gen_id", "combo_id", "replicate", "mode", "origin_cohort_id")
"""``metadata.json`` fields a report uses; read into ``m_<field>`` columns."""
_META_ALIASES = {"llm_model_id": ("model_id",)}
"""Older DayDreaming spellings, read when the current key is absent (README, "Older stores")."""

RECORD_COLUMNS = (
    "gen_id",
    "found",
    "refused",
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
    "rm_input_mode",
    "rm_copied_from",
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
    "parsed_value",
    "parsed_error",
    "read_error",
)
_INDEX = {name: i for i, name in enumerate(RECORD_COLUMNS)}
_WIDTH = len(RECORD_COLUMNS)


class _TooLarge(Exception):
    pass


def _read_bytes(name: str, dir_fd: int, limit: int, *, cut: bool = False) -> bytes:
    """A regular file's bytes (``O_NOFOLLOW``: a link swapped in after the scandir is refused too).

    More than ``limit`` bytes is ``_TooLarge``, or with ``cut`` the first ``limit`` bytes.
    """
    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        chunk = os.read(fd, min(_FIRST_READ, limit + 1))
        if len(chunk) < _FIRST_READ and len(chunk) <= limit:  # a short read of a regular file is its end
            return chunk
        chunks, total = [chunk], len(chunk)
        while chunk and total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            if not cut:
                raise _TooLarge
            return b"".join(chunks)[:limit]
        return b"".join(chunks)
    finally:
        os.close(fd)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _number(value: Any) -> float | None:
    """A finite float or None: store JSON may hold strings, huge integers or NaN."""
    try:
        number = optional_float(value)
    except OverflowError:
        return None
    return number if number is not None and math.isfinite(number) else None


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
    ("rm_input_mode", "input_mode", _text),
    ("rm_copied_from", "copied_from", _text),
    ("rm_template_sha", "template_sha256", _text),
    ("rm_finish_reason", "finish_reason", _text),
    ("rm_truncated", "truncated", _flag),
    ("cost_usd", "cost_usd", _number),
    ("cost_estimated_usd", "cost_estimated_usd", _number),
)
_USAGE_FIELDS = tuple((name, name, _number) for name in ("prompt_tokens", "completion_tokens", "total_tokens"))
_PARSED_FIELDS = (
    ("pm_success", "success", _flag),
    ("pm_error_kind", "error_kind", _text),
    ("pm_error", "error", _text),
    ("pm_parser", "parser", _text),
    ("pm_score", "score", _number),
    ("pm_scale", "scale", _number),
    ("pm_implied_scale", "implied_scale", _number),
)


def _fill(row: list[Any], data: dict[str, Any], fields: tuple) -> None:
    for column, key, convert in fields:
        row[_INDEX[column]] = convert(data.get(key))


def _fill_meta(row: list[Any], data: dict[str, Any], stage: str) -> None:
    for name in META_FIELDS:
        value = data.get(name)
        aliases = (
            (f"{stage}_template", f"{stage}_template_id") if name == "template_id" else _META_ALIASES.get(name, ())
        )
        for alias in aliases:
            if value in (None, ""):
                value = data.get(alias)
        row[_INDEX[f"m_{name}"]] = _text(value)


def parsed_score(data: bytes) -> tuple[float | None, str | None]:
    """The score in an evaluation's ``parsed.txt``, the way the older pipeline's aggregator read it.

    The last line of the stripped text as a float; an empty file is ``missing parsed.txt`` and any
    other text ``Invalid parsed.txt: ...`` (its very messages, so a notebook filtering on them keeps
    working). Unlike it, NaN and infinity are refused: one of them would make every mean NaN.
    """
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, "Invalid parsed.txt: not UTF-8 text"
    if not text:
        return None, "missing parsed.txt"
    last = text.splitlines()[-1].strip()
    try:
        value = float(last)
    except ValueError:
        return None, f"Invalid parsed.txt: could not convert string to float: {shown(last)}"
    if not math.isfinite(value):
        return None, f"Invalid parsed.txt: not a finite number: {shown(last)}"
    return value, None


class _GenReader:
    """Reads one opened generation directory into a ``RECORD_COLUMNS`` row."""

    def __init__(self, row: list[Any], dir_fd: int, entries: dict[str, bool]):
        self.row, self.dir_fd, self.entries = row, dir_fd, entries
        self.problems: list[str] = []

    def regular(self, name: str) -> bool:
        """Whether ``name`` exists and may be read; a link or a non-file is recorded as a problem."""
        kind = self.entries.get(name)
        if kind is None:
            return False
        if not kind:
            self.problems.append(f"{name}: not a regular file (a link or a directory), not read")
        return kind

    def json(self, name: str) -> dict[str, Any]:
        if not self.regular(name):
            return {}
        try:
            data = json.loads(_read_bytes(name, self.dir_fd, MAX_JSON_BYTES))
        except _TooLarge:
            self.problems.append(f"{name}: larger than {MAX_JSON_BYTES:,} bytes, not read")
            return {}
        except (OSError, ValueError, RecursionError) as exc:  # JSON and Unicode errors are ValueErrors
            self.problems.append(f"{name}: {type(exc).__name__}")
            return {}
        if not isinstance(data, dict):
            self.problems.append(f"{name}: not a JSON object")
            return {}
        return data

    def score(self) -> None:
        """``parsed_value`` / ``parsed_error`` of a done evaluation (one with ``parsed.txt``).

        DayDream's runner writes the score to ``parsed.txt`` and, in the same step, to a successful
        ``parsed_metadata.json``; when that one has it, it is taken from there (one file less to open
        per evaluation). Older stores have no score there and ``parsed.txt`` is read.
        """
        if "parsed.txt" not in self.entries:
            return
        if not self.regular("parsed.txt"):
            self.row[_INDEX["parsed_error"]] = "Read error: parsed.txt is not a regular file"
            return
        if self.row[_INDEX["pm_success"]] is True and self.row[_INDEX["pm_score"]] is not None:
            self.row[_INDEX["parsed_value"]] = self.row[_INDEX["pm_score"]]
            return
        try:
            data = _read_bytes("parsed.txt", self.dir_fd, MAX_PARSED_SCORE_BYTES)
        except _TooLarge:
            self.row[_INDEX["parsed_error"]] = f"Invalid parsed.txt: larger than {MAX_PARSED_SCORE_BYTES:,} bytes"
            return
        except OSError as exc:
            self.row[_INDEX["parsed_error"]] = f"Read error: {exc.strerror or type(exc).__name__}"
            return
        self.row[_INDEX["parsed_value"]], self.row[_INDEX["parsed_error"]] = parsed_score(data)


def _open_gen_dir(stage_fd: int, gen_id: str) -> tuple[int | None, str | None]:
    """``(fd, None)``, ``(None, None)`` when absent, or ``(None, why it was refused)``."""
    try:
        return os.open(gen_id, _DIR_FLAGS, dir_fd=stage_fd), None
    except FileNotFoundError:
        return None, None
    except NotADirectoryError:
        try:
            link = stat.S_ISLNK(os.lstat(gen_id, dir_fd=stage_fd).st_mode)
        except OSError:
            link = False
        return None, "a symlink, not followed" if link else "not a directory"
    except OSError as exc:
        return None, f"cannot open: {exc.strerror or type(exc).__name__}"


def _absent(gen_id: str, refused: str | None = None) -> list[Any]:
    """The row of a generation that has no directory to read (or one that was refused)."""
    row: list[Any] = [None] * _WIDTH
    row[0], row[1], row[2] = gen_id, False, refused
    for column, _ in _PRESENCE:
        row[_INDEX[column]] = False
    return row


def _invalid_id(gen_id: str) -> str | None:
    problem = id_problem(gen_id)
    return None if problem is None else f"invalid gen id {shown(gen_id)}: {problem}"


def read_one(stage_fd: int, gen_id: str, *, stage: str, metadata: bool) -> list[Any]:
    """One generation directory as a ``RECORD_COLUMNS`` row (missing values are None)."""
    invalid = _invalid_id(gen_id)
    if invalid is not None:
        return _absent(gen_id, invalid)
    fd, refused = _open_gen_dir(stage_fd, gen_id)
    if fd is None:
        return _absent(gen_id, refused)
    row: list[Any] = [None] * _WIDTH
    row[0] = gen_id
    try:
        with os.scandir(fd) as scan:
            entries = {e.name: e.is_file(follow_symlinks=False) for e in scan}
        row[1] = True
        for column, name in _PRESENCE:
            row[_INDEX[column]] = name in entries
        reader = _GenReader(row, fd, entries)
        if metadata:
            _fill_meta(row, reader.json("metadata.json"), stage)
        if "error.json" in entries:
            _fill(row, reader.json("error.json"), _ERROR_FIELDS)
        if "raw_metadata.json" in entries:
            raw = reader.json("raw_metadata.json")
            _fill(row, raw, _RAW_FIELDS)
            _fill(row, raw["usage"] if isinstance(raw.get("usage"), dict) else {}, _USAGE_FIELDS)
        if stage == "evaluation":
            if "parsed_metadata.json" in entries:
                _fill(row, reader.json("parsed_metadata.json"), _PARSED_FIELDS)
            reader.score()
        if reader.problems:
            row[_INDEX["read_error"]] = "; ".join(reader.problems)
    except OSError as exc:  # the directory vanished or became unreadable while being read
        row[_INDEX["read_error"]] = f"cannot read the directory: {exc.strerror or type(exc).__name__}"
    finally:
        os.close(fd)
    return row


def _open_stage_dir(layout: DataLayout, stage: Stage) -> int | None:
    """The stage directory, refused when it leaves the data root (a symlinked ``gens/``, say)."""
    path = layout.stage_dir(stage)
    layout.inside(path)
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise StoreError(located("not a directory", file=path)) from None


def read_gens(layout: DataLayout, stage: Stage, gen_ids: Iterable[str], *, metadata: bool) -> pd.DataFrame:
    """Records of ``gen_ids`` of one stage, one row each, in ``RECORD_COLUMNS``."""
    ids = list(dict.fromkeys(gen_ids))
    stage_fd = _open_stage_dir(layout, stage) if ids else None
    try:
        if stage_fd is None:
            rows = [_absent(gen_id, _invalid_id(gen_id)) for gen_id in ids]
        else:
            rows = [read_one(stage_fd, gen_id, stage=stage, metadata=metadata) for gen_id in ids]
    finally:
        if stage_fd is not None:
            os.close(stage_fd)
    frame = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    frame = frame.astype({c: "object" for c in RECORD_COLUMNS}) if frame.empty else frame
    frame.insert(1, "stage", stage)
    return frame


def list_gen_ids(layout: DataLayout, stage: Stage) -> list[str]:
    """Every entry of a stage directory that could be a generation (sorted; hidden names skipped).

    Links and names outside the id grammar are listed too: ``read_gens`` flags them in their row
    rather than the report silently leaving them out.
    """
    stage_dir = layout.stage_dir(stage)
    layout.inside(stage_dir)
    try:
        with os.scandir(stage_dir) as entries:
            return sorted(
                e.name
                for e in entries
                if not e.name.startswith(".") and (e.is_dir(follow_symlinks=False) or e.is_symlink())
            )
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise StoreError(located("not a directory", file=stage_dir)) from None


def read_gen_text(
    layout: DataLayout, stage: Stage, gen_id: str, name: str, *, limit: int | None = None
) -> tuple[str | None, str | None]:
    """``(text, None)`` of one generation's file, or ``(None, why not)``.

    With ``limit``, the first ``limit`` characters (a page showing a document or a judge's
    reasoning); without, the whole file, refused above ``MAX_JUDGE_OUTPUT_CHARS`` (re-parsing).
    The same refusals as ``read_gens`` (an invalid id, a link, anything but a regular file), so a
    hostile membership or store can never make a report show a file from outside the data root.
    """
    invalid = _invalid_id(gen_id)
    if invalid is not None:
        return None, invalid
    try:
        stage_fd = _open_stage_dir(layout, stage)
    except DayDreamError as exc:
        return None, str(exc)
    if stage_fd is None:
        return None, "file not found"
    try:
        fd, refused = _open_gen_dir(stage_fd, gen_id)
    finally:
        os.close(stage_fd)
    if fd is None:
        return None, f"gens/{stage}/{gen_id}: {refused}" if refused else "file not found"
    chars = limit if limit is not None else MAX_JUDGE_OUTPUT_CHARS.value
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            return None, f"{name}: not a regular file (a link or a directory), not read"
        data = _read_bytes(name, fd, 4 * chars, cut=limit is not None)  # UTF-8: at most 4 bytes a character
    except FileNotFoundError:
        return None, "file not found"
    except _TooLarge:
        return None, f"{name}: larger than the limit of {chars:,} characters ({MAX_JUDGE_OUTPUT_CHARS.env}), not read"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, f"{name}: a symlink, not followed"
        return None, f"{name}: {exc.strerror or type(exc).__name__}"
    finally:
        os.close(fd)
    text = data.decode("utf-8", errors="replace")
    if limit is None and len(text) > chars:
        return None, f"{name}: larger than the limit of {chars:,} characters ({MAX_JUDGE_OUTPUT_CHARS.env}), not read"
    return text[:chars], None
