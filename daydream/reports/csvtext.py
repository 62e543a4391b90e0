"""A frame as CSV text, exactly ``DataFrame.to_csv(index=False, lineterminator="\\n")``, faster.

``aggregated_scores.csv`` alone is 100,000 rows x 42 columns in a large report; pandas' writer spent
2 s of CPU on it, most of it in the ``csv`` module quoting 4 million cells that need no quoting.
Here the cells are formatted by pandas' own CSV formatting (``_get_values_for_csv``, what ``to_csv``
calls), a column of plain strings (no delimiter, quote or line break) is joined as it is, one of
numbers or flags as their ``str``, and only the other columns' cells go through the ``csv`` module,
one cell at a time: the same bytes (tests compare it with ``to_csv`` on every dtype the reports write).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pandas as pd

_SPECIAL = (",", '"', "\n", "\r")
"""Characters that make the ``csv`` module quote a cell (delimiter, quote character, line breaks)."""


class _Cell:
    """One cell as the ``csv`` module writes it inside a row (its quoting, its ``str``/``repr``)."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")

    def __call__(self, value: Any) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow((value, ""))  # a second, empty cell: a lone empty cell would be quoted
        return self.buffer.getvalue()[:-2]


_NUMBERS = {int, bool, float}
"""Cells the ``csv`` module writes as ``str(value)``, never quoted (``repr`` is ``str`` for a float)."""


def _cells(values: list[Any], cell: _Cell) -> list[str]:
    """A column's cells as the ``csv`` module writes them."""
    types = set(map(type, values))
    if types <= _NUMBERS:
        return list(map(str, values))
    if types == {str}:
        joined = "".join(values)
        if not any(char in joined for char in _SPECIAL):
            return values
    return [cell(value) for value in values]


def frame_csv(frame: pd.DataFrame) -> str:
    """``frame.to_csv(index=False, lineterminator="\\n")``, byte for byte."""
    if frame.shape[1] < 2 or not hasattr(frame, "_get_values_for_csv"):
        # a one-cell row that is empty is written quoted; a pandas without the private formatter: pandas
        return frame.to_csv(index=False, lineterminator="\n")
    values = frame._get_values_for_csv(
        float_format=None, date_format=None, decimal=".", na_rep="", quoting=csv.QUOTE_MINIMAL
    )
    cell = _Cell()
    columns = []
    for position in range(values.shape[1]):
        columns.append(_cells(values.iloc[:, position].to_numpy(dtype=object).tolist(), cell))
    header = ",".join(cell(name) for name in frame.columns)
    return "\n".join([header, *map(",".join, zip(*columns, strict=True))]) + "\n"
