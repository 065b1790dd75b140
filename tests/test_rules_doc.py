"""docs/RULES.md, the rules from rule to code to test (issue 17 point 12), stays true to the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "docs" / "RULES.md"
RULE_ID = re.compile(r"\bR-\d+(?:\.\d+)?\b")


def _rows() -> dict[str, str]:
    """{rule id: its table row} of docs/RULES.md."""
    rows = {}
    for line in RULES.read_text(encoding="utf-8").splitlines():
        found = re.match(r"\| (R-\d+(?:\.\d+)?) \|", line)
        if found:
            rows[found.group(1)] = line
    return rows


def test_every_rule_id_cited_in_machines_has_a_row() -> None:
    """Every rule id that machines/ cites (in code, messages or policy files) has its row in docs/RULES.md."""
    cited = set()
    for path in (ROOT / "machines").rglob("*"):
        if path.suffix in {".py", ".toml", ".j2"} and path.is_file():
            cited |= set(RULE_ID.findall(path.read_text(encoding="utf-8")))
    assert cited and sorted(cited - set(_rows())) == []


def test_every_rule_of_the_regulation_has_a_row() -> None:
    """R-0.1 … R-7.3: each rule id of the regulation's seven sections has a row."""
    expected = {f"R-0.{n}" for n in range(1, 7)} | {f"R-1.{n}" for n in range(1, 5)} | \
        {f"R-2.{n}" for n in range(1, 9)} | {f"R-3.{n}" for n in range(1, 8)} | \
        {f"R-4.{n}" for n in range(1, 7)} | {f"R-5.{n}" for n in range(1, 6)} | \
        {f"R-6.{n}" for n in range(1, 7)} | {f"R-7.{n}" for n in range(1, 4)}
    assert sorted(expected - set(_rows())) == []


def test_every_test_named_exists() -> None:
    """Each `tests/FILE::TEST` the page names is a test function of that file, and each file it names exists."""
    text = RULES.read_text(encoding="utf-8")
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", text)
    assert len(named) >= 40
    for file, test in named:
        path = ROOT / file
        assert path.is_file(), file
        if test:
            assert re.search(rf"^def {test}\(", path.read_text(encoding="utf-8"), re.M), f"{file}::{test}"


def test_every_function_named_exists_in_its_file() -> None:
    """Each `FILE: name, name …` of the "Enforced in" column names functions, classes or constants of that file."""
    text = RULES.read_text(encoding="utf-8")
    for file, names in re.findall(r"`((?:machines|workflow)/[\w/]+\.py): ([^`]+)`", text):
        source = (ROOT / file).read_text(encoding="utf-8")
        for name in re.findall(r"[A-Za-z_]\w*(?:\.\w+)?", names):
            last = name.rpartition(".")[2]
            assert re.search(rf"^\s*(def|class) {last}\b|^{last}\s*[:=]", source, re.M), f"{file}: {name}"


def test_readme_points_at_the_rules_page_not_outside_the_project() -> None:
    """The README sends readers to docs/RULES.md, never to a file outside the project."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/RULES.md" in readme and "../shared" not in readme
