"""Provider metadata that Airflow reads from the ``apache_airflow_provider`` entry point.

Airflow calls :func:`get_provider_info` while it initialises its configuration, so this module must
import nothing from Airflow (or from the rest of ``daydream``): a circular or failing import here
breaks every ``import airflow`` in the environment.

Airflow 3.2+ builds the connection form from the declarative ``conn-fields`` and
``ui-field-behaviour`` entries below; the older ``get_connection_form_widgets()`` /
``get_ui_field_behaviour()`` hook methods are deprecated there and are not read when these are set.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "daydream_llm"
HOOK_CLASS = "daydream.airflow.hook.LLMHook"
HOOK_NAME = "DayDream LLM (OpenAI-compatible)"
DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "login"],
    "relabeling": {"host": "Base URL", "password": "API key"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "password": "sk-or-v1-... (blank: use OPENROUTER_API_KEY)",
    },
}

CONN_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Per-request timeout in seconds.",
        "schema": {"type": ["number", "null"], "default": 120, "minimum": 1},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries on 429, 5xx, timeouts and connection errors (0 = no retry).",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
    },
    "extra_headers": {
        "label": "Extra headers (JSON)",
        "description": 'Sent with every request, e.g. {"HTTP-Referer": "https://example.org", "X-Title": "DayDream"}.',
        "schema": {"type": ["object", "null"], "format": "json"},
    },
    "request_defaults": {
        "label": "Request defaults (JSON)",
        "description": 'Merged into every request body, e.g. {"provider": {"sort": "price"}}.',
        "schema": {"type": ["object", "null"], "format": "json"},
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
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
