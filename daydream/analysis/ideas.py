"""How many different ideas? Clusters of near-duplicates, distinct ideas per group, saturation curves.

Clustering follows NoveltyBench (Zhang et al. 2025): generations are taken in generation order and
each either joins an existing class (it is equivalent to that class's representative, the class's
first member) or opens a new one. "Equivalent" here is a similarity at or above a threshold: TF-IDF
cosine (``text_similarity``) for near-duplicate wording, or embedding cosine for the same idea in
other words. Among several equivalent representatives the most similar is joined. Unlike single
linkage (connected components), a class cannot chain: every member is within the threshold of its
representative.

Per group (combo x template x model by default): ``n_generated``, ``n_distinct`` (classes) and the
saturation curve ``distinct(k)``, the number of classes among the first ``k`` generations. A curve
that keeps rising says more samples still bring new ideas; a flat one says the prompt is exhausted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from daydream.analysis.frames import AnalysisInputError, group_codes, require_columns
from daydream.analysis.text_similarity import NEAR_DUPLICATE, normalize_rows, similar_pairs, tfidf_matrix

GROUP = ("combo_id", "essay_template", "generation_model")
"""The default group: one prompt (a combo with a template) on one model."""
EMBEDDING_SIMILAR = 0.9
"""Embedding cosine at or above which two texts are the same idea. Embedding models differ in how
similarity is spread (some put unrelated texts at 0.7): calibrate per model on known pairs and pass
``threshold``; 0.9 is a conservative default for normalised sentence embeddings."""
SUMMARY_COLUMNS = ["n_generated", "n_distinct", "distinct_share"]
CURVE_COLUMNS = ["k", "distinct"]


def leader_clusters(n: int, pairs: pd.DataFrame, order: np.ndarray | None = None) -> np.ndarray:
    """Class label per item (0, 1, ... in order of creation) from the equivalent ``pairs``.

    ``pairs``: columns ``i``, ``j``, ``similarity`` (``similar_pairs`` output: already thresholded).
    ``order``: the processing order (a rank per item; default: item index). O(n + pairs).
    """
    rank = np.arange(n) if order is None else np.asarray(order)
    if rank.shape != (n,):
        raise AnalysisInputError(f"leader_clusters: order has {rank.size} entries for {n} items")
    i, j = pairs["i"].to_numpy(dtype=np.int64), pairs["j"].to_numpy(dtype=np.int64)
    sim = pairs["similarity"].to_numpy(dtype=float)
    adjacency = sparse.csr_matrix(
        (np.concatenate([sim, sim]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)
    )
    labels = np.full(n, -1, dtype=np.int64)
    is_leader = np.zeros(n, dtype=bool)
    next_label = 0
    indptr = adjacency.indptr.tolist()
    for item in np.argsort(rank, kind="stable").tolist():
        lo, hi = indptr[item], indptr[item + 1]
        if lo < hi:  # most texts have no equivalent: they skip the array work
            neighbours, weights = adjacency.indices[lo:hi], adjacency.data[lo:hi]
            usable = is_leader[neighbours] & (rank[neighbours] < rank[item])
            if usable.any():
                labels[item] = labels[neighbours[usable][np.argmax(weights[usable])]]
                continue
        labels[item] = next_label
        is_leader[item] = True
        next_label += 1
    return labels


def text_clusters(
    texts: Sequence[str],
    blocks: np.ndarray | None = None,
    order: np.ndarray | None = None,
    threshold: float = NEAR_DUPLICATE,
) -> np.ndarray:
    """Near-duplicate classes of ``texts`` (TF-IDF cosine), compared within ``blocks`` only."""
    vectors = tfidf_matrix(texts)
    return leader_clusters(len(texts), similar_pairs(vectors, threshold, blocks), order)


def embedding_clusters(
    embeddings: np.ndarray,
    blocks: np.ndarray | None = None,
    order: np.ndarray | None = None,
    threshold: float = EMBEDDING_SIMILAR,
) -> np.ndarray:
    """Same-idea classes from an ``n x d`` embedding matrix (one row per text; rows are normalised here)."""
    matrix = np.asarray(embeddings, dtype=float)
    if matrix.ndim != 2 or not np.isfinite(matrix).all():
        raise AnalysisInputError("embedding_clusters: embeddings must be a finite n x d matrix")
    return leader_clusters(matrix.shape[0], similar_pairs(normalize_rows(matrix), threshold, blocks), order)


def distinct_ideas(
    frame: pd.DataFrame, cluster: str = "cluster", group_by: Sequence[str] = GROUP, order_by: str = "order"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary, curve)`` per group.

    ``frame``: one row per generated text with its class (``cluster``, e.g. from ``text_clusters``
    with ``blocks`` = the group), the ``group_by`` columns and ``order_by`` (generation order: a
    replicate number or a timestamp; ties keep the frame's order). ``summary``: the group columns,
    ``SUMMARY_COLUMNS`` (``distinct_share = n_distinct / n_generated``). ``curve``: the group
    columns, ``k`` (1..n_generated) and ``distinct`` (classes among the first k).
    """
    require_columns(frame, [cluster, order_by, *group_by], "distinct_ideas input")
    codes, keys = group_codes(frame, list(group_by))
    ordered = pd.DataFrame(
        {
            "g": codes,
            "o": frame[order_by].to_numpy(),
            "c": frame[cluster].astype(str).to_numpy(),
            "pos": np.arange(len(frame)),
        }
    ).sort_values(["g", "o", "pos"], kind="stable")
    first_seen = ~ordered.duplicated(["g", "c"])
    ordered["distinct"] = first_seen.astype(np.int64).groupby(ordered["g"]).cumsum().to_numpy()
    ordered["k"] = ordered.groupby("g").cumcount().to_numpy() + 1
    keyed = keys.reset_index(drop=True)
    curve = pd.concat(
        [keyed.iloc[ordered["g"].to_numpy()].reset_index(drop=True), ordered[["k", "distinct"]].reset_index(drop=True)],
        axis=1,
    )
    last = ordered.groupby("g").tail(1).set_index("g")
    summary = keyed.copy()
    summary["n_generated"] = last["k"].reindex(range(len(keyed))).to_numpy()
    summary["n_distinct"] = last["distinct"].reindex(range(len(keyed))).to_numpy()
    summary["distinct_share"] = summary["n_distinct"] / summary["n_generated"]
    return summary, curve
