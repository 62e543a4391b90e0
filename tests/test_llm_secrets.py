"""The API key never shows: not in a repr, a dump, an exception (or its chain), or a log line."""

from __future__ import annotations

import base64
import json
import logging
import socket
import traceback
from urllib.parse import quote

import pytest
from llm_fixtures import CANARY, SPECIAL_CANARY, call, make_client, no_env_key, offline_server

from daydream.errors import LLMError
from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.settings import LLMSettings

__all__ = ["no_env_key", "offline_server"]


def exception_texts(exc: BaseException) -> str:
    """Everything a traceback printer or a log formatter could show about ``exc`` and its chain."""
    parts = ["".join(traceback.format_exception(exc)), repr(exc), str(exc), repr(vars(exc))]
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        parts += [repr(seen), str(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text
        assert CANARY[10:] not in text  # not even the tail of it


def failing_calls(server):
    """Yield (name, exception) for each way a call can fail."""
    server.configure(require_api_key="sk-the-right-one-0000", echo_auth_in_errors=True)
    yield "401 echoing the key", _error(make_client(server))
    server.configure(known_models=["x/y"], echo_auth_in_errors=False)
    yield "404", _error(make_client(server))
    server.configure(fault={"fault": "server_error", "message": f"upstream said {CANARY}"})
    yield "500 echoing the key", _error(make_client(server, max_retries=1, backoff_base_s=0))
    server.configure(fault={"fault": "slow", "slow_s": 2})
    yield "timeout", _error(make_client(server, timeout_s=0.2, max_retries=0))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield (
        "connection",
        _error(
            OpenAICompatibleClient(LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", api_key=CANARY, max_retries=0))
        ),
    )


def _error(client) -> LLMError:
    with pytest.raises(LLMError) as info:
        call(client)
    return info.value


def test_settings_never_show_the_key():
    settings = LLMSettings(api_key=CANARY, extra_headers={"Authorization": f"Bearer {CANARY}", "X-Title": "DayDream"})
    assert settings.api_key.get_secret_value() == CANARY
    public = settings.public_dict()
    assert public["api_key_set"] is True and "api_key" not in public
    assert public["extra_headers"] == {"Authorization": "<redacted>", "X-Title": "DayDream"}
    assert_clean(repr(settings), str(settings), f"{settings}", json.dumps(public), repr(settings.api_key))
    plain = LLMSettings(api_key=CANARY)  # model_dump keeps extra_headers as given, masks api_key
    assert_clean(repr(plain.model_dump()), plain.model_dump_json(), str(plain.model_dump(mode="json")))


def test_client_and_result_never_show_the_key(offline_server):
    client = make_client(offline_server)
    result = call(client)
    assert_clean(repr(client), str(client), result.model_dump_json(), repr(result))


def test_exceptions_never_show_the_key(offline_server):
    for name, exc in failing_calls(offline_server):
        texts = exception_texts(exc)
        assert_clean(texts)
        assert exc.__cause__ is None and exc.__context__ is None, name
    offline_server.configure(
        require_api_key="sk-the-right-one-0000", echo_auth_in_errors=True, faults=[], known_models=None
    )
    assert "Invalid API key provided: <redacted>" in str(_error(make_client(offline_server)))


def test_logs_never_show_the_key(offline_server, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx2", "httpcore2", "httpx", "httpcore", "daydream"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        call(make_client(offline_server))
        offline_server.configure(
            fault={"fault": "rate_limit", "first_n": 1, "retry_after": 0, "message": f"slow down {CANARY}"}
        )
        call(make_client(offline_server), "again")
        list(failing_calls(offline_server))
    finally:
        for name in ("openai", "httpx2", "httpcore2", "httpx", "httpcore", "daydream"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    out, err = capfd.readouterr()
    logged = caplog.text + "\n".join(repr(r.args) + repr(r.__dict__) for r in caplog.records)
    assert "Sending HTTP Request" in caplog.text and "retrying in" in caplog.text  # really captured
    assert "send_request_headers" in caplog.text
    assert_clean(logged, out, err)


def test_hook_never_shows_the_key(tmp_path, monkeypatch, offline_server, caplog, capfd, no_env_key):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_LLM_DEFAULT",
        json.dumps({"conn_type": "daydream_llm", "host": offline_server.base_url, "password": CANARY}),
    )
    from daydream.airflow.hook import LLMHook

    caplog.set_level(logging.DEBUG)
    hook = LLMHook()
    assert_clean(repr(hook))
    call(hook)
    assert_clean(repr(hook), str(hook), repr(hook.get_conn()), repr(hook.get_settings()))
    offline_server.configure(require_api_key="sk-the-right-one-0000", echo_auth_in_errors=True)
    with pytest.raises(LLMError) as info:
        call(LLMHook())
    ok, message = LLMHook().test_connection()
    assert not ok and "401" in message
    out, err = capfd.readouterr()
    assert_clean(exception_texts(info.value), message, caplog.text, out, err)


def test_redaction_masks_every_form_of_the_key_and_nothing_else():
    from daydream.llm.redaction import Redactor

    for key in (CANARY, SPECIAL_CANARY):
        redactor = Redactor([key])
        forms = [
            key,
            key.removeprefix("sk-or-v1-"),
            key[12:24],  # a fragment
            key.lower(),
            quote(key, safe=""),
            quote(key, safe="").lower(),
            "".join(f"%{byte:02x}" for byte in key.encode()),
            base64.b64encode(key.encode()).decode(),
            base64.b64encode(f"user:{key}".encode()).decode(),  # a Basic header
            json.dumps({"authorization": f"Bearer {key}"}),
            key[:8] + "*" * 30 + key[-4:],  # OpenAI's masked echo
        ]
        for form in forms:
            masked = redactor(f"before {form} after")
            assert masked.startswith("before ") and masked.endswith(" after") and "<redacted>" in masked, form
            assert_clean(masked)
            assert key[-6:] not in masked, form
    assert Redactor(["k"])("ok, k.") == "ok, <redacted>."  # a short secret only as a whole word
    assert Redactor([CANARY]).secrets("keys look like sk-proj-abcdef123") == "keys look like sk-proj-abcdef123"
    assert Redactor([CANARY])("keys look like sk-proj-abcdef123") == "keys look like <redacted>"
