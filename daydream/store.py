"""The gens store (data-contract section 6): one directory per generation, every file atomic.

State is derived from which files exist, so a killed worker or a rerun can always tell what was
already paid for: ``parsed.txt`` means done; ``raw.txt`` without it means the answer is kept and can be
re-validated for free.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from daydream import atomic
from daydream.errors import StoreError, located
from daydream.paths import GEN_FILES, STAGES, DataLayout, Stage

ERROR_FILE = "error.json"
LOCK_FILE = ".lock"
KNOWN_FILES = frozenset(GEN_FILES) | {ERROR_FILE, LOCK_FILE}


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
    membership) can do its own I/O and still read each file exactly as the store does.
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
        return GenMetadata.model_validate(data)
    except Exception as exc:  # pydantic's message is multi-line
        first = str(exc).splitlines()[0]
        raise StoreError(located(f"invalid metadata: {first}", file=path)) from None


class GenState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    STALE = "stale"


class GensStore:
    def __init__(self, layout: DataLayout):
        self.layout = layout

    def dir(self, stage: Stage, gen_id: str) -> Path:
        return self.layout.gen_dir(stage, gen_id)

    def path(self, stage: Stage, gen_id: str, name: str) -> Path:
        return self.dir(stage, gen_id) / name

    # reading
    def read_text(self, stage: Stage, gen_id: str, name: str) -> str | None:
        try:
            return self.path(stage, gen_id, name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def read_json(self, stage: Stage, gen_id: str, name: str) -> dict[str, Any] | None:
        return read_json_file(self.path(stage, gen_id, name))

    def read_metadata(self, stage: Stage, gen_id: str) -> GenMetadata | None:
        data = self.read_json(stage, gen_id, "metadata.json")
        if data is None:
            return None
        return metadata_from_json(stage, gen_id, data, path=self.path(stage, gen_id, "metadata.json"))

    def exists(self, stage: Stage, gen_id: str, name: str) -> bool:
        return self.path(stage, gen_id, name).exists()

    def is_done(self, stage: Stage, gen_id: str) -> bool:
        return self.exists(stage, gen_id, "parsed.txt")

    def parsed_text(self, stage: Stage, gen_id: str) -> str | None:
        return self.read_text(stage, gen_id, "parsed.txt")

    def state(self, stage: Stage, gen_id: str, current_template_sha: str | None = None) -> GenState:
        """Derived from the files: done (or stale when the template changed since), failed, pending."""
        gen_dir = self.dir(stage, gen_id)
        if (gen_dir / "parsed.txt").exists():
            if current_template_sha:
                raw_meta = self.read_json(stage, gen_id, "raw_metadata.json") or {}
                recorded = raw_meta.get("template_sha256")
                if recorded and recorded != current_template_sha:
                    return GenState.STALE
            return GenState.DONE
        if (gen_dir / "raw.txt").exists() or (gen_dir / ERROR_FILE).exists():
            return GenState.FAILED
        return GenState.PENDING

    # writing
    def seed_metadata(self, meta: GenMetadata) -> bool:
        """Write ``metadata.json`` if absent (never replaced: it is the generation's identity)."""
        payload = atomic.dumps_json(meta.model_dump(mode="json")).encode("utf-8")
        return atomic.create_exclusive(self.path(meta.stage, meta.gen_id, "metadata.json"), payload)

    def write_text(self, stage: Stage, gen_id: str, name: str, text: str) -> Path:
        return atomic.write_text(self.path(stage, gen_id, name), text)

    def write_json(self, stage: Stage, gen_id: str, name: str, data: dict[str, Any]) -> Path:
        return atomic.write_json(self.path(stage, gen_id, name), data)

    def record_error(self, stage: Stage, gen_id: str, kind: str, message: str, **extra: Any) -> None:
        self.write_json(
            stage,
            gen_id,
            ERROR_FILE,
            {"stage": stage, "gen_id": gen_id, "kind": kind, "error": message, "at": utc_now(), **extra},
        )

    def clear_error(self, stage: Stage, gen_id: str) -> None:
        try:
            os.unlink(self.path(stage, gen_id, ERROR_FILE))
        except FileNotFoundError:
            pass

    def remove_outputs(self, stage: Stage, gen_id: str, names: tuple[str, ...]) -> None:
        for name in names:
            try:
                os.unlink(self.path(stage, gen_id, name))
            except FileNotFoundError:
                pass

    # walking
    def iter_gen_ids(self, stage: Stage) -> Iterator[str]:
        stage_dir = self.layout.gens / stage
        if not stage_dir.is_dir():
            return
        with os.scandir(stage_dir) as entries:
            for entry in entries:
                if entry.is_dir() and not entry.name.startswith("."):
                    yield entry.name

    def iter_all(self) -> Iterator[tuple[Stage, str]]:
        for stage in STAGES:
            for gen_id in self.iter_gen_ids(stage):
                yield stage, gen_id
