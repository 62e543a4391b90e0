"""Reading user CSV files with row numbers, so every error can name the row and the column."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from daydream.errors import CatalogError, DayDreamError, located

TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}


def parse_bool(value: str | None, *, default: bool, file: Path, row: int, field: str,
               error: type[DayDreamError] = CatalogError) -> bool:
    """true/false/1/0/yes/no in any case; blank means the default."""
    text = (value or "").strip().lower()
    if not text:
        return default
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise error(located(f"expected a boolean (true/false/1/0/yes/no), got {value!r}",
                        file=file, row=row, field=field))


def parse_optional_float(value: str | None, *, file: Path, row: int, field: str) -> float | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise CatalogError(located(f"expected a number, got {value!r}", file=file, row=row, field=field)) from None
    if number < 0:
        raise CatalogError(located(f"must not be negative, got {value!r}", file=file, row=row, field=field))
    return number


def read_rows(path: Path, required: Sequence[str], *,
              error: type[DayDreamError] = CatalogError) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row_number, row)`` with the header as row 1, as a spreadsheet numbers them.

    Cells are stripped; a missing file or a missing required column is an error naming the file.
    """
    if not path.is_file():
        raise error(located("file not found", file=path))
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise error(located(f"cannot read: {exc.strerror}", file=path)) from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise error(located("empty file, expected a header row", file=path)) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise error(located(f"not a readable CSV: {exc}", file=path, row=1)) from None
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise error(located(f"missing required column(s): {', '.join(missing)} (header: {', '.join(header)})",
                                file=path, row=1, field=missing[0]))
        seen: set[str] = set()
        for name in header:
            if name and name in seen:
                raise error(located("duplicate column name", file=path, row=1, field=name))
            seen.add(name)
        row_number = 1
        try:
            for cells in reader:
                row_number += 1
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) > len(header):
                    raise error(located(f"{len(cells)} cells but the header has {len(header)} columns (extra "
                                        f"cell from column {len(header) + 1}; quote a value that contains a comma)",
                                        file=path, row=row_number))
                row = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
                yield row_number, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise error(located(f"not a readable CSV: {exc}", file=path, row=row_number + 1)) from None
