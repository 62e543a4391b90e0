"""The offline LLM: an OpenAI-compatible HTTP server on loopback for the demo and the tests.

Answers come from ``daydream.llm.offline_answers`` (deterministic in model and prompt). Latency and
faults (429 with ``Retry-After``, 5xx, slow, truncated, empty, no score, 400/401/404, a 200 whose body
is not JSON or has the wrong shape, a key echoed back) are configured by ``OfflineConfig``
(``config``); ``/stats`` (``state``) records, per model and per tier, how many requests were in
flight at once, so tests can prove that Airflow's pools hold; ``server`` is the FastAPI app on
uvicorn, one asyncio loop holding hundreds of requests in flight.
"""

from daydream.llm.offline.config import (
    STATUS_FAULTS,
    FaultKind,
    FaultRule,
    OfflineConfig,
    OfflineConfigError,
    Price,
    catalog_pricing,
    load_config,
)
from daydream.llm.offline.server import OfflineServer, build_app, start_offline_server
from daydream.llm.offline.state import ServerState

__all__ = [
    "STATUS_FAULTS",
    "FaultKind",
    "FaultRule",
    "OfflineConfig",
    "OfflineConfigError",
    "OfflineServer",
    "Price",
    "ServerState",
    "build_app",
    "catalog_pricing",
    "load_config",
    "start_offline_server",
]
