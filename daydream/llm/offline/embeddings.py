"""The offline LLM's ``/embeddings``: deterministic vectors in which similar wording is similar.

A real embedding model is not available offline, so a text's vector is a hashed bag of its words
(the "hashing trick", Weinberger et al. 2009): each lower-cased word adds +1 or -1 (from a blake2b
hash of the word) to one of ``DIMENSIONS`` coordinates, and the vector is L2-normalised. The same
text always gets the same vector, on any machine and Python version (no ``hash()`` salt), texts that
share most words get a cosine near 1 and unrelated ones near 0, so the report's embedding clusters
are exercised for real. Returned as floats or, as OpenAI's client asks by default, base64 of
little-endian float32.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import Any

DIMENSIONS = 256
MAX_INPUTS = 2048
"""Most texts one request may carry (OpenAI's own limit)."""
_WORD = re.compile(r"[a-z0-9]+")


def embed_text(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        vector[value % dimensions] += 1.0 if (value >> 63) & 1 else -1.0
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector] if norm > 0 else vector


def _encode(vector: list[float], encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


def embeddings_body(body: Any) -> tuple[str, list[str], str] | str:
    """``(model, texts, encoding)`` of a request, or what is wrong with it (a 400's message)."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return "body must have 'model' (string) and 'input' (a string or a list of strings)"
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return "'input' must be a string or a non-empty list of strings"
    if len(texts) > MAX_INPUTS:
        return f"'input' has {len(texts)} texts, more than {MAX_INPUTS}"
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        return "'encoding_format' must be 'float' or 'base64'"
    return body["model"], texts, encoding


def embeddings_response(model: str, texts: list[str], encoding: str) -> dict[str, Any]:
    tokens = sum(len(_WORD.findall(t.lower())) for t in texts)
    return {
        "object": "list",
        "model": model,
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(embed_text(t), encoding)}
            for i, t in enumerate(texts)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
