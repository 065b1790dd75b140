"""Mail that is stale when it is delivered (issue 16, point 4): a mail whose invited actions are no longer
open to its recipient, on a case that has moved on, is not sent but marked `superseded`; information mail
still goes. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from notifications.delivery import deliver_pass
from outpost.app import App
from outpost.status import gather
from tests.conftest import run_cli


def statuses(app: App) -> dict[str, str]:
    return {f"{m.event}:{m.to[0]}": m.status for m in app.store.mails()}


def test_a_request_decided_before_delivery_is_superseded_not_sent(make_app: Callable[..., App], db_url: str) -> None:
    """zhao asks, wang approves before the mail goes out: "需要您审批" to wang is superseded (no .eml), the
    approval to zhao is sent; `status` counts it and a second pass leaves it alone."""
    app = make_app(db_url)
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    app.service.advance(case, "approve", "wang")
    report = deliver_pass(app)
    assert (report.sent, report.superseded) == (1, 1)
    assert statuses(app) == {"leave.requested:wang@bj.example.org": "superseded",
                             "leave.approved:zhao@bj.example.org": "sent"}
    assert len(list(app.settings.outbox_dir.glob("*.eml"))) == 1
    [stale] = [m for m in app.store.mails() if m.status == "superseded"]
    assert "approved" in (stale.last_error or "")
    assert gather(app)["mail_superseded"] == 1
    assert deliver_pass(app).claimed == 0


def test_information_and_mail_still_actionable_are_sent(make_app: Callable[..., App], db_url: str) -> None:
    """An undecided request flagged at its start goes to zhao (information: the actions were never zhao's)
    and to the leader (who may still decide it): nothing is superseded."""
    from tests.conftest import local

    app = make_app(db_url)
    case = app.service.open("leave", "zhao", {"start": "2027-01-06", "end": "2027-01-07"}).id
    app.ticker.tick(local(2027, 1, 6, 0, 0))
    report = deliver_pass(app, now=local(2027, 1, 6, 9, 1))  # the mail hours have begun (issue 17)
    assert report.superseded == 0 and report.sent == len(app.store.mails())
    assert {(m.event, m.to[0]) for m in app.store.mails(case_id=case) if m.event == "leave.undecided_at_start"} == {
        ("leave.undecided_at_start", "zhao@bj.example.org"), ("leave.undecided_at_start", "liu@gov.example.org")}


def test_mail_list_shows_superseded_mail_with_its_reason(make_app: Callable[..., App], sqlite_url: str,
                                                         monkeypatch: Any, tmp_path: Path,
                                                         capsys: Any) -> None:
    """`mail list --json` lists the superseded row with its status; `status` says how many."""
    import json

    from tests.conftest import point_cli_at

    app = make_app(sqlite_url)
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    app.service.advance(case, "reject", "wang")
    deliver_pass(app)
    point_cli_at(monkeypatch, sqlite_url, tmp_path)
    code, out, _ = run_cli(capsys, "mail", "list", "--json")
    assert code == 0
    assert sorted(m["status"] for m in json.loads(out)) == ["sent", "superseded"]
    code, out, _ = run_cli(capsys, "status")
    assert code == 0 and "1 superseded" in out
