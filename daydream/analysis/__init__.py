"""Statistics a researcher can defend (issue 14): pure functions over pandas/numpy, no file I/O.

One concept per module; docs/analysis.md has the formulas, assumptions and references.

- ``means``: group means with cluster-bootstrap intervals (resampling documents, not evaluations).
- ``compare``: pairwise differences of template/model means with Holm's correction; the leaderboard.
- ``agreement``: Krippendorff's alpha (interval) with a bootstrap interval.
- ``calibration``, ``length``, ``self_preference``, ``position``: judge bias checks.
- ``bradley_terry`` (on ``bt_fit``): ratings from pairwise verdicts; ``swiss``: the next round's pairs;
  ``comparison_ids``: ids of comparison generations.
- ``text_similarity``, ``ideas``: near-duplicates, idea clusters, distinct ideas and saturation curves.
- ``bootstrap``, ``multiple``, ``frames``: the shared machinery.
"""
