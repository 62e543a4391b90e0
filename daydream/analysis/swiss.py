"""Swiss pairing: the next round of a tournament, so n essays need ~n log n comparisons, not n^2.

Each round pairs every essay once (``n // 2`` pairs) with a neighbour in the current rating order,
as Swiss chess tournaments and the LLM-idea tournaments of Si et al. (2024) do: after ``log2 n``
rounds the ratings separate the field, at ``n/2 * log2 n`` comparisons (x2 with both orders, x the
number of judges).

Rules, in order:
1. Order by rating, best first; equal ratings (round one: everyone at 0) in a seeded random order.
2. Odd n: the bye goes to the lowest-rated essay among those with the fewest byes so far.
3. Greedy: the best unpaired essay meets the nearest unpaired essay below it that it has not met yet,
   looking at most ``window`` places down; if all of those are rematches, the nearest one.
4. Repair: a rematch left by step 3 is swapped with a partner from one of the ``window`` pairs on
   either side when that makes both pairs new.
This is not an optimal matching (a blossom algorithm over all n^2 candidate pairs would be), but it
is O(n * window) and avoids rematches whenever rating neighbours allow it.

The presented order is a seeded coin flip per pair, so position bias averages out; with
``both_orders`` each pair is returned twice, (A, B) and (B, A).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from daydream.analysis.frames import AnalysisInputError

WINDOW = 8
"""How far down the order the greedy step and the repair look for a new opponent."""


@dataclass(frozen=True)
class SwissRound:
    pairs: pd.DataFrame
    """``document_a``, ``document_b`` (presented order), ``pair`` (0-based index of the match; both
    orders of a match share it)."""
    bye: str | None
    rematches: int
    """Pairs that had met before (0 unless rating neighbours left no choice)."""


def rounds_for(n_documents: int) -> int:
    """``ceil(log2 n)``: enough rounds for a Swiss tournament to separate n essays."""
    return max(1, math.ceil(math.log2(max(n_documents, 2))))


def comparisons_needed(
    n_documents: int, rounds: int, both_orders: bool = True, judges: int = 1, replicates: int = 1
) -> int:
    """Comparisons of a whole tournament: ``rounds * (n // 2) * (2 if both_orders) * judges * replicates``."""
    return rounds * (n_documents // 2) * (2 if both_orders else 1) * judges * replicates


def _met(played: pd.DataFrame | None) -> set[tuple[str, str]]:
    if played is None or played.empty:
        return set()
    a = played["document_a"].astype(str).to_numpy()
    b = played["document_b"].astype(str).to_numpy()
    return {(x, y) if x < y else (y, x) for x, y in zip(a, b, strict=True)}


def _key(x: str, y: str) -> tuple[str, str]:
    return (x, y) if x < y else (y, x)


def _greedy(order: list[str], met: set[tuple[str, str]], window: int) -> list[list[str]]:
    used = [False] * len(order)
    pairs: list[list[str]] = []
    for i, top in enumerate(order):
        if used[i]:
            continue
        used[i] = True
        reach: list[int] = []
        j = i + 1
        while j < len(order) and len(reach) < window:
            if not used[j]:
                reach.append(j)
            j += 1
        if not reach:
            break  # unreachable with an even count; kept for safety
        choice = next((k for k in reach if _key(top, order[k]) not in met), reach[0])
        used[choice] = True
        pairs.append([top, order[choice]])
    return pairs


def _repair(pairs: list[list[str]], met: set[tuple[str, str]], window: int) -> None:
    for p, pair in enumerate(pairs):
        if _key(*pair) not in met:
            continue
        for q in range(max(0, p - window), min(len(pairs), p + 1 + window)):
            if q == p:
                continue
            other = pairs[q]
            for mine, theirs in ((1, 0), (1, 1), (0, 0), (0, 1)):
                first = [pair[1 - mine], other[theirs]]
                second = [pair[mine], other[1 - theirs]]
                if _key(*first) not in met and _key(*second) not in met:
                    pairs[p], pairs[q] = first, second
                    break
            else:
                continue
            break


def swiss_round(
    ratings: pd.Series,
    played: pd.DataFrame | None = None,
    *,
    byes: Iterable[str] = (),
    both_orders: bool = True,
    seed: int = 0,
    window: int = WINDOW,
) -> SwissRound:
    """The next round's pairs for the essays in ``ratings`` (index: document id, value: rating).

    ``played``: comparisons so far (``document_a``, ``document_b``; either order), to avoid rematches.
    ``byes``: essays that already had a bye (one entry per bye). Deterministic for a given ``seed``.
    An essay with a NaN rating (not rated yet) is placed at 0, the prior mean of the ratings.
    """
    if window < 1:
        raise AnalysisInputError(f"window must be at least 1, got {window}")
    ids = ratings.index.astype(str)
    if ids.has_duplicates:
        raise AnalysisInputError("swiss_round: duplicate document ids in ratings")
    rng = np.random.default_rng(seed)
    values = ratings.to_numpy(dtype=float, na_value=np.nan)
    values = np.where(np.isfinite(values), values, 0.0)
    order = [str(ids[k]) for k in np.lexsort((rng.permutation(len(ids)), -values))]
    bye = None
    if len(order) % 2:
        had = pd.Series(list(byes), dtype=object).astype(str).value_counts()
        fewest = min(int(had.get(doc, 0)) for doc in order)
        bye = next(doc for doc in reversed(order) if int(had.get(doc, 0)) == fewest)
        order.remove(bye)
    met = _met(played)
    pairs = _greedy(order, met, window)
    _repair(pairs, met, window)
    flips = rng.random(len(pairs)) < 0.5
    rows: list[tuple[str, str, int]] = []
    for index, (pair, flip) in enumerate(zip(pairs, flips, strict=True)):
        first, second = (pair[1], pair[0]) if flip else (pair[0], pair[1])
        rows.append((first, second, index))
        if both_orders:
            rows.append((second, first, index))
    frame = pd.DataFrame(rows, columns=["document_a", "document_b", "pair"])
    return SwissRound(frame, bye, sum(_key(*p) in met for p in pairs))
