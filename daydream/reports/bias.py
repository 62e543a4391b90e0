"""Can the judges be trusted? The judge bias checks of a cohort's report (issue 14, section 2).

Per judge (evaluation model x evaluation template), on the 0..10 scale (``score_normalized * 10``)
of the usable evaluations, with ``daydream.analysis``'s statistics (docs/analysis.md):

- calibration: where each judge's scores sit and how spread they are; the generation pivot and the
  leaderboard also carry ``mean_z``, the mean of a document's z-scored evaluations, so two judges
  on different scales weigh the same;
- length bias: Pearson's r (with interval) and Spearman's rho of score against the document's
  length in words, and length-controlled means of each essay template and generation model;
- self-preference: a judge's scores for essays of its own model family vs the other judges' gap on
  the same essays (model strings from ``llm_models.csv``; an id the catalog lacks is its own family);
- position bias: from pairwise comparisons judged in both orders. A cohort has them only once a
  tournament has run; until then the table is empty and the page says "no pairwise data".
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from daydream.analysis import length, position, self_preference
from daydream.analysis.calibration import CALIBRATION_COLUMNS, JUDGE, judge_calibration
from daydream.catalogs import Catalogs
from daydream.reports.uncertainty import X10

LENGTH = "words"
"""A document's length: the words of its ``parsed.txt``."""
LENGTH_FACTORS = ("essay_template", "generation_model", "draft_template")
CALIBRATION_TABLE = [*JUDGE, *CALIBRATION_COLUMNS]
LENGTH_TABLE = [*JUDGE, *length.CORRELATION_COLUMNS]
CONTROLLED_TABLE = [*JUDGE, "factor", "level", *length.CONTROLLED_COLUMNS]
SELF_TABLE = ["granularity", *self_preference.SELF_COLUMNS]
POSITION_TABLE = [*JUDGE, *position.POSITION_COLUMNS]
PAIRWISE_COLUMNS = ["document_a", "document_b", "verdict", *JUDGE]
"""A comparisons frame: the two documents as presented (A first), the verdict (``A``/``B``/``tie``)."""
NO_PAIRWISE = (
    "No pairwise data: position bias needs pairs of documents judged in both orders, which a "
    "tournament produces. Absolute scores cannot show it."
)


def calibration(used: pd.DataFrame) -> pd.DataFrame:
    if used.empty:
        return pd.DataFrame(columns=CALIBRATION_TABLE)
    return judge_calibration(used, X10)


def with_length(used: pd.DataFrame, words: pd.Series) -> pd.DataFrame:
    """The usable rows whose document's text was read, with its ``words``."""
    return used.assign(**{LENGTH: used["document_gen_id"].map(words)}).dropna(subset=[LENGTH])


def length_bias(sized: pd.DataFrame) -> pd.DataFrame:
    if sized.empty:
        return pd.DataFrame(columns=LENGTH_TABLE)
    return length.length_correlation(sized, X10, LENGTH)


def length_controlled(sized: pd.DataFrame) -> pd.DataFrame:
    """Length-controlled means per judge of each ``LENGTH_FACTORS`` level (``factor``/``level``)."""
    parts = []
    for factor in LENGTH_FACTORS if not sized.empty else ():
        work = sized.assign(level=sized[factor].astype(str).replace("", "(none)"))
        if work["level"].nunique() < 1:
            continue
        table = length.length_controlled_means(work, X10, "level", LENGTH)
        table.insert(len(JUDGE), "factor", factor)
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=CONTROLLED_TABLE)
    return pd.concat(parts, ignore_index=True)[CONTROLLED_TABLE]


def model_strings(catalogs: Catalogs | None) -> Mapping[str, str]:
    """Catalog model id -> its API model string (``llm_models.csv``'s ``model`` column)."""
    if catalogs is None:
        return {}
    return {model_id: str(m.model) for model_id, m in catalogs.models.items() if getattr(m, "model", None)}


def self_preferences(used: pd.DataFrame, catalogs: Catalogs | None) -> pd.DataFrame:
    """Self-preference by model family and by model (a judge and an author of one family are needed)."""
    if used.empty:
        return pd.DataFrame(columns=SELF_TABLE)
    strings = model_strings(catalogs)
    judge = used["evaluation_llm"].astype(str)
    author = used["generation_model"].astype(str)
    frame = used.assign(
        judge_model=judge.map(lambda m: strings.get(m, m)),
        author_model=author.map(lambda m: strings.get(m, m)),
    )
    parts = []
    for granularity in ("family", "model"):
        table = self_preference.self_preference(frame, X10, granularity=granularity)
        table.insert(0, "granularity", granularity)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)[SELF_TABLE]


def position_bias(comparisons: pd.DataFrame | None) -> pd.DataFrame:
    """Position bias of each pairwise judge; an empty table when there are no comparisons."""
    if comparisons is None or comparisons.empty:
        return pd.DataFrame(columns=POSITION_TABLE)
    return position.position_bias(comparisons)[POSITION_TABLE]
