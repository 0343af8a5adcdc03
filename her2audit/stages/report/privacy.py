"""Disclosure control for the shareable report.

- **Pseudonyms**: a patient id shown in the shareable report is replaced by a keyed hash,
  HMAC-SHA256(key, patient_id), shown as `PX-` and 12 hex digits. The key comes from the
  environment variable `HER2AUDIT_PSEUDONYM_KEY` and is never written to the warehouse or
  the report. Without it a random key is drawn for the run (and the report says so):
  its pseudonyms then cannot be linked to any other report.
- **Small cells** (threshold and complementary suppression in `her2audit.disclosure`, shared
  with the `share` layer): every count from 1 to 10 is shown as "<11" (zero is shown: it
  discloses no one). Where a total is shown beside its parts, a second part is suppressed
  too when only one would be (complementary suppression, shown as "*"); tables with rows
  and columns are then checked exactly (`disclosure.protect`: no combination of rows,
  columns and the margins another table shows may give a hidden count away). A rate whose
  numerator or denominator is suppressed is hidden.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence
from typing import Any

from her2audit.disclosure import (
    THRESHOLD,
    ShownElsewhere,
    grid_relations,
    is_small,
    protect,
    suppress_relations,
)

__all__ = ["THRESHOLD", "SUPPRESSED", "COMPLEMENT", "Pseudonymiser", "is_small", "fmt_count",
           "fmt_rate", "safe_rate", "suppress_parts", "suppress_rate_grid", "suppress_relations"]

SUPPRESSED = f"<{THRESHOLD}"
KEY_ENV = "HER2AUDIT_PSEUDONYM_KEY"


@dataclasses.dataclass(frozen=True)
class Pseudonymiser:
    key: bytes
    from_environment: bool

    @classmethod
    def from_env(cls) -> Pseudonymiser:
        value = os.environ.get(KEY_ENV, "")
        if value:
            return cls(value.encode(), True)
        return cls(secrets.token_bytes(32), False)

    def __call__(self, patient_id: str | None) -> str | None:
        if patient_id is None:
            return None
        digest = hmac.new(self.key, str(patient_id).encode(), hashlib.sha256).hexdigest()
        return f"PX-{digest[:12]}"

    def note(self) -> str:
        if self.from_environment:
            return (f"Patient identifiers are pseudonymised with a keyed hash (HMAC-SHA256, key "
                    f"from {KEY_ENV}; the key is not stored in the warehouse or in this file).")
        return (f"Patient identifiers are pseudonymised with a keyed hash (HMAC-SHA256) under a "
                f"random key drawn for this report only, because {KEY_ENV} was not set: these "
                f"pseudonyms cannot be linked to any other report.")

    def scrub(self, text: str | None, patient_id: str | None) -> str | None:
        """Replace the real id inside free text (e.g. a quarantine detail) by its pseudonym."""
        if text is None or not patient_id:
            return text
        return text.replace(str(patient_id), self(patient_id) or "")


def suppress_parts(parts: Sequence[int | None], total_shown: bool = True) -> list[bool]:
    """Which of `parts` to hide. Small ones always; when `total_shown` and exactly one part is
    hidden, the smallest other non-zero part is hidden too (complementary suppression)."""
    hidden = [is_small(p) for p in parts]
    if total_shown and sum(hidden) == 1:
        candidates = [
            (p, i) for i, p in enumerate(parts) if not hidden[i] and p is not None and p > 0
        ]
        if candidates:
            hidden[min(candidates)[1]] = True
    return hidden


COMPLEMENT = "*"


def fmt_count(count: int | float | None, hidden: bool | None = None) -> str:
    """A count as text: '<11' when small, '*' when it is hidden only to protect a small
    count beside it (complementary suppression), '–' when missing."""
    if count is None or count != count:
        return "–"
    if is_small(count) and hidden is not False:
        return SUPPRESSED
    if hidden:
        return COMPLEMENT
    return f"{int(count):,}"


def safe_rate(numerator: int | None, denominator: int | None) -> float | None:
    """numerator / denominator, or None when either count is suppressed or missing."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    if is_small(numerator) or is_small(denominator):
        return None
    return numerator / denominator


def fmt_rate(rate: float | None, digits: int = 1) -> str:
    if rate is None or rate != rate:
        return "–"
    return f"{rate:.{digits}%}"


def suppress_rate_grid(
    cells: dict[tuple[Any, Any], tuple[int | None, int | None]],
    total_column: Any = "all",
    columns_add_up: bool = True,
) -> set[tuple[Any, Any]]:
    """Cells `(row, column) -> (numerator, denominator)` of a table of rates with a total
    column (`total_column`, the sum of the other columns of its row) and, when
    `columns_add_up`, columns whose sums over the rows are shown elsewhere. A cell is
    hidden (numerator, denominator and rate) when its numerator, denominator or remainder
    is small, and then by complementary suppression along rows and columns, checked
    exactly (`disclosure.protect`): numerators, denominators and remainders are three
    tables of counts hidden cell by cell, so no combination of rows and columns may give
    away a small one of any of them."""
    values: dict[tuple[str, Any], int] = {}
    for c, (num, den) in cells.items():
        values["numerator", c] = num or 0
        values["denominator", c] = den or 0
        values["remainder", c] = (den or 0) - (num or 0)
    quantities = ("numerator", "denominator", "remainder")
    column_totals: dict[Any, ShownElsewhere] = {}
    if columns_add_up:
        # The column sums are shown elsewhere under this same rule, as one row: a sum hidden
        # there (small, or its complement) tells nothing here.
        sums: dict[tuple[None, Any], list[int]] = {}
        for (_, col), (num, den) in cells.items():
            total = sums.setdefault((None, col), [0, 0])
            total[0] += num or 0
            total[1] += den or 0
        hidden_there = suppress_rate_grid({c: (n, d) for c, (n, d) in sums.items()},
                                          total_column, columns_add_up=False)
        column_totals = {col: ShownElsewhere(col) for _, col in sums
                         if (None, col) not in hidden_there}

    def of(q: str, cell: Any) -> Any:
        return ShownElsewhere((q, cell.key)) if isinstance(cell, ShownElsewhere) else (q, cell)

    relations = [[of(q, c) for c in relation]
                 for relation in grid_relations(cells, total_column, column_totals)
                 for q in quantities]

    def prefer(key):  # complements whose numerator and remainder are both non-zero first
        c = key[1]
        num, rem = values["numerator", c], values["remainder", c]
        return (min(num, rem) == 0, num + rem, str(c))

    hidden = protect(values, relations, prefer=prefer,
                     together=lambda key: [(q, key[1]) for q in quantities])
    return {c for _, c in hidden}
