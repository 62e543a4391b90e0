"""A synthetic gens store for the report tests: catalogs, templates, generations, memberships.

Ids are the real ones (``daydream.ids``), files are laid out as the data contract says, and each
generation is written with exactly the files the test asks for, so both the current layout and the
older DayDreaming one (two-column membership, evaluations with only ``raw.txt``) can be built.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from daydream import ids
from daydream.combos import combo_id
from daydream.rendering import template_sha256

CONCEPTS = ["alpha", "beta", "gamma", "delta"]
DRAFT_TEMPLATES = {
    "dt-v1": "Combine {% for c in concepts %}{{ c.name }} {% endfor %}",
    "dt-v2": "Combine better {% for c in concepts %}{{ c.name }} {% endfor %}",
}
ESSAY_TEMPLATES = {"et-v1": "Write an essay from {{ draft_block }}", "copy": None}
EVALUATION_TEMPLATES = {
    "judge-a": ("in_last_line", "Rate 0-9: {{ response }}"),
    "judge-b": ("complex", "Rate out of 10: {{ response }}"),
}
MODELS = [
    # id, model, for_generation, for_evaluation, price prompt, price completion ($/Mtok)
    ("gen1", "prov/gen1", True, False, "1.0", "2.0"),
    ("gen2", "prov/gen2:free", True, False, "", ""),
    ("j1", "prov/j1", False, True, "0.5", "1.5"),
    ("j2", "prov/j2", False, True, "", ""),
    ("j3", "prov/j3", False, True, "", ""),
]
OLD_SHA = "0" * 64


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _json(path: Path, data: dict) -> None:
    _write(path, json.dumps(data))


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


@dataclass
class StoreBuilder:
    root: Path
    members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    meta: dict[str, dict] = field(default_factory=dict)

    def __post_init__(self) -> None:
        raw = self.root / "1_raw"
        _csv(raw / "concepts_metadata.csv", ["concept_id", "name"], [[c, c.title()] for c in CONCEPTS])
        _csv(raw / "draft_templates.csv", ["template_id", "parser"], [[t, "identity"] for t in DRAFT_TEMPLATES])
        _csv(
            raw / "essay_templates.csv",
            ["template_id", "generator"],
            [[t, "copy" if text is None else "llm"] for t, text in ESSAY_TEMPLATES.items()],
        )
        _csv(
            raw / "evaluation_templates.csv",
            ["template_id", "parser"],
            [[t, parser] for t, (parser, _) in EVALUATION_TEMPLATES.items()],
        )
        _csv(
            raw / "llm_models.csv",
            ["id", "model", "for_generation", "for_evaluation", "price_prompt_per_mtok", "price_completion_per_mtok"],
            [list(m) for m in MODELS],
        )
        for stage, texts in (
            ("draft", DRAFT_TEMPLATES),
            ("essay", ESSAY_TEMPLATES),
            ("evaluation", {t: text for t, (_, text) in EVALUATION_TEMPLATES.items()}),
        ):
            for template_id, text in texts.items():
                if text is not None:
                    _write(raw / "templates" / stage / f"{template_id}.txt", text + "\n")
        self.combo_rows: list[list] = []

    # -- helpers ----------------------------------------------------------------------------
    def template_sha(self, stage: str, template_id: str) -> str:
        path = self.root / "1_raw" / "templates" / stage / f"{template_id}.txt"
        return template_sha256(path.read_text(encoding="utf-8")[:-1])

    def combo(self, concepts: list[str], level: str = "paragraph") -> str:
        cid = combo_id(concepts, level, len(concepts))
        for concept in concepts:
            self.combo_rows.append([cid, "v1", concept, level, len(concepts), "2024-01-01T00:00:00+00:00"])
        _csv(
            self.root / "combo_mappings.csv",
            ["combo_id", "version", "concept_id", "description_level", "k_max", "created_at"],
            self.combo_rows,
        )
        return cid

    def _gen(
        self,
        stage: str,
        gen_id: str,
        meta: dict,
        *,
        raw: str | None,
        parsed: str | None,
        cohort: str | None,
        legacy: bool,
        stale: bool,
        cost: float | None,
        tokens: tuple[int, int],
        parsed_meta: dict | None = None,
        error: tuple[str, str] | None = None,
        mode: str = "llm",
        llm: str | None = None,
    ) -> str:
        gdir = self.root / "gens" / stage / gen_id
        meta = {"stage": stage, "gen_id": gen_id, "origin_cohort_id": cohort, "mode": mode, **meta}
        _json(gdir / "metadata.json", meta)
        self.meta[gen_id] = meta
        if raw is not None:
            _write(gdir / "raw.txt", raw)
            if not legacy and mode == "llm":
                sha = OLD_SHA if stale else self.template_sha(stage, meta["template_id"])
                _json(
                    gdir / "raw_metadata.json",
                    {
                        "stage": stage,
                        "gen_id": gen_id,
                        "mode": mode,
                        "llm_model_id": llm,
                        "model": dict((m[0], m[1]) for m in MODELS).get(llm or "", ""),
                        "finish_reason": "stop",
                        "truncated": False,
                        "usage": {
                            "prompt_tokens": tokens[0],
                            "completion_tokens": tokens[1],
                            "total_tokens": tokens[0] + tokens[1],
                        },
                        "cost_usd": cost,
                        "duration_s": 1.0,
                        "prompt_sha256": "x",
                        "template_sha256": sha,
                        "created_at": "2024-01-01T00:00:00+00:00",
                    },
                )
        if parsed is not None:
            _write(gdir / "parsed.txt", parsed)
        if parsed_meta is not None and not legacy:
            _json(gdir / "parsed_metadata.json", {"stage": stage, "gen_id": gen_id, **parsed_meta})
        if error is not None:
            _json(gdir / "error.json", {"stage": stage, "gen_id": gen_id, "kind": error[0], "error": error[1]})
        if cohort is not None:
            self.members.setdefault(cohort, []).append((stage, gen_id))
        return gen_id

    # -- generations -------------------------------------------------------------------------
    def draft(
        self,
        combo: str,
        template: str,
        llm: str,
        *,
        replicate: int = 1,
        cohort: str | None = "c1",
        text: str | None = None,
        stale: bool = False,
        legacy: bool = False,
        cost: float | None = None,
        tokens: tuple[int, int] = (100, 200),
        done: bool = True,
    ) -> str:
        gen_id = ids.draft_id(combo, template, llm, replicate)
        text = text or f"Draft {gen_id}\nline two\nline three"
        return self._gen(
            "draft",
            gen_id,
            {
                "template_id": template,
                "combo_id": combo,
                "llm_model_id": llm,
                "parent_gen_id": None,
                "replicate": replicate,
            },
            raw=text if done else None,
            parsed=text if done else None,
            cohort=cohort,
            legacy=legacy,
            stale=stale,
            cost=cost,
            tokens=tokens,
            llm=llm,
            parsed_meta={"parser": "identity", "success": True} if done else None,
        )

    def essay(
        self,
        draft_id: str,
        template: str,
        llm: str,
        *,
        replicate: int = 1,
        cohort: str | None = "c1",
        text: str | None = None,
        stale: bool = False,
        legacy: bool = False,
        cost: float | None = None,
        tokens: tuple[int, int] = (300, 400),
    ) -> str:
        gen_id = ids.essay_id(draft_id, template, replicate)
        copy = ESSAY_TEMPLATES.get(template, "") is None
        text = text or f"Essay <{gen_id}> & text"
        return self._gen(
            "essay",
            gen_id,
            {
                "template_id": template,
                "combo_id": None,
                "llm_model_id": llm,
                "parent_gen_id": draft_id,
                "replicate": replicate,
            },
            raw=None if copy else text,
            parsed=text,
            cohort=cohort,
            legacy=legacy,
            stale=stale,
            cost=cost,
            tokens=tokens,
            mode="copy" if copy else "llm",
            llm=llm,
            parsed_meta={"parser": "copy" if copy else "identity", "success": True},
        )

    def evaluation(
        self,
        parent: str,
        template: str,
        llm: str,
        score: float | None,
        *,
        scale: float | None = None,
        replicate: int = 1,
        cohort: str | None = "c1",
        legacy: bool = False,
        stale: bool = False,
        cost: float | None = None,
        tokens: tuple[int, int] = (500, 50),
        state: str = "done",
        raw: str | None = None,
        parsed_txt: bool = True,
    ) -> str:
        """``state``: done, parse_error (raw kept, parsed_metadata says why), failed (error.json), pending."""
        gen_id = ids.evaluation_id(parent, template, llm, replicate)
        parser = EVALUATION_TEMPLATES[template][0] if template in EVALUATION_TEMPLATES else "complex"
        implied = scale or (9.0 if parser == "in_last_line" else 10.0)
        if raw is None:
            raw = (
                f"Reasoning by {llm} <b>\nSCORE: {score:g}" + (f"/{scale:g}" if scale else "")
                if score is not None
                else f"Reasoning by {llm}\nno verdict"
            )
        meta = {
            "template_id": template,
            "combo_id": None,
            "llm_model_id": llm,
            "parent_gen_id": parent,
            "replicate": replicate,
        }
        common = dict(cohort=cohort, legacy=legacy, stale=stale, cost=cost, tokens=tokens, llm=llm)
        if state == "pending":
            return self._gen("evaluation", gen_id, meta, raw=None, parsed=None, **common)
        if state == "failed":
            return self._gen(
                "evaluation", gen_id, meta, raw=None, parsed=None, error=("LLMError", "HTTP 400 bad model"), **common
            )
        if state == "parse_error":
            return self._gen(
                "evaluation",
                gen_id,
                meta,
                raw=raw,
                parsed=None,
                error=("parse", "no score"),
                parsed_meta={"parser": parser, "success": False, "error_kind": "parse", "error": f"{parser}: no score"},
                **common,
            )
        pm = {
            "parser": parser,
            "success": True,
            "score": score,
            "scale": scale,
            "implied_scale": implied,
            "score_normalized": score / implied,
        }
        return self._gen(
            "evaluation", gen_id, meta, raw=raw, parsed=f"{score}\n" if parsed_txt else None, parsed_meta=pm, **common
        )

    def write_membership(self, cohort: str, *, two_column: bool = False) -> Path:
        path = self.root / "cohorts" / cohort / "membership.csv"
        if two_column:
            _csv(path, ["stage", "gen_id"], [list(m) for m in self.members.get(cohort, [])])
            return path
        rows = []
        for stage, gen_id in self.members.get(cohort, []):
            m = self.meta[gen_id]
            rows.append(
                [
                    stage,
                    gen_id,
                    cohort,
                    m.get("parent_gen_id") or "",
                    m.get("combo_id") or "",
                    m["template_id"],
                    m["llm_model_id"],
                    m["replicate"],
                ]
            )
        _csv(
            path,
            ["stage", "gen_id", "cohort_id", "parent_gen_id", "combo_id", "template_id", "llm_model_id", "replicate"],
            rows,
        )
        return path


@dataclass
class SmallStore:
    """The canonical store of the report tests; the numbers in the tests are computed by hand from it."""

    root: Path
    builder: StoreBuilder
    combo_a: str
    combo_b: str
    d_a: str
    d_b: str
    e_a: str
    e_b: str
    e_s: str
    ev: dict[str, str]


def small_store(root: Path) -> SmallStore:
    """Cohort ``c1``::

    combo_a -- d_a (dt-v1, gen1, $0.01) -- e_a (et-v1, gen1, no cost reported)
                                       \\- e_s (et-v1, gen1, replicate 2, STALE template)
                                       (d_a is also judged directly)
    combo_b -- d_b (dt-v2, gen2, free)  -- e_b (copy)

    judge-a (in_last_line, /9)   judge-b (complex, /10)
    e_a: a/j1 7, a/j2 9 (perfect), b/j1 8/10, b/j2 6
    e_b: a/j1 3, a/j2 5, b/j1 parse failure, b/j2 pending
    d_a: a/j1 4
    e_s: a/j1 9 (stale by lineage)
    """
    b = StoreBuilder(root)
    combo_a = b.combo(["alpha", "beta"])
    combo_b = b.combo(["gamma", "delta"])
    d_a = b.draft(combo_a, "dt-v1", "gen1", cost=0.01, tokens=(100, 200))
    d_b = b.draft(combo_b, "dt-v2", "gen2", cost=None, tokens=(100, 100))
    e_a = b.essay(d_a, "et-v1", "gen1", cost=None, tokens=(1000, 2000))
    e_b = b.essay(d_b, "copy", "gen2")
    e_s = b.essay(d_a, "et-v1", "gen1", replicate=2, stale=True, cost=0.02, tokens=(10, 10))
    ev = {
        "a_a_j1": b.evaluation(e_a, "judge-a", "j1", 7, cost=0.001),
        "a_a_j2": b.evaluation(e_a, "judge-a", "j2", 9, cost=0.002),
        "a_b_j1": b.evaluation(e_a, "judge-b", "j1", 8, scale=10, cost=None, tokens=(1000, 1000)),
        "a_b_j2": b.evaluation(e_a, "judge-b", "j2", 6, cost=None),
        "b_a_j1": b.evaluation(e_b, "judge-a", "j1", 3, cost=0.001),
        "b_a_j2": b.evaluation(e_b, "judge-a", "j2", 5, cost=0.001),
        "b_b_j1": b.evaluation(e_b, "judge-b", "j1", None, state="parse_error", cost=0.001),
        "b_b_j2": b.evaluation(e_b, "judge-b", "j2", None, state="pending"),
        "d_a_j1": b.evaluation(d_a, "judge-a", "j1", 4, cost=0.001),
        "s_a_j1": b.evaluation(e_s, "judge-a", "j1", 9, cost=0.001),
    }
    b.write_membership("c1")
    return SmallStore(root, b, combo_a, combo_b, d_a, d_b, e_a, e_b, e_s, ev)


def legacy_store(root: Path) -> SmallStore:
    """The older DayDreaming layout: two-column membership, no raw_metadata.json, and evaluations with
    only ``raw.txt`` (parsed here), one with ``parsed.txt`` but no ``parsed_metadata.json``, one whose
    raw text has no score."""
    b = StoreBuilder(root)
    combo_a = b.combo(["alpha", "beta"])
    combo_b = b.combo(["gamma", "delta"])
    d_a = b.draft(combo_a, "dt-v1", "gen1", cohort="old", legacy=True)
    d_b = b.draft(combo_b, "dt-v1", "gen2", cohort="old", legacy=True)
    e_a = b.essay(d_a, "et-v1", "gen1", cohort="old", legacy=True)
    e_b = b.essay(d_b, "et-v1", "gen2", cohort="old", legacy=True)
    ev = {
        "a_a_j1": b.evaluation(e_a, "judge-a", "j1", 6, cohort="old", legacy=True, parsed_txt=False),
        "a_b_j1": b.evaluation(e_a, "judge-b", "j1", 7, scale=10, cohort="old", legacy=True, parsed_txt=False),
        "b_a_j1": b.evaluation(e_b, "judge-a", "j1", 2, cohort="old", legacy=True, parsed_txt=True),
        "b_b_j1": _legacy_unparseable(b, e_b),
    }
    b.write_membership("old", two_column=True)
    return SmallStore(root, b, combo_a, combo_b, d_a, d_b, e_a, e_b, "", ev)


def _legacy_unparseable(b: StoreBuilder, parent: str) -> str:
    gen_id = ids.evaluation_id(parent, "judge-b", "j1", 1)
    return b._gen(
        "evaluation",
        gen_id,
        {"template_id": "judge-b", "combo_id": None, "llm_model_id": "j1", "parent_gen_id": parent, "replicate": 1},
        raw="I liked it a lot.\nNo number anywhere.",
        parsed=None,
        cohort="old",
        legacy=True,
        stale=False,
        cost=None,
        tokens=(0, 0),
        llm="j1",
    )


# -- a store in the older DayDreaming layout, at a few hundred evaluations ---------------------------

OLDER_EVAL_OUTCOMES = (
    # (outcome, weight): how an evaluation of the older store ended up
    ("scored", 60),
    ("scored_multiline", 4),  # parsed.txt "reasoning...\n7.0": the last line counts
    ("unparsed", 8),  # raw.txt + raw_metadata.json, no parsed.txt (the older parse step failed or never ran)
    ("truncated", 4),  # raw kept, raw_metadata says truncated, no parsed.txt
    ("pending", 6),  # metadata.json only
    ("no_dir", 4),  # listed in the membership, no directory at all
    ("invalid_parsed", 4),  # parsed.txt that is not a number
    ("empty_parsed", 3),  # parsed.txt empty (or whitespace)
    ("no_model_key", 3),  # scored; its metadata spells the judge as the older 'model_id'
)


@dataclass
class OlderStore:
    root: Path
    cohort_full: str
    """Cohort with the older eight-column membership (stage, gen_id, origin_cohort_id, ...)."""
    cohort_two: str
    """Cohort with the older two-column membership (stage, gen_id)."""
    evaluations: dict[str, str] = field(default_factory=dict)
    """Every evaluation gen id -> its outcome (``OLDER_EVAL_OUTCOMES``)."""
    members: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    plan: dict[str, dict] = field(default_factory=dict)
    """What the cohort planned for each evaluation (template, judge, parent), on disk or not."""


def _older_id(rng, prefix: str) -> str:
    return prefix + "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(16))


def older_layout_store(root: Path, seed: int = 7) -> OlderStore:
    """Catalogs as ``StoreBuilder``'s, and a gens store written the way the older pipeline wrote it:
    ``raw_metadata.json`` with ``input_mode`` (and ``copied_from`` for copies), ``parsed_metadata.json``
    with ``parser_name`` and no score, ``parsed.txt`` as ``"<float>\\n"``, no ``error.json``; essays
    that do not record their model; one orphan evaluation whose essay is gone; one evaluation
    directory with no ``metadata.json``."""
    import random

    rng = random.Random(seed)
    builder = StoreBuilder(root)
    store = OlderStore(root, "old-full", "old-two")
    outcomes = [o for o, weight in OLDER_EVAL_OUTCOMES for _ in range(weight)]
    pairs = [[a, b] for i, a in enumerate(CONCEPTS) for b in CONCEPTS[i + 1 :]]
    combos = [builder.combo(pair) for pair in pairs]
    judges = [(t, j, 1) for t in ("judge-a", "judge-b") for j in ("j1", "j2", "j3")] + [("judge-a", "j1", 2)] * 2
    for combo_index, combo in enumerate(combos):
        cohort = store.cohort_full if combo_index < 4 else store.cohort_two
        for draft_template in ("dt-v1", "dt-v2"):
            for draft_llm in ("gen1", "gen2"):
                draft = _older_gen(store, rng, "draft", cohort, template=draft_template, llm=draft_llm, combo=combo)
                for essay_template in ("et-v1", "copy"):
                    copy = essay_template == "copy"
                    essay = _older_gen(
                        store,
                        rng,
                        "essay",
                        cohort,
                        template=essay_template,
                        llm=None if copy or rng.random() < 0.5 else draft_llm,
                        parent=draft,
                        copy=copy,
                    )
                    for judge_template, judge, _ in judges:
                        outcome = rng.choice(outcomes)
                        _older_evaluation(store, rng, cohort, essay, judge_template, judge, outcome)
    orphan = _older_id(rng, "e_")  # an evaluation whose essay is not in the store
    _older_evaluation(store, rng, store.cohort_full, orphan, "judge-a", "j1", "scored")
    stray = root / "gens" / "evaluation" / _older_id(rng, "v_")  # no metadata.json: only the cross view sees it
    stray.mkdir(parents=True)
    _write(stray / "parsed.txt", "5.0\n")
    store.evaluations[stray.name] = "scored"
    _write_older_memberships(store)
    return store


def _older_gen(
    store: OlderStore,
    rng,
    stage: str,
    cohort: str,
    *,
    template: str,
    llm: str | None,
    combo: str | None = None,
    parent: str | None = None,
    copy: bool = False,
) -> str:
    gen_id = _older_id(rng, {"draft": "d_", "essay": "e_"}[stage])
    gdir = store.root / "gens" / stage / gen_id
    meta = {"stage": stage, "gen_id": gen_id, "template_id": template, "mode": "copy" if copy else "llm"}
    meta.update({"origin_cohort_id": cohort, "replicate": 1})
    if combo:
        meta["combo_id"] = combo
    if parent:
        meta["parent_gen_id"] = parent
    if llm:
        meta["llm_model_id"] = llm
    _json(gdir / "metadata.json", meta)
    text = f"{stage} {gen_id}\nline two\nline three\n"
    _write(gdir / "raw.txt", text)
    raw_meta = {"stage": stage, "gen_id": gen_id, "input_mode": "copy" if copy else "prompt", "finish_reason": "stop"}
    if copy:
        raw_meta["copied_from"] = str(store.root / "gens" / "draft" / str(parent) / "parsed.txt")
    _json(gdir / "raw_metadata.json", raw_meta)
    _write(gdir / "parsed.txt", text)
    _json(gdir / "parsed_metadata.json", {"stage": stage, "gen_id": gen_id, "parser_name": "identity", "success": True})
    store.members.setdefault(cohort, []).append((stage, gen_id))
    return gen_id


def _older_evaluation(store: OlderStore, rng, cohort: str, parent: str, template: str, judge: str, outcome: str) -> str:
    gen_id = _older_id(rng, "v_")
    store.evaluations[gen_id] = outcome
    store.plan[gen_id] = {"template_id": template, "llm_model_id": judge, "parent_gen_id": parent}
    store.members.setdefault(cohort, []).append(("evaluation", gen_id))
    if outcome == "no_dir":
        return gen_id
    gdir = store.root / "gens" / "evaluation" / gen_id
    meta = {"stage": "evaluation", "gen_id": gen_id, "template_id": template, "parent_gen_id": parent}
    meta.update({"mode": "llm", "origin_cohort_id": cohort, "replicate": 1})
    meta["model_id" if outcome == "no_model_key" else "llm_model_id"] = judge
    _json(gdir / "metadata.json", meta)
    if outcome == "pending":
        return gen_id
    score = rng.randint(0, 9)
    _write(gdir / "prompt.txt", f"Rate {parent}")
    verdict = outcome != "unparsed" or rng.random() < 0.5  # half the unparsed answers never reached a parser
    _write(gdir / "raw.txt", f"Reasoning of {judge}.\nSCORE: {score}" if verdict else "No verdict.")
    raw_meta = {"stage": "evaluation", "gen_id": gen_id, "llm_model_id": judge, "input_mode": "prompt"}
    raw_meta.update(
        {"finish_reason": "length" if outcome == "truncated" else "stop", "truncated": outcome == "truncated"}
    )
    _json(gdir / "raw_metadata.json", raw_meta)
    parsed = {
        "scored": f"{float(score)}\n",
        "no_model_key": f"{float(score)}\n",
        "scored_multiline": f"Reasoning kept by an older parser\n{float(score)}\n",
        "invalid_parsed": "SCORE: high\n",
        "empty_parsed": "  \n",
    }.get(outcome)
    if parsed is not None:
        _write(gdir / "parsed.txt", parsed)
        pm = {"stage": "evaluation", "gen_id": gen_id, "function": "evaluation_parsed", "parser_name": "in_last_line"}
        _json(gdir / "parsed_metadata.json", {**pm, "success": True, "error": None, "input_mode": "prompt"})
    return gen_id


def _write_older_memberships(store: OlderStore) -> None:
    full = store.root / "cohorts" / store.cohort_full / "membership.csv"
    rows = []
    for stage, gen_id in store.members[store.cohort_full]:
        path = store.root / "gens" / stage / gen_id / "metadata.json"
        meta = json.loads(path.read_text()) if path.is_file() else store.plan[gen_id]
        llm = meta.get("llm_model_id") or meta.get("model_id") or ""
        rows.append(
            [stage, gen_id, store.cohort_full, meta.get("parent_gen_id") or "", meta.get("combo_id") or ""]
            + [meta.get("template_id") or "", llm, meta.get("replicate") or 1]
        )
    header = ["stage", "gen_id", "origin_cohort_id", "parent_gen_id", "combo_id", "template_id", "llm_model_id"]
    _csv(full, [*header, "replicate"], rows)
    two = [[s, g] for s, g in store.members[store.cohort_two] if store.evaluations.get(g) != "no_dir"]
    _csv(store.root / "cohorts" / store.cohort_two / "membership.csv", ["stage", "gen_id"], two)
