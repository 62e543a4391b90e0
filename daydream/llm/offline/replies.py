"""What the offline LLM answers: completions (faithful, faulty or malformed), errors, echoed keys.

Pure functions of the config, the request and the fault rule that fired; the server (``server.py``)
only routes, waits and counts. Bodies follow OpenAI's chat completion and OpenRouter's additions
(``usage.cost``, ``provider``, an HTTP 200 with an ``error`` object and no choices for an upstream
failure).
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
import uuid
from http import HTTPStatus
from typing import Any

from daydream.llm.offline.config import STATUS_FAULTS, FaultRule, OfflineConfig
from daydream.llm.offline_answers import answer

DEFAULT_NOT_JSON = '<html><head><title>502 Bad Gateway</title></head><body>upstream sent {"choices": [ {echo}'
_FAULT_MESSAGES = {
    429: "Rate limit exceeded: free-models-per-min (offline fault)",
    500: "Internal server error (offline fault)",
    400: "Bad request (offline fault)",
    401: "No auth credentials found (offline fault)",
    404: "Model not found (offline fault)",
}
_DEFAULT_PATCHES: dict[str, dict[str, Any]] = {
    "bad_usage": {"usage": {"prompt_tokens": "many", "completion_tokens": [], "total_tokens": None}},
    "bad_choices": {"choices": [{"index": 0, "finish_reason": "stop", "message": {"content": 42}}]},
}


class Reply(Exception):
    """Raised inside a handler to send an OpenAI-shaped error response."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.raw: str | None = None  # OpenRouter's error.metadata.raw: where "body" echoes go

    def payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "code": self.status,
            "type": self.code or HTTPStatus(self.status).phrase,
        }
        if self.raw is not None:
            error["metadata"] = {"raw": self.raw}
        return {"error": error}


def tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _generation_id() -> str:
    return f"gen-offline-{uuid.uuid4().hex[:20]}"


# -- echoed keys (test aid) ------------------------------------------------------------------------


def echo_text(config: OfflineConfig, authorization: str) -> str:
    """The caller's bearer token in every configured form, space-separated ("" when not echoing).

    The forms are derived here, independently of the client's redaction, so a test proves the
    client masks what a provider really sends, not what the client expects it to send.
    """
    token = authorization.removeprefix("Bearer ").strip()
    if not config.echo_auth_in_errors or not token:
        return ""
    forms = {
        "plain": token,
        "no_prefix": re.sub(r"^sk-(?:[a-z0-9]+-)*", "", token),
        "fragment": token[len(token) // 3 : len(token) // 3 + 12],
        "masked": token[:8] + "*" * 24 + token[-4:],
        "url_encoded": "".join(f"%{byte:02x}" for byte in token.encode()),
        "base64": base64.b64encode(f"user:{token}".encode()).decode(),
        "lower": token.lower(),
    }
    return " ".join(forms[name] for name in config.echo_forms)


def with_echo(reply: Reply, config: OfflineConfig, echo: str) -> Reply:
    """``reply`` carrying the echoed key where the config says (message, body, header)."""
    if not echo:
        return reply
    if "message" in config.echo_in and reply.status != 401:  # a 401 quotes the key in its message already
        reply.message = f"{reply.message} (request key: {echo})"
    if "body" in config.echo_in:
        reply.raw = f"authorization was Bearer {echo}"
    if "header" in config.echo_in:
        reply.headers["x-echo-authorization"] = echo
    return reply


def unauthorized(config: OfflineConfig, authorization: str) -> Reply:
    shown = echo_text(config, authorization) or "(hidden)"
    return Reply(401, f"Invalid API key provided: {shown}", code="invalid_api_key")


# -- faults and answers ----------------------------------------------------------------------------


def fault_reply(rule: FaultRule) -> Reply:
    status = rule.status if rule.fault == "server_error" and rule.status else STATUS_FAULTS[rule.fault]
    headers = dict(rule.headers) if rule.fault == "rate_limit" else {}
    if rule.fault == "rate_limit" and rule.retry_after is not None:
        headers["Retry-After"] = f"{rule.retry_after:g}"
    if rule.fault == "rate_limit" and rule.retry_after_ms is not None:
        headers["retry-after-ms"] = f"{rule.retry_after_ms:g}"
    message = rule.message or _FAULT_MESSAGES.get(status, "offline fault")
    return Reply(status, message, code=rule.fault, headers=headers)


def not_json_body(rule: FaultRule, echo: str) -> str:
    return (rule.body if rule.body is not None else DEFAULT_NOT_JSON).replace("{echo}", echo)


def completion(
    config: OfflineConfig, body: dict[str, Any], model: str, prompt: str, rule: FaultRule | None
) -> dict[str, Any]:
    """The chat completion for this request, shaped by the fault that fired (if any)."""
    fault = rule.fault if rule is not None else None
    if fault == "upstream_error":  # OpenRouter: HTTP 200, an error object and no choices
        return {
            "id": _generation_id(),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [],
            "error": {
                "code": rule.status or 502,  # type: ignore[union-attr]
                "message": rule.message or "Upstream provider error (offline fault)",  # type: ignore[union-attr]
            },
        }
    text = answer(model, prompt, with_score=fault != "no_score")
    finish_reason = "stop"
    max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
    limit = int(max_tokens) if isinstance(max_tokens, (int, float)) and max_tokens > 0 else None
    if fault == "truncate":
        text = text[: max(1, len(text) // 2)]
        finish_reason = "length"
    elif fault == "empty":
        text = ""
    if limit is not None and tokens(text) > limit:
        text = text[: limit * 4]
        finish_reason = "length"
    prompt_tokens = tokens(prompt)
    completion_tokens = limit if finish_reason == "length" and limit is not None else tokens(text)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if config.report_cost:
        usage["cost"] = config.cost(model, prompt_tokens, completion_tokens)
    reply = {
        "id": _generation_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "provider": "DayDream Offline",
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": text}}],
        "usage": usage,
    }
    if rule is not None and fault in _DEFAULT_PATCHES:
        reply.update(rule.patch or _DEFAULT_PATCHES[fault])
    return reply


def dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode("utf-8")
