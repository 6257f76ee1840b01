"""README.md stays true: its quickstart runs and prints what it says, the schema table in
docs/schema.md matches fabricsim.fabric.schema, and its two set-up commands are the ones
.ci/run relies on."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from fabricsim.fabric import schema

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.exists(), reason="README.md not next to tests/")


def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_quickstart_runs_and_prints_what_it_claims():
    text = readme()
    block = re.search(r"## Quickstart\n.*?```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md quickstart", "exec"), {})
    printed = out.getvalue().splitlines()
    # Every "# <output>" comment line that looks like output must appear in what was printed.
    claims = [
        line.strip()[2:]
        for line in block.splitlines()
        if line.strip().startswith("# ") and re.match(r"# (<Fabric|\(\(|ecmp|spray)", line.strip())
    ]
    assert len(claims) >= 4
    for claim in claims:
        assert claim in printed, f"README claims {claim!r}; printed {printed}"
    first_path = next(c for c in block.splitlines() if "host0/gpu0 > leaf0" in c)
    assert first_path.strip("# ").split("   ")[0] in printed


def table_rows(text: str, heading: str) -> dict[str, str]:
    section = text.split(heading, 1)[1]
    rows = {}
    for line in section.splitlines()[2:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0].startswith("`"):
            rows[cells[0].strip("`")] = "|".join(cells[1:])
    return rows


def test_schema_table_matches_schema_module():
    text = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    nodes = table_rows(text, "**Node attributes**")
    edges = table_rows(text, "**Edge attributes**")
    assert set(nodes) == {"role", "forwarding", "host", "rail", "pod", "su", "site"}
    assert set(edges) == {
        "capacity_gbps",
        "latency_us",
        "kind",
        "carrier",
        "availability",
        "jitter_us",
    }
    for role in schema.ROLES:
        assert f"`{role}`" in nodes["role"]
    for kind in schema.KINDS:
        assert f"`{kind}`" in edges["kind"]
    # The same attributes are documented in the module docstring.
    for attr in (*nodes, *edges):
        assert f"``{attr}``" in schema.__doc__


def test_setup_commands():
    text = readme()
    main_cmd = (
        "python3 -m venv .venv && . .venv/bin/activate && pip install '.[plot]' && "
        "python -m fabricsim --plot erosion.png"
    )
    test_cmd = "python3 -m venv .venv && . .venv/bin/activate && pip install '.[test]' && pytest"
    lines = text.splitlines()
    assert main_cmd in lines and test_cmd in lines
    ci = ROOT / ".ci" / "run"
    if ci.exists():
        assert test_cmd in ci.read_text(encoding="utf-8")


def test_property_testing_example_runs():
    """The README's "Property-testing your fabric" example is complete and passes."""
    text = readme()
    section = text.split("## Property-testing your fabric", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})
