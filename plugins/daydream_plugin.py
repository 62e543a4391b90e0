"""Airflow plugin: the DayDream page (cohorts, leaderboards, lineage) in the Airflow UI.

Thin on purpose: the FastAPI app lives in ``daydream.airflow.ui``. It is mounted at ``/daydream`` on
the api-server and shown under the "DayDream" entry of the UI's navigation (an external view that
the UI embeds). Only logged-in Airflow users can open it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from daydream.airflow import generation_api
from daydream.airflow.ui import URL_PREFIX, create_app


class DayDreamPlugin(AirflowPlugin):
    name = "daydream"
    fastapi_apps = [
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "DayDream"},
        # labels the generations started from the triggerer with their gen ids (daydream.airflow.triggers)
        {"app": generation_api.create_app(), "url_prefix": generation_api.URL_PREFIX, "name": "DayDream API"},
    ]
    external_views = [
        {
            "name": "DayDream",
            "href": URL_PREFIX.lstrip("/") + "/",  # relative to the UI's base URL
            "url_route": "daydream",
            "destination": "nav",
            "nav_top_level": True,
        }
    ]
