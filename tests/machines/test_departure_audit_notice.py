"""The auditor's deadline to issue the notice of a departure audit (issue 16, point 10; R-4.2, R-4.5):
reminded before it, escalated to the supervising leader after it. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from outpost.app import App
from tests.conftest import local, mails, view
from tests.machines.test_departure_audit import WANG, fired, open_audit, org_with, pending, step
from workflow.ports import CaseFilter


def test_R4_5_the_audit_notice_is_due_5_working_days_after_the_opening(app: App) -> None:
    """Opened Mon 4 Jan: the notice is due by the end of Mon 11 Jan (policy 5 working days); zhou is
    reminded 8 and 10 Jan at 09:00; at 00:00 on 12 Jan zhou and liu are told it is overdue, once."""
    case = open_audit(app)
    assert pending(app, case) == {"notice_reminder": ["2027-01-08T09:00:00+08:00", "2027-01-10T09:00:00+08:00"],
                                  "notice_overdue": ["2027-01-12T00:00:00+08:00"]}
    assert fired(app.ticker.tick(local(2027, 1, 8, 9, 0)), case) == ["notice_reminder"]
    assert mails(app, "departure_audit.notice_reminder") == ["zhou@gov.example.org"]
    assert fired(app.ticker.tick(local(2027, 1, 12, 0, 0)), case) == ["notice_overdue"]
    assert fired(app.ticker.tick(local(2027, 1, 13, 0, 0)), case) == []
    assert mails(app, "departure_audit.notice_overdue") == ["liu@gov.example.org", "zhou@gov.example.org"]
    last = view(app, case)["history"][-1]
    assert (last["trigger"], last["details"]["rule"], last["details"]["to"]) == ("escalate", "R-4.5",
                                                                                "supervising_leader")
    step(app, local(2027, 1, 13, 9, 0), case, "issue_notice", "zhou")  # late, still accepted
    assert "notice_overdue" not in pending(app, case)


def test_R4_2_an_audit_opened_by_org_load_gets_the_notice_deadline(app: App, tmp_path: Path) -> None:
    """The audit opened automatically (wang no longer director) has the notice deadline too."""
    app.load_org(org_with(tmp_path, WANG, WANG.replace('roles = ["director"]', 'roles = ["staff"]')))
    [case] = [c.id for c in app.store.list_cases(CaseFilter(process="departure_audit"))]
    assert set(pending(app, case)) == {"notice_reminder", "notice_overdue"}
