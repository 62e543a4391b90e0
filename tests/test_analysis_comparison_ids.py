"""Comparison ids (prefix c_): test vectors, canonical order, presented order, the ids machinery."""

from __future__ import annotations

import hashlib

import pytest

from daydream import ids
from daydream.analysis.comparison_ids import (
    canonical_pair,
    comparison_id,
    comparison_id_from_signature,
    comparison_ids,
    comparison_signature,
    resolve_comparison_id,
)
from daydream.errors import StoreError

ESSAY = "e_sq5klak2lljyyom"  # the contract's essay vector (tests/test_ids.py)
OTHER = "e_2b"

# Test vectors: change them only with a migration of every stored comparison.
VECTORS = [
    (
        (ESSAY, OTHER, "pairwise-v1", "sonnet-4", 1),
        "e_2b|e_sq5klak2lljyyom|ba|pairwise-v1|sonnet-4|1",
        "c_45ce0r1dnxxiu2ab",
    ),
    (
        (OTHER, ESSAY, "pairwise-v1", "sonnet-4", 1),
        "e_2b|e_sq5klak2lljyyom|ab|pairwise-v1|sonnet-4|1",
        "c_1bzc04yneuch4q4v",
    ),
]


@pytest.mark.parametrize(("args", "sig", "gen_id"), VECTORS)
def test_vectors(args: tuple, sig: str, gen_id: str) -> None:
    assert comparison_signature(*args) == sig
    assert comparison_id(*args) == gen_id


def test_formula_by_hand_is_the_ids_machinery_under_a_new_prefix() -> None:
    sig = comparison_signature(ESSAY, OTHER, "pairwise-v1", "sonnet-4", 2)
    digest = hashlib.blake2b(sig.encode(), digest_size=10).digest()
    assert comparison_id_from_signature(sig) == "c_" + ids.base36(int.from_bytes(digest, "big"))
    assert comparison_id_from_signature(sig, 2) == "c_" + ids.gen_id_from_signature("evaluation", sig, 2)[2:]
    assert comparison_id_from_signature(sig, 2).endswith("-2")


def test_both_orders_are_two_generations_and_the_pair_is_canonical() -> None:
    ab = comparison_id(OTHER, ESSAY, "t", "m")
    ba = comparison_id(ESSAY, OTHER, "t", "m")
    assert ab != ba
    assert canonical_pair(ESSAY, OTHER) == (OTHER, ESSAY, "ba")
    assert canonical_pair(OTHER, ESSAY) == (OTHER, ESSAY, "ab")
    # parts are normalised like every gen id signature
    assert comparison_id(f" {OTHER.upper()} ", ESSAY, " T", "M ", "1") == ab
    assert comparison_id(OTHER, ESSAY, "t", "m", 2) != ab
    assert comparison_id(OTHER, ESSAY, "t2", "m") != ab and comparison_id(OTHER, ESSAY, "t", "m2") != ab


def test_never_an_evaluation_id() -> None:
    assert comparison_id(OTHER, ESSAY, "t", "m").startswith("c_")
    assert comparison_id(OTHER, ESSAY, "t", "m")[2:] != ids.evaluation_id(OTHER, "t", "m")[2:]


def test_bulk_equals_one_at_a_time() -> None:
    sigs = [comparison_signature(f"e_{k}", f"e_{k + 1}", "t", "m", r) for k in range(50) for r in (1, 2)]
    assert comparison_ids(sigs) == [comparison_id_from_signature(s) for s in sigs]


def test_collisions_and_bad_pairs() -> None:
    sig = comparison_signature(OTHER, ESSAY, "t", "m")
    taken = {comparison_id_from_signature(sig), comparison_id_from_signature(sig, 1)}
    assert resolve_comparison_id(sig, taken.__contains__) == comparison_id_from_signature(sig, 2)
    with pytest.raises(StoreError, match="all of .* are taken"):
        resolve_comparison_id(sig, lambda _: True)
    with pytest.raises(StoreError, match="not compared with itself"):
        comparison_id(ESSAY, ESSAY.upper(), "t", "m")
    with pytest.raises(StoreError, match="empty"):
        comparison_id(" ", ESSAY, "t", "m")
