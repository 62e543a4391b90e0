"""Benchmark: every parser is linear in its input, and a 1 MB judge output parses well under a second.

A judge's answer is untrusted text of any size (up to ``limits.MAX_JUDGE_OUTPUT_CHARS``). Before
this benchmark existed the ``complex`` parser was quadratic: a 62 KB line of ``score score ...``
took 26 s and 3 MB never finished. Each shape below is a text that once triggered (or could
trigger) a per-label or per-tag rescan of the rest of the text.

For every (shape, parser) the CPU time at 64 KB and at 1 MB is measured in the same run (best of
``--repeat``). Targets:

- linearity: time(1 MB) / time(64 KB) <= 32 (linear is 16; a quadratic parser gives ~256);
- the 1 MB figure: <= 0.5 s for a realistic judge output and for one-line shapes, <= 1 s for shapes
  with a label on every line (the per-line work a parser cannot skip).

Run::

    .venv/bin/python benchmarks/bench_parsers.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

SMALL, LARGE = 64 * 1024, 1024 * 1024
MAX_RATIO = 32.0
REALISTIC_S, DENSE_S = 0.5, 1.0

JUDGE = """<think>
The essay links default-mode wandering with a verifier. Let me weigh each criterion.
Originality seems high; maybe a 2/3 so far. Hmm, wait, the second half repeats itself.
</think>

## Assessment

1. **Originality**: 2/3 - the combination is unusual.
2. **Insight**: 2/3 - the verifier idea is developed with care.
3. **Rigor**: 1/2 - the example is thin.
4. **Usefulness**: 1/2 - no concrete next step.

The essay is bold but its weakest step is the claim that background search needs no budget.

### Final Score
**7/10**

"""

# name -> (parser, repeating unit, dense: a label on every line)
SHAPES: dict[str, tuple[str, str, bool]] = {
    "realistic judge output": ("complex", JUDGE, False),
    "one line of 'score '": ("complex", "score ", False),
    "one line of 'a score of '": ("complex", "a score of ", False),
    "one line of 'SCORE ('": ("complex", "SCORE (", False),
    "one line of 'Final Score: 7/10 '": ("complex", "Final Score: 7/10 ", False),
    "one line of 'maybe Score: 7 '": ("complex", "maybe Score: 7 ", False),
    "lines 'Score: 2/3'": ("complex", "Score: 2/3\n", True),
    "lines 'Final Score' + blank": ("complex", "Final Score\n\n", True),
    "in_last_line, many lines": ("in_last_line", "Score 7 and more words\n", True),
    "essay_block, '<essay ' unclosed": ("essay_block", "<essay ", False),
    "lenient, '<essay ' unclosed": ("essay_block_lenient", "<essay ", False),
    "lenient, '<think ' unclosed": ("essay_block_lenient", "<think ", False),
    "lenient, '<think>' unclosed": ("essay_block_lenient", "<think>x", False),
    "essay_idea_last, open tags": ("essay_idea_last", '<essay-idea stage="1">\n', True),
}


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _parser(name: str) -> Callable[[str], object]:
    from daydream.parsers.draft import DRAFT_PARSERS
    from daydream.parsers.evaluation import EVALUATION_PARSERS

    return {**DRAFT_PARSERS, **EVALUATION_PARSERS}[name]


def _cpu(parse: Callable[[str], object], text: str, repeat: int) -> float:
    from daydream.errors import ParseError

    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        try:
            parse(text)
        except ParseError:
            pass  # a refusal is a result too: what is timed is reaching it
        best = min(best, time.process_time() - start)
    return best


def _calibration() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this machine is right now. Compare it
    between runs: on a machine shared with other work every figure below grows with it."""
    start = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"calibration: {_calibration():.3f} s CPU for a fixed pure-Python loop (same run)")
    print(f"{'shape':<36}{'parser':<21}{'64 KB s':>9}{'1 MB s':>9}{'ratio':>8}  verdict")
    missed = []
    for name, (parser_name, unit, dense) in SHAPES.items():
        parse = _parser(parser_name)
        small = _cpu(parse, _text(unit, SMALL), args.repeat)
        large = _cpu(parse, _text(unit, LARGE), args.repeat)
        ratio = large / max(small, 1e-4)
        limit = DENSE_S if dense else REALISTIC_S
        ok = ratio <= MAX_RATIO and large <= limit
        if not ok:
            missed.append(name)
        verdict = "ok" if ok else f"MISSED (ratio <= {MAX_RATIO:g}, 1 MB <= {limit:g} s)"
        print(f"{name:<36}{parser_name:<21}{small:>9.3f}{large:>9.3f}{ratio:>8.1f}  {verdict}", flush=True)
    if missed:
        print(f"missed: {', '.join(missed)}")
        return 1
    print(f"every parser linear (ratio <= {MAX_RATIO:g}) and within its 1 MB target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
