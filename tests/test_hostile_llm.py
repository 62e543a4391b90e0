"""What the LLM layer refuses and survives: a catalogue, one test per class of hostile provider.

Every case goes through the real ``openai`` client (sync and async faces alike) over real HTTP to
the offline server configured to misbehave. Each class ends the same way: a one-line ``LLMError``
for that generation (never a bare exception that leaves it pending), the runner's ``error.json``,
and no form of the API key in any message, log line or file.

1. An HTTP 200 whose body is not JSON (proxy page, cut body, empty, binary): retried like a 5xx.
2. An HTTP 200 whose ``usage`` has the wrong types: fails at once (a retry would pay again).
3. An HTTP 200 whose ``choices`` (or the whole body) has the wrong shape: fails at once.
4. Rate-limit headers with hostile values: never a sleep beyond the wait budget.
5. The key echoed back in any form, in messages, JSON bodies and headers: masked everywhere.
6. An endpoint without ``/models`` (or ``/key``): the connection check answers, never crashes.
7. The offline server's admin endpoints: refused without the key when ``require_api_key`` is set.
"""

from __future__ import annotations

import json
import logging
import shutil
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from llm_fixtures import (
    CANARY,
    FACES,
    PAID,
    SPECIAL_CANARY,
    RecordingSleep,
    airflow_env,
    call,
    call_on,
    make_client,
    no_env_key,
    offline_server,
    requests_for,
    set_connection,
)

from daydream.cohorts import build_cohort
from daydream.errors import LLMError
from daydream.llm.offline import OfflineServer
from daydream.llm.offline.replies import echo_text
from daydream.orchestration import run_generation, stage_work
from daydream.paths import DataLayout
from daydream.store import GensStore

__all__ = ["airflow_env", "no_env_key", "offline_server"]

REPO = Path(__file__).resolve().parents[1]
TRANSPORT_LOGGERS = ("openai", "httpx2", "httpcore2", "httpx", "httpcore", "daydream")


def failure(face: str, client, prompt: str = "Say something.") -> LLMError:
    """The error a call ends with; anything but an ``LLMError`` fails the test."""
    with pytest.raises(LLMError) as info:
        call_on(face, client, prompt)
    message = str(info.value)
    assert "\n" not in message and len(message) <= 2000
    assert info.value.__cause__ is None and info.value.__context__ is None
    return info.value


def exception_texts(exc: BaseException) -> str:
    return "\n".join(["".join(traceback.format_exception(exc)), repr(exc), str(exc), repr(vars(exc))])


@pytest.fixture
def layout(tmp_path: Path) -> DataLayout:
    shutil.copytree(REPO / "data" / "1_raw", tmp_path / "1_raw")
    shutil.copytree(REPO / "data" / "cohorts" / "demo" / "spec", tmp_path / "cohorts" / "demo" / "spec")
    build_cohort(DataLayout(tmp_path), "demo")
    return DataLayout(tmp_path)


# -- 1. a 200 that is not JSON --------------------------------------------------------------------

NOT_JSON = [
    pytest.param(
        {"body": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"}, id="html"
    ),
    pytest.param({"body": '{"id": "gen-1", "choices": [{"message": {"content": "cut sh'}, id="cut-json"),
    pytest.param({"body": ""}, id="empty"),
    pytest.param({"body": "\x00\x01\ufffd binary", "content_type": "application/octet-stream"}, id="binary"),
    pytest.param({"body": "upstream timeout", "content_type": "text/plain", "status": 203}, id="text-203"),
]


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("fault", NOT_JSON)
def test_a_200_whose_body_is_not_json_is_retried_then_a_one_line_error(offline_server, face, fault):
    offline_server.configure(fault={"fault": "not_json", **fault})
    sleep = RecordingSleep()
    error = failure(face, make_client(offline_server, sleep=sleep, max_retries=2, backoff_base_s=0.01))
    message = str(error)
    assert "after 3 attempts" in message and "not JSON" in message and PAID in message
    assert error.retryable and error.kind == "response" and len(sleep.calls) == 2
    assert requests_for(offline_server) == 3
    offline_server.configure(faults=[{"fault": "not_json", "first_n": 1, **fault}])  # a passing glitch
    assert call_on(face, make_client(offline_server), "another prompt").attempts == 2


# -- 2. usage of the wrong types ----------------------------------------------------------------------

BAD_USAGE = [
    pytest.param({"usage": {"prompt_tokens": "many", "completion_tokens": 3, "total_tokens": 5}}, id="string"),
    pytest.param({"usage": {"prompt_tokens": 2, "completion_tokens": -3, "total_tokens": 5}}, id="negative"),
    pytest.param({"usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": [5]}}, id="list"),
    pytest.param({"usage": {"prompt_tokens": True, "completion_tokens": 3, "total_tokens": 5}}, id="bool"),
    pytest.param({"usage": {"prompt_tokens": 2.5, "completion_tokens": 3, "total_tokens": 5}}, id="fraction"),
    pytest.param({"usage": {"prompt_tokens": 2, "completion_tokens": 3, "cost": "cheap"}}, id="cost-string"),
    pytest.param({"usage": "lots"}, id="usage-string"),
]


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("patch", BAD_USAGE)
def test_usage_of_the_wrong_types_fails_at_once_naming_the_field(offline_server, face, patch):
    offline_server.configure(fault={"fault": "bad_usage", "patch": patch})
    error = failure(face, make_client(offline_server))
    message = str(error)
    assert "malformed completion" in message and "field 'usage" in message
    assert "not retried" in message and not error.retryable
    assert requests_for(offline_server) == 1
    offline_server.configure(faults=[{"fault": "bad_usage"}])  # the server's own default variation
    assert "field 'usage." in str(failure(face, make_client(offline_server), "again"))


# -- 3. choices (or the whole body) of the wrong shape ----------------------------------------------------

BAD_SHAPES = [
    pytest.param({"fault": "bad_choices", "patch": {"choices": "the answer"}}, "field 'choices'", id="choices-string"),
    pytest.param({"fault": "bad_choices", "patch": {"choices": [1]}}, "field 'choices.0'", id="choice-number"),
    pytest.param({"fault": "bad_choices", "patch": {"choices": {"0": {}}}}, "field 'choices'", id="choices-object"),
    pytest.param(
        {"fault": "bad_choices", "patch": {"choices": [{"message": "hello"}]}}, "choices.0.message", id="message-string"
    ),
    pytest.param({"fault": "bad_choices"}, "choices.0.message.content", id="content-number"),
    pytest.param(
        {"fault": "bad_choices", "patch": {"choices": [{"finish_reason": 7, "message": {"content": "x"}}]}},
        "choices.0.finish_reason",
        id="finish-reason-number",
    ),
    pytest.param({"fault": "not_json", "body": "[1, 2, 3]"}, "not a completion object", id="json-list"),
    pytest.param({"fault": "not_json", "body": "null"}, "not a completion object", id="json-null"),
]


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("fault, words", BAD_SHAPES)
def test_choices_of_the_wrong_shape_fail_at_once(offline_server, face, fault, words):
    offline_server.configure(fault=fault)
    error = failure(face, make_client(offline_server))
    assert words in str(error) and "not retried" in str(error) and not error.retryable
    assert requests_for(offline_server) == 1


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"fault": "not_json", "body": "<html>proxy</html>", "content_type": "text/html"}, id="not-json"),
        pytest.param({"fault": "bad_usage"}, id="bad-usage"),
        pytest.param({"fault": "bad_choices"}, id="bad-choices"),
    ],
)
def test_the_runner_records_a_malformed_answer_as_that_generations_failure(layout, fault):
    with OfflineServer({"latency_s": 0.0, "fault": fault}) as server:
        client = make_client(server, max_retries=1, backoff_base_s=0.0)
        work = stage_work(layout, "demo", "draft")
        gen_id, other = work["paid"][0], work["paid"][1]
        outcome = run_generation(layout, "draft", gen_id, cohort_id="demo", llm=client)
        assert outcome["state"] == "failed" and "LLM call" in outcome["message"]
        error = GensStore(layout).read_json("draft", gen_id, "error.json")
        assert error and error["error"] == outcome["message"]
        server.configure(faults=[])  # the next generation of the same run is unaffected
        assert run_generation(layout, "draft", other, cohort_id="demo", llm=client)["state"] == "done"


# -- 4. hostile rate-limit headers -------------------------------------------------------------------------


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize(
    "headers, slept",
    [
        pytest.param({"Retry-After": "inf"}, None, id="infinite"),
        pytest.param({"Retry-After": "1e309"}, None, id="overflow"),
        pytest.param({"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}, None, id="date-far-ahead"),
        pytest.param({"Retry-After": "Thu, 01 Jan 1970 00:00:00 GMT"}, [0.0], id="date-past"),
        pytest.param({"Retry-After": "-5"}, [0.0], id="negative"),
        pytest.param({"Retry-After": "soon", "retry-after-ms": "250"}, [0.25], id="milliseconds-win"),
        pytest.param({"Retry-After": "nan"}, "backoff", id="nan"),
        pytest.param({"Retry-After": "soon"}, "backoff", id="garbage"),
    ],
)
def test_hostile_retry_after_never_sleeps_beyond_the_budget(offline_server, face, headers, slept):
    rule = {"fault": "rate_limit", "first_n": 1, "retry_after": None, "headers": headers}
    offline_server.configure(fault=rule)
    sleep = RecordingSleep()
    client = make_client(offline_server, sleep=sleep, max_total_wait_s=60, backoff_base_s=0.5, backoff_max_s=0.5)
    if slept is None:
        assert "more than the 60s left of the retry wait budget" in str(failure(face, client))
        assert sleep.calls == [] and requests_for(offline_server) == 1
    elif slept == "backoff":
        assert call_on(face, client).attempts == 2 and 0 <= sleep.calls[0] <= 0.5
    else:
        assert call_on(face, client).attempts == 2 and sleep.calls == pytest.approx(slept)


# -- 5. the key echoed back -----------------------------------------------------------------------------------

ECHO_FORMS = ["plain", "no_prefix", "fragment", "masked", "url_encoded", "base64", "lower"]


def echoed_forms(server: OfflineServer, key: str) -> list[str]:
    """The strings the server sends for ``key``, each of which must never show."""
    return echo_text(server.config, f"Bearer {key}").split()


def assert_never_shows(key: str, forms: list[str], *texts: str) -> None:
    for text in texts:
        assert key not in text and key[10:] not in text and key[9:].lower() not in text.lower()
        for form in forms:
            assert form not in text, form


def hostile_failures(server: OfflineServer, key: str, face: str) -> list[LLMError]:
    """One failed call per way a provider can answer with the key in it."""
    client = make_client(server, api_key=key, max_retries=1, backoff_base_s=0.0)
    errors = []
    for fault in (
        {"fault": "server_error", "message": "upstream said no"},
        {"fault": "bad_request"},
        {"fault": "not_json", "body": "<pre>you sent {echo}</pre>", "content_type": "text/html"},
        {"fault": "bad_usage"},
    ):
        server.configure(faults=[fault])
        errors.append(failure(face, client))
    server.configure(faults=[], require_api_key="sk-or-v1-the-right-one-000000")
    errors.append(failure(face, client))  # 401 "Invalid API key provided: <the key>"
    server.configure(require_api_key=None, fault={"fault": "rate_limit", "first_n": 1, "retry_after": 0})
    call_on(face, client, "retried")  # a 429 echoing the key, then an answer with it in a header
    return errors


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("key", [CANARY, SPECIAL_CANARY], ids=["canary", "special-characters"])
@pytest.mark.parametrize("form", ECHO_FORMS)
def test_the_key_echoed_in_any_form_and_place_never_shows(offline_server, caplog, capfd, face, key, form):
    offline_server.configure(echo_auth_in_errors=True, echo_forms=[form], echo_in=["message", "body", "header"])
    forms = echoed_forms(offline_server, key)
    caplog.set_level(logging.DEBUG)
    for name in TRANSPORT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        errors = hostile_failures(offline_server, key, face)
    finally:
        for name in TRANSPORT_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
    out, err = capfd.readouterr()
    assert "x-echo-authorization" in caplog.text  # the echoing header really reached the logs
    assert_never_shows(key, forms, caplog.text, out, err, *(exception_texts(e) for e in errors))
    assert any("<redacted>" in str(e) for e in errors)


def test_the_key_echoed_in_every_form_never_reaches_the_data_root(layout):
    config = {
        "latency_s": 0.0,
        "echo_auth_in_errors": True,
        "echo_forms": ECHO_FORMS,
        "echo_in": ["message", "body", "header"],
    }
    with OfflineServer(config) as server:
        forms = echoed_forms(server, CANARY)
        client = make_client(server, max_retries=0)
        work = iter(stage_work(layout, "demo", "draft")["paid"])
        for fault in ({"fault": "server_error"}, {"fault": "not_json", "body": "{echo}"}):
            server.configure(faults=[fault])
            outcome = run_generation(layout, "draft", next(work), cohort_id="demo", llm=client)
            assert outcome["state"] == "failed" and "<redacted>" in outcome["message"]
        server.configure(faults=[], require_api_key="sk-or-v1-the-right-one-000000")
        assert run_generation(layout, "draft", next(work), cohort_id="demo", llm=client)["state"] == "failed"
    written = [p.read_text(encoding="utf-8", errors="replace") for p in layout.root.rglob("*") if p.is_file()]
    assert_never_shows(CANARY, forms, *written)


def test_the_key_echoed_inside_an_answer_is_masked_before_it_is_stored(layout):
    content = f"Sure. Your key is {CANARY}; without its prefix {CANARY[9:]}."
    choices = [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]
    with OfflineServer({"latency_s": 0.0, "fault": {"fault": "bad_choices", "patch": {"choices": choices}}}) as server:
        client = make_client(server)
        assert call(client).text == "Sure. Your key is <redacted>; without its prefix <redacted>."
        gen_id = stage_work(layout, "demo", "draft")["paid"][0]
        run_generation(layout, "draft", gen_id, cohort_id="demo", llm=client)
    assert "<redacted>" in GensStore(layout).read_text("draft", gen_id, "raw.txt")
    written = [p.read_text(encoding="utf-8", errors="replace") for p in layout.root.rglob("*") if p.is_file()]
    assert_never_shows(CANARY, [], *written)


# -- 6. an endpoint without /models -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing, ok, words",
    [
        pytest.param(["models"], True, "no /models endpoint", id="no-models"),
        pytest.param(["key"], True, "models listed", id="no-key"),
        pytest.param(["models", "key"], False, "check the base URL", id="neither"),
    ],
)
def test_the_connection_check_answers_without_models(offline_server, airflow_env, missing, ok, words):
    from daydream.airflow.hook import LLMHook

    offline_server.configure(missing_endpoints=missing)
    result = make_client(offline_server).check()
    assert result[0] is ok and words in result[1] and offline_server.base_url in result[1]
    set_connection(airflow_env, host=offline_server.base_url, password=CANARY)
    assert LLMHook().test_connection() == result
    offline_server.configure(missing_endpoints=missing, require_api_key="sk-or-v1-another-000000")
    refused = LLMHook().test_connection()
    assert refused[0] is False and CANARY not in refused[1]
    assert ("401" in refused[1]) is ok  # with neither endpoint, nothing can check the key


def test_the_connection_check_answers_when_nothing_answers(airflow_env):
    from daydream.airflow.hook import LLMHook

    set_connection(airflow_env, host="http://127.0.0.1:9/v1", password=CANARY, extra={"timeout": 2})
    ok, message = LLMHook().test_connection()
    assert ok is False and "cannot connect" in message
    set_connection(airflow_env, host="https://llm.invalid/v1")  # no key for a remote endpoint
    ok, message = LLMHook().test_connection()
    assert ok is False and "OPENROUTER_API_KEY" in message
    set_connection(airflow_env, extra={"timeout": "soon"})  # a connection the settings refuse
    ok, message = LLMHook().test_connection()
    assert ok is False and "field 'timeout_s'" in message


# -- 7. the offline server's admin endpoints ------------------------------------------------------------------


def http(url: str, data: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {key}"} if key else {})
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(url, data=body, method="GET" if data is None else "POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_admin_endpoints_honour_require_api_key(offline_server, prefix):
    key = "sk-or-v1-offline-admin-0000"
    offline_server.configure(require_api_key=key, latency_s=0.0)
    url = offline_server.url + prefix
    for path, body in (("/admin/config", {"latency_s": 9}), ("/admin/reset", {})):
        for given in (None, "sk-or-v1-wrong-key-0000", key.upper()):
            status, answer = http(url + path, body, given)
            assert status == 401 and "Invalid API key" in answer["error"]["message"]
    assert offline_server.config.latency_s == 0.0 and offline_server.config.require_api_key == key
    assert http(url + "/admin/config", {"latency_s": 0.01, "require_api_key": key}, key)[0] == 200
    assert offline_server.config.latency_s == 0.01
    assert http(url + "/admin/reset", {}, key) == (200, {"status": "reset"})
    assert http(url + "/health")[0] == 200 and http(url + "/stats")[0] == 200  # probes stay open
    assert call(make_client(offline_server, api_key=key)).text
