"""Comparison generations in the gens store: ``gens/comparison/<c_id>/`` (docs/data-contract.md §12).

A comparison is a generation with two parents, so it does not fit ``GenMetadata`` (one parent) nor
the three-stage ``Stage`` type that the rest of the pipeline iterates; it gets its own stage
directory and metadata model here, with the same files, the same id grammar, the same atomic writes
and the same path checks (``DataLayout.inside``) as the other stages.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from daydream import atomic
from daydream.analysis.comparison_ids import Order, canonical_pair, comparison_signature, resolve_comparison_id
from daydream.errors import OutsideDataRootError, StoreError, first_problem, located
from daydream.parsers.pairwise import VERDICTS, VerdictValue
from daydream.paths import DataLayout, check_id
from daydream.reports.safefs import DIR_FLAGS, FILE_FLAGS, open_gen_dir
from daydream.storage.objpath import ObjectPath
from daydream.store import ERROR_FILE, read_json_file, read_problem

COMPARISON_STAGE = "comparison"
"""The stage directory of comparison generations: ``gens/comparison/``."""
Verdict = VerdictValue


class ComparisonMetadata(BaseModel):
    """``metadata.json`` of a comparison: both parents (canonical order) and the order they were shown."""

    model_config = ConfigDict(extra="allow")

    stage: Literal["comparison"] = "comparison"
    gen_id: str
    origin_cohort_id: str | None = None
    mode: Literal["llm"] = "llm"
    template_id: str
    llm_model_id: str
    parent_gen_ids: tuple[str, str]
    """The two essays, sorted (the canonical pair of the id's signature)."""
    presented: tuple[str, str]
    """``(essay shown as A, essay shown as B)``."""
    order: Order
    """``ab`` when ``parent_gen_ids[0]`` was shown as A, else ``ba``."""
    replicate: int = 1

    def identity(self) -> tuple[str, ...]:
        return (*self.presented, self.template_id.lower(), self.llm_model_id.lower(), str(self.replicate))

    def winner(self, verdict: Verdict) -> str | None:
        return None if verdict == "tie" else self.presented[0 if verdict == "A" else 1]


def new_metadata(
    presented_a: str, presented_b: str, template_id: str, judge: str, *, cohort_id: str, replicate: int = 1
) -> ComparisonMetadata:
    """The metadata of a comparison not yet placed (``gen_id`` is filled by ``ComparisonStore.place``)."""
    lo, hi, order = canonical_pair(presented_a, presented_b)
    return ComparisonMetadata(
        gen_id="",
        origin_cohort_id=cohort_id,
        template_id=template_id,
        llm_model_id=judge,
        parent_gen_ids=(lo, hi),
        presented=(presented_a, presented_b),
        order=order,
        replicate=replicate,
    )


class ComparisonStore:
    """Paths and reads of ``gens/comparison/``; writes go through ``daydream.atomic``."""

    def __init__(self, layout: DataLayout):
        self.layout = layout

    @property
    def stage_dir(self) -> Path:
        return self.layout.gens / COMPARISON_STAGE

    def dir(self, gen_id: str) -> Path:
        return self.stage_dir / check_id(gen_id, kind="comparison id")

    def path(self, gen_id: str, name: str) -> Path:
        path = self.dir(gen_id) / name
        try:
            self.layout.inside(path.parent)
        except OutsideDataRootError as exc:
            raise StoreError(str(exc)) from None
        return path

    def read_text(self, gen_id: str, name: str) -> str | None:
        path = self.path(gen_id, name)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise read_problem(path, exc) from None

    def read_json(self, gen_id: str, name: str) -> dict[str, Any] | None:
        path = self.path(gen_id, name)
        try:
            return read_json_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise read_problem(path, exc) from None

    def read_metadata(self, gen_id: str) -> ComparisonMetadata | None:
        data = self.read_json(gen_id, "metadata.json")
        if data is None:
            return None
        path = self.path(gen_id, "metadata.json")
        try:
            meta = ComparisonMetadata.model_validate(data)
        except ValidationError as exc:
            field, message = first_problem(exc)
            raise StoreError(located(f"invalid comparison metadata: {message}", file=path, field=field)) from None
        for field, values in (("parent_gen_ids", meta.parent_gen_ids), ("presented", meta.presented)):
            for value in values:
                check_id(value, kind="parent gen id", file=path, field=field, error=StoreError)
        for field in ("template_id", "llm_model_id"):
            check_id(getattr(meta, field), kind=field, file=path, field=field, error=StoreError)
        return meta

    def is_done(self, gen_id: str) -> bool:
        return self.path(gen_id, "parsed.txt").exists()

    def verdict(self, gen_id: str) -> Verdict | None:
        """The parsed verdict of a done comparison, else None."""
        text = (self.read_text(gen_id, "parsed.txt") or "").strip()
        return text if text in VERDICTS else None  # type: ignore[return-value]

    def outcomes(self, gen_ids: Sequence[str]) -> list[tuple[str, Verdict | None]]:
        """``(state, verdict)`` of many comparisons (``state`` and ``verdict`` of each), in one pass.

        A tournament report reads 20,000 of them: the stage directory is checked inside the data root
        once, then each comparison directory is opened without following links and its files are
        looked at relative to it (``reports.safefs``), instead of resolving two or three paths each.
        A link or a directory in place of a file counts as absent; an id outside the grammar is
        refused as everywhere else. On object storage, the per-comparison reads.
        """
        for gen_id in gen_ids:
            check_id(gen_id, kind="comparison id", error=StoreError)
        if isinstance(self.layout.root, ObjectPath):
            return [(self.state(g), self.verdict(g)) for g in gen_ids]
        self.layout.inside(self.stage_dir)
        try:
            stage_fd = os.open(self.stage_dir, DIR_FLAGS)
        except FileNotFoundError:
            return [("pending", None)] * len(gen_ids)
        try:
            return [_outcome_at(stage_fd, gen_id) for gen_id in gen_ids]
        finally:
            os.close(stage_fd)

    def state(self, gen_id: str) -> str:
        """``done``, ``failed`` (a kept raw answer or an error) or ``pending``, as for every stage."""
        if self.is_done(gen_id):
            return "done"
        if self.path(gen_id, "raw.txt").exists() or self.path(gen_id, ERROR_FILE).exists():
            return "failed"
        return "pending"

    def place(self, meta: ComparisonMetadata) -> ComparisonMetadata:
        """Give ``meta`` its id and seed its ``metadata.json`` (never replaced). An id held by another
        identity moves to the next collision index, as for the other stages (§4)."""
        presented_a, presented_b = meta.presented
        sig = comparison_signature(presented_a, presented_b, meta.template_id, meta.llm_model_id, meta.replicate)

        def taken(candidate: str) -> bool:
            existing = self.read_metadata(candidate)
            return (
                existing is not None and existing.identity() != meta.model_copy(update={"gen_id": candidate}).identity()
            )

        gen_id = resolve_comparison_id(sig, taken)
        placed = meta.model_copy(update={"gen_id": gen_id})
        payload = atomic.dumps_json(placed.model_dump(mode="json")).encode("utf-8")
        atomic.create_exclusive(self.path(gen_id, "metadata.json"), payload)
        return placed


def _regular(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _outcome_at(stage_fd: int, gen_id: str) -> tuple[str, Verdict | None]:
    fd, _ = open_gen_dir(stage_fd, gen_id)
    if fd is None:
        return "pending", None
    try:
        try:
            handle = os.open("parsed.txt", FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ELOOP):
                raise StoreError(
                    located(f"cannot read: {exc.strerror}", file=f"gens/{COMPARISON_STAGE}/{gen_id}")
                ) from None
            failed = _regular("raw.txt", fd) or _regular(ERROR_FILE, fd)
            return ("failed" if failed else "pending"), None
        try:
            text = os.read(handle, 64).decode("utf-8", errors="replace").strip()
        finally:
            os.close(handle)
        return "done", text if text in VERDICTS else None  # type: ignore[return-value]
    finally:
        os.close(fd)
