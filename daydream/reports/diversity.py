"""How many different ideas? Near-duplicate clusters of a cohort's drafts and essays, distinct ideas
per prompt and model, and saturation curves (issue 14, section 4).

The texts are the generations' ``parsed.txt``, read once here (also for the judges' length bias,
``reports.bias``) through ``safefs``: no link is followed, no id outside the grammar becomes a path,
and each file is cut at ``TEXT_BYTES`` so a hostile store cannot make the report read gigabytes.

Clusters are ``analysis.ideas``' leader classes within a **group**: one prompt on one model (combo x
template x model; for a copy-mode essay, its essay template). Texts are taken in replicate order.
Two texts are near-duplicates at a TF-IDF cosine of ``analysis.text_similarity.NEAR_DUPLICATE`` (0.6,
"about four fifths of the wording shared", docs/analysis.md). With an ``embed`` function (the LLM
client's ``embed`` when the connection names an ``embedding_model``), the same classes are also
formed from embeddings at ``analysis.ideas.EMBEDDING_SIMILAR`` (cosine 0.9): the same idea in other
words.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from daydream.analysis import ideas
from daydream.analysis.frames import AnalysisInputError
from daydream.analysis.text_similarity import NEAR_DUPLICATE
from daydream.errors import DayDreamError
from daydream.paths import DataLayout, Stage
from daydream.reports.aggregate import ScopeData
from daydream.reports.safefs import invalid_id, open_gen_dir, open_stage_dir, read_bytes
from daydream.storage.objpath import ObjectPath

TEXT_BYTES = 65_536
"""At most this many bytes of each text are read (an essay is a few thousand)."""
TOTAL_TEXT_BYTES = 512 << 20
"""At most this many bytes of text in all (a hostile store of huge files stays bounded): beyond it the
remaining texts are left out of the length and diversity checks, and the page says so."""
EMBED_BATCH = 64
"""Texts per embedding request."""
GROUP = ["stage", "combo_id", "template_id", "llm_model_id"]
"""A group: one prompt (combo x template of a stage) on one model."""
Embedder = Callable[[Sequence[str]], np.ndarray]
"""Texts -> an ``n x d`` matrix (``LLMClient.embed`` wrapped by ``embedder_for``)."""

CLUSTER_COLUMNS = [
    "stage",
    "gen_id",
    "combo_id",
    "template_id",
    "llm_model_id",
    "replicate",
    "words",
    "cluster",
    "cluster_size",
    "representative",
    "embedding_cluster",
]
SUMMARY_COLUMNS = [*GROUP, "n_generated", "n_distinct", "distinct_share", "n_distinct_embedding"]
CURVE_COLUMNS = [*GROUP, "k", "distinct"]


def read_texts(
    layout: DataLayout, stage: Stage, gen_ids: Sequence[str], budget: list[int] | None = None
) -> dict[str, str]:
    """``parsed.txt`` of each readable generation (refused, missing or unreadable ones are left out).

    ``budget``: ``[bytes left]``, shared between calls; reading stops when it runs out."""
    out: dict[str, str] = {}
    budget = budget if budget is not None else [TOTAL_TEXT_BYTES]
    if gen_ids and isinstance(layout.root, ObjectPath):  # one listing, concurrent GETs
        from daydream.reports import loader_objects

        for gen_id, data in loader_objects.read_texts(layout, stage, gen_ids, TEXT_BYTES).items():
            if budget[0] <= 0:
                break
            budget[0] -= len(data)
            out[gen_id] = data.decode("utf-8", errors="replace")
        return out
    stage_fd = open_stage_dir(layout, stage) if gen_ids else None
    if stage_fd is None:
        return out
    try:
        for gen_id in gen_ids:
            if budget[0] <= 0:
                break
            if invalid_id(gen_id) is not None:
                continue
            fd, _ = open_gen_dir(stage_fd, gen_id)
            if fd is None:
                continue
            try:
                data = read_bytes("parsed.txt", fd, TEXT_BYTES, cut=True)
                budget[0] -= len(data)
                out[gen_id] = data.decode("utf-8", errors="replace")
            except OSError:
                pass
            finally:
                os.close(fd)
    finally:
        os.close(stage_fd)
    return out


@dataclass
class Texts:
    """The cohort's done drafts and essays with their group columns and text."""

    frame: pd.DataFrame
    """``stage, gen_id, combo_id, template_id, llm_model_id, replicate, text, words``."""
    problem: str | None = None

    def words_of(self) -> pd.Series:
        return self.frame.set_index("gen_id")["words"]


def load_texts(layout: DataLayout, data: ScopeData) -> Texts:
    """Every member draft and essay that is done (``parsed.txt``), with its combo (an essay's is its
    draft's) and its word count."""
    parts = []
    budget = [TOTAL_TEXT_BYTES]
    drafts = data.gens["draft"]
    combo_of = drafts.set_index("gen_id")["combo_id"] if not drafts.empty else pd.Series(dtype=object)
    for stage in ("draft", "essay"):
        gens = data.gens[stage]
        if gens.empty:
            continue
        done = gens[gens["state"].isin(["done", "stale"])]
        texts = read_texts(layout, stage, list(done["gen_id"]), budget)
        frame = done[done["gen_id"].isin(texts.keys())][
            ["gen_id", "combo_id", "template_id", "llm_model_id", "replicate"]
        ]
        frame = frame.assign(stage=stage, text=frame["gen_id"].map(texts))
        if stage == "essay":
            own = frame["combo_id"].astype(str)
            parent = gens.set_index("gen_id").loc[frame["gen_id"], "parent_gen_id"].map(combo_of)
            frame["combo_id"] = own.where(own != "", parent.fillna("").astype(str).to_numpy())
        parts.append(frame)
    columns = ["stage", "gen_id", "combo_id", "template_id", "llm_model_id", "replicate", "text", "words"]
    if not parts:
        return Texts(pd.DataFrame(columns=columns))
    frame = pd.concat(parts, ignore_index=True)
    frame["words"] = [len(text.split()) for text in frame["text"].tolist()]  # a third of .str.split().str.len()
    problem = (
        f"texts read up to the limit of {TOTAL_TEXT_BYTES:,} bytes in all; the rest are left out of the "
        "length and diversity checks"
        if budget[0] <= 0
        else None
    )
    return Texts(frame[columns], problem)


class _Embeds(Protocol):
    settings: Any

    def embed(self, texts: Sequence[str], *, model: str | None = None) -> list[list[float]]: ...


def embedder_for(client: _Embeds | None) -> Embedder | None:
    """The report's ``embed`` from an LLM client (``OpenAICompatibleClient``, ``LLMHook.get_conn()``):
    None when its settings name no ``embedding_model`` (then the diversity tables use TF-IDF only)."""
    if client is None or not getattr(client.settings, "embedding_model", None):
        return None

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.asarray(client.embed(texts), dtype=float)

    return embed


def _embedding_labels(frame: pd.DataFrame, blocks: np.ndarray, order: np.ndarray, embed: Embedder) -> np.ndarray:
    texts = frame["text"].tolist()
    chunks = [np.asarray(embed(texts[i : i + EMBED_BATCH]), dtype=float) for i in range(0, len(texts), EMBED_BATCH)]
    matrix = np.vstack(chunks) if chunks else np.zeros((0, 1))
    return ideas.embedding_clusters(matrix, blocks, order)


@dataclass
class Diversity:
    clusters: pd.DataFrame
    summary: pd.DataFrame
    curve: pd.DataFrame
    embeddings: bool
    threshold: float = NEAR_DUPLICATE
    problem: str | None = None
    """Why a part was left out (a group above the similarity limit, an embedding request that failed)."""


def diversity(texts: Texts, embed: Embedder | None = None) -> Diversity:
    """Clusters per group, distinct ideas and the saturation curve (see the module docstring).

    Never stops the report: a group above ``text_similarity.MAX_BLOCK_CELLS`` leaves the tables
    empty, and a failed embedding request leaves the TF-IDF clusters without embedding ones; either
    way ``problem`` says why, and the page shows it.
    """
    frame = texts.frame
    empty = Diversity(
        pd.DataFrame(columns=CLUSTER_COLUMNS),
        pd.DataFrame(columns=SUMMARY_COLUMNS),
        pd.DataFrame(columns=CURVE_COLUMNS),
        embed is not None,
    )
    empty.problem = texts.problem
    if frame.empty:
        return empty
    frame = frame.sort_values([*GROUP, "replicate", "gen_id"], kind="stable").reset_index(drop=True)
    keys = [frame[column].astype(str) for column in GROUP]
    blocks = keys[0].str.cat(keys[1:], sep="|").to_numpy()  # vectorised: a row-wise join took seconds
    order = np.arange(len(frame))
    try:
        labels = ideas.text_clusters(frame["text"].tolist(), blocks, order)
    except AnalysisInputError as exc:
        empty.problem = f"near-duplicates not computed: {exc}"
        return empty
    out = frame.drop(columns=["text"]).assign(cluster=[f"t{label}" for label in labels])
    out["cluster_size"] = out.groupby("cluster")["gen_id"].transform("size").to_numpy()
    out["representative"] = out.groupby("cluster")["gen_id"].transform("first").to_numpy()
    out["embedding_cluster"] = ""
    problem, embedded = texts.problem, False
    if embed is not None:
        try:
            out["embedding_cluster"] = [f"e{label}" for label in _embedding_labels(frame, blocks, order, embed)]
            embedded = True
        except DayDreamError as exc:  # an LLMError of the endpoint, or a malformed matrix
            problem = "; ".join(filter(None, [problem, f"embedding clusters not computed: {exc}"]))
    summary, curve = ideas.distinct_ideas(out.assign(order=order), "cluster", GROUP, "order")
    summary["n_distinct_embedding"] = np.nan
    if embedded:
        emb_summary, _ = ideas.distinct_ideas(out.assign(order=order), "embedding_cluster", GROUP, "order")
        summary["n_distinct_embedding"] = emb_summary["n_distinct"].to_numpy()
    return Diversity(
        out[CLUSTER_COLUMNS],
        summary[SUMMARY_COLUMNS],
        curve[CURVE_COLUMNS],
        embedded,
        problem=problem,
    )


def headline(result: Diversity) -> dict[str, dict[str, int]]:
    """Totals for the page: per stage, texts, distinct ideas and groups with a near-duplicate."""
    rows = {}
    for stage, sub in result.summary.groupby("stage", sort=True):
        rows[str(stage)] = {
            "generated": int(sub["n_generated"].sum()),
            "distinct": int(sub["n_distinct"].sum()),
            "groups": len(sub),
            "groups_with_duplicates": int((sub["n_distinct"] < sub["n_generated"]).sum()),
        }
    return rows
