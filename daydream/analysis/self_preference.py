"""Self-preference: does a judge score essays written by its own model (or family) higher?

A raw gap (the judge's mean on its own family's essays minus its mean on the others) mixes two
things: self-preference, and its family simply writing better (or worse) essays. So the measure is
a difference in differences: the judge's gap minus the same gap as seen by the judges of *other*
families on the same essays,

    self_preference = (own_J - other_J) - (own_O - other_O),

where ``own_X``/``other_X`` are judges X's mean scores on essays of J's family / of other families,
``O`` the judges outside J's family, each on essays not of its own family (so their own
self-preference does not leak into J's baseline). Essay quality cancels when both sets of judges see
the same essays (cf. Panickssery et al. 2024, "LLM evaluators recognize and favor their own generations",
which also controls for quality). All four means come from one document-cluster bootstrap, so the
interval and the p-value (``bootstrap.difference_test``) account for their correlation. Use a
z-scored value (``calibration.zscore_by_judge``) when judges use different scales.

A model's family is the prefix of its model string before ``/`` (``anthropic/claude-sonnet-4`` ->
``anthropic``); the model itself is the string without a ``:variant`` suffix
(``deepseek/deepseek-r1:free`` -> ``deepseek/deepseek-r1``), so a free and a paid endpoint of one
model count as one model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from daydream.analysis.bootstrap import cell_totals, difference_test, resample_global
from daydream.analysis.frames import (
    LEVEL,
    N_BOOT,
    SEED,
    check_level,
    finite_values,
    group_codes,
    require_columns,
)

Granularity = Literal["family", "model"]
SELF_COLUMNS = [
    "judge",
    "n_own",
    "n_other",
    "mean_own",
    "mean_other",
    "gap",
    "others_gap",
    "self_preference",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
]


def model_family(model: str) -> str:
    """``provider/name`` -> ``provider`` (lower case); a string without ``/`` is its own family."""
    text = str(model).strip().lower()
    return text.split("/", 1)[0] if "/" in text else model_name(text)


def model_name(model: str) -> str:
    """The model string without a ``:variant`` suffix, lower case."""
    return str(model).strip().lower().split(":", 1)[0]


def _mapped(column: pd.Series, ident: Callable[[str], str]) -> np.ndarray:
    """``ident`` of every value, computed once per distinct value (a report has 100,000 rows, a few models)."""
    uniques = column.unique()
    return column.map({value: ident(value) for value in uniques}).to_numpy(dtype=object)


def _judge_cells(judges: np.ndarray, authors: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cell of each) for one bootstrap over all judges: cells 4k..4k+3 are judge identity k's
    0 own_J, 1 other_J (judges of identity J), 2 own_O, 3 other_O (the other judges, on essays not of
    their own identity, so their self-preference stays out of J's baseline). A row may serve several k."""
    row_parts, cell_parts = [], []
    for k, name in enumerate(names):
        by_self = judges == name
        own_essay = authors == name
        keep = np.flatnonzero(by_self | (judges != authors))
        cell = np.where(by_self, np.where(own_essay, 0, 1), np.where(own_essay, 2, 3))[keep]
        row_parts.append(keep)
        cell_parts.append(4 * k + cell)
    if not row_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(row_parts), np.concatenate(cell_parts)


def self_preference(
    frame: pd.DataFrame,
    value: str,
    judge_model: str = "judge_model",
    author_model: str = "author_model",
    granularity: Granularity = "family",
    document: str = "document_gen_id",
    *,
    n_boot: int = N_BOOT,
    seed: int = SEED,
    level: float = LEVEL,
) -> pd.DataFrame:
    """One row per judge identity (family or model): ``SELF_COLUMNS``.

    ``frame``: usable evaluations with the judge's and the author's *model strings* (map catalog ids
    to the ``model`` column of ``llm_models.csv`` first). ``gap`` is the raw own-minus-other gap;
    ``others_gap`` the gap of the other families' judges on the same essay groups; the rest describe
    ``self_preference = gap - others_gap``. Without essays of both kinds, or without other judges,
    the undefined numbers are NaN.
    """
    check_level(level)
    require_columns(frame, [value, judge_model, author_model, document], "self_preference input")
    y = finite_values(frame, value, "self_preference input")
    ident = model_family if granularity == "family" else model_name
    judges = _mapped(frame[judge_model], ident)
    authors = _mapped(frame[author_model], ident)
    clusters, _ = group_codes(frame, [document])
    names = sorted(set(judges))
    rows_used, cells = _judge_cells(judges, authors, names)
    _, (sums, counts) = cell_totals(clusters[rows_used], cells, 4 * len(names), [y[rows_used], np.ones(rows_used.size)])
    (s_pt, n_pt), (s_dr, n_dr) = resample_global([sums, counts], n_boot, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_pt, m_dr = s_pt / n_pt, s_dr / n_dr
    n_docs = np.diff(counts.tocsc().indptr)
    out = []
    for k, name in enumerate(names):
        own_j, other_j, own_o, other_o = 4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3
        gap, others = m_pt[own_j] - m_pt[other_j], m_pt[own_o] - m_pt[other_o]
        did_draws = (m_dr[:, own_j] - m_dr[:, other_j]) - (m_dr[:, own_o] - m_dr[:, other_o])
        m = np.array([n_docs[own_j : other_o + 1].min()])
        test = difference_test(np.array([gap - others]), did_draws[:, None], m, level)
        out.append(
            [
                name,
                int(n_pt[own_j]),
                int(n_pt[other_j]),
                m_pt[own_j],
                m_pt[other_j],
                gap,
                others,
                gap - others,
                test.se[0],
                test.ci_low[0],
                test.ci_high[0],
                test.p_value[0],
            ]
        )
    return pd.DataFrame(out, columns=SELF_COLUMNS)
