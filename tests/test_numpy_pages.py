"""numpy_pages.small_pages: numpy's huge-page request is off inside the block and back to
what it was after it, also when the block raises."""

import pytest

from her2audit.numpy_pages import small_pages

multiarray = pytest.importorskip("numpy._core.multiarray")
switch = getattr(multiarray, "_set_madvise_hugepage", None)
if switch is None:  # pragma: no cover - a numpy without the switch
    pytest.skip("this numpy has no huge-page switch", allow_module_level=True)


def current() -> bool:
    """numpy's setting (the switch returns the previous value: set it back at once)."""
    value = switch(True)
    switch(value)
    return bool(value)


@pytest.mark.parametrize("before", [True, False])
def test_off_inside_and_restored_after(before):
    saved = switch(before)
    try:
        with small_pages():
            assert current() is False
        assert current() is before
    finally:
        switch(saved)


def test_restored_when_the_block_raises():
    saved = switch(True)
    try:
        with pytest.raises(RuntimeError), small_pages():
            raise RuntimeError("boom")
        assert current() is True
    finally:
        switch(saved)
