"""The stage runner with a fake LLM (docs/data-contract.md §2 and §6): what is paid for is never lost or
paid for twice."""

from __future__ import annotations

import hashlib
import json

import pytest
from helpers import FakeLLM, member_ids, run_members, snapshot

from daydream import orchestration
from daydream.catalogs import read_template_text
from daydream.errors import LLMError
from daydream.llm.types import LLMResult, Usage
from daydream.locks import try_lock
from daydream.membership import read_membership
from daydream.paths import DataLayout
from daydream.runner import RunOptions, StageRunner
from daydream.status import cohort_status
from daydream.store import GensStore, GenState

RAW_METADATA_FIELDS = {
    "stage",
    "gen_id",
    "mode",
    "llm_model_id",
    "model",
    "finish_reason",
    "truncated",
    "usage",
    "cost_usd",
    "duration_s",
    "prompt_sha256",
    "template_sha256",
    "created_at",
}
GOOD_DRAFT = "one\ntwo\nthree"


def _files(layout: DataLayout, stage: str, gen_id: str) -> set[str]:
    return {p.name for p in layout.gen_dir(stage, gen_id).iterdir()}  # type: ignore[arg-type]


def _json(layout: DataLayout, stage: str, gen_id: str, name: str) -> dict:
    return json.loads((layout.gen_dir(stage, gen_id) / name).read_text())  # type: ignore[arg-type]


def _runner(layout: DataLayout, llm: FakeLLM | None, **options: object) -> StageRunner:
    return StageRunner(layout, llm=llm, options=RunOptions(**options), cohort_id="demo")


def test_full_cohort_run(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, llm = ran_demo
    store = GensStore(layout)
    assert len(llm.calls) == 12 + 12 + 36  # copy-mode essays call no model
    assert {c["model"] for c in llm.calls} == {
        "deepseek/deepseek-r1:free",
        "google/gemini-2.5-pro",
        "anthropic/claude-sonnet-4",
    }
    by_task = {
        marker: {(c["max_tokens"], c["temperature"]) for c in llm.calls if marker in c["prompt"]}
        for marker in ("DRAFT TASK", "ESSAY TASK", "EVALUATION TASK")
    }
    assert by_task == {"DRAFT TASK": {(8192, 0.8)}, "ESSAY TASK": {(8192, 0.7)}, "EVALUATION TASK": {(4096, 0.2)}}

    staged = member_ids(layout, "draft", template_id="creative-synthesis-v10")[0]
    assert store.parsed_text("draft", staged).startswith("Thesis: background search")
    links = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    assert store.parsed_text("draft", links) == store.read_text("draft", links, "raw.txt")

    membership = read_membership(layout, "demo")
    for row in membership[membership["stage"] == "essay"].itertuples():
        draft_text = store.parsed_text("draft", row.parent_gen_id)
        if row.template_id == "draft-as-essay":
            assert store.parsed_text("essay", row.gen_id) == draft_text
            assert not store.exists("essay", row.gen_id, "raw.txt")
            assert _json(layout, "essay", row.gen_id, "parsed_metadata.json")["mode"] == "copy"
        else:
            assert draft_text in store.read_text("essay", row.gen_id, "prompt.txt")
    scores = {
        row.template_id: (
            store.parsed_text("evaluation", row.gen_id),
            _json(layout, "evaluation", row.gen_id, "parsed_metadata.json"),
        )
        for row in membership[membership["stage"] == "evaluation"].itertuples()
    }
    assert scores["novelty-rubric-v2"][0] == "6.0\n"
    text, meta = scores["free-verdict-v1"]
    assert text == "7.0\n" and (meta["score"], meta["scale"], meta["score_normalized"]) == (7.0, 10.0, 0.7)
    assert meta["success"] is True and meta["parser"] == "complex"


def test_draft_prompt_has_concepts_in_combo_order(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    gen_id = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    prompt = GensStore(layout).read_text("draft", gen_id, "prompt.txt")
    combo_rows = [line.split(",") for line in layout.combo_mappings.read_text().splitlines()[1:]]
    combo = _json(layout, "draft", gen_id, "metadata.json")["combo_id"]
    names = {
        "default-mode-network": "Default Mode Network",
        "generator-verifier-gap": "Generator-Verifier Gap",
        "combinatorial-creativity": "Combinatorial Creativity",
    }
    expected = [names[r[2]] for r in combo_rows if r[0] == combo]
    assert [line.split("] ", 1)[1] for line in prompt.splitlines() if line.startswith("[")] == expected
    description = (layout.raw / "concepts" / "descriptions-paragraph" / "default-mode-network.txt").read_text()
    assert description.strip() in prompt


def test_raw_metadata_has_every_contract_field(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    gen_id = member_ids(layout, "draft", llm_model_id="gemini_25_pro")[0]
    meta = _json(layout, "draft", gen_id, "raw_metadata.json")
    assert RAW_METADATA_FIELDS <= set(meta)
    assert (meta["stage"], meta["gen_id"], meta["mode"], meta["llm_model_id"], meta["model"]) == (
        "draft",
        gen_id,
        "llm",
        "gemini_25_pro",
        "google/gemini-2.5-pro",
    )
    assert meta["usage"] == {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
    assert meta["finish_reason"] == "stop" and meta["truncated"] is False and meta["cost_usd"] is None
    assert meta["cost_estimated_usd"] == pytest.approx((100 * 1.25 + 50 * 10) / 1e6)
    prompt = GensStore(layout).read_text("draft", gen_id, "prompt.txt")
    assert meta["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
    template = read_template_text(
        layout.template_file("draft", _json(layout, "draft", gen_id, "metadata.json")["template_id"])
    )
    assert meta["template_sha256"] == hashlib.sha256(template.encode()).hexdigest()
    assert not any("key" in k.lower() or "secret" in k.lower() for k in meta)


def test_second_run_makes_no_call_and_changes_nothing(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    before = snapshot(layout.gens)
    again = FakeLLM()
    outcomes = run_members(layout, "demo", again)
    assert {o.state for o in outcomes} == {"skipped"}
    assert again.calls == []
    assert snapshot(layout.gens) == before


def test_force_calls_again_and_replaces_the_outputs(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    gen_id = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    llm = FakeLLM({"DRAFT TASK": "new one\nnew two\nnew three"})
    outcome = _runner(layout, llm, force=True).run("draft", gen_id)
    assert (outcome.state, outcome.called_llm, len(llm.calls)) == ("done", True, 1)
    assert GensStore(layout).parsed_text("draft", gen_id) == "new one\nnew two\nnew three"


@pytest.mark.parametrize(
    "answer",
    [
        LLMResult(text=GOOD_DRAFT, finish_reason="length"),
        LLMResult(text=GOOD_DRAFT, finish_reason="stop", usage=Usage(completion_tokens=8192)),
        LLMResult(text="  \n", finish_reason="stop"),
        LLMResult(text="only\n\ntwo lines", finish_reason="stop"),
    ],
    ids=["finish-length", "max-tokens-reached", "empty", "two-lines"],
)
def test_failed_validation_keeps_raw_and_rerun_revalidates_without_paying(
    built_demo: DataLayout, answer: LLMResult
) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    first = FakeLLM({"DRAFT TASK": answer})
    outcome = _runner(layout, first).run("draft", gen_id)
    assert (outcome.state, len(first.calls)) == ("failed", 1)
    assert "raw output kept" in outcome.message
    assert {"raw.txt", "raw_metadata.json", "parsed_metadata.json", "error.json"} <= _files(layout, "draft", gen_id)
    assert "parsed.txt" not in _files(layout, "draft", gen_id)
    assert GensStore(layout).read_text("draft", gen_id, "raw.txt") == answer.text
    parsed_meta = _json(layout, "draft", gen_id, "parsed_metadata.json")
    assert parsed_meta["success"] is False and parsed_meta["error_kind"] == "validation"
    assert GensStore(layout).state("draft", gen_id) == GenState.FAILED

    rerun = FakeLLM()
    assert _runner(layout, rerun).run("draft", gen_id).state == "failed"
    assert rerun.calls == []

    forced = _runner(layout, rerun, force=True).run("draft", gen_id)
    assert (forced.state, len(rerun.calls)) == ("done", 1)
    assert "error.json" not in _files(layout, "draft", gen_id)


def test_kept_raw_passes_revalidation_with_new_settings_without_a_call(built_demo: DataLayout) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft", template_id="links-brainstorm-v2")[0]
    _runner(layout, FakeLLM({"DRAFT TASK": "only\ntwo lines"})).run("draft", gen_id)
    llm = FakeLLM()
    outcome = _runner(layout, llm, min_draft_lines=2).run("draft", gen_id)
    assert (outcome.state, outcome.called_llm, llm.calls) == ("done", False, [])
    assert GensStore(layout).parsed_text("draft", gen_id) == "only\ntwo lines"


def test_evaluation_parse_failure_keeps_raw_and_records_the_error(built_demo: DataLayout) -> None:
    # A first answer that does not parse. (A *forced* rerun of a done evaluation keeps its previous
    # output instead: tests/test_hostile_store.py, "force never destroys".)
    layout = built_demo
    run_members(layout, "demo", FakeLLM(), stages=["draft", "essay"])
    gen_id = member_ids(layout, "evaluation", template_id="novelty-rubric-v2")[0]
    llm = FakeLLM({"EVALUATION TASK": "A thoughtful review.\nBut no verdict at all."})
    outcome = _runner(layout, llm).run("evaluation", gen_id)
    assert outcome.state == "failed" and "parse" in outcome.message
    files = _files(layout, "evaluation", gen_id)
    assert {"raw.txt", "error.json"} <= files and "parsed.txt" not in files
    meta = _json(layout, "evaluation", gen_id, "parsed_metadata.json")
    assert meta["success"] is False and meta["error_kind"] == "parse" and meta["error"]
    assert _json(layout, "evaluation", gen_id, "error.json")["kind"] == "parse"


def test_missing_parent_blocks_and_writes_nothing(built_demo: DataLayout) -> None:
    layout = built_demo
    for stage in ("essay", "evaluation"):
        gen_id = member_ids(layout, stage)[0]
        llm = FakeLLM()
        outcome = _runner(layout, llm).run(stage, gen_id)
        assert outcome.state == "blocked" and llm.calls == []
        assert _files(layout, stage, gen_id) <= {"metadata.json", ".lock"}


def test_a_held_lock_makes_a_second_runner_busy(built_demo: DataLayout) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft")[0]
    llm = FakeLLM()
    with try_lock(GensStore(layout).path("draft", gen_id, ".lock")) as acquired:
        assert acquired
        outcome = _runner(layout, llm).run("draft", gen_id)
    assert outcome.state == "busy" and llm.calls == []
    assert _runner(layout, llm).run("draft", gen_id).state == "done"


def test_template_error_fails_that_generation_only(built_demo: DataLayout) -> None:
    layout = built_demo
    path = layout.template_file("draft", "links-brainstorm-v2")
    path.write_text("DRAFT TASK\n\n{{ concepts[0].nmae }}\n", encoding="utf-8")
    llm = FakeLLM()
    outcomes = run_members(layout, "demo", llm, stages=["draft"])
    failed = [o for o in outcomes if o.state == "failed"]
    assert len(failed) == 6 and sum(o.state == "done" for o in outcomes) == 6
    assert all(o.message.startswith(str(path)) and "line 3" in o.message for o in failed)
    error = _json(layout, "draft", failed[0].gen_id, "error.json")
    assert error["kind"] == "TemplateError" and "line 3" in error["error"]
    assert len(llm.calls) == 6


class FailingLLM(FakeLLM):
    def complete(self, **kwargs: object) -> LLMResult:  # type: ignore[override]
        self.calls.append(dict(kwargs))
        raise LLMError("provider said 503 after 5 attempts")


def test_llm_failure_keeps_the_prompt_and_the_next_run_calls_again(built_demo: DataLayout) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft")[0]
    outcome = _runner(layout, FailingLLM()).run("draft", gen_id)
    assert outcome.state == "failed" and "503" in outcome.message
    assert _files(layout, "draft", gen_id) == {"metadata.json", ".lock", "prompt.txt", "error.json"}
    assert orchestration.cohort_failures(layout, "demo") == [gen_id]
    assert orchestration.unfinished_cohorts(layout) == ["demo"]
    llm = FakeLLM()
    assert _runner(layout, llm).run("draft", gen_id).state == "done" and len(llm.calls) == 1
    assert "error.json" not in _files(layout, "draft", gen_id)


def test_unknown_template_in_metadata_fails_the_generation(built_demo: DataLayout) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft")[0]
    path = layout.gen_dir("draft", gen_id) / "metadata.json"
    path.write_text(
        path.read_text()
        .replace('"template_id": "creative-synthesis-v10"', '"template_id": "gone"')
        .replace('"template_id": "links-brainstorm-v2"', '"template_id": "gone"')
    )
    outcome = _runner(layout, FakeLLM()).run("draft", gen_id)
    assert outcome.state == "failed" and "unknown draft template 'gone'" in outcome.message


def test_changed_template_is_stale_and_not_rerun_without_force(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    path = layout.template_file("evaluation", "novelty-rubric-v2")
    path.write_text(path.read_text() + "\nOne more instruction.\n")
    status = cohort_status(layout, "demo").stages
    assert (status["evaluation"].stale, status["evaluation"].done) == (18, 18)
    assert status["draft"].stale == 0
    llm = FakeLLM()
    outcomes = run_members(layout, "demo", llm)
    assert llm.calls == [] and {o.state for o in outcomes} == {"skipped"}
    assert orchestration.stage_work(layout, "demo", "evaluation") == {"free": [], "paid": [], "local": []}
    assert len(orchestration.stage_work(layout, "demo", "evaluation", force=True)["paid"]) == 36


def test_stage_work_follows_parents_and_pools(built_demo: DataLayout) -> None:
    layout = built_demo
    drafts = orchestration.stage_work(layout, "demo", "draft")
    assert {tier: len(ids) for tier, ids in drafts.items()} == {"free": 6, "paid": 6, "local": 0}
    assert orchestration.stage_work(layout, "demo", "essay") == {"free": [], "paid": [], "local": []}
    run_members(layout, "demo", FakeLLM(), stages=["draft"])
    essays = orchestration.stage_work(layout, "demo", "essay")
    assert {tier: len(ids) for tier, ids in essays.items()} == {"free": 0, "paid": 12, "local": 6}


def test_unknown_gen_id_fails_without_creating_anything(data_root) -> None:
    from daydream.paths import DataLayout
    from daydream.runner import run_generation

    layout = DataLayout(data_root)
    outcome = run_generation(layout, "draft", "d_doesnotexist", llm=None, cohort_id="demo")
    assert outcome.state == "failed" and "build the cohort first" in outcome.message
    assert not layout.gen_dir("draft", "d_doesnotexist").exists()
