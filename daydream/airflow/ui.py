"""The DayDream page inside the Airflow UI: a FastAPI app the plugin mounts at ``/daydream``.

Pages: the cohorts with their progress per stage, a cohort's leaderboard, and a document's lineage
(draft, essay, every evaluation with its score and the judge's text), and the batch lane's provider
batches (``daydream.batch.views``: the rows of ``daydream batch list``). Only logged-in Airflow users
see them: every route depends on Airflow's own ``get_user`` (the JWT in the ``Authorization`` header
or the UI's ``_token`` cookie, checked by the configured auth manager); without one a browser is
redirected to the login page and any other client gets 401/403.

The data root is ``$DAYDREAM_DATA_ROOT`` (default ``./data``), read per request. A cohort's scores
are read with the report code and kept for ``CACHE_SECONDS``, so reloading a page over a large
cohort stays quick. The overview reads each cohort on its own: a broken one shows its problem in
its row and never takes the page down for the others. The HTML is ``daydream/templates/ui_*.html``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from daydream.airflow.config import UI_PREFIX
from daydream.batch.views import PAGE_COLUMNS as BATCH_COLUMNS
from daydream.batch.views import batch_rows, page_records
from daydream.catalogs import Catalogs
from daydream.combos import ComboCatalog
from daydream.errors import DayDreamError, shown
from daydream.paths import DataLayout, id_problem
from daydream.reports import html as h
from daydream.reports import sections, uncertainty
from daydream.reports.aggregate import ScopeData, load_scope
from daydream.reports.build import headline
from daydream.reports.cost import calls_frame, cost_table
from daydream.reports.overview import CohortRow, cohort_rows, overview_record
from daydream.reports.page import gen_text, judge_view
from daydream.reports.pivots import document_table
from daydream.reports.progress import stage_summary

URL_PREFIX = UI_PREFIX
CACHE_SECONDS = 15.0
LEADERBOARD_SIZE = 50
EVALUATION_COLUMNS = [
    "gen_id",
    "evaluation_llm",
    "evaluation_template",
    "replicate",
    "score",
    "implied_scale",
    "score_normalized",
    "status",
    "stale",
    "error_detail",
]
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


def _valid(value: str, what: str) -> str:
    """An id from the URL: outside the grammar it names nothing (404), whatever it looks like."""
    if id_problem(value) is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {what}")
    return value


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def _page(template: str, title: str, code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(h.render(template, title=title, **context), status_code=code)


def _layout() -> DataLayout:
    return DataLayout.at(None)


def create_app(cache: _ScopeCache | None = None) -> FastAPI:
    app = FastAPI(
        title="DayDream",
        description="DayDream cohorts, leaderboards and lineage",
        dependencies=[Depends(require_user)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(DayDreamError)
    async def _user_error(request: Request, exc: DayDreamError) -> HTMLResponse:
        return _page("ui_error.html", "DayDream: cannot read the data", 500, message=str(exc))

    app.include_router(_cohort_routes(cache or _ScopeCache()))
    app.include_router(_batch_routes())
    return app


def _cohort_routes(scopes: _ScopeCache) -> APIRouter:
    """The cohort list, a cohort's page (a tournament's leaderboard for a tournament cohort), a document."""
    router = APIRouter()

    def scope(cohort_id: str) -> ScopeData:
        lay = _layout()
        _valid(cohort_id, "cohort")
        if not lay.membership(cohort_id).is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no cohort {shown(cohort_id)} under {lay.cohorts}")
        return scopes.get(lay, cohort_id)

    def rows(lay: DataLayout) -> list[CohortRow]:
        return cohort_rows(lay, lambda cohort_id: scopes.get(lay, cohort_id))

    @router.get("/", response_class=HTMLResponse, name="cohorts")
    def cohorts_page(request: Request) -> HTMLResponse:
        lay = _layout()
        return _page(
            "ui_cohorts.html",
            "DayDream cohorts",
            root=lay.root,
            cohorts=_overview(lay, rows(lay), _base(request)),
            batches_url=f"{_base(request)}/batches",
        )

    @router.get("/api/cohorts", name="cohorts_json")
    def cohorts_json() -> JSONResponse:
        fields = ("cohort_id", "stages", "headline", "tournament", "problem")
        return JSONResponse([{name: getattr(r, name) for name in fields} for r in rows(_layout())])

    @router.get("/cohorts/{cohort_id}", response_class=HTMLResponse, name="cohort")
    def cohort_page(request: Request, cohort_id: str) -> HTMLResponse:
        from daydream.reports.tournament import is_tournament_cohort, tournament_context

        if is_tournament_cohort(_layout(), _valid(cohort_id, "cohort")):  # verdicts, not scores
            context = tournament_context(_layout(), cohort_id, root_href=None)
            context.pop("board")
            context.pop("verdicts")
            return _page("tournament.html", f"DayDream: {cohort_id}", **context)
        return _page(
            "ui_cohort.html", f"DayDream: {cohort_id}", **_cohort_context(scope(cohort_id), cohort_id, _base(request))
        )

    @router.get("/cohorts/{cohort_id}/documents/{gen_id}", response_class=HTMLResponse, name="document")
    def document_page(request: Request, cohort_id: str, gen_id: str) -> HTMLResponse:
        data = scope(cohort_id)
        evals = data.scores[data.scores["parent_gen_id"] == _valid(gen_id, "document")]
        if evals.empty:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no evaluated document {gen_id!r} in cohort {cohort_id!r}")
        context = _document_context(_layout(), data, evals, _base(request))
        return _page("ui_document.html", f"DayDream: {gen_id}", **context)

    return router


def _batch_routes() -> APIRouter:
    """The batch lane's provider batches, as a page and as JSON."""
    router = APIRouter()

    @router.get("/batches", response_class=HTMLResponse, name="batches")
    def batches_page(request: Request, cohort: str | None = None) -> HTMLResponse:
        lay = _layout()
        rows = batch_rows(lay, _valid(cohort, "cohort") if cohort else None)
        table = h.table(
            pd.DataFrame(page_records(rows), columns=BATCH_COLUMNS),
            BATCH_COLUMNS,
            money_columns=["cost_usd"],
            links={"cohort": lambda r: f"{_base(request)}/cohorts/{r['cohort']}"},
            empty=f"No provider batches under {lay.cohorts}.",
        )
        return _page("ui_batches.html", "DayDream batches", cohort=cohort, batches=table)

    @router.get("/api/batches", name="batches_json")
    def batches_json(cohort: str | None = None) -> JSONResponse:
        return JSONResponse(
            [r.model_dump() for r in batch_rows(_layout(), _valid(cohort, "cohort") if cohort else None)]
        )

    return router


def _overview(layout: DataLayout, rows: list[CohortRow], base: str) -> h.Table:
    """One row per cohort; a cohort that has a page links to it, a broken one shows its problem."""
    linkable = {r.cohort_id for r in rows if r.built}
    played = ["tournament"] if any(r.tournament for r in rows) else []
    return h.table(
        pd.DataFrame([overview_record(r) for r in rows]),
        ["cohort", "draft", "essay", "evaluation", *played, "scored", "mean (0-10)", "problem"] if rows else None,
        links={"cohort": lambda r: f"{base}/cohorts/{r['cohort']}" if r["cohort"] in linkable else None},
        empty=f"No cohorts with a membership.csv under {layout.cohorts}.",
    )


_STATS_LOCK = threading.Lock()
_STATS: dict[int, tuple[ScopeData, pd.DataFrame, pd.DataFrame]] = {}
"""The leaderboard and comparisons of a cached ``ScopeData`` (bootstraps: a second on 100,000
evaluations), kept as long as the scope itself is cached; the entry holds the scope, so its id
cannot be reused by another object while the entry exists."""


def _statistics(data: ScopeData, docs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    with _STATS_LOCK:
        entry = _STATS.get(id(data))
    if entry is not None and entry[0] is data:
        return entry[1], entry[2]
    used = uncertainty.used_rows(data.scores, False)
    ranked = uncertainty.leaderboard(used, docs, uncertainty.document_intervals(used), LEADERBOARD_SIZE)
    comparisons = uncertainty.comparisons(used)
    with _STATS_LOCK:
        while len(_STATS) >= 8:
            _STATS.pop(next(iter(_STATS)))
        _STATS[id(data)] = (data, ranked, comparisons)
    return ranked, comparisons


def _cohort_context(data: ScopeData, cohort_id: str, base: str) -> dict[str, Any]:
    costs = cost_table(calls_frame(data.gens, data.catalogs, members_only=True))
    docs = document_table(data.scores)
    ranked, comparisons = _statistics(data, docs)
    board = sections.board_frame(ranked)
    leaderboard = h.table(
        board,
        sections.BOARD_COLUMNS,
        headers=sections.BOARD_HEADERS,
        links={
            "document_gen_id": lambda r: (
                f"{base}/cohorts/{cohort_id}/documents/{r['document_gen_id']}"
                if id_problem(r["document_gen_id"]) is None
                else None
            )
        },
        empty="No scored documents yet.",
    )
    return {
        "crumbs": [("DayDream", f"{base}/"), (cohort_id, None)],
        "cohort_id": cohort_id,
        "cards": h.headline_cards(headline(data.scores, costs, False).model_dump()),
        "progress": h.table(stage_summary(data)),
        "leaderboard": leaderboard,
        "unscored": int((docs["n"] == 0).sum()),
        "science": {"verdict": uncertainty.leaderboard_verdict(ranked), **sections.difference_context(comparisons)},
    }


def _combo_line(layout: DataLayout, data: ScopeData, combo_id: str) -> tuple[str, str]:
    """The combo's concept names and description level (empty when the combo catalog lacks it)."""
    if not combo_id:
        return "", ""
    try:
        combo = ComboCatalog(layout.combo_mappings).combos.get(combo_id)
    except DayDreamError:
        combo = None
    if combo is None:
        return "", ""
    concepts = data.catalogs.concepts if data.catalogs else {}
    names = [concepts[c].name if c in concepts else c for c in combo.concept_ids]
    return ", ".join(names), str(combo.level)


def _lineage(layout: DataLayout, data: ScopeData, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft and the essay, each with its facts and text."""
    parts = []
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
            f"{k} {facts.get(v)}"
            for k, v in (("template", "template_id"), ("model", "llm_model_id"), ("mode", "mode"), ("state", "state"))
            if facts.get(v)
        )
        text, problem = gen_text(layout, stage, str(gen_id), "parsed.txt")
        summary = f"{stage} {gen_id} ({info})"
        parts.append({"summary": summary, "text": text, "problem": problem, "open": stage == doc["document_stage"]})
    return parts


def _document_context(layout: DataLayout, data: ScopeData, evals: pd.DataFrame, base: str) -> dict[str, Any]:
    doc = document_table(evals).iloc[0].to_dict()
    cohort_id, gen_id = str(data.cohort_id), str(doc["document_gen_id"])
    concepts, level = _combo_line(layout, data, str(doc.get("combo_id") or ""))
    ordered = evals.sort_values(["evaluation_template", "evaluation_llm", "replicate"])
    return {
        "crumbs": [("DayDream", f"{base}/"), (cohort_id, f"{base}/cohorts/{cohort_id}"), (gen_id, None)],
        "stage": doc["document_stage"],
        "gen_id": gen_id,
        "combo_id": doc.get("combo_id"),
        "concepts": concepts,
        "level": level,
        "lineage": _lineage(layout, data, doc),
        "evaluations": h.table(
            ordered, EVALUATION_COLUMNS, headers={"evaluation_llm": "judge", "implied_scale": "scale"}
        ),
        "judges": [judge_view(layout, ev, None) for ev in ordered.to_dict("records")],
    }
