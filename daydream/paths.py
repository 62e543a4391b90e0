"""The data root and every path inside it, in one place.

The layout is the DayDreaming pipeline's, so an existing data directory works as it is
(docs/data-contract.md). Ids become path components, so this module also owns the one id grammar
and the check that a path stays inside the data root: every ``DataLayout`` method that takes an id
validates it, which makes ``../``, absolute paths and separators impossible however the id arrived
(CLI, DAG params, UI, or any data file). Nothing here touches the disk except ``resolve_data_root``
and ``DataLayout.inside``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daydream.errors import DayDreamError, IdError, OutsideDataRootError, located, shown
from daydream.storage.objpath import is_object_path

Stage = Literal["draft", "essay", "evaluation"]
STAGES: tuple[Stage, ...] = ("draft", "essay", "evaluation")
DESCRIPTION_LEVELS: tuple[str, ...] = ("sentence", "paragraph", "article")
DATA_ROOT_ENV = "DAYDREAM_DATA_ROOT"

ID_MAX_LENGTH = 128
"""Long enough for every id DayDreaming made; short enough that ``.<id>.<random>.tmp`` fits a file name."""
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
"""The id grammar: letters, digits, ``.``, ``_`` and ``-``, starting with a letter or digit. It admits
every id the DayDreaming pipeline wrote (``gemini_2.5_flash``, ``combo_v1_85128e4e5ef3``,
``d_5ezrffv9uf3lr37d-1``) and no path separator, no ``..``, no hidden name, no space or invisible
character."""
_ID_RE = re.compile(ID_PATTERN)
ID_RULE = f"ids are 1-{ID_MAX_LENGTH} letters, digits, '.', '_' or '-', starting with a letter or digit"


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid id, or None when it is."""
    if not isinstance(value, str):
        return f"expected text, got {type(value).__name__}"
    if not value:
        return "is empty"
    if len(value) > ID_MAX_LENGTH:
        return f"is {len(value)} characters long, at most {ID_MAX_LENGTH} allowed"
    if not _ID_RE.fullmatch(value):
        return ID_RULE
    return None


def check_id(
    value: object,
    *,
    kind: str,
    file: str | os.PathLike[str] | None = None,
    row: int | None = None,
    line: int | None = None,
    field: str | None = None,
    error: type[DayDreamError] = IdError,
) -> str:
    """``value`` when it is a valid id, else ``error`` naming where it came from (one line)."""
    problem = id_problem(value)
    if problem is not None:
        where = Path(file) if file is not None else None
        raise error(located(f"invalid {kind} {shown(value)}: {problem}", file=where, row=row, line=line, field=field))
    assert isinstance(value, str)
    return value


def check_stage(value: object) -> Stage:
    if value not in STAGES:
        raise IdError(f"unknown stage {shown(value)} (expected one of {', '.join(STAGES)})")
    return value


def resolve_data_root(value: str | os.PathLike[str] | None = None) -> Path:
    """``--data-root``, else ``$DAYDREAM_DATA_ROOT``, else ``./data``; a URL (``s3://conn@bucket/prefix``,
    ``file:///...``) is opened by ``daydream.storage`` (docs/deploy.md)."""
    chosen = value if value not in (None, "") else os.environ.get(DATA_ROOT_ENV) or "data"
    if isinstance(chosen, Path):
        return chosen if is_object_path(chosen) else chosen.expanduser().resolve()
    if "://" in str(chosen):
        from daydream.storage.url import open_data_root  # only for a URL: it imports s3fs

        return open_data_root(str(chosen))
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class DataLayout:
    """Paths of the on-disk contract under one data root."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> DataLayout:
        return cls(resolve_data_root(root))

    def inside(self, path: str | os.PathLike[str]) -> Path:
        """``path`` with symlinks followed, refused unless it is the data root or below it.

        Ids cannot spell a way out (the grammar), but a symlink inside the store can point anywhere;
        everything read or written on behalf of data goes through here or through an id-checked
        method below.
        """
        if is_object_path(self.root):  # no symlinks on object storage: the key itself must lie below
            if not (isinstance(path, Path) and is_object_path(path) and path.is_relative_to(self.root)):
                raise OutsideDataRootError(located(f"leaves the data root {self.root}", file=str(path)))
            return path
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise OutsideDataRootError(
                located(f"leaves the data root {self.root} (resolves to {real})", file=Path(path))
            )
        return Path(path)

    # 1_raw: catalogs, concept descriptions, templates
    @property
    def raw(self) -> Path:
        return self.root / "1_raw"

    @property
    def concepts_csv(self) -> Path:
        return self.raw / "concepts_metadata.csv"

    @property
    def models_csv(self) -> Path:
        return self.raw / "llm_models.csv"

    def templates_csv(self, stage: Stage) -> Path:
        return self.raw / f"{check_stage(stage)}_templates.csv"

    def template_file(self, stage: Stage, template_id: str) -> Path:
        return self.raw / "templates" / check_stage(stage) / f"{check_id(template_id, kind='template id')}.txt"

    def description_file(self, level: str, concept_id: str) -> Path:
        if level not in DESCRIPTION_LEVELS:
            raise IdError(f"unknown description level {shown(level)} (known: {', '.join(DESCRIPTION_LEVELS)})")
        return self.raw / "concepts" / f"descriptions-{level}" / f"{check_id(concept_id, kind='concept id')}.txt"

    # combos
    @property
    def combo_mappings(self) -> Path:
        return self.root / "combo_mappings.csv"

    # gens store
    @property
    def gens(self) -> Path:
        return self.root / "gens"

    def stage_dir(self, stage: Stage) -> Path:
        return self.gens / check_stage(stage)

    def gen_dir(self, stage: Stage, gen_id: str) -> Path:
        return self.stage_dir(stage) / check_id(gen_id, kind="gen id")

    def gens_index(self, stage: Stage) -> Path:
        """The stage's index of generation outcomes, object storage only (``daydream.gen_index``)."""
        return self.root / ".daydream" / "index" / f"{check_stage(stage)}.jsonl"

    # cohorts
    @property
    def cohorts(self) -> Path:
        return self.root / "cohorts"

    def cohort_dir(self, cohort_id: str) -> Path:
        return self.cohorts / check_id(cohort_id, kind="cohort id")

    def spec_dir(self, cohort_id: str) -> Path:
        return self.cohort_dir(cohort_id) / "spec"

    def spec_file(self, cohort_id: str) -> Path:
        return self.spec_dir(cohort_id) / "config.yaml"

    def manifest(self, cohort_id: str) -> Path:
        return self.cohort_dir(cohort_id) / "manifest.json"

    def membership(self, cohort_id: str) -> Path:
        return self.cohort_dir(cohort_id) / "membership.csv"

    def reports(self, cohort_id: str) -> Path:
        return self.cohort_dir(cohort_id) / "reports"

    def runs_dir(self, cohort_id: str) -> Path:
        """Stage summaries, run settings and the spend ledger written by the orchestration."""
        return self.cohort_dir(cohort_id) / "runs"

    # cross-cohort views
    @property
    def cross_experiment(self) -> Path:
        return self.root / "7_cross_experiment"


GEN_FILES = (
    "metadata.json",
    "prompt.txt",
    "raw.txt",
    "raw_metadata.json",
    "parsed.txt",
    "parsed_metadata.json",
)
