"""Answers a generation keeps beside its current output: ``gens/<stage>/<gen_id>/attempts/``.

A forced rerun must never destroy a good result (docs/data-contract.md, "attempts"). So when a
generation already has an answer (``raw.txt``) or an output (``parsed.txt``), a forced rerun writes its
prompt and its new answer into ``attempts/incoming/`` instead of the top-level files, and only then
validates and parses it:

- the new answer fails (empty, truncated, unparseable) or the call fails: ``incoming/`` is filed as
  ``attempts/<n>/`` with ``status: failed``; the top-level files, which the DayDreaming pipeline and
  the reports read, are untouched, and the generation keeps its state and its output;
- the new answer validates and parses: the current top-level files are first copied to
  ``attempts/<n>/`` (``status: superseded``), then the new answer and its outputs replace them.

``<n>`` counts 1, 2, 3... in the order directories are filed. Each holds the files it had at the top
level (``prompt.txt``, ``raw.txt``, ``raw_metadata.json``, ``parsed.txt``, ``parsed_metadata.json``,
``error.json``, whichever existed) and ``attempt.json`` saying what it is. An ``incoming/`` left by a
worker that died mid-rerun is filed as ``interrupted`` by the next forced rerun, and listed by
``daydream store check`` meanwhile. All of this happens under the generation lock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from daydream import atomic
from daydream.errors import StoreError
from daydream.paths import Stage
from daydream.store import ATTEMPTS_DIR, CURRENT_OUTPUTS, ERROR_FILE, GensStore, utc_now

INCOMING = "incoming"
ATTEMPT_FILE = "attempt.json"
ATTEMPT_STATUSES = ("failed", "superseded", "interrupted")
ANSWER_FILES = ("prompt.txt", "raw.txt", "raw_metadata.json")
"""What a forced rerun stages in ``attempts/incoming/`` before it is judged."""


class AttemptRecord(BaseModel):
    """``attempts/<n>/attempt.json``, plus where it is."""

    attempt: int
    status: str
    at: str = ""
    reason: str = ""
    files: list[str] = []
    path: str = ""


class Attempts:
    """The ``attempts/`` directory of one generation."""

    def __init__(self, store: GensStore, stage: Stage, gen_id: str):
        self._bind(store.dir(stage, gen_id), store.read_json_file)

    @classmethod
    def in_dir(cls, gen_dir: Path, read_json: Callable[[Path], dict[str, Any] | None]) -> Attempts:
        """The ``attempts/`` of a generation outside the three stages (a comparison: two parents)."""
        attempts = cls.__new__(cls)
        attempts._bind(gen_dir, read_json)
        return attempts

    def _bind(self, gen_dir: Path, read_json: Callable[[Path], dict[str, Any] | None]) -> None:
        self.gen_dir = gen_dir
        self.read_json = read_json
        self.root = self.gen_dir / ATTEMPTS_DIR
        self.incoming = self.root / INCOMING

    def numbers(self) -> list[int]:
        try:
            names = [p.name for p in self.root.iterdir()] if self.root.is_dir() else []
        except OSError:
            return []
        return sorted(int(name) for name in names if name.isdigit() and name.isascii())

    def protects(self) -> bool:
        """Whether there is a current answer or output that a forced rerun must not overwrite."""
        return any((self.gen_dir / name).exists() for name in ("raw.txt", "parsed.txt"))

    def stage_forced(self) -> Path | None:
        """Where a forced rerun writes its answer: a fresh ``incoming/`` when a current result must be
        kept, else None (nothing to protect: the answer goes to the top level)."""
        return self.open_incoming() if self.protects() else None

    def reject_incoming(
        self, kind: str, error: str, *, reason: str | None = None, parsed_meta: dict[str, Any] | None = None
    ) -> int:
        """A forced rerun's answer (or call) failed: file ``incoming/`` as a ``failed`` attempt with its
        error; the current result stays. Returns the attempt's number."""
        if parsed_meta is not None:
            atomic.write_json(self.incoming / "parsed_metadata.json", parsed_meta)
        atomic.write_json(self.incoming / ERROR_FILE, {"kind": kind, "error": error, "at": utc_now()})
        return self.file_incoming("failed", reason or error, kind=kind)

    def promote_incoming(self) -> None:
        """A forced rerun's answer passed: the current result is archived (``superseded``), then the
        staged answer replaces it at the top level. The caller writes the new outputs, then
        ``discard_incoming``."""
        self.archive_current("replaced by a forced rerun whose answer passed")
        for name in ANSWER_FILES:
            if (self.incoming / name).exists():
                atomic.copy_file(self.incoming / name, self.gen_dir / name)

    def open_incoming(self) -> Path:
        """A fresh ``incoming/``; one left by a dead worker is filed first (its answer was paid for)."""
        if self.incoming.exists():
            self.file_incoming("interrupted", "a forced rerun stopped before its answer was judged")
        self.incoming.mkdir(parents=True)
        return self.incoming

    def file_incoming(self, status: str, reason: str, **facts: Any) -> int:
        """``incoming/`` becomes ``attempts/<n>/`` with its ``attempt.json``; returns ``n``."""
        number = self._next()
        files = sorted(p.name for p in self.incoming.iterdir()) if self.incoming.is_dir() else []
        self._describe(self.incoming, number, status, reason, files, facts)
        atomic.rename_new(self.incoming, self.root / str(number))
        return number

    def archive_current(self, reason: str, **facts: Any) -> int | None:
        """Copy the current top-level answer and outputs to ``attempts/<n>/`` (``superseded``)."""
        present = [name for name in CURRENT_OUTPUTS if (self.gen_dir / name).is_file()]
        if not present:
            return None
        number = self._next()
        target = self.root / str(number)
        for name in present:
            atomic.copy_file(self.gen_dir / name, target / name)
        self._describe(target, number, "superseded", reason, present, facts)
        return number

    def discard_incoming(self) -> None:
        """After a promotion the new answer lives at the top level; its staging copy goes."""
        atomic.remove_tree(self.incoming)

    def records(self) -> list[AttemptRecord]:
        """Every filed attempt, in order; a missing or unreadable ``attempt.json`` says so in ``status``."""
        out = []
        for number in self.numbers():
            folder = self.root / str(number)
            try:
                data = self.read_json(folder / ATTEMPT_FILE) or {"status": "unknown (no attempt.json)"}
            except StoreError as exc:
                data = {"status": "unknown", "reason": str(exc)}
            files = data.get("files")
            out.append(
                AttemptRecord(
                    attempt=number,
                    status=str(data.get("status") or "unknown"),
                    at=str(data.get("at") or ""),
                    reason=str(data.get("reason") or ""),
                    files=[str(name) for name in files] if isinstance(files, list) else [],
                    path=str(folder),
                )
            )
        return out

    def _next(self) -> int:
        numbers = self.numbers()
        return (numbers[-1] if numbers else 0) + 1

    def _describe(
        self, folder: Path, number: int, status: str, reason: str, files: list[str], facts: dict[str, Any]
    ) -> None:
        record = {"attempt": number, "status": status, "at": utc_now(), "reason": reason, "files": files, **facts}
        atomic.write_json(folder / ATTEMPT_FILE, record)
