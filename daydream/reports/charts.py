"""Report charts as PNG bytes (matplotlib's Agg canvas, no pyplot global state, no display).

Every chart is drawn even without data (a "no data yet" panel), so a rerun never leaves an older,
misleading picture behind. Scatter plots sample at most ``MAX_POINTS`` points per panel, so charts
over 100,000 evaluations stay fast.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_POINTS = 2000
MAX_PANELS = 9
_DPI = 100


def _figure(**kwargs: Any) -> Figure:
    """A figure on its own Agg canvas (matplotlib imported on first use: DAG files stay light)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    """The figure as PNG. Every figure has the constrained layout, which already fits its labels, so
    no ``bbox_inches="tight"``: that costs a second full draw (half the time of the charts)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _empty(title: str, message: str) -> bytes:
    fig = _figure(figsize=(6, 3), layout="constrained")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#666666", transform=ax.transAxes)
    return _png(fig)


def _grid(n: int, width: float = 4.2, height: float = 3.2) -> tuple[Figure, list]:
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    return fig, axes


def score_distribution(used: pd.DataFrame) -> bytes:
    """Histogram of scores, one panel per evaluation template (bins one point wide)."""
    title = "Score distribution per evaluation template"
    if used.empty:
        return _empty(title, "No scored evaluations yet")
    templates = sorted(used["evaluation_template"].astype(str).unique())[:MAX_PANELS]
    fig, axes = _grid(len(templates))
    for ax, template in zip(axes, templates, strict=False):
        sub = used[used["evaluation_template"] == template]
        top = (
            float(np.nanmax(sub["implied_scale"])) if sub["implied_scale"].notna().any() else float(sub["score"].max())
        )
        bins = np.arange(-0.5, math.ceil(top) + 1.0, 1.0)
        ax.hist(sub["score"].to_numpy(dtype=float), bins=bins, color="#4C72B0", edgecolor="white")
        ax.set_title(f"{template}  (n={len(sub)}, mean={sub['score'].mean():.2f})", fontsize=10)
        ax.set_xlabel(f"score (0..{top:g})")
        ax.set_ylabel("evaluations")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_xlim(-0.5, math.ceil(top) + 0.5)
    fig.suptitle(title, fontsize=12)
    return _png(fig)


def model_template_heatmap(used: pd.DataFrame) -> bytes:
    """Mean normalised score (x10) per generation model x evaluation template, with counts."""
    title = "Mean score (0-10) by generation model x evaluation template"
    if used.empty:
        return _empty(title, "No scored evaluations yet")
    table = used.assign(x10=used["score_normalized"] * 10.0).pivot_table(
        index="generation_model", columns="evaluation_template", values="x10", aggfunc=["mean", "count"]
    )
    means, counts = table["mean"], table["count"]
    fig = _figure(
        figsize=(max(5.0, 1.6 * means.shape[1] + 3), max(2.5, 0.6 * means.shape[0] + 1.8)), layout="constrained"
    )
    ax = fig.add_subplot()
    image = ax.imshow(means.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=10, aspect="auto")
    ax.set_xticks(range(means.shape[1]), [str(c) for c in means.columns], rotation=30, ha="right")
    ax.set_yticks(range(means.shape[0]), [str(i) or "(none)" for i in means.index])
    ax.set_xlabel("evaluation template")
    ax.set_ylabel("generation model")
    for i in range(means.shape[0]):
        for j in range(means.shape[1]):
            value = means.iat[i, j]
            if pd.notna(value):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}\nn={int(counts.iat[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if value < 6 else "black",
                )
    fig.colorbar(image, ax=ax, label="mean score (normalised x10)")
    ax.set_title(title, fontsize=11)
    return _png(fig)


def judge_agreement(pairs: pd.DataFrame, seed: int = 0) -> bytes:
    """One scatter per (evaluation template, judge pair) on the documents both judged (0..10 scale)."""
    title = "Judge agreement (scores x10 on documents both judged)"
    if pairs.empty:
        return _empty(title, "Needs two evaluation models on the same documents")
    rng = np.random.default_rng(seed)
    groups = list(pairs.groupby(["evaluation_template", "model_a", "model_b"], sort=True))[:MAX_PANELS]
    fig, axes = _grid(len(groups), width=3.8, height=3.6)
    for ax, ((template, a, b), sub) in zip(axes, groups, strict=False):
        n = len(sub)
        if n > MAX_POINTS:
            sub = sub.iloc[rng.choice(n, MAX_POINTS, replace=False)]
        x, y = sub["x_a"].to_numpy(dtype=float), sub["x_b"].to_numpy(dtype=float)
        jitter = 0.12
        ax.scatter(
            x + rng.uniform(-jitter, jitter, x.size),
            y + rng.uniform(-jitter, jitter, y.size),
            s=16 if x.size > 200 else 30,
            alpha=0.45 if x.size > 200 else 0.8,
            color="#C44E52",
            edgecolors="none",
        )
        ax.plot([0, 10], [0, 10], color="#888888", linewidth=1, linestyle="--")
        ax.set_xlim(-0.5, 10.5)
        ax.set_ylim(-0.5, 10.5)
        ax.set_xlabel(str(a))
        ax.set_ylabel(str(b))
        r = (
            np.corrcoef(sub["x_a"], sub["x_b"])[0, 1]
            if n >= 3 and sub["x_a"].std() > 0 and sub["x_b"].std() > 0
            else np.nan
        )
        r_text = f", r={r:.2f}" if np.isfinite(r) else ""
        ax.set_title(f"{template}: {a} vs {b}\n(n={n}{r_text})", fontsize=9)
    fig.suptitle(title, fontsize=12)
    return _png(fig)
