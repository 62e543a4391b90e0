"""The bundled data under ``data/``: catalogs, descriptions, templates, models and cohort specs.

These tests read the repository's own ``data/`` directory. They use the project's catalog loader
for the CSVs and render templates with a plain sandboxed Jinja2 environment (the contract of
data-contract.md section 2), so they stay independent of the renderer and the cohort builder.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from pathlib import Path

import jinja2
import jinja2.sandbox
import pytest
import yaml

from daydream.catalogs import Catalogs, default_tier, read_template_text
from daydream.combos import k_subsets
from daydream.paths import DESCRIPTION_LEVELS, STAGES, DataLayout

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
DOCS = REPO / "docs" / "data.md"
COHORT_SPECS = sorted((DATA / "cohorts").glob("*/spec/config.yaml"))

SAMPLE_CONCEPTS = [
    {"name": "Default Mode Network", "content": "A brain network active during rest and mind-wandering."},
    {"name": "Generator-Verifier Gap", "content": "Checking an answer is often easier than finding one."},
    {"name": "Combinatorial Creativity", "content": "New ideas as new combinations of old ones."},
]
SAMPLE_DRAFT = (
    "1. Default Mode Network + Generator-Verifier Gap: background proposals, strict filtering.\n2. ...\n3. ..."
)
SAMPLE_VARIABLES = {
    "draft": {"concepts": SAMPLE_CONCEPTS},
    "essay": {"draft_block": SAMPLE_DRAFT, "links_block": SAMPLE_DRAFT},
    "evaluation": {"response": "An essay about daydreaming machines.\n\nIt argues one thing."},
}
STAGE_MARKERS = {"draft": "DRAFT TASK", "essay": "ESSAY TASK", "evaluation": "EVALUATION TASK"}
PARSER_MARKERS = {
    "essay_idea_last": "<essay-idea stage=",
    "essay_block": "<essay>",
    "in_last_line": "SCORE: <n>",
    "complex": "Final Score:",
}
LLM_AXES = {"draft_llm": "generation", "essay_llm": "generation", "evaluation_llm": "evaluation"}
TEMPLATE_AXES = {"draft_template": "draft", "essay_template": "essay", "evaluation_template": "evaluation"}


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load(DataLayout(DATA))


def _env() -> jinja2.sandbox.SandboxedEnvironment:
    return jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def _all_templates(catalogs: Catalogs):
    for stage in STAGES:
        yield from catalogs.templates[stage].values()


# ---------------------------------------------------------------- concepts


def test_concepts_catalog(catalogs: Catalogs) -> None:
    assert len(catalogs.concepts) >= 14
    inactive = [c.concept_id for c in catalogs.concepts.values() if not c.active]
    assert 1 <= len(inactive) <= 2, inactive
    assert len(catalogs.active_concept_ids) >= 14


def test_every_concept_has_sentence_and_paragraph(catalogs: Catalogs) -> None:
    layout = catalogs.layout
    for concept_id in catalogs.concepts:
        sentence = layout.description_file("sentence", concept_id).read_text(encoding="utf-8").strip()
        paragraph = layout.description_file("paragraph", concept_id).read_text(encoding="utf-8").strip()
        assert sentence and "\n" not in sentence, concept_id
        assert 80 <= len(paragraph.split()) <= 150, (concept_id, len(paragraph.split()))
        assert catalogs.concept_text(concept_id, "paragraph") == paragraph


def test_articles(catalogs: Catalogs) -> None:
    article_dir = catalogs.layout.raw / "concepts" / "descriptions-article"
    articles = sorted(article_dir.glob("*.txt"))
    assert len(articles) >= 3
    for path in articles:
        assert path.stem in catalogs.concepts, path
        words = len(path.read_text(encoding="utf-8").split())
        assert 400 <= words <= 700, (path.name, words)
    # a concept without an article falls back to its paragraph
    without = next(c for c in catalogs.concepts if not (article_dir / f"{c}.txt").exists())
    assert catalogs.concept_text(without, "article") == catalogs.concept_text(without, "paragraph")


def test_no_stray_description_files(catalogs: Catalogs) -> None:
    for level in DESCRIPTION_LEVELS:
        for path in (catalogs.layout.raw / "concepts" / f"descriptions-{level}").glob("*"):
            assert path.suffix == ".txt" and path.stem in catalogs.concepts, path


# ---------------------------------------------------------------- templates


def test_template_catalogs_shape(catalogs: Catalogs) -> None:
    minimum = {"draft": 3, "essay": 2, "evaluation": 3}
    for stage in STAGES:
        active = catalogs.active_template_ids(stage)
        assert len(active) >= minimum[stage], (stage, active)
        assert any(not t.active for t in catalogs.templates[stage].values()), f"no inactive {stage} template"
    assert any(t.is_copy and t.active for t in catalogs.templates["essay"].values())
    parsers = {catalogs.templates["evaluation"][t].parser for t in catalogs.active_template_ids("evaluation")}
    assert parsers == {"in_last_line", "complex"}
    # a pairwise template is for tournaments (docs/data-contract.md §12), never an absolute cohort's
    assert any(t.is_pairwise and t.active for t in catalogs.templates["evaluation"].values())


def test_template_files_exist_except_copy(catalogs: Catalogs) -> None:
    for template in _all_templates(catalogs):
        path = catalogs.template_path(template.stage, template.template_id)
        if template.is_copy:
            assert not path.exists(), f"copy-mode template needs no file: {path}"
        else:
            assert path.is_file(), path
    # and no template file lacks a catalog row
    for stage in STAGES:
        for path in (catalogs.layout.raw / "templates" / stage).glob("*"):
            assert path.suffix == ".txt" and path.stem in catalogs.templates[stage], path


@pytest.mark.parametrize("stage", STAGES)
def test_templates_render_strictly(catalogs: Catalogs, stage: str) -> None:
    env = _env()
    for template in catalogs.templates[stage].values():
        if template.is_copy:
            continue
        source = read_template_text(catalogs.template_path(stage, template.template_id))
        if template.is_pairwise:  # a tournament's judge sees two essays (docs/data-contract.md §12)
            pair = {"essay_a": "First essay <A>.", "essay_b": "Second essay <B>."}
            rendered = env.from_string(source).render(**pair)
            assert all(text in rendered for text in pair.values()), template.template_id
            continue
        rendered = env.from_string(source).render(**SAMPLE_VARIABLES[stage])
        assert "{{" not in rendered and "{%" not in rendered, template.template_id
        if stage == "draft":
            for concept in SAMPLE_CONCEPTS:
                assert concept["name"] in rendered and concept["content"] in rendered, template.template_id
        elif stage == "essay":
            assert SAMPLE_DRAFT in rendered, template.template_id
        else:
            assert SAMPLE_VARIABLES["evaluation"]["response"] in rendered, template.template_id


@pytest.mark.parametrize("stage", STAGES)
def test_templates_fail_on_missing_variables(catalogs: Catalogs, stage: str) -> None:
    env = _env()
    for template in catalogs.templates[stage].values():
        if template.is_copy:
            continue
        source = read_template_text(catalogs.template_path(stage, template.template_id))
        with pytest.raises(jinja2.UndefinedError):
            env.from_string(source).render()


def test_template_markers(catalogs: Catalogs) -> None:
    """Phrases the offline LLM uses to recognise the stage and the output shape asked for."""
    for template in _all_templates(catalogs):
        if template.is_copy:
            continue
        text = catalogs.template_text(template.stage, template.template_id)
        first_line = text.splitlines()[0]
        assert STAGE_MARKERS[template.stage] in first_line, (template.template_id, first_line)
        for other_stage, marker in STAGE_MARKERS.items():
            if other_stage != template.stage:
                assert marker not in text, (template.template_id, marker)
        marker = PARSER_MARKERS.get(template.parser)
        if marker:
            assert marker in text, (template.template_id, template.parser, marker)


# ---------------------------------------------------------------- models


def test_models(catalogs: Catalogs) -> None:
    models = catalogs.models
    raw_rows = list(csv.DictReader((catalogs.layout.models_csv).open(encoding="utf-8")))
    assert len(raw_rows) == len(models)
    for model in models.values():
        assert model.tier == default_tier(model.model), model.id
        if model.tier == "free":
            assert model.model.endswith(":free")
            assert model.price_prompt_per_mtok in (0.0, None) and model.price_completion_per_mtok in (0.0, None)
        assert "/" in model.model, model.id
    active = [m for m in models.values() if m.active]
    assert {m.tier for m in active} == {"free", "paid"}
    assert any(m.price_prompt_per_mtok is None for m in active if m.tier == "paid"), "one paid model with unknown price"
    assert any((m.price_prompt_per_mtok or 0) > 0 for m in active)
    assert any(m.for_generation and not m.for_evaluation for m in active)
    assert any(m.for_evaluation and not m.for_generation for m in active)
    assert any(not m.active for m in models.values())
    # the ids named by the data contract's examples
    assert models["deepseek_r1_f"].model == "deepseek/deepseek-r1:free"
    assert (models["gemini_25_pro"].price_prompt_per_mtok, models["gemini_25_pro"].price_completion_per_mtok) == (
        1.25,
        10.0,
    )
    assert models["sonnet-4"].model == "anthropic/claude-sonnet-4"


# ---------------------------------------------------------------- cohort specs


def _resolve_axis(value, spec_dir: Path) -> list:
    if isinstance(value, list):
        return value
    assert isinstance(value, str) and value.startswith("@file:"), value
    path = spec_dir / value[len("@file:") :]
    assert path.is_file(), path
    if path.suffix == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".csv":
        rows = list(csv.reader(path.open(encoding="utf-8")))
        return [r[0] if len(r) == 1 else tuple(r) for r in rows[1:]]
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _load_spec(path: Path) -> dict:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(spec, dict) and isinstance(spec.get("axes"), dict), path
    return spec


def _check_value(catalogs: Catalogs, axis: str, value, where: str) -> None:
    if axis in TEMPLATE_AXES:
        stage = TEMPLATE_AXES[axis]
        assert value in catalogs.templates[stage], f"{where}: unknown {stage} template {value!r}"
        assert catalogs.templates[stage][value].active, f"{where}: inactive {stage} template {value!r}"
    elif axis in LLM_AXES:
        model = catalogs.models.get(value)
        assert model is not None, f"{where}: unknown model {value!r}"
        assert model.active, f"{where}: inactive model {value!r}"
        role = LLM_AXES[axis]
        assert model.for_generation if role == "generation" else model.for_evaluation, (
            f"{where}: {value!r} not for {role}"
        )
    elif axis.endswith("replicate"):
        assert int(value) >= 1, where


@pytest.mark.parametrize("spec_path", COHORT_SPECS, ids=lambda p: p.parent.parent.name)
def test_cohort_spec_references(catalogs: Catalogs, spec_path: Path) -> None:
    spec = _load_spec(spec_path)
    spec_dir = spec_path.parent
    combos = spec.get("combos")
    if combos:
        for concept_id in combos["concepts"]:
            assert concept_id in catalogs.concepts and catalogs.concepts[concept_id].active, concept_id
        assert combos.get("description_level", "paragraph") in DESCRIPTION_LEVELS
        assert 1 <= int(combos["k_max"]) <= len(combos["concepts"])
    axes = {name: _resolve_axis(value, spec_dir) for name, value in spec["axes"].items()}
    for axis, levels in axes.items():
        assert levels, f"{spec_path}: axis {axis} is empty"
        for value in levels:
            _check_value(catalogs, axis, value, f"{spec_path}: axes.{axis}")
    rules = spec.get("rules") or {}
    assert set(rules) <= {"subsets", "ties", "pairs", "tuples"}, rules.keys()
    for axis, values in (rules.get("subsets") or {}).items():
        assert axis in axes
        for value in values:
            assert value in axes[axis], f"{spec_path}: subsets.{axis} {value!r} not a level"
    for name, tied in (rules.get("ties") or {}).items():
        assert len(tied) >= 2 and all(a in axes for a in tied), name
    for name, pair in (rules.get("pairs") or {}).items():
        assert pair["balance"] in ("left", "right", "both"), name
        for left, right in pair["allowed"]:
            _check_value(catalogs, pair["left"], left, f"{spec_path}: pairs.{name}")
            _check_value(catalogs, pair["right"], right, f"{spec_path}: pairs.{name}")
    for name, tup in (rules.get("tuples") or {}).items():
        items = _resolve_axis(tup["items"], spec_dir)
        for item in items:
            assert len(item) == len(tup["axes"]), name
            for axis, value in zip(tup["axes"], item, strict=False):
                _check_value(catalogs, axis, value, f"{spec_path}: tuples.{name}")
    field_order = spec["output"]["field_order"]
    assert len(field_order) == len(set(field_order))
    assert "combo_id" in field_order and all(f in axes or f == "combo_id" for f in field_order)


# A deliberately small reading of the spec DSL, only to pin the generation counts that docs/data.md
# states; the project's cohort builder is the real implementation.
def _expand(spec_path: Path, catalogs: Catalogs) -> list[dict]:
    spec = _load_spec(spec_path)
    spec_dir = spec_path.parent
    axes = {name: list(dict.fromkeys(_resolve_axis(v, spec_dir))) for name, v in spec["axes"].items()}
    c = spec["combos"]
    axes["combo_id"] = [
        combo.combo_id for combo in k_subsets(c["concepts"], int(c["k_max"]), c.get("description_level", "paragraph"))
    ]
    factors: list[tuple[tuple[str, ...], list[tuple]]] = [((a,), [(v,) for v in lv]) for a, lv in axes.items()]

    def take(names) -> list[tuple[tuple[str, ...], list[tuple]]]:
        taken = [f for f in factors if set(f[0]) & set(names)]
        for f in taken:
            factors.remove(f)
        return taken

    rules = spec.get("rules") or {}
    for section, body in rules.items():
        for key, rule in body.items():
            if section == "subsets":
                ((names, rows),) = take([key])
                i = names.index(key)
                factors.append((names, [r for r in rows if r[i] in rule]))
            elif section == "ties":
                taken = take(rule)
                levels = {a: [r[f[0].index(a)] for f in taken if a in f[0] for r in f[1]] for a in rule}
                common = [v for v in dict.fromkeys(levels[rule[0]]) if all(v in levels[a] for a in rule)]
                factors.append((tuple(rule), [tuple(v for _ in rule) for v in common]))
            elif section == "pairs":
                take([rule["left"], rule["right"]])
                factors.append(((rule["left"], rule["right"]), [tuple(p) for p in rule["allowed"]]))
            elif section == "tuples":
                take(rule["axes"])
                factors.append((tuple(rule["axes"]), [tuple(i) for i in _resolve_axis(rule["items"], spec_dir)]))
    rows = []
    for combo in itertools.product(*(f[1] for f in factors)):
        row: dict = {}
        for (names, _), values in zip(factors, combo, strict=False):
            row.update(zip(names, values, strict=False))
        rows.append(row)
    return rows


def _stage_counts(rows: list[dict], catalogs: Catalogs) -> dict[str, Counter]:
    def rep(row, stage):
        return int(row.get(f"{stage}_replicate", 1))

    drafts, essays, evaluations = set(), set(), set()
    for r in rows:
        d = (r["combo_id"], r["draft_template"], r["draft_llm"], rep(r, "draft"))
        e = (d, r["essay_template"], r["essay_llm"], rep(r, "essay"))
        v = (e, r["evaluation_template"], r["evaluation_llm"], rep(r, "evaluation"))
        drafts.add(d)
        essays.add(e)
        evaluations.add(v)
    tier = lambda model_id: catalogs.models[model_id].tier  # noqa: E731
    return {
        "draft": Counter(tier(d[2]) for d in drafts),
        "essay": Counter("copy" if catalogs.templates["essay"][e[1]].is_copy else tier(e[2]) for e in essays),
        "evaluation": Counter(tier(v[2]) for v in evaluations),
    }


def test_demo_cohort_counts(catalogs: Catalogs) -> None:
    counts = _stage_counts(_expand(DATA / "cohorts/demo/spec/config.yaml", catalogs), catalogs)
    assert counts == {
        "draft": Counter(free=6, paid=6),
        "essay": Counter(paid=12, copy=6),
        "evaluation": Counter(paid=36),
    }
    assert "66 generations" in DOCS.read_text(encoding="utf-8")


def test_example_full_cohort_counts(catalogs: Catalogs) -> None:
    spec_path = DATA / "cohorts/example-full/spec/config.yaml"
    rows = _expand(spec_path, catalogs)
    counts = _stage_counts(rows, catalogs)
    assert sum(counts["draft"].values()) == 360
    assert sum(counts["essay"].values()) == 720
    assert counts["essay"]["copy"] == 240
    assert sum(counts["evaluation"].values()) == 4320
    assert "5,400 generations" in DOCS.read_text(encoding="utf-8")
    # the pairs rule claims balance on both sides: check it on the allowed list
    pair = _load_spec(spec_path)["rules"]["pairs"]["draft_essay"]
    for side in (0, 1):
        assert len(set(Counter(p[side] for p in pair["allowed"]).values())) == 1


def test_docs_name_every_bundled_id(catalogs: Catalogs) -> None:
    text = DOCS.read_text(encoding="utf-8")
    ids = list(catalogs.concepts) + list(catalogs.models)
    ids += [t.template_id for t in _all_templates(catalogs)]
    ids += [p.parent.parent.name for p in COHORT_SPECS]
    missing = [i for i in ids if f"`{i}`" not in text]
    assert not missing, f"docs/data.md does not mention: {missing}"


def test_spec_files_are_plain_json_compatible() -> None:
    """Specs use only YAML that maps to JSON types (no anchors to Python objects, no dates)."""
    for spec_path in COHORT_SPECS:
        json.dumps(_load_spec(spec_path))
