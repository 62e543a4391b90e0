"""What a researcher sees of the batches: one row per manifest (``daydream batch list``, the UI page)."""

from __future__ import annotations

import time
from datetime import datetime

from pydantic import BaseModel

from daydream.batch.manifest import BatchManifest, BatchManifests
from daydream.errors import DayDreamError
from daydream.paths import DataLayout, check_id


class BatchRow(BaseModel):
    """One provider batch of one cohort, as last polled."""

    cohort_id: str
    key: str
    stage: str
    api: str
    llm_model_id: str
    batch_id: str | None
    state: str  # submitting, submitted, ended, collected, refused
    provider_status: str
    requests: int
    succeeded: int
    errored: int
    expired: int
    canceled: int
    pending: int
    created_at: str
    age_s: float
    cancel_requested: str | None
    cost_usd: float | None
    error: str | None

    @property
    def is_open(self) -> bool:
        return self.state in ("submitting", "submitted", "ended")


def _age(created_at: str) -> float:
    try:
        return max(0.0, time.time() - datetime.fromisoformat(created_at).timestamp())
    except ValueError:
        return 0.0


def row_of(manifest: BatchManifest) -> BatchRow:
    """Counts from the store once collected, else from the provider's last answer."""
    c = manifest.counts
    if manifest.state in ("collected", "refused"):
        kinds = {
            k: sum(1 for i in manifest.items if i.kind == k) for k in ("errored", "expired", "canceled", "missing")
        }
        done = sum(1 for i in manifest.items if i.kind == "succeeded")
        errored, expired, canceled = kinds["errored"] + kinds["missing"], kinds["expired"], kinds["canceled"]
        refused = len(manifest.items) if manifest.state == "refused" else 0
        succeeded, pending = done, sum(1 for i in manifest.items if i.state == "pending")
        errored += refused
    else:
        succeeded, errored, expired, canceled = c.succeeded, c.errored, c.expired, c.canceled
        pending = len(manifest.items) - succeeded - errored - expired - canceled
    return BatchRow(
        cohort_id=manifest.cohort_id,
        key=manifest.key,
        stage=manifest.stage,
        api=manifest.api,
        llm_model_id=manifest.llm_model_id,
        batch_id=manifest.batch_id,
        state=manifest.state,
        provider_status=manifest.provider_status,
        requests=len(manifest.items),
        succeeded=succeeded,
        errored=errored,
        expired=expired,
        canceled=canceled,
        pending=max(0, pending),
        created_at=manifest.created_at,
        age_s=round(_age(manifest.created_at), 1),
        cancel_requested=manifest.cancel_requested,
        cost_usd=manifest.cost_usd,
        error=manifest.error,
    )


def batch_rows(layout: DataLayout, cohort_id: str | None = None) -> list[BatchRow]:
    """Every batch of one cohort (or of all cohorts), newest first: what the DayDream page shows."""
    if cohort_id is not None:
        cohorts = [check_id(cohort_id, kind="cohort id")]
    else:
        try:
            cohorts = sorted(p.name for p in layout.cohorts.iterdir() if p.is_dir()) if layout.cohorts.is_dir() else []
        except OSError as exc:
            raise DayDreamError(f"{layout.cohorts}: cannot list cohorts: {exc.strerror}") from None
    rows = []
    for cohort in cohorts:
        if check_id_ok(cohort):
            rows += [row_of(m) for m in BatchManifests(layout, cohort).all()]
    return sorted(rows, key=lambda r: r.created_at, reverse=True)


def check_id_ok(value: str) -> bool:
    from daydream.paths import id_problem

    return id_problem(value) is None


def format_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def rows_table(rows: list[BatchRow]) -> str:
    """The ``daydream batch list`` table."""
    if not rows:
        return "no batches"
    head = (
        f"{'cohort':<16}{'stage':<11}{'api':<11}{'model':<18}{'state':<11}{'requests':>9}{'ok':>6}"
        f"{'errored':>8}{'expired':>8}{'pending':>8}{'age':>7}  batch"
    )
    lines = [head]
    for r in rows:
        flag = " (cancel requested)" if r.cancel_requested and r.is_open else ""
        lines.append(
            f"{r.cohort_id[:15]:<16}{r.stage:<11}{r.api:<11}{r.llm_model_id[:17]:<18}{r.state:<11}{r.requests:>9}"
            f"{r.succeeded:>6}{r.errored:>8}{r.expired:>8}{r.pending:>8}{format_age(r.age_s):>7}  "
            f"{r.key} {r.batch_id or '-'}{flag}"
        )
    return "\n".join(lines)


PAGE_COLUMNS = [
    "cohort",
    "stage",
    "api",
    "model",
    "state",
    "requests",
    "succeeded",
    "errored",
    "expired",
    "canceled",
    "pending",
    "age",
    "cost_usd",
    "batch",
    "note",
]
"""The columns of the DayDream page's batch table: the same counts as ``daydream batch list``."""


def page_records(rows: list[BatchRow]) -> list[dict[str, object]]:
    """The rows of the DayDream page's batch table (``PAGE_COLUMNS``)."""
    return [
        {
            "cohort": r.cohort_id,
            "stage": r.stage,
            "api": r.api,
            "model": r.llm_model_id,
            "state": r.state,
            "requests": r.requests,
            "succeeded": r.succeeded,
            "errored": r.errored,
            "expired": r.expired,
            "canceled": r.canceled,
            "pending": r.pending,
            "age": format_age(r.age_s),
            "cost_usd": r.cost_usd,
            "batch": f"{r.key} {r.batch_id or '-'}",
            "note": r.error or ("cancel requested" if r.cancel_requested and r.is_open else ""),
        }
        for r in rows
    ]
