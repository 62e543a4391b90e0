"""The offline LLM server: answer shapes, determinism, faults, endpoints, stats, config, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from llm_fixtures import FREE, PAID, call, make_client, offline_server

from daydream.llm.offline import OfflineConfigError, catalog_pricing, load_config, start_offline_server
from daydream.llm.offline_answers import answer, evaluated_text, find_concepts, judge_score, rng_for, task_of

__all__ = ["offline_server"]

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = REPO / "data" / "1_raw" / "templates"
CONCEPTS = ["Default Mode Network", "Economic Moat", "Data Flywheel", "Tacit Knowledge"]
BULLETS = "".join(f"- {name}: a description of {name.lower()}.\n" for name in CONCEPTS)
JUDGES = ["google/gemini-2.5-pro", "anthropic/claude-sonnet-4", "openai/gpt-5"]


def non_empty(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def get_json(url: str, data: dict | None = None) -> tuple[int, dict]:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(
        url, data=body, method="GET" if data is None else "POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


# -- answer shapes -----------------------------------------------------------------------------


def test_task_is_the_earliest_marker():
    assert task_of("DRAFT TASK ... EVALUATION TASK") == "draft"
    assert task_of("EVALUATION TASK\n=== ESSAY ===\nESSAY TASK\n") == "evaluation"
    assert task_of("hello") is None


@pytest.mark.parametrize(
    "listing",
    [
        "".join(f"### {i}. {n}\n\nabout it\n" for i, n in enumerate(CONCEPTS, 1)),
        "".join(f"[{i}] {n}\nabout it\n" for i, n in enumerate(CONCEPTS, 1)),
        BULLETS,
        "".join(f"* {n} \u2014 about it\n" for n in CONCEPTS),
    ],
)
def test_concepts_are_found_in_every_listing_style(listing):
    assert find_concepts("DRAFT TASK\n\n" + listing + "\nWrite things.") == CONCEPTS


def test_plain_draft_has_six_lines_about_the_concepts():
    text = answer(PAID, "DRAFT TASK\n" + BULLETS)
    lines = non_empty(text)
    assert len(lines) >= 6
    assert all(any(c in line for c in CONCEPTS) for line in lines)


def test_draft_with_essay_idea_blocks():
    prompt = "DRAFT TASK\n" + BULLETS + 'Use <essay-idea stage="1"> ... then stage="2" and stage="3".'
    text = answer(PAID, prompt)
    opens = re.findall(r'^<essay-idea stage="(\d)">$', text, re.M)
    assert opens == ["1", "2", "3"] and len(re.findall(r"^</essay-idea>$", text, re.M)) == 3
    two = answer(PAID, "DRAFT TASK\n" + BULLETS + 'Write <essay-idea stage="1"> and stage="2".')
    assert re.findall(r'^<essay-idea stage="(\d)">$', two, re.M) == ["1", "2"]
    assert len(non_empty(text)) >= 6


def test_draft_with_essay_tags_and_links_list():
    text = answer(PAID, "DRAFT TASK\n" + BULLETS + "Write it inside <essay> and </essay> tags.")
    assert re.search(r"^<essay>$.+^</essay>$", text, re.M | re.S) and len(non_empty(text)) >= 6
    links = answer(PAID, "DRAFT TASK\n" + BULLETS + 'End with a line "Most promising:".')
    items = re.findall(r"^\d+\. (.+)$", links, re.M)
    assert 8 <= len(items) <= 13 and non_empty(links)[-1].startswith("Most promising:")


def test_essay_has_title_and_three_to_five_paragraphs():
    draft = answer(PAID, "DRAFT TASK\n" + BULLETS)
    for model in (PAID, FREE, "google/gemini-2.5-pro", "x/y"):
        essay = answer(model, f"ESSAY TASK\n\n--- DRAFT ---\n{draft}\n--- END OF DRAFT ---\n")
        paragraphs = [p for p in essay.split("\n\n") if p.strip()]
        assert 4 <= len(paragraphs) <= 6  # title + 3..5 paragraphs
        assert any(c in essay for c in CONCEPTS)
    wrapped = answer(PAID, "ESSAY TASK\n" + draft + "\nPut it between <essay> and </essay> tags.")
    assert re.search(r"^<essay>$.+^</essay>$", wrapped, re.M | re.S)


def test_judge_answers_end_with_a_score():
    essay = answer(PAID, "ESSAY TASK\n" + answer(PAID, "DRAFT TASK\n" + BULLETS))
    prompt = f"EVALUATION TASK\n--- ESSAY ---\n{essay}\n--- END OF ESSAY ---\nEnd with SCORE: <n>."
    last = non_empty(answer("openai/gpt-5", prompt))[-1]
    assert re.fullmatch(r"SCORE: [0-9]", last)
    verdict_prompt = (
        f"EVALUATION TASK\n=== ESSAY ===\n{essay}\n=== END ===\n"
        "Originality: x/3\nInsight: x/3\nRigor: x/2\nUsefulness: x/2\n"
        "Final Score:\n6/10\n"
    )
    lines = non_empty(answer("openai/gpt-5", verdict_prompt))
    assert lines[-2] == "Final Score:" and re.fullmatch(r"(10|[0-9])/10", lines[-1])
    assert {line.split(":")[0] for line in lines if re.fullmatch(r"\w+: \d/\d", line)} == {
        "Originality",
        "Insight",
        "Rigor",
        "Usefulness",
    }
    assert "SCORE" not in answer("openai/gpt-5", prompt, with_score=False)


def test_evaluated_text_is_between_the_delimiters():
    assert evaluated_text("intro\n--- ESSAY ---\nthe essay\n--- END OF ESSAY ---\nrest").strip() == "the essay"
    assert evaluated_text("no delimiters") == "no delimiters"


def test_scores_vary_and_follow_the_richness_of_the_text():
    def score(judge: str, text: str) -> int:
        prompt = f"EVALUATION TASK\n--- ESSAY ---\n{text}\n--- END ---\nSCORE: <n>"
        return judge_score(judge, prompt, rng_for(judge, prompt))

    draft = answer(PAID, "DRAFT TASK\n" + BULLETS)
    essays = [answer(f"model-{i}", f"ESSAY TASK\n{draft}") for i in range(12)]
    scores = [score(judge, essay) for essay in essays for judge in JUDGES]
    assert len(set(scores)) >= 3
    short = statistics.mean(score(j, "A short note on Data Flywheel.") for j in JUDGES)
    assert short < statistics.mean(scores)


@pytest.mark.skipif(not TEMPLATES.is_dir(), reason="bundled templates not present")
def test_bundled_templates_round_trip_through_the_parsers():
    jinja2 = pytest.importorskip("jinja2")
    from daydream.parsers import parse_draft, parse_evaluation

    def render(stage: str, name: str, **values) -> str:
        return (
            jinja2.Environment(undefined=jinja2.StrictUndefined)
            .from_string((TEMPLATES / stage / f"{name}.txt").read_text(encoding="utf-8"))
            .render(**values)
        )

    concepts = [{"name": n, "content": f"What {n} means."} for n in CONCEPTS]
    drafts = {
        "creative-synthesis-v10": "essay_idea_last",
        "creative-synthesis-v9": "essay_idea_last",
        "links-brainstorm-v2": "identity",
        "problem-solution-v1": "essay_block",
    }
    judges = {"novelty-rubric-v2": "in_last_line", "insight-depth-v1": "in_last_line", "free-verdict-v1": "complex"}
    for template, parser in drafts.items():
        if not (TEMPLATES / "draft" / f"{template}.txt").exists():
            continue
        draft = parse_draft(parser, answer(PAID, render("draft", template, concepts=concepts)))
        assert len(non_empty(draft)) >= 3
        essay = parse_draft(
            "essay_block", answer(PAID, render("essay", "essay-argument-v1", draft_block=draft, links_block=draft))
        )
        for judge_template, judge_parser in judges.items():
            for judge in JUDGES:
                verdict = answer(judge, render("evaluation", judge_template, response=essay))
                assert 0 <= parse_evaluation(judge_parser, verdict).score_normalized <= 1


# -- server: endpoints, stats, faults ---------------------------------------------------------------


def test_endpoints(offline_server):
    url = offline_server.url
    assert get_json(f"{url}/health") == (200, {"status": "ok"})
    offline_server.configure(known_models=[PAID, FREE])
    status, models = get_json(f"{url}/v1/models")
    assert status == 200 and [m["id"] for m in models["data"]] == [PAID, FREE]
    assert get_json(f"{url}/v1/nothing")[0] == 404
    status, body = get_json(f"{url}/v1/chat/completions", {"model": PAID})
    assert status == 400 and "messages" in body["error"]["message"]
    status, body = get_json(f"{url}/admin/config", {"latency_s": -1})
    assert status == 400 and "latency_s" in body["error"]["message"]
    status, body = get_json(f"{url}/admin/config", {"latency_s": 0.01, "tiers": {PAID: "free"}})
    assert status == 200 and offline_server.config.tier_of(PAID) == "free"
    assert offline_server.config.known_models is None  # /admin/config replaces the whole config
    call(make_client(offline_server))
    assert get_json(f"{url}/stats")[1]["total_requests"] == 1
    assert get_json(f"{url}/admin/reset", {})[0] == 200
    assert get_json(f"{url}/stats")[1]["total_requests"] == 0


def test_stats_record_peaks_per_model_and_tier(offline_server):
    offline_server.configure(latency_s=0.3)
    client = make_client(offline_server)
    jobs = [(PAID, f"paid {i}") for i in range(4)] + [(FREE, f"free {i}") for i in range(2)]
    threads = [threading.Thread(target=call, args=(client, prompt), kwargs={"model": model}) for model, prompt in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = offline_server.stats()
    assert stats["models"][PAID]["peak_in_flight"] == 4 and stats["models"][FREE]["peak_in_flight"] == 2
    assert stats["tiers"]["paid"]["peak_in_flight"] == 4 and stats["tiers"]["free"]["peak_in_flight"] == 2
    assert stats["peak_in_flight"] == 6 and stats["in_flight"] == 0
    assert stats["models"][FREE]["tier"] == "free" and stats["total_served"] == 6
    assert len(stats["answered"]) == 6 and stats["answered_twice"] == []
    call(client, "paid 0")
    assert offline_server.stats()["answered_twice"][0][::2] == [PAID, 2]


def test_rate_faults_are_deterministic_and_near_the_rate():
    def run(seed: int) -> list[int]:
        with start_offline_server(
            {"latency_s": 0, "seed": seed, "fault": {"fault": "server_error", "rate": 0.2}}
        ) as server:
            client = make_client(server, max_retries=0)
            failed = []
            for i in range(100):
                try:
                    call(client, f"prompt {i}")
                except Exception:  # noqa: BLE001
                    failed.append(i)
            return failed

    first = run(1)
    assert first == run(1) and first != run(2)
    assert 8 <= len(first) <= 35


def test_fault_scoped_to_model_and_prompt(offline_server):
    offline_server.configure(
        faults=[{"fault": "empty", "model": FREE}, {"fault": "truncate", "prompt_contains": "cut me"}]
    )
    client = make_client(offline_server)
    assert call(client, model=FREE).text == "" and call(client).text
    assert call(client, "please cut me").truncated and not call(client, "leave me").truncated
    assert offline_server.stats()["faults_injected"] == {"empty": 1, "truncate": 1}


def test_first_n_counts_per_prompt(offline_server):
    offline_server.configure(fault={"fault": "server_error", "first_n": 1})
    client = make_client(offline_server, backoff_base_s=0)
    assert call(client, "one").attempts == 2 and call(client, "two").attempts == 2
    assert call(client, "one").attempts == 1


# -- config ----------------------------------------------------------------------------------------


def test_config_from_yaml_and_json_files(tmp_path):
    yaml_file = tmp_path / "offline.yaml"
    yaml_file.write_text(
        "latency_s: 0.2\nmodel_latency_s: {a/b: 1}\nfaults:\n"
        "  - {fault: rate_limit, model: a/b, first_n: 2, retry_after: 3}\n"
    )
    config = load_config(yaml_file)
    assert config.latency_for("a/b") == 1 and config.latency_for("c/d") == 0.2
    assert config.faults[0].retry_after == 3
    json_file = tmp_path / "offline.json"
    json_file.write_text(json.dumps({"fault": {"fault": "slow", "slow_s": 9}, "seed": 4}))
    assert load_config(json_file, latency_s=0.5).faults[0].slow_s == 9
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults: [{fault: explode}]\n")
    with pytest.raises(OfflineConfigError, match=r"bad\.yaml.*faults\.0\.fault"):
        load_config(bad)
    with pytest.raises(OfflineConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_prices_and_tiers_from_the_model_catalog(tmp_path):
    catalog = tmp_path / "llm_models.csv"
    catalog.write_text(
        "id,model,tier,price_prompt_per_mtok,price_completion_per_mtok\n"
        "a,prov/a,paid,1,10\nb,prov/b:free,,0,0\nc,prov/c,free,,\n"
    )
    config = load_config(catalog_pricing(catalog))
    assert config.cost("prov/a", 1_000_000, 100_000) == pytest.approx(2.0)
    assert config.tier_of("prov/b:free") == "free" and config.tier_of("prov/c") == "free"
    assert config.cost("prov/c", 1000, 1000) == 0.0
    assert config.cost("prov/unknown", 1_000_000, 0) == pytest.approx(1.0)  # default paid price


# -- CLI -------------------------------------------------------------------------------------------


def test_cli_serve_and_stats(tmp_path):
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "daydream", "llm", "serve", "--port", "0", "--latency", "0", "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        base_url = ready.read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        assert get_json(base_url.removesuffix("/v1") + "/health")[0] == 200
        stats = subprocess.run(
            [sys.executable, "-m", "daydream", "llm", "stats", "--url", base_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert stats.returncode == 0 and json.loads(stats.stdout)["total_requests"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"offline LLM listening on {base_url}" in out


def test_cli_errors_are_one_line(tmp_path):
    from daydream.cli import main

    assert main(["llm", "stats", "--url", "http://127.0.0.1:9"]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("latency_s: fast\n")
    assert main(["llm", "serve", "--config", str(bad), "--port", "0"]) == 2
