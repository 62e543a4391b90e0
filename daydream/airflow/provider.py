"""Provider metadata that Airflow reads from the ``apache_airflow_provider`` entry point.

Airflow calls :func:`get_provider_info` while it initialises its configuration, so this module must
import nothing from Airflow: a circular or failing import here breaks every ``import airflow`` in the
environment. Its one DayDream import, ``daydream.llm.settings``, needs only pydantic.

Airflow 3.2+ builds the connection form from the declarative ``conn-fields`` and
``ui-field-behaviour`` entries below, and does not import the hook for it (the pinned 3.3.2 reads the
hook's ``get_ui_field_behaviour``/``get_connection_form_widgets`` only when both entries are
missing). The form's extra fields are derived from ``LLMSettings`` (``connection_form_fields``), so
the form cannot drift from what the hook reads.
"""

from __future__ import annotations

from typing import Any

from daydream.llm.settings import API_KEY_ENV, DEFAULT_BASE_URL, connection_form_fields

CONN_TYPE = "daydream_llm"
HOOK_CLASS = "daydream.airflow.hook.LLMHook"
HOOK_NAME = "DayDream LLM (OpenAI-compatible)"

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "login"],
    "relabeling": {"host": "Base URL", "password": "API key"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "password": f"sk-or-v1-... (blank: use {API_KEY_ENV})",
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "daydream",
        "name": "DayDream",
        "description": "DayDream combinatorial LLM creativity experiments: the OpenAI-compatible "
        "LLM connection type used by the stage DAGs.",
        "connection-types": [
            {
                "hook-class-name": HOOK_CLASS,
                "hook-name": HOOK_NAME,
                "connection-type": CONN_TYPE,
                "conn-fields": connection_form_fields(),
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
