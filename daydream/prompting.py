"""A generation's prompt from its metadata: the parent's text, the combo's concepts, the template.

Every id followed here (parent gen id, combo id, concept id, template id) comes from a data file,
and each becomes a path only through ``DataLayout``, which refuses anything outside the id grammar.
"""

from __future__ import annotations

from typing import Any

from daydream.catalogs import Catalogs
from daydream.combos import Combo, ComboCatalog
from daydream.paths import DataLayout, Stage
from daydream.rendering import render_text
from daydream.store import GenMetadata, GensStore


class Prompts:
    def __init__(self, layout: DataLayout, catalogs: Catalogs, store: GensStore):
        self.layout = layout
        self.catalogs = catalogs
        self.store = store
        self._combos: ComboCatalog | None = None

    def parent_text(self, stage: Stage, meta: GenMetadata) -> str | None:
        """The parent's ``parsed.txt``; None when the parent is not done (drafts have no parent)."""
        if stage == "draft":
            return None
        parent = meta.parent_gen_id or ""
        if stage == "essay":
            return self.store.parsed_text("draft", parent)
        # an evaluation's parent is normally an essay; a draft may be evaluated directly
        text = self.store.parsed_text("essay", parent)
        return text if text is not None else self.store.parsed_text("draft", parent)

    def render(self, stage: Stage, meta: GenMetadata, template_text: str, parent_text: str | None) -> str:
        path = self.catalogs.template_path(stage, meta.template_id or "")
        variables: dict[str, Any]
        if stage == "draft":
            combo = self.combo(meta.combo_id or "")
            variables = {
                "concepts": [
                    {
                        "name": self.catalogs.concepts[c].name if c in self.catalogs.concepts else c,
                        "content": self.catalogs.concept_text(c, combo.level),
                    }
                    for c in combo.concept_ids
                ]
            }
        elif stage == "essay":
            variables = {"draft_block": parent_text, "links_block": parent_text}
        else:
            variables = {"response": parent_text}
        return render_text(template_text, variables, path=path)

    def combo(self, combo_id: str) -> Combo:
        if self._combos is None:  # read once per runner, and only by a draft
            self._combos = ComboCatalog(self.layout.combo_mappings)
        return self._combos.get(combo_id)
