"""The lanes a stage's work is split into: one Airflow pool per tier, and the batch lane.

Its own module because the tournament's planning and the Airflow side both need these names, and
neither should import the stage runner (``daydream.orchestration.stage``) to get them: a report that
only reads a tournament's rounds would pay for the LLM side's imports.
"""

from __future__ import annotations

from daydream.catalogs import MODEL_TIERS

LOCAL_TIER = "local"
TIERS: tuple[str, ...] = (*MODEL_TIERS, LOCAL_TIER)
"""The tiers a stage's generations are split into, one pool each: the catalog's model tiers, and
``local`` for copy-mode essays, which call no model."""

Work = dict[str, list[str]]
"""A stage's gen ids still to run, by tier (every tier of ``TIERS`` present), and under ``BATCH_LANE``
(present only when not empty) those that go by batch instead (``daydream.batch``)."""
BATCH_LANE = "batch"
