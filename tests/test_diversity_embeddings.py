"""Embedding clusters of ideas, end to end over real HTTP: the offline LLM's ``/embeddings``, the
client's ``embed`` through the real ``openai`` package, and a cohort report that uses them."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import openai
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from llm_fixtures import CANARY, make_client, offline_server  # noqa: E402
from reports_fixtures import StoreBuilder  # noqa: E402

from daydream.errors import LLMError  # noqa: E402
from daydream.llm.offline.embeddings import DIMENSIONS, embed_text  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402
from daydream.reports import build_cohort_reports  # noqa: E402
from daydream.reports.diversity import embedder_for  # noqa: E402

__all__ = ["offline_server"]  # fixture used by name
MODEL = "offline-embed"
SLOW_OK = {"timeout_s": 120.0}
"""The shared test machine can be very loaded: a generous per-request timeout keeps a slow answer
from being taken for a failed endpoint."""
BASE = (
    "A lighthouse keeper learns to read the tides as a ledger of debts owed by the moon, and builds "
    "a clock that runs on the interest."
)
EDITED = BASE.replace("builds", "designs") + " Truly."
OTHER = "Copper wires hum beneath a frozen meadow while foxes map the signal into songs about rain."


def _cos(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_embed_through_the_openai_client_is_deterministic_and_similarity_tracks_wording(offline_server):
    client = make_client(offline_server, embedding_model=MODEL, **SLOW_OK)
    first = client.embed([BASE, EDITED, OTHER])
    again = client.embed([BASE, EDITED, OTHER])
    assert first == again and len(first) == 3 and all(len(v) == DIMENSIONS for v in first)
    assert _cos(first[0], first[1]) > 0.9
    assert _cos(first[0], first[2]) < 0.5
    assert first[0] == pytest.approx(embed_text(BASE), abs=1e-6)


def test_the_openai_default_base64_encoding_decodes_to_the_same_vectors(offline_server):
    raw = openai.OpenAI(base_url=offline_server.base_url, api_key=CANARY, max_retries=0, timeout=120.0)
    response = raw.embeddings.create(model=MODEL, input=[BASE, OTHER])  # openai asks for base64 by default
    assert [d.index for d in response.data] == [0, 1]
    assert response.data[0].embedding == pytest.approx(embed_text(BASE), abs=1e-6)


def test_without_an_embedding_model_or_endpoint_embed_fails_in_one_line(offline_server):
    with pytest.raises(LLMError, match="no embedding model") as no_model:
        make_client(offline_server, **SLOW_OK).embed([BASE])
    assert "\n" not in str(no_model.value)
    offline_server.configure(missing_endpoints=["embeddings"])
    with pytest.raises(LLMError) as missing:
        make_client(offline_server, embedding_model=MODEL, **SLOW_OK).embed([BASE])
    assert "404" in str(missing.value) and CANARY not in str(missing.value)
    assert embedder_for(make_client(offline_server)) is None  # no embedding_model: TF-IDF only


def test_report_adds_embedding_clusters(tmp_path, offline_server):
    """Four replicates of one prompt: BASE, its light edit, and two unrelated texts -> 3 ideas by
    TF-IDF and by embeddings; the report records both."""
    rng = random.Random(5)
    b = StoreBuilder(tmp_path)
    combo = b.combo(["alpha", "beta"])
    draft = b.draft(combo, "dt-v1", "gen1")
    words = "river lantern orbit copper meadow signal harbor thread prism echo garden".split()
    texts = [BASE, EDITED, OTHER, " ".join(rng.choice(words) + str(rng.randint(0, 99)) for _ in range(40))]
    essays = [b.essay(draft, "et-v1", "gen1", replicate=i + 1, text=t) for i, t in enumerate(texts)]
    for essay in essays:
        b.evaluation(essay, "judge-b", "j1", 6)
    b.write_membership("c1")
    embed = embedder_for(make_client(offline_server, embedding_model=MODEL, **SLOW_OK))
    assert embed is not None
    result = build_cohort_reports(DataLayout(tmp_path), "c1", embed=embed)
    clusters = pd.read_csv(result.output_dir / "analysis/near_duplicates.csv").set_index("gen_id")
    assert clusters.loc[essays[0], "embedding_cluster"] == clusters.loc[essays[1], "embedding_cluster"]
    assert clusters.loc[essays[2], "embedding_cluster"] != clusters.loc[essays[3], "embedding_cluster"]
    summary = pd.read_csv(result.output_dir / "analysis/distinct_ideas.csv")
    row = summary[summary["stage"] == "essay"].iloc[0]
    assert (row["n_generated"], row["n_distinct"], row["n_distinct_embedding"]) == (4, 3, 3)
    assert "embedding clusters" in (result.output_dir / "index.html").read_text()


def test_a_failing_embedding_endpoint_leaves_the_tfidf_clusters(tmp_path, offline_server):
    b = StoreBuilder(tmp_path)
    draft = b.draft(b.combo(["alpha", "beta"]), "dt-v1", "gen1")
    essays = [b.essay(draft, "et-v1", "gen1", replicate=i + 1, text=t) for i, t in enumerate([BASE, EDITED])]
    for essay in essays:
        b.evaluation(essay, "judge-b", "j1", 6)
    b.write_membership("c1")
    offline_server.configure(missing_endpoints=["embeddings"])
    embed = embedder_for(make_client(offline_server, embedding_model=MODEL, max_retries=0, **SLOW_OK))
    result = build_cohort_reports(DataLayout(tmp_path), "c1", embed=embed)
    summary = pd.read_csv(result.output_dir / "analysis/distinct_ideas.csv")
    assert summary[summary["stage"] == "essay"]["n_distinct"].tolist() == [1]
    assert summary["n_distinct_embedding"].isna().all()
    page = (result.output_dir / "index.html").read_text()
    assert "embedding clusters not computed" in page and "404" in page and CANARY not in page
