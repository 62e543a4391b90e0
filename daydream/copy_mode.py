"""A copy-mode essay: the parent draft's text, taken as the essay without a call.

A forced copy that changes the text keeps the old one under ``attempts/`` like any other replaced
output, so copying can never destroy a result someone paid for under an earlier template.
"""

from __future__ import annotations

from daydream.attempts import Attempts
from daydream.outcome import GenerationOutcome, outcome
from daydream.paths import Stage
from daydream.store import GenMetadata, GensStore, utc_now


def copy_from_parent(
    store: GensStore, stage: Stage, gen_id: str, meta: GenMetadata, parent_text: str
) -> GenerationOutcome:
    current = store.parsed_text(stage, gen_id)
    if current is not None and current != parent_text:
        Attempts(store, stage, gen_id).archive_current("replaced by a forced copy from the parent draft")
    store.write_text(stage, gen_id, "prompt.txt", parent_text)
    store.write_json(
        stage,
        gen_id,
        "parsed_metadata.json",
        {
            "stage": stage,
            "gen_id": gen_id,
            "mode": "copy",
            "parser": "copy",
            "success": True,
            "source_gen_id": meta.parent_gen_id,
            "created_at": utc_now(),
        },
    )
    store.clear_error(stage, gen_id)
    store.write_text(stage, gen_id, "parsed.txt", parent_text)  # the done marker last (judging._accepted)
    return outcome(stage, gen_id, "done", "copied from parent draft")
