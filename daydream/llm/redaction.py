"""Keeping the API key out of every message, log line and file.

Providers echo keys back in many shapes: whole (``Incorrect API key provided: sk-...``), without the
``sk-``/``sk-or-v1-`` prefix, masked with asterisks but for the last characters, cut to a fragment,
percent-encoded inside a URL they quote, base64-encoded inside a ``Basic`` header they quote, in a
JSON field or in a response header. Matching only the exact key misses most of these, so a
``Redactor`` matches every *form* of each secret, and any run of at least ``MIN_FRAGMENT`` characters
of a form (case-insensitively, so ``%2f``/``%2F`` and a lower-cased echo are caught too).

Two strengths: ``Redactor.secrets`` masks only what derives from the configured secrets (safe for a
model's answer, which may legitimately discuss ``sk-`` keys); ``Redactor.__call__`` also masks
anything shaped like a key or a bearer token (for error messages and logs).

The HTTP libraries log at DEBUG with response headers (``httpcore2``); ``register_secret`` adds a key
to a process-wide set that a logging filter on those libraries' loggers applies, the way Airflow's
secrets masker works for task logs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "<redacted>"
MIN_FRAGMENT = 8
"""A run of this many characters of a secret's form is masked: long enough never to hit by chance."""
MAX_SCANNED = 65_536
"""Provider text is cut to this many characters before it is scanned: error bodies are unbounded."""

KNOWN_PREFIXES = ("sk-or-v1-", "sk-ant-api03-", "sk-ant-", "sk-proj-", "sk-svcacct-", "sk-")
_SHAPES = re.compile(
    r"\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{6,}"  # a key of the sk-... family
    r"|\b(?:Bearer|Basic)\s+\S+"  # an Authorization value
    r"|[A-Za-z0-9_\-]*\*{4,}[A-Za-z0-9_\-]*",  # a masked echo such as sk-proj-****...abcd
    re.IGNORECASE,
)
_TOKEN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_%-")
TRANSPORT_LOGGERS = (
    "openai",
    "openai._base_client",
    "openai._response",
    "openai._legacy_response",
    "httpx",
    "httpx2",
    *(f"{lib}.{part}" for lib in ("httpcore", "httpcore2") for part in ("connection", "http11", "http2", "proxy")),
    "daydream.llm",
)


def _b64_cores(data: bytes) -> set[str]:
    """The parts of base64(x + data + y) that do not depend on x and y, for the 3 alignments."""
    cores = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + data).decode("ascii").rstrip("=")
        start = 4 if pad else 0
        cores.add(encoded[start:-4] if len(encoded) > start + 4 else encoded[start:])
    return cores | {c.replace("+", "-").replace("/", "_") for c in cores}  # the URL-safe alphabet too


def secret_forms(secret: str) -> set[str]:
    """Every string a provider may echo for ``secret``: prefix-less, URL/JSON/base64-encoded."""
    bodies = {secret} | {secret[len(p) :] for p in KNOWN_PREFIXES if secret.startswith(p) and len(secret) > len(p)}
    forms: set[str] = set()
    for body in bodies:
        forms |= {
            body,
            quote(body, safe=""),
            quote_plus(body),
            "".join(f"%{byte:02X}" for byte in body.encode("utf-8")),
            json.dumps(body)[1:-1],
            json.dumps(body, ensure_ascii=True)[1:-1],
        }
        forms |= _b64_cores(body.encode("utf-8"))
    return {form for form in forms if form}


class Redactor:
    """Masks each form of the given secrets (and, when called, anything shaped like a key)."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        long_forms: set[str] = set()
        short_forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            for form in secret_forms(secret):
                (long_forms if len(form) >= MIN_FRAGMENT else short_forms).add(form)
        self._grams = {
            form.lower()[i : i + MIN_FRAGMENT] for form in long_forms for i in range(len(form) - MIN_FRAGMENT + 1)
        }
        # A secret shorter than a fragment is masked only as a whole token: "k" must not eat "ok".
        self._short = (
            re.compile(
                "|".join(rf"(?<![A-Za-z0-9]){re.escape(f)}(?![A-Za-z0-9])" for f in sorted(short_forms, key=len)[::-1])
            )
            if short_forms
            else None
        )

    def __bool__(self) -> bool:
        return bool(self._grams) or self._short is not None

    def secrets(self, text: str) -> str:
        """``text`` with every run of a secret's form masked; nothing else changes."""
        if not text or not self:
            return text
        out: list[str] = []
        lowered = text.lower()
        start = i = 0
        n = len(text)
        grams = self._grams
        while i <= n - MIN_FRAGMENT:
            if lowered[i : i + MIN_FRAGMENT] not in grams:
                i += 1
                continue
            j = i + MIN_FRAGMENT
            while j < n and lowered[j - MIN_FRAGMENT + 1 : j + 1] in grams:
                j += 1
            # the whole token goes: the ends of a base64 or percent-encoded form carry key bits too
            while i > start and text[i - 1] in _TOKEN:
                i -= 1
            while j < n and text[j] in _TOKEN:
                j += 1
            out += [text[start:i], MASK]
            start = i = j
        out.append(text[start:])
        masked = "".join(out)
        return self._short.sub(MASK, masked) if self._short is not None else masked

    def __call__(self, text: str) -> str:
        """``text`` with the secrets and anything shaped like a key or a bearer token masked."""
        return _SHAPES.sub(MASK, self.secrets(text))


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clean(text: object, redactor: Redactor, limit: int = 500) -> str:
    """Provider text made safe to show: bounded, masked, on one line (masked again after the cut)."""
    return redactor(one_line(redactor(str(text)[:MAX_SCANNED]), limit))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each secret (in any form) and anything shaped like a key masked."""
    return Redactor(secrets)(text)


# -- logs -------------------------------------------------------------------------------------------

_registered: set[str] = set()
_registry_lock = threading.Lock()
_log_redactor = Redactor()


def register_secret(secret: str | None) -> None:
    """Mask ``secret`` in every record of the HTTP libraries' and DayDream's LLM loggers from now on."""
    global _log_redactor
    if not secret:
        return
    with _registry_lock:
        if secret in _registered:
            return
        _registered.add(secret)
        _log_redactor = Redactor(_registered)
        for name in TRANSPORT_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, _LogRedaction) for f in logger.filters):
                logger.addFilter(_LogRedaction())


class _LogRedaction(logging.Filter):
    """Rewrites a record's message with the registered secrets masked (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a malformed record is the logger's problem, not ours)
            return True
        masked = _log_redactor(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
