"""Reading a gens store that may be hostile: no link followed, nothing but regular files opened,
every read bounded, no path built from an id outside the grammar.

The store is data written by others. A generation directory or file that is a symlink could point
anywhere (``/etc``, another user's data), a FIFO would hang a report, a gigabyte ``raw.txt`` would eat
its memory. Directories are opened with ``O_NOFOLLOW`` and files relative to them
(``dir_fd``, ``O_NOFOLLOW | O_NONBLOCK``), so even a link swapped in after a check is refused.
"""

from __future__ import annotations

import errno
import os
import stat

from daydream.errors import DayDreamError, StoreError, located, shown
from daydream.limits import MAX_JUDGE_OUTPUT_CHARS
from daydream.paths import DataLayout, Stage, id_problem
from daydream.storage.objpath import ObjectPath

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FIRST_READ = 16384


class TooLarge(Exception):
    pass


def read_bytes(name: str, dir_fd: int, limit: int, *, cut: bool = False) -> bytes:
    """A regular file's bytes (``O_NOFOLLOW``: a link swapped in after the scandir is refused too).

    More than ``limit`` bytes is ``TooLarge``, or with ``cut`` the first ``limit`` bytes.
    """
    fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
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
                raise TooLarge
            return b"".join(chunks)[:limit]
        return b"".join(chunks)
    finally:
        os.close(fd)


def invalid_id(gen_id: str) -> str | None:
    problem = id_problem(gen_id)
    return None if problem is None else f"invalid gen id {shown(gen_id)}: {problem}"


def open_gen_dir(stage_fd: int, gen_id: str) -> tuple[int | None, str | None]:
    """``(fd, None)``, ``(None, None)`` when absent, or ``(None, why it was refused)``."""
    try:
        return os.open(gen_id, DIR_FLAGS, dir_fd=stage_fd), None
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


def open_stage_dir(layout: DataLayout, stage: Stage) -> int | None:
    """The stage directory, refused when it leaves the data root (a symlinked ``gens/``, say)."""
    path = layout.stage_dir(stage)
    layout.inside(path)
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise StoreError(located("not a directory", file=path)) from None


def read_gen_text(
    layout: DataLayout, stage: Stage, gen_id: str, name: str, *, limit: int | None = None
) -> tuple[str | None, str | None]:
    """``(text, None)`` of one generation's file, or ``(None, why not)``.

    With ``limit``, the first ``limit`` characters (a page showing a document or a judge's
    reasoning); without, the whole file, refused above ``MAX_JUDGE_OUTPUT_CHARS`` (re-parsing).
    The same refusals as ``read_gens`` (an invalid id, a link, anything but a regular file), so a
    hostile membership or store can never make a report show a file from outside the data root.
    """
    return read_gen_texts(layout, stage, [gen_id], name, limit=limit)[0]


def read_gen_texts(
    layout: DataLayout, stage: Stage, gen_ids: list[str], name: str, *, limit: int | None = None
) -> list[tuple[str | None, str | None]]:
    """``read_gen_text`` of many generations of one stage, the stage directory opened (and checked
    inside the data root) once: a tournament's 12,000 absolute scores in one pass."""
    if isinstance(layout.root, ObjectPath):
        return [
            (None, invalid) if (invalid := invalid_id(g)) else _read_object_text(layout, stage, g, name, limit)
            for g in gen_ids
        ]
    try:
        stage_fd = open_stage_dir(layout, stage)
    except DayDreamError as exc:
        return [(None, str(exc))] * len(gen_ids)
    if stage_fd is None:
        return [(None, "file not found")] * len(gen_ids)
    try:
        return [_read_at(stage_fd, stage, g, name, limit) for g in gen_ids]
    finally:
        os.close(stage_fd)


def _read_at(stage_fd: int, stage: Stage, gen_id: str, name: str, limit: int | None) -> tuple[str | None, str | None]:
    invalid = invalid_id(gen_id)
    if invalid is not None:
        return None, invalid
    fd, refused = open_gen_dir(stage_fd, gen_id)
    if fd is None:
        return None, f"gens/{stage}/{gen_id}: {refused}" if refused else "file not found"
    chars = limit if limit is not None else MAX_JUDGE_OUTPUT_CHARS.value
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            return None, f"{name}: not a regular file (a link or a directory), not read"
        data = read_bytes(name, fd, 4 * chars, cut=limit is not None)  # UTF-8: at most 4 bytes a character
    except FileNotFoundError:
        return None, "file not found"
    except TooLarge:
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


def _read_object_text(
    layout: DataLayout, stage: Stage, gen_id: str, name: str, limit: int | None
) -> tuple[str | None, str | None]:
    """``read_gen_text`` on object storage: a HEAD for the size bound, then one GET."""
    chars = limit if limit is not None else MAX_JUDGE_OUTPUT_CHARS.value
    path = layout.gen_dir(stage, gen_id) / name
    head = path.storage.head(path.key)  # type: ignore[attr-defined]
    if head is None:
        return None, "file not found"
    if limit is None and head[0] > 4 * chars:
        return None, f"{name}: larger than the limit of {chars:,} characters ({MAX_JUDGE_OUTPUT_CHARS.env}), not read"
    text = path.read_bytes().decode("utf-8", errors="replace")
    if limit is None and len(text) > chars:
        return None, f"{name}: larger than the limit of {chars:,} characters ({MAX_JUDGE_OUTPUT_CHARS.env}), not read"
    return text[:chars], None
