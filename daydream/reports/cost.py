"""What the generations cost: calls, tokens and dollars by stage and model (``summary/cost.csv``).

``cost_usd`` is what the provider reported (empty when no call of the row reported one: unknown, not
zero). For the calls without a reported cost, ``cost_estimated_usd`` prices their tokens with the
catalog's ``price_prompt_per_mtok`` / ``price_completion_per_mtok`` (``llm_models.csv``), falling
back to the estimate the run recorded in ``raw_metadata.json``; calls that neither way can be priced
are counted in ``calls_cost_unknown``. ``cost_total_usd`` is reported plus estimated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daydream.catalogs import Catalogs

COST_COLUMNS = [
    "stage",
    "llm_model_id",
    "model",
    "calls",
    "calls_with_usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_usd",
    "calls_cost_reported",
    "cost_estimated_usd",
    "calls_cost_estimated",
    "calls_cost_unknown",
    "cost_total_usd",
]
ALL = "all"


def calls_frame(gens: dict[str, pd.DataFrame], catalogs: Catalogs | None, *, members_only: bool) -> pd.DataFrame:
    """One row per generation that called a model (llm mode with raw output), with its cost facts."""
    parts = []
    for stage, frame in gens.items():
        if frame is None or frame.empty:
            continue
        sub = frame[frame["member"]] if members_only else frame
        called = (sub["mode"] != "copy") & (sub["has_raw"].astype(bool) | sub["has_raw_meta"].astype(bool))
        sub = sub[called]
        llm = (
            sub["rm_llm_model_id"]
            .where(sub["rm_llm_model_id"].notna() & (sub["rm_llm_model_id"] != ""), sub["llm_model_id"])
            .astype(str)
        )
        parts.append(
            pd.DataFrame(
                {
                    "stage": stage,
                    "llm_model_id": llm,
                    "model": sub["rm_model"].fillna("").astype(str),
                    "prompt_tokens": pd.to_numeric(sub["prompt_tokens"], errors="coerce"),
                    "completion_tokens": pd.to_numeric(sub["completion_tokens"], errors="coerce"),
                    "total_tokens": pd.to_numeric(sub["total_tokens"], errors="coerce"),
                    "reported": pd.to_numeric(sub["cost_usd"], errors="coerce"),
                    "recorded_estimate": pd.to_numeric(sub["cost_estimated_usd"], errors="coerce"),
                }
            )
        )
    cols = [
        "stage",
        "llm_model_id",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "reported",
        "recorded_estimate",
    ]
    calls = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    models = catalogs.models if catalogs is not None else {}
    price_p = calls["llm_model_id"].map({k: m.price_prompt_per_mtok for k, m in models.items()}).astype(float)
    price_c = calls["llm_model_id"].map({k: m.price_completion_per_mtok for k, m in models.items()}).astype(float)
    catalog_estimate = (
        calls["prompt_tokens"].astype(float) * price_p + calls["completion_tokens"].astype(float) * price_c
    ) / 1e6
    estimate = catalog_estimate.fillna(calls["recorded_estimate"].astype(float))
    calls["estimated"] = estimate.where(calls["reported"].isna())
    no_model = calls["model"] == ""
    calls.loc[no_model, "model"] = (
        calls.loc[no_model, "llm_model_id"].map({k: m.model for k, m in models.items()}).fillna("")
    )
    return calls


def _sum_or_empty(series: pd.Series) -> float:
    """Sum of the known values; NaN (shown empty) when none is known."""
    return float(series.sum()) if series.notna().any() else np.nan


def _summarise(calls: pd.DataFrame) -> dict:
    reported, estimated = calls["reported"], calls["estimated"]
    return {
        "calls": len(calls),
        "calls_with_usage": int(calls["total_tokens"].notna().sum()),
        "prompt_tokens": _sum_or_empty(calls["prompt_tokens"]),
        "completion_tokens": _sum_or_empty(calls["completion_tokens"]),
        "total_tokens": _sum_or_empty(calls["total_tokens"]),
        "cost_usd": _sum_or_empty(reported),
        "calls_cost_reported": int(reported.notna().sum()),
        "cost_estimated_usd": _sum_or_empty(estimated),
        "calls_cost_estimated": int(estimated.notna().sum()),
        "calls_cost_unknown": int((reported.isna() & estimated.isna()).sum()),
        "cost_total_usd": _sum_or_empty(reported.fillna(estimated)),
    }


def cost_table(calls: pd.DataFrame) -> pd.DataFrame:
    """Rows per (stage, model), a subtotal per stage (model ``all``) and a grand total (stage ``all``)."""
    rows = []
    for stage, per_stage in calls.groupby("stage", sort=False):
        for llm, per_model in per_stage.groupby("llm_model_id", sort=True):
            model = per_model["model"][per_model["model"] != ""]
            rows.append(
                {
                    "stage": stage,
                    "llm_model_id": llm,
                    "model": model.iloc[0] if len(model) else "",
                    **_summarise(per_model),
                }
            )
        rows.append({"stage": stage, "llm_model_id": ALL, "model": "", **_summarise(per_stage)})
    rows.append({"stage": ALL, "llm_model_id": ALL, "model": "", **_summarise(calls)})
    out = pd.DataFrame(rows, columns=COST_COLUMNS)
    for col in ("prompt_tokens", "completion_tokens", "total_tokens"):
        out[col] = out[col].astype("Int64")
    return out
