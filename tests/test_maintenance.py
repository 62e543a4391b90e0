"""``daydream store cascade | purge-cohort | prune-empty | duplicates | unused-templates`` on real stores.

Each removing command is tried dry first (nothing on disk changes), then for real: exactly the
planned generations go, every other file stays byte for byte, and the store check afterwards finds
no generation whose parent was removed under it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import FakeLLM, member_ids, snapshot

from daydream.catalogs import Catalogs
from daydream.cli import main
from daydream.locks import try_lock
from daydream.paths import STAGES, DataLayout
from daydream.storecheck import check_store


def _cli(layout: DataLayout, *args: str) -> int:
    return main(["store", *args, "--data-root", str(layout.root)])


def _metadata(layout: DataLayout) -> dict[tuple[str, str], dict]:
    out = {}
    for stage in STAGES:
        for path in (layout.gens / stage).glob("*/metadata.json"):
            out[(stage, path.parent.name)] = json.loads(path.read_text())
    return out


def _below(layout: DataLayout, roots: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Descendants worked out here from the metadata files, independently of the code under test."""
    metas = _metadata(layout)
    found = set(roots)
    while True:
        more = {
            key
            for key, meta in metas.items()
            if key not in found and any(meta.get("parent_gen_id") == gen_id for _, gen_id in found)
        }
        if not more:
            return found
        found |= more


def _present(layout: DataLayout) -> set[tuple[str, str]]:
    return {(stage, p.name) for stage in STAGES for p in (layout.gens / stage).iterdir() if p.is_dir()}


def _write_membership(layout: DataLayout, cohort_id: str, rows: list[tuple[str, str]]) -> None:
    path = layout.membership(cohort_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:  # the older two-column form
        writer = csv.writer(handle)
        writer.writerow(["stage", "gen_id"])
        writer.writerows(rows)


def test_cascade_dry_run_then_removes_exactly_the_descendants(
    ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = ran_demo
    draft = member_ids(layout, "draft", template_id="creative-synthesis-v10")[0]
    doomed = _below(layout, {("draft", draft)})
    assert len(doomed) > 3  # the draft, its essays, their evaluations
    before = snapshot(layout.root)

    assert _cli(layout, "cascade", draft, "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would remove {len(doomed)} generation(s)" in out and "dry run: nothing was removed" in out
    assert all(f"{stage}/{gen_id}" in out for stage, gen_id in doomed)
    assert "demo" in out  # the cohort that lists them is named
    assert snapshot(layout.root) == before

    everything = _present(layout)
    assert _cli(layout, "cascade", draft) == 0
    assert _present(layout) == everything - doomed
    after = snapshot(layout.root)
    kept = {k: v for k, v in before.items() if not any(f"gens/{s}/{g}/" in k for s, g in doomed)}
    assert {k: after[k] for k in kept} == kept
    assert "broken_parent" not in check_store(layout).counts()


def test_cascade_by_template_and_from_an_essay(ran_demo: tuple[DataLayout, FakeLLM]) -> None:
    layout, _ = ran_demo
    essay = member_ids(layout, "essay", template_id="essay-expand-v3")[0]
    doomed = _below(layout, {("essay", essay)})
    everything = _present(layout)
    assert _cli(layout, "cascade", essay, "--stage", "essay") == 0
    assert _present(layout) == everything - doomed

    left = _present(layout)
    drafts = {("draft", g) for g in member_ids(layout, "draft", template_id="links-brainstorm-v2")}
    doomed = _below(layout, drafts)
    assert _cli(layout, "cascade", "--stage", "draft", "--template-id", "links-brainstorm-v2") == 0
    assert _present(layout) == left - doomed and not drafts & _present(layout)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["cascade", "../../etc"], "invalid gen id"),
        (["cascade", "/abs/path"], "invalid gen id"),
        (["cascade", "d_nosuchgeneration"], "no generation 'd_nosuchgeneration'"),
        (["cascade"], "name at least one gen id"),
        (["cascade", "--stage", "draft", "--template-id", "a/b"], "invalid template id"),
        (["purge-cohort", "../demo"], "invalid cohort id"),
        (["purge-cohort", "nosuchcohort"], "no cohort 'nosuchcohort'"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    layout, _ = ran_demo
    before = snapshot(layout.root)
    assert _cli(layout, *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert snapshot(layout.root) == before


def test_cascade_leaves_a_generation_a_worker_holds_and_never_follows_symlinks(
    ran_demo: tuple[DataLayout, FakeLLM], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = ran_demo
    draft = member_ids(layout, "draft")[0]
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "metadata.json").write_text(json.dumps({"stage": "draft", "gen_id": "d_outside"}))
    (layout.gens / "draft" / "d_outside").symlink_to(outside)
    assert _cli(layout, "cascade", "d_outside") == 2  # a symlink is not a generation: never followed
    assert "no generation 'd_outside'" in capsys.readouterr().err

    with try_lock(layout.gen_dir("draft", draft) / ".lock") as acquired:
        assert acquired
        assert _cli(layout, "cascade", draft) == 1
    out = capsys.readouterr().out
    assert "busy: a worker holds its generation lock" in out and f"draft/{draft}" in out
    assert layout.gen_dir("draft", draft).is_dir()
    assert (outside / "metadata.json").exists()


def test_purge_cohort_never_touches_what_another_cohort_uses(
    ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = ran_demo
    evaluation = member_ids(layout, "evaluation", template_id="free-verdict-v1")[0]
    metas = _metadata(layout)
    essay = metas[("evaluation", evaluation)]["parent_gen_id"]
    draft = metas[("essay", essay)]["parent_gen_id"]
    _write_membership(layout, "other", [("evaluation", evaluation)])  # only the evaluation: its parents too are used
    shared = {("evaluation", evaluation), ("essay", essay), ("draft", draft)}
    everything = _present(layout)
    before = snapshot(layout.root)

    assert _cli(layout, "purge-cohort", "demo", "--dry-run") == 0
    out = capsys.readouterr().out
    assert f"would remove {len(everything) - 3} generation(s)" in out and "shared with another cohort" in out
    assert snapshot(layout.root) == before

    assert _cli(layout, "purge-cohort", "demo") == 0
    assert _present(layout) == shared
    for stage, gen_id in shared:
        prefix = f"gens/{stage}/{gen_id}/"
        assert {k: v for k, v in snapshot(layout.root).items() if k.startswith(prefix)} == {
            k: v for k, v in before.items() if k.startswith(prefix)
        }
    assert check_store(layout).healthy


def test_purge_refuses_when_another_membership_cannot_be_read(
    ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = ran_demo
    path = layout.membership("other")
    path.parent.mkdir(parents=True)
    path.write_text('stage,gen_id\ndraft,"d_unterminated\nessay,e_x\n')
    before = snapshot(layout.root)
    assert _cli(layout, "purge-cohort", "demo") == 2
    err = capsys.readouterr().err
    assert "membership.csv" in err and "protects nothing" in err and err.count("\n") == 1
    assert snapshot(layout.root) == before


def test_prune_empty_removes_abandoned_directories_only(
    built_demo: DataLayout, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = built_demo  # every member seeded, nothing run: pending work, not garbage
    orphan = layout.gen_dir("draft", "d_abandoned")
    orphan.mkdir(parents=True)
    (orphan / "metadata.json").write_text(json.dumps({"stage": "draft", "gen_id": "d_abandoned"}))
    (orphan / "prompt.txt").write_text("")
    answered = layout.gen_dir("draft", "d_answered")
    answered.mkdir()
    (answered / "metadata.json").write_text(json.dumps({"stage": "draft", "gen_id": "d_answered"}))
    (answered / "raw.txt").write_text("an answer someone paid for")
    members = _present(layout) - {("draft", "d_abandoned"), ("draft", "d_answered")}

    assert _cli(layout, "prune-empty", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would remove 1 generation(s)" in out and "draft/d_abandoned" in out
    assert f"left {len(members)} generation(s): listed in a cohort" in out
    assert orphan.exists()
    assert _cli(layout, "prune-empty") == 0
    assert not orphan.exists() and answered.exists()
    assert _present(layout) == members | {("draft", "d_answered")}


def test_duplicates_groups_identical_answers(
    ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]
) -> None:
    layout, _ = ran_demo
    raws: dict[str, list[tuple[str, str]]] = {}
    for stage in STAGES:
        for path in (layout.gens / stage).glob("*/raw.txt"):
            raws.setdefault(path.read_text(), []).append((stage, path.parent.name))
    essay = member_ids(layout, "essay", template_id="essay-expand-v3")[0]
    text = (layout.gen_dir("essay", essay) / "raw.txt").read_text()
    (layout.gen_dir("essay", essay) / "raw.txt").write_text("\n" + text.replace("\n", "  \r\n") + "\n\n")
    groups = [sorted(keys) for keys in raws.values() if len(keys) > 1]  # the fake LLM repeats itself

    assert _cli(layout, "duplicates", "--limit", "100") == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{len(groups)} group(s) of identical raw.txt")
    for keys in groups:  # the rewritten essay still counts: line endings and spaces are not the answer
        assert ", ".join(f"{s}/{g}" for s, g in keys) in out


def test_no_duplicates_exit_zero(built_demo: DataLayout, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(built_demo, "duplicates") == 0
    assert capsys.readouterr().out.startswith("0 group(s)")


def test_unused_templates(ran_demo: tuple[DataLayout, FakeLLM], capsys: pytest.CaptureFixture[str]) -> None:
    layout, _ = ran_demo
    catalogs = Catalogs.load(layout)
    used = {(stage, meta.get("template_id")) for (stage, _), meta in _metadata(layout).items()}
    expected = sorted((s, t) for s in STAGES for t in catalogs.templates[s] if (s, t) not in used)
    assert _cli(layout, "unused-templates") == (1 if expected else 0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{len(expected)} templates with no generation")
    assert sorted(tuple(line.split()) for line in lines[1:]) == expected
