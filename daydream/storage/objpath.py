"""A data root on object storage that the rest of DayDream can hold like a ``Path``: the narrow seam.

Every module builds its paths from ``DataLayout`` (``layout.gen_dir(...) / "raw.txt"``) and reads them
with the ``pathlib`` calls (``read_text``, ``exists``, ``iterdir``, ``glob``). ``ObjectPath`` is a
``PosixPath`` whose class carries a ``Storage``: joining, ``parent``, ``name`` and ``with_name`` are
pathlib's own (so every path derived from the root stays an ``ObjectPath`` of the same storage), and
the calls that touch data become storage operations (a GET, a HEAD, a delimiter listing). Writes do
not happen here: ``daydream.atomic`` and ``daydream.locks`` see an ``ObjectPath`` and use the storage's
PUT, conditional create and lease; a local root stays a plain ``Path`` and never reaches this module.

Anything that would treat an object as a local file (``open(path, "w")``, ``os.stat``, ``os.scandir``)
fails loudly: ``__fspath__`` raises instead of handing the OS a name that is not on this disk.
"""

from __future__ import annotations

import fnmatch
import io
import itertools
import os
import stat as stat_module
from collections.abc import Generator, Iterator
from pathlib import Path, PosixPath, PurePosixPath
from typing import IO, Any, ClassVar

from daydream.storage.base import Storage

ANCHOR = "/daydream-object-root"
"""The local-looking anchor of every ``ObjectPath``: keys are paths relative to it. A path that
escaped to the local disk by mistake (``Path(object_path)``) lands under this obviously wrong name."""

ANCHOR_PARTS = PurePosixPath(ANCHOR).parts
_classes: dict[int, type[ObjectPath]] = {}


class ObjectPath(PosixPath):
    """A key of ``storage`` with pathlib's interface; build one with ``object_root(storage)``."""

    storage: ClassVar[Storage]
    root_url: ClassVar[str]
    """The data root as the user spelled it (``s3://conn@bucket/prefix``): ``str`` of a path round-trips
    through ``DataLayout.at``, in another process too."""

    @property
    def key(self) -> str:
        """The storage key (``""`` for the root); ``check_key`` refuses one that climbs out."""
        parts = self.parts
        return "/".join(parts[len(ANCHOR_PARTS) :] if parts[: len(ANCHOR_PARTS)] == ANCHOR_PARTS else parts)

    def __str__(self) -> str:
        if self.parts[: len(ANCHOR_PARTS)] != ANCHOR_PARTS:  # a relative piece (``relative_to``)
            return "/".join(self.parts)
        return self.root_url + ("/" + self.key if self.key else "")

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __fspath__(self) -> str:
        raise TypeError(f"{self} is on object storage: it has no local file name")

    def __reduce__(self) -> Any:
        """Picklable (an Airflow XCom, a process pool) as its URL; reopened by ``open_data_root``."""
        from daydream.storage.url import reopen_object_path

        return (reopen_object_path, (str(self),))

    # the read side of pathlib, as storage operations
    def read_bytes(self) -> bytes:
        return self.storage.read_bytes(self.key)

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        return self.read_bytes().decode(encoding or "utf-8", errors or "strict")

    def open(  # type: ignore[override]
        self, mode: str = "r", buffering: int = -1, encoding: str | None = None, *a: Any, **k: Any
    ) -> IO[Any]:
        if any(flag in mode for flag in "wax+"):
            raise TypeError(f"{self}: write through daydream.atomic, not open({mode!r})")
        data = self.read_bytes()
        if "b" in mode:
            return io.BytesIO(data)
        return io.StringIO(data.decode(encoding or "utf-8", k.get("errors") or "strict"), newline=k.get("newline"))

    def is_file(self) -> bool:
        return bool(self.key) and self.storage.exists(self.key)

    def is_dir(self) -> bool:
        """A "directory" exists while some object lies below it (object stores have no empty ones)."""
        return not self.key or self.storage.any_below(self.key + "/")

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def is_symlink(self) -> bool:
        return False

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        if self.key:
            info = self.storage.head(self.key)
            if info is not None:
                size, mtime = info
                return os.stat_result((stat_module.S_IFREG | 0o644, 0, 0, 1, 0, 0, size, mtime, mtime, mtime))
        if self.is_dir():
            return os.stat_result((stat_module.S_IFDIR | 0o755, 0, 0, 1, 0, 0, 0, 0, 0, 0))
        raise FileNotFoundError(2, "no such object", str(self))

    def lstat(self) -> os.stat_result:
        return self.stat()

    def iterdir(self) -> Generator[ObjectPath, None, None]:
        """One delimiter listing: the files and "subdirectories" directly below."""
        prefix = self.key + "/" if self.key else ""
        dirs, files = self.storage.list_children(prefix)
        for name in sorted(itertools.chain(dirs, files)):
            yield self / name

    def glob(self, pattern: str) -> Iterator[ObjectPath]:  # type: ignore[override]
        """One listing of everything below, matched segment by segment (``**`` spans any depth)."""
        prefix = self.key + "/" if self.key else ""
        wanted = pattern.split("/")
        seen: set[str] = set()
        for info in self.storage.list_prefix(prefix):
            rel = info.key[len(prefix) :].split("/")
            for depth in range(1, len(rel) + 1):  # a pattern may name a "directory" too
                candidate = "/".join(rel[:depth])
                if candidate not in seen and _match(rel[:depth], wanted):
                    seen.add(candidate)
                    yield self / candidate

    def rglob(self, pattern: str) -> Iterator[ObjectPath]:  # type: ignore[override]
        return self.glob("**/" + pattern)

    # what has no meaning on object storage, or is done elsewhere
    def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to create: a "directory" appears with its first object."""

    def resolve(self, strict: bool = False) -> ObjectPath:
        return self

    def absolute(self) -> ObjectPath:
        return self

    def expanduser(self) -> ObjectPath:
        return self

    def unlink(self, missing_ok: bool = False) -> None:
        if not missing_ok and not self.is_file():
            raise FileNotFoundError(2, "no such object", str(self))
        self.storage.delete(self.key)

    def write_bytes(self, data: Any) -> int:
        self.storage.write_bytes(self.key, bytes(data))
        return len(data)

    def write_text(self, data: str, encoding: str | None = None, errors: str | None = None, newline: Any = None) -> int:
        return self.write_bytes(data.encode(encoding or "utf-8", errors or "strict"))


def _match(parts: list[str], pattern: list[str]) -> bool:
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_match(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _match(parts[1:], pattern[1:])


def object_root(storage: Storage, root_url: str | None = None) -> ObjectPath:
    """The root ``ObjectPath`` of ``storage``: one subclass per storage object carries it to every
    path derived from the root (pathlib builds derived paths with ``type(self)``)."""
    cls = _classes.get(id(storage))
    if cls is None or cls.storage is not storage:
        url = (root_url or storage.url).rstrip("/")
        cls = type("ObjectPath", (ObjectPath,), {"storage": storage, "root_url": url})
        _classes[id(storage)] = cls
    return cls(ANCHOR)


def is_object_path(path: object) -> bool:
    return isinstance(path, ObjectPath)


def split(path: Path) -> tuple[Storage, str]:
    """(storage, key) of an ``ObjectPath``."""
    assert isinstance(path, ObjectPath), path
    return path.storage, path.key


def readable(path: Path) -> Path | io.BytesIO:
    """What to hand a reader that takes a file name or a file object (``pandas.read_csv``): the path
    itself locally, its bytes (one GET) on object storage."""
    return io.BytesIO(path.read_bytes()) if isinstance(path, ObjectPath) else path
