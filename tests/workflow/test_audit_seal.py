"""Seals (`outpost audit seal`, `audit verify --seal`): what the per-case chain heads cannot show.

Each case keeps its chain's head on its own row, so deleting any history row is noticed; but someone who
writes to the database can delete a case's newest row *and* rewind that head, or delete a whole case.
A seal kept outside the database proves those too. Tampering is done directly in SQL; on SQLite and
PostgreSQL, through the real CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, select, update

from outpost.app import App
from store.tables import CaseRow, DeadlineRow, HistoryRow, MailRow
from tests.conftest import dump, local, point_cli_at, run_cli, set_time

history_t = HistoryRow.__table__  # type: ignore[attr-defined]
cases_t = CaseRow.__table__  # type: ignore[attr-defined]
deadlines_t = DeadlineRow.__table__  # type: ignore[attr-defined]
mail_t = MailRow.__table__  # type: ignore[attr-defined]

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def sealed(make_app: Callable[..., App], db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
           capsys: pytest.CaptureFixture[str]) -> tuple[list[int], Path, Cli]:
    """Three leave cases (2, 1 and 1 history rows), sealed into tmp_path/seal.json through the CLI."""
    app = make_app(db_url, at=local(2027, 1, 4, 9, 0))
    ids = [app.service.open("leave", who, {"start": start, "end": end}).id
           for who, start, end in (("zhao", "2027-03-01", "2027-03-02"), ("huang", "2027-04-01", "2027-04-02"),
                                   ("li", "2027-05-06", "2027-05-07"))]
    set_time(app, local(2027, 1, 4, 10, 0))
    app.service.advance(ids[0], "approve", "wang")
    app.close()
    point_cli_at(monkeypatch, db_url, tmp_path, outbox=False)

    def cli(*args: str) -> tuple[int, str, str]:
        return run_cli(capsys, *args)

    rc, out, _err = cli("audit", "seal", "--output", str(tmp_path / "seal.json"))
    assert rc == 0 and "sealed 4 history rows in 3 cases: sha256:" in out
    return ids, tmp_path / "seal.json", cli


def test_a_seal_holds_while_the_history_only_grows(sealed: tuple[list[int], Path, Cli], db_url: str) -> None:
    """After more transitions the seal still verifies: the sealed rows are all there, unchanged."""
    ids, seal, cli = sealed
    assert cli("case", "advance", str(ids[1]), "approve", "--as", "chen")[0] == 0  # huang's director (SZ)
    rc, out, _ = cli("audit", "verify", "--seal", str(seal))
    assert rc == 0 and "audit ok: 5 history rows in 3 cases" in out and "all 4 rows of the seal" in out
    rc, out, _ = cli("audit", "verify", "--seal", str(seal), "--json")
    report = json.loads(out)
    assert rc == 0 and report["ok"] and report["seal"]["rows"] == 4
    assert report["seal"]["digest"] == json.loads(seal.read_text())["digest"]


def test_removing_the_newest_row_and_rewinding_the_head_is_caught_by_the_seal(
        sealed: tuple[list[int], Path, Cli], db_url: str) -> None:
    """Delete a case's newest history row and set its head back one row: the chains alone still verify,
    the seal does not, and names the case and the count it sealed."""
    ids, seal, cli = sealed
    engine = create_engine(db_url)
    with engine.begin() as conn:
        first = conn.execute(select(history_t).where(history_t.c.case_id == ids[0], history_t.c.seq == 1)).one()
        conn.execute(delete(history_t).where(history_t.c.case_id == ids[0], history_t.c.seq == 2))
        conn.execute(update(cases_t).where(cases_t.c.id == ids[0]).values(
            history_count=1, history_head=first.hash, state="pending"))
    engine.dispose()
    assert cli("audit", "verify")[0] == 0  # a consistent rewind: nothing inside the database shows it
    rc, out, err = cli("audit", "verify", "--seal", str(seal))
    assert rc == 5 and out == ""
    assert re.fullmatch(rf"outpost: audit FAILED: case {ids[0]}: the seal of \S+\+08:00 counted 2 history rows, "
                        r"now 1: rows were removed\n", err)


def test_deleting_a_whole_case_is_caught_by_the_seal(sealed: tuple[list[int], Path, Cli], db_url: str) -> None:
    """Delete a case with its history, deadlines and mail: the seal names the missing case."""
    ids, seal, cli = sealed
    engine = create_engine(db_url)
    with engine.begin() as conn:
        for table in (history_t, deadlines_t, mail_t):
            conn.execute(delete(table).where(table.c.case_id == ids[2]))
        conn.execute(delete(cases_t).where(cases_t.c.id == ids[2]))
    engine.dispose()
    assert cli("audit", "verify")[0] == 0
    rc, _out, err = cli("audit", "verify", "--seal", str(seal))
    assert rc == 5 and f"case {ids[2]}: in the seal of " in err
    assert "+08:00 with 1 history rows, now missing from the database (1 sealed case(s) missing)" in err


def test_a_rewritten_chain_differs_from_the_seal(sealed: tuple[list[int], Path, Cli], db_url: str) -> None:
    """Edit a row and recompute its hash and the case's head: the chain verifies, the sealed head differs."""
    from workflow.hashing import history_hash

    ids, seal, cli = sealed
    engine = create_engine(db_url)
    with engine.begin() as conn:
        row = conn.execute(select(history_t).where(history_t.c.case_id == ids[1])).one()
        forged = history_hash(row.prev_hash, row.case_id, row.seq, row.trigger, row.from_state, row.to_state,
                              row.actor, row.at, "forged", row.override_reason, row.definition_version,
                              dict(row.details))
        conn.execute(update(history_t).where(history_t.c.id == row.id).values(comment="forged", hash=forged))
        conn.execute(update(cases_t).where(cases_t.c.id == ids[1]).values(history_head=forged))
    engine.dispose()
    assert cli("audit", "verify")[0] == 0
    rc, _out, err = cli("audit", "verify", "--seal", str(seal))
    assert rc == 5 and f"(case {ids[1]}, seq 1): differs from the seal" in err


def test_a_damaged_or_foreign_seal_is_bad_input_and_writes_nothing(sealed: tuple[list[int], Path, Cli],
                                                                    db_url: str, tmp_path: Path) -> None:
    """A seal edited by hand (its digest no longer fits), not JSON, or not a seal: exit 2, one line."""
    _ids, seal, cli = sealed
    before = dump(db_url)
    text = seal.read_text()
    cases = [("edited.json", text.replace('"rows": 4', '"rows": 3')),
             ("not-json.json", "{"), ("other.json", '{"v": 9}'), ("shape.json", '{"v": 1, "cases": []}')]
    for name, body in cases:
        (tmp_path / name).write_text(body)
        rc, out, err = cli("audit", "verify", "--seal", str(tmp_path / name))
        assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith("outpost: seal "), (name, err)
    assert cli("audit", "verify", "--seal", str(tmp_path / "absent.json"))[0] == 2
    assert dump(db_url) == before


def test_a_broken_history_is_not_sealed(sealed: tuple[list[int], Path, Cli], db_url: str) -> None:
    """Sealing checks the chains first: a seal never vouches for a history already tampered with."""
    ids, _seal, cli = sealed
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(update(history_t).where(history_t.c.case_id == ids[1]).values(comment="edited"))
    engine.dispose()
    rc, out, err = cli("audit", "seal")
    assert rc == 2 and out == "" and "not sealed: the history is already broken" in err
