"""``daydream batch list | cancel | submit | collect``: the batch lane without Airflow, and its state.

Endpoints and keys come from the environment (``daydream.llm.batch.settings_from_env``):
``OPENROUTER_API_KEY``, ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, ``$DAYDREAM_BATCH_<API>_URL``.
"""

from __future__ import annotations

import argparse
import json

from daydream.batch import (
    batch_api_for,
    batch_rows,
    cancel_batches,
    collect_open,
    lane_groups,
    poll_seconds,
    rows_table,
    start_lane,
)
from daydream.call_plan import RunOptions
from daydream.cli import add_data_root
from daydream.errors import DayDreamError
from daydream.llm.batch import BatchAdapter, adapter_for, settings_from_env
from daydream.paths import STAGES, DataLayout, check_id, check_stage


def _connect(api: str, conn_id: str | None) -> BatchAdapter:
    return adapter_for(api, settings_from_env(api))


def register(subparsers: argparse._SubParsersAction) -> None:
    batch = subparsers.add_parser("batch", help="the batch lane: list, cancel, submit and collect provider batches")
    sub = batch.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)

    list_ = sub.add_parser("list", help="batches (provider, model, state, counts, age), newest first")
    list_.add_argument("--cohort", default=None, help="one cohort (default: all)")
    list_.add_argument("--open", action="store_true", help="only batches not collected yet")
    list_.add_argument("--json", action="store_true", help="one JSON object per line")
    add_data_root(list_)
    list_.set_defaults(handler=_list)

    cancel = sub.add_parser("cancel", help="cancel a cohort's open batches (at the provider, and for waiting tasks)")
    cancel.add_argument("--cohort", required=True)
    cancel.add_argument("--batch", action="append", default=None, metavar="KEY", help="only this batch (repeatable)")
    add_data_root(cancel)
    cancel.set_defaults(handler=_cancel)

    submit = sub.add_parser("submit", help="send a stage's pending batch-lane generations as batches")
    submit.add_argument("cohort_id")
    submit.add_argument("--stage", required=True, choices=STAGES)
    submit.add_argument(
        "--batch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--batch: every stage's paid generations with a batch API (the run param batch: true); "
        "default: evaluations only",
    )
    submit.add_argument("--max-cost-usd", type=float, default=None, help="budget, as the DAG param")
    submit.add_argument("--force", action="store_true", help="run done generations again (pays again)")
    add_data_root(submit)
    submit.set_defaults(handler=_submit)

    collect = sub.add_parser("collect", help="poll a cohort's open batches and file the ended ones into the store")
    collect.add_argument("cohort_id")
    collect.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait this long for them to end")
    add_data_root(collect)
    collect.set_defaults(handler=_collect)


def _list(args: argparse.Namespace) -> int:
    cohort = check_id(args.cohort, kind="cohort id", field="--cohort") if args.cohort else None
    rows = [r for r in batch_rows(DataLayout.at(args.data_root), cohort) if r.is_open or not args.open]
    if args.json:
        for row in rows:
            print(json.dumps({**row.model_dump(mode="json"), "open": row.is_open}))
    else:
        print(rows_table(rows))
    return 0


def _cancel(args: argparse.Namespace) -> int:
    cohort = check_id(args.cohort, kind="cohort id", field="--cohort")
    report = cancel_batches(
        DataLayout.at(args.data_root), cohort, keys=args.batch, reason="daydream batch cancel", connect=_connect
    )
    if not report:
        print(f"cohort {cohort}: no open batch to cancel")
    for entry in report:
        sent = "cancelled at the provider" if entry.get("sent") else "marked: the waiting Airflow task cancels it"
        detail = f" ({entry['error']})" if entry.get("error") else ""
        print(f"{entry['key']} {entry['batch_id'] or '-'}: {sent}{detail}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from daydream.catalogs import Catalogs
    from daydream.orchestration.stage import BATCH_LANE, stage_work

    layout = DataLayout.at(args.data_root)
    cohort, stage = check_id(args.cohort_id, kind="cohort id"), check_stage(args.stage)
    if args.max_cost_usd is not None and not args.max_cost_usd >= 0:
        raise DayDreamError(f"--max-cost-usd: must be a number >= 0, got {args.max_cost_usd}")
    gen_ids = stage_work(layout, cohort, stage, force=args.force, batch=args.batch).get(BATCH_LANE, [])
    catalogs = Catalogs.load(layout)
    groups = lane_groups(layout, cohort, stage, gen_ids)
    options = RunOptions(force=args.force, max_cost_usd=args.max_cost_usd)
    for model_id, ids in groups.items():
        api = batch_api_for(catalogs.models.get(model_id), stage, args.batch) or "(open batches)"
        start = start_lane(layout, cohort, stage, model_id, ids, options=options, connect=_connect)
        settled = {o["state"] for o in start.outcomes}
        print(
            f"{stage} {model_id} via {api}: {len(ids)} generation(s); waiting for {start.keys or 'nothing'}"
            + (f"; settled without a batch: {sorted(settled)}" if settled else "")
        )
    if not groups:
        print(f"{stage} of cohort {cohort}: nothing goes by batch")
    return 0


def _collect(args: argparse.Namespace) -> int:
    layout = DataLayout.at(args.data_root)
    cohort = check_id(args.cohort_id, kind="cohort id")
    if not args.wait >= 0:
        raise DayDreamError(f"--wait: must be a number of seconds >= 0, got {args.wait}")
    outcomes = collect_open(
        layout, cohort, connect=_connect, options=RunOptions(), wait_s=args.wait, poll_s=min(poll_seconds(), 10)
    )
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome["state"]] = states.get(outcome["state"], 0) + 1
    print(f"cohort {cohort}: collected {len(outcomes)} result(s) " + json.dumps(states, sort_keys=True))
    for outcome in outcomes:
        if outcome["state"] == "failed":
            print(f"  failed {outcome['gen_id']}: {outcome['message']}")
    still = [r.key for r in batch_rows(layout, cohort) if r.is_open]
    if still:
        print(f"still open: {', '.join(still)}")
    return 0
