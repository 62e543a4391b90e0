"""The batch lane: a stage's pending generations for one model sent as provider batches, waited for,
and filed into the gens store exactly as direct answers; resumable, and never paid twice.

- ``lane``: which generations go by batch (``batch_api_for``), their requests, the manifests, the
  submission and re-attaching (``start_lane``);
- ``manifest``: ``cohorts/<id>/runs/batches/<key>.json`` (``BatchManifests``);
- ``collect``: an ended batch into the store through the runner's steps (``collect_batch``);
- ``control``: polling (the trigger's ``apoll``, the CLI's ``poll``), cancelling, collecting open ones;
- ``runner``: the runner's steps for a batch answer (``batch_id`` in ``raw_metadata.json``, batch price);
- ``views``: the rows ``daydream batch list`` and the DayDream page show (``batch_rows``).

No Airflow import: the Airflow tasks and trigger are in ``daydream.airflow.batch``.
"""

from __future__ import annotations

import os

from daydream.batch.collect import collect_batch
from daydream.batch.control import apoll, cancel_batches, collect_open, poll, request_cancel
from daydream.batch.lane import BATCH_STAGE_DEFAULT, Connect, LaneStart, batch_api_for, lane_groups, start_lane
from daydream.batch.manifest import BATCHES_DIR, OPEN_STATES, BatchManifest, BatchManifests, holding, open_gen_ids
from daydream.batch.runner import BatchAnswer, BatchRunner, batch_cost
from daydream.batch.views import BatchRow, batch_rows, rows_table
from daydream.errors import DayDreamError

POLL_ENV = "DAYDREAM_BATCH_POLL_SECONDS"
DEFAULT_POLL_S = 60


def poll_seconds() -> int:
    """How often a waiting batch is polled: ``$DAYDREAM_BATCH_POLL_SECONDS`` (whole seconds >= 1)."""
    value = os.environ.get(POLL_ENV, str(DEFAULT_POLL_S)).strip()
    if not value.isdigit() or int(value) < 1:
        raise DayDreamError(f"${POLL_ENV} must be a whole number of seconds >= 1, got {value[:20]!r}")
    return int(value)


__all__ = [
    "BATCHES_DIR",
    "BATCH_STAGE_DEFAULT",
    "DEFAULT_POLL_S",
    "OPEN_STATES",
    "POLL_ENV",
    "BatchAnswer",
    "BatchManifest",
    "BatchManifests",
    "BatchRow",
    "BatchRunner",
    "Connect",
    "LaneStart",
    "apoll",
    "batch_api_for",
    "batch_cost",
    "batch_rows",
    "cancel_batches",
    "collect_batch",
    "collect_open",
    "holding",
    "lane_groups",
    "open_gen_ids",
    "poll",
    "poll_seconds",
    "request_cancel",
    "rows_table",
    "start_lane",
]
