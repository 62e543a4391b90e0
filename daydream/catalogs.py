"""Raw catalogs (data-contract section 1): concepts, templates, models, descriptions.

Loaded once per command into typed records; every problem is a ``CatalogError`` naming the file,
the row and the column, so a researcher can fix the CSV without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from daydream.csvio import parse_bool, parse_optional_float, read_rows
from daydream.errors import CatalogError, TemplateError, located
from daydream.parsers import DRAFT_PARSER_NAMES, EVALUATION_PARSER_NAMES
from daydream.paths import DESCRIPTION_LEVELS, STAGES, DataLayout, Stage

Tier = Literal["free", "paid"]
Generator = Literal["llm", "copy"]


class Concept(BaseModel):
    concept_id: str
    name: str
    active: bool = True


class Template(BaseModel):
    stage: Stage
    template_id: str
    template_name: str = ""
    description: str = ""
    parser: str = ""
    generator: Generator = "llm"
    active: bool = True

    @property
    def is_copy(self) -> bool:
        return self.generator == "copy"


class LlmModel(BaseModel):
    id: str
    model: str
    provider: str = ""
    display_name: str = ""
    specialization: str = ""
    tier: Tier = "paid"
    for_generation: bool = True
    for_evaluation: bool = True
    active: bool = True
    price_prompt_per_mtok: float | None = None
    price_completion_per_mtok: float | None = None


def default_tier(model: str) -> Tier:
    return "free" if model.strip().endswith(":free") else "paid"


def _check_id(value: str, *, file: Path, row: int, field: str, seen: set[str]) -> str:
    if not value:
        raise CatalogError(located("is empty", file=file, row=row, field=field))
    if value in seen:
        raise CatalogError(located(f"duplicate id {value!r}", file=file, row=row, field=field))
    if "/" in value or "\\" in value or value in (".", ".."):
        raise CatalogError(located(f"id {value!r} must not contain a path separator", file=file, row=row, field=field))
    seen.add(value)
    return value


def load_concepts(path: Path) -> dict[str, Concept]:
    concepts: dict[str, Concept] = {}
    seen: set[str] = set()
    for row_no, row in read_rows(path, ["concept_id", "name"]):
        concept_id = _check_id(row["concept_id"], file=path, row=row_no, field="concept_id", seen=seen)
        if not row["name"]:
            raise CatalogError(located("is empty", file=path, row=row_no, field="name"))
        active = parse_bool(row.get("active"), default=True, file=path, row=row_no, field="active")
        concepts[concept_id] = Concept(concept_id=concept_id, name=row["name"], active=active)
    return concepts


def load_templates(path: Path, stage: Stage) -> dict[str, Template]:
    templates: dict[str, Template] = {}
    seen: set[str] = set()
    known_parsers = EVALUATION_PARSER_NAMES if stage == "evaluation" else DRAFT_PARSER_NAMES
    for row_no, row in read_rows(path, ["template_id"]):
        template_id = _check_id(row["template_id"], file=path, row=row_no, field="template_id", seen=seen)
        generator = (row.get("generator") or "").strip().lower() or "llm"
        if generator not in ("llm", "copy"):
            raise CatalogError(located(f"expected 'llm' or 'copy', got {row.get('generator')!r}",
                                       file=path, row=row_no, field="generator"))
        if generator == "copy" and stage != "essay":
            raise CatalogError(located(f"generator 'copy' is only for essay templates, not {stage}",
                                       file=path, row=row_no, field="generator"))
        parser = (row.get("parser") or "").strip()
        if stage == "evaluation" and not parser:
            raise CatalogError(located(f"is required for evaluation templates (one of: {', '.join(known_parsers)})",
                                       file=path, row=row_no, field="parser"))
        if parser and parser not in known_parsers:
            raise CatalogError(located(f"unknown parser {parser!r} (known: {', '.join(known_parsers)})",
                                       file=path, row=row_no, field="parser"))
        active = parse_bool(row.get("active"), default=True, file=path, row=row_no, field="active")
        templates[template_id] = Template(
            stage=stage,
            template_id=template_id,
            template_name=row.get("template_name", ""),
            description=row.get("description", ""),
            parser=parser or ("identity" if stage != "evaluation" else parser),
            generator=generator,  # type: ignore[arg-type]
            active=active,
        )
    return templates


def load_models(path: Path) -> dict[str, LlmModel]:
    models: dict[str, LlmModel] = {}
    seen: set[str] = set()
    for row_no, row in read_rows(path, ["id", "model"]):
        model_id = _check_id(row["id"], file=path, row=row_no, field="id", seen=seen)
        if not row["model"]:
            raise CatalogError(located("is empty", file=path, row=row_no, field="model"))
        tier = (row.get("tier") or "").strip().lower() or default_tier(row["model"])
        if tier not in ("free", "paid"):
            raise CatalogError(located(f"expected 'free' or 'paid', got {row.get('tier')!r}",
                                       file=path, row=row_no, field="tier"))

        def flag(name: str) -> bool:
            return parse_bool(row.get(name), default=True, file=path, row=row_no, field=name)

        def price(name: str) -> float | None:
            return parse_optional_float(row.get(name), file=path, row=row_no, field=name)

        models[model_id] = LlmModel(
            id=model_id,
            model=row["model"],
            provider=row.get("provider", ""),
            display_name=row.get("display_name", ""),
            specialization=row.get("specialization", ""),
            tier=tier,  # type: ignore[arg-type]
            for_generation=flag("for_generation"),
            for_evaluation=flag("for_evaluation"),
            active=flag("active"),
            price_prompt_per_mtok=price("price_prompt_per_mtok"),
            price_completion_per_mtok=price("price_completion_per_mtok"),
        )
    return models


def read_template_text(path: Path) -> str:
    """The template file with one trailing newline dropped (data-contract section 2)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(located("template file not found", file=path)) from None
    except UnicodeDecodeError as exc:
        raise TemplateError(located(f"not UTF-8 text: {exc.reason}", file=path)) from None
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


@dataclass
class Catalogs:
    """All raw catalogs of one data root, validated."""

    layout: DataLayout
    concepts: dict[str, Concept]
    templates: dict[str, dict[str, Template]]
    models: dict[str, LlmModel]
    _description_cache: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, layout: DataLayout) -> "Catalogs":
        return cls(
            layout=layout,
            concepts=load_concepts(layout.concepts_csv),
            templates={stage: load_templates(layout.templates_csv(stage), stage) for stage in STAGES},
            models=load_models(layout.models_csv),
        )

    # selections used by the no-code cohort
    @cached_property
    def active_concept_ids(self) -> list[str]:
        return [c.concept_id for c in self.concepts.values() if c.active]

    def active_template_ids(self, stage: Stage) -> list[str]:
        return [t.template_id for t in self.templates[stage].values() if t.active]

    @property
    def generation_model_ids(self) -> list[str]:
        return [m.id for m in self.models.values() if m.active and m.for_generation]

    @property
    def evaluation_model_ids(self) -> list[str]:
        return [m.id for m in self.models.values() if m.active and m.for_evaluation]

    # lookups with clear errors
    def template(self, stage: Stage, template_id: str) -> Template:
        try:
            return self.templates[stage][template_id]
        except KeyError:
            raise CatalogError(located(f"unknown {stage} template {template_id!r}",
                                       file=self.layout.templates_csv(stage), field="template_id")) from None

    def model(self, model_id: str) -> LlmModel:
        try:
            return self.models[model_id]
        except KeyError:
            raise CatalogError(located(f"unknown model id {model_id!r}", file=self.layout.models_csv, field="id")) from None

    def template_path(self, stage: Stage, template_id: str) -> Path:
        return self.layout.template_file(stage, template_id)

    def template_text(self, stage: Stage, template_id: str) -> str:
        return read_template_text(self.template_path(stage, template_id))

    def concept_text(self, concept_id: str, level: str) -> str:
        """Text at ``level``, else paragraph, else sentence, else the concept's name."""
        if level not in DESCRIPTION_LEVELS:
            raise CatalogError(f"unknown description level {level!r} (known: {', '.join(DESCRIPTION_LEVELS)})")
        key = (concept_id, level)
        if key not in self._description_cache:
            self._description_cache[key] = self._resolve_description(concept_id, level)
        return self._description_cache[key]

    def _resolve_description(self, concept_id: str, level: str) -> str:
        for candidate in dict.fromkeys((level, "paragraph", "sentence")):
            path = self.layout.description_file(candidate, concept_id)
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except UnicodeDecodeError as exc:
                raise CatalogError(located(f"not UTF-8 text: {exc.reason}", file=path)) from None
            if text.strip():
                return text.strip()
        concept = self.concepts.get(concept_id)
        if concept is None:
            raise CatalogError(located(f"unknown concept id {concept_id!r}", file=self.layout.concepts_csv,
                                       field="concept_id"))
        return concept.name
