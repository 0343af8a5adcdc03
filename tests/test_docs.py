"""The documentation stands alone: generated pages match the data they come from, every
registry table and column is documented, nothing points outside the repository, and the
site builds with `mkdocs build --strict` (no broken page or link)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from her2audit.sources.schema import registry_tables

PROJECT = Path(__file__).resolve().parents[1]
DOCS = PROJECT / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_pages_are_up_to_date():
    for path, text in _generator().pages().items():
        assert path.read_text() == text, f"{path} is stale: run `make docs`"


def test_the_registry_format_page_documents_every_table_and_column():
    page = (DOCS / "your-data" / "registry-format.md").read_text()
    documented: dict[str, list[str]] = {}
    table = None
    for line in page.splitlines():
        if m := re.match(r"### `(\w+)` \((required|optional)\)", line):
            table = m.group(1)
            documented[table] = []
        elif table and (m := re.match(r"\| `(\w+)` \|", line)):
            documented[table].append(m.group(1))
    assert documented == {t.name: t.column_names for t in registry_tables().values()}


def test_docs_and_readme_never_point_outside_the_repository():
    texts = [PROJECT / "README.md", *DOCS.rglob("*.md"), PROJECT / "reports" / "README.md"]
    for path in texts:
        text = path.read_text()
        assert "../shared" not in text and "SPEC" not in text, path


def test_the_readme_fits_a_newcomer():
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "make demo" in first_screen and "make test" in first_screen


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("mkdocs is not installed in this environment (dev extra)")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir",
         str(tmp_path / "site")],
        cwd=PROJECT, capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1",
                                                          "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
