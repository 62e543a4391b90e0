"""Batch manifests: ``cohorts/<id>/runs/batches/<key>.json``, one per provider batch.

A manifest is written (created exclusively) **before** the batch is submitted, then completed with
the provider's batch id, so whatever dies (worker, triggerer, scheduler) the next attempt finds what
was sent and to whom, and re-attaches instead of paying again. It holds the requests' fingerprint,
one item per generation (enough to file the answer exactly as a direct call would), the provider's
status and counts as last polled, and how each item ended once collected.

States: ``submitting`` (written, the create call under way or its answer lost), ``submitted`` (the
provider has it), ``ended`` (the provider finished it, results not yet in the store), ``collected``
(every result filed), ``refused`` (the provider refused the batch; nothing was paid). The first three
are open: their generations belong to the batch and are never sent again meanwhile.

Read-merge-write under the manifest's lock (``locks.hold``): the worker, the triggerer, the CLI and
a cancellation may touch the same manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from daydream import atomic
from daydream.errors import StoreError, first_problem, located
from daydream.llm.batch import BatchApiName, BatchCounts, BatchRequest, BatchStatus, ItemKind
from daydream.locks import hold
from daydream.paths import DataLayout, Stage, check_id
from daydream.store import GensStore, utc_now

BATCHES_DIR = "batches"
ManifestState = Literal["submitting", "submitted", "ended", "collected", "refused"]
OPEN_STATES: tuple[ManifestState, ...] = ("submitting", "submitted", "ended")
ItemState = Literal["pending", "done", "failed", "skipped", "busy"]


class ManifestItem(BaseModel):
    """One generation of a batch: what was sent, and where its answer goes."""

    gen_id: str
    custom_id: str
    prompt_sha256: str
    max_tokens: int
    temperature: float
    parser: str
    template_sha256: str
    answer_dir: str  # relative to the data root: the generation directory, or its attempts/incoming
    protecting: bool = False
    state: ItemState = "pending"
    kind: ItemKind | None = None  # how the provider ended it
    message: str = ""


class BatchManifest(BaseModel):
    key: str
    cohort_id: str
    stage: Stage
    llm_model_id: str
    api: BatchApiName
    model: str  # as the batch API names it
    base_url: str
    conn_id: str | None = None  # the Airflow connection it was submitted with (the trigger polls with it)
    fingerprint: str
    state: ManifestState = "submitting"
    batch_id: str | None = None
    provider_status: str = ""
    counts: BatchCounts = Field(default_factory=BatchCounts)
    items: list[ManifestItem]
    created_at: str = Field(default_factory=utc_now)
    created_epoch: float = 0.0
    submitted_at: str | None = None
    ended_at: str | None = None
    collected_at: str | None = None
    cancel_requested: str | None = None  # why, when someone asked to cancel it
    cancel_sent: bool = False
    error: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)  # the provider's file ids / results URL
    cost_usd: float | None = None  # what its answers cost, once collected

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def item_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.items:
            out[item.state] = out.get(item.state, 0) + 1
        return out

    def polled(self, status: BatchStatus) -> None:
        """Take in what the provider said; an ended batch waits for collection."""
        self.provider_status = status.status
        self.counts = status.counts
        self.extra.update(status.extra)
        if status.error:
            self.error = status.error
        if status.ended and self.state in ("submitting", "submitted"):
            self.state = "ended"
            self.ended_at = utc_now()


def text_sha256(text: str) -> str:
    """The ``prompt_sha256`` of ``raw_metadata.json``: sha256 of the UTF-8 text, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(requests: Iterable[BatchRequest]) -> str:
    """sha256 of the requests as sent (custom id, model, prompt hash, max_tokens, temperature), sorted:
    the same generations with the same prompts and settings give the same fingerprint."""
    rows = sorted((r.custom_id, r.model, text_sha256(r.prompt), r.max_tokens, r.temperature) for r in requests)
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


class BatchManifests:
    """The manifests of one cohort."""

    def __init__(self, layout: DataLayout, cohort_id: str):
        self.layout = layout
        self.cohort_id = cohort_id
        self.dir = layout.runs_dir(cohort_id) / BATCHES_DIR

    def path(self, key: str) -> Path:
        return self.dir / f"{check_id(key, kind='batch key')}.json"

    def read(self, key: str) -> BatchManifest:
        path = self.path(key)
        text = GensStore(self.layout).read_file(path)
        if text is None:
            raise StoreError(located("batch manifest not found", file=path))
        try:
            return BatchManifest.model_validate_json(text)
        except ValidationError as exc:
            field, problem = first_problem(exc)
            raise StoreError(located(f"not a batch manifest: {problem}", file=path, field=field)) from None

    def keys(self) -> list[str]:
        self.layout.inside(self.dir.parent)
        try:
            names = sorted(p.name for p in self.dir.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(located(f"cannot list: {exc.strerror}", file=self.dir)) from None
        return [name.removesuffix(".json") for name in names]

    def all(self) -> list[BatchManifest]:
        return [self.read(key) for key in self.keys()]

    def open(self, stage: str | None = None) -> list[BatchManifest]:
        return [m for m in self.all() if m.is_open and (stage is None or m.stage == stage)]

    def create(self, manifest: BatchManifest) -> bool:
        """Write a new manifest; False when one with this key exists already (another attempt's)."""
        self.layout.inside(self.dir.parent)
        path = self.path(manifest.key)
        return atomic.create_exclusive(path, atomic.dumps_json(manifest.model_dump(mode="json")).encode("utf-8"))

    def update(self, key: str, change: Callable[[BatchManifest], None]) -> BatchManifest:
        """Read, ``change`` in place, write back: under the manifest's lock."""
        path = self.path(key)
        with hold(path):
            manifest = self.read(key)
            change(manifest)
            atomic.write_json(path, manifest.model_dump(mode="json"))
        return manifest


def holding(layout: DataLayout, cohort_id: str, stage: str, gen_ids: Iterable[str]) -> dict[str, str]:
    """``gen_id -> manifest key`` for the generations an open batch of this stage holds."""
    wanted = set(gen_ids)
    held: dict[str, str] = {}
    for manifest in BatchManifests(layout, cohort_id).open(stage):
        for item in manifest.items:
            if item.gen_id in wanted:
                held.setdefault(item.gen_id, manifest.key)
    return held


def open_gen_ids(layout: DataLayout, cohort_id: str, stage: str) -> set[str]:
    """Every generation of this stage that an open batch holds."""
    return {item.gen_id for m in BatchManifests(layout, cohort_id).open(stage) for item in m.items}
