"""Budgets, spend and the cost estimate: a stopped budget is not a failure, an unknown price is not zero."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FakeLLM, run_members, snapshot, write_csv

from daydream.cohorts import build_cohort
from daydream.estimate import estimate_cohort
from daydream.orchestration import write_stage_summary
from daydream.paths import DataLayout
from daydream.spend import SpendLedger
from daydream.status import cohort_status
from daydream.store import GensStore, GenState


def test_budget_stops_new_calls_without_failing_them(built_demo: DataLayout) -> None:
    layout = built_demo
    llm = FakeLLM(cost_usd=0.01)
    outcomes = run_members(layout, "demo", llm, stages=["draft"], max_cost_usd=0.05)
    states = [o.state for o in outcomes]
    assert states == ["done"] * 5 + ["budget"] * 7
    assert len(llm.calls) == 5
    store = GensStore(layout)
    for outcome in outcomes[5:]:
        assert "max_cost_usd" in outcome.message and not outcome.called_llm
        files = {p.name for p in store.dir("draft", outcome.gen_id).iterdir()}
        assert files <= {"metadata.json", ".lock"}
        assert store.state("draft", outcome.gen_id) == GenState.PENDING
    status = cohort_status(layout, "demo")
    assert (status.stages["draft"].done, status.stages["draft"].pending, status.stages["draft"].failed) == (5, 7, 0)
    assert status.spend["cost_usd"] == pytest.approx(0.05)
    table = status.table()
    assert "5 LLM calls, 500 prompt + 250 completion tokens, $0.0500" in table
    summary = write_stage_summary(layout, "demo", "draft", [o.as_dict() for o in outcomes])
    assert (summary["budget"], summary["this_run"], summary["cost_usd"]) == (
        7,
        {"budget": 7, "done": 5},
        pytest.approx(0.05),
    )
    assert "7 skipped because the budget (max_cost_usd) was reached" in summary["text"]
    assert (layout.runs_dir("demo") / "draft_summary.json").exists()


def test_budget_counts_catalog_estimates_and_spares_forced_outputs(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    spend = SpendLedger(layout, "demo").totals()
    # the fake reports no cost: gemini and sonnet calls are priced from the catalog, deepseek (free) at 0
    expected = 6 * (100 * 1.25 + 50 * 10) / 1e6 + 12 * (100 * 1.25 + 50 * 10) / 1e6 + 36 * (100 * 3 + 50 * 15) / 1e6
    assert spend["calls"] == 60 and spend["cost_usd"] == pytest.approx(expected)
    assert spend["calls_with_unknown_cost"] == 0
    before = snapshot(layout.gens)
    llm = FakeLLM()
    outcomes = run_members(layout, "demo", llm, force=True, max_cost_usd=expected)
    copies = {o.gen_id for o in outcomes if o.state == "done"}  # copy-mode essays cost nothing
    assert len(copies) == 6 and {o.state for o in outcomes if o.gen_id not in copies} == {"budget"}
    assert llm.calls == []

    def paid(files: dict[str, tuple[bytes, int]]) -> dict[str, bytes]:
        return {k: v[0] for k, v in files.items() if k.split("/")[1] not in copies}

    assert paid(snapshot(layout.gens)) == paid(before)


def test_estimate_for_the_demo_cohort(built_demo: DataLayout) -> None:
    estimate = estimate_cohort(built_demo, "demo")
    calls = {(r.stage, r.llm_model_id): r.calls for r in estimate.rows}
    assert calls == {
        ("draft", "deepseek_r1_f"): 6,
        ("draft", "gemini_25_pro"): 6,
        ("essay", "gemini_25_pro"): 12,
        ("evaluation", "sonnet-4"): 36,
    }
    rows = {(r.stage, r.llm_model_id): r for r in estimate.rows}
    assert rows[("draft", "deepseek_r1_f")].cost_usd == 0.0 and rows[("draft", "deepseek_r1_f")].tier == "free"
    sonnet = rows[("evaluation", "sonnet-4")]
    assert sonnet.completion_tokens == 36 * 700
    assert sonnet.cost_usd == pytest.approx((sonnet.prompt_tokens * 3 + sonnet.completion_tokens * 15) / 1e6)
    assert estimate.total_cost == pytest.approx(sum(r.cost_usd for r in estimate.rows))
    assert "unknown" not in estimate.table()


def test_estimate_after_a_run_counts_nothing_left(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    estimate = estimate_cohort(layout, "demo")
    assert estimate.rows == [] and estimate.skipped_done == 60


def test_estimate_shows_unknown_not_zero_without_prices(data_root: Path) -> None:
    write_csv(
        data_root / "cohorts" / "llama" / "spec" / "config.yaml",
        """
combos:
  k_max: 2
  concepts: [default-mode-network, generator-verifier-gap]
axes:
  draft_template: [links-brainstorm-v2]
  draft_llm: [llama_33_70b, gemini_25_pro]
""",
    )
    layout = DataLayout(data_root)
    build_cohort(layout, "llama")
    estimate = estimate_cohort(layout, "llama")
    rows = {r.llm_model_id: r for r in estimate.rows}
    assert rows["llama_33_70b"].cost_usd is None and rows["llama_33_70b"].calls == 1
    assert rows["gemini_25_pro"].cost_usd is not None
    assert estimate.total_cost is None
    table = estimate.table()
    llama_line = next(line for line in table.splitlines() if "llama_33_70b" in line)
    assert llama_line.rstrip().endswith("unknown")
    assert "unknown for draft/llama_33_70b" in table


def test_estimate_before_the_build_prices_the_plan_and_writes_nothing(data_root) -> None:
    from helpers import tree

    from daydream.estimate import estimate_cohort
    from daydream.paths import DataLayout

    layout = DataLayout(data_root)
    before = tree(data_root)
    estimate = estimate_cohort(layout, "demo")
    assert tree(data_root) == before
    calls = {(r.stage, r.llm_model_id): r.calls for r in estimate.rows}
    assert sum(calls.values()) == 60  # 66 generations, 6 copy-mode essays make no call
    drafts = [r for r in estimate.rows if r.stage == "draft"]
    assert all(r.prompt_tokens > 100 * r.calls for r in drafts), "draft prompts are rendered, concepts included"
