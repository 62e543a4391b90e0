"""Near-duplicates and distinct ideas: TF-IDF by hand, the threshold on the fixtures
(tests/fixtures/diversity/labels.json), NoveltyBench-style classes and saturation curves, and the
embedding path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from daydream.analysis.frames import AnalysisInputError
from daydream.analysis.ideas import distinct_ideas, embedding_clusters, leader_clusters, text_clusters
from daydream.analysis.text_similarity import (
    NEAR_DUPLICATE,
    normalize_rows,
    similar_pairs,
    tfidf_matrix,
    tokenize,
)

FIXTURES = Path(__file__).parent / "fixtures" / "diversity"
LABELS = json.loads((FIXTURES / "labels.json").read_text(encoding="utf-8"))
NAMES = sorted(LABELS["ideas"])
TEXTS = [(FIXTURES / name).read_text(encoding="utf-8") for name in NAMES]


def test_tfidf_by_hand() -> None:
    assert tokenize("Don\u2019t  stop: AI-driven 2x! «Café»") == ["don", "t", "stop", "ai", "driven", "2x", "café"]
    matrix = tfidf_matrix(["a b", "a c"], bigrams=False).toarray()
    # df(a) = 2 -> idf = ln(3/3) + 1 = 1; df(b) = df(c) = 1 -> idf = ln(3/2) + 1
    idf = np.log(1.5) + 1.0
    row = np.array([1.0, idf]) / np.hypot(1.0, idf)
    assert matrix[0, :2] == pytest.approx(row) and matrix[1, [0, 2]] == pytest.approx(row)
    counts = tfidf_matrix(["x x x y"], bigrams=False).toarray()[0]
    assert counts[0] / counts[1] == pytest.approx(1.0 + np.log(3.0))  # sublinear tf, same idf
    assert tfidf_matrix(["", "a"]).toarray()[0].sum() == 0.0


def test_threshold_separates_the_fixtures() -> None:
    sim = (tfidf_matrix(TEXTS) @ tfidf_matrix(TEXTS).T).toarray()
    index = {name: k for k, name in enumerate(NAMES)}
    near = [sim[index[a], index[b]] for a, b in LABELS["near_duplicates"]]
    para = [sim[index[a], index[b]] for a, b in LABELS["paraphrases"]]
    distinct = [
        sim[index[a], index[b]]
        for k, a in enumerate(NAMES)
        for b in NAMES[k + 1 :]
        if LABELS["ideas"][a] != LABELS["ideas"][b]
    ]
    # the ranges docs/analysis.md quotes: edits >= 0.8, distinct essays on one concept triple <= 0.2
    assert min(near) > 0.8 > NEAR_DUPLICATE > 0.2 > max(distinct)
    assert max(para) < NEAR_DUPLICATE  # TF-IDF does not see paraphrases: the embedding path's job


def test_threshold_is_about_a_fifth_of_the_words_changed() -> None:
    rng = np.random.default_rng(0)
    originals = [t for n, t in zip(NAMES, TEXTS, strict=True) if "_dup" not in n and "_para" not in n]
    for rate, above in ((0.1, True), (0.3, False)):
        for text in originals:
            words = text.split()
            for k in rng.choice(len(words), int(rate * len(words)), replace=False):
                words[k] = f"zz{rng.integers(10_000)}"
            matrix = tfidf_matrix([*TEXTS, " ".join(words)])
            similarity = (matrix[-1] @ matrix[TEXTS.index(text)].T).toarray()[0, 0]
            assert bool(similarity >= NEAR_DUPLICATE) == above, (rate, similarity)


def test_idea_classes_of_the_fixtures() -> None:
    labels = text_clusters(TEXTS)
    by_name = dict(zip(NAMES, labels, strict=True))
    for a, b in LABELS["near_duplicates"]:
        assert by_name[a] == by_name[b]
    distinct_ideas_in_fixtures = len(set(LABELS["ideas"].values()))
    assert len(set(labels)) == distinct_ideas_in_fixtures + len(LABELS["paraphrases"])


def test_similar_pairs_only_within_blocks_and_bounded() -> None:
    vectors = normalize_rows(np.array([[1.0, 0.0], [1.0, 0.01], [1.0, 0.0], [0.0, 1.0]]))
    pairs = similar_pairs(vectors, 0.99)
    assert list(zip(pairs["i"], pairs["j"], strict=True)) == [(0, 1), (0, 2), (1, 2)]
    blocked = similar_pairs(vectors, 0.99, blocks=np.array(["x", "x", "y", "y"]))
    assert list(zip(blocked["i"], blocked["j"], strict=True)) == [(0, 1)]
    with pytest.raises(AnalysisInputError, match="smaller blocks"):
        similar_pairs(np.zeros((8000, 2)), 0.9)


def test_leader_clusters_do_not_chain() -> None:
    # 0~1 and 1~2 but not 0~2: single linkage would make one class; leaders make two
    pairs = pd.DataFrame({"i": [0, 1], "j": [1, 2], "similarity": [0.9, 0.9]})
    assert leader_clusters(3, pairs).tolist() == [0, 0, 1]
    # processing order matters: with 1 first, it leads both 0 and 2
    assert leader_clusters(3, pairs, order=np.array([1, 0, 2])).tolist() == [0, 0, 0]
    # the most similar leader is joined
    pairs = pd.DataFrame({"i": [0, 1], "j": [2, 2], "similarity": [0.7, 0.95]})
    assert leader_clusters(3, pairs).tolist() == [0, 1, 1]


def test_distinct_ideas_and_saturation_curve() -> None:
    frame = pd.DataFrame(
        {
            "combo_id": ["c1"] * 5 + ["c2"] * 3,
            "essay_template": "t",
            "generation_model": "m",
            "order": [3, 1, 2, 5, 4, 1, 2, 3],
            "cluster": ["x", "x", "y", "z", "x", "p", "p", "p"],
        }
    )
    summary, curve = distinct_ideas(frame)
    assert summary[["combo_id", "n_generated", "n_distinct"]].values.tolist() == [["c1", 5, 3], ["c2", 3, 1]]
    c1 = curve[curve["combo_id"] == "c1"]
    # in generation order: x (1), y (2), x (3), x (4), z (5)
    assert c1["k"].tolist() == [1, 2, 3, 4, 5] and c1["distinct"].tolist() == [1, 2, 2, 2, 3]
    assert curve[curve["combo_id"] == "c2"]["distinct"].tolist() == [1, 1, 1]
    assert summary.loc[0, "distinct_share"] == pytest.approx(0.6)


def test_embedding_path() -> None:
    rng = np.random.default_rng(0)
    ideas = rng.normal(size=(4, 32))
    embeddings = np.vstack([ideas, ideas[[0, 0, 2]] + rng.normal(0, 0.05, (3, 32))])  # 3 rephrasings
    labels = embedding_clusters(embeddings)
    assert labels.tolist() == [0, 1, 2, 3, 0, 0, 2]
    blocks = np.array(["a", "a", "a", "a", "b", "b", "b"])
    assert embedding_clusters(embeddings, blocks=blocks).tolist() == [0, 1, 2, 3, 4, 4, 5]
    with pytest.raises(AnalysisInputError, match="finite"):
        embedding_clusters(np.array([[np.nan, 1.0]]))
