"""One BLAS thread while a report computes its statistics.

The statistics multiply thin matrices (1,000 resamples x 11,000 clusters by a handful of groups) and
solve small systems: memory-bound work that a second BLAS thread barely speeds up on an idle
machine, while on a shared one (an Airflow worker running other tasks, two cores under load) the
OpenBLAS threads spin waiting for a core and the same products take 3-20x longer (measured in
``benchmarks/bench_reports.py``: docs/reports.md, Performance). So the report limits BLAS to one
thread for its duration and restores the setting afterwards; results are the same up to rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def single_blas_thread() -> Iterator[None]:
    with threadpool_limits(limits=1, user_api="blas"):
        yield
