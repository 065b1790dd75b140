"""Small CLI contracts: filters that name nothing, a truncated organisation file, the diagram, output that
cannot be written."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from outpost.app import App
from outpost.cli import run
from tests.conftest import OUTPOST, dump
from workflow.ports import CaseFilter

ROOT = Path(__file__).resolve().parent.parent


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
        assert f": {t.trigger}" in mermaid or f"<br/>{t.trigger}" in mermaid  # merged labels: test_diagram
    assert run(["diagram", process, "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert all(f'"{s}"' in dot for s in definition.states)
    assert run(["diagram", process, "--format", "png"]) == 2


PROCESSES = ("annual_audit", "departure_audit", "fin_statement", "info_quota", "investment", "leave", "matter",
             "off_site", "report")  # at least these; a process added as a folder is drawn too


def test_diagram_exits_0_in_both_formats_for_every_registered_process(capsys: pytest.CaptureFixture[str]) -> None:
    """`outpost diagram P --format mermaid` and `--format dot` exit 0 for every registered process, drawing its
    latest definition (final states marked)."""
    from workflow import registry

    assert set(registry.names()) >= set(PROCESSES)
    for process in registry.names():
        definition = registry.latest(process)
        assert run(["diagram", process, "--format", "mermaid"]) == 0, process
        mermaid = capsys.readouterr().out
        assert mermaid.startswith("stateDiagram-v2") and f"{process} v{definition.version}" in mermaid
        assert all(f"    {s} --> [*]" in mermaid for s in definition.final_states), process
        assert run(["diagram", process, "--format", "dot"]) == 0, process
        dot = capsys.readouterr().out
        assert dot.startswith(f'digraph "{process}"') and dot.rstrip().endswith("}")
        assert all(f'"{s}" [label="{s}", peripheries=2]' in dot for s in definition.final_states), process


def _outpost(app: App, *argv: str, stdout: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUTPOST_DATABASE_URL": app.settings.database_url,
           "OUTPOST_OUTBOX_DIR": str(app.settings.outbox_dir)}
    return subprocess.run([*OUTPOST, *argv], env=env,
                          cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux) to fail a write")
def test_output_that_cannot_be_written_is_one_line_not_an_internal_error(sqlite_url: str,
                                                                         make_app: Callable[..., App]) -> None:
    """stdout on a full disk: one line that says so (exit 1), and what the command did before printing
    stays done: the case is opened, not half-opened, and not reported as an internal error."""
    app = make_app(sqlite_url)
    with open("/dev/full", "w") as full:
        for argv in (["case", "open", "leave", "--as", "zhao", "--start", "2083-03-01", "--end", "2083-03-02"],
                     ["case", "list"], ["case", "list", "--json"]):
            done = _outpost(app, *argv, stdout=full)
            assert done.returncode == 1 and done.stderr.count("\n") == 1, (argv, done.stderr)
            assert done.stderr.startswith("outpost: could not write the output (No space left on device)")
    assert [(c.process, c.subject, c.state) for c in app.store.list_cases(CaseFilter())] == [
        ("leave", "zhao", "pending")]
    assert app.verify().ok


def test_a_reader_that_goes_away_ends_the_output_quietly(sqlite_url: str, make_app: Callable[..., App]) -> None:
    """`outpost case list --json | head`: when the reader has gone, no traceback and no internal error.
    click and rich handle a gone reader themselves; this keeps it so."""
    app = make_app(sqlite_url)
    for day in range(1, 29):
        app.service.open("leave", "zhao", {"start": f"2027-02-{day:02d}", "end": f"2027-02-{day:02d}"})
    env = {**os.environ, "OUTPOST_DATABASE_URL": app.settings.database_url}
    proc = subprocess.Popen([*OUTPOST, "case", "list", "--json"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # gone before the first line
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1 and err == "", err
