"""The DayDream page inside the Airflow UI: a FastAPI app the plugin mounts at ``/daydream``.

Pages: the cohorts with their progress per stage, a cohort's leaderboard, and a document's lineage
(draft, essay, every evaluation with its score and the judge's text). Only logged-in Airflow users
see them: every route depends on Airflow's own ``get_user`` (the JWT in the ``Authorization`` header
or the UI's ``_token`` cookie, checked by the configured auth manager); without one a browser is
redirected to the login page and any other client gets 401/403.

The data root is ``$DAYDREAM_DATA_ROOT`` (default ``./data``), read per request. A cohort's scores
are read with the report code and kept for ``CACHE_SECONDS``, so reloading a page over a large
cohort stays quick.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from daydream.catalogs import Catalogs
from daydream.cohorts import list_cohorts
from daydream.combos import ComboCatalog
from daydream.errors import DayDreamError
from daydream.paths import DataLayout
from daydream.reports import html as h
from daydream.reports.aggregate import ScopeData, load_scope
from daydream.reports.build import headline
from daydream.reports.cost import calls_frame, cost_table
from daydream.reports.loader import read_text_file
from daydream.reports.page import TEXT_LIMIT
from daydream.reports.pivots import document_table
from daydream.reports.progress import stage_summary

URL_PREFIX = "/daydream"
CACHE_SECONDS = 15.0
LEADERBOARD_SIZE = 50
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_bearer = HTTPBearer(auto_error=False)


async def require_user(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Any:
    """The logged-in Airflow user; a browser without one goes to the login page, others get 401/403."""
    try:
        from airflow.api_fastapi.core_api.security import get_user
    except ImportError:  # pragma: no cover - the plugin only runs inside Airflow
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Airflow authentication is not available") from None
    try:
        return await get_user(request, None, credentials)
    except HTTPException as exc:
        if "text/html" in request.headers.get("accept", "") and request.method == "GET":
            raise HTTPException(
                status.HTTP_307_TEMPORARY_REDIRECT, "login required", headers={"Location": _login_url(request)}
            ) from None
        raise exc
    except RuntimeError:  # no auth manager initialised: refuse rather than serve anonymously
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated") from None


def _login_url(request: Request) -> str:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=str(request.url))
    except Exception:  # pragma: no cover - no auth manager: the plain login route
        return "/auth/login"


class _ScopeCache:
    """Scores of a cohort, read at most once per ``CACHE_SECONDS``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, ScopeData]] = {}

    def get(self, layout: DataLayout, cohort_id: str) -> ScopeData:
        key = (str(layout.root), cohort_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry[0] < CACHE_SECONDS:
                return entry[1]
        data = load_scope(layout, Catalogs.load(layout), cohort_id=cohort_id)
        with self._lock:
            self._entries[key] = (time.monotonic(), data)
        return data


def _check_id(value: str, what: str) -> str:
    if not _SAFE_ID.match(value):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {what}")
    return value


def _cohorts(layout: DataLayout) -> list[str]:
    """Cohorts that have been built (a membership to read)."""
    return [c for c in list_cohorts(layout) if layout.membership(c).is_file()]


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _nav(base: str, *crumbs: tuple[str, str | None]) -> str:
    parts = [h.link(f"{base}/", "DayDream")]
    parts += [h.link(href, text) if href else h.esc(text) for text, href in crumbs]
    return '<p class="muted">' + " &rsaquo; ".join(parts) + "</p>"


def _error_page(title: str, message: str, code: int) -> HTMLResponse:
    return HTMLResponse(h.page(title, f"<h1>{h.esc(title)}</h1><p class=error>{h.esc(message)}</p>"), status_code=code)


def create_app(cache: _ScopeCache | None = None) -> FastAPI:
    cache = cache or _ScopeCache()
    app = FastAPI(
        title="DayDream",
        description="DayDream cohorts, leaderboards and lineage",
        dependencies=[Depends(require_user)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def layout() -> DataLayout:
        return DataLayout.at(None)

    def scope(cohort_id: str) -> ScopeData:
        lay = layout()
        if not lay.membership(_check_id(cohort_id, "cohort")).is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cohort {cohort_id!r} under {lay.cohorts}")
        return cache.get(lay, cohort_id)

    @app.exception_handler(DayDreamError)
    async def _user_error(request: Request, exc: DayDreamError) -> HTMLResponse:
        return _error_page("DayDream: cannot read the data", str(exc), 500)

    @app.get("/", response_class=HTMLResponse, name="cohorts")
    def cohorts_page(request: Request) -> HTMLResponse:
        lay, base = layout(), _base(request)
        rows = [_progress_row(cohort_id, scope(cohort_id)) for cohort_id in _cohorts(lay)]
        frame = pd.DataFrame(rows)
        body = [
            "<h1>DayDream cohorts</h1>",
            f'<p class="muted">Data root: {h.esc(lay.root)}. Progress per stage: done / stale / failed / '
            f"pending of the cohort's generations.</p>",
        ]
        columns = ["cohort", "draft", "essay", "evaluation", "scored", "mean (0-10)"]
        body.append(
            h.table(
                frame,
                columns if rows else None,
                cells={"cohort": lambda r: h.link(f"{base}/cohorts/{r['cohort']}", r["cohort"])},
                empty=f"No cohorts with a membership.csv under {lay.cohorts}.",
            )
        )
        return HTMLResponse(h.page("DayDream cohorts", "".join(body)))

    @app.get("/api/cohorts", name="cohorts_json")
    def cohorts_json() -> JSONResponse:
        lay = layout()
        out = []
        for cohort_id in _cohorts(lay):
            data = scope(cohort_id)
            out.append(
                {
                    "cohort_id": cohort_id,
                    "stages": stage_summary(data).to_dict("records"),
                    "headline": headline(data.scores, None, False).model_dump(),
                }
            )
        return JSONResponse(out)

    @app.get("/cohorts/{cohort_id}", response_class=HTMLResponse, name="cohort")
    def cohort_page(request: Request, cohort_id: str) -> HTMLResponse:
        data, base = scope(cohort_id), _base(request)
        costs = cost_table(calls_frame(data.gens, data.catalogs, members_only=True))
        head = headline(data.scores, costs, False)
        docs = document_table(data.scores)
        board = h.leaderboard_frame(docs, LEADERBOARD_SIZE)
        body = [
            _nav(base, (cohort_id, None)),
            f"<h1>Cohort {h.esc(cohort_id)}</h1>",
            h.headline_cards(head.model_dump()),
            "<h2>Progress</h2>",
            h.table(stage_summary(data)),
            "<h2>Leaderboard</h2>",
            '<p class="muted">Documents by mean normalised score (x10) over their non-stale evaluations.</p>',
            h.table(
                board,
                h.LEADERBOARD_COLUMNS,
                headers=h.LEADERBOARD_HEADERS,
                cells={
                    "document_gen_id": lambda r: h.link(
                        f"{base}/cohorts/{cohort_id}/documents/{r['document_gen_id']}", r["document_gen_id"]
                    )
                },
                empty="No scored documents yet.",
            ),
        ]
        pending = docs[docs["n"] == 0]
        if not pending.empty:
            body.append(f'<p class="muted">{len(pending)} evaluated documents have no usable score yet.</p>')
        return HTMLResponse(h.page(f"DayDream: {cohort_id}", "".join(body)))

    @app.get("/cohorts/{cohort_id}/documents/{gen_id}", response_class=HTMLResponse, name="document")
    def document_page(request: Request, cohort_id: str, gen_id: str) -> HTMLResponse:
        data, base, lay = scope(cohort_id), _base(request), layout()
        _check_id(gen_id, "document")
        evals = data.scores[data.scores["parent_gen_id"] == gen_id]
        if evals.empty:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no evaluated document {gen_id!r} in cohort {cohort_id!r}")
        docs = document_table(evals)
        doc = docs.iloc[0].to_dict()
        body = [
            _nav(base, (cohort_id, f"{base}/cohorts/{cohort_id}"), (gen_id, None)),
            f"<h1>{h.esc(doc['document_stage'])} {h.esc(gen_id)}</h1>",
            _lineage(lay, data, doc),
            "<h2>Evaluations</h2>",
            h.table(
                evals.sort_values(["evaluation_template", "evaluation_llm", "replicate"]),
                [
                    "gen_id",
                    "evaluation_llm",
                    "evaluation_template",
                    "replicate",
                    "score",
                    "implied_scale",
                    "score_normalized",
                    "status",
                    "stale",
                    "error",
                ],
                headers={"evaluation_llm": "judge", "implied_scale": "scale"},
            ),
        ]
        for ev in evals.sort_values(["evaluation_template", "evaluation_llm", "replicate"]).to_dict("records"):
            score = "" if pd.isna(ev["score"]) else f"{ev['score']:g} / {ev['implied_scale']:g}"
            label = (
                f"{h.esc(ev['evaluation_llm'])} &middot; {h.esc(ev['evaluation_template'])} &middot; "
                f"{h.esc(score or ev['status'])}{' <span class=stale>stale</span>' if ev['stale'] else ''}"
            )
            body.append(
                h.text_block(
                    label, read_text_file(lay, "evaluation", ev["gen_id"], "raw.txt", limit=TEXT_LIMIT), open_=True
                )
            )
        return HTMLResponse(h.page(f"DayDream: {gen_id}", "".join(body)))

    return app


def _progress_row(cohort_id: str, data: ScopeData) -> dict[str, Any]:
    row: dict[str, Any] = {"cohort": cohort_id}
    for rec in stage_summary(data).to_dict("records"):
        row[rec["stage"]] = (
            f"{rec['done']} done / {rec['stale']} stale / {rec['failed']} failed / "
            f"{rec['pending']} pending (of {rec['total']})"
        )
    head = headline(data.scores, None, False)
    row["scored"] = head.evaluations_used
    row["mean (0-10)"] = None if head.mean_score_normalized is None else round(head.mean_score_normalized * 10, 2)
    return row


def _lineage(layout: DataLayout, data: ScopeData, doc: dict[str, Any]) -> str:
    """Combo (with its concepts), draft and essay, each with its facts and text."""
    parts = ["<h2>Lineage</h2>"]
    combo_id = doc.get("combo_id") or ""
    concepts = ""
    if combo_id:
        try:
            combo = ComboCatalog(layout.combo_mappings).combos.get(combo_id)
        except DayDreamError:
            combo = None
        if combo is not None:
            names = [
                data.catalogs.concepts[c].name if data.catalogs and c in data.catalogs.concepts else c
                for c in combo.concept_ids
            ]
            concepts = f" &mdash; concepts: {h.esc(', '.join(names))} (level {h.esc(combo.level)})"
    parts.append(f"<p><b>combo</b> {h.esc(combo_id or 'unknown')}{concepts}</p>")
    for stage, gen_id in (
        ("draft", doc.get("draft_gen_id")),
        ("essay", doc.get("document_gen_id") if doc.get("document_stage") == "essay" else None),
    ):
        if not gen_id:
            continue
        frame = data.gens[stage]
        rec = frame[frame["gen_id"] == gen_id]
        facts = rec.iloc[0].to_dict() if len(rec) else {}
        info = ", ".join(
            f"{k} {h.esc(facts.get(v))}"
            for k, v in (("template", "template_id"), ("model", "llm_model_id"), ("mode", "mode"), ("state", "state"))
            if facts.get(v)
        )
        text = read_text_file(layout, stage, gen_id, "parsed.txt", limit=TEXT_LIMIT)
        parts.append(h.text_block(f"{stage} {h.esc(gen_id)} ({info})", text, open_=stage == doc.get("document_stage")))
    return "".join(parts)
