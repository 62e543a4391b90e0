"""What each batch API says about a batch, in its own JSON: OpenAI's and OpenRouter's batch objects
(one shape, OpenAI's adds files), OpenAI's JSONL result files, OpenRouter's result pages, Anthropic's
message batches and their JSONL results. Pure functions of a ``Batch``."""

from __future__ import annotations

import json
import time
from typing import Any

from daydream.llm.offline.batch import Batch

ENDED = {"openrouter": "completed", "openai": "completed", "anthropic": "ended"}


# -- OpenRouter and OpenAI share /batches ----------------------------------------------------------


def openai_like(batch: Batch) -> dict[str, Any]:
    tally = batch.tally()
    status = "cancelled" if batch.cancelled else (ENDED[batch.api] if batch.ended else "in_progress")
    data: dict[str, Any] = {
        "id": batch.id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "model": batch.model,
        "completion_window": "24h",
        "status": status,
        "created_at": batch.created,
        "request_counts": {
            "total": len(batch.items),
            "completed": tally["succeeded"],
            "failed": tally["errored"] + tally["expired"] + tally["canceled"],
        },
        "metadata": batch.metadata,
        "error": None,
    }
    if batch.api == "openai":
        data.update(input_file_id=batch.input_file_id, output_file_id=None, error_file_id=None, errors=None)
        if batch.ended:
            data["output_file_id"], data["error_file_id"] = f"file-out-{batch.id}", f"file-err-{batch.id}"
    return data


def openai_lines(batch: Batch, errors: bool) -> str:
    codes = {"errored": "server_error", "expired": "batch_expired", "canceled": "batch_cancelled"}
    outcomes = batch.outcomes or {i.custom_id: ("canceled", "cancelled") for i in batch.items}
    lines = []
    for custom_id, (kind, value) in outcomes.items():
        if kind == "succeeded" and not errors:
            value["usage"].pop("cost", None)  # OpenAI's batch output reports no cost
            lines.append(
                {
                    "id": f"batch_req_{custom_id}",
                    "custom_id": custom_id,
                    "error": None,
                    "response": {"status_code": 200, "request_id": value["id"], "body": value},
                }
            )
        elif kind in codes and errors:
            message = value if kind == "errored" else f"This request could not be executed ({codes[kind]})."
            lines.append(
                {
                    "id": f"batch_req_{custom_id}",
                    "custom_id": custom_id,
                    "response": None,
                    "error": {"code": codes[kind], "message": message},
                }
            )
    return "".join(json.dumps(line) + "\n" for line in lines)


def openrouter_rows(batch: Batch) -> list[dict[str, Any]]:
    outcomes = batch.outcomes or {i.custom_id: ("canceled", "cancelled") for i in batch.items}
    rows = []
    for custom_id, (kind, value) in outcomes.items():
        if kind == "succeeded":
            rows.append(
                {
                    "custom_id": custom_id,
                    "id": value["id"],
                    "error": None,
                    "response": {"status_code": 200, "request_id": value["id"], "body": value},
                }
            )
        elif kind != "missing":
            kinds = {"errored": "server_error", "expired": "expired", "canceled": "cancelled"}
            rows.append(
                {
                    "custom_id": custom_id,
                    "id": custom_id,
                    "response": None,
                    "error": {"message": value, "type": kinds[kind], "param": None},
                }
            )
    return rows


# -- Anthropic ---------------------------------------------------------------------------------------


def anthropic_message(completion: dict[str, Any]) -> dict[str, Any]:
    choice, usage = completion["choices"][0], completion["usage"]
    stop = "max_tokens" if choice["finish_reason"] == "length" else "end_turn"
    return {
        "id": "msg_" + completion["id"].removeprefix("gen-offline-"),
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": [{"type": "text", "text": choice["message"]["content"]}],
        "stop_reason": stop,
        "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]},
    }


def anthropic_batch(batch: Batch, base: str) -> dict[str, Any]:
    tally = batch.tally()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch.created))
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": "ended" if batch.ended else "in_progress",
        "request_counts": {
            "processing": 0 if batch.ended else len(batch.items),
            "succeeded": tally["succeeded"],
            "errored": tally["errored"],
            "canceled": tally["canceled"],
            "expired": tally["expired"],
        },
        "created_at": created,
        "results_url": f"{base}messages/batches/{batch.id}/results" if batch.ended else None,
    }


def anthropic_lines(batch: Batch) -> str:
    outcomes = batch.outcomes or {i.custom_id: ("canceled", "") for i in batch.items}
    lines = []
    for custom_id, (kind, value) in outcomes.items():
        if kind == "succeeded":
            result: dict[str, Any] = {"type": "succeeded", "message": anthropic_message(value)}
        elif kind == "errored":
            result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error", "message": value}}}
        elif kind in ("expired", "canceled"):
            result = {"type": kind}
        else:
            continue
        lines.append(json.dumps({"custom_id": custom_id, "result": result}) + "\n")
    return "".join(lines)
