"""Shared pieces of the LLM tests: the offline server, a client on it, a canary key.

Imported explicitly by the ``test_llm_*`` modules (``from llm_fixtures import ...``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from daydream.llm.client import OpenAICompatibleClient
from daydream.llm.offline import OfflineServer, start_offline_server
from daydream.llm.settings import LLMSettings

CANARY = "sk-or-v1-CANARY-3f9a7c1e5b2d4a6f8e0c"
SPECIAL_CANARY = "sk-or-v1-sp/ec+ial=KEY~7d41e0b9c2a8"  # URL- and base64-encoding change it
PAID = "openai/gpt-4o-mini"
FREE = "deepseek/deepseek-r1:free"


class RecordingSleep:
    """An injectable ``sleep`` (and ``asleep``) that records each delay and (by default) does not wait."""

    def __init__(self, real: bool = False):
        self.real = real
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real:
            await asyncio.sleep(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


def make_client(
    server: OfflineServer, *, sleep: RecordingSleep | None = None, **settings: Any
) -> OpenAICompatibleClient:
    values: dict[str, Any] = {"base_url": server.base_url, "api_key": CANARY, "timeout_s": 5.0}
    values.update(settings)
    sleep = sleep or RecordingSleep()
    return OpenAICompatibleClient(LLMSettings(**values), sleep=sleep, asleep=sleep.asleep, rng=random.Random(7))


def call(
    client: OpenAICompatibleClient,
    prompt: str = "Say something.",
    *,
    model: str = PAID,
    max_tokens: int = 2000,
    temperature: float = 0.5,
    **kwargs: Any,
):
    return client.complete(model=model, prompt=prompt, max_tokens=max_tokens, temperature=temperature, **kwargs)


def acall(
    client: OpenAICompatibleClient,
    prompt: str = "Say something.",
    *,
    model: str = PAID,
    max_tokens: int = 2000,
    temperature: float = 0.5,
    **kwargs: Any,
):
    """``call`` through the async face, on the tests' one event loop (as a triggerer has one)."""
    return _LOOP.run_until_complete(
        client.acomplete(model=model, prompt=prompt, max_tokens=max_tokens, temperature=temperature, **kwargs)
    )


_LOOP = asyncio.new_event_loop()


FACES = ("sync", "async")


def call_on(face: str, client: OpenAICompatibleClient, prompt: str = "Say something.", **kwargs: Any):
    """The same call through the sync or the async face: both must behave identically."""
    return (call if face == "sync" else acall)(client, prompt, **kwargs)


def requests_for(server: OfflineServer, model: str = PAID) -> int:
    return server.stats()["models"].get(model, {}).get("requests", 0)


@pytest.fixture
def offline_server() -> Iterator[OfflineServer]:
    """A fresh offline server with no latency and no faults."""
    with start_offline_server({"latency_s": 0.0}) as server:
        yield server


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OPENROUTER_API_KEY / DAYDREAM_LLM_BASE_URL from the developer's shell."""
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("DAYDREAM_LLM_BASE_URL", raising=False)


@pytest.fixture
def airflow_env(tmp_path, monkeypatch: pytest.MonkeyPatch, no_env_key: None) -> pytest.MonkeyPatch:
    """A scratch AIRFLOW_HOME and no llm_default connection from the outer environment."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.delenv("AIRFLOW_CONN_LLM_DEFAULT", raising=False)
    return monkeypatch


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = "llm_default", **fields: Any) -> None:
    """An Airflow connection of type daydream_llm, from the environment (as the deployments do)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "daydream_llm", **fields}))
