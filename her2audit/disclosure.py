"""Small-cell suppression shared by everything that leaves the registry: the shareable
report (`her2audit.stages.report.privacy`) and the `share` layer (`her2audit.share_layer`).

Every count from 1 to 10 is hidden (zero discloses no one). Counts are tied by additive
relations (parts and their total, a numerator, its denominator and the remainder between
them); a relation in which exactly one protected cell is unknown would give that cell away
by subtraction, so another of its cells is hidden too (complementary suppression), until
no relation has exactly one (`suppress_relations`). `protect` adds an exact check: no
linear combination of the relations may determine a hidden small count either.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

THRESHOLD = 11


def is_small(count: int | float | None) -> bool:
    return count is not None and count == count and 0 < count < THRESHOLD


@dataclasses.dataclass(frozen=True)
class ShownElsewhere:
    """The total of a relation that another table shows (e.g. a column's sum over sites,
    shown in the all-sites table): known to a reader, never a cell of this table. It goes
    first in the relation, as its total."""

    key: Hashable


def shown_elsewhere(sums: Mapping[Hashable, int], total: Hashable | None = None
                    ) -> set[Hashable]:
    """Which of a table's margins (`sums`: its columns' sums over the rows) a reader knows
    from the table that shows them as one row under the same rule (`total`, when given, the
    sum of the others): those `protect` does not hide there. A hidden one tells nothing
    here, so only the others make relations with `ShownElsewhere` totals."""
    relations = [[total, *(k for k in sums if k != total)]] if total in sums else []
    hidden = protect(sums, relations)
    return {k for k in sums if k not in hidden}


def grid_relations(
    cells: Iterable[tuple[Hashable, Hashable]], total_column: Hashable | None,
    column_totals: Mapping[Hashable, Hashable],
) -> list[list[Hashable]]:
    """The relations of a table of counts by `(row, column)`: each row's cells add up to
    its `total_column` cell (a row without one has no relation), then each column's cells
    to `column_totals[column]`: a cell of the table (a total row, left out of the parts) or
    a `ShownElsewhere`; a column without an entry has no relation. Rows and columns in the
    order their first cell comes in `cells`."""
    rows: dict[Hashable, list] = {}
    cols: dict[Hashable, list] = {}
    for c in cells:
        rows.setdefault(c[0], []).append(c)
        cols.setdefault(c[1], []).append(c)
    relations = [[(row, total_column), *(c for c in members if c[1] != total_column)]
                 for row, members in rows.items() if (row, total_column) in members]
    relations += [[column_totals[col], *(c for c in members if c != column_totals[col])]
                  for col, members in cols.items() if col in column_totals]
    return relations


def remainders(values: Mapping[Hashable, int], beside: Mapping[Hashable, int]
               ) -> tuple[dict[Hashable, int], list[list[Hashable]]]:
    """For cells shown beside a total that contains them (a site's count beside the same
    count over all sites, `beside[cell]`): the unpublished remainders (the other sites'
    counts) and their relations, to add to a table's before `protect`."""
    rest = {("remainder of", cell): total - values[cell] for cell, total in beside.items()}
    relations = [[ShownElsewhere(("total of", cell)), cell, ("remainder of", cell)]
                 for cell in beside]
    return rest, relations


Together = Callable[[Hashable], Iterable[Hashable]]


def suppress_relations(
    values: Mapping[Hashable, int | None],
    relations: Iterable[Iterable[Hashable]],
    hidden: Iterable[Hashable] | None = None,
    prefer: Callable[[Any], Any] | None = None,
    unpublished: Iterable[Hashable] = (),
    together: Together | None = None,
) -> set[Any]:
    """Complementary suppression over a whole table (e.g. sites × line groups with margins).

    `values` maps each cell to its count; every relation is a set of cells tied by one
    linear equation (the cells of a row and the row total, or the cells of a column whose
    total is shown elsewhere). `unpublished` cells are in `values` and in relations but never
    shown (e.g. the remainder between a denominator and its numerator): they are unknowns
    whatever their value (a reader does not know a remainder is 0), which need protecting
    only when they are small themselves. A relation with exactly one
    unknown non-zero cell that needs protecting would give it away, so the smallest other
    shown non-zero cell of that relation is hidden too, until no relation has exactly one.
    Starts from the small cells (1–10) and from `hidden`; `prefer` orders the candidates
    (smallest first) instead of the count. `together(cell)` gives the cells shown and
    hidden as one with `cell` (e.g. a rate's numerator, denominator and remainder); by
    default each cell stands alone. Returns every shown cell to hide.
    """
    virtual = set(unpublished)
    grow = together or (lambda c: (c,))
    out = {c for c, v in values.items() if is_small(v) and c not in virtual}
    out |= set(hidden or ())
    out = {g for c in out for g in grow(c)}
    protected_virtual = {c for c in virtual if is_small(values.get(c))}
    rels = [[c for c in rel if c in values] for rel in relations]
    key = prefer or (lambda c: (values[c] or 0, str(c)))
    changed = True
    while changed:
        changed = False
        for rel in rels:
            unknown = [c for c in rel if c in virtual or (c in out and (values[c] or 0) > 0)]
            if len(unknown) != 1 or not (unknown[0] in out or unknown[0] in protected_virtual):
                continue
            candidates = [c for c in rel
                          if c not in out and c not in virtual and (values[c] or 0) > 0]
            if candidates:
                out.update(grow(min(candidates, key=key)))
                changed = True
    return out


def determined(
    values: Mapping[Hashable, int | None],
    relations: Iterable[Sequence[Hashable]],
    unknown: Iterable[Hashable],
) -> set[Hashable]:
    """The `unknown` cells that the shown cells determine exactly, through any linear
    combination of the relations (each `[total, part, part, ...]`: total = sum of parts).

    A cell is determined when every solution of the relations for the unknowns gives it the
    same value (`_fixed_columns`). Relations are split into independent groups of unknowns
    first, so each system is small."""
    unknown = set(unknown)
    rows: list[dict[Hashable, float]] = []
    for rel in relations:
        coeffs: dict[Hashable, float] = {}
        for k, cell in enumerate(rel):
            if cell in unknown:
                coeffs[cell] = coeffs.get(cell, 0.0) + (1.0 if k == 0 else -1.0)
        coeffs = {c: v for c, v in coeffs.items() if v}
        if coeffs:
            rows.append(coeffs)
    parent: dict[Hashable, Hashable] = {}

    def find(c: Hashable) -> Hashable:
        while parent.setdefault(c, c) != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for coeffs in rows:
        first, *rest = coeffs
        for c in rest:
            parent[find(c)] = find(first)
    groups: dict[Hashable, list[dict[Hashable, float]]] = {}
    for coeffs in rows:
        groups.setdefault(find(next(iter(coeffs))), []).append(coeffs)
    out: set[Hashable] = set()
    for group_rows in groups.values():
        cells = sorted({c for r in group_rows for c in r}, key=str)
        index = {c: i for i, c in enumerate(cells)}
        matrix = np.zeros((len(group_rows), len(cells)))
        for i, coeffs in enumerate(group_rows):
            for c, v in coeffs.items():
                matrix[i, index[c]] = v
        fixed = _fixed_columns(matrix)
        out |= {c for c, i in index.items() if fixed[i]}
    return out


def _fixed_columns(matrix: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """For `matrix @ x = b`, which unknowns `x[j]` every solution gives the same value:
    Gauss–Jordan elimination (partial pivoting); `x[j]` is fixed when it is a pivot whose
    reduced row holds no free unknown. (Elementwise numpy, no BLAS threads: these small,
    sparse matrices of ±1 are fastest so on a busy machine.)"""
    a = matrix.astype(float)
    n_rows, n_cols = a.shape
    pivots: list[int] = []
    r = 0
    for c in range(n_cols):
        if r == n_rows:
            break
        p = r + int(np.argmax(np.abs(a[r:, c])))
        if abs(a[p, c]) < tol:
            continue
        if p != r:
            a[[r, p]] = a[[p, r]]
        a[r] /= a[r, c]
        column = a[:, c].copy()
        column[r] = 0.0
        touched = np.nonzero(np.abs(column) > tol)[0]
        if touched.size:
            a[touched] -= column[touched, None] * a[r]
        pivots.append(c)
        r += 1
    free = np.ones(n_cols, dtype=bool)
    free[pivots] = False
    fixed = np.zeros(n_cols, dtype=bool)
    for i, c in enumerate(pivots):
        fixed[c] = not np.any(np.abs(a[i, free]) > tol)
    return fixed


def protect(
    values: Mapping[Hashable, int | None],
    relations: Sequence[Sequence[Hashable]],
    unpublished: Iterable[Hashable] = (),
    prefer: Callable[[Any], Any] | None = None,
    together: Together | None = None,
    hidden: Iterable[Hashable] = (),
) -> set[Any]:
    """The shown cells to hide so that no count from 1 to 10 (shown, or an unpublished
    remainder) can be worked out from the rest: complementary suppression relation by
    relation (`suppress_relations`), then, while a linear combination of relations still
    determines such a count (`determined`), one more cell of a relation holding it is hidden
    (the smallest shown non-zero one) and the relations are checked again.

    Each relation is `[total, part, part, ...]`; a total that another table shows is a
    `ShownElsewhere`. `together` and `hidden` (cells to hide anyway, e.g. because another
    table hides them) as in `suppress_relations`."""
    virtual = set(unpublished)
    key = prefer or (lambda c: (values[c] or 0, str(c)))
    grow = together or (lambda c: (c,))
    extra: set[Hashable] = {g for c in hidden for g in grow(c)}
    while True:
        hidden = suppress_relations(values, relations, extra, key, virtual, together)
        sensitive = {c for c in hidden | virtual if is_small(values.get(c))}
        exposed = determined(values, relations, hidden | virtual) & sensitive
        if not exposed:
            return hidden
        before = len(extra)
        for cell in sorted(exposed, key=str):
            candidates = [c for rel in relations if cell in rel for c in rel
                          if c not in hidden and c not in virtual and c not in extra
                          and (values.get(c) or 0) > 0]
            if candidates:
                extra.update(grow(min(candidates, key=key)))
        if len(extra) == before:
            # Every cell next to it is hidden or zero: the combination that gives it away
            # runs through farther relations (a row's total less another row's, ...). Hide
            # the smallest shown non-zero cell tied to it through hidden cells, and check
            # again; with all of those hidden, zeros alone cannot determine a non-zero count.
            candidates = [c for c in _tied_cells(exposed, relations, hidden | virtual)
                          if c not in hidden and c not in virtual and c not in extra
                          and (values.get(c) or 0) > 0]
            if not candidates:
                return hidden
            extra.update(grow(min(candidates, key=key)))


def _tied_cells(
    cells: Iterable[Hashable], relations: Sequence[Sequence[Hashable]],
    unknown: set[Hashable],
) -> set[Hashable]:
    """The cells of every relation reachable from `cells` through `unknown` cells (the
    relations a linear combination determining one of `cells` can be made of)."""
    reached: set[Hashable] = set()
    frontier = set(cells)
    used: set[int] = set()
    while frontier:
        following: set[Hashable] = set()
        for i, rel in enumerate(relations):
            if i in used or frontier.isdisjoint(rel):
                continue
            used.add(i)
            for c in rel:
                if c not in reached:
                    reached.add(c)
                    if c in unknown:
                        following.add(c)
        frontier = following
    return reached
