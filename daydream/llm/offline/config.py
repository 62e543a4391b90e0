"""The offline LLM's behaviour: latency, faults, tiers, prices, auth; a YAML/JSON file or a dict.

The same model is the ``--config`` file of ``daydream llm serve``, the body of ``POST /admin/config``
and the argument of ``OfflineServer``. Tiers follow the model catalog's rule
(``daydream.catalogs.default_tier``) and ``catalog_pricing`` reads ``llm_models.csv`` through
``daydream.catalogs.load_models``, so the offline server never disagrees with a cohort's estimate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from daydream.catalogs import Tier, default_tier, load_models
from daydream.errors import DayDreamError, first_problem, located

FaultKind = Literal[
    "rate_limit",
    "server_error",
    "slow",
    "truncate",
    "empty",
    "no_score",
    "upstream_error",
    "bad_request",
    "unauthorized",
    "not_found",
    "not_json",  # HTTP 200 (or ``status``) whose body is ``body``: an HTML page, a cut JSON, ...
    "bad_usage",  # a real answer whose ``usage`` is replaced by ``patch["usage"]`` (wrong types)
    "bad_choices",  # a real answer whose ``choices`` is replaced by ``patch["choices"]``
]
STATUS_FAULTS: dict[str, int] = {
    "rate_limit": 429,
    "server_error": 500,
    "bad_request": 400,
    "unauthorized": 401,
    "not_found": 404,
}
EchoForm = Literal["plain", "no_prefix", "fragment", "masked", "url_encoded", "base64", "lower"]
EchoPlace = Literal["message", "body", "header"]


class OfflineConfigError(DayDreamError):
    """The offline server's config file or ``/admin/config`` body is invalid."""


class FaultRule(BaseModel):
    """One fault. Applies to requests matching ``model`` (any when None) and ``prompt_contains``.

    ``first_n``: only the first N matching requests for each (model, prompt) fail, later ones
    succeed (deterministic retry tests). ``rate``: each matching request fails with this probability,
    drawn from a hash of (seed, rule, model, prompt, attempt number), so the same run repeats
    exactly. Neither: every matching request fails.
    """

    model_config = ConfigDict(extra="forbid")

    fault: FaultKind
    model: str | None = None
    prompt_contains: str | None = None
    first_n: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, ge=0.0, le=1.0)
    retry_after: float | None = 1.0  # rate_limit: the Retry-After header, seconds (None: no header)
    retry_after_ms: float | None = None  # rate_limit: also send OpenAI's retry-after-ms header
    headers: dict[str, str] = Field(default_factory=dict)  # rate_limit: more headers (x-ratelimit-*)
    status: int | None = Field(default=None, ge=200, le=599)  # server_error 500, upstream_error 502, not_json 200
    slow_s: float = Field(default=30.0, ge=0)  # slow: how long to stall before answering
    message: str | None = None  # error faults: the provider message to send
    body: str | None = None  # not_json: the body sent ("{echo}" becomes the echoed key, if echoing)
    content_type: str = "application/json"  # not_json: its Content-Type
    patch: dict[str, Any] = Field(default_factory=dict)  # bad_usage/bad_choices: top-level fields replaced

    def matches(self, model: str, prompt: str) -> bool:
        return (self.model is None or self.model == model) and (
            self.prompt_contains is None or self.prompt_contains in prompt
        )


BatchFaultKind = Literal["errored", "expired", "missing"]


class BatchFaultRule(BaseModel):
    """A fault for single requests of a batch: ``errored`` (an error result with ``message``),
    ``expired`` (not processed in time), ``missing`` (left out of the results: partial results).

    Matching and ``first_n``/``rate`` as for ``FaultRule``, counted per (model, prompt) across batches,
    so ``first_n: 1`` fails a request in its first batch and answers it in the next one.
    """

    model_config = ConfigDict(extra="forbid")

    fault: BatchFaultKind
    model: str | None = None
    prompt_contains: str | None = None
    first_n: int | None = Field(default=None, ge=0)
    rate: float | None = Field(default=None, ge=0.0, le=1.0)
    message: str | None = None

    def matches(self, model: str, prompt: str) -> bool:
        return (self.model is None or self.model == model) and (
            self.prompt_contains is None or self.prompt_contains in prompt
        )


class BatchConfig(BaseModel):
    """The batch APIs' behaviour (``daydream.llm.offline.batch``)."""

    model_config = ConfigDict(extra="forbid")

    completion_delay_s: float = Field(default=3.0, ge=0)  # a batch ends this long after it was created
    submit_stall_s: float = Field(default=0.0, ge=0)  # the batch exists, then its create call answers this late
    stall_first_n: int | None = Field(default=None, ge=0)  # only the first N creates stall (None: every one)
    max_requests: int | None = Field(default=None, ge=1)  # a bigger batch is refused with 400
    discount: float = Field(default=0.5, ge=0, le=1)  # OpenRouter's reported cost: chat cost x (1 - discount)
    faults: list[BatchFaultRule] = Field(default_factory=list)


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(default=0.0, ge=0)  # USD per million prompt tokens
    completion: float = Field(default=0.0, ge=0)  # USD per million completion tokens


class OfflineConfig(BaseModel):
    """The offline server's behaviour; a YAML/JSON file, CLI flags or ``POST /admin/config``."""

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(default=0.05, ge=0)
    model_latency_s: dict[str, float] = Field(default_factory=dict)
    # A provider's concurrency cap: a request beyond this many in flight for its model gets an immediate
    # 429 with Retry-After ``max_in_flight_retry_after`` (adaptive concurrency tests).
    model_max_in_flight: dict[str, int] = Field(default_factory=dict)
    max_in_flight_retry_after: float = Field(default=1.0, ge=0)
    faults: list[FaultRule] = Field(default_factory=list)
    known_models: list[str] | None = None  # when set, other models get 404
    # answer 404, like many servers
    missing_endpoints: list[Literal["models", "key", "embeddings"]] = Field(default_factory=list)
    require_api_key: str | None = None  # when set, another bearer token gets 401 (admin endpoints too)
    # Test aids: a hostile provider echoing the caller's key back, in these forms, in these places
    # (every error reply; "header" every reply), so tests can prove the client masks all of them.
    echo_auth_in_errors: bool = False
    echo_forms: list[EchoForm] = Field(default_factory=lambda: list[EchoForm](["plain"]))
    echo_in: list[EchoPlace] = Field(default_factory=lambda: list[EchoPlace](["message"]))
    tiers: dict[str, Tier] = Field(default_factory=dict)  # default: the catalog's ":free" rule
    prices: dict[str, Price] = Field(default_factory=dict)
    default_paid_price: Price = Field(default_factory=lambda: Price(prompt=1.0, completion=2.0))
    report_cost: bool = True  # false: no usage.cost, like a provider without usage accounting
    seed: int = 0
    batch: BatchConfig = Field(default_factory=BatchConfig)

    @model_validator(mode="before")
    @classmethod
    def _single_fault(cls, data: Any) -> Any:
        """Accept ``fault: {...}`` as shorthand for ``faults: [{...}]``."""
        if isinstance(data, dict) and "fault" in data:
            data = dict(data)
            data["faults"] = [*data.get("faults", []), data.pop("fault")]
        return data

    def tier_of(self, model: str) -> Tier:
        return self.tiers.get(model) or default_tier(model)

    def latency_for(self, model: str) -> float:
        return self.model_latency_s.get(model, self.latency_s)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.get(model)
        if price is None:
            price = Price() if self.tier_of(model) == "free" else self.default_paid_price
        return round((prompt_tokens * price.prompt + completion_tokens * price.completion) / 1e6, 10)


def load_config(source: str | Path | dict[str, Any] | OfflineConfig | None = None, **overrides: Any) -> OfflineConfig:
    """An ``OfflineConfig`` from a file path (.json/.yaml), a dict, a config, or None (defaults)."""
    if isinstance(source, OfflineConfig):
        data: dict[str, Any] = source.model_dump()
    elif isinstance(source, dict):
        data = dict(source)
    elif source is None:
        data = {}
    else:
        path = Path(source)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))  # JSON is YAML too
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise OfflineConfigError(located(f"cannot read the offline LLM config: {reason}", file=path)) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise OfflineConfigError(located("the offline LLM config must be a mapping", file=path))
        data = loaded or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return OfflineConfig.model_validate(data)
    except ValidationError as exc:
        where = f"{source}: " if isinstance(source, (str, Path)) else ""
        field, problem = first_problem(exc)
        raise OfflineConfigError(
            f"{where}offline LLM config field '{field}': {problem} ({exc.error_count()} error(s))"
        ) from None


def catalog_pricing(models_csv: str | Path) -> dict[str, Any]:
    """``tiers`` and ``prices`` for the config from an ``llm_models.csv`` (price columns optional)."""
    tiers: dict[str, str] = {}
    prices: dict[str, dict[str, float]] = {}
    for row in load_models(Path(models_csv)).values():
        tiers[row.model] = row.tier
        if row.price_prompt_per_mtok is not None and row.price_completion_per_mtok is not None:
            prices[row.model] = {"prompt": row.price_prompt_per_mtok, "completion": row.price_completion_per_mtok}
    return {"tiers": tiers, "prices": prices}
