"""Reading user CSV files with row numbers, so every error can name the row and the column."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from daydream.errors import CatalogError, DayDreamError, located, shown

# The spellings of a boolean cell; "one home" for every catalog and data file that has flags.
TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}


def read_rows(
    path: Path, required: Sequence[str], *, error: type[DayDreamError] = CatalogError
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row_number, row)`` with the header as row 1, as a spreadsheet numbers them.

    Cells are stripped; a missing file or a missing required column is an error naming the file.
    The file must parse cleanly, to the end: Python's csv reader, left lenient, lets an unterminated
    quote swallow every row after it into one cell and still ends "successfully", so a 105-row
    catalog reads as 3 rows. Here malformed quoting is an error naming the row where the quote
    opened, and so is a quoted cell that has swallowed what look like whole rows.
    """
    if path.is_dir():
        raise error(located("is a directory, expected a CSV file", file=path))
    if not path.is_file():
        raise error(located("file not found", file=path))
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise error(located(f"cannot read: {exc.strerror}", file=path)) from None
    with handle:
        reader = csv.reader(handle, strict=True)
        header = _header(reader, path, required, error)
        row_number, line_end = 1, reader.line_num
        while True:
            line_start = line_end + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                raise error(
                    located(
                        f"not a readable CSV (line {line_start}): {_csv_problem(exc)}", file=path, row=row_number + 1
                    )
                ) from None
            row_number, line_end = row_number + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                raise error(
                    located(
                        f"{len(cells)} cells but the header has {len(header)} columns (extra cell from column "
                        f"{len(header) + 1}; quote a value that contains a comma)",
                        file=path,
                        row=row_number,
                    )
                )
            swallowed = _swallowed_rows(cells, len(header))
            if swallowed:
                raise error(
                    located(
                        f"a quote opened on line {line_start} runs to line {line_end} and swallows {swallowed} "
                        f"line(s) that look like rows (an unterminated or stray '\"'?)",
                        file=path,
                        row=row_number,
                        field=header[next(i for i, c in enumerate(cells) if "\n" in c)],
                    )
                )
            row = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
            yield row_number, row


def _header(reader: Any, path: Path, required: Sequence[str], error: type[DayDreamError]) -> list[str]:
    """The stripped header row, with every required column present and no name given twice."""
    try:
        header = next(reader)
    except StopIteration:
        raise error(located("empty file, expected a header row", file=path)) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise error(located(f"not a readable CSV: {_csv_problem(exc)}", file=path, row=1)) from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise error(
            located(
                f"missing required column(s): {', '.join(missing)} (header: {shown(', '.join(header), 200)})",
                file=path,
                row=1,
                field=missing[0],
            )
        )
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise error(located("duplicate column name", file=path, row=1, field=name))
        seen.add(name)
    return header


def _csv_problem(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start})"
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quote is never closed (unterminated '\"' reaching the end of the file)"
    return text


def _swallowed_rows(cells: Sequence[str], width: int) -> int:
    """How many lines inside this record's cells look like whole CSV rows (0 for an ordinary cell).

    A multi-line cell is legal CSV (a description with a paragraph break); a line inside a cell that
    carries as many commas as a row has separators is what a missing closing quote leaves behind.
    """
    if width < 2:
        return 0
    count = 0
    for cell in cells:
        if "\n" not in cell:
            continue
        count += sum(1 for line in cell.splitlines()[1:] if line.count(",") >= width - 1)
    return count
