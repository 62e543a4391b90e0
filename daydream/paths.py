"""The data root and every path inside it, in one place.

The layout is the DayDreaming pipeline's, so an existing data directory works as it is
(data-contract.md). Nothing here touches the disk except ``resolve_data_root``'s existence check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Stage = Literal["draft", "essay", "evaluation"]
STAGES: tuple[Stage, ...] = ("draft", "essay", "evaluation")
DESCRIPTION_LEVELS: tuple[str, ...] = ("sentence", "paragraph", "article")
DATA_ROOT_ENV = "DAYDREAM_DATA_ROOT"


def resolve_data_root(value: str | os.PathLike[str] | None = None) -> Path:
    """``--data-root``, else ``$DAYDREAM_DATA_ROOT``, else ``./data``."""
    chosen = value if value not in (None, "") else os.environ.get(DATA_ROOT_ENV) or "data"
    return Path(chosen).expanduser().resolve()


@dataclass(frozen=True)
class DataLayout:
    """Paths of the on-disk contract under one data root."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str] | None = None) -> "DataLayout":
        return cls(resolve_data_root(root))

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
        return self.raw / f"{stage}_templates.csv"

    def template_file(self, stage: Stage, template_id: str) -> Path:
        return self.raw / "templates" / stage / f"{template_id}.txt"

    def description_file(self, level: str, concept_id: str) -> Path:
        return self.raw / "concepts" / f"descriptions-{level}" / f"{concept_id}.txt"

    # combos
    @property
    def combo_mappings(self) -> Path:
        return self.root / "combo_mappings.csv"

    # gens store
    @property
    def gens(self) -> Path:
        return self.root / "gens"

    def gen_dir(self, stage: Stage, gen_id: str) -> Path:
        return self.gens / stage / gen_id

    # cohorts
    @property
    def cohorts(self) -> Path:
        return self.root / "cohorts"

    def cohort_dir(self, cohort_id: str) -> Path:
        return self.cohorts / cohort_id

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
        """Stage summaries and run settings (budget) written by the orchestration."""
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
