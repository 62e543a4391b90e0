"""The offline LLM's state: its config, fault counters and the statistics ``/stats`` reports.

Requests run on the server's event loop; tests read and reconfigure from their own thread. Every
method holds one ``threading.Lock`` for a few dictionary operations and never across an ``await``, so
the loop is never blocked for longer than that.

``/stats`` counts, per model and per tier, how many requests were in flight at once: the team's
scheduler tests read ``peak_in_flight`` to prove Airflow's pools hold, and ``answered_twice`` to prove
no generation was paid for twice. Its JSON shape is a contract with those tests.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from daydream.llm.offline.config import FaultRule, OfflineConfig


@dataclass
class _Gauge:
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0

    def enter(self) -> None:
        self.requests += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def leave(self) -> None:
        self.in_flight -= 1


@dataclass
class ModelStats(_Gauge):
    served: int = 0
    errors: Counter = field(default_factory=Counter)


class ServerState:
    """Config, fault counters and statistics, shared by the event loop and the test's thread."""

    def __init__(self, config: OfflineConfig):
        self.lock = threading.Lock()
        self.config = config
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.total = _Gauge()
            self.models: dict[str, ModelStats] = {}
            self.tiers: dict[str, _Gauge] = {}
            self.answered: list[tuple[str, str]] = []
            self.fault_hits: Counter = Counter()  # (rule index, model, prompt sha) -> matching count
            self.fault_counts: Counter = Counter()  # fault kind -> times injected
            self.last_request: dict[str, Any] = {}

    def replace_config(self, config: OfflineConfig) -> None:
        with self.lock:
            self.config = config
            self.fault_hits = Counter()

    @contextmanager
    def in_flight(self, model: str) -> Iterator[ModelStats]:
        with self.lock:
            stats = self.models.setdefault(model, ModelStats())
            gauges = (self.total, stats, self.tiers.setdefault(self.config.tier_of(model), _Gauge()))
            for gauge in gauges:
                gauge.enter()
        try:
            yield stats
        finally:
            with self.lock:
                for gauge in gauges:
                    gauge.leave()

    def pick_fault(self, model: str, prompt: str, sha: str) -> FaultRule | None:
        """The first rule that fires for this request (advancing the first_n/rate counters)."""
        with self.lock:
            for index, rule in enumerate(self.config.faults):
                if not rule.matches(model, prompt):
                    continue
                key = (index, model, sha)
                self.fault_hits[key] += 1
                seen = self.fault_hits[key]
                if rule.first_n is not None:
                    fires = seen <= rule.first_n
                elif rule.rate is not None:
                    draw = hashlib.sha256(f"{self.config.seed}|{index}|{model}|{sha}|{seen}".encode())
                    fires = int(draw.hexdigest()[:12], 16) / 16**12 < rule.rate
                else:
                    fires = True
                if fires:
                    self.fault_counts[rule.fault] += 1
                    return rule
        return None

    def remember(self, body: dict[str, Any], headers: Mapping[str, str]) -> None:
        """Keep the last request's body (messages replaced by their count) and header names."""
        with self.lock:
            self.last_request = {
                "body": {k: (len(v) if k == "messages" else v) for k, v in body.items()},
                "headers": {
                    k.lower(): ("<redacted>" if k.lower() == "authorization" else v) for k, v in headers.items()
                },
            }

    def record(self, stats: ModelStats, status: int, model: str, sha: str) -> None:
        with self.lock:
            if status == 200:
                stats.served += 1
                self.answered.append((model, sha))
            else:
                stats.errors[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            answered = Counter(self.answered)
            return {
                "total_requests": self.total.requests,
                "total_served": len(self.answered),
                "in_flight": self.total.in_flight,
                "peak_in_flight": self.total.peak_in_flight,
                "models": {
                    model: {
                        "tier": self.config.tier_of(model),
                        "requests": s.requests,
                        "served": s.served,
                        "errors": dict(s.errors),
                        "in_flight": s.in_flight,
                        "peak_in_flight": s.peak_in_flight,
                    }
                    for model, s in sorted(self.models.items())
                },
                "tiers": {
                    tier: {"requests": g.requests, "in_flight": g.in_flight, "peak_in_flight": g.peak_in_flight}
                    for tier, g in sorted(self.tiers.items())
                },
                "faults_injected": dict(self.fault_counts),
                "last_request": self.last_request,
                "answered": [list(pair) for pair in self.answered],
                "answered_twice": [[m, s, n] for (m, s), n in sorted(answered.items()) if n > 1],
            }
