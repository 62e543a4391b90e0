"""The DayDream DAGs: built here, declared by the thin files in ``dags/``.

Every task is a few lines around one call into ``daydream.orchestration`` (Airflow-free). This module
is the only place that knows Airflow's shape of the work:

- ``daydream_draft`` / ``daydream_essay`` / ``daydream_evaluation``: ``list_generations`` reads what
  the stage still has to do (``stage_work``) and checks it against ``[core] max_map_length``; three
  selector tasks hand each tier its gen ids; ``generate_free`` (pool ``llm_api_free``),
  ``generate_paid`` (pool ``llm_api_paid``) and ``generate_local`` (copy mode, default pool) run one
  generation per mapped instance, labelled by gen id; ``summary`` (runs whatever happened upstream)
  writes ``runs/<stage>_summary.json``. A generation that fails is recorded in the store and returned
  as state ``failed``, not raised, so the stage run ends ``success`` and the next stage still runs for
  the generations whose parents are done; Airflow retries are for crashed workers only.
- ``daydream_cohort``: builds the cohort, triggers the three stage DAGs in order and then
  ``daydream_report`` (deferred waits: no worker slot is held), then ``outcome`` fails the run, with
  the stage summaries as its message, when a generation or a stage failed. Under ``airflow dags test``
  (no scheduler runs triggered DAGs there) the stages run inline in the trigger tasks instead, and the
  task log says so.
- ``daydream_report``: ``daydream.reports.build_cohort_reports``.
- ``daydream_resume``: on a schedule, triggers ``daydream_cohort`` for every unfinished cohort.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from daydream.paths import STAGES, DataLayout

log = logging.getLogger("daydream.airflow")

COHORT_DAG_ID = "daydream_cohort"
REPORT_DAG_ID = "daydream_report"
RESUME_DAG_ID = "daydream_resume"
STAGE_DAG_IDS: dict[str, str] = {stage: f"daydream_{stage}" for stage in STAGES}
TIERS = ("free", "paid", "local")
POOLS: dict[str, str] = {"free": "llm_api_free", "paid": "llm_api_paid", "local": "default_pool"}
"""Pool of each tier's mapped task (names declared in include/pools.json; ``local`` makes no call)."""
TAGS = ["daydream"]
LLM_CONN_ID = os.environ.get("DAYDREAM_LLM_CONN_ID", "llm_default")
GENERATION_RETRIES = 2
"""Airflow retries of one generation task: for crashed or killed workers. A failed generation is
recorded and returned, not raised, so it is not retried by Airflow (a rerun re-validates it)."""
TRIGGER_POLL_SECONDS = float(os.environ.get("DAYDREAM_TRIGGER_POLL_SECONDS", "3"))
RESUME_SCHEDULE_ENV = "DAYDREAM_RESUME_SCHEDULE"
DEFAULT_RESUME_SCHEDULE = "@daily"
DAG_TEST_USER = "dag_test"
"""``triggering_user_name`` of the runs that ``dag.test()`` / ``airflow dags test`` create (3.3)."""


# -- settings of one run --------------------------------------------------------------------------


def layout() -> DataLayout:
    """The data root: ``$DAYDREAM_DATA_ROOT``, else ``./data`` of the process."""
    return DataLayout.at(None)


def cohort_choices() -> list[str]:
    """Cohorts offered by the trigger form, computed at parse time (never fails the parse)."""
    try:
        from daydream.orchestration import list_cohorts

        return list_cohorts(layout())
    except Exception as exc:  # a broken data root must not hide the DAGs
        log.warning("cannot list cohorts under %s: %s", layout().cohorts, exc)
        return []


def run_params(*, stages: bool = False, budget: bool = True) -> dict[str, Param]:
    """The trigger form: ``cohort_id`` (existing cohorts suggested), ``force``, ``max_cost_usd``."""
    choices = cohort_choices()
    default = "demo" if "demo" in choices else (choices[0] if choices else "")
    params: dict[str, Param] = {
        "cohort_id": Param(
            default,
            type="string",
            minLength=1,
            title="Cohort",
            description="A directory under cohorts/ of the data root (the list shows the cohorts found "
            "when the DAG was parsed; any other cohort id may be typed).",
            **({"examples": choices} if choices else {}),
        ),
    }
    if budget:
        params["force"] = Param(
            False,
            type="boolean",
            title="Force",
            description="Run generations again even when they are done (pays again).",
        )
        params["max_cost_usd"] = Param(
            None,
            type=["null", "number"],
            minimum=0,
            title="Budget (USD)",
            description="Start no further LLM call once the cohort's recorded "
            "spend (all runs, cohorts/<id>/runs/spend.jsonl) has "
            "reached this; those generations end in state 'budget'. "
            "Empty means no limit.",
        )
    if stages:
        params["stages"] = Param(
            list(STAGES),
            type="array",
            title="Stages",
            items={"type": "string", "enum": list(STAGES)},
            examples=list(STAGES),
            description="Stages to run, in pipeline order; the others are skipped.",
        )
    return params


class RunConf:
    """The validated params of a run (``context['params']``)."""

    def __init__(self, params: Mapping[str, Any]):
        cohort_id = str(params.get("cohort_id") or "").strip()
        if not cohort_id:
            raise AirflowException('param cohort_id is required: trigger with conf {"cohort_id": "demo"}')
        self.cohort_id = cohort_id
        self.force = _as_bool(params.get("force", False))
        budget = params.get("max_cost_usd")
        self.max_cost_usd = None if budget in (None, "", "null", "None") else float(budget)
        stages = params.get("stages") or list(STAGES)
        if isinstance(stages, str):
            stages = [s.strip() for s in stages.replace(",", "\n").splitlines() if s.strip()]
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise AirflowException(f"param stages: unknown stage(s) {unknown}; expected some of {list(STAGES)}")
        self.stages = [s for s in STAGES if s in stages]

    @classmethod
    def current(cls) -> RunConf:
        return cls(get_current_context()["params"])

    def child_conf(self) -> dict[str, Any]:
        """The conf the cohort run passes to each stage run."""
        return {"cohort_id": self.cohort_id, "force": self.force, "max_cost_usd": self.max_cost_usd}


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def is_dag_test(context: Mapping[str, Any]) -> bool:
    """True inside ``dag.test()`` / ``airflow dags test``, where no scheduler runs triggered DAGs."""
    dag_run = context.get("dag_run")
    return getattr(dag_run, "triggering_user_name", None) == DAG_TEST_USER


def max_map_length() -> int:
    from airflow.sdk import conf

    return conf.getint("core", "max_map_length", fallback=1024)


# -- one stage: the steps shared by the stage DAGs and the inline (dags test) path ------------------


def list_work(stage: str, run: RunConf) -> dict[str, list[str]]:
    """``stage_work`` checked against ``[core] max_map_length``, logged."""
    from daydream.orchestration import check_map_length, stage_work

    work = stage_work(layout(), run.cohort_id, stage, force=run.force)
    limit = max_map_length()
    for tier in TIERS:
        check_map_length(len(work.get(tier, [])), stage=f"{stage} ({tier} tier)", limit=limit)
    log.info(
        "cohort %s, stage %s: %s to run (parents done, not done yet%s)",
        run.cohort_id,
        stage,
        ", ".join(f"{len(work.get(t, []))} {t}" for t in TIERS),
        ", forced" if run.force else "",
    )
    return {tier: list(work.get(tier, [])) for tier in TIERS}


def llm_client() -> Any:
    """The LLM client of connection ``llm_default`` (or ``$DAYDREAM_LLM_CONN_ID``)."""
    from daydream.airflow.hook import LLMHook

    return LLMHook(llm_conn_id=LLM_CONN_ID).get_conn()


def generate_one(stage: str, tier: str, gen_id: str, run: RunConf, llm: Any = None) -> dict[str, Any]:
    """One generation; a generation-level failure comes back as state ``failed``, never raised."""
    from daydream.orchestration import run_generation

    own_client = llm is None and tier != "local"
    if own_client:
        llm = llm_client()
    try:
        outcome = run_generation(
            layout(), stage, gen_id, cohort_id=run.cohort_id, llm=llm, force=run.force, max_cost_usd=run.max_cost_usd
        )
    finally:
        if own_client and hasattr(llm, "close"):
            llm.close()
    log.info(
        "%s %s: %s%s", stage, gen_id, outcome.get("state"), f" ({outcome['message']})" if outcome.get("message") else ""
    )
    return outcome


def crashed(stage: str, gen_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Outcomes for generations whose task instance ended without one (crash, error after retries)."""
    return [
        {
            "gen_id": gen_id,
            "stage": stage,
            "state": "failed",
            "message": "its task instance failed after all Airflow retries (worker crash or unexpected "
            "error); see the task log",
        }
        for gen_id in gen_ids
    ]


def summarize(
    stage: str, run: RunConf, work: Mapping[str, list[str]], outcomes: list[dict[str, Any]]
) -> dict[str, Any]:
    """``write_stage_summary`` with the generations that returned no outcome counted as failed."""
    from daydream.orchestration import write_stage_summary

    seen = {o.get("gen_id") for o in outcomes}
    missing = [g for tier in TIERS for g in work.get(tier, []) if g not in seen]
    summary = write_stage_summary(layout(), run.cohort_id, stage, [*outcomes, *crashed(stage, missing)])
    log.info("%s", summary.get("text", ""))
    return summary


def run_stage_inline(stage: str, run: RunConf) -> dict[str, Any]:
    """The whole stage in this process, one generation after another (``dags test`` path)."""
    work = list_work(stage, run)
    outcomes: list[dict[str, Any]] = []
    llm = llm_client() if work["free"] or work["paid"] else None
    try:
        for tier in TIERS:
            for gen_id in work[tier]:
                outcomes.append(generate_one(stage, tier, gen_id, run, llm=None if tier == "local" else llm))
    finally:
        if llm is not None and hasattr(llm, "close"):
            llm.close()
    return summarize(stage, run, work, outcomes)


def build_reports(run: RunConf) -> dict[str, Any]:
    """The cohort's reports (``cohorts/<id>/reports/``): tables, charts, ``index.html``."""
    from daydream.reports import build_cohort_reports

    result = build_cohort_reports(layout(), run.cohort_id)
    headline = result.headline.model_dump(mode="json")
    index = layout().reports(run.cohort_id) / "index.html"
    log.info(
        "reports of cohort %s: %d files, %s; %s evaluations scored, mean score %s",
        run.cohort_id,
        len(result.paths),
        index,
        headline.get("scored"),
        headline.get("mean_score"),
    )
    return {"cohort_id": run.cohort_id, "index": str(index), "files": len(result.paths), "headline": headline}


# -- the DAGs -------------------------------------------------------------------------------------


def stage_dag(stage: str) -> DAG:
    """``daydream_<stage>``: one generation per mapped task instance, one mapped task per tier."""

    @task(task_id="list_generations")
    def list_generations() -> dict[str, list[str]]:
        return list_work(stage, RunConf.current())

    @task
    def gen_ids(work: dict[str, list[str]], tier: str) -> list[str]:
        return work[tier]

    @task(
        retries=GENERATION_RETRIES,
        retry_delay=timedelta(seconds=5),
        map_index_template="{{ task.op_kwargs['gen_id'] }}",
    )
    def generate(tier: str, gen_id: str) -> dict[str, Any]:
        return generate_one(stage, tier, gen_id, RunConf.current())

    @task(task_id="summary", trigger_rule="all_done")
    def summary() -> dict[str, Any]:
        ti = get_current_context()["ti"]
        work = ti.xcom_pull(task_ids="list_generations")
        if work is None:
            raise AirflowException("list_generations failed, nothing ran: see its log")
        pulled = ti.xcom_pull(task_ids=[f"generate_{tier}" for tier in TIERS])
        return summarize(stage, RunConf.current(), work, [o for o in pulled if isinstance(o, dict)])

    @dag(
        dag_id=STAGE_DAG_IDS[stage],
        schedule=None,
        is_paused_upon_creation=False,
        catchup=False,
        params=run_params(),
        tags=[*TAGS, "stage"],
        doc_md=f"DayDream **{stage}** stage of one cohort: one mapped task instance per generation, "
        f"free-tier models in pool `llm_api_free`, paid ones in `llm_api_paid`, copy mode "
        f"without a call. Done generations are not listed again (param `force` lists them).",
    )
    def stage_pipeline() -> None:
        work = list_generations()
        generated = []
        for tier in TIERS:
            ids = gen_ids.override(task_id=f"{tier}_ids")(work, tier)
            mapped = generate.override(task_id=f"generate_{tier}", pool=POOLS[tier])
            generated.append(mapped.partial(tier=tier).expand(gen_id=ids))
        generated >> summary()

    return stage_pipeline()


class TriggerStepOperator(TriggerDagRunOperator):
    """Triggers one step of a cohort run (a stage DAG or the report DAG) and waits, deferred.

    The conf comes from the cohort run's params. A stage left out of param ``stages`` is skipped.
    Under ``airflow dags test`` the step runs inline in this task instead, since no scheduler would
    ever run the triggered DAG there.
    """

    def __init__(self, *, step: str, **kwargs: Any):
        dag_id = STAGE_DAG_IDS.get(step, REPORT_DAG_ID)
        # One retry: Airflow 3.3 can fail a deferred task whose trigger fires before the scheduler
        # has seen the worker exit from the deferral (a triggered run that ends within seconds);
        # the retry triggers a new run, which finds the finished work and ends at once.
        super().__init__(
            task_id=f"run_{step}",
            trigger_dag_id=dag_id,
            deferrable=True,
            wait_for_completion=True,
            poke_interval=TRIGGER_POLL_SECONDS,
            allowed_states=["success"],
            failed_states=["failed"],
            retries=1,
            retry_delay=timedelta(seconds=5),
            **kwargs,
        )
        self.step = step

    def execute(self, context: Any) -> Any:
        run = RunConf(context["params"])
        if self.step in STAGES and self.step not in run.stages:
            raise AirflowSkipException(f"stage {self.step} is not in param stages {run.stages}")
        self.conf = run.child_conf() if self.step in STAGES else {"cohort_id": run.cohort_id}
        if is_dag_test(context):
            self.operator_extra_links = ()  # no triggered run to link to
            log.info(
                "airflow dags test: no scheduler runs a triggered DAG here, so %s runs inline in "
                "this task (one generation after another, pools not applied) instead of triggering %s",
                self.step,
                self.trigger_dag_id,
            )
            if self.step in STAGES:
                return run_stage_inline(self.step, run)
            return build_reports(run)
        log.info("triggering %s with conf %s and waiting for it (deferred)", self.trigger_dag_id, self.conf)
        return super().execute(context)


RUN_SETTINGS = "run_settings.json"
"""``cohorts/<id>/runs/run_settings.json``: the budget of the cohort's last run, which the scheduled
resume reuses (a resumed cohort never spends past the budget its last run was given)."""


def save_run_settings(run: RunConf) -> None:
    from daydream import atomic

    atomic.write_json(layout().runs_dir(run.cohort_id) / RUN_SETTINGS, {"max_cost_usd": run.max_cost_usd})


def resumed_settings(cohort_id: str) -> dict[str, Any]:
    try:
        budget = json.loads((layout().runs_dir(cohort_id) / RUN_SETTINGS).read_text()).get("max_cost_usd")
    except (OSError, ValueError, AttributeError):
        return {}
    return {} if budget is None else {"max_cost_usd": float(budget)}


def read_stage_summaries(cohort_id: str, stages: Iterable[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for stage in stages:
        path = layout().runs_dir(cohort_id) / f"{stage}_summary.json"
        try:
            out[stage] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return out


def cohort_outcome(run: RunConf, step_states: Mapping[str, str | None], started: datetime | None) -> dict[str, Any]:
    """What a cohort run did; raises with that text when a step or a generation failed."""
    from daydream.orchestration import cohort_failures

    prefixes = {"draft": "d_", "essay": "e_", "evaluation": "v_"}
    ran = [s for s in run.stages if step_states.get(f"run_{s}") not in ("skipped", "upstream_failed")]
    summaries = {
        s: v
        for s, v in read_stage_summaries(run.cohort_id, ran).items()
        if started is None or str(v.get("at", "")) >= started.isoformat()[:19]
    }
    failed = sorted({f["gen_id"] for v in summaries.values() for f in v.get("failed", [])})
    try:
        failed = sorted(
            set(failed)
            | {g for g in cohort_failures(layout(), run.cohort_id) if any(g.startswith(prefixes[s]) for s in ran)}
        )
    except Exception as exc:  # membership missing when the build failed
        log.warning("cannot read the cohort's failures: %s", exc)
    broken = sorted(t for t, state in step_states.items() if state in ("failed", "upstream_failed"))
    lines = [
        f"cohort {run.cohort_id}: stages run: {', '.join(ran) or 'none'}"
        + (f" (skipped: {', '.join(s for s in STAGES if s not in ran)})" if len(ran) < len(STAGES) else "")
    ]
    lines += [summaries[s]["text"] for s in STAGES if s in summaries and summaries[s].get("text")]
    if failed:
        shown = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20 else "")
        lines.append(
            f"{len(failed)} generation(s) failed: {shown} (messages in runs/<stage>_summary.json "
            f"and each generation's task log; a rerun retries them)"
        )
    if broken:
        lines.append(f"task(s) failed: {', '.join(broken)} (see their logs)")
    reports = layout().reports(run.cohort_id) / "index.html"
    if reports.exists():
        lines.append(f"reports: {reports}")
    text = "\n".join(lines)
    if failed or broken:
        raise AirflowException("cohort run failed:\n" + text)
    log.info("%s", text)
    return {"cohort_id": run.cohort_id, "stages": ran, "failed": [], "text": text}


def cohort_dag() -> DAG:
    """``daydream_cohort``: build, the three stages in order, the report, the outcome."""

    @task(task_id="build_cohort")
    def build_cohort() -> dict[str, Any]:
        from daydream.orchestration import build_cohort as build

        run = RunConf.current()
        result = build(layout(), run.cohort_id)
        log.info("%s", result.get("text") or json.dumps(result, default=str))
        save_run_settings(run)
        return result

    @task(task_id="outcome", trigger_rule="all_done")
    def outcome() -> dict[str, Any]:
        context = get_current_context()
        ti, dag_run = context["ti"], context["dag_run"]
        steps = ["build_cohort", *(f"run_{s}" for s in STAGES), "run_report"]
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, task_ids=steps, run_ids=[ti.run_id])
            step_states = {k: (str(v) if v else None) for k, v in states.get(ti.run_id, {}).items()}
        except Exception as exc:
            log.warning("cannot read the task states of this run: %s", exc)
            step_states = {}
        return cohort_outcome(RunConf.current(), step_states, getattr(dag_run, "start_date", None))

    @dag(
        dag_id=COHORT_DAG_ID,
        schedule=None,
        catchup=False,
        params=run_params(stages=True),
        tags=TAGS,
        doc_md="Builds a DayDream cohort, then runs `daydream_draft`, `daydream_essay`, "
        "`daydream_evaluation` and `daydream_report` for it, in order. Generations "
        "whose parents failed wait; the run fails, with a summary, when any "
        "generation failed.",
    )
    def cohort_pipeline() -> None:
        previous = build_cohort()
        for step in (*STAGES, "report"):
            # none_failed: a skipped stage (param stages) lets the next one run.
            current = TriggerStepOperator(step=step, trigger_rule="none_failed")
            previous >> current
            previous = current
        previous >> outcome()

    return cohort_pipeline()


def report_dag() -> DAG:
    """``daydream_report``: aggregate scores, charts, HTML page of one cohort."""

    @task(task_id="build_reports")
    def reports() -> dict[str, Any]:
        return build_reports(RunConf.current())

    @dag(
        dag_id=REPORT_DAG_ID,
        schedule=None,
        is_paused_upon_creation=False,
        catchup=False,
        params=run_params(budget=False),
        tags=TAGS,
        doc_md="Writes the reports of one DayDream cohort to `cohorts/<cohort_id>/reports/`.",
    )
    def report_pipeline() -> None:
        reports()

    return report_pipeline()


def resume_schedule() -> str | None:
    """``$DAYDREAM_RESUME_SCHEDULE`` (cron or preset), default daily; ``none`` turns it off."""
    value = os.environ.get(RESUME_SCHEDULE_ENV, DEFAULT_RESUME_SCHEDULE).strip()
    return None if value.lower() in ("", "none", "off") else value


def resume_dag() -> DAG:
    """``daydream_resume``: triggers ``daydream_cohort`` for every cohort with unfinished generations."""

    @task(task_id="unfinished_cohorts")
    def unfinished() -> list[dict[str, Any]]:
        from daydream.orchestration import unfinished_cohorts

        ti = get_current_context()["ti"]
        active = ti.get_dr_count(dag_id=COHORT_DAG_ID, states=["queued", "running"])
        if active:
            log.info(
                "%d %s run(s) are active; resuming next time to avoid running a cohort twice", active, COHORT_DAG_ID
            )
            return []
        cohorts = unfinished_cohorts(layout())
        log.info("unfinished cohorts: %s", ", ".join(cohorts) or "none")
        return [{"cohort_id": c, **resumed_settings(c)} for c in cohorts]

    @dag(
        dag_id=RESUME_DAG_ID,
        schedule=resume_schedule(),
        start_date=datetime(2025, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=TAGS,
        doc_md=f"Resumes every cohort with pending or failed generations by triggering "
        f"`{COHORT_DAG_ID}` for it, so free-tier models whose providers cap requests "
        f"per day finish over several days. Schedule: `${RESUME_SCHEDULE_ENV}` "
        f"(default `{DEFAULT_RESUME_SCHEDULE}`). Starts paused: unpause it to enable.",
    )
    def resume_pipeline() -> None:
        TriggerDagRunOperator.partial(
            task_id="resume_cohort",
            trigger_dag_id=COHORT_DAG_ID,
            wait_for_completion=False,
            map_index_template="{{ task.conf['cohort_id'] }}",
        ).expand(conf=unfinished())

    return resume_pipeline()
