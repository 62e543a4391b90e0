"""Runs one stage of a cohort through ``GenerationEngine`` (the trigger path without Airflow), in this
process or as a script in a child process (the kill -9 and two-process tests).

    python tests/engine_harness.py DATA_ROOT COHORT STAGE BASE_URL '{"llm_api_paid": 5, "llm_api_free": 1}'

prints one JSON line: the outcomes and the gate's statistics.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from daydream.engine.driver import GenerationEngine  # noqa: E402
from daydream.engine.gate import FixedPoolSizes  # noqa: E402
from daydream.llm.settings import LLMSettings  # noqa: E402
from daydream.orchestration import LOCAL_TIER, TIERS, stage_work  # noqa: E402
from daydream.paths import DataLayout  # noqa: E402
from daydream.runner import RunOptions  # noqa: E402

POOL_OF_TIER = {"free": "llm_api_free", "paid": "llm_api_paid", LOCAL_TIER: None}


def settings(base_url: str, **extra: Any) -> LLMSettings:
    return LLMSettings(base_url=base_url, api_key="sk-engine-harness", timeout_s=120, **extra)


async def run_stage(
    engine: GenerationEngine, layout: DataLayout, cohort_id: str, stage: str, *, force: bool = False
) -> list[dict[str, Any]]:
    """Every generation the stage still has to run, all at once (as the triggerer gets them)."""
    work = await asyncio.to_thread(stage_work, layout, cohort_id, stage, force=force)
    options = RunOptions(force=force)
    jobs = [
        engine.generate(
            stage,  # type: ignore[arg-type]
            gen_id,
            pool=POOL_OF_TIER[tier],
            cohort_id=cohort_id,
            options=options,
            run_key="harness",
        )
        for tier in TIERS
        for gen_id in work[tier]
    ]
    return [o.as_dict() for o in await asyncio.gather(*jobs)]


def main(argv: list[str]) -> int:
    root, cohort_id, stage, base_url, sizes = argv
    layout = DataLayout(Path(root))

    async def go() -> dict[str, Any]:
        engine = GenerationEngine(layout, settings(base_url), FixedPoolSizes(json.loads(sizes)), poll_s=0.05)
        try:
            outcomes = await run_stage(engine, layout, cohort_id, stage)
            return {"outcomes": outcomes, "gate": engine.gate.stats()}
        finally:
            await engine.aclose()

    print(json.dumps(asyncio.run(go())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
