"""The commands the shell scripts run (``include/scripts/airflow_env.sh`` defines ``daydream_local`` for them).

daydream_local up                     # Airflow + offline LLM until Ctrl-C (make airflow)
daydream_local demo [--cohort demo]   # start, trigger daydream_cohort, show progress, stop (make demo)
daydream_local stop                   # stop what a previous start left
daydream_local free-port 8080         # 8080 when it is free on 127.0.0.1, else any free port
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from local_airflow.env import LocalAirflowError, airflow_env, free_port


def _cohort_id(value: str) -> str:
    from daydream.errors import IdError
    from daydream.paths import check_id

    try:
        return check_id(value, kind="cohort id")
    except IdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daydream_local", description="A project-local Airflow for developers.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start Airflow and the offline LLM, until Ctrl-C")
    demo = commands.add_parser("demo", help="start, run daydream_cohort for a cohort, stop")
    demo.add_argument("--cohort", default="demo", type=_cohort_id)
    demo.add_argument("--force", action="store_true", help="run every generation again")
    demo.add_argument("--batch", action="store_true", help="the batch lane for paid models (param batch: true)")
    demo.add_argument("--timeout", type=float, default=float(os.environ.get("DAYDREAM_DEMO_TIMEOUT", "1200")))
    stop = commands.add_parser("stop", help="stop the services a previous start left running")
    stop.add_argument("--grace", type=float, default=10.0)
    port = commands.add_parser("free-port", help="print PORT when it is free on 127.0.0.1, else any free port")
    port.add_argument("port", type=int, nargs="?", default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "free-port":  # runs while airflow_env.sh is sourced: nothing heavy imported
        try:
            print(free_port(args.port))
        except LocalAirflowError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0

    from local_airflow import commands

    env = dict(os.environ) if "DAYDREAM_REPO" in os.environ else airflow_env()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, commands.raise_stop)
    handler = {"up": commands.cmd_up, "demo": commands.cmd_demo, "stop": commands.cmd_stop}[args.command]
    try:
        return handler(args, env)
    except commands.Stop as exc:
        print(f"stopped by {exc}", file=sys.stderr)
        return 143
    except LocalAirflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
