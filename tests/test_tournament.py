"""Pairwise tournaments without Airflow, end to end against the offline LLM over real HTTP.

- the demo cohort's 18 essays (made by the offline LLM) go through every Swiss round with two
  judges: comparison generations in ``gens/comparison`` with both parents and the presented order,
  ``store check`` healthy, a rerun makes no call, the leaderboard has pooled and per-judge ratings
  with intervals and the absolute scores beside them;
- on essays whose planted quality is known, Bradley-Terry recovers the order: Spearman > 0.8
  (``PLANTED_SPEARMAN``; docs/analysis.md says why that threshold);
- ids, the spec's one-line errors, the bound on cost, the idempotent round planning, the CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import copy_bundled_data, run_members
from scipy.stats import spearmanr

from daydream.analysis.comparison_ids import comparison_id
from daydream.analysis.swiss import comparisons_needed
from daydream.cli import main
from daydream.cohorts import build_cohort
from daydream.errors import SpecError
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.offline import OfflineServer, start_offline_server
from daydream.llm.offline.pairwise import planted_quality
from daydream.llm.settings import LLMSettings
from daydream.paths import DataLayout
from daydream.store import GenMetadata, GensStore
from daydream.storecheck import check_store
from daydream.tournament import load_tournament, plan_round, read_state, run_tournament, tournament_status
from daydream.tournament.ratings import leaderboard
from daydream.tournament.store import ComparisonStore

TOURNAMENT = "tdemo"
JUDGES = ["sonnet-4", "gpt_5"]
PLANTED_SPEARMAN = 0.8


def _spec(over: str, *, judges: list[str] = JUDGES, extra: str = "") -> str:
    return f"tournament:\n  over: {over}\n  judges: [{', '.join(judges)}]\n  template: pairwise-v1\n{extra}"


def _write_spec(layout: DataLayout, cohort_id: str, text: str) -> Path:
    path = layout.spec_file(cohort_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _client(server: OfflineServer) -> OpenAICompatibleClient:
    return OpenAICompatibleClient(LLMSettings(base_url=server.base_url, api_key="offline-key"))


@pytest.fixture(scope="module")
def server():
    with start_offline_server({"latency_s": 0.0}) as running:
        yield running


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory, server: OfflineServer):
    """The demo cohort run by the offline LLM, then a tournament over its essays played to the end."""
    root = copy_bundled_data(tmp_path_factory.mktemp("tournament") / "data")
    layout = DataLayout.at(root)
    build_cohort(layout, "demo")
    with _client(server) as llm:
        assert {o.state for o in run_members(layout, "demo", llm)} == {"done"}
        _write_spec(layout, TOURNAMENT, _spec("demo"))
        before = server.state.snapshot()["total_requests"]
        summaries = run_tournament(layout, TOURNAMENT, llm=llm)
        calls = server.state.snapshot()["total_requests"] - before
    return layout, summaries, calls


def test_demo_tournament_plays_every_round_with_about_n_log_n_comparisons(played) -> None:
    layout, summaries, calls = played
    status = tournament_status(layout, TOURNAMENT)
    assert status["essays"] == 18 and status["rounds_total"] == 5  # ceil(log2 18)
    assert status["complete"] and status["rounds_finished"] == 5 == len(summaries)
    expected = comparisons_needed(18, 5, both_orders=True, judges=2)
    assert expected == 180 < 18 * 17 * 2  # n/2 log n per order and judge, not every ordered pair
    assert status["comparisons"] == {"done": expected, "failed": 0, "pending": 0}
    assert calls == expected
    assert not summaries[-1]["more"] and all(s["more"] for s in summaries[:-1])


def test_comparison_generations_have_both_parents_and_the_presented_order(played) -> None:
    layout, _, _ = played
    store = ComparisonStore(layout)
    state = read_state(layout, TOURNAMENT)
    first = state.rounds[0]
    pair = [c for c in first.comparisons if c.pair == 0 and c.judge == "sonnet-4"]
    assert len(pair) == 2  # both orders of one match: two generations
    ab, ba = pair
    assert (ab.document_a, ab.document_b) == (ba.document_b, ba.document_a)
    assert ab.comparison_id != ba.comparison_id
    for c in pair:
        assert c.comparison_id == comparison_id(c.document_a, c.document_b, "pairwise-v1", "sonnet-4")
        meta = json.loads((store.dir(c.comparison_id) / "metadata.json").read_text())
        assert meta["parent_gen_ids"] == sorted([c.document_a, c.document_b])
        assert meta["presented"] == [c.document_a, c.document_b]
        assert meta["order"] == ("ab" if c.document_a < c.document_b else "ba")
        assert meta["template_id"] == "pairwise-v1" and meta["llm_model_id"] == "sonnet-4"
        for name in ("prompt.txt", "raw.txt", "raw_metadata.json", "parsed.txt", "parsed_metadata.json"):
            assert (store.dir(c.comparison_id) / name).is_file(), name
        parsed = json.loads((store.dir(c.comparison_id) / "parsed_metadata.json").read_text())
        assert parsed["success"] and parsed["verdict"] == store.verdict(c.comparison_id)
        raw_meta = json.loads((store.dir(c.comparison_id) / "raw_metadata.json").read_text())
        assert raw_meta["stage"] == "comparison" and raw_meta["prompt_sha256"] and "offline-key" not in str(raw_meta)
    assert {r.bye for r in state.rounds} == {None}  # 18 essays: nobody sits out
    spend = (layout.runs_dir(TOURNAMENT) / "spend.jsonl").read_text().splitlines()
    assert sum('"stage": "comparison"' in line for line in spend) == 180


def test_store_check_knows_comparisons_and_reports_a_broken_parent(played, tmp_path: Path) -> None:
    layout, _, _ = played
    report = check_store(layout)
    assert report.healthy, report.table()
    assert report.generations["comparison"] == 180
    copy = DataLayout.at(shutil.copytree(layout.root, tmp_path / "copy"))
    victim = read_state(copy, TOURNAMENT).rounds[0].comparisons[0]
    shutil.rmtree(GensStore(copy).dir("essay", victim.document_a))
    (ComparisonStore(copy).dir(victim.comparison_id) / "raw.txt.x1.tmp").write_text("partial")
    kinds = {(i.kind, i.gen_id) for i in check_store(copy).issues}
    assert ("broken_parent", victim.comparison_id) in kinds
    assert ("leftover_temp", victim.comparison_id) in kinds


def test_rerun_pays_nothing_and_planning_a_finished_tournament_is_a_no_op(played, server: OfflineServer) -> None:
    layout, _, _ = played
    before = server.state.snapshot()["total_requests"]
    with _client(server) as llm:
        again = run_tournament(layout, TOURNAMENT, llm=llm)
    assert server.state.snapshot()["total_requests"] == before
    assert len(again) == 1 and again[0]["round"] is None and not again[0]["more"]
    assert len(read_state(layout, TOURNAMENT).rounds) == 5


def test_leaderboard_pooled_and_per_judge_with_intervals_and_absolute_scores(played) -> None:
    layout, _, _ = played
    board = leaderboard(layout, TOURNAMENT, n_boot=200)
    assert list(board["scope"].unique()) == ["pooled", "gpt_5", "sonnet-4"]
    pooled = board[board["scope"] == "pooled"]
    assert len(pooled) == 18 and list(pooled["rank"]) == list(range(1, 19))
    assert (pooled["ci_low"] <= pooled["rating"]).all() and (pooled["rating"] <= pooled["ci_high"]).all()
    assert (pooled["n_comparisons"] == 2 * 2 * 5).all()  # every essay, every round, both orders, two judges
    assert (pooled["n_scores"] == 2).all() and pooled["mean_score"].notna().all()  # demo: 2 evaluations each
    # the offline judges' absolute scores and pairwise verdicts share the planted quality: they agree
    rho = spearmanr(pooled["rating"], pooled["mean_score"]).statistic
    assert rho > 0.5, rho


def _planted_essays(layout: DataLayout, n: int) -> dict[str, int]:
    """``n`` essays whose planted quality (distinct long words) is 12 + 3 i, in shuffled id order."""
    store = GensStore(layout)
    letters = "abcdefghijklmnopqrstuvwxyz"
    quality: dict[str, int] = {}
    for i in range(n):
        gen_id = f"e_planted{(i * 7) % n:02d}"
        words = ["lexeme" + letters[k // 26] + letters[k % 26] for k in range(12 + 3 * i)]
        text = "Title\n\n" + " ".join(words) + "."
        store.seed_metadata(GenMetadata(stage="essay", gen_id=gen_id, template_id="essay-expand-v3"))
        store.write_text("essay", gen_id, "parsed.txt", text)
        quality[gen_id] = planted_quality(text)
    return quality


def test_bradley_terry_recovers_the_planted_order(tmp_path: Path, server: OfflineServer) -> None:
    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    quality = _planted_essays(layout, 16)
    _write_spec(layout, "planted", _spec("chosen.txt", extra="  rounds: 5\n  seed: 3\n"))
    (layout.spec_dir("planted") / "chosen.txt").write_text("# planted\n" + "\n".join(quality) + "\n")
    with _client(server) as llm:
        run_tournament(layout, "planted", llm=llm)
    board = leaderboard(layout, "planted", n_boot=100)
    pooled = board[board["scope"] == "pooled"].set_index("document")
    rho = spearmanr(pooled["rating"], pd_series(quality).reindex(pooled.index)).statistic
    assert rho > PLANTED_SPEARMAN, rho
    assert pooled["mean_score"].isna().all()  # a selection file has no absolute scores beside it
    assert len(pooled) == 16 and tournament_status(layout, "planted")["comparisons"]["done"] == 5 * 8 * 2 * 2


def pd_series(values: dict[str, int]):
    import pandas as pd

    return pd.Series(values, dtype=float)


def test_round_planning_is_idempotent_until_the_round_finishes(tmp_path: Path) -> None:
    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    quality = _planted_essays(layout, 5)
    _write_spec(layout, "odd", _spec("chosen.txt", judges=["sonnet-4"]))
    (layout.spec_dir("odd") / "chosen.txt").write_text("\n".join(quality) + "\n")
    first = plan_round(layout, "odd")
    again = plan_round(layout, "odd")
    assert first == again and first.round == 1
    assert sorted(first.work["paid"]) == sorted(
        c.comparison_id for c in read_state(layout, "odd").rounds[0].comparisons
    )
    assert len(first.work["paid"]) == 4  # 5 essays: 2 pairs x 2 orders, one bye
    assert read_state(layout, "odd").rounds[0].bye in quality


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("axes: {}\n", "field 'tournament': missing"),
        (_spec("demo", judges=[]), "field 'tournament.judges'"),
        (_spec("demo", judges=["nobody"]), "field 'tournament.judges': unknown model id(s)"),
        (_spec("demo", judges=["sonnet-4", "sonnet-4"]), "a judge is listed twice"),
        (_spec("demo").replace("pairwise-v1", "novelty-rubric-v2"), "needs a pairwise one"),
        (_spec("demo").replace("pairwise-v1", "../x"), "field 'tournament.template': invalid template id"),
        (_spec("demo", extra="  rounds: 0\n"), "field 'tournament.rounds'"),
        (_spec("demo", extra="  colour: red\n"), "field 'tournament.colour'"),
        (_spec("nowhere"), "field 'tournament.over': cohort 'nowhere' has no membership.csv"),
        (_spec("../up.txt"), "field 'tournament.over'"),
    ],
)
def test_spec_errors_are_one_line_naming_file_and_field(tmp_path: Path, spec: str, needle: str) -> None:
    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    path = _write_spec(layout, "bad", spec)
    with pytest.raises(SpecError) as excinfo:
        load_tournament(layout, "bad")
    message = str(excinfo.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_cost_is_bounded_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    quality = _planted_essays(layout, 8)
    _write_spec(layout, "big", _spec("chosen.txt", extra="  rounds: 10\n"))
    (layout.spec_dir("big") / "chosen.txt").write_text("\n".join(quality) + "\n")
    monkeypatch.setenv("DAYDREAM_MAX_PLAN_ROWS", "100")
    with pytest.raises(SpecError, match="needs 160 comparisons: 160 rows, over the limit of 100 rows"):
        plan_round(layout, "big")
    assert not (layout.gens / "comparison").exists()
    assert not (layout.cohort_dir("big") / "tournament").exists()


def test_cli_runs_and_reports_status(tmp_path: Path, server: OfflineServer, monkeypatch, capsys) -> None:
    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    quality = _planted_essays(layout, 4)
    _write_spec(layout, "cli", _spec("chosen.txt", judges=["gpt_5"]))
    (layout.spec_dir("cli") / "chosen.txt").write_text("\n".join(quality) + "\n")
    monkeypatch.setenv("DAYDREAM_LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENROUTER_API_KEY", "offline-key")
    assert main(["tournament", "run", "cli", "--data-root", str(layout.root)]) == 0
    assert "round 2 of 2" in capsys.readouterr().out
    assert main(["tournament", "status", "cli", "--data-root", str(layout.root)]) == 0
    assert json.loads(capsys.readouterr().out)["complete"] is True
    assert main(["tournament", "ratings", "cli", "--data-root", str(layout.root)]) == 0
    assert capsys.readouterr().out.startswith("scope,document,rating,se,ci_low,ci_high")
    assert main(["tournament", "status", "../x", "--data-root", str(layout.root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid cohort id" in err


def test_report_and_ui_page_show_the_leaderboard_with_absolute_scores(played, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from daydream.airflow import ui
    from daydream.reports import build_cohort_reports

    layout, _, _ = played
    result = build_cohort_reports(layout, TOURNAMENT)
    reports = layout.reports(TOURNAMENT)
    assert {p.relative_to(reports).as_posix() for p in result.paths} == {
        "index.html",
        "tournament/leaderboard.csv",
        "tournament/verdicts.csv",
        "tournament/position_bias.csv",
    }
    page = (reports / "index.html").read_text()
    board = leaderboard(layout, TOURNAMENT)
    best = board[board["scope"] == "pooled"].iloc[0]
    assert "Tournament leaderboard" in page and "absolute mean score" in page and "95% low" in page
    assert f"gens/essay/{best['document']}/parsed.txt" in page
    assert page.count("<h3>") == 4  # pooled, then each judge, then position bias
    # position bias: every judge judged both orders of its pairs, so the slot check has data per judge
    position = pd.read_csv(reports / "tournament" / "position_bias.csv")
    assert set(position["evaluation_llm"]) == set(board.loc[board["scope"] != "pooled", "scope"])
    assert (position["n_pairs_both_orders"] > 0).all()
    assert position["first_win_rate"].between(0, 1).all() and position["follows_position"].between(0, 1).all()
    assert "position bias of each judge" in page
    written = (reports / "tournament" / "leaderboard.csv").read_text().splitlines()
    assert written[0].startswith("scope,document,rating,se,ci_low,ci_high") and len(written) == 1 + 3 * 18

    monkeypatch.setenv("DAYDREAM_DATA_ROOT", str(layout.root))
    app = ui.create_app()
    app.dependency_overrides[ui.require_user] = lambda: "someone"
    http = TestClient(app)
    shown_page = http.get(f"/cohorts/{TOURNAMENT}")
    assert shown_page.status_code == 200
    assert "Tournament leaderboard" in shown_page.text and best["document"] in shown_page.text
    assert http.get("/cohorts/demo").status_code == 200  # a scored cohort keeps its own page


def test_building_a_tournament_cohort_says_how_to_play_it(tmp_path: Path) -> None:
    from daydream.spec import compile_spec

    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    path = _write_spec(layout, "t", _spec("demo"))
    with pytest.raises(SpecError, match="field 'tournament': a tournament cohort .* is played, not built"):
        compile_spec(path)
    assert main(["cohort", "build", "t", "--dry-run", "--data-root", str(layout.root)]) == 2


def test_budget_stops_the_calls_and_the_rounds(tmp_path: Path) -> None:
    from daydream.llm.offline import catalog_pricing

    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    quality = _planted_essays(layout, 6)
    _write_spec(layout, "cheap", _spec("chosen.txt", judges=["sonnet-4"]))
    (layout.spec_dir("cheap") / "chosen.txt").write_text("\n".join(quality) + "\n")
    config = {**catalog_pricing(layout.models_csv), "latency_s": 0.0}
    with start_offline_server(config) as priced, _client(priced) as llm:
        summaries = run_tournament(layout, "cheap", llm=llm, max_cost_usd=1e-9)
        assert priced.state.snapshot()["total_requests"] == 1  # the first call reaches the budget
    assert len(summaries) == 1 and not summaries[0]["more"] and summaries[0]["this_run"] == {"budget": 5, "done": 1}
    assert tournament_status(layout, "cheap")["comparisons"] == {"done": 1, "failed": 0, "pending": 5}


def test_selection_file_ids_are_checked_with_file_and_line(tmp_path: Path) -> None:
    layout = DataLayout.at(copy_bundled_data(tmp_path / "data"))
    _planted_essays(layout, 3)
    _write_spec(layout, "sel", _spec("chosen.txt"))
    chosen = layout.spec_dir("sel") / "chosen.txt"
    chosen.write_text("# mine\ne_planted00\n../../etc/passwd\n")
    with pytest.raises(SpecError) as excinfo:
        load_tournament(layout, "sel")
    assert f"{chosen}, line 3: invalid essay gen id" in str(excinfo.value)
