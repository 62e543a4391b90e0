"""A writer killed mid-write (SIGKILL between the temporary file and its rename) leaves a temporary
file; the next holder of the generation lock removes it, and nothing else is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FakeLLM, member_ids

from daydream import atomic
from daydream.paths import DataLayout
from daydream.runner import RunOptions, StageRunner
from daydream.storecheck import check_store

# A real process that stops between writing the temporary file and renaming it, until it is killed.
_KILLED_MID_WRITE = """
import os, sys, time
from daydream import atomic
os.replace = lambda *a: (print("written", flush=True), time.sleep(600))
atomic.write_text(sys.argv[1], "half of an answer")
"""


def _kill_mid_write(target: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MID_WRITE, str(target)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def _temporaries(gen_dir: Path) -> list[str]:
    return sorted(p.name for p in gen_dir.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize(
    ("name", "target"),
    [
        (".raw.txt.k2j3h_x.tmp", "raw.txt"),
        (".raw_metadata.json.a.b.tmp", "raw_metadata.json.a"),
        (".metadata.json.z9.tmp", "metadata.json"),
        ("raw.txt", None),
        ("notes.tmp", None),
        (".x.tmp", None),
        (".tmp", None),
    ],
)
def test_a_temporary_name_says_what_it_was_about_to_become(name: str, target: str | None) -> None:
    assert atomic.interrupted_target(name) == target


def test_a_killed_writers_leftovers_are_swept_by_the_next_run(built_demo: DataLayout) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft")[0]
    gen_dir = layout.gen_dir("draft", gen_id)
    _kill_mid_write(gen_dir / "raw.txt")
    _kill_mid_write(gen_dir / "parsed_metadata.json")
    _kill_mid_write(gen_dir / "metadata.json")  # seeded without the lock: not the runner's to remove
    left = _temporaries(gen_dir)
    assert len(left) == 3 and not (gen_dir / "raw.txt").exists()
    kinds = {(p.kind, p.gen_id) for p in check_store(layout).issues}
    assert ("leftover_temp", gen_id) in kinds  # store check names them before the rerun

    outcome = StageRunner(layout, llm=FakeLLM(), options=RunOptions(), cohort_id="demo").run("draft", gen_id)
    assert outcome.state == "done" and outcome.called_llm
    assert [atomic.interrupted_target(n) for n in _temporaries(gen_dir)] == ["metadata.json"]
    assert (gen_dir / "raw.txt").read_text() != "half of an answer"


def test_a_done_generation_is_swept_without_a_call_and_its_outputs_kept(built_demo: DataLayout) -> None:
    layout = built_demo
    gen_id = member_ids(layout, "draft")[0]
    gen_dir = layout.gen_dir("draft", gen_id)
    runner = StageRunner(layout, llm=FakeLLM(), options=RunOptions(), cohort_id="demo")
    assert runner.run("draft", gen_id).state == "done"
    outputs = {p.name: p.read_bytes() for p in gen_dir.iterdir() if p.is_file()}
    _kill_mid_write(gen_dir / "parsed.txt")
    llm = FakeLLM()
    again = StageRunner(layout, llm=llm, options=RunOptions(), cohort_id="demo").run("draft", gen_id)
    assert (again.state, llm.calls) == ("skipped", [])
    assert {p.name: p.read_bytes() for p in gen_dir.iterdir() if p.is_file()} == outputs
