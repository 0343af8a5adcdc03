"""numpy's large arrays on ordinary memory pages for code that makes many short-lived ones.

numpy asks the kernel for transparent huge pages (2 MB) for every array of 4 MB or more,
on kernels that give them on request (`/sys/kernel/mm/transparent_hugepage/enabled` set
to `madvise`, as on the machines here). Code that makes many temporary arrays of the size
of its input then spends much of its time in the kernel, which clears and often first
compacts memory for each fresh huge page: at 1,000,000 patients the line inference
(`stages/lines/core.py`) took 22.6 s, 14.1 s of it system time, against 13.0 s on
ordinary pages; the Kaplan-Meier and Cox fits of the outcomes stage also run faster
(20.2 -> 18.2 s). Results are the same either way: only where numpy's memory comes from
changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Within the block numpy does not ask for huge pages; the previous setting after it.
    A numpy without the switch (it is numpy's own, not public API) is left as it is."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:
        yield
        return
    previous = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(previous)
