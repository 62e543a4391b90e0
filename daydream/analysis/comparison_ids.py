"""Deterministic ids of pairwise comparison generations (prefix ``c_``).

A comparison has two parents. Its signature is

    <lo>|<hi>|<order>|<template_id>|<judge_model_id>|<replicate>

with every part stripped and lower-cased (``daydream.ids.signature``), ``lo``/``hi`` the two parent
gen ids in canonical (sorted) order and ``order`` the presented order: ``ab`` when ``lo`` was shown
as essay A, ``ba`` when ``hi`` was. The same pair judged in both orders is therefore two
generations, and the id does not depend on which parent a caller happened to name first *for the
same presentation*. The id is ``c_`` + base-36 of the 10-byte blake2b digest of the signature, with
the ``-N`` collision suffix: exactly the machinery of ``daydream.ids`` (imported, not copied), under
a new prefix. The signature has six parts, so it can never equal a four-part evaluation signature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from daydream.errors import StoreError
from daydream.ids import MAX_COLLISION_INDEX, PREFIX, gen_id_from_signature, normalize_part, plain_gen_ids, signature
from daydream.paths import Stage

COMPARISON_PREFIX = "c_"
Order = Literal["ab", "ba"]
_CARRIER: Stage = "evaluation"
"""``daydream.ids`` knows the prefixes of its three stages only: ids are made under the evaluation
prefix and re-prefixed, which leaves the digest and base-36 text untouched."""


def _reprefix(gen_id: str) -> str:
    return COMPARISON_PREFIX + gen_id.removeprefix(PREFIX[_CARRIER])


def canonical_pair(presented_a: str, presented_b: str) -> tuple[str, str, Order]:
    """``(lo, hi, order)`` of the parents as compared in ids (normalised, sorted)."""
    a, b = normalize_part(presented_a), normalize_part(presented_b)
    if not a or not b:
        raise StoreError("comparison id: a parent gen id is empty")
    if a == b:
        raise StoreError(f"comparison id: both parents are {presented_a!r}; an essay is not compared with itself")
    return (a, b, "ab") if a < b else (b, a, "ba")


def comparison_signature(
    presented_a: str, presented_b: str, template_id: str, judge_model_id: str, replicate: int = 1
) -> str:
    lo, hi, order = canonical_pair(presented_a, presented_b)
    return signature((lo, hi, order, template_id, judge_model_id, int(replicate)))


def comparison_id_from_signature(sig: str, collision_index: int = 0) -> str:
    return _reprefix(gen_id_from_signature(_CARRIER, sig, collision_index))


def comparison_id(presented_a: str, presented_b: str, template_id: str, judge_model_id: str, replicate: int = 1) -> str:
    """The id of "judge ``judge_model_id`` with ``template_id`` saw ``presented_a`` first, then
    ``presented_b``", replicate ``replicate`` (collision index 0)."""
    return comparison_id_from_signature(
        comparison_signature(presented_a, presented_b, template_id, judge_model_id, replicate)
    )


def comparison_ids(signatures: Sequence[str]) -> list[str]:
    """``comparison_id_from_signature`` for many signatures at once (vectorised base 36)."""
    return [_reprefix(gen_id) for gen_id in plain_gen_ids(_CARRIER, list(signatures))]


def resolve_comparison_id(sig: str, is_taken: Callable[[str], bool]) -> str:
    """The first candidate (plain, then ``-1`` .. ``-4``) that ``is_taken`` does not refuse, as
    ``daydream.ids.resolve_gen_id`` does for the three stages."""
    tried: list[str] = []
    for index in range(MAX_COLLISION_INDEX + 1):
        candidate = comparison_id_from_signature(sig, index)
        if not is_taken(candidate):
            return candidate
        tried.append(candidate)
    raise StoreError(
        f"gen id collision for comparison signature {sig!r}: all of {', '.join(tried)} are taken "
        "by other generations (gens/comparison/<id>/metadata.json)"
    )
