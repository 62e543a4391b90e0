"""HTML for the report page (``reports/index.html``) and the Airflow UI page, from Jinja2 templates.

The markup lives in ``daydream/templates/`` (autoescaped: every value a template prints is escaped
unless it is marked safe here, so a judge's ``<script>`` stays text). This module prepares what the
templates print: tables as rows of formatted cells, the headline cards, the leaderboard, charts as
data URIs. Pages are self-contained (inline CSS, images inline) so a report still works when moved.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_ENV = Environment(
    loader=PackageLoader("daydream", "templates"),
    autoescape=select_autoescape(("html",), default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context: Any) -> str:
    """A page from ``daydream/templates/<template>``."""
    return _ENV.get_template(template).render(**context)


def fmt(value: Any, digits: int = 3) -> str:
    """Numbers compact (up to ``digits`` decimals, trailing zeros dropped), missing as empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, (int, float)):
        if isinstance(value, int) or float(value).is_integer():
            return f"{int(value):,}" if abs(value) >= 10000 else str(int(value))
        return f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def money(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    return f"${float(value):,.4f}"


_ENV.filters["fmt"] = fmt
_ENV.filters["money"] = money


@dataclass
class Cell:
    text: str
    href: str | None = None
    numeric: bool = False


@dataclass
class Table:
    """What ``macros.html``'s ``table`` prints: headers, rows of cells, and how many rows were left out."""

    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    more: int = 0
    empty: str = "No rows."


def table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    links: Mapping[str, Any] | None = None,
    money_columns: Iterable[str] = (),
    max_rows: int | None = None,
    empty: str = "No rows.",
) -> Table:
    """A frame as a ``Table``; ``links`` maps a column to a function of the row returning its href."""
    columns = list(columns or frame.columns)
    headers, links, money_set = headers or {}, links or {}, set(money_columns)
    shown = frame if max_rows is None else frame.head(max_rows)
    rows = []
    for record in shown.to_dict("records"):
        cells = []
        for column in columns:
            value = record.get(column)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            text = money(value) if column in money_set else fmt(value)
            href = links[column](record) if column in links else None
            cells.append(Cell(text, href, numeric and column not in links))
        rows.append(cells)
    more = 0 if max_rows is None else max(0, len(frame) - max_rows)
    return Table([headers.get(c, c) for c in columns], rows, more, empty)


def headline_cards(h: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The headline numbers (``Headline.model_dump()``) as (label, value) cards."""
    mean = h.get("mean_score_normalized")
    cards = [
        ("documents evaluated", fmt(h.get("documents"))),
        ("evaluations", fmt(h.get("evaluations"))),
        ("scored (used in means)", fmt(h.get("evaluations_used"))),
        ("mean score (0-10)", "" if mean is None else f"{mean * 10:.2f}"),
        ("parse failures", fmt(h.get("parse_failures"))),
        ("other failures", fmt(h.get("failed"))),
        ("pending", fmt(h.get("missing"))),
        ("stale evaluations", fmt(h.get("stale"))),
        ("total cost", money(h.get("total_cost_usd"))),
    ]
    for key, label in (
        ("unparsed", "unparsed (raw, never validated)"),
        ("reparsed", "reparsed"),
        ("invalid", "invalid"),
    ):
        if h.get(key):
            cards.append((label, fmt(h.get(key))))
    return cards


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def cut(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters with a note saying so (None stays None)."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "\n[... cut; open the file for the rest]"


LEADERBOARD_COLUMNS = [
    "rank",
    "document_gen_id",
    "combo_id",
    "draft_template",
    "essay_template",
    "generation_model",
    "n",
    "mean",
    "mean_x10",
]
LEADERBOARD_HEADERS = {
    "document_gen_id": "document",
    "combo_id": "combo",
    "draft_template": "draft template",
    "essay_template": "essay template",
    "generation_model": "model",
    "n": "judges (n)",
    "mean": "mean score",
    "mean_x10": "mean (0-10)",
}


def leaderboard_frame(docs: pd.DataFrame, top_n: int) -> pd.DataFrame:
    ranked = (
        docs[docs["n"] > 0]
        .sort_values(["mean_normalized", "n", "document_gen_id"], ascending=[False, False, True], kind="stable")
        .head(top_n)
    )
    return ranked.assign(rank=range(1, len(ranked) + 1), mean_x10=ranked["mean_normalized"] * 10.0)


def score_label(ev: Mapping[str, Any]) -> str:
    """``7 / 9`` for a scored evaluation, else its status."""
    if pd.isna(ev["score"]):
        return str(ev["status"])
    scale = ev["implied_scale"]
    return f"{ev['score']:g}" + ("" if pd.isna(scale) else f" / {scale:g}")
