"""Small CLI contracts: filters that name nothing, a truncated organisation file, the diagram."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import dump
from workflow.app import App
from workflow.cli import run


@pytest.fixture
def cli_app(app: App, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setenv("OUTPOST_DATABASE_URL", app.settings.database_url)
    return app


@pytest.mark.parametrize("argv, fragment", [
    (["case", "list", "--process", "frob"], "unknown process"),
    (["case", "list", "--process", "leave", "--state", "nonsense"], "--state"),
    (["case", "list", "--state", "nonsense"], "--state"),
    (["case", "list", "--office", "ZZ"], "--office"),
])
def test_case_list_filters_that_name_nothing_are_bad_input(cli_app: App, argv: list[str], fragment: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown process, state or office in a filter is exit 2, not an empty list."""
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_a_truncated_org_file_is_refused_and_removes_nobody(cli_app: App, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """An org file with no offices or no people would deactivate everyone: refused, nothing written."""
    url = cli_app.settings.database_url
    before = dump(url)
    for text in ("", '[[office]]\ncode = "BJ"\nname = "北京"\n'):
        path = tmp_path / "org.toml"
        path.write_text(text, encoding="utf-8")
        assert run(["org", "load", str(path)]) == 2
        assert "no [[person]] entries" in capsys.readouterr().err
    assert dump(url) == before


@pytest.mark.parametrize("process", ["leave", "report", "matter", "departure_audit"])
def test_diagram_is_generated_from_the_definition(process: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`diagram` draws every state and trigger of the definition, in mermaid and dot."""
    from workflow import registry

    definition = registry.latest(process)
    assert run(["diagram", process]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("stateDiagram-v2")
    for t in definition.transitions:
        assert f": {t.trigger}" in mermaid
    assert run(["diagram", process, "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert all(f'"{s}"' in dot for s in definition.states)
    assert run(["diagram", process, "--format", "png"]) == 2
