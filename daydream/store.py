"""The gens store (docs/data-contract.md, "gens store"): one directory per generation, every file atomic.

State is derived from which files exist, so a killed worker or a rerun can always tell what was
already paid for: ``parsed.txt`` means done; ``raw.txt`` without it means the answer is kept and can be
re-validated for free. Answers that are no longer (or not yet) the generation's current output live
under ``attempts/`` (``daydream.attempts``).

The store is user data too: a directory may be a file, a file may be unreadable, an entry may be a
symlink pointing anywhere. Every read here turns such a case into a one-line ``StoreError`` naming
the path, and ``inspect`` turns it into ``GenState.BROKEN`` for one generation, so one bad directory
never takes down a whole cohort's status.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from daydream import atomic
from daydream.errors import OutsideDataRootError, StoreError, first_problem, located
from daydream.paths import GEN_FILES, STAGES, DataLayout, Stage, id_problem
from daydream.storage.objpath import ObjectPath

ERROR_FILE = "error.json"
LOCK_FILE = ".lock"
ATTEMPTS_DIR = "attempts"
KNOWN_FILES = frozenset(GEN_FILES) | {ERROR_FILE, LOCK_FILE, ATTEMPTS_DIR}
CURRENT_OUTPUTS = ("prompt.txt", "raw.txt", "raw_metadata.json", "parsed.txt", "parsed_metadata.json", ERROR_FILE)
"""The files that make up a generation's current answer and its outcome (everything but its identity)."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class GenMetadata(BaseModel):
    """``metadata.json``: who a generation is. Unknown keys from older stores are kept."""

    model_config = ConfigDict(extra="allow")

    stage: Stage
    gen_id: str
    origin_cohort_id: str | None = None
    mode: Literal["llm", "copy"] = "llm"
    template_id: str | None = None
    combo_id: str | None = None
    parent_gen_id: str | None = None
    llm_model_id: str | None = None
    replicate: int = 1

    def identity(self) -> tuple[Any, ...]:
        """What must match for an existing directory to be this generation (the essay's LLM included).

        The combo counts for drafts only: an essay's or evaluation's combo follows from its parent, and
        the older pipeline records it on drafts only.
        """
        return identity_key(
            self.stage, self.combo_id, self.parent_gen_id, self.template_id, self.llm_model_id, self.replicate
        )

    def matches(self, identity: tuple[Any, ...]) -> bool:
        """Whether this recorded generation is ``identity``; a field the metadata does not record (an older
        store's essay without ``llm_model_id``) matches anything, so an existing generation is reused,
        never paid for again under a ``-N`` id."""
        return all(mine == theirs or mine == "" for mine, theirs in zip(self.identity(), identity, strict=False))


def _norm(value: Any) -> str:
    return "" if value is None else str(value).strip().lower()


def identity_key(
    stage: str, combo_id: Any, parent_gen_id: Any, template_id: Any, llm_model_id: Any, replicate: Any
) -> tuple[Any, ...]:
    """``GenMetadata.identity`` without building a model: the cohort planner calls it a million times."""
    combo = _norm(combo_id) if stage == "draft" else ""
    return (stage, combo, _norm(parent_gen_id), _norm(template_id), _norm(llm_model_id), int(replicate or 1))


READ_SIZE = 1 << 16


def read_json_file(path: str | Path) -> dict[str, Any] | None:
    """A generation's JSON file as an object; None when it does not exist.

    Plain ``os.open``/``os.read`` rather than ``open()``: a third of the cost per file, which counts
    when 100k metadata files are read at once (the older two-column membership). A read shorter than
    asked for is the end of a regular file, so a small file costs one read; were a read ever cut
    short otherwise, the JSON would not parse and the error would say so.
    """
    if isinstance(path, ObjectPath):
        try:
            chunks = [path.read_bytes()]
        except FileNotFoundError:
            return None
    else:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            chunks = [os.read(fd, READ_SIZE)]
            while len(chunks[-1]) == READ_SIZE:
                chunks.append(os.read(fd, READ_SIZE))
        finally:
            os.close(fd)
    try:
        data = json.loads(b"".join(chunks).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(located(f"unreadable JSON: {exc}", file=path)) from None
    if not isinstance(data, dict):
        raise StoreError(located("expected a JSON object", file=path))
    return data


def metadata_from_json(stage: Stage, gen_id: str, data: dict[str, Any], *, path: str | Path) -> GenMetadata:
    """A parsed ``metadata.json`` as ``GenMetadata``, the older pipeline's spellings read too.

    Separate from ``GensStore.read_metadata`` so a reader of 100k files at once (the older two-column
    membership) can do its own I/O and still read each file exactly as the store does. Ids it names
    are checked here: the runner follows them into paths.
    """
    data.setdefault("stage", stage)
    data.setdefault("gen_id", gen_id)
    # older DayDreaming metadata: other spellings, and null/blank where a default applies
    if not data.get("template_id") and data.get(f"{stage}_template"):
        data["template_id"] = data[f"{stage}_template"]
    if not data.get("llm_model_id") and data.get("model_id"):
        data["llm_model_id"] = data["model_id"]
    for key in ("replicate", "mode"):
        if data.get(key) in (None, ""):
            data.pop(key, None)
    try:
        meta = GenMetadata.model_validate(data)
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise StoreError(located(f"invalid metadata: {message}", file=Path(path), field=field)) from None
    for field in ("parent_gen_id", "combo_id", "template_id", "llm_model_id"):
        value = getattr(meta, field)
        problem = id_problem(value) if value not in (None, "") else None
        if problem is not None:
            raise StoreError(located(f"invalid id: {problem}", file=Path(path), field=field))
    return meta


def _leaving(layout: DataLayout, path: Path) -> str:
    """`` that leaves the data root`` when ``path`` resolves outside it, else nothing."""
    try:
        layout.inside(path)
    except OutsideDataRootError:
        return " that leaves the data root"
    return ""


class GenState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    STALE = "stale"
    BROKEN = "broken"
    """Its files could not be read (permission denied, a file where the directory should be, a
    corrupt ``raw_metadata.json``): ``daydream store check`` says which."""


def read_problem(path: Path, exc: OSError | UnicodeDecodeError) -> StoreError:
    """The one-line error for a store file that exists but cannot be read."""
    if isinstance(exc, UnicodeDecodeError):
        return StoreError(located(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=path))
    if isinstance(exc, IsADirectoryError):
        return StoreError(located("is a directory, expected a file", file=path))
    if isinstance(exc, NotADirectoryError):
        return StoreError(located("is a file, expected a generation directory", file=path.parent))
    if isinstance(exc, PermissionError):
        return StoreError(located("permission denied", file=path))
    return StoreError(located(f"cannot read: {exc.strerror or exc}", file=path))


@dataclass(frozen=True)
class StrayEntry:
    """Something in a stage directory that is not a generation and is never followed."""

    name: str
    why: str


class GensStore:
    def __init__(self, layout: DataLayout):
        self.layout = layout
        self._inside_dirs: set[Path] = set()
        self.changed: set[tuple[Stage, str]] = set()
        """Generations whose JSON files this store wrote on object storage and that the stage's index
        (``daydream.gen_index``) has not recorded yet; the runner records them as it lets go of them."""

    def wrote(self, stage: Stage, gen_id: str) -> None:
        if isinstance(self.layout.root, ObjectPath):
            self.changed.add((stage, gen_id))

    def dir(self, stage: Stage, gen_id: str) -> Path:
        return self.layout.gen_dir(stage, gen_id)

    def path(self, stage: Stage, gen_id: str, name: str) -> Path:
        return self.dir(stage, gen_id) / name

    # reading
    def read_text(self, stage: Stage, gen_id: str, name: str) -> str | None:
        return self.read_file(self.path(stage, gen_id, name))

    def read_file(self, path: Path) -> str | None:
        """A store file's text, None when absent; refused when a symlink takes it out of the data root."""
        try:
            self._check_inside(path)
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OutsideDataRootError as exc:
            raise StoreError(str(exc)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise read_problem(path, exc) from None

    def _check_inside(self, path: Path) -> None:
        """Refuse a read through a symlink leaving the data root: a symlinked file, or a symlinked
        generation directory (each directory is resolved once per store object)."""
        if path.parent not in self._inside_dirs:
            self.layout.inside(path.parent)
            self._inside_dirs.add(path.parent)
        if path.is_symlink():
            self.layout.inside(path)

    def read_json(self, stage: Stage, gen_id: str, name: str) -> dict[str, Any] | None:
        return self.read_json_file(self.path(stage, gen_id, name))

    def read_json_file(self, path: Path) -> dict[str, Any] | None:
        """``read_json_file`` of a store file, refused when a symlink takes it out of the data root."""
        try:
            self._check_inside(path)
            return read_json_file(path)
        except OutsideDataRootError as exc:
            raise StoreError(str(exc)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise read_problem(path, exc) from None

    def read_metadata(self, stage: Stage, gen_id: str) -> GenMetadata | None:
        path = self.path(stage, gen_id, "metadata.json")
        data = self.read_json_file(path)
        if data is None:
            return None
        return metadata_from_json(stage, gen_id, data, path=path)

    def exists(self, stage: Stage, gen_id: str, name: str) -> bool:
        try:
            return self.path(stage, gen_id, name).exists()
        except OSError as exc:
            raise read_problem(self.path(stage, gen_id, name), exc) from None

    def is_done(self, stage: Stage, gen_id: str) -> bool:
        return self.exists(stage, gen_id, "parsed.txt")

    def parsed_text(self, stage: Stage, gen_id: str) -> str | None:
        return self.read_text(stage, gen_id, "parsed.txt")

    def state(self, stage: Stage, gen_id: str, current_template_sha: str | None = None) -> GenState:
        """Derived from the files: done (or stale when the template changed since), failed, pending, broken."""
        return self.inspect(stage, gen_id, current_template_sha)[0]

    def inspect(
        self, stage: Stage, gen_id: str, current_template_sha: str | None = None
    ) -> tuple[GenState, StoreError | None]:
        """``state`` and, when it is ``BROKEN``, why (one line naming the file)."""
        gen_dir = self.dir(stage, gen_id)
        try:
            if not stat.S_ISDIR(
                gen_dir.stat().st_mode if isinstance(gen_dir, ObjectPath) else os.stat(gen_dir).st_mode
            ):
                raise StoreError(located("is a file, expected a generation directory", file=gen_dir))
            if self.exists(stage, gen_id, "parsed.txt"):
                if current_template_sha:
                    raw_meta = self.read_json(stage, gen_id, "raw_metadata.json") or {}
                    recorded = raw_meta.get("template_sha256")
                    if recorded and recorded != current_template_sha:
                        return GenState.STALE, None
                return GenState.DONE, None
            if self.exists(stage, gen_id, "raw.txt") or self.exists(stage, gen_id, ERROR_FILE):
                return GenState.FAILED, None
            return GenState.PENDING, None
        except FileNotFoundError:
            return GenState.PENDING, None
        except StoreError as exc:
            return GenState.BROKEN, exc
        except NotADirectoryError:
            blocker = next((p for p in gen_dir.parents if p.is_file()), gen_dir.parent)
            return GenState.BROKEN, StoreError(located("is a file, expected a directory", file=blocker))
        except OSError as exc:
            return GenState.BROKEN, read_problem(gen_dir, exc)

    # writing
    def seed_metadata(self, meta: GenMetadata) -> bool:
        """Write ``metadata.json`` if absent (never replaced: it is the generation's identity)."""
        payload = atomic.dumps_json(meta.model_dump(mode="json")).encode("utf-8")
        created = atomic.create_exclusive(self.path(meta.stage, meta.gen_id, "metadata.json"), payload)
        if created:
            self.wrote(meta.stage, meta.gen_id)
        return created

    def write_text(self, stage: Stage, gen_id: str, name: str, text: str) -> Path:
        return atomic.write_text(self.writable(self.path(stage, gen_id, name)), text)

    def write_json(self, stage: Stage, gen_id: str, name: str, data: dict[str, Any]) -> Path:
        written = atomic.write_json(self.writable(self.path(stage, gen_id, name)), data)
        self.wrote(stage, gen_id)
        return written

    def sweep_interrupted_writes(self, stage: Stage, gen_id: str) -> list[str]:
        """Delete the temporary files that writes of this generation's outputs left when their writer was
        killed mid-write, and name them. Only the holder of the generation lock calls this: every writer
        of ``CURRENT_OUTPUTS`` holds that lock, so such a file is a dead writer's and nobody renames it.
        ``metadata.json`` is seeded without the lock, so its temporary files are never touched."""
        gen_dir = self.dir(stage, gen_id)
        if isinstance(gen_dir, ObjectPath):
            return []  # a PUT is whole or absent: nothing to sweep
        self.layout.inside(gen_dir)
        try:
            with os.scandir(gen_dir) as scan:
                names = [e.name for e in scan if atomic.interrupted_target(e.name) in CURRENT_OUTPUTS]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise read_problem(gen_dir, exc) from None
        for name in names:
            (gen_dir / name).unlink(missing_ok=True)
        return sorted(names)

    def writable(self, path: Path) -> Path:
        """``path`` when writing it stays inside the data root (a symlinked generation directory does not)."""
        self.layout.inside(path.parent)
        return path

    def record_error(self, stage: Stage, gen_id: str, kind: str, message: str, **extra: Any) -> None:
        self.write_json(
            stage,
            gen_id,
            ERROR_FILE,
            {"stage": stage, "gen_id": gen_id, "kind": kind, "error": message, "at": utc_now(), **extra},
        )

    def clear_error(self, stage: Stage, gen_id: str) -> None:
        if atomic.remove_file(self.path(stage, gen_id, ERROR_FILE)):
            self.wrote(stage, gen_id)

    # walking
    def iter_gen_ids(self, stage: Stage) -> Iterator[str]:
        """Generation directories of a stage; anything else (see ``scan``) is skipped, never followed."""
        yield from self.scan(stage)[0]

    def scan(self, stage: Stage) -> tuple[list[str], list[StrayEntry]]:
        """``(gen_ids, strays)`` of a stage directory: a stray is a file, a symlink, a hidden entry or a
        name outside the id grammar. An unreadable stage directory raises ``StoreError``."""
        stage_dir = self.layout.stage_dir(stage)
        ids: list[str] = []
        strays: list[StrayEntry] = []
        try:
            if not stage_dir.exists() and not stage_dir.is_symlink():
                return ids, strays
            if stage_dir.is_symlink():
                raise StoreError(
                    located(
                        f"is a symlink{_leaving(self.layout, stage_dir)}; a stage directory is "
                        "never followed (make it a directory)",
                        file=stage_dir,
                    )
                )
            if not stage_dir.is_dir():
                raise StoreError(located("is not a directory", file=stage_dir))
            if isinstance(stage_dir, ObjectPath):
                return _scan_objects(stage_dir)
            with os.scandir(stage_dir) as entries:
                for entry in entries:
                    why = _stray_reason(entry)
                    if why is None:
                        ids.append(entry.name)
                    elif why != "hidden":
                        strays.append(StrayEntry(entry.name, why))
        except OSError as exc:
            raise StoreError(located(f"cannot list: {exc.strerror or exc}", file=stage_dir)) from None
        return ids, strays

    def iter_all(self) -> Iterator[tuple[Stage, str]]:
        for stage in STAGES:
            for gen_id in self.iter_gen_ids(stage):
                yield stage, gen_id


def _scan_objects(stage_dir: ObjectPath) -> tuple[list[str], list[StrayEntry]]:
    """``GensStore.scan`` on object storage: one delimiter listing (no symlinks exist there)."""
    dirs, files = stage_dir.storage.list_children(stage_dir.key + "/")
    ids = [name for name in dirs if not name.startswith(".") and id_problem(name) is None]
    strays = [StrayEntry(name, f"not a valid gen id: {id_problem(name)}") for name in dirs if name not in ids]
    strays += [StrayEntry(name, "a file, not a generation directory") for name in files]
    return ids, [s for s in strays if not s.name.startswith(".")]


def _stray_reason(entry: os.DirEntry[str]) -> str | None:
    if entry.is_symlink():
        return "a symlink (never followed)"
    if entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
        return "hidden"
    if not entry.is_dir(follow_symlinks=False):
        return "a file, not a generation directory"
    problem = id_problem(entry.name)
    return f"not a valid gen id: {problem}" if problem else None
