"""Small-cell suppression shared by everything that leaves the registry: the shareable
report (`her2audit.stages.report.privacy`) and the `share` layer (`her2audit.share_layer`).

Every count from 1 to 10 is hidden (zero discloses no one). Counts are tied by additive
relations (parts and their total, a numerator, its denominator and the remainder between
them); a relation in which exactly one protected cell is unknown would give that cell away
by subtraction, so another of its cells is hidden too (complementary suppression), until
no relation has exactly one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

THRESHOLD = 11


def is_small(count: int | float | None) -> bool:
    return count is not None and count == count and 0 < count < THRESHOLD


def suppress_relations(
    values: Mapping[Hashable, int | None],
    relations: Iterable[Iterable[Hashable]],
    hidden: Iterable[Hashable] | None = None,
    prefer: Callable[[Any], Any] | None = None,
    unpublished: Iterable[Hashable] = (),
) -> set[Any]:
    """Complementary suppression over a whole table (e.g. sites × line groups with margins).

    `values` maps each cell to its count; every relation is a set of cells tied by one
    linear equation (the cells of a row and the row total, or the cells of a column whose
    total is shown elsewhere). `unpublished` cells are in `values` and in relations but never
    shown (e.g. the remainder between a denominator and its numerator): they are unknowns,
    which need protecting only when they are small themselves. A relation with exactly one
    unknown non-zero cell that needs protecting would give it away, so the smallest other
    shown non-zero cell of that relation is hidden too, until no relation has exactly one.
    Starts from the small cells (1–10) and from `hidden`; `prefer` orders the candidates
    (smallest first) instead of the count. Returns every shown cell to hide.
    """
    virtual = set(unpublished)
    out = {c for c, v in values.items() if is_small(v) and c not in virtual}
    out |= set(hidden or ())
    protected_virtual = {c for c in virtual if is_small(values.get(c))}
    rels = [[c for c in rel if c in values] for rel in relations]
    key = prefer or (lambda c: (values[c] or 0, str(c)))
    changed = True
    while changed:
        changed = False
        for rel in rels:
            unknown = [c for c in rel if (c in out or c in virtual) and (values[c] or 0) > 0]
            if len(unknown) != 1 or not (unknown[0] in out or unknown[0] in protected_virtual):
                continue
            candidates = [c for c in rel
                          if c not in out and c not in virtual and (values[c] or 0) > 0]
            if candidates:
                out.add(min(candidates, key=key))
                changed = True
    return out
