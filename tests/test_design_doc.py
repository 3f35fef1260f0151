"""docs/design.md lists every module of the package (its Package layout table)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layout_rows():
    """{first-column path: whole row} of the Package layout table."""
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = text.split("## Package layout", 1)[1].split("\n## ", 1)[0]
    return {
        m.group(1): line
        for line in section.splitlines()
        if (m := re.match(r"\| `(aac/[^`]*)` \|", line))
    }


def test_every_module_is_listed():
    rows = layout_rows()
    missing = []
    for path in sorted((ROOT / "aac").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        package = rel.rsplit("/", 1)[0] + "/"
        if rel in rows:  # a top-level module has a row of its own
            continue
        if package in rows and (path.name == "__init__.py" or f"`{path.name}`" in rows[package]):
            continue  # a subpackage's row stands for its __init__ and names each module
        missing.append(rel)
    assert not missing, f"docs/design.md does not list {missing}"
