"""``frame_csv`` writes exactly what ``DataFrame.to_csv(index=False, lineterminator="\\n")`` writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from daydream.reports.csvtext import frame_csv


def _every_kind() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plain": pd.Series(["a", "b", None, "", "d"], dtype="str"),
            "needs quotes": pd.Series(["x,y", 'say "hi"', "two\nlines", "cr\rhere", ""], dtype="str"),
            "mixed": pd.Series([None, 1.5, "t,u", 3, True], dtype=object),
            "float": [0.1, np.nan, 1e-05, 1e16, -2.0],
            "int": [1, -2, 3, 40, 5],
            "flag": [True, False, True, False, True],
            "nullable_int": pd.array([1, None, 3, 4, None], dtype="Int64"),
            "nullable_flag": pd.array([True, None, False, True, None], dtype="boolean"),
            "numbers_as_objects": pd.Series([1, 2.5, True, 7, 0.125], dtype=object),
            "when": pd.to_datetime(
                ["2025-01-01 00:00:00", None, "2025-03-04 05:06:07", "2025-01-01 00:00:00", "2025-01-02 10:00:00"],
                format="ISO8601",
            ),
        }
    )


@pytest.mark.parametrize(
    "frame",
    [
        _every_kind(),
        _every_kind().iloc[:0],
        pd.DataFrame({"a,b": ["1"], 'q"': ["2"]}),
        pd.DataFrame({"only": ["", "x"]}),
        pd.DataFrame(),
        pd.DataFrame(index=range(3)),
    ],
    ids=["every-kind", "no-rows", "quoted-header", "one-column", "empty", "no-columns"],
)
def test_frame_csv_is_to_csv(frame: pd.DataFrame) -> None:
    assert frame_csv(frame) == frame.to_csv(index=False, lineterminator="\n")
