"""HTML rendering shared by the report page (``reports/index.html``) and the Airflow UI page.

One self-contained page: inline CSS, charts as base64 PNG data URIs, texts embedded in ``<details>``
blocks so the page still works when moved. Every piece of user text goes through ``html.escape``.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:1rem 1.5rem;color:#1f2933;background:#fff;line-height:1.45}
h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.2rem}
h3{font-size:1.05rem}
.muted{color:#627d98;font-size:.9rem}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.card{border:1px solid #d9e2ec;border-radius:8px;padding:.6rem 1rem;min-width:9rem;background:#f8fafc}
.card .value{font-size:1.5rem;font-weight:600}.card .label{color:#627d98;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d9e2ec;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#fafcfe}
img.chart{max-width:100%;border:1px solid #d9e2ec;border-radius:6px;margin:.5rem 0}
details{border:1px solid #d9e2ec;border-radius:6px;padding:.4rem .8rem;margin:.4rem 0}
summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;word-wrap:break-word;background:#f8fafc;padding:.6rem;border-radius:4px;font-size:.85rem;
max-height:30rem;overflow:auto}
.notice{background:#fff8e1;border:1px solid #f0c36d;padding:.6rem 1rem;border-radius:6px}
.stale{color:#b54708;font-weight:600}.error{color:#b42318}
a{color:#0b69a3}
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


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
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    return f"${float(value):,.4f}"


Cell = Callable[[Mapping[str, Any]], str]


def table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    cells: Mapping[str, Cell] | None = None,
    max_rows: int | None = None,
    empty: str = "No rows.",
) -> str:
    """An HTML table; ``cells`` maps a column to a function returning its (already escaped) HTML."""
    columns = list(columns or frame.columns)
    headers = headers or {}
    cells = cells or {}
    if frame.empty:
        return f'<p class="muted">{esc(empty)}</p>'
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{esc(headers.get(c, c))}</th>" for c in columns)
    body = []
    for record in shown.to_dict("records"):
        tds = []
        for c in columns:
            value = record.get(c)
            if c in cells:
                tds.append(f"<td>{cells[c](record)}</td>")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                tds.append(f'<td class="num">{esc(fmt(value))}</td>')
            else:
                tds.append(f"<td>{esc(fmt(value))}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    more = (
        ""
        if max_rows is None or len(frame) <= max_rows
        else f'<p class="muted">{len(frame) - max_rows:,} more rows in the CSV.</p>'
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def cards(items: Iterable[tuple[str, str]]) -> str:
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{esc(value)}</div><div class="label">{esc(label)}</div></div>'
            for label, value in items
        )
        + "</div>"
    )


def image(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def link(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def text_block(summary_html: str, text: str | None, *, open_: bool = False) -> str:
    body = f"<pre>{esc(text)}</pre>" if text is not None else '<p class="muted">(file not found)</p>'
    return f"<details{' open' if open_ else ''}><summary>{summary_html}</summary>{body}</details>"


def page(title: str, body: str, *, extra_head: str = "") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style>{extra_head}</head>"
        f"<body>{body}</body></html>\n"
    )


def headline_cards(h: Mapping[str, Any]) -> str:
    """The headline numbers as cards (``Headline.model_dump()``)."""
    mean = h.get("mean_score_normalized")
    return cards(
        [
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
    )


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
