"""What the reports and the UI page refuse: a catalogue of hostile and careless input, one test per class.

Each class is tried through the Python API, the ``daydream`` CLI and (where it shows data) the UI
page via its ASGI app, with several variations. The data root is ``<tmp>/root``; everything else
under ``<tmp>`` is "outside" and holds a ``SECRET`` a report must never show nor a write ever touch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from reports_fixtures import small_store  # noqa: E402

from daydream.catalogs import Catalogs  # noqa: E402
from daydream.cli import main  # noqa: E402
from daydream.errors import DayDreamError, IdError  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402
from daydream.reports import build_cohort_reports, build_cross_experiment  # noqa: E402
from daydream.reports.aggregate import load_scope  # noqa: E402
from daydream.reports.select import select_top  # noqa: E402

SECRET = "SECRET-outside-the-data-root"


@pytest.fixture
def world(tmp_path):
    """A good store at ``<tmp>/root`` and, outside it, files a hostile store would point at."""
    store = small_store(tmp_path / "root")
    outside = tmp_path / "outside"
    for name in ("raw.txt", "parsed.txt"):
        (outside / name).parent.mkdir(parents=True, exist_ok=True)
        (outside / name).write_text(f"{SECRET}\n7\n", encoding="utf-8")
    (outside / "metadata.json").write_text(json.dumps({"template_id": SECRET, "parent_gen_id": SECRET}))
    (tmp_path / "raw.txt").write_text(SECRET)
    (tmp_path / "parsed.txt").write_text("9\n")
    return store, tmp_path


def files_outside(tmp: Path) -> dict[str, int]:
    """Every file under ``tmp`` but not under the data root, with its size (to prove nothing was written)."""
    root = tmp / "root"
    return {
        str(p): p.lstat().st_size
        for p in tmp.rglob("*")
        if not p.is_relative_to(root) and (p.is_file() or p.is_symlink())
    }


def report_text(root: Path) -> str:
    """Everything the reports wrote under the data root (links not followed), as text."""
    parts = []
    for base, _, names in os.walk(root):
        if "reports" not in Path(base).parts and "7_cross_experiment" not in Path(base).parts:
            continue
        for name in names:
            path = Path(base) / name
            if path.suffix in (".csv", ".html", ".txt") and not path.is_symlink():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("daydream: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def ui_client(root: Path, monkeypatch):
    from fastapi.testclient import TestClient

    from daydream.airflow import ui

    monkeypatch.setenv("DAYDREAM_DATA_ROOT", str(root))
    app = ui.create_app()
    app.dependency_overrides[ui.require_user] = lambda: "researcher"
    return TestClient(app)


def rows_by_id(root: Path, cohort: str = "c1") -> dict[str, dict]:
    frame = pd.read_csv(root / "cohorts" / cohort / "reports" / "parsing" / "aggregated_scores.csv", dtype=str)
    return {row["gen_id"]: row for row in frame.fillna("").to_dict("records")}


# -- 1. a cohort id from the command line or the API never becomes a path outside the data root -------

BAD_COHORT_IDS = ["../../x", "..", "../outside", "a b", "x ", "x\u200b", "x\u202e", ".hidden", "a/b", "c" * 300, ""]


@pytest.mark.parametrize("cohort", BAD_COHORT_IDS + ["ABSOLUTE"])
def test_cohort_ids_never_become_paths_outside_the_root(world, capsys, cohort):
    store, tmp = world
    cohort = str(tmp / "abs" / "target") if cohort == "ABSOLUTE" else cohort
    before = files_outside(tmp)
    root = str(store.root)
    for argv in (
        ["report", cohort, "--data-root", root],
        ["report", cohort, "--reparse-raw", "--data-root", root],
        ["select", "top", "--cohort", cohort, "--top-n", "1", "--data-root", root],
        ["select", "top", "--cohort", "c1", "--top-n", "1", "--new-cohort", cohort, "--data-root", root],
    ):
        assert main(argv) == 2, argv
        err = one_line_error(capsys)
        assert ("cohort id" in err or "COHORT_ID" in err) and len(err) < 600
    with pytest.raises(IdError):
        build_cohort_reports(DataLayout(store.root), cohort)
    with pytest.raises(IdError):
        select_top(DataLayout(store.root), "c1", 1, new_cohort=cohort)
    assert files_outside(tmp) == before
    assert not (tmp / "abs").exists() and not (tmp / "x").exists()
    assert sorted(p.name for p in (store.root / "cohorts").iterdir()) == ["c1"]


# -- 2. ids inside data files (membership.csv, metadata.json) never reach outside the data root -------

HOSTILE_GEN_IDS = ["../../..", "../../../outside", "/etc", "../../../outside/", "v_ok/../../../outside", "v_x "]


def _hostile_membership(store, tmp: Path) -> list[str]:
    """The cohort's membership plus evaluations (and a parent) whose ids climb out of the root."""
    path = store.root / "cohorts" / "c1" / "membership.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    extra = [
        {"stage": "evaluation", "gen_id": gen_id, "cohort_id": "c1", "parent_gen_id": store.e_a}
        for gen_id in HOSTILE_GEN_IDS
    ]
    extra.append(
        {"stage": "evaluation", "gen_id": "v_climbing", "cohort_id": "c1", "parent_gen_id": "../../../outside"}
    )
    extra.append({"stage": "essay", "gen_id": "../../../outside", "cohort_id": "c1", "parent_gen_id": "../../.."})
    frame = pd.concat([frame, pd.DataFrame(extra)], ignore_index=True).fillna("")
    frame.to_csv(path, index=False)
    # an evaluation on disk whose metadata.json names a parent outside the root
    climbing = store.root / "gens" / "evaluation" / "v_meta_climber"
    climbing.mkdir(parents=True)
    (climbing / "metadata.json").write_text(json.dumps({"template_id": "judge-a", "parent_gen_id": "../../../outside"}))
    (climbing / "parsed.txt").write_text("8\n")
    return [*HOSTILE_GEN_IDS, "../../../outside"]


def test_ids_in_data_files_never_reach_outside(world, capsys, monkeypatch):
    store, tmp = world
    hostile = _hostile_membership(store, tmp)
    before = files_outside(tmp)
    result = build_cohort_reports(DataLayout(store.root), "c1")
    assert result.headline.invalid == len(HOSTILE_GEN_IDS)
    rows = rows_by_id(store.root)
    for gen_id in HOSTILE_GEN_IDS:
        row = rows[gen_id]
        assert row["status"] == "invalid" and row["score"] == ""
        assert "membership.csv: row " in row["error_detail"] and "field 'gen_id'" in row["error_detail"]
    climber = rows["v_climbing"]
    assert "invalid gen id" in climber["lineage_error"] and climber["generation_template"] == ""
    # the good rows are untouched
    assert rows[store.ev["a_a_j1"]]["score"] == "7.0" and rows[store.ev["a_a_j1"]]["status"] == "ok"
    assert main(["report", "c1", "--data-root", str(store.root)]) == 0
    assert "evaluations were refused" in capsys.readouterr().out
    cross = build_cross_experiment(DataLayout(store.root))
    assert cross.headline.evaluations == 11
    cross_rows = pd.read_csv(store.root / "7_cross_experiment" / "aggregated_scores.csv", dtype=str).fillna("")
    assert "invalid gen id" in cross_rows.set_index("gen_id").loc["v_meta_climber", "lineage_error"]
    http = ui_client(store.root, monkeypatch)
    pages = [http.get("/"), http.get("/cohorts/c1"), http.get(f"/cohorts/c1/documents/{store.e_a}")]
    pages.append(http.get("/cohorts/c1/documents/..%2F..%2F..%2Foutside"))
    assert [p.status_code for p in pages] == [200, 200, 200, 404]
    assert all(SECRET not in p.text for p in pages)
    assert SECRET not in report_text(store.root)
    assert files_outside(tmp) == before
    assert all(h not in {p.name for p in (store.root / "cohorts" / "c1" / "reports").rglob("*")} for h in hostile)


# -- 3. links in the store are never followed, for reading or writing ---------------------------------


def _link(path: Path, target: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


@pytest.mark.parametrize("what", ["gen_dir", "raw.txt", "parsed.txt", "metadata.json", "raw_metadata.json"])
def test_links_inside_generations_are_flagged_never_read(world, capsys, monkeypatch, what):
    store, tmp = world
    victim = store.ev["a_a_j2"]  # a perfect 9/9 of the top essay: its texts are on the page
    gen_dir = store.root / "gens" / "evaluation" / victim
    doc_dir = store.root / "gens" / "essay" / store.e_a
    if what == "gen_dir":
        _link(gen_dir, tmp / "outside")
        _link(store.root / "gens" / "draft" / store.d_a, tmp / "outside")
    else:
        _link(gen_dir / what, tmp / "outside" / ("raw.txt" if what == "raw.txt" else "parsed.txt"))
        _link(doc_dir / what, tmp / "outside" / "parsed.txt")
    before = files_outside(tmp)
    assert main(["report", "c1", "--data-root", str(store.root)]) == 0
    assert main(["report", "--all", "--data-root", str(store.root)]) == 0
    capsys.readouterr()
    row = rows_by_id(store.root)[victim]
    if what in ("gen_dir", "parsed.txt"):
        assert row["status"] == "invalid" and row["score"] == ""
    else:
        assert row["status"] == "ok" and row["score"] == "9.0"
    flagged = row["error_detail"] + row["read_error"] + row["lineage_error"]
    assert ("link" in flagged) or what == "raw.txt"
    http = ui_client(store.root, monkeypatch)
    pages = [http.get("/"), http.get("/cohorts/c1"), http.get(f"/cohorts/c1/documents/{store.e_a}")]
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert all(SECRET not in p.text for p in pages)
    if what == "raw.txt":  # the judge's text is not shown: the page says why
        assert "a symlink, not followed" in pages[2].text or "not a regular file" in pages[2].text
    assert SECRET not in report_text(store.root)
    assert files_outside(tmp) == before


@pytest.mark.parametrize(
    "what", ["cohort_dir", "reports_dir", "reports_subdir", "membership", "gens_stage", "selection_dir"]
)
def test_links_out_of_the_root_are_refused_for_writing_and_reading(world, capsys, monkeypatch, what):
    store, tmp = world
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    cohort_dir = store.root / "cohorts" / "c1"
    if what == "cohort_dir":
        (elsewhere / "membership.csv").write_text((cohort_dir / "membership.csv").read_text())
        _link(cohort_dir, elsewhere)
    elif what == "reports_dir":
        _link(cohort_dir / "reports", elsewhere)
    elif what == "reports_subdir":
        (cohort_dir / "reports").mkdir()
        _link(cohort_dir / "reports" / "summary", elsewhere)
    elif what == "membership":
        (elsewhere / "membership.csv").write_text((cohort_dir / "membership.csv").read_text())
        _link(cohort_dir / "membership.csv", elsewhere / "membership.csv")
    elif what == "gens_stage":
        _link(store.root / "gens" / "evaluation", tmp / "outside")
    else:
        (cohort_dir / "reports").mkdir()
        _link(cohort_dir / "reports" / "selection", elsewhere)
    before = files_outside(tmp)
    argv = ["report", "c1"] if what != "selection_dir" else ["select", "top", "--cohort", "c1", "--top-n", "1"]
    assert main([*argv, "--data-root", str(store.root)]) == 2
    err = one_line_error(capsys)
    assert "leaves the data root" in err
    with pytest.raises(DayDreamError):
        if what == "selection_dir":
            select_top(DataLayout(store.root), "c1", 1)
        else:
            build_cohort_reports(DataLayout(store.root), "c1")
    assert files_outside(tmp) == before  # nothing written through the link
    assert [p.name for p in elsewhere.rglob("*")] in ([], ["membership.csv"])
    http = ui_client(store.root, monkeypatch)
    index = http.get("/")
    assert index.status_code == 200 and SECRET not in index.text
    if what in ("cohort_dir", "membership", "gens_stage"):  # the overview names the problem in c1's row
        assert "leaves the data root" in index.text


# -- 4. one corrupt generation is flagged in its own row; the report goes on -----------------------------

CORRUPT_FILES = {
    "json_syntax": ("raw_metadata.json", b'{"usage": {"prompt_tokens": 5,'),
    "json_list": ("raw_metadata.json", b"[1, 2, 3]"),
    "json_deep": ("raw_metadata.json", b"[" * 200_000 + b"]" * 200_000),
    "json_huge": ("raw_metadata.json", b'{"x": "' + b"a" * 3_000_000 + b'"}'),
    "not_utf8": ("raw_metadata.json", b"\xff\xfe\x00garbage\x80"),
    "wrong_types": (
        "raw_metadata.json",
        json.dumps(
            {
                "usage": "lots",
                "cost_usd": [1],
                "truncated": "yes",
                "template_sha256": {"a": 1},
                "cost_estimated_usd": 10**400,
                "mode": ["llm"],
            }
        ).encode(),
    ),
    "nan_cost": ("raw_metadata.json", b'{"cost_usd": NaN, "usage": {"prompt_tokens": Infinity}}'),
    "metadata_types": ("metadata.json", json.dumps({"replicate": 10**400, "template_id": ["x"]}).encode()),
    "error_json": ("error.json", b"\x00\x01"),
    "parsed_meta": ("parsed_metadata.json", b'{"success": true, "score": "high", "scale": 1e999}'),
}


def _corrupt(path: Path, data: bytes | str) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    if data == "DIR":
        path.mkdir()
    elif data == "FIFO":
        os.mkfifo(path)
    else:
        assert isinstance(data, bytes)
        path.write_bytes(data)


@pytest.fixture(scope="module")
def clean_scores(tmp_path_factory) -> dict[str, str]:
    """Every evaluation's score in the unharmed small store (gen ids are the same in every copy)."""
    store = small_store(tmp_path_factory.mktemp("clean"))
    build_cohort_reports(DataLayout(store.root), "c1")
    return {gen_id: row["score"] for gen_id, row in rows_by_id(store.root).items()}


def _damage(store, case: str) -> str:
    """Damage one evaluation (and its essay) as ``case`` says; returns the evaluation's gen id."""
    victim, essay = store.ev["a_b_j1"], store.e_a
    evaluation_dir = store.root / "gens" / "evaluation" / victim
    if case == "gen_is_file":
        shutil.rmtree(evaluation_dir)
        evaluation_dir.write_text("not a directory")
    elif case in ("dir_raw_meta", "fifo_raw_meta", "fifo_parsed"):
        name = "parsed.txt" if case == "fifo_parsed" else "raw_metadata.json"
        _corrupt(evaluation_dir / name, "DIR" if case.startswith("dir") else "FIFO")
        _corrupt(store.root / "gens" / "essay" / essay / "raw_metadata.json", "FIFO")
    else:
        name, data = CORRUPT_FILES[case]
        for gen_dir in (evaluation_dir, store.root / "gens" / "essay" / essay):
            _corrupt(gen_dir / name, data)
    return victim


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", [*CORRUPT_FILES, "dir_raw_meta", "fifo_raw_meta", "fifo_parsed", "gen_is_file"])
def test_one_corrupt_generation_is_flagged_in_its_row(world, capsys, monkeypatch, clean_scores, case):
    store, _ = world
    victim = _damage(store, case)
    assert main(["report", "c1", "--data-root", str(store.root)]) == 0  # never raises, never hangs
    assert "evaluations 10 " in capsys.readouterr().out
    rows = rows_by_id(store.root)
    row = rows[victim]
    flagged = row["error_detail"] + row["read_error"] + row["lineage_error"]
    assert row["status"] != "ok" or row["read_error"], row
    assert any(word in flagged for word in ("Error", "not a", "larger", "unusable", "unreadable")), row
    essay_rows = [r for r in rows.values() if r["parent_gen_id"] == store.e_a and r["gen_id"] != victim]
    if case not in ("gen_is_file", "fifo_parsed", "metadata_types", "error_json", "parsed_meta"):
        assert all(store.e_a in r["lineage_error"] for r in essay_rows)  # the damaged essay is named
    # one bad generation changes no other score
    assert all(rows[g]["score"] == clean_scores[g] for g in clean_scores if g != victim)
    layout = DataLayout(store.root)  # the Python API reads the same
    scores = load_scope(layout, Catalogs.load(layout), cohort_id="c1").scores.set_index("gen_id")
    assert scores.loc[victim, "status"] == row["status"] and scores.loc[victim, "read_error"] == row["read_error"]
    http = ui_client(store.root, monkeypatch)
    for path in ("/", "/api/cohorts", "/cohorts/c1", f"/cohorts/c1/documents/{store.e_a}"):
        assert http.get(path).status_code == 200, path


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv to drop root's file powers")
def test_unreadable_files_are_flagged_without_root_powers(world):
    """Tests run as root, who reads everything: the CLI runs here without CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH, so a file or directory with mode 000 is really unreadable to it."""
    store, _ = world
    victim, locked_dir = store.ev["a_b_j1"], store.ev["b_a_j2"]
    (store.root / "gens" / "evaluation" / victim / "raw_metadata.json").chmod(0)
    (store.root / "gens" / "evaluation" / locked_dir).chmod(0)
    (store.root / "gens" / "essay" / store.e_a / "parsed.txt").chmod(0)
    locked = store.root / "cohorts" / "locked"
    locked.mkdir()
    shutil.copy(store.root / "cohorts" / "c1" / "membership.csv", locked / "membership.csv")
    (locked / "membership.csv").chmod(0)
    daydream = [str(Path(sys.executable).parent / "daydream"), "report", "--data-root", str(store.root)]
    powerless = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]
    ran = subprocess.run([*powerless, *daydream, "c1"], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    rows = rows_by_id(store.root)
    assert "raw_metadata.json: Permission denied" in rows[victim]["read_error"] and rows[victim]["score"] == "8.0"
    assert rows[locked_dir]["status"] == "invalid" and "Permission denied" in rows[locked_dir]["error_detail"]
    page = (store.root / "cohorts" / "c1" / "reports" / "index.html").read_text(encoding="utf-8")
    assert "parsed.txt: Permission denied" in page  # the essay's text is not shown; the page says why
    ran = subprocess.run([*powerless, *daydream, "locked"], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    assert "membership.csv" in ran.stderr and "Permission denied" in ran.stderr


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity", "1e999", "\xff", "SCORE: 7", "", "7\n\n8", "٣"])
def test_an_evaluation_scores_only_a_finite_number_in_parsed_txt(world, text):
    store, _ = world
    victim = store.ev["d_a_j1"]
    gen_dir = store.root / "gens" / "evaluation" / victim
    (gen_dir / "parsed_metadata.json").unlink()  # an older store: the score is parsed.txt's
    (gen_dir / "parsed.txt").write_bytes(text.encode("latin-1") if text == "\xff" else text.encode())
    build_cohort_reports(DataLayout(store.root), "c1")
    row = rows_by_id(store.root)[victim]
    if text in ("7\n\n8", "٣"):  # the last line, as float() reads it
        assert row["status"] == "ok" and float(row["score"]) == {"7\n\n8": 8.0, "٣": 3.0}[text]
    else:
        assert row["status"] == "parse_error" and row["score"] == "" and row["error"], row
        assert row["error"] == "missing parsed.txt" if not text else row["error"].startswith("Invalid parsed.txt")
    final = pd.read_csv(store.root / "cohorts/c1/reports/summary/final_results.csv")
    assert final["mean"].iloc[0] == pytest.approx(final["mean"].iloc[0]) and (final["mean"].dropna().abs() < 10).all()


# -- 5. the UI overview degrades per cohort ------------------------------------------------------------


def _broken_cohorts(root: Path, tmp: Path) -> dict[str, str]:
    """Cohorts broken in different ways -> a word their row on the overview must show."""
    cohorts = root / "cohorts"
    good = (cohorts / "c1" / "membership.csv").read_text()
    broken = {
        "a b": "invalid cohort id",
        "tail ": "invalid cohort id",
        "zero\u200bwidth": "invalid cohort id",
        "garbage": "membership.csv",
        "bad-stage": "unknown stage",
        "no-columns": "missing required column",
        "member-dir": "membership",
        "escape": "leaves the data root",
        "hostile-ids": "",
        "unbuilt": "not built yet",
    }
    for name in broken:
        (cohorts / name).mkdir()
    for name in ("a b", "tail ", "zero\u200bwidth"):
        (cohorts / name / "membership.csv").write_text(good)
    (cohorts / "garbage" / "membership.csv").write_bytes(b'\xff\xfe"\x00,,\n"unterminated')
    (cohorts / "bad-stage" / "membership.csv").write_text("stage,gen_id\nsummary,x\n")
    (cohorts / "no-columns" / "membership.csv").write_text("foo,bar\n1,2\n")
    (cohorts / "member-dir" / "membership.csv").mkdir()
    (cohorts / "escape").rmdir()
    (tmp / "foreign").mkdir()
    (tmp / "foreign" / "membership.csv").write_text(good)
    (cohorts / "escape").symlink_to(tmp / "foreign")
    (cohorts / "hostile-ids" / "membership.csv").write_text(
        "stage,gen_id,cohort_id,parent_gen_id,combo_id,template_id,llm_model_id,replicate\n"
        "evaluation,../../..,hostile-ids,../../../outside,,judge-a,j1,1\n"
    )
    (cohorts / "unbuilt" / "spec").mkdir()
    return broken


def test_ui_overview_degrades_per_cohort(world, monkeypatch):
    store, tmp = world
    broken = _broken_cohorts(store.root, tmp)
    http = ui_client(store.root, monkeypatch)
    index = http.get("/")
    assert index.status_code == 200
    assert "8 done / 0 stale / 1 failed / 1 pending (of 10)" in index.text  # c1 is untouched
    rows = {r["cohort_id"]: r for r in http.get("/api/cohorts").json()}
    assert rows["c1"]["problem"] is None and rows["c1"]["headline"]["evaluations_used"] == 7
    for name, word in broken.items():
        assert name in rows, name
        if name == "hostile-ids":  # readable: its bad row is flagged inside the cohort instead
            assert rows[name]["problem"] is None and rows[name]["stages"][2]["invalid"] == 1
            continue
        assert word in (rows[name]["problem"] or ""), (name, rows[name])
        assert rows[name]["problem"].count("\n") == 0
    assert "invalid cohort id &#39;a b&#39;" in index.text and SECRET not in index.text
    # a broken cohort's own page says what is wrong; an id outside the grammar names nothing
    assert http.get("/cohorts/garbage").status_code == 500
    assert "membership.csv" in http.get("/cohorts/garbage").text
    for path in ("/cohorts/a%20b", "/cohorts/%2E%2E", "/cohorts/tail%20", "/cohorts/zero%E2%80%8Bwidth"):
        assert http.get(path).status_code == 404, path
    assert http.get("/cohorts/escape").status_code == 500
    assert SECRET not in http.get("/cohorts/hostile-ids").text
    # the CLI: each broken cohort is its own one-line error, the others still report
    for name in ("garbage", "bad-stage", "no-columns", "escape"):
        assert main(["report", name, "--data-root", str(store.root)]) == 2, name
    assert main(["report", "c1", "--data-root", str(store.root)]) == 0


# -- 6. text from the store is text, whatever it contains ------------------------------------------------


def test_hostile_text_is_escaped_everywhere(world, monkeypatch):
    store, _ = world
    script = "<script>alert('x')</script>"
    gen_dir = store.root / "gens" / "evaluation" / store.ev["a_a_j2"]
    (gen_dir / "raw.txt").write_text(f"Looks fine {script}\nSCORE: 9", encoding="utf-8")
    essay = store.root / "gens" / "essay" / store.e_a / "parsed.txt"
    essay.write_text(f'Essay "><img src=x onerror=alert(1)> {script}', encoding="utf-8")
    concepts = store.root / "1_raw" / "concepts_metadata.csv"
    concepts.write_text(concepts.read_text().replace("Alpha", "<b onmouseover=alert(1)>Alpha</b>"), encoding="utf-8")
    build_cohort_reports(DataLayout(store.root), "c1")
    page = (store.root / "cohorts" / "c1" / "reports" / "index.html").read_text(encoding="utf-8")
    http = ui_client(store.root, monkeypatch)
    doc = http.get(f"/cohorts/c1/documents/{store.e_a}").text
    for text in (page, doc):
        assert "<script>" not in text and "<img src=x" not in text and "<b onmouseover" not in text
        assert "&lt;script&gt;alert(" in text
    assert "&lt;b onmouseover=alert(1)&gt;Alpha&lt;/b&gt;" in doc
