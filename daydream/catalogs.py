"""Raw catalogs (docs/data-contract.md, "Catalogs"): concepts, templates, models, descriptions.

Each CSV row is validated by a pydantic row model, so the rules of a column live in one annotated
type (an id, a flag, a price) instead of field-by-field code; the first problem of a row becomes a
``CatalogError`` naming the file, the row and the column, so a researcher can fix the CSV without
reading code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError

from daydream.csvio import FALSE_WORDS, TRUE_WORDS, read_rows
from daydream.errors import CatalogError, TemplateError, first_problem, located, shown
from daydream.parsers import DRAFT_PARSER_NAMES, EVALUATION_PARSER_NAMES, PAIRWISE_PARSER_NAMES
from daydream.paths import DESCRIPTION_LEVELS, STAGES, DataLayout, Stage, id_problem

Tier = Literal["free", "paid"]
MODEL_TIERS: tuple[Tier, ...] = ("free", "paid")
FREE_SUFFIX = ":free"
"""OpenRouter's free variants end in ``:free``: the tier when the catalog's ``tier`` cell is blank."""
Generator = Literal["llm", "copy"]
BatchApi = Literal["none", "openrouter", "openai", "anthropic"]
BATCH_APIS: tuple[BatchApi, ...] = ("openrouter", "openai", "anthropic")
"""The providers' batch APIs a model may go through (``none``: direct calls only)."""
DEFAULT_BATCH_DISCOUNT = 0.5
"""What OpenAI, Anthropic and OpenRouter take off the price of a batch request (docs/llm.md, "Batch lane")."""
_VENDOR_PREFIXES = {"openai": "openai/", "anthropic": "anthropic/"}


def default_tier(model: str) -> Tier:
    return "free" if model.strip().endswith(FREE_SUFFIX) else "paid"


# -- column types ------------------------------------------------------------------------------


def _an_id(value: str) -> str:
    problem = id_problem(value)
    if problem is not None:
        raise ValueError(f"invalid id {shown(value)}: {problem}")
    return value


def _flag(value: Any) -> Any:
    """true/false/1/0/yes/no in any case; blank means the field's default."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"expected a boolean (true/false/1/0/yes/no), got {shown(value)}")


def _price(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {shown(value)}") from None
    if not number >= 0:  # also refuses nan
        raise ValueError(f"must be a non-negative number, got {shown(value)}")
    return number


def _non_empty(value: str) -> str:
    if not value:
        raise ValueError("is empty")
    return value


CatalogId = Annotated[str, AfterValidator(_an_id)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Price = Annotated[float | None, BeforeValidator(_price)]


def _discount(value: Any) -> Any:
    """A fraction taken off the price: ``0.5``, or ``50%``; 0 (no discount) up to, not including, 1."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    scale = 100.0 if text.endswith("%") else 1.0
    try:
        number = float(text.removesuffix("%")) / scale
    except ValueError:
        raise ValueError(f"expected a fraction such as 0.5 or 50%, got {shown(value)}") from None
    if not 0 <= number < 1:
        raise ValueError(f"must be at least 0 and below 1 (0.5 = half price), got {shown(value)}")
    return number


Discount = Annotated[float, BeforeValidator(_discount)]
Text = Annotated[str, AfterValidator(_non_empty)]


class _Row(BaseModel):
    """A catalog row: unknown columns are allowed (researchers keep notes in extra columns)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Concept(_Row):
    concept_id: CatalogId
    name: Text
    active: Flag = True


class Template(_Row):
    stage: Stage
    template_id: CatalogId
    template_name: str = ""
    description: str = ""
    parser: str = ""
    generator: Generator = "llm"
    active: Flag = True

    @property
    def is_copy(self) -> bool:
        return self.generator == "copy"

    @property
    def is_pairwise(self) -> bool:
        return self.parser in PAIRWISE_PARSER_NAMES


class LlmModel(_Row):
    id: CatalogId
    model: Text
    provider: str = ""
    display_name: str = ""
    specialization: str = ""
    tier: Tier = "paid"
    for_generation: Flag = True
    for_evaluation: Flag = True
    active: Flag = True
    price_prompt_per_mtok: Price = None
    price_completion_per_mtok: Price = None
    batch: BatchApi = "none"
    batch_discount: Discount = DEFAULT_BATCH_DISCOUNT
    batch_model: str = ""

    @property
    def batch_api(self) -> BatchApi | None:
        """The batch API this model's batch lane uses; None: it has none (always direct calls)."""
        return None if self.batch == "none" else self.batch

    @property
    def batch_price_factor(self) -> float:
        """Batch price = catalog price x this (the price after the batch discount)."""
        return 1.0 - self.batch_discount

    @property
    def batch_model_name(self) -> str:
        """The model as the batch API names it: ``batch_model``, else ``model`` without the
        ``openai/`` or ``anthropic/`` vendor prefix when the batch goes straight to that vendor."""
        if self.batch_model:
            return self.batch_model
        prefix = _VENDOR_PREFIXES.get(self.batch, "")
        return self.model.removeprefix(prefix) if prefix else self.model


# -- loading -------------------------------------------------------------------------------------

RowT = TypeVar("RowT", bound=_Row)


class _CellError(ValueError):
    """A rule across columns, raised by a loader's ``prepare`` for one column of the row."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column


def _load(
    path: Path,
    model: type[RowT],
    required: list[str],
    key: str,
    prepare: Callable[[dict[str, Any]], dict[str, Any]] = dict,
) -> dict[str, RowT]:
    """Every row of ``path`` as ``model``, keyed by ``key``; blank cells take the model's default."""
    out: dict[str, RowT] = {}
    for row_no, cells in read_rows(path, required):
        try:
            record = model.model_validate(prepare({k: v for k, v in cells.items() if v != "" or k in required}))
        except _CellError as exc:
            raise CatalogError(located(str(exc), file=path, row=row_no, field=exc.column)) from None
        except ValidationError as exc:
            column, message = first_problem(exc)
            raise CatalogError(located(message, file=path, row=row_no, field=column)) from None
        ident = getattr(record, key)
        if ident in out:
            raise CatalogError(located(f"duplicate id {shown(ident)}", file=path, row=row_no, field=key))
        out[ident] = record
    return out


def load_concepts(path: Path) -> dict[str, Concept]:
    return _load(path, Concept, ["concept_id", "name"], "concept_id")


def load_templates(path: Path, stage: Stage) -> dict[str, Template]:
    known = (*EVALUATION_PARSER_NAMES, *PAIRWISE_PARSER_NAMES) if stage == "evaluation" else DRAFT_PARSER_NAMES

    def prepare(cells: dict[str, Any]) -> dict[str, Any]:
        generator = cells.get("generator", "llm").lower()
        if generator == "copy" and stage != "essay":
            raise _CellError("generator", f"generator 'copy' is only for essay templates, not {stage}")
        parser = cells.get("parser", "")
        if stage == "evaluation" and not parser:
            raise _CellError("parser", f"is required for evaluation templates (one of: {', '.join(known)})")
        if parser and parser not in known:
            raise _CellError("parser", f"unknown parser {shown(parser)} (known: {', '.join(known)})")
        return {**cells, "stage": stage, "generator": generator, "parser": parser or "identity"}

    return _load(path, Template, ["template_id"], "template_id", prepare)


def load_models(path: Path) -> dict[str, LlmModel]:
    def prepare(cells: dict[str, Any]) -> dict[str, Any]:
        tier = cells.get("tier", "").lower() or default_tier(cells.get("model", ""))
        batch = cells.get("batch", "").strip().lower() or "none"
        if batch != "none" and tier == "free":
            raise _CellError(
                "batch", f"free models have no batch lane (batch APIs bill paid models); got {shown(batch)}"
            )
        return {**cells, "tier": tier, "batch": batch}

    return _load(path, LlmModel, ["id", "model"], "id", prepare)


def read_template_text(path: Path) -> str:
    """The template file with one trailing newline dropped (docs/data-contract.md, "Templates")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(located("template file not found", file=path)) from None
    except IsADirectoryError:
        raise TemplateError(located("is a directory, expected a template file", file=path)) from None
    except PermissionError:
        raise TemplateError(located("permission denied", file=path)) from None
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
    def load(cls, layout: DataLayout) -> Catalogs:
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
        # a pairwise template judges two essays at once: tournaments name it, absolute cohorts never take it
        return [t.template_id for t in self.templates[stage].values() if t.active and not t.is_pairwise]

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
            raise CatalogError(
                located(
                    f"unknown {stage} template {shown(template_id)}",
                    file=self.layout.templates_csv(stage),
                    field="template_id",
                )
            ) from None

    def model(self, model_id: str) -> LlmModel:
        try:
            return self.models[model_id]
        except KeyError:
            raise CatalogError(
                located(f"unknown model id {shown(model_id)}", file=self.layout.models_csv, field="id")
            ) from None

    def template_path(self, stage: Stage, template_id: str) -> Path:
        return self.layout.inside(self.layout.template_file(stage, template_id))

    def template_text(self, stage: Stage, template_id: str) -> str:
        return read_template_text(self.template_path(stage, template_id))

    def concept_text(self, concept_id: str, level: str) -> str:
        """Text at ``level``, else paragraph, else sentence, else the concept's name."""
        if level not in DESCRIPTION_LEVELS:
            raise CatalogError(f"unknown description level {shown(level)} (known: {', '.join(DESCRIPTION_LEVELS)})")
        key = (concept_id, level)
        if key not in self._description_cache:
            self._description_cache[key] = self._resolve_description(concept_id, level)
        return self._description_cache[key]

    def _resolve_description(self, concept_id: str, level: str) -> str:
        concept = self.concepts.get(concept_id)
        if concept is None:
            raise CatalogError(
                located(f"unknown concept id {shown(concept_id)}", file=self.layout.concepts_csv, field="concept_id")
            )
        for candidate in dict.fromkeys((level, "paragraph", "sentence")):
            path = self.layout.description_file(candidate, concept_id)
            try:
                text = self.layout.inside(path).read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (IsADirectoryError, PermissionError) as exc:
                raise CatalogError(located(f"cannot read: {exc.strerror}", file=path)) from None
            except UnicodeDecodeError as exc:
                raise CatalogError(located(f"not UTF-8 text: {exc.reason}", file=path)) from None
            if text.strip():
                return text.strip()
        return concept.name
