"""Tournament replicates, forced reruns of a round and the cohort lists' tournament state, without
Airflow, against the offline LLM over real HTTP.

- ``replicates: n``: n comparison generations per pair, order and judge, their ids the issue's
  deterministic ``c_`` ids of (pair, template, judge, replicate); the count is bounded;
- ``force`` re-judges the last planned round under the forced-rerun rules of every stage: a failed
  answer or call is filed under ``attempts/<n>`` (``failed``) and the old verdict stays; a passing
  one archives the old answer (``superseded``) and replaces it;
- ``daydream cohort list`` and the UI's cohort rows show a tournament's rounds and comparisons, not
  "not built".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import copy_bundled_data

from daydream.analysis.comparison_ids import comparison_id
from daydream.cli import main
from daydream.errors import SpecError
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.offline import OfflineServer, start_offline_server
from daydream.llm.settings import LLMSettings
from daydream.paths import DataLayout
from daydream.reports.aggregate import load_scope
from daydream.reports.overview import cohort_rows, overview_record
from daydream.store import GenMetadata, GensStore
from daydream.tournament import load_tournament, read_state, run_tournament, tournament_status
from daydream.tournament.store import ComparisonStore

JUDGE = "sonnet-4"
ESSAYS = 4
REPLICATES = 2
PLANNED = 1 * (ESSAYS // 2) * 2 * 1 * REPLICATES  # one round, pairs, both orders, one judge, replicates


@pytest.fixture(scope="module")
def server():
    with start_offline_server({"latency_s": 0.0}) as running:
        yield running


def _client(server: OfflineServer) -> OpenAICompatibleClient:
    return OpenAICompatibleClient(LLMSettings(base_url=server.base_url, api_key="offline-key"))


def _tournament(root: Path, *, extra: str = f"  replicates: {REPLICATES}\n") -> DataLayout:
    """``ESSAYS`` done essays of different lengths in a selection, a one-round tournament over them."""
    layout = DataLayout.at(copy_bundled_data(root))
    store = GensStore(layout)
    essays = []
    for i in range(ESSAYS):
        gen_id = f"e_forced{i}"
        store.seed_metadata(GenMetadata(stage="essay", gen_id=gen_id, template_id="essay-expand-v3"))
        store.write_text("essay", gen_id, "parsed.txt", "Title\n\n" + " ".join(f"word{k}" for k in range(10 + 9 * i)))
        essays.append(gen_id)
    spec = layout.spec_file("t")
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(
        f"tournament:\n  over: chosen.txt\n  judges: [{JUDGE}]\n  template: pairwise-v1\n  rounds: 1\n{extra}"
    )
    (spec.parent / "chosen.txt").write_text("\n".join(essays) + "\n")
    return layout


def _files(layout: DataLayout) -> dict[str, tuple[str, str]]:
    """``(parsed.txt, raw.txt)`` of every comparison of the tournament."""
    store = ComparisonStore(layout)
    ids = [c.comparison_id for r in read_state(layout, "t").rounds for c in r.comparisons]
    return {i: (store.read_text(i, "parsed.txt") or "", store.read_text(i, "raw.txt") or "") for i in ids}


def _attempts(layout: DataLayout, gen_id: str) -> list[str]:
    root = ComparisonStore(layout).dir(gen_id) / "attempts"
    numbers = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []
    return [json.loads((root / str(n) / "attempt.json").read_text())["status"] for n in numbers]


def test_replicates_are_distinct_comparisons_with_deterministic_ids(tmp_path: Path, server: OfflineServer) -> None:
    layout = _tournament(tmp_path / "data")
    with _client(server) as llm:
        run_tournament(layout, "t", llm=llm)
    planned = [c for r in read_state(layout, "t").rounds for c in r.comparisons]
    assert len(planned) == PLANNED == len({c.comparison_id for c in planned})
    assert sorted({c.replicate for c in planned}) == [1, 2]
    for c in planned:
        assert c.comparison_id == comparison_id(c.document_a, c.document_b, "pairwise-v1", JUDGE, c.replicate)
        meta = json.loads((ComparisonStore(layout).dir(c.comparison_id) / "metadata.json").read_text())
        assert meta["replicate"] == c.replicate
    assert tournament_status(layout, "t")["comparisons"] == {"done": PLANNED, "failed": 0, "pending": 0}


@pytest.mark.parametrize(
    ("extra", "field"),
    [("  replicates: 0\n", "tournament.replicates"), ("  replicates: two\n", "tournament.replicates")],
)
def test_bad_replicates_are_one_line_errors(tmp_path: Path, extra: str, field: str) -> None:
    layout = _tournament(tmp_path / "data", extra=extra)
    with pytest.raises(SpecError) as caught:
        load_tournament(layout, "t")
    assert field in str(caught.value) and str(caught.value).count("\n") == 0


def test_replicates_are_bounded_by_the_plan_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = _tournament(tmp_path / "data", extra="  replicates: 50\n")
    monkeypatch.setenv("DAYDREAM_MAX_PLAN_ROWS", "40")
    with pytest.raises(SpecError, match=r"tournament\.replicates.*50 rows, over the limit of 40"):
        load_tournament(layout, "t")
    monkeypatch.setenv("DAYDREAM_MAX_PLAN_ROWS", "100")  # 50 alone passes; 2 pairs x 2 orders x 50 do not
    with pytest.raises(SpecError, match=r"needs 200 comparisons"):
        load_tournament(layout, "t")
    assert not (layout.gens / "comparison").exists()


def test_forced_round_keeps_the_verdict_when_the_rerun_fails_and_replaces_it_when_it_passes(
    tmp_path: Path, server: OfflineServer
) -> None:
    layout = _tournament(tmp_path / "data")
    with _client(server) as llm:
        run_tournament(layout, "t", llm=llm)
        first = _files(layout)
        calls = server.state.snapshot()["total_requests"]
        assert run_tournament(layout, "t", llm=llm)[0]["this_run"] == {}  # unforced: nothing to do
        for fault in ("empty", "bad_request"):  # an answer that fails validation; a call that fails
            server.configure(faults=[{"fault": fault}])
            try:
                summary = run_tournament(layout, "t", llm=llm, force=True)[0]
            finally:
                server.configure(faults=[])
            assert summary["this_run"] == {"failed": PLANNED} and summary["comparisons"]["done"] == PLANNED
            assert _files(layout) == first  # the verdicts and their answers are untouched
        assert server.state.snapshot()["total_requests"] > calls
        summary = run_tournament(layout, "t", llm=llm, force=True)[0]
    assert summary["this_run"] == {"done": PLANNED}
    assert {gen_id: _attempts(layout, gen_id) for gen_id in first} == {
        gen_id: ["failed", "failed", "superseded"] for gen_id in first
    }
    store = ComparisonStore(layout)
    for gen_id, (parsed, raw) in first.items():
        kept = store.dir(gen_id) / "attempts" / "3"
        assert (kept / "parsed.txt").read_text() == parsed and (kept / "raw.txt").read_text() == raw
        assert store.verdict(gen_id) in ("A", "B", "tie") and not (store.dir(gen_id) / "error.json").exists()
        assert not (store.dir(gen_id) / "attempts" / "incoming").exists()
        failed = json.loads((store.dir(gen_id) / "attempts" / "1" / "attempt.json").read_text())
        assert failed["kind"] == "validation"


def test_cli_force_rejudges_the_last_round(
    tmp_path: Path, server: OfflineServer, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    layout = _tournament(tmp_path / "data", extra="")
    monkeypatch.setenv("DAYDREAM_LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENROUTER_API_KEY", "offline-key")
    args = ["tournament", "run", "t", "--data-root", str(layout.root)]
    assert main(args) == 0
    before = server.state.snapshot()["total_requests"]
    assert main(args) == 0 and server.state.snapshot()["total_requests"] == before
    assert main([*args, "--force"]) == 0
    assert server.state.snapshot()["total_requests"] == before + PLANNED // REPLICATES
    assert "This run: 4 done" in capsys.readouterr().out.splitlines()[-1]


def test_cohort_lists_show_a_tournaments_rounds_and_comparisons(tmp_path: Path, server: OfflineServer, capsys) -> None:
    layout = _tournament(tmp_path / "data")
    (layout.cohorts / "empty" / "spec").mkdir(parents=True)
    assert main(["cohort", "list", "--data-root", str(layout.root)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "tournament not started: 0 of 1 rounds done, 0 comparisons" in rows["t"]
    assert rows["empty"].split()[1] == "no"  # an ordinary cohort not built yet is still one
    with _client(server) as llm:
        run_tournament(layout, "t", llm=llm)
    assert main(["cohort", "list", "--data-root", str(layout.root)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("t "))
    assert line.split()[2] == str(PLANNED)
    assert f"tournament complete: 1 of 1 rounds done, {PLANNED} comparisons ({PLANNED} done, 0 failed" in line

    rows_ui = {r.cohort_id: r for r in cohort_rows(layout, lambda c: load_scope(layout, None, cohort_id=c))}
    assert rows_ui["t"].built and rows_ui["t"].problem is None
    assert rows_ui["t"].tournament is not None and f"{PLANNED} comparisons" in rows_ui["t"].tournament
    assert f"{PLANNED} done" in overview_record(rows_ui["t"])["tournament"]
    assert "not built yet" in (rows_ui["empty"].problem or "")
