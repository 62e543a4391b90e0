"""Near-duplicate texts: TF-IDF vectors and the pairs whose cosine similarity reaches a threshold.

Why TF-IDF cosine and not MinHash: the texts to compare are few per block (the replicates of one
combo x template x model, a few dozen at most), so exact all-pairs cosine within a block is cheaper
than hashing and has no false negatives; MinHash/LSH pays off only for all-pairs search over
hundreds of thousands of texts. Word unigrams and bigrams, sublinear tf (``1 + ln count``) and
smoothed idf (``ln((1 + N) / (1 + df)) + 1``, scikit-learn's default), rows L2-normalised, so a
row product is the cosine. Bigrams make the measure about wording as well as vocabulary: two essays
on the same three concepts share the concept words, but not their phrasing, unless one is a copy.

``NEAR_DUPLICATE`` = 0.6, from the fixtures in ``tests/fixtures/diversity`` (eight distinct essays on
one concept triple, three lightly edited copies, two paraphrases): distinct essays on the same
concepts reach at most ~0.2, light edits (word swaps, a moved or added sentence) at least ~0.8;
0.6 sits in the gap with margin on both sides. Paraphrases (the same idea in other words) score like
distinct essays: TF-IDF does not see them, which is what ``ideas.embedding_pairs`` is for.
``tests/test_analysis_diversity.py`` pins these ranges.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from daydream.analysis.frames import AnalysisInputError

NEAR_DUPLICATE = 0.6
"""TF-IDF cosine at or above which two texts are near-duplicates (see the module docstring)."""
MAX_BLOCK_CELLS = 50_000_000
"""Most cells of all per-block similarity matrices together (sum of block sizes squared): 7,000
texts in one block. A larger input is refused before any work, with the advice to block it."""
_SEPARATORS = str.maketrans(
    {c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00ab\u00bb"}
)
PAIR_COLUMNS = ["i", "j", "similarity"]


def tokenize(text: str) -> list[str]:
    """Lower-cased words: runs of characters between whitespace and ASCII punctuation (and the usual
    typographic quotes and dashes). A translate and a split, ~3x faster than a regex tokenizer."""
    return text.lower().translate(_SEPARATORS).split()


def tfidf_matrix(texts: Sequence[str], bigrams: bool = True) -> sparse.csr_matrix:
    """``len(texts) x features`` TF-IDF rows, L2-normalised (an empty text is a zero row)."""
    tokens = [tokenize(t) for t in texts]
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    flat = [w for doc in tokens for w in doc]
    if not flat:
        return sparse.csr_matrix((len(texts), 0))
    ids, vocab = pd.factorize(pd.Series(flat, dtype=object))
    doc_of = np.repeat(np.arange(len(texts)), lengths)
    features, rows = [ids.astype(np.int64)], [doc_of]
    if bigrams:
        same_doc = doc_of[1:] == doc_of[:-1]
        pair = ids[:-1].astype(np.int64) * len(vocab) + ids[1:]
        pair_ids, pair_vocab = pd.factorize(pair[same_doc])
        features.append(len(vocab) + pair_ids.astype(np.int64))
        rows.append(doc_of[1:][same_doc])
    n_features = len(vocab) + (len(pair_vocab) if bigrams else 0)
    counts = sparse.csr_matrix(
        (np.ones(sum(f.size for f in features)), (np.concatenate(rows), np.concatenate(features))),
        shape=(len(texts), n_features),
    )
    counts.sum_duplicates()
    df = np.diff(counts.tocsc().indptr)
    idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
    counts.data = 1.0 + np.log(counts.data)
    weighted = counts @ sparse.diags(idf)
    return normalize_rows(weighted)


def normalize_rows(matrix: sparse.spmatrix | np.ndarray) -> sparse.csr_matrix | np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), sparse or dense."""
    if sparse.issparse(matrix):
        csr = sparse.csr_matrix(matrix, dtype=float)
        norms = np.sqrt(np.asarray(csr.multiply(csr).sum(axis=1)).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return sparse.csr_matrix(sparse.diags(scale) @ csr)
    dense = np.asarray(matrix, dtype=float)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)


SMALL_BLOCK = 64
"""Blocks up to this size are compared as one list of pairs (vectorised over all blocks); larger
ones by a matrix product each."""


def _pairs_within(order: np.ndarray, bounds: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(order[a], order[b])``, ``a < b``, inside each of ``blocks``."""
    lefts, rights = [], []
    sizes = bounds[blocks + 1] - bounds[blocks]
    for size in np.unique(sizes):
        starts = bounds[blocks[sizes == size]]
        a, b = np.triu_indices(int(size), k=1)
        lefts.append(order[(starts[:, None] + a[None, :]).ravel()])
        rights.append(order[(starts[:, None] + b[None, :]).ravel()])
    return np.concatenate(lefts), np.concatenate(rights)


def _row_dots(vectors: sparse.spmatrix | np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    if sparse.issparse(vectors):
        csr = sparse.csr_matrix(vectors)
        return np.asarray(csr[i].multiply(csr[j]).sum(axis=1)).ravel()
    dense = np.asarray(vectors)
    step = max(1, 4_000_000 // max(dense.shape[1], 1))  # gather at most ~4M values at a time
    return np.concatenate(
        [np.einsum("ij,ij->i", dense[i[k : k + step]], dense[j[k : k + step]]) for k in range(0, i.size, step)]
        or [np.zeros(0)]
    )


def similar_pairs(
    vectors: sparse.spmatrix | np.ndarray, threshold: float, blocks: np.ndarray | None = None
) -> pd.DataFrame:
    """Pairs ``i < j`` in the same block with ``cosine(vectors[i], vectors[j]) >= threshold``.

    ``vectors`` rows must be L2-normalised (``tfidf_matrix``, ``normalize_rows``). ``blocks``: a code
    per row; only rows of one block are compared (None: all rows are one block). Output columns
    ``PAIR_COLUMNS``, sorted by ``i`` then ``j``.
    """
    n = vectors.shape[0]
    codes = np.zeros(n, dtype=np.int64) if blocks is None else pd.factorize(pd.Series(blocks))[0].astype(np.int64)
    sizes = np.bincount(codes) if n else np.zeros(0, dtype=np.int64)
    cells = int((sizes.astype(np.int64) ** 2).sum())
    if cells > MAX_BLOCK_CELLS:
        raise AnalysisInputError(
            f"similar_pairs: {cells:,} similarity cells (sum of block sizes squared), more than {MAX_BLOCK_CELLS:,}; "
            "compare within smaller blocks (e.g. per combo)"
        )
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    found_s: list[np.ndarray] = []
    small = (sizes >= 2) & (sizes <= SMALL_BLOCK)
    if small.any():  # all pairs of all small blocks at once: one row-wise product
        i, j = _pairs_within(order, bounds, np.flatnonzero(small))
        sim = _row_dots(vectors, i, j)
        hit = sim >= threshold
        found_i.append(i[hit])
        found_j.append(j[hit])
        found_s.append(sim[hit])
    for b in np.flatnonzero(sizes > SMALL_BLOCK):
        members = order[bounds[b] : bounds[b + 1]]
        block = vectors[members]
        sim = block @ block.T
        sim = sim.toarray() if sparse.issparse(sim) else np.asarray(sim)
        rows, cols = np.nonzero(np.triu(sim >= threshold, k=1))
        found_i.append(members[rows])
        found_j.append(members[cols])
        found_s.append(sim[rows, cols])
    if not found_i:
        return pd.DataFrame({c: np.array([], dtype=t) for c, t in zip(PAIR_COLUMNS, (int, int, float), strict=True)})
    i, j, s = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    out = pd.DataFrame({"i": lo, "j": hi, "similarity": np.clip(s, -1.0, 1.0)})
    return out.sort_values(["i", "j"], kind="stable").reset_index(drop=True)
