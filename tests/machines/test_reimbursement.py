"""Reimbursement claims and budgets (REGULATION.md R-7.1, R-7.2; process `reimbursement`), on SQLite and
PostgreSQL.

A claim is brought by one of an office's people, approved by the office's director (a supervising leader for
the director's own claim, never oneself), checked and paid by General Office finance (R-7.1). At approval
the office's remaining budget for the year must cover the claim: exactly the remaining amount passes, one
yuan more is refused, unless a supervising leader approves it with `--override REASON` (R-7.2).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from outpost.app import App
from tests.conftest import dump, local, run_cli, set_time, state
from tests.workflow.test_compliance import compliance
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation

# Monday 4 January 2027, 09:00: the fixtures' time. BJ: director wang, deputy li, staff zhao; SZ: director
# chen, staff huang; liu supervising leader, sun clerk, qian finance, zhou auditor.


def budget(app: App, office: str, amount: str, category: str | None = None, reason: str | None = None,
           by: str = "qian", year: str = "2027") -> Any:
    from workflow import registry

    [cmd] = [c for c in registry.latest("reimbursement").commands if (c.group, c.name) == ("budget", "set")]
    return cmd.run(app.service, {"as_": by, "office": office, "year": year, "amount": amount,
                                 "category": category, "reason": reason})


def claim(app: App, by: str, amount: str, category: str = "travel", vouchers: str = "3",
          title: str = "北京出差 差旅费") -> int:
    params = {"amount": amount, "category": category, "vouchers": vouchers, "title": title}
    return app.service.open("reimbursement", by, params).id


def mails_to(app: App, event: str) -> list[str]:
    from workflow.ports import CaseFilter

    people = []
    for c in app.store.list_cases(CaseFilter(process="reimbursement")):
        for m in app.mailbox.mails(case_id=c.id):
            if m.event == event:
                people += [str(r.get("person")) for r in m.recipients]
    return people


# -- who brings, approves, checks and pays --------------------------------------------------------
def test_R7_1_a_claim_goes_from_the_office_through_its_director_to_finance_and_is_paid(app: App) -> None:
    """zhao's claim: approved by the BJ director, checked and paid by finance with a reference; each step is
    in the history, and the director, finance and the claimant are mailed in turn."""
    budget(app, "BJ", "50万")
    case = claim(app, "zhao", "1,200")
    assert state(app, case) == "submitted" and mails_to(app, "reimbursement.submitted") == ["wang"]
    app.service.advance(case, "approve", "wang")
    assert state(app, case) == "approved" and mails_to(app, "reimbursement.approved") == ["qian"]
    app.service.advance(case, "check", "qian")
    with pytest.raises(RuleViolation, match="--reference") as refused:
        app.service.advance(case, "pay", "qian")
    assert refused.value.rule_id == "R-7.1"
    app.service.advance(case, "pay", "qian", options={"reference": "BJ-2027-0001"})
    view = app.case_view(case)
    assert view["state"] == "paid" and view["data"]["reference"] == "BJ-2027-0001"
    assert [h["trigger"] for h in view["history"]] == ["open", "approve", "check", "pay"]
    assert mails_to(app, "reimbursement.paid") == ["zhao"]


@pytest.mark.parametrize(("claimant", "approver", "allowed"), [
    ("zhao", "wang", True),   # staff: their director
    ("zhao", "liu", True),    # a supervising leader may approve any claim
    ("zhao", "chen", False),  # another office's director
    ("zhao", "qian", False),  # finance checks, it does not approve
    ("wang", "wang", False),  # never oneself
    ("wang", "li", False),    # the director's own claim: not the deputy
    ("wang", "liu", True),    # the director's own claim: a supervising leader
])
def test_R7_1_who_approves_a_claim(app: App, claimant: str, approver: str, allowed: bool) -> None:
    """The office's director approves; the director's own claim only a supervising leader; never oneself."""
    budget(app, "BJ", "50万")
    case = claim(app, claimant, "800")
    if allowed:
        app.service.advance(case, "approve", approver)
        assert state(app, case) == "approved"
        return
    with pytest.raises(NotPermitted) as refused:
        app.service.advance(case, "approve", approver)
    assert refused.value.rule_id == "R-7.1" and state(app, case) == "submitted"


def test_R7_1_claims_are_brought_by_the_offices_only(app: App) -> None:
    """A General Office clerk brings no claim (R-7.1: the offices' 报帐); malformed input is bad input."""
    with pytest.raises(RuleViolation, match="offices") as refused:
        claim(app, "sun", "100")
    assert refused.value.rule_id == "R-7.1"
    for bad in ({"amount": "0"}, {"amount": "十万"}, {"amount": "1.234"}, {"category": "business"},
                {"vouchers": "0"}, {"vouchers": "三"}, {"title": "  "}):
        params = {"amount": "100", "category": "travel", "vouchers": "2", "title": "差旅", **bad}
        with pytest.raises(BadInput):
            app.service.open("reimbursement", "zhao", params)


def test_R7_1_reject_and_return_need_a_reason(app: App) -> None:
    """Rejecting a claim and returning it for correction both say why (the claimant is told): without
    --comment it is bad input and nothing is written."""
    budget(app, "BJ", "50万")
    rejected, returned = claim(app, "zhao", "100"), claim(app, "zhao", "200")
    with pytest.raises(BadInput, match="--comment"):
        app.service.advance(rejected, "reject", "wang")
    app.service.advance(rejected, "reject", "wang", comment="非公务支出")
    app.service.advance(returned, "approve", "wang")
    with pytest.raises(BadInput, match="--comment"):
        app.service.advance(returned, "return_for_correction", "qian")
    app.service.advance(returned, "return_for_correction", "qian", comment="缺发票")
    assert (state(app, rejected), state(app, returned)) == ("rejected", "returned")
    assert mails_to(app, "reimbursement.returned") == ["zhao"]


def test_R7_1_the_finance_deadline_pauses_while_the_claim_is_with_the_claimant(app: App) -> None:
    """Approved Monday 4 Jan: finance is due when the 5th working day ends (Mon 11 Jan). Returned on Wed 6
    Jan (2 working days used), resubmitted Mon 18 Jan: 3 working days left, so due when Thu 21 Jan ends —
    not counted from the approval, and not restarted from scratch."""
    budget(app, "BJ", "50万")
    case = claim(app, "zhao", "300")
    app.service.advance(case, "approve", "wang")
    due = {d["kind"]: d["due_at"] for d in app.case_view(case)["deadlines"] if d["status"] == "pending"}
    assert due["check_escalation"].startswith("2027-01-11")
    set_time(app, local(2027, 1, 6, 10, 0))
    app.service.advance(case, "return_for_correction", "qian", comment="缺发票")
    assert not [d for d in app.case_view(case)["deadlines"] if d["status"] == "pending"]
    set_time(app, local(2027, 1, 18, 10, 0))
    app.service.advance(case, "resubmit", "zhao", options={"vouchers": "4"})
    view = app.case_view(case)
    due = {d["kind"]: (d["due_at"], d["why"]) for d in view["deadlines"] if d["status"] == "pending"}
    assert due["check_escalation"][0].startswith("2027-01-21"), due
    assert "2 working days already used" in due["check_escalation"][1]
    assert view["data"]["vouchers"] == 4


def test_R7_1_an_unchecked_claim_reminds_finance_then_escalates_to_the_supervising_leader(app: App) -> None:
    """Policy defaults: finance reminded when the 3rd working day after approval ends (Thu 7 Jan), the
    supervising leader told when the 5th ends (Mon 11 Jan); the mail goes out at the next working hour."""
    budget(app, "BJ", "50万")
    case = claim(app, "zhao", "300")
    app.service.advance(case, "approve", "wang")
    app.ticker.tick(local(2027, 1, 7, 18, 0))
    assert mails_to(app, "reimbursement.check_reminder") == []
    app.ticker.tick(local(2027, 1, 8, 9, 0))
    assert mails_to(app, "reimbursement.check_reminder") == ["qian"]
    app.ticker.tick(local(2027, 1, 12, 9, 0))
    assert mails_to(app, "reimbursement.check_escalated") == ["liu"]
    assert app.case_view(case)["history"][-1]["trigger"] == "escalate"


# -- budgets --------------------------------------------------------------------------------------
def test_R7_2_exactly_the_remaining_budget_passes_and_one_yuan_more_is_refused(app: App) -> None:
    """BJ's 2027 budget 10,000: 6,000 approved; a claim of exactly 4,000 passes, then one of 1 yuan is
    refused naming R-7.2 and the remaining amount; nothing is written by the refusal."""
    budget(app, "BJ", "10,000")
    app.service.advance(claim(app, "zhao", "6000"), "approve", "wang")
    exact = claim(app, "li", "4000")
    app.service.advance(exact, "approve", "wang")
    one_more = claim(app, "zhao", "1")
    with pytest.raises(RuleViolation, match=r"1 yuan is more than what remains of BJ's 2027 budget: 0 of 10,000") \
            as refused:
        app.service.advance(one_more, "approve", "wang")
    assert refused.value.rule_id == "R-7.2" and state(app, one_more) == "submitted"


def test_R7_2_one_yuan_over_is_refused_before_any_spending(app: App) -> None:
    """A claim of 10,001 against a fresh 10,000 budget is refused; 10,000 passes."""
    budget(app, "BJ", "1万")
    over, exact = claim(app, "zhao", "10001"), claim(app, "zhao", "10000")
    with pytest.raises(RuleViolation):
        app.service.advance(over, "approve", "wang")
    app.service.advance(exact, "approve", "wang")
    assert state(app, exact) == "approved"


def test_R7_2_claims_count_while_approved_returned_checked_or_paid_not_when_rejected_or_withdrawn(app: App) -> None:
    """The remaining budget is the budget less every claim approved (returned for correction included),
    checked or paid; rejected, withdrawn and still-submitted claims take nothing."""
    budget(app, "BJ", "1000")
    paid, checked, returned = claim(app, "zhao", "100"), claim(app, "zhao", "200"), claim(app, "zhao", "300")
    for c in (paid, checked, returned):
        app.service.advance(c, "approve", "wang")
    app.service.advance(paid, "check", "qian")
    app.service.advance(paid, "pay", "qian", options={"reference": "P1"})
    app.service.advance(checked, "check", "qian")
    app.service.advance(returned, "return_for_correction", "qian", comment="缺发票")
    rejected, withdrawn = claim(app, "zhao", "900"), claim(app, "zhao", "900")
    app.service.advance(rejected, "reject", "wang", comment="否")
    app.service.advance(withdrawn, "withdraw", "zhao")
    claim(app, "zhao", "900")  # submitted, undecided
    last = claim(app, "li", "400")  # 1000 - 600 = 400 remain
    app.service.advance(last, "approve", "wang")
    [bj] = compliance(app, 2027, "BJ")
    assert bj["reimbursement"]["budget"] == 1000 and bj["reimbursement"]["approved"] == 1000
    assert bj["reimbursement"]["paid"] == 100 and bj["reimbursement"]["remaining"] == 0


def test_R7_2_a_category_budget_limits_its_category_too(app: App) -> None:
    """With a reception budget of 2,000 inside a whole budget of 50,000, a 2,001 reception claim is refused
    on the category, a 2,001 travel claim passes."""
    budget(app, "BJ", "5万")
    budget(app, "BJ", "2000", category="reception")
    with pytest.raises(RuleViolation, match="reception budget"):
        app.service.advance(claim(app, "zhao", "2001", category="reception"), "approve", "wang")
    travel = claim(app, "zhao", "2001", category="travel")
    app.service.advance(travel, "approve", "wang")
    assert state(app, travel) == "approved"


def test_R7_2_no_budget_set_refuses_approval(app: App) -> None:
    """An office with no budget for the year has nothing to approve against: refused, saying who sets it."""
    with pytest.raises(RuleViolation, match="no budget is set for SZ in 2027") as refused:
        app.service.advance(claim(app, "huang", "10"), "approve", "chen")
    assert refused.value.rule_id == "R-7.2"


def test_R7_2_over_budget_only_a_supervising_leader_approves_with_a_reason(app: App) -> None:
    """The director cannot pass the budget, even with --override; a supervising leader needs --override
    REASON, which the history keeps; within the budget --override passes nothing and is bad input."""
    budget(app, "BJ", "1000")
    over = claim(app, "zhao", "1500")
    with pytest.raises(RuleViolation, match="only a supervising leader"):
        app.service.advance(over, "approve", "wang")
    with pytest.raises(RuleViolation, match="only a supervising leader"):
        app.service.advance(over, "approve", "wang", override="急需")
    with pytest.raises(RuleViolation, match="--override REASON") as refused:
        app.service.advance(over, "approve", "liu")
    assert refused.value.rule_id == "R-7.2"
    app.service.advance(over, "approve", "liu", override="市领导批示的紧急接待")
    view = app.case_view(over)
    assert view["state"] == "approved" and view["data"]["over_budget"] is True
    assert view["history"][-1]["override"] == "市领导批示的紧急接待"
    budget(app, "SZ", "1000")
    within = claim(app, "huang", "1")
    with pytest.raises(BadInput, match="passes no rule"):
        app.service.advance(within, "approve", "liu", override="无需")


def test_R7_2_only_finance_sets_budgets_and_every_change_says_who_and_why(app: App) -> None:
    """Finance sets a budget; a change needs --reason; the clerk and the director may not; `budget show`
    lists every change with who and why."""
    with pytest.raises(NotPermitted) as refused:
        budget(app, "BJ", "1000", by="wang")
    assert refused.value.rule_id == "R-7.2"
    with pytest.raises(NotPermitted):
        budget(app, "BJ", "1000", by="sun")
    budget(app, "BJ", "1000")
    with pytest.raises(BadInput, match="--reason"):
        budget(app, "BJ", "2000")
    budget(app, "BJ", "2000", reason="年中追加")
    with pytest.raises(NotFound):
        budget(app, "XX", "1000")
    from workflow import registry

    [show] = [c for c in registry.latest("reimbursement").commands if (c.group, c.name) == ("budget", "show")]
    [bj] = show.run(app.service, {"year": "2027", "office": "BJ"}).json
    assert bj["budget"] == 2000
    assert [(c["amount"], c["before"], c["by"], c["reason"]) for c in bj["changes"]] == [
        (1000, None, "qian", None), (2000, 1000, "qian", "年中追加")]


def test_R7_2_two_approvals_at_once_never_spend_more_than_the_budget(
        make_app: Callable[..., App], db_url: str) -> None:
    """Two approvals race for the last 1,000 of BJ's budget. On PostgreSQL a third transaction holds both
    claims' rows, so both approvals have added up the budget before either can write: without the office's
    hold (READ COMMITTED) both would pass. Exactly one passes; the other is refused by R-7.2."""
    import time

    from sqlalchemy import create_engine, text

    app = make_app(db_url)
    budget(app, "BJ", "1000")
    first, second = claim(app, "zhao", "1000"), claim(app, "li", "1000")
    other = make_app(db_url, org=None)
    outcomes: list[str] = []

    def approve(application: App, case: int, by: str) -> None:
        try:
            application.service.advance(case, "approve", by)
            outcomes.append("approved")
        except RuleViolation as refused:
            outcomes.append(f"refused {refused.rule_id}")

    threads = [threading.Thread(target=approve, args=(app, first, "wang")),
               threading.Thread(target=approve, args=(other, second, "liu"))]
    holder = create_engine(db_url) if db_url.startswith("postgresql") else None
    try:
        if holder is not None:
            with holder.connect() as conn, conn.begin():
                conn.execute(text("SELECT id FROM cases WHERE id IN (:a, :b) FOR UPDATE"), {"a": first, "b": second})
                for t in threads:
                    t.start()
                time.sleep(1.5)  # both approvals are past their budget check, or waiting for the hold
        else:  # SQLite: BEGIN IMMEDIATE runs one writer at a time
            for t in threads:
                t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        if holder is not None:
            holder.dispose()
    assert sorted(outcomes) == ["approved", "refused R-7.2"]
    [bj] = compliance(app, 2027, "BJ")
    assert bj["reimbursement"]["approved"] == 1000


# -- the CLI -----------------------------------------------------------------------------------------------
def test_budget_and_claims_from_the_command_line(
        make_app: Callable[..., App], sqlite_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`budget set` and `case open reimbursement` are generated from the process's folder; bad input is one
    line, exit 2, and nothing is written."""
    make_app(sqlite_url)
    monkeypatch.setenv("OUTPOST_DATABASE_URL", sqlite_url)
    code, out, err = run_cli(capsys, "budget", "set", "--as", "qian", "--office", "BJ", "--year", "2027",
                             "--amount", "30万", "--json")
    assert code == 0, err
    assert json.loads(out)["amount"] == 300000
    code, out, err = run_cli(capsys, "case", "open", "reimbursement", "--as", "zhao", "--amount", "1,500",
                             "--category", "travel", "--vouchers", "3", "--title", "出差", "--json")
    assert code == 0, err
    case = json.loads(out)
    assert case["state"] == "submitted" and case["data"]["amount"] == "1500"
    before = dump(sqlite_url)
    for argv in (["budget", "set", "--as", "qian", "--office", "BJ", "--year", "二〇二七", "--amount", "1"],
                 ["budget", "set", "--as", "qian", "--office", "BJ", "--year", "2027", "--amount", "1.2.3"],
                 ["case", "open", "reimbursement", "--as", "zhao", "--amount", "10", "--category", "travel",
                  "--vouchers", "x", "--title", "t"],
                 ["case", "open", "reimbursement", "--as", "zhao", "--amount", "10", "--bogus", "1"]):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)
    assert dump(sqlite_url) == before
    code, out, err = run_cli(capsys, "budget", "show", "--year", "2027")
    assert code == 0 and "BJ 2027: budget 300,000" in out


def test_its_mail_says_amount_and_category_never_the_title(app: App) -> None:
    """R-7.3: the approver's mail names the claim by amount, category and vouchers; the title stays out."""
    from notifications.render import render

    budget(app, "BJ", "1万")
    case = claim(app, "zhao", "1,234.50", title="机密项目 差旅")
    [row] = [m for m in app.mailbox.mails(case_id=case) if m.event == "reimbursement.submitted"]
    for lang in ("zh", "en"):
        text = render(row, None, lang=lang).text
        assert "1,234.50" in text and "机密项目" not in text


def test_compliance_section_per_office(app: App) -> None:
    """`report compliance` has each office's budget, approved, paid and remaining (R-7.2)."""
    budget(app, "BJ", "1万")
    c = claim(app, "zhao", "2500")
    app.service.advance(c, "approve", "wang")
    [bj, sz] = compliance(app, 2027)
    assert (bj["reimbursement"]["budget"], bj["reimbursement"]["approved"], bj["reimbursement"]["remaining"]) == \
        (10000, 2500, 7500)
    assert sz["reimbursement"]["budget"] is None and sz["reimbursement"]["claims"] == 0
