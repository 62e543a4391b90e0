"""Reading a spec file and checking its top-level shape, so later errors can point at one rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from daydream.errors import SpecError, located
from daydream.paths import STAGES
from daydream.spec.files import read_bounded
from daydream.spec.values import Site, canonical_axis, clip, is_replicate, kind, quoted, replicate_count
from daydream.spec.yamlsafe import load_json, load_yaml

TOP_LEVEL_KEYS = ("axes", "rules", "output", "combos", "replicates", "tournament")
"""``tournament`` is read by ``daydream.tournament.spec`` (a tournament cohort), never compiled into rows."""
OUTPUT_KEYS = ("field_order",)


def check_keys(site: Site, mapping: Mapping[Any, Any], known: Sequence[str]) -> None:
    unknown = [str(k) for k in mapping if k not in known]
    if unknown:
        raise site.error(f"unknown key(s) {quoted(unknown[:20])} (known: {', '.join(known)})")


def expect_mapping(site: Site, value: Any, *, allow_none: bool = True) -> Mapping[Any, Any]:
    if value is None and allow_none:
        return {}
    if not isinstance(value, Mapping):
        raise site.error(f"expected a mapping, got {kind(value)}")
    return value


def load_spec(path: Path) -> dict[str, Any]:
    """The parsed spec (YAML, or JSON for a ``.json`` file) with its top-level shape checked.

    ``axes`` may be missing or empty: every axis can come from ``tuples`` items. Whether anything
    is left to compile is decided after the rules ran (``Compiler.finish``).
    """
    path = path if isinstance(path, Path) else Path(path)  # keeps an object-storage path
    text = read_bounded(path, "spec file")
    data = load_json(text, path) if path.suffix.lower() == ".json" else load_yaml(text, path)
    if data is None:
        raise SpecError(located("empty spec, expected a mapping with 'axes'", file=path))
    if not isinstance(data, dict):
        got = "a list" if isinstance(data, list) else f"a {type(data).__name__} value"  # content not quoted
        raise SpecError(located(f"expected a mapping at the top level, got {got}", file=path))
    check_keys(Site(path, "top level"), data, TOP_LEVEL_KEYS)
    expect_mapping(Site(path, "axes"), data.get("axes"))
    rules = data.get("rules")
    if rules is not None and not isinstance(rules, (Mapping, list)):
        raise Site(path, "rules").error(f"expected a mapping of sections or a list of them, got {kind(rules)}")
    output = expect_mapping(Site(path, "output"), data.get("output"))
    check_keys(Site(path, "output"), output, OUTPUT_KEYS)
    return data


def replicate_axes(path: Path, raw: Any) -> dict[str, int]:
    """DayDreaming's ``replicates: {draft_template: 2}`` as the axis ``draft_template_replicate: [1, 2]``.

    Kept so specs from an existing DayDreaming data directory compile unchanged; the alias is then
    normalised to ``draft_replicate`` like any other replicate axis. The count is checked against
    the plan limit here, before a single level exists.
    """
    out: dict[str, int] = {}
    for axis, count in expect_mapping(Site(path, "replicates"), raw).items():
        site = Site(path, f"replicates '{clip(axis)}'")
        name = str(axis) if str(axis).endswith("_replicate") else f"{axis}_replicate"
        if not is_replicate(canonical_axis(name)):
            stages = ", ".join(f"{stage}_template" for stage in STAGES)
            raise site.error(f"not a stage axis (use {stages} or {', '.join(STAGES)})")
        out[name] = replicate_count(count, site)
    return out
