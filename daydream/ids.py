"""Generation ids (docs/data-contract.md §4). These MUST match the DayDreaming pipeline exactly,
so an existing store's generations are recognised and never paid for twice."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from daydream.errors import StoreError
from daydream.paths import Stage

PREFIX: dict[str, str] = {"draft": "d_", "essay": "e_", "evaluation": "v_"}
MAX_COLLISION_INDEX = 4
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # base 1296 = two base-36 digits per step


def base36(number: int) -> str:
    if number < 36:
        return _ALPHABET[number]
    chunks: list[str] = []
    while number:
        number, rem = divmod(number, 1296)
        chunks.append(_PAIRS[rem])
    return "".join(reversed(chunks)).lstrip("0")


def normalize_part(part: Any) -> str:
    return str(part).strip().lower()


def signature(parts: Iterable[Any]) -> str:
    return "|".join(normalize_part(p) for p in parts)


def gen_id_from_signature(stage: Stage, sig: str, collision_index: int = 0) -> str:
    hashed = sig if collision_index == 0 else f"{sig}|collision:{collision_index}"
    digest = hashlib.blake2b(hashed.encode(), digest_size=10).digest()
    gen_id = PREFIX[stage] + base36(int.from_bytes(digest, "big"))
    return gen_id if collision_index == 0 else f"{gen_id}-{collision_index}"


def draft_signature(combo_id: str, draft_template_id: str, llm_model_id: str, replicate: int = 1) -> str:
    return signature((combo_id, draft_template_id, llm_model_id, int(replicate)))


def essay_signature(draft_gen_id: str, essay_template_id: str, replicate: int = 1) -> str:
    return signature((draft_gen_id, essay_template_id, int(replicate)))


def evaluation_signature(
    parent_gen_id: str, evaluation_template_id: str, evaluation_llm_model_id: str, replicate: int = 1
) -> str:
    return signature((parent_gen_id, evaluation_template_id, evaluation_llm_model_id, int(replicate)))


def draft_id(combo_id: str, draft_template_id: str, llm_model_id: str, replicate: int = 1) -> str:
    return gen_id_from_signature("draft", draft_signature(combo_id, draft_template_id, llm_model_id, replicate))


def essay_id(draft_gen_id: str, essay_template_id: str, replicate: int = 1) -> str:
    return gen_id_from_signature("essay", essay_signature(draft_gen_id, essay_template_id, replicate))


def evaluation_id(
    parent_gen_id: str, evaluation_template_id: str, evaluation_llm_model_id: str, replicate: int = 1
) -> str:
    return gen_id_from_signature(
        "evaluation", evaluation_signature(parent_gen_id, evaluation_template_id, evaluation_llm_model_id, replicate)
    )


def resolve_gen_id(stage: Stage, sig: str, is_taken: Callable[[str], bool]) -> str:
    """The first candidate id (plain, then ``-1`` .. ``-4``) that ``is_taken`` does not refuse.

    ``is_taken(gen_id)`` says whether that id already belongs to a different identity (on disk or
    earlier in the same build). Five taken candidates are an error rather than an overwrite.
    """
    tried: list[str] = []
    for index in range(MAX_COLLISION_INDEX + 1):
        candidate = gen_id_from_signature(stage, sig, index)
        if not is_taken(candidate):
            return candidate
        tried.append(candidate)
    raise StoreError(
        f"gen id collision for {stage} signature {sig!r}: all of {', '.join(tried)} are taken "
        f"by other generations (gens/{stage}/<id>/metadata.json)"
    )


_LIMB = 1 << 40  # the 80-bit digest as two 40-bit limbs, so long division by 36 stays inside uint64
_DIGITS = 16  # 36**16 > 2**80: at most 16 base-36 digits


def plain_gen_ids(stage: Stage, signatures: list[str]) -> list[str]:
    """``gen_id_from_signature(stage, sig)`` for many signatures at once (collision index 0).

    Hashing stays in Python; the base-36 conversion, the slow part, runs as numpy long division over
    all digests together. tests/test_ids.py pins equality with the one-at-a-time function.
    """
    import numpy as np

    if not signatures:
        return []
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(sig.encode(), digest_size=10).digest() for sig in signatures])
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 10).astype(np.uint64)
    limbs = [np.zeros(len(signatures), dtype=np.uint64) for _ in range(2)]
    for i in range(5):
        limbs[0] = (limbs[0] << np.uint64(8)) | raw[:, i]
        limbs[1] = (limbs[1] << np.uint64(8)) | raw[:, 5 + i]
    digits = np.empty((len(signatures), _DIGITS), dtype=np.uint8)
    base, limb = np.uint64(36), np.uint64(_LIMB)
    for position in range(_DIGITS - 1, -1, -1):
        remainder = np.zeros(len(signatures), dtype=np.uint64)
        for k in range(2):
            current = remainder * limb + limbs[k]
            limbs[k] = current // base
            remainder = current % base
        digits[:, position] = remainder
    alphabet = np.frombuffer(_ALPHABET.encode(), dtype=np.uint8)
    text = alphabet[digits].tobytes().decode("ascii")
    prefix = PREFIX[stage]
    return [prefix + (text[i : i + _DIGITS].lstrip("0") or "0") for i in range(0, len(text), _DIGITS)]
