"""Atomic file writes, moves and removals: the few write paths of the data root.

A worker killed mid-write must leave either the old file or the new one, never half of one: write a
temporary file in the same directory (same filesystem, so ``os.replace`` is atomic), fsync, rename.
Every change to the data root goes through this module (and ``daydream.locks``): on object storage
(the path is a ``daydream.storage.objpath.ObjectPath``) each function here is the storage's own
operation instead (a PUT is already atomic; write-once is a conditional create), and a local path
takes exactly the code it always took, at the price of one ``isinstance``.

A failure (permission denied, disk full, a file where a directory should be) is a ``WriteError``: a
``DayDreamError`` (one line naming the path, exit 2 from the CLI) that is still an ``OSError``, so
callers that handle ``OSError`` keep working.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from daydream.errors import DayDreamError, located
from daydream.storage import objects
from daydream.storage.objpath import ObjectPath


class WriteError(DayDreamError, OSError):
    """Something under the data root could not be written, moved or removed."""

    def __init__(self, path: str | os.PathLike[str], exc: OSError, action: str = "write"):
        super().__init__(exc.errno, exc.strerror)
        self.message = located(f"cannot {action}: {_problem(Path(path), exc)}", file=Path(path))

    def __str__(self) -> str:
        return self.message


def _problem(path: Path, exc: OSError) -> str:
    if isinstance(exc, NotADirectoryError | FileExistsError):
        for parent in path.parents:
            try:
                if parent.is_file():
                    return f"{parent} is a file, not a directory"
            except OSError:
                break
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    return exc.strerror or str(exc)


def _mkdirs(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(path, exc) from None


TEMP_SUFFIX = ".tmp"


def _temp_file(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path``, named ``.<name>.<random>.tmp`` (``interrupted_target`` reads it back)."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise WriteError(path, exc) from None


def interrupted_target(name: str) -> str | None:
    """The file a temporary file named ``name`` was about to become, None when ``name`` is not one.

    A temporary file that outlives its write is a writer killed between ``mkstemp`` and the rename
    (SIGKILL, power loss): its target was never replaced, so the file is garbage."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return None
    target, dot, _random = name[1 : -len(TEMP_SUFFIX)].rpartition(".")
    return target if dot and target else None


def write_bytes(path: str | Path, data: bytes, *, fsync: bool = True) -> Path:
    if isinstance(path, ObjectPath):
        return objects.write_bytes(path, data)
    path = Path(path)
    _mkdirs(path)
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(path, exc) from None
        raise
    return path


def write_text(path: str | Path, text: str, *, fsync: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), fsync=fsync)


def dumps_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"


def write_json(path: str | Path, obj: Any, *, fsync: bool = True) -> Path:
    return write_text(path, dumps_json(obj), fsync=fsync)


def create_exclusive(path: str | Path, data: bytes) -> bool:
    """Atomically create ``path`` with ``data`` unless it exists; True when this call created it.

    Used for seeding ``metadata.json`` of many generations: the temporary file is linked into place
    (``os.link`` fails if the target exists), so a concurrent writer never sees a partial file and an
    existing file is never replaced. On object storage: ``PUT If-None-Match: *``.
    """
    if isinstance(path, ObjectPath):
        return objects.create_exclusive(path, data)
    path = Path(path)
    if path.exists():
        return False
    _mkdirs(path)
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    except OSError as exc:
        raise WriteError(path, exc) from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def append_line(path: str | Path, line: str) -> None:
    """Append one line with a single ``write`` on an ``O_APPEND`` descriptor, looping on a short write.

    The caller holds ``locks.hold(path)``: appends of many processes then follow one another whole.
    A line left without its newline by a writer that died mid-write is ended first, so the damage
    stays on that one line and the new record is whole. On object storage, where nothing can be
    appended to, the caller's ``hold`` is a lease and this is a read and a PUT of the whole file.
    """
    if isinstance(path, ObjectPath):
        return objects.append_line(path, line)
    path = Path(path)
    _mkdirs(path)
    data = line.rstrip("\n").encode("utf-8") + b"\n"
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WriteError(path, exc) from None
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise WriteError(path, exc) from None
    finally:
        os.close(fd)


def copy_file(source: str | Path, target: str | Path) -> Path:
    """``target`` becomes a copy of ``source``, written atomically (an archive never shares an inode
    with the file it preserves, so a later in-place edit of one cannot change the other)."""
    if isinstance(source, ObjectPath) or isinstance(target, ObjectPath):
        return objects.copy_file(source, target)
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise WriteError(source, exc, "copy") from None
    return write_bytes(target, data)


def rename_new(source: str | Path, target: str | Path) -> Path:
    """Move ``source`` (a file or a directory) to ``target``, which must not exist yet."""
    if isinstance(source, ObjectPath) or isinstance(target, ObjectPath):
        return objects.rename_new(source, target)
    target = Path(target)
    _mkdirs(target)
    try:
        if target.exists() or target.is_symlink():
            raise FileExistsError(errno.EEXIST, "already exists")
        os.rename(source, target)
    except OSError as exc:
        raise WriteError(target, exc, "move") from None
    return target


def remove_file(path: str | Path) -> bool:
    """Remove one file (or symlink); False when it was already gone."""
    if isinstance(path, ObjectPath):
        return objects.remove_file(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WriteError(path, exc, "remove") from None
    return True


def remove_tree(path: str | Path) -> bool:
    """Remove a directory and everything in it without following symlinks; False when already gone."""
    if isinstance(path, ObjectPath):
        return objects.remove_tree(path)
    path = Path(path)
    if path.is_symlink() or path.is_file():
        return remove_file(path)
    if not path.exists():
        return False
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise WriteError(path, exc, "remove") from None
    return True
