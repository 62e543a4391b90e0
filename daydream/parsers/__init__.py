"""Parsers turn a model's raw text into a stage output (data-contract section 7).

Names here are the values of the ``parser`` column of the template catalogs.
"""

DRAFT_PARSER_NAMES = ("identity", "essay_idea_last", "essay_block", "essay_block_lenient")
EVALUATION_PARSER_NAMES = ("in_last_line", "complex")
