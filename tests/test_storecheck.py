"""``daydream store check``: every problem kind is reported; exit 1 with problems, 0 when healthy."""

from __future__ import annotations

import json

import pytest
from helpers import FakeLLM, member_ids

from daydream.cli import main
from daydream.paths import DataLayout
from daydream.storecheck import PROBLEM_KINDS, check_store


def test_healthy_store(ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]) -> None:
    layout, _ = ran_demo
    report = check_store(layout)
    assert report.healthy and report.generations == {"draft": 12, "essay": 18, "evaluation": 36}
    assert main(["store", "check", "--data-root", str(layout.root)]) == 0
    assert "no problems found" in capsys.readouterr().out


def test_every_problem_kind_is_reported(
    ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = ran_demo
    gens = layout.gens
    drafts, essays = member_ids(layout, "draft"), member_ids(layout, "essay", template_id="essay-expand-v3")
    evaluations = member_ids(layout, "evaluation", template_id="free-verdict-v1")
    expected: set[tuple[str, str]] = set()

    (gens / "draft" / drafts[0] / "parsed.txt").unlink()
    expected.add(("raw_without_parsed", drafts[0]))
    (gens / "draft" / drafts[1] / "metadata.json").unlink()
    expected.add(("missing_metadata", drafts[1]))
    (gens / "draft" / drafts[2] / "metadata.json").write_text("{truncated")
    expected.add(("unreadable_metadata", drafts[2]))
    (gens / "draft" / drafts[6] / "raw_metadata.json").write_text("")
    expected.add(("unreadable_metadata", drafts[6]))
    meta_path = gens / "essay" / essays[0] / "metadata.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "parent_gen_id": "d_nowhere"}))
    expected.add(("broken_parent", essays[0]))
    meta_path = gens / "draft" / drafts[3] / "metadata.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "combo_id": "combo_v1_000000000000"}))
    expected.add(("unknown_combo", drafts[3]))
    template = layout.template_file("evaluation", "free-verdict-v1")
    template.write_text(template.read_text() + "Be brief.\n")
    expected |= {("stale", gen_id) for gen_id in evaluations}
    (gens / "draft" / drafts[4] / "notes.md").write_text("stray")
    expected.add(("outside_layout", drafts[4]))
    (gens / "draft" / drafts[5] / ".raw.txt.k2j3h.tmp").write_text("half")
    expected.add(("leftover_temp", drafts[5]))
    (gens / "draft" / "README").write_text("stray file")
    (gens / "links").mkdir()
    expected.add(("outside_layout", "-"))
    failed = gens / "draft" / "d_failedbeforecall"
    failed.mkdir()
    (failed / "metadata.json").write_text(json.dumps({"stage": "draft", "combo_id": None, "template_id": "x"}))
    (failed / "error.json").write_text(json.dumps({"error": "t.txt, line 2: undefined variable"}))
    expected.add(("failed", "d_failedbeforecall"))
    # what store check could not look at, and what it never follows
    (gens / "draft" / drafts[7] / "prompt.txt").unlink()
    (gens / "draft" / drafts[7] / "prompt.txt").mkdir()
    expected.add(("unreadable", drafts[7]))
    (gens / "draft" / "d_alias").symlink_to(gens / "draft" / drafts[9])
    (gens / "draft" / "bad name").mkdir()
    expected.add(("invalid_entry", "-"))
    layout.combo_mappings.write_text(layout.combo_mappings.read_text().rstrip("\n"))
    expected.add(("bad_catalog", "-"))
    (gens / "draft" / drafts[8] / "attempts" / "incoming").mkdir(parents=True)
    (gens / "draft" / drafts[8] / "attempts" / "incoming" / "raw.txt").write_text("a forced answer")
    expected.add(("interrupted_attempt", drafts[8]))

    report = check_store(layout)
    found = {(issue.kind, issue.gen_id) for issue in report.issues}
    assert found == expected
    assert {kind for kind, _ in found} == set(PROBLEM_KINDS)
    assert sum(issue.kind == "outside_layout" and issue.gen_id == "-" for issue in report.issues) == 2
    assert main(["store", "check", "--data-root", str(layout.root)]) == 1
    out = capsys.readouterr().out
    assert "summary:" in out and "leftover_temp 1" in out and "stale 18" in out
