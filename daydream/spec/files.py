"""Files a spec reads: the spec itself and its ``@file:`` tables, each bounded and kept in its place.

An ``@file:`` path is the researcher's, but the spec may come from anywhere (a shared cohort, a
copied data directory), so the path may not leave the spec's directory (or the data root, when the
caller knows it) after symlinks are followed: ``@file:/etc/shadow``, ``@file:../../x`` and a
symlink pointing out are refused before the file is opened, so no error can echo a line of a file
nobody meant to show. Every file is refused above ``MAX_SPEC_BYTES`` before it is read whole.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from daydream.csvio import read_rows
from daydream.errors import DayDreamError, OutsideDataRootError, SpecError, located
from daydream.limits import MAX_SPEC_BYTES, over_limit
from daydream.paths import DataLayout
from daydream.spec.values import Site, clip
from daydream.spec.yamlsafe import load_json, load_yaml
from daydream.storage.objpath import ObjectPath

FILE_PREFIX = "@file:"
FILE_SUFFIXES = (".csv", ".txt", ".yaml", ".yml", ".json")


def _opened(path: Path, what: str) -> BinaryIO:
    """``path`` opened for reading once it is known to be a regular file within ``MAX_SPEC_BYTES``.

    The checks run on the open descriptor (``O_NONBLOCK``, so a FIFO cannot block the open), which
    refuses a device or a FIFO that would make a read without end.
    """
    if isinstance(path, ObjectPath):
        return _opened_object(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise SpecError(located(f"{what} not found", file=path)) from None
    except IsADirectoryError:
        raise SpecError(located(f"is a directory, expected a {what}", file=path)) from None
    except OSError as exc:
        raise SpecError(located(f"cannot read: {exc.strerror}", file=path)) from None
    info = os.fstat(fd)
    problem = None
    if stat.S_ISDIR(info.st_mode):
        problem = f"is a directory, expected a {what}"
    elif not stat.S_ISREG(info.st_mode):
        problem = f"not a regular file, expected a {what}"
    elif (too_big := over_limit(info.st_size, MAX_SPEC_BYTES)) is not None:
        problem = f"file too large: {too_big}"
    if problem is not None:
        os.close(fd)
        raise SpecError(located(problem, file=path))
    handle = os.fdopen(fd, "rb")
    return handle


def _opened_object(path: ObjectPath, what: str) -> BinaryIO:
    """``_opened`` on object storage: the size from a HEAD, before the GET."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SpecError(located(f"{what} not found", file=path)) from None
    if not path.is_file():
        raise SpecError(located(f"is a directory, expected a {what}", file=path))
    if (too_big := over_limit(size, MAX_SPEC_BYTES)) is not None:
        raise SpecError(located(f"file too large: {too_big}", file=path))
    return io.BytesIO(path.read_bytes())


def read_bounded(path: Path, what: str) -> str:
    """The UTF-8 text of a regular file, refused when larger than ``MAX_SPEC_BYTES``; the read is capped
    too, so a file that grows meanwhile is refused rather than read without end."""
    with _opened(path, what) as handle:
        try:
            data = handle.read(MAX_SPEC_BYTES.value + 1)
        except OSError as exc:
            raise SpecError(located(f"cannot read: {exc.strerror}", file=path)) from None
    too_big = over_limit(len(data), MAX_SPEC_BYTES)
    if too_big is not None:
        raise SpecError(located(f"file too large: {too_big}", file=path))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(located(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path)) from None


def _within(root: Path, file: Path) -> bool:
    """``DataLayout.inside`` is the one resolver that keeps a path under a root, symlinks followed."""
    try:
        DataLayout(root).inside(file)
    except OutsideDataRootError:
        return False
    return True


def resolve(ref: str, spec: Path, data_root: Path | None, site: Site) -> Path:
    """The file an ``@file:`` names, refused unless it stays in the spec's directory or the data root."""
    relative = ref[len(FILE_PREFIX) :].strip()
    shown_ref = clip(relative)
    if not relative or "\x00" in relative:
        raise site.error(f"{FILE_PREFIX} names no file")
    if PurePosixPath(relative).is_absolute() or relative.startswith("~"):
        raise site.error(f"@file '{shown_ref}' is an absolute path; write it relative to the spec's directory")
    file = spec.parent / relative
    roots = [spec.parent] + ([data_root] if data_root is not None else [])
    if not any(_within(root, file) for root in roots):
        place = "the spec's directory" + (" and the data root" if data_root is not None else "")
        raise site.error(f"@file '{shown_ref}' leaves {place} ('..' or a symlink pointing out); copy the file in")
    try:
        info: os.stat_result | None = os.stat(file)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise site.error(f"@file '{shown_ref}': cannot read: {exc.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise site.error(f"@file '{shown_ref}' is a directory, expected a file ({', '.join(FILE_SUFFIXES)})")
    if file.suffix.lower() not in FILE_SUFFIXES:
        raise site.error(f"@file '{shown_ref}': unsupported file type (use one of {', '.join(FILE_SUFFIXES)})")
    if info is None:
        raise site.error(f"@file not found: {file}")
    return file


@dataclass(frozen=True)
class Table:
    """Rows read from an ``@file``; ``header`` only for CSV, where it names the columns."""

    header: tuple[str, ...] | None
    rows: list[tuple[Any, ...]]

    @property
    def width(self) -> int:
        return len(self.rows[0]) if self.rows else 0


def _read_csv(file: Path) -> Table:
    _opened(file, "CSV file").close()  # the size bound and a clear error for a device; csvio streams the rows
    header: tuple[str, ...] | None = None
    rows: list[tuple[str, ...]] = []
    for row_no, row in read_rows(file, [], error=SpecError):
        if header is None:
            header = tuple(row)
        cells = tuple(row.values())
        if len(cells) > 1 and not all(cells):
            blank = next(name for name, cell in row.items() if not cell)
            raise SpecError(located("empty cell", file=file, row=row_no, field=blank))
        rows.append(cells)
    return Table(header, rows)


def _read_txt(file: Path) -> Table:
    lines = (line.strip() for line in read_bounded(file, "text file").splitlines())
    return Table(None, [(line,) for line in lines if line and not line.startswith("#")])


def _read_structured(file: Path) -> Table:
    text = read_bounded(file, "list file")
    data = load_json(text, file) if file.suffix.lower() == ".json" else load_yaml(text, file)
    if data is None and file.suffix.lower() != ".json":
        data = []
    if not isinstance(data, list):  # the content is not quoted: the file may hold anything
        got = "a mapping" if isinstance(data, dict) else f"a {type(data).__name__} value"
        raise SpecError(located(f"expected a list, got {got}", file=file))
    return Table(None, [tuple(item) if isinstance(item, (list, tuple)) else (item,) for item in data])


_READERS = {".csv": _read_csv, ".txt": _read_txt, ".yaml": _read_structured, ".yml": _read_structured}
_READERS[".json"] = _read_structured


def read_table(ref: str, spec: Path, data_root: Path | None, site: Site) -> Table:
    """An ``@file`` table; errors name the spec, the rule and the file."""
    file = resolve(ref, spec, data_root, site)
    shown_ref = clip(ref[len(FILE_PREFIX) :].strip())
    try:
        table = _READERS[file.suffix.lower()](file)
    except DayDreamError as exc:
        raise site.error(f"@file '{shown_ref}': {exc}") from None
    if not table.rows:
        raise site.error(f"@file '{shown_ref}' has no values")
    return table
