"""The three batch APIs as the offline LLM serves them and as the adapters speak them (real HTTP), the
trigger's poll and cancel, the listener of a cancelled run, the catalog columns, the estimate of both
lanes and the ``batch`` param."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from helpers import copy_bundled_data, one_line_error

from daydream.airflow.params import RunConf, RunConfError
from daydream.batch import BatchManifest, BatchManifests, apoll
from daydream.batch.control import acancel_now
from daydream.catalogs import load_models
from daydream.cohorts import build_cohort
from daydream.errors import CatalogError, LLMError
from daydream.estimate import estimate_cohort
from daydream.llm.batch import BatchRequest, adapter_for, settings_from_env
from daydream.llm.offline import start_offline_server
from daydream.llm.settings import LLMSettings
from daydream.paths import DataLayout

KEY = "sk-test-batch-0123456789abcdef"


def _requests(adapter, n: int = 3, model: str = "openai/gpt-4o-mini") -> list[BatchRequest]:
    return [
        BatchRequest(
            custom_id=adapter.custom_id(f"v_{i}.long-gen-id-" + "x" * 70),
            model=model,
            prompt=f"EVALUATION TASK number {i}\nSCORE: <n>",
            max_tokens=500,
            temperature=0.2,
        )
        for i in range(n)
    ]


def _wait_ended(adapter, batch_id: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        status = adapter.status(batch_id)
        if status.ended or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


@pytest.mark.parametrize("api", ["openrouter", "openai", "anthropic"])
def test_each_api_round_trip_with_its_own_auth(api: str) -> None:
    config = {"latency_s": 0, "require_api_key": KEY, "batch": {"completion_delay_s": 0.2}}
    with start_offline_server(config) as server:
        adapter = adapter_for(api, LLMSettings(base_url=server.base_url, api_key=KEY))
        requests = _requests(adapter)
        assert all(len(r.custom_id) <= 64 for r in requests) or api != "anthropic", "Anthropic's id rule"
        status = adapter.submit(requests, model=requests[0].model, tag="t-1")
        assert not status.ended and status.counts.pending == 3
        ended = _wait_ended(adapter, status.batch_id)
        assert ended.ended and ended.counts.succeeded == 3
        results = list(adapter.results(ended))
        assert sorted(r.custom_id for r in results) == sorted(r.custom_id for r in requests)
        answer = adapter.answer(results[0].body or {}, model=requests[0].model, max_tokens=500)
        assert not isinstance(answer, str) and "SCORE:" in answer.text and answer.usage.completion_tokens > 0
        assert adapter.find(tag="t-1", model=requests[0].model, count=3, since=time.time() - 60, taken=set()) == (
            status.batch_id
        )
        assert adapter.find(tag="t-1", model=requests[0].model, count=3, since=0, taken={status.batch_id}) is None

        wrong = adapter_for(api, LLMSettings(base_url=server.base_url, api_key="sk-wrong-key-0000000000"))
        with pytest.raises(LLMError) as excinfo:
            wrong.status(status.batch_id)
        message = one_line_error(excinfo, "HTTP 401")
        assert "sk-wrong-key" not in message and KEY not in message
        assert server.stats()["batches"]["by_api"] == {api: 1}


def test_offline_wire_shapes_are_the_providers() -> None:
    """What a client of each provider would read, straight from the offline server."""
    with start_offline_server({"latency_s": 0, "batch": {"completion_delay_s": 0}}) as server:
        base = server.base_url
        line = {
            "custom_id": "a",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50},
        }
        upload = httpx.post(
            f"{base}/files", files={"file": ("in.jsonl", json.dumps(line) + "\n")}, data={"purpose": "batch"}
        ).json()
        assert upload["object"] == "file" and upload["purpose"] == "batch"
        batch = httpx.post(
            f"{base}/batches",
            json={"input_file_id": upload["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        ).json()
        done = httpx.get(f"{base}/batches/{batch['id']}").json()
        assert done["status"] == "completed" and done["request_counts"] == {"total": 1, "completed": 1, "failed": 0}
        out = httpx.get(f"{base}/files/{done['output_file_id']}/content").text.splitlines()
        row = json.loads(out[0])
        assert row["custom_id"] == "a" and row["response"]["status_code"] == 200
        assert "cost" not in row["response"]["body"]["usage"], "OpenAI's batch output reports no cost"

        inline = httpx.post(
            f"{base}/batches",
            json={
                "endpoint": "/v1/chat/completions",
                "model": "m",
                "requests": [{"custom_id": "b", "body": line["body"]}],
            },
        )
        assert inline.status_code == 202 and inline.json()["status"] == "in_progress"
        page = httpx.get(f"{base}/batches/{inline.json()['id']}/results").json()
        assert page["has_more"] is False and page["data"][0]["response"]["body"]["usage"]["cost"] >= 0

        message = httpx.post(
            f"{base}/messages/batches",
            json={
                "requests": [
                    {
                        "custom_id": "c",
                        "params": {
                            "model": "claude",
                            "max_tokens": 50,
                            "messages": [{"role": "user", "content": "hi"}],
                        },
                    }
                ]
            },
        ).json()
        assert message["type"] == "message_batch"
        ended = httpx.get(f"{base}/messages/batches/{message['id']}").json()
        assert ended["processing_status"] == "ended" and ended["request_counts"]["succeeded"] == 1
        result = json.loads(httpx.get(ended["results_url"]).text.splitlines()[0])
        assert result["result"]["type"] == "succeeded" and result["result"]["message"]["content"][0]["type"] == "text"
        assert server.stats()["batches"]["by_api"] == {"openai": 1, "openrouter": 1, "anthropic": 1}


def test_another_vendors_batch_api_never_gets_the_openrouter_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DAYDREAM_LLM_BASE_URL", raising=False)
    assert settings_from_env("openrouter").api_key is not None
    openai = settings_from_env("openai")
    assert openai.api_key is None and openai.base_url == "https://api.openai.com/v1"
    with pytest.raises(LLMError) as excinfo:
        adapter_for("openai", openai)
    one_line_error(excinfo, "no API key for the openai batch API", "OPENAI_API_KEY")


def _manifest(layout: DataLayout, batch_id: str, base_url: str) -> BatchManifest:
    manifest = BatchManifest(
        key="evaluation-abc-1",
        cohort_id="demo",
        stage="evaluation",
        llm_model_id="sonnet-4",
        api="anthropic",
        model="claude",
        base_url=base_url,
        fingerprint="abc",
        state="submitted",
        batch_id=batch_id,
        items=[],
    )
    assert BatchManifests(layout, "demo").create(manifest)
    return manifest


def test_the_trigger_poll_records_progress_and_a_kill_cancels(tmp_path: Path) -> None:
    """``apoll``/``acancel_now`` are what ``BatchTrigger.run``/``on_kill`` do on the triggerer's loop."""
    layout = DataLayout(copy_bundled_data(tmp_path / "data"))
    with start_offline_server({"latency_s": 0, "batch": {"completion_delay_s": 60}}) as server:
        adapter = adapter_for("anthropic", LLMSettings(base_url=server.base_url))
        status = adapter.submit(_requests(adapter, 2, "claude"), model="claude", tag="x")
        manifests = BatchManifests(layout, "demo")
        _manifest(layout, status.batch_id, server.base_url)
        assert asyncio.run(apoll(manifests, ["evaluation-abc-1"], adapter)) == ["evaluation-abc-1"]
        assert manifests.read("evaluation-abc-1").counts.pending == 2
        asyncio.run(acancel_now(manifests, ["evaluation-abc-1"], adapter, "stopped by a user"))
        manifest = manifests.read("evaluation-abc-1")
        assert (
            manifest.state == "ended" and manifest.cancel_sent and "stopped by a user" in str(manifest.cancel_requested)
        )
        assert manifest.counts.canceled == 2 and server.stats()["batches"]["cancel_requests"] == 1


def test_a_cohort_run_marked_failed_asks_its_batches_to_cancel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from daydream.airflow.batch import on_dag_run_failed

    layout = DataLayout(copy_bundled_data(tmp_path / "data"))
    monkeypatch.setenv("DAYDREAM_DATA_ROOT", str(layout.root))
    _manifest(layout, "msgbatch_1", "http://127.0.0.1:1/v1")
    run = SimpleNamespace(dag_id="daydream_cohort", run_id="manual__1", conf={"cohort_id": "demo"})
    on_dag_run_failed(run, "task failure")  # an ordinary failure: the scheduler's, nothing to cancel
    assert BatchManifests(layout, "demo").read("evaluation-abc-1").cancel_requested is None
    on_dag_run_failed(run, "Dag Run's state was manually set to `failed`.")
    assert "daydream_cohort run manual__1 was marked failed" in str(
        BatchManifests(layout, "demo").read("evaluation-abc-1").cancel_requested
    )


@pytest.mark.parametrize(
    ("cells", "needle"),
    [
        ("paid,true,true,true,1,2,azure,0.5", "field 'batch'"),
        ("paid,true,true,true,1,2,openai,2", "field 'batch_discount'"),
        ("paid,true,true,true,1,2,openai,half", "field 'batch_discount'"),
        ("free,true,true,true,0,0,openrouter,0.5", "free models have no batch lane"),
    ],
)
def test_bad_batch_columns_are_one_line_errors(tmp_path: Path, cells: str, needle: str) -> None:
    path = tmp_path / "llm_models.csv"
    path.write_text(
        "id,model,tier,for_generation,for_evaluation,active,price_prompt_per_mtok,price_completion_per_mtok,"
        f"batch,batch_discount\nm1,vendor/m1,{cells}\n"
    )
    with pytest.raises(CatalogError) as excinfo:
        load_models(path)
    one_line_error(excinfo, str(path), "row 2", needle)


def test_batch_columns_and_the_model_name_each_api_gets(tmp_path: Path) -> None:
    path = tmp_path / "llm_models.csv"
    path.write_text(
        "id,model,batch,batch_discount,batch_model\n"
        "a,anthropic/claude-sonnet-4,anthropic,50%,claude-sonnet-4-20250514\n"
        "o,openai/gpt-5,openai,,\nr,google/gemini-2.5-pro,openrouter,0.4,\nn,x/y,,,\n"
    )
    models = load_models(path)
    assert models["a"].batch_model_name == "claude-sonnet-4-20250514" and models["a"].batch_price_factor == 0.5
    assert models["o"].batch_model_name == "gpt-5" and models["o"].batch_discount == 0.5
    assert models["r"].batch_model_name == "google/gemini-2.5-pro" and models["r"].batch_price_factor == 0.6
    assert models["n"].batch_api is None


def test_the_estimate_shows_both_lanes(tmp_path: Path) -> None:
    layout = DataLayout(copy_bundled_data(tmp_path / "data"))
    build_cohort(layout, "demo")
    default = estimate_cohort(layout, "demo")
    rows = {(r.stage, r.llm_model_id): r for r in default.rows}
    sonnet = rows[("evaluation", "sonnet-4")]
    assert sonnet.lane == "batch" and sonnet.batch_cost_usd == pytest.approx(sonnet.cost_usd * 0.5)
    assert rows[("draft", "gemini_25_pro")].lane == "direct" and rows[("draft", "deepseek_r1_f")].batch_api is None
    assert default.run_cost == pytest.approx(default.total_cost - sonnet.cost_usd * 0.5)
    table = default.table()
    assert "batch USD" in table and "direct USD" in table and "with the batch lane (saves $" in table
    everything = estimate_cohort(layout, "demo", batch=True)
    assert {r.lane for r in everything.rows if r.tier == "paid"} == {"batch"}
    assert everything.run_cost < default.run_cost < default.total_cost
    assert {r.lane for r in estimate_cohort(layout, "demo", batch=False).rows} == {"direct"}


def test_the_batch_param() -> None:
    assert RunConf.from_params({"cohort_id": "demo"}).batch is None
    run = RunConf.from_params({"cohort_id": "demo", "batch": True})
    assert run.batch is True and run.stage_conf()["batch"] is True
    assert "batch" not in RunConf.from_params({"cohort_id": "demo"}).stage_conf()
    for bad in ("yes", "true", 1, [True]):
        with pytest.raises(RunConfError) as excinfo:
            RunConf.from_params({"cohort_id": "demo", "batch": bad})
        one_line_error(excinfo, "param batch:")
