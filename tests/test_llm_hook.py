"""The Airflow hook and the provider registration (no metadata database needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from llm_fixtures import CANARY, PAID, airflow_env, call, no_env_key, offline_server, set_connection

from daydream.airflow.provider import get_provider_info
from daydream.errors import LLMError

__all__ = ["airflow_env", "no_env_key", "offline_server"]


def test_settings_from_the_connection(airflow_env):
    from daydream.airflow.hook import LLMHook

    set_connection(
        airflow_env,
        host="http://127.0.0.1:9999/v1/",
        password=CANARY,
        extra={
            "timeout": 7,
            "max_retries": 2,
            "extra_headers": '{"X-Title": "DayDream"}',
            "request_defaults": {"provider": {"sort": "price"}},
            "max_total_wait_s": 30,
            "stages": {"evaluation": {"temperature": 0.1}},
            "unrelated": "ignored",
        },
    )
    settings = LLMHook().get_settings()
    assert settings.base_url == "http://127.0.0.1:9999/v1"
    assert settings.api_key.get_secret_value() == CANARY
    assert (settings.timeout_s, settings.max_retries, settings.max_total_wait_s) == (7, 2, 30)
    assert settings.extra_headers == {"X-Title": "DayDream"}
    assert settings.request_defaults == {"provider": {"sort": "price"}}
    assert settings.stage_request("evaluation") == (4096, 0.1)


def test_blank_fields_mean_defaults_and_prefixed_extras_work(airflow_env):
    from daydream.airflow.hook import LLMHook

    airflow_env.setenv("OPENROUTER_API_KEY", "sk-or-v1-from-env-000000")
    set_connection(airflow_env, extra={"extra__daydream_llm__timeout": 9, "max_retries": "", "extra_headers": None})
    settings = LLMHook().get_settings()
    assert settings.base_url == "https://openrouter.ai/api/v1"
    assert settings.api_key.get_secret_value() == "sk-or-v1-from-env-000000"
    assert settings.timeout_s == 9 and settings.max_retries == 5


def test_uri_style_host_gets_scheme_port_and_path(airflow_env):
    from daydream.airflow.hook import LLMHook

    set_connection(airflow_env, host="localhost", port=8765, schema="v1")
    assert LLMHook().get_settings().base_url == "http://localhost:8765/v1"


def test_fallback_without_a_connection(airflow_env):
    from daydream.airflow.hook import LLMHook

    airflow_env.setenv("OPENROUTER_API_KEY", CANARY)
    settings = LLMHook().get_settings()
    assert settings.api_key.get_secret_value() == CANARY
    assert settings.base_url == "https://openrouter.ai/api/v1"
    airflow_env.delenv("OPENROUTER_API_KEY")
    hook = LLMHook(llm_conn_id="missing_conn")
    with pytest.raises(LLMError, match="OPENROUTER_API_KEY"):
        hook.complete(model=PAID, prompt="x", max_tokens=5, temperature=0)


def test_invalid_extras_name_the_connection_and_field(airflow_env):
    from daydream.airflow.hook import LLMHook

    set_connection(airflow_env, extra={"request_defaults": "{not json"})
    with pytest.raises(LLMError, match="connection 'llm_default' extra 'request_defaults'"):
        LLMHook().get_settings()
    set_connection(airflow_env, extra={"timeout": "soon"})
    with pytest.raises(LLMError, match="connection 'llm_default' field 'timeout_s'"):
        LLMHook().get_settings()


def test_hook_calls_the_offline_server(airflow_env, offline_server):
    from daydream.airflow.hook import LLMHook
    from daydream.llm.client import OpenAICompatibleClient

    set_connection(
        airflow_env,
        host=offline_server.base_url,
        password=CANARY,
        extra={"timeout": 5, "extra_headers": {"X-Title": "DayDream"}},
    )
    hook = LLMHook()
    assert isinstance(hook.get_conn(), OpenAICompatibleClient) and hook.get_conn() is hook.get_conn()
    result = call(hook, "DRAFT TASK\n- Data Flywheel: loops\n- Economic Moat: walls\n")
    assert result.text and result.cost_usd is not None
    assert offline_server.stats()["last_request"]["headers"]["x-title"] == "DayDream"
    assert hook.stage_request("draft") == (8192, 0.8)
    assert hook.test_connection()[0] is True
    offline_server.configure(require_api_key="another-key-123")
    assert LLMHook().test_connection()[0] is False


def test_hook_without_key_works_against_loopback(airflow_env, offline_server):
    from daydream.airflow.hook import LLMHook

    airflow_env.setenv("DAYDREAM_LLM_BASE_URL", offline_server.base_url)
    assert call(LLMHook()).text


def test_provider_info_matches_airflow_schemas():
    jsonschema = pytest.importorskip("jsonschema")
    import importlib.resources

    info = get_provider_info()
    airflow_files = importlib.resources.files("airflow")
    runtime = json.loads((airflow_files / "provider_info.schema.json").read_text())
    jsonschema.validate(info, runtime)
    yaml_schema = json.loads((airflow_files / "provider.yaml.schema.json").read_text())
    jsonschema.validate(info["connection-types"], yaml_schema["properties"]["connection-types"])
    [conn] = info["connection-types"]
    assert info["package-name"] == "daydream"
    assert conn["connection-type"] == "daydream_llm"
    assert conn["hook-class-name"] == "daydream.airflow.hook.LLMHook"
    assert set(conn["conn-fields"]) == {"timeout", "max_retries", "extra_headers", "request_defaults"}
    assert conn["ui-field-behaviour"]["relabeling"] == {"host": "Base URL", "password": "API key"}


def test_airflow_discovers_the_connection_type(tmp_path):
    """In a fresh interpreter, as the api-server and the CLI do, without deprecation warnings."""
    script = (
        "import warnings, json\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "hook = ProvidersManagerTaskRuntime().hooks['daydream_llm']\n"
        "pm = ProvidersManager()\n"
        "widgets = sorted(k for k in pm.connection_form_widgets if 'daydream' in k)\n"
        "print(json.dumps({'hook': hook.hook_class_name, 'name': hook.hook_name,\n"
        "  'testable': hook.connection_testable, 'widgets': widgets,\n"
        "  'behaviour': pm.field_behaviours['daydream_llm']}))\n"
    )
    env = {"AIRFLOW_HOME": str(tmp_path / "airflow"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["hook"] == "daydream.airflow.hook.LLMHook" and data["testable"]
    assert data["name"] == "DayDream LLM (OpenAI-compatible)"
    assert data["widgets"] == [
        f"extra__daydream_llm__{f}" for f in ("extra_headers", "max_retries", "request_defaults", "timeout")
    ]
    assert data["behaviour"]["hidden_fields"] == ["schema", "port", "login"]
    assert data["behaviour"]["relabeling"]["host"] == "Base URL"


def test_the_connection_form_and_the_extras_are_derived_from_the_settings():
    from daydream.airflow.hook import LLMHook, settings_from_extras
    from daydream.llm.settings import DEFAULT_BASE_URL, LLMSettings, connection_extra_keys

    [conn] = get_provider_info()["connection-types"]
    keys = connection_extra_keys()
    for key, form_field in conn["conn-fields"].items():
        info = LLMSettings.model_fields[keys[key]]
        assert (form_field["label"], form_field["description"]) == (info.title, info.description)
    assert conn["conn-fields"]["timeout"]["schema"]["default"] == LLMSettings.model_fields["timeout_s"].default
    assert conn["ui-field-behaviour"]["placeholders"]["host"] == DEFAULT_BASE_URL
    # every extra key the hook reads sets its settings field, by name or by alias
    values = {"timeout_s": 3, "max_total_wait_s": 4, "backoff_base_s": 0.5, "backoff_max_s": 2, "max_retries": 1}
    values |= {"usage_accounting": False, "extra_headers": {"X": "y"}, "request_defaults": {"a": 1}}
    values |= {"stages": {"draft": {"max_tokens": 7}}}
    values |= {"embedding_model": "offline-embed"}
    for key, name in keys.items():
        settings = LLMSettings(**settings_from_extras({key: values[name]}, conn_id="c"))
        assert getattr(settings, name) == LLMSettings(**{name: values[name]}).__getattribute__(name), key
    assert set(keys) == set(values) | {"timeout"}
    # Airflow 3.3 reads the form from the provider info: the pre-3.2 hook methods are gone
    assert "get_ui_field_behaviour" not in LLMHook.__dict__
    assert "get_connection_form_widgets" not in LLMHook.__dict__


def test_unknown_stage_in_the_connection_is_refused(airflow_env):
    from daydream.airflow.hook import LLMHook

    set_connection(airflow_env, extra={"stages": {"drafts": {"temperature": 0.1}}})
    with pytest.raises(LLMError, match=r"connection 'llm_default' field 'stages': unknown stage 'drafts'"):
        LLMHook().get_settings()
