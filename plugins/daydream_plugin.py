"""Airflow plugin: the DayDream page (cohorts, leaderboards, lineage) in the Airflow UI.

Thin on purpose: the FastAPI app lives in ``daydream.airflow.ui``. It is mounted at ``/daydream`` on
the api-server and shown under the "DayDream" entry of the UI's navigation (an external view that
the UI embeds). Only logged-in Airflow users can open it.

The apps are built when the api-server first asks for them, not when the plugin is imported: every
task process loads the plugins (for their listeners), and importing the UI (FastAPI, the reports,
scipy) there cost each short task of a stage about a second of CPU (issue 11).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from daydream.airflow.config import GENERATION_API_PREFIX, UI_PREFIX


@cache
def _apps() -> list[dict[str, Any]]:
    from daydream.airflow import generation_api, ui

    return [
        {"app": ui.create_app(), "url_prefix": UI_PREFIX, "name": "DayDream"},
        # labels the generations started from the triggerer with their gen ids (daydream.airflow.triggers)
        {"app": generation_api.create_app(), "url_prefix": GENERATION_API_PREFIX, "name": "DayDream API"},
    ]


class _LazyApps:
    """``fastapi_apps``, built on first read (only the api-server reads it)."""

    def __get__(self, obj: object, owner: type | None = None) -> list[dict[str, Any]]:
        return _apps()


class DayDreamPlugin(AirflowPlugin):
    name = "daydream"
    fastapi_apps = _LazyApps()  # type: ignore[assignment]
    external_views = [
        {
            "name": "DayDream",
            "href": UI_PREFIX.lstrip("/") + "/",  # relative to the UI's base URL
            "url_route": "daydream",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
