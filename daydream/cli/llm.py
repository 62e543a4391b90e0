"""``daydream llm``: run the offline LLM server and read its statistics.

The command line is a contract with ``include/scripts`` (they start ``daydream llm serve ...`` and
wait for the ready file); keep its flags.

daydream llm serve [--host 127.0.0.1] [--port 8765] [--config FILE] [--latency S]
                   [--models-csv data/1_raw/llm_models.csv] [--ready-file PATH]
daydream llm stats [--url http://127.0.0.1:8765]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from daydream import atomic
from daydream.errors import DayDreamError

DEFAULT_PORT = 8765
DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "llm",
        help="the offline LLM server (demo and tests)",
        description="Run the offline OpenAI-compatible LLM server.",
    )
    commands = parser.add_subparsers(dest="llm_command", metavar="COMMAND")
    commands.required = True

    serve = commands.add_parser(
        "serve", help="run the offline LLM in the foreground", description="Serve until SIGTERM or Ctrl-C."
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    serve.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML or JSON config: latency, faults, tiers, prices (see docs/llm.md)",
    )
    serve.add_argument(
        "--latency", type=float, default=None, help="default latency per request in seconds (overrides the config)"
    )
    serve.add_argument("--models-csv", type=Path, default=None, help="take tiers and prices from this llm_models.csv")
    serve.add_argument("--ready-file", type=Path, default=None, help="write the base URL to this file once listening")
    serve.set_defaults(handler=_serve)

    stats = commands.add_parser("stats", help="print the statistics of a running offline LLM")
    stats.add_argument("--url", default=DEFAULT_URL, help=f"server URL, with or without /v1 (default {DEFAULT_URL})")
    stats.set_defaults(handler=_stats)


def _raise_open_files_limit(wanted: int = 8192) -> None:
    """Each request in flight holds a socket: 500+ at once needs more than a default 1024 descriptors."""
    try:
        import resource
    except ImportError:  # pragma: no cover (not on Windows)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _serve(args: argparse.Namespace) -> int:
    from daydream.llm.offline import OfflineServer, catalog_pricing, load_config

    config = load_config(args.config, latency_s=args.latency)
    if args.models_csv is not None:
        catalog = catalog_pricing(args.models_csv)  # a CatalogError names the file, row and column
        config = load_config(
            {
                **config.model_dump(),
                "tiers": {**catalog["tiers"], **config.tiers},
                "prices": {**catalog["prices"], **{k: v.model_dump() for k, v in config.prices.items()}},
            }
        )
    _raise_open_files_limit()
    try:
        server = OfflineServer(config, host=args.host, port=args.port)
    except OSError as exc:
        raise DayDreamError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        print(f"offline LLM listening on {server.base_url}", flush=True)
        if args.ready_file is not None:
            atomic.write_text(args.ready_file, server.base_url + "\n")  # a reader never sees it empty
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("offline LLM stopped", file=sys.stderr, flush=True)
    return 0


def _stats(args: argparse.Namespace) -> int:
    url = args.url.rstrip("/").removesuffix("/v1") + "/stats"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (http(s) URL given)
            data = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DayDreamError(f"cannot read offline LLM stats from {url}: {reason}") from None
    print(json.dumps(data, indent=2, sort_keys=True))
    return 0
