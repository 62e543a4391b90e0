"""The ``tournament:`` key of a cohort spec, and the essays a tournament is over.

```yaml
tournament:
  over: demo                  # a cohort id (its done essays), or a selection file beside the spec
  judges: [sonnet-4]          # judge model ids (llm_models.csv)
  template: pairwise-v1       # an evaluation template whose parser is pairwise
  rounds: 4                   # optional; default ceil(log2 n)
  both_orders: true           # optional; each pair judged as (A, B) and (B, A)
  seed: 0                     # optional; the Swiss pairing's tie-breaks and presented orders
  replicates: 1               # optional; verdicts per pair, order and judge (ids differ by replicate)
```

Every problem is one line naming the spec file and the field (``tournament.judges``), and the cost
(comparisons = rounds x n/2 x orders x judges x replicates) is bounded by ``DAYDREAM_MAX_PLAN_ROWS``
before anything is written (``replicates`` alone too, as ``replicates:`` of an ordinary spec).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from daydream.analysis.swiss import comparisons_needed, rounds_for
from daydream.catalogs import Catalogs
from daydream.errors import SpecError, first_problem, located, shown
from daydream.limits import MAX_PLAN_ROWS, over_limit
from daydream.paths import DataLayout, check_id
from daydream.spec.files import read_bounded
from daydream.spec.load import load_spec
from daydream.store import GensStore

TOURNAMENT_KEY = "tournament"
MAX_ROUNDS = 64
SELECTION_SUFFIX = ".txt"


class TournamentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    over: str
    judges: list[str] = Field(min_length=1)
    template: str
    rounds: StrictInt | None = Field(default=None, ge=1, le=MAX_ROUNDS)
    both_orders: StrictBool = True
    seed: StrictInt = 0
    replicates: StrictInt = Field(default=1, ge=1)


@dataclass(frozen=True)
class Tournament:
    """A validated tournament: its spec, where it came from, and the essays (done ones) it ranks."""

    cohort_id: str
    spec: TournamentSpec
    spec_file: Path
    essays: tuple[str, ...]

    @property
    def rounds(self) -> int:
        return self.spec.rounds or rounds_for(len(self.essays))


def _error(path: Path, field: str, message: str) -> SpecError:
    return SpecError(located(message, file=path, field=field))


def read_tournament_spec(path: Path) -> TournamentSpec:
    data = load_spec(path)
    raw: Any = data.get(TOURNAMENT_KEY)
    if raw is None:
        raise _error(path, TOURNAMENT_KEY, "missing: a tournament cohort's spec needs a 'tournament:' mapping")
    if not isinstance(raw, dict):
        raise _error(path, TOURNAMENT_KEY, f"expected a mapping, got {type(raw).__name__}")
    try:
        spec = TournamentSpec.model_validate(raw)
    except ValidationError as exc:
        field, message = first_problem(exc)
        raise _error(path, f"{TOURNAMENT_KEY}.{field}" if field else TOURNAMENT_KEY, message) from None
    check_id(spec.template, kind="template id", file=path, field=f"{TOURNAMENT_KEY}.template", error=SpecError)
    for judge in spec.judges:
        check_id(judge, kind="judge model id", file=path, field=f"{TOURNAMENT_KEY}.judges", error=SpecError)
    if len(set(spec.judges)) != len(spec.judges):
        raise _error(path, f"{TOURNAMENT_KEY}.judges", "a judge is listed twice")
    too_many = over_limit(spec.replicates, MAX_PLAN_ROWS)
    if too_many:
        raise _error(path, f"{TOURNAMENT_KEY}.replicates", f"{too_many}; the tournament was not planned")
    return spec


def _check_catalogs(path: Path, spec: TournamentSpec, catalogs: Catalogs) -> None:
    template = catalogs.templates["evaluation"].get(spec.template)
    if template is None:
        raise _error(path, f"{TOURNAMENT_KEY}.template", f"unknown evaluation template {shown(spec.template)}")
    if not template.is_pairwise:
        raise _error(
            path,
            f"{TOURNAMENT_KEY}.template",
            f"template {shown(spec.template)} has parser {shown(template.parser)}; a tournament needs a pairwise one",
        )
    unknown = [j for j in spec.judges if j not in catalogs.models]
    if unknown:
        raise _error(path, f"{TOURNAMENT_KEY}.judges", f"unknown model id(s) {shown(unknown)} (llm_models.csv)")


def _selected(layout: DataLayout, path: Path, over: str) -> list[str]:
    """Gen ids of a selection file beside the spec (one per line, ``#`` comments)."""
    file = layout.inside(path.parent / over)
    ids: list[str] = []
    for number, line in enumerate(read_bounded(file, "selection file").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            ids.append(check_id(text, kind="essay gen id", file=file, line=number, error=SpecError))
    return ids


def _essays_of(layout: DataLayout, path: Path, over: str) -> list[str]:
    field = f"{TOURNAMENT_KEY}.over"
    if over.endswith(SELECTION_SUFFIX):
        if "/" in over or "\\" in over or over.startswith("."):
            raise _error(path, field, f"a selection file is a plain file name beside the spec, got {shown(over)}")
        chosen = _selected(layout, path, over)
    else:
        from daydream.membership import read_membership

        cohort = check_id(over, kind="cohort id", file=path, field=field, error=SpecError)
        if not layout.membership(cohort).exists():
            raise _error(path, field, f"cohort {shown(cohort)} has no membership.csv; build it, or name a .txt file")
        frame = read_membership(layout, cohort)
        chosen = [str(g) for g in frame.loc[frame["stage"] == "essay", "gen_id"]]
    store = GensStore(layout)
    done = sorted({g for g in chosen if store.is_done("essay", g)})
    if len(done) < 2:
        raise _error(path, field, f"{len(done)} done essay(s) among {len(chosen)} listed; a tournament needs 2")
    return done


def load_tournament(layout: DataLayout, cohort_id: str, catalogs: Catalogs | None = None) -> Tournament:
    """The tournament of cohort ``cohort_id`` (``cohorts/<id>/spec/config.yaml``), checked and bounded."""
    path = layout.inside(layout.spec_file(cohort_id))
    if not path.exists():
        raise SpecError(located("not found: a tournament cohort needs spec/config.yaml", file=path))
    spec = read_tournament_spec(path)
    _check_catalogs(path, spec, catalogs or Catalogs.load(layout))
    essays = _essays_of(layout, path, spec.over)
    tournament = Tournament(cohort_id=cohort_id, spec=spec, spec_file=path, essays=tuple(essays))
    total = comparisons_needed(len(essays), tournament.rounds, spec.both_orders, len(spec.judges), spec.replicates)
    too_many = over_limit(total, MAX_PLAN_ROWS)
    if too_many:
        raise _error(path, TOURNAMENT_KEY, f"the tournament needs {total:,} comparisons: {too_many}")
    return tournament
