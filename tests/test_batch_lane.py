"""The batch lane without a scheduler, as a user drives it: ``daydream batch submit | collect | list |
cancel`` against the offline LLM's batch APIs over real HTTP.

Per-item faults fail cleanly and a rerun sends only them; a create whose answer was lost is found
again instead of paid twice; a done generation is never sent; batches are split at the size limit;
a refused batch costs nothing; a cancellation reaches the provider; answers land in the store exactly
as direct ones do (raw first, ``batch_id``, the ledger at the batch price).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from helpers import copy_bundled_data, write_csv

from daydream.batch import BatchManifests, batch_rows, open_gen_ids, start_lane
from daydream.cli import main
from daydream.cohorts import build_cohort
from daydream.errors import LLMError
from daydream.llm.batch import adapter_for
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.offline import OfflineServer, catalog_pricing
from daydream.llm.settings import LLMSettings
from daydream.orchestration import run_generation, stage_work
from daydream.orchestration.stage import BATCH_LANE
from daydream.paths import DataLayout
from daydream.runner import RunOptions
from daydream.spend import SpendLedger

SONNET = "anthropic/claude-sonnet-4"
DIRECT_RAW_METADATA = {
    "stage",
    "gen_id",
    "mode",
    "llm_model_id",
    "model",
    "finish_reason",
    "truncated",
    "usage",
    "cost_usd",
    "cost_estimated_usd",
    "duration_s",
    "attempts",
    "max_tokens",
    "prompt_sha256",
    "template_sha256",
    "cohort_id",
    "created_at",
}
"""What ``raw_metadata.json`` of a direct answer holds (``StageRunner._raw_metadata``)."""


def _set_batch(root: Path, model_id: str, api: str) -> None:
    path = root / "1_raw" / "llm_models.csv"
    lines = path.read_text().splitlines()
    out = [lines[0]] + [
        ",".join([*line.split(",")[:-2], api, "0.5"]) if line.startswith(model_id + ",") else line for line in lines[1:]
    ]
    path.write_text("\n".join(out) + "\n")


@pytest.fixture
def lane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The demo cohort with its drafts and essays done (direct calls), evaluations pending; the
    offline LLM answering batches after 0.2 s; the CLI pointed at it."""
    root = copy_bundled_data(tmp_path / "data")
    layout = DataLayout(root)
    build_cohort(layout, "demo")
    server = OfflineServer(
        {**catalog_pricing(root / "1_raw" / "llm_models.csv"), "latency_s": 0, "batch": {"completion_delay_s": 0.2}}
    ).start()
    client = OpenAICompatibleClient(LLMSettings(base_url=server.base_url))
    for stage in ("draft", "essay"):
        work = stage_work(layout, "demo", stage)
        for tier, ids in work.items():
            for gen_id in ids:
                result = run_generation(
                    layout, stage, gen_id, cohort_id="demo", llm=None if tier == "local" else client
                )
                assert result["state"] == "done", result
    monkeypatch.setenv("DAYDREAM_LLM_BASE_URL", server.base_url)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    server.reset()
    try:
        yield layout, server
    finally:
        client.close()
        server.stop()


def cli(capsys: pytest.CaptureFixture[str], layout: DataLayout, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--data-root", str(layout.root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def evaluations(layout: DataLayout) -> list[str]:
    return sorted(stage_work(layout, "demo", "evaluation", batch=None).get(BATCH_LANE, []))


def test_evaluations_go_by_batch_and_land_like_direct_answers(lane, capsys) -> None:
    layout, server = lane
    pending = evaluations(layout)
    direct = stage_work(layout, "demo", "evaluation")
    assert len(pending) == 36 and set(direct) == {"free", "paid", "local"} and sorted(direct["paid"]) == pending, (
        "without the switch (batch=False) the same generations are direct calls"
    )

    code, out, _ = cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    assert code == 0 and "sonnet-4 via openrouter: 36 generation(s)" in out
    [manifest] = BatchManifests(layout, "demo").all()
    assert manifest.state == "submitted" and manifest.batch_id and [i.gen_id for i in manifest.items] == pending
    assert open_gen_ids(layout, "demo", "evaluation") == set(pending)
    assert sorted(stage_work(layout, "demo", "evaluation")[BATCH_LANE]) == pending, "an open batch's are waited for"

    code, out, _ = cli(capsys, layout, "batch", "collect", "demo", "--wait", "10")
    assert code == 0 and 'collected 36 result(s) {"done": 36}' in out
    stats = server.stats()
    assert stats["batches"]["by_model"] == {SONNET: 1} and stats["batches"]["requests"] == {"answered": 36}
    assert stats["answered_twice"] == [] and len(stats["answered"]) == 36

    gen = layout.gen_dir("evaluation", pending[0])
    raw_meta = json.loads((gen / "raw_metadata.json").read_text())
    assert DIRECT_RAW_METADATA <= set(raw_meta) and raw_meta["batch_id"] == manifest.batch_id
    assert raw_meta["batch_api"] == "openrouter" and raw_meta["prompt_sha256"] == manifest.items[0].prompt_sha256
    assert (gen / "parsed.txt").exists() and not (gen / "error.json").exists()
    # OpenRouter reports the batch cost (half the chat price here): the ledger takes it as it is.
    ledger = {e["gen_id"]: e for e in SpendLedger(layout, "demo").entries()}
    assert ledger[pending[0]]["cost_usd"] == raw_meta["cost_usd"] and ledger[pending[0]]["estimated"] is False

    code, out, _ = cli(capsys, layout, "batch", "list", "--cohort", "demo")
    assert code == 0 and "collected" in out and manifest.key in out
    rows = batch_rows(layout, "demo")
    assert [(r.requests, r.succeeded, r.errored, r.pending) for r in rows] == [(36, 36, 0, 0)]

    # Nothing left: a second submit sends nothing, the server sees no new batch.
    code, out, _ = cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    assert "nothing goes by batch" in out and server.stats()["batches"]["submitted"] == 1


def test_errored_expired_and_missing_items_fail_cleanly_and_a_rerun_sends_only_them(lane, capsys) -> None:
    layout, server = lane
    server.configure(
        batch={
            "completion_delay_s": 0.2,
            "faults": [
                {"fault": "errored", "prompt_contains": "Final Score:", "first_n": 1, "message": "overloaded"},
                {"fault": "expired", "prompt_contains": "SCORE: <n>", "first_n": 1, "rate": None},
            ],
        }
    )
    pending = evaluations(layout)
    cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    code, out, _ = cli(capsys, layout, "batch", "collect", "demo", "--wait", "10")
    assert code == 0 and 'collected 36 result(s) {"failed": 36}' in out
    errors = [json.loads((layout.gen_dir("evaluation", g) / "error.json").read_text()) for g in pending]
    kinds = Counter(e["kind"] for e in errors)
    assert kinds == {"BatchItemErrored": 18, "BatchItemExpired": 18}
    assert all("overloaded" in e["error"] for e in errors if e["kind"] == "BatchItemErrored"), errors[0]
    assert not any((layout.gen_dir("evaluation", g) / "raw.txt").exists() for g in pending), "nothing was answered"
    assert server.stats()["answered"] == []

    # The rerun sends those 36 again, in one new batch, and nothing else.
    code, out, _ = cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    assert "36 generation(s)" in out
    cli(capsys, layout, "batch", "collect", "demo", "--wait", "10")
    stats = server.stats()
    assert stats["batches"]["by_model"] == {SONNET: 2} and stats["answered_twice"] == []
    assert all((layout.gen_dir("evaluation", g) / "parsed.txt").exists() for g in pending)
    assert not any((layout.gen_dir("evaluation", g) / "error.json").exists() for g in pending)

    # Partial results: a request the provider leaves out is a failed generation, and only it is resent.
    for g in pending[:3]:
        (layout.gen_dir("evaluation", g) / "parsed.txt").unlink()
        (layout.gen_dir("evaluation", g) / "raw.txt").unlink()
    server.configure(batch={"completion_delay_s": 0.2, "faults": [{"fault": "missing", "first_n": 1}]})
    cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    code, out, _ = cli(capsys, layout, "batch", "collect", "demo", "--wait", "10")
    assert 'collected 3 result(s) {"failed": 3}' in out and "without a result for this request" in out
    latest = max(BatchManifests(layout, "demo").all(), key=lambda m: m.created_epoch)
    assert sorted(i.gen_id for i in latest.items) == pending[:3] and {i.kind for i in latest.items} == {"missing"}


def test_a_lost_create_answer_is_found_again_not_paid_twice(lane) -> None:
    """The create call reaches the provider but its answer never comes back (the worker dies, or the
    connection drops): the manifest stays ``submitting`` and the next attempt finds the batch."""
    layout, server = lane
    pending = evaluations(layout)
    server.configure(batch={"completion_delay_s": 0.2, "submit_stall_s": 3, "stall_first_n": 1})

    def connect(api: str, conn_id: str | None, timeout: float = 30.0):
        return adapter_for(api, LLMSettings(base_url=server.base_url, timeout=timeout, max_retries=0))

    with pytest.raises(LLMError, match="timed out"):
        start_lane(
            layout,
            "demo",
            "evaluation",
            "sonnet-4",
            pending,
            options=RunOptions(),
            connect=lambda api, conn: connect(api, conn, timeout=0.5),
        )
    [manifest] = BatchManifests(layout, "demo").all()
    assert manifest.state == "submitting" and manifest.batch_id is None
    assert server.stats()["batches"]["submitted"] == 1, "the provider has the batch"

    again = start_lane(layout, "demo", "evaluation", "sonnet-4", pending, options=RunOptions(), connect=connect)
    [manifest] = BatchManifests(layout, "demo").all()
    assert again.keys == [manifest.key] and manifest.state in ("submitted", "ended") and manifest.batch_id
    assert server.stats()["batches"]["submitted"] == 1, "re-attached, not sent again"


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_each_vendor_api_end_to_end_with_the_batch_price(lane, capsys, api: str) -> None:
    """OpenAI's files + batches and Anthropic's message batches: neither reports a cost, so the ledger
    holds the catalog price x (1 - batch discount), marked estimated."""
    layout, server = lane
    _set_batch(layout.root, "sonnet-4", api)
    code, out, _ = cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    assert code == 0 and f"via {api}" in out
    code, out, _ = cli(capsys, layout, "batch", "collect", "demo", "--wait", "10")
    assert 'collected 36 result(s) {"done": 36}' in out
    stats = server.stats()["batches"]
    expected_model = SONNET.removeprefix("anthropic/") if api == "anthropic" else SONNET
    assert stats["by_api"] == {api: 1} and stats["by_model"] == {expected_model: 1}
    entry = SpendLedger(layout, "demo").entries()[-1]
    prompt, completion = entry["prompt_tokens"], entry["completion_tokens"]
    assert entry["estimated"] is True and entry["cost_usd"] == pytest.approx((prompt * 3 + completion * 15) / 1e6 * 0.5)


def test_batches_split_at_the_size_limit_and_a_refused_batch_costs_nothing(lane, capsys, monkeypatch) -> None:
    layout, server = lane
    server.configure(batch={"completion_delay_s": 0.2, "max_requests": 10})
    code, out, _ = cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    assert code == 0 and "settled without a batch: ['failed']" in out
    [manifest] = BatchManifests(layout, "demo").all()
    assert manifest.state == "refused" and "at most 10 requests" in (manifest.error or "")
    gen = layout.gen_dir("evaluation", manifest.items[0].gen_id)
    assert json.loads((gen / "error.json").read_text())["kind"] == "BatchRefused"
    assert server.stats()["answered"] == []

    monkeypatch.setenv("DAYDREAM_BATCH_MAX_REQUESTS", "10")
    cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    sizes = sorted(len(m.items) for m in BatchManifests(layout, "demo").open())
    assert sizes == [6, 10, 10, 10]
    cli(capsys, layout, "batch", "collect", "demo", "--wait", "10")
    assert server.stats()["batches"]["by_model"] == {SONNET: 4} and len(server.stats()["answered"]) == 36


def test_cancel_reaches_the_provider_and_the_cancelled_requests_go_again(lane, capsys) -> None:
    layout, server = lane
    server.configure(batch={"completion_delay_s": 60})
    cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    code, out, _ = cli(capsys, layout, "batch", "cancel", "--cohort", "demo")
    assert code == 0 and "cancelled at the provider" in out
    assert server.stats()["batches"]["cancel_requests"] == 1
    code, out, _ = cli(capsys, layout, "batch", "collect", "demo")
    assert 'collected 36 result(s) {"failed": 36}' in out
    assert server.stats()["answered"] == []
    [row] = batch_rows(layout, "demo")
    assert row.canceled == 36 and row.cancel_requested and "daydream batch cancel" in row.cancel_requested

    server.configure(batch={"completion_delay_s": 0.2})
    cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    cli(capsys, layout, "batch", "collect", "demo", "--wait", "10")
    assert len(server.stats()["answered"]) == 36 and server.stats()["answered_twice"] == []


def test_the_budget_bounds_what_a_batch_may_cost(lane, capsys) -> None:
    layout, server = lane
    spent = SpendLedger(layout, "demo").total_cost()
    code, out, _ = cli(
        capsys, layout, "batch", "submit", "demo", "--stage", "evaluation", "--max-cost-usd", f"{spent + 0.05:.6f}"
    )
    assert code == 0 and "settled without a batch: ['budget']" in out
    [manifest] = BatchManifests(layout, "demo").all()
    assert 0 < len(manifest.items) < 36


def test_the_switch_decides_which_stages_go_by_batch(tmp_path: Path) -> None:
    root = copy_bundled_data(tmp_path / "data")
    layout = DataLayout(root)
    build_cohort(layout, "demo")
    drafts = stage_work(layout, "demo", "draft", batch=None)
    assert BATCH_LANE not in drafts, "by default only evaluations go by batch"
    drafts = stage_work(layout, "demo", "draft", batch=True)
    assert len(drafts[BATCH_LANE]) == 6 and len(drafts["free"]) == 6, "free models never go by batch"
    assert stage_work(layout, "demo", "draft", batch=False) == stage_work(layout, "demo", "draft")


def test_bad_cli_input_is_one_line(lane, capsys) -> None:
    layout, _ = lane
    code, _, err = cli(capsys, layout, "batch", "list", "--cohort", "../x")
    assert code == 2 and err.count("\n") == 1 and "field '--cohort'" in err
    code, _, err = cli(capsys, layout, "batch", "collect", "demo", "--wait", "-1")
    assert code == 2 and "--wait" in err and err.count("\n") == 1
    write_csv(layout.root / "cohorts" / "demo" / "runs" / "batches" / "evaluation-x-1.json", "{not json")
    code, _, err = cli(capsys, layout, "batch", "list")
    assert code == 2 and "evaluation-x-1.json" in err and err.count("\n") == 1


def test_the_daydream_page_lists_the_batches(lane, capsys, monkeypatch) -> None:
    """The UI page (``/daydream/batches``) shows what ``daydream batch list`` shows: an open batch with
    its pending requests, then the same batch cancelled and collected."""
    from fastapi.testclient import TestClient

    from daydream.airflow import ui

    layout, server = lane
    monkeypatch.setenv("DAYDREAM_DATA_ROOT", str(layout.root))
    app = ui.create_app()
    http = TestClient(app)
    assert http.get("/batches", follow_redirects=False).status_code == 401, "only logged-in users"
    app.dependency_overrides[ui.require_user] = lambda: "someone"
    assert "No provider batches" in http.get("/batches").text and http.get("/api/batches").json() == []

    server.configure(batch={"completion_delay_s": 60})
    cli(capsys, layout, "batch", "submit", "demo", "--stage", "evaluation")
    [manifest] = BatchManifests(layout, "demo").all()
    page = http.get("/batches").text
    assert manifest.key in page and str(manifest.batch_id) in page and "openrouter" in page and "sonnet-4" in page
    [row] = http.get("/api/batches", params={"cohort": "demo"}).json()
    assert (row["state"], row["requests"], row["pending"], row["succeeded"]) == ("submitted", 36, 36, 0)
    assert "/batches" in http.get("/").text, "the cohorts page links to the batches"

    cli(capsys, layout, "batch", "cancel", "--cohort", "demo")
    cli(capsys, layout, "batch", "collect", "demo")
    [row] = http.get("/api/batches").json()
    assert (row["state"], row["canceled"], row["pending"]) == ("collected", 36, 0)
    assert '<td class="num">36</td>' in http.get("/batches", params={"cohort": "demo"}).text
    assert http.get("/batches", params={"cohort": "../x"}).status_code == 404
    assert http.get("/api/batches", params={"cohort": "nope"}).json() == []


def test_the_stage_summary_counts_what_went_by_batch(lane) -> None:
    """The lane's outcomes (one list per model, as the mapped task returns them) in the stage summary:
    ``by_batch``, the manifest keys, "N by batch" in its text, and the spend at the batch price."""
    from daydream.batch import collect_open
    from daydream.orchestration.stage import summarize_stage

    layout, server = lane
    work = stage_work(layout, "demo", "evaluation", batch=None)
    pending = sorted(work[BATCH_LANE])

    def connect(api: str, conn_id: str | None):
        return adapter_for(api, LLMSettings(base_url=server.base_url))

    start = start_lane(layout, "demo", "evaluation", "sonnet-4", pending, options=RunOptions(), connect=connect)
    collected = collect_open(layout, "demo", connect=connect, options=RunOptions(), wait_s=10, poll_s=0.1)
    assert len(collected) == 36 and {o["state"] for o in collected} == {"done"}
    summary = summarize_stage(layout, "demo", "evaluation", {BATCH_LANE: pending}, [[*start.outcomes, *collected]])
    assert summary["by_batch"] == 36 and summary["batches"] == start.keys and "36 by batch" in summary["text"]
    assert summary["this_run"] == {"done": 36} and summary["failed"] == []
    spent = sum(e["cost_usd"] for e in SpendLedger(layout, "demo").entries() if e["gen_id"] in set(pending))
    assert summary["cost_usd"] == pytest.approx(spent) and spent > 0
    written = json.loads((layout.cohort_dir("demo") / "runs" / "evaluation_summary.json").read_text())
    assert written["by_batch"] == 36
