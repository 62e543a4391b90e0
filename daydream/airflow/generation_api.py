"""``POST /daydream-api/labels``: the gen id labels of generation tasks started from the triggerer.

Airflow renders ``map_index_template`` only in a worker; a task that starts and ends in the triggerer
would show its map index in the grid instead of its gen id. The triggerer cannot write the label
itself (triggers have no database access, and the triggerer's channel to Airflow has no such
request), so it sends the labels here, to the API server, which has the database.

Narrow on purpose: the caller must be a signed-in user allowed to edit the task instances of the DAG;
only mapped instances of DayDream's stage DAGs' ``generate_<tier>`` tasks are labelled; a label must be
a valid gen id; a label already set is left alone.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from daydream.airflow.config import GENERATION_API_PREFIX, LABELS_PATH, STAGE_DAG_IDS, generate_task_id
from daydream.orchestration import TIERS
from daydream.paths import id_problem

URL_PREFIX = GENERATION_API_PREFIX
MAX_LABELS = 1000
_bearer = HTTPBearer(auto_error=False)


class Label(BaseModel):
    ti_id: UUID
    label: str = Field(min_length=1, max_length=128)


class Labels(BaseModel):
    labels: list[Label] = Field(max_length=MAX_LABELS)


async def require_user(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Any:
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


def _label(body: Labels, user: Any) -> dict[str, int]:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    wanted = {item.ti_id: item.label for item in body.labels if id_problem(item.label) is None}
    tasks = {generate_task_id(tier) for tier in TIERS}
    labelled = refused = 0
    allowed: dict[str, bool] = {}
    with create_session() as session:
        rows = session.scalars(select(TaskInstance).where(TaskInstance.id.in_(list(wanted))))
        for ti in rows:
            if ti.dag_id not in STAGE_DAG_IDS.values() or ti.task_id not in tasks or ti.map_index < 0:
                refused += 1
                continue
            if ti.dag_id not in allowed:
                allowed[ti.dag_id] = get_auth_manager().is_authorized_dag(
                    method="PUT",
                    access_entity=DagAccessEntity.TASK_INSTANCE,
                    details=DagDetails(id=ti.dag_id),
                    user=user,
                )
            if not allowed[ti.dag_id]:
                refused += 1
                continue
            if ti._rendered_map_index is None:
                ti._rendered_map_index = wanted[ti.id]
                labelled += 1
    if refused and not labelled:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{refused} task instance(s) may not be labelled by this user")
    return {"labelled": labelled, "refused": refused}


def create_app() -> FastAPI:
    app = FastAPI(title="DayDream generation API", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(LABELS_PATH.removeprefix(URL_PREFIX))
    def labels(body: Labels, user: Any = Depends(require_user)) -> dict[str, int]:
        return _label(body, user)

    return app
