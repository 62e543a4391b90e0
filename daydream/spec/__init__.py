"""The cohort spec DSL (docs/spec-dsl.md): ``spec/config.yaml`` compiled to one row per plan.

A spec names axes (lists of levels), restricts and binds them with rules applied in the order
written, and asks for the Cartesian product of what remains. Every problem is a ``SpecError`` with
one line naming the spec file, the rule and the offending values, so a researcher can fix the
YAML without reading code. The package is cut where the work is: ``load`` (the file and its
top-level shape, ``yamlsafe`` bounding YAML's cost), ``files`` (``@file`` tables, kept inside the
spec's directory), ``compiler`` (axes and factors), ``rules`` (the four rule kinds), ``product``
(the numpy product).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import pandas as pd

from daydream.errors import SpecError, located
from daydream.spec.compiler import Compiler
from daydream.spec.files import FILE_PREFIX, FILE_SUFFIXES
from daydream.spec.load import TOP_LEVEL_KEYS, load_spec, replicate_axes
from daydream.spec.product import product
from daydream.spec.rules import RULE_SECTIONS, apply_rules
from daydream.spec.values import REPLICATE_ALIASES, REPLICATE_AXES, canonical_axis, is_replicate

__all__ = [
    "FILE_PREFIX",
    "FILE_SUFFIXES",
    "REPLICATE_ALIASES",
    "REPLICATE_AXES",
    "RULE_SECTIONS",
    "TOP_LEVEL_KEYS",
    "canonical_axis",
    "compile_spec",
    "is_replicate",
    "load_spec",
]


def compile_spec(
    path: Path,
    *,
    known_ids: Mapping[str, Collection[str]] | None = None,
    injected_axes: Mapping[str, Sequence[str]] | None = None,
    data_root: Path | None = None,
) -> pd.DataFrame:
    """One row per planned combination, columns in output order; strings (categorical), replicates int64.

    ``known_ids`` maps an axis to the catalog ids it may use (without it nothing is checked against
    catalogs: ``daydream spec compile`` previews a design before the catalogs exist);
    ``injected_axes`` supplies axes the spec does not give (the cohort builder's ``combo_id`` from a
    ``combos`` section); ``data_root``, when known, is a second place ``@file:`` may read from
    besides the spec's directory. Replicate columns the spec does not name are not added: the
    cohort builder defaults them to 1.
    """
    path = path if isinstance(path, Path) else Path(path)  # keeps an object-storage path
    spec = load_spec(path)
    if "tournament" in spec and "axes" not in spec and "rules" not in spec:
        raise SpecError(
            located(
                "a tournament cohort (key 'tournament') is played, not built: use 'daydream tournament run "
                "<cohort>' or the daydream_tournament DAG",
                file=path,
                field="tournament",
            )
        )
    replicates = replicate_axes(path, spec.get("replicates"))
    compiler = Compiler(path, known_ids, injected_axes, data_root)
    compiler.load_axes([(str(k), v) for k, v in (spec.get("axes") or {}).items()], replicates)
    apply_rules(compiler, spec.get("rules"))
    compiler.finish(has_axes_key="axes" in spec)
    compiler.check_known()
    columns = compiler.columns(spec.get("output") or {})
    return product(compiler.ordered(), columns, path)
