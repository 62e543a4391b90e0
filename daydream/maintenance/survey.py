"""Read-only surveys of the store: identical answers, and templates nothing was generated with.

Identical ``raw.txt`` across generations usually means something went wrong (a provider cache, a
copied directory, a template that ignores its inputs), and an unused template is a catalog row to
retire or a cohort never run. Neither changes anything on disk.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from daydream.catalogs import Catalogs
from daydream.errors import StoreError
from daydream.limits import MAX_JUDGE_OUTPUT_CHARS
from daydream.maintenance.index import GenKey, StoreIndex
from daydream.paths import STAGES, DataLayout
from daydream.store import GensStore

PREVIEW_CHARS = 80
CHUNK = 1 << 20


def normalise(text: str) -> str:
    """What "the same answer" means: line endings and trailing spaces do not count, nor blank lines
    at either end."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


@dataclass(frozen=True)
class DuplicateGroup:
    sha256: str
    members: tuple[GenKey, ...]
    preview: str


def find_duplicates(layout: DataLayout, *, include_empty: bool = False) -> tuple[list[DuplicateGroup], list[str]]:
    """Groups of two or more generations whose ``raw.txt`` is the same once normalised (any stage),
    largest first; and the files that could not be read."""
    store = GensStore(layout)
    index = StoreIndex.load(layout)
    groups: dict[str, list[GenKey]] = defaultdict(list)
    previews: dict[str, str] = {}
    problems = list(index.problems)
    for stage, gen_id in sorted(index.metadata):
        path = store.path(stage, gen_id, "raw.txt")
        try:
            digest, preview = _fingerprint(store, path)
        except StoreError as exc:
            problems.append(str(exc))
            continue
        if digest is None or (not preview and not include_empty):
            continue
        groups[digest].append((stage, gen_id))
        previews.setdefault(digest, preview)
    found = [DuplicateGroup(d, tuple(keys), previews[d]) for d, keys in groups.items() if len(keys) > 1]
    return sorted(found, key=lambda g: (-len(g.members), g.members)), problems


def _fingerprint(store: GensStore, path: Path) -> tuple[str | None, str]:
    """``(sha256, first line)`` of a normalised answer; an answer longer than any parser reads is
    hashed as its bytes, in chunks, so one huge file costs no memory."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_JUDGE_OUTPUT_CHARS.value:
        digest = hashlib.sha256()
        try:
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    digest.update(chunk)
        except OSError as exc:
            raise StoreError(f"{path}: cannot read ({exc.strerror or exc})") from None
        return "bytes:" + digest.hexdigest(), f"({size:,} bytes)"
    text = normalise(store.read_file(path) or "")
    first = text.split("\n", 1)[0].strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), first[:PREVIEW_CHARS]


def unused_templates(layout: DataLayout, *, active_only: bool = False) -> tuple[dict[str, list[str]], Counter[str]]:
    """Per stage, the catalog's templates with no generation in the store; and how many
    generations each used template has (``stage/template_id`` -> count)."""
    catalogs = Catalogs.load(layout)
    index = StoreIndex.load(layout)
    used: Counter[str] = Counter(
        f"{stage}/{meta.template_id}" for (stage, _), meta in index.metadata.items() if meta and meta.template_id
    )
    unused: dict[str, list[str]] = {}
    for stage in STAGES:
        templates = catalogs.templates.get(stage, {})
        unused[stage] = sorted(
            template_id
            for template_id, template in templates.items()
            if f"{stage}/{template_id}" not in used and (template.active or not active_only)
        )
    return unused, used
