"""Fast and safe reading of the gens store for reports.

A report over 100,000 evaluations reads a few hundred thousand small files, so this module stays
plain Python on file descriptors: each generation directory is opened once (``O_NOFOLLOW``), the
files a report needs are opened relative to it and the presence of the others is an ``lstat`` each.
The result is one column-wise frame; everything after that is vectorised.

The store is data written by others, possibly hostile: through ``safefs`` nothing here follows a
symlink (a gen id directory or a file that is a link is flagged, never read), blocks on a FIFO,
reads more than a bounded number of bytes, or builds a path from an id outside the id grammar
(``daydream.paths.id_problem``). A problem with one generation becomes a value in its row
(``refused``, ``read_error``), never an exception that stops the report.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import pandas as pd

from daydream.errors import StoreError, located, shown
from daydream.paths import DataLayout, Stage
from daydream.reports import coldread
from daydream.reports.safefs import TooLarge, invalid_id, open_gen_dir, open_stage_dir, read_bytes, read_gen_text
from daydream.storage.objpath import ObjectPath
from daydream.values import optional_float

MAX_JSON_BYTES = 1 << 20
"""A generation's JSON files are a few hundred bytes; a bigger one is flagged rather than parsed."""
MAX_PARSED_SCORE_BYTES = 1 << 20
"""An evaluation's ``parsed.txt`` holds a number; the bound only keeps a hostile one cheap."""

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


_TEXT, _FLAG, _NUMBER = "text", "flag", "number"
_BIG = 1 << 1000


def _number(value: Any) -> float | None:
    """A finite float or None: store JSON may hold strings, huge integers or NaN."""
    try:
        number = optional_float(value)
    except OverflowError:
        return None
    return number if number is not None and math.isfinite(number) else None


def _convert(value: Any, kind: str) -> Any:
    """A JSON value as the column's kind, None when it cannot be one (then it is flagged).

    Written for speed (it runs a million times for a large store): the common types first.
    """
    kind_of = type(value)
    if kind is _TEXT:
        if kind_of is str:
            return value
        return None if kind_of is dict or kind_of is list else str(value)
    if kind is _NUMBER:
        if kind_of is float:
            return value if math.isfinite(value) else None
        return _number(value)
    return bool(value)


_PRESENCE = (
    ("has_metadata", "metadata.json"),
    ("has_raw", "raw.txt"),
    ("has_parsed", "parsed.txt"),
    ("has_error", "error.json"),
    ("has_raw_meta", "raw_metadata.json"),
    ("has_parsed_meta", "parsed_metadata.json"),
)


_PRESENCE_INDEX = tuple((_INDEX[column], name) for column, name in _PRESENCE)
_HAS = {name: index for index, name in _PRESENCE_INDEX}


def _fields(*spec: tuple[str, str, str]) -> tuple[tuple[int, str, str], ...]:
    """``(column, key in the JSON file, kind)`` as ``(column index, key, kind)``."""
    return tuple((_INDEX[column], key, kind) for column, key, kind in spec)


_ERROR_FIELDS = _fields(("error_kind", "kind", _TEXT), ("error_message", "error", _TEXT))
_RAW_FIELDS = _fields(
    ("rm_llm_model_id", "llm_model_id", _TEXT),
    ("rm_model", "model", _TEXT),
    ("rm_mode", "mode", _TEXT),
    ("rm_input_mode", "input_mode", _TEXT),
    ("rm_copied_from", "copied_from", _TEXT),
    ("rm_template_sha", "template_sha256", _TEXT),
    ("rm_finish_reason", "finish_reason", _TEXT),
    ("rm_truncated", "truncated", _FLAG),
    ("cost_usd", "cost_usd", _NUMBER),
    ("cost_estimated_usd", "cost_estimated_usd", _NUMBER),
)
_META_COLUMNS = _fields(*((f"m_{name}", name, _TEXT) for name in META_FIELDS))
_USAGE_FIELDS = _fields(*((name, name, _NUMBER) for name in ("prompt_tokens", "completion_tokens", "total_tokens")))
_PARSED_FIELDS = _fields(
    ("pm_success", "success", _FLAG),
    ("pm_error_kind", "error_kind", _TEXT),
    ("pm_error", "error", _TEXT),
    ("pm_parser", "parser", _TEXT),
    ("pm_score", "score", _NUMBER),
    ("pm_scale", "scale", _NUMBER),
    ("pm_implied_scale", "implied_scale", _NUMBER),
)
_DECODE = json.JSONDecoder().decode
_FAST_DECODE = msgspec.json.Decoder().decode


def decode_json(data: bytes) -> Any:
    """A JSON file's bytes as Python values: msgspec's decoder (3-4x faster on 300,000 small files),
    and where it refuses the bytes (NaN, infinity, a lone surrogate, invalid UTF-8, malformed JSON)
    the standard library's, so the values and the errors are exactly ``json.loads``'s."""
    try:
        return _FAST_DECODE(data)
    except msgspec.MsgspecError:
        return _DECODE(data.decode("utf-8"))


def _aliases(name: str, stage: str) -> tuple[str, ...]:
    if name == "template_id":
        return (f"{stage}_template", f"{stage}_template_id")
    return _META_ALIASES.get(name, ())


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
    """Reads one opened generation directory into a ``RECORD_COLUMNS`` row.

    No ``listdir`` of the directory: a JSON file the report reads is simply opened (absent when that
    fails with ``ENOENT``) and the presence of the others is one ``lstat`` each. Listing cost 12 us a
    directory, a third of a generation's syscalls (100,000 evaluations: 1.2 s of CPU). A name that is a
    link or a directory counts as present, as in a listing, and is refused when opened.
    """

    def __init__(self, row: list[Any], dir_fd: int):
        self.row, self.dir_fd = row, dir_fd
        self.problems: list[str] = []
        self._modes: dict[str, int | None] = {}

    def mode(self, name: str) -> int | None:
        """``st_mode`` of ``name`` (not following a link), None when absent."""
        if name not in self._modes:
            try:
                self._modes[name] = os.stat(name, dir_fd=self.dir_fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                self._modes[name] = None
        return self._modes[name]

    def present(self, name: str) -> bool:
        return self.mode(name) is not None

    def json_if_present(self, name: str) -> dict[str, Any] | None:
        """The JSON object in ``name``: ``{}`` and a problem when it cannot be read or is not one,
        None when there is no such file."""
        return self._json(name, lambda: read_bytes(name, self.dir_fd, MAX_JSON_BYTES), absent=True)

    def _json(self, name: str, read: Callable[[], bytes], *, absent: bool) -> dict[str, Any] | None:
        """``read()``'s JSON object; with ``absent``, a missing file is None rather than a problem."""
        try:
            data = read()
        except FileNotFoundError as exc:
            if absent:
                return None
            self.problems.append(self._unreadable(name, exc))
            return {}
        except TooLarge:
            self.problems.append(f"{name}: larger than {MAX_JSON_BYTES:,} bytes, not read")
            return {}
        except OSError as exc:
            self.problems.append(self._unreadable(name, exc))
            return {}
        return self._object(name, data)

    def fill(self, data: dict[str, Any], fields: tuple[tuple[int, str, str], ...], name: str) -> None:
        """Columns from a JSON object; a value of the wrong type is left out and named as a problem."""
        wrong = []
        row = self.row
        get = data.get
        for index, key, kind in fields:
            value = get(key)
            if value is None:  # rows start as None
                continue
            kind_of = type(value)
            if (kind_of is str and kind is _TEXT) or (kind_of is bool and kind is _FLAG):  # the common cases
                row[index] = value
                continue
            if kind is _NUMBER and (
                (kind_of is float and value - value == 0.0)  # finite: inf - inf is NaN
                or (kind_of is int and -_BIG < value < _BIG)  # token counts: float() cannot overflow
            ):
                row[index] = float(value)
                continue
            converted = row[index] = _convert(value, kind)
            if converted is None:
                wrong.append(key)
        if wrong:
            self.problems.append(f"{name}: unusable value of {', '.join(wrong)}")

    def fill_meta(self, data: dict[str, Any], stage: str) -> None:
        """``m_<field>`` columns from ``metadata.json``, reading the older spellings too."""
        self.fill(data, _META_COLUMNS, "metadata.json")
        for name in ("template_id", "llm_model_id"):
            index = _INDEX[f"m_{name}"]
            for alias in _aliases(name, stage):
                if self.row[index] in (None, "") and data.get(alias) not in (None, ""):
                    self.row[index] = _convert(data[alias], _TEXT)

    def _unreadable(self, name: str, exc: OSError) -> str:
        if exc.errno == errno.ELOOP:
            return f"{name}: a symlink, not followed"
        if exc.errno == errno.EISDIR:
            return f"{name}: a directory, not a file"
        return f"{name}: {exc.strerror or type(exc).__name__}"

    def _object(self, name: str, data: bytes) -> dict[str, Any]:
        """The JSON object in ``data``; ``{}`` and a problem when it is not one."""
        try:
            value = decode_json(data)
        except (ValueError, RecursionError) as exc:  # JSON and Unicode errors are ValueErrors
            self.problems.append(f"{name}: {type(exc).__name__}")
            return {}
        if not isinstance(value, dict):
            self.problems.append(f"{name}: not a JSON object")
            return {}
        return value

    def score(self) -> None:
        """``parsed_value`` / ``parsed_error`` of a done evaluation (one with ``parsed.txt``).

        DayDream's runner writes the score to ``parsed.txt`` and, in the same step, to a successful
        ``parsed_metadata.json``; when that one has it, it is taken from there (one file less to open
        per evaluation). Older stores have no score there and ``parsed.txt`` is read.
        """
        mode = self.mode("parsed.txt")
        if mode is None:
            return
        if self.row[_INDEX["pm_success"]] is True and self.row[_INDEX["pm_score"]] is not None:
            # not opened, but a link or a non-file as the done marker is refused all the same
            if stat.S_ISREG(mode):
                self.row[_INDEX["parsed_value"]] = self.row[_INDEX["pm_score"]]
            else:
                self.row[_INDEX["parsed_error"]] = "Read error: parsed.txt: not a regular file (a link?), not read"
            return
        try:
            data = read_bytes("parsed.txt", self.dir_fd, MAX_PARSED_SCORE_BYTES)
        except TooLarge:
            self.row[_INDEX["parsed_error"]] = f"Invalid parsed.txt: larger than {MAX_PARSED_SCORE_BYTES:,} bytes"
            return
        except OSError as exc:
            self.row[_INDEX["parsed_error"]] = f"Read error: {self._unreadable('parsed.txt', exc)}"
            return
        self.row[_INDEX["parsed_value"]], self.row[_INDEX["parsed_error"]] = parsed_score(data)


def fill_row(reader: _GenReader, stage: str, metadata: bool) -> None:
    """The presence columns and what the JSON files say, for both backends (``loader_objects``): a
    generation's ``metadata.json`` only with ``metadata``, its ``parsed_metadata.json`` only for an
    evaluation, and always ``error.json`` and ``raw_metadata.json``."""
    row = reader.row

    def read(name: str) -> dict[str, Any] | None:
        """The file's JSON object (None when absent), its presence column set on the way."""
        data = reader.json_if_present(name)
        row[_HAS[name]] = data is not None
        return data

    def note(name: str) -> None:
        row[_HAS[name]] = reader.present(name)

    if not metadata:
        note("metadata.json")
    elif (meta := read("metadata.json")) is not None:
        reader.fill_meta(meta, stage)
    if (error := read("error.json")) is not None:
        reader.fill(error, _ERROR_FIELDS, "error.json")
    if (raw := read("raw_metadata.json")) is not None:
        reader.fill(raw, _RAW_FIELDS, "raw_metadata.json")
        usage = raw.get("usage")
        if usage is not None and not isinstance(usage, dict):
            reader.problems.append("raw_metadata.json: unusable value of usage")
        reader.fill(usage if isinstance(usage, dict) else {}, _USAGE_FIELDS, "raw_metadata.json usage")
    if stage != "evaluation":
        note("parsed_metadata.json")
    elif (parsed := read("parsed_metadata.json")) is not None:
        reader.fill(parsed, _PARSED_FIELDS, "parsed_metadata.json")
    note("raw.txt")
    note("parsed.txt")


def _absent(gen_id: str, refused: str | None = None) -> list[Any]:
    """The row of a generation that has no directory to read (or one that was refused)."""
    row: list[Any] = [None] * _WIDTH
    row[0], row[1], row[2] = gen_id, False, refused
    for index, _ in _PRESENCE_INDEX:
        row[index] = False
    return row


def read_one(stage_fd: int, gen_id: str, *, stage: str, metadata: bool) -> list[Any]:
    """One generation directory as a ``RECORD_COLUMNS`` row (missing values are None)."""
    invalid = invalid_id(gen_id)
    if invalid is not None:
        return _absent(gen_id, invalid)
    fd, refused = open_gen_dir(stage_fd, gen_id)
    if fd is None:
        return _absent(gen_id, refused)
    row: list[Any] = [None] * _WIDTH
    row[0], row[1] = gen_id, True
    try:
        reader = _GenReader(row, fd)
        fill_row(reader, stage, metadata)
        if stage == "evaluation":
            reader.score()
        if reader.problems:
            row[_INDEX["read_error"]] = "; ".join(reader.problems)
    except OSError as exc:  # the directory vanished or became unreadable while being read
        row[_INDEX["read_error"]] = f"cannot read the directory: {exc.strerror or type(exc).__name__}"
    finally:
        os.close(fd)
    return row


def read_gens(layout: DataLayout, stage: Stage, gen_ids: Iterable[str], *, metadata: bool) -> pd.DataFrame:
    """Records of ``gen_ids`` of one stage, one row each, in ``RECORD_COLUMNS``."""
    if isinstance(layout.root, ObjectPath):  # batched listing and concurrent reads
        from daydream.reports import loader_objects

        return loader_objects.read_gens(layout, stage, gen_ids, metadata=metadata)
    ids = list(dict.fromkeys(gen_ids))
    stage_fd = open_stage_dir(layout, stage) if ids else None
    try:
        if stage_fd is None:
            rows = [_absent(gen_id, invalid_id(gen_id)) for gen_id in ids]
        else:
            rows = coldread.read_in_chunks(
                ids, lambda chunk: [read_one(stage_fd, gen_id, stage=stage, metadata=metadata) for gen_id in chunk]
            )
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
    if isinstance(layout.root, ObjectPath):
        from daydream.reports import loader_objects

        return loader_objects.list_gen_ids(layout, stage)
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


def read_text_file(layout: DataLayout, stage: Stage, gen_id: str, name: str, *, limit: int | None = None) -> str | None:
    """A generation's text file, or None when it is absent or refused (``safefs.read_gen_text`` says why)."""
    return read_gen_text(layout, stage, gen_id, name, limit=limit)[0]
