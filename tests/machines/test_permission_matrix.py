"""Who may fire what: every process × trigger × person, through the real case service (issue 7, item 9).

For each registered process the test drives cases into each reachable state with `app.service.open/advance`
and `app.ticker.tick(now)` on an injected clock (periodic cases are created by the tick on their opening
day; escalations by ticking past their due dates). Then, for every case, every person of the organisation
(which includes the case's subject and people of the other office) and every trigger the case's state
allows, it asks `service.triggers(case, person)` and actually fires `service.advance(case, trigger, person)`.

The expected answer comes from `WHO`, a table written from PRODUCT.md "Processes, states and triggers".
Only permission is asserted: a refusal by another rule (dates, presence limit, open findings) or bad input
may stop an allowed person, but an allowed person is never refused with `NotPermitted`, and everyone else
always is. `case triggers` must agree with `advance` on permission.

Every attempt starts from the same database: a refused step writes nothing (checked with SQLite's
`PRAGMA data_version`), and after any attempt that wrote (a success, or the compliance incident R-3.3
records on refusal) the database file is restored from the pristine copy.

The example organisation runs once as it is and once with dual roles: the BJ director `wang` is also a
supervising leader, the BJ deputy `li` also a supervising leader and an auditor, the SZ director `chen`
also an auditor — so that the self-approval block (R-2.4) and the audited-person block (R-4.3) are probed
where a role would otherwise let the person through, before and after escalation. A third run, "delegated",
has dated delegations in force (issue 15.4, `DELEGATES`): a delegate may fire what the absent person's own
roles permit, except on their own case (R-2.4, R-4.3 hold through a delegation).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from machines.info_quota import add_item
from machines.investment import add_investment
from outpost.app import App
from tests.conftest import ORG_FILE, local, set_time
from workflow import registry
from workflow.clock import FixedClock
from workflow.definition import Transition
from workflow.errors import BadInput, NotPermitted, RuleViolation
from workflow.model import OFFICE_ROLES, Person
from workflow.ports import CaseFilter
from workflow.service import GuardRefusal, TriggerInfo
from workflow.settings import load_settings

ORG_TEXT = ORG_FILE.read_text(encoding="utf-8")


def with_roles(text: str, person: str, roles: list[str], office: str | None = "keep") -> str:
    """The organisation file with one person's roles (and, when given, office) replaced."""
    start = text.index(f'id = "{person}"')
    end = text.find("[[person]]", start)
    end = len(text) if end < 0 else end
    lines = []
    for line in text[start:end].splitlines(keepends=True):
        if line.startswith("roles = "):
            line = "roles = [" + ", ".join(f'"{r}"' for r in roles) + "]\n"
        elif line.startswith("office = ") and office != "keep":
            line = "" if office is None else f'office = "{office}"\n'
        lines.append(line)
    return text[:start] + "".join(lines) + text[end:]


def dual_roles_org() -> str:
    """The example organisation where a requester or an audited person also holds the deciding role."""
    text = with_roles(ORG_TEXT, "wang", ["director", "supervising_leader"])
    text = with_roles(text, "li", ["deputy_director", "petition_deputy", "supervising_leader", "auditor"])
    return with_roles(text, "chen", ["director", "auditor"])


ORGS = {"example": ORG_TEXT, "dual_roles": dual_roles_org(), "delegated": ORG_TEXT}

# "delegated": the example organisation with dated delegations in force (issue 15.4), delegate → absent person.
# Nobody is both (no chains); each delegate is the subject of cases their absent person decides or audits
# (zhao's and huang's leave, li's audits, zhao's and huang's trips), so are probed through them.
DELEGATES = {"li": "zhou", "huang": "chen", "zhao": "liu", "wang": "sun"}


# -- the cases, in known states ------------------------------------------------------------------------
@dataclass
class Probe:
    """One case in a known state, and what the table needs to know about it."""

    label: str
    case_id: int
    state: str
    office: str | None
    subject: str | None = None  # leave: the requester; matter: the requester; departure audit: the audited
    route: tuple[str, ...] = ()  # leave: who decides now ("director" of the office, "supervising_leader")
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # trigger → options it needs


def now_of(app: App) -> datetime:
    return app.clock.now()


def tick_at(app: App, at: datetime) -> None:
    set_time(app, at)
    app.ticker.tick(at)


def periodic(app: App, process: str) -> dict[tuple[str | None, str | None], int]:
    """(office, period) → case id of a periodic process."""
    return {(c.office, c.period): c.id for c in app.store.list_cases(CaseFilter(process=process))}


def build_leave(app: App, org: str) -> list[Probe]:
    """Leave requests on every route (R-2.1, R-2.3, R-2.4, R-2.6), escalated (R-2.8) or not, in every state."""
    svc = app.service

    def ask(who: str, start: str, end: str, **more: Any) -> int:
        return svc.open("leave", who, {"start": start, "end": end, **more}).id

    # Monday 4 January 2027: three requests left undecided for 2 working days, so escalated
    staff_escalated = ask("zhao", "2027-03-01", "2027-03-02")
    director_long = ask("wang", "2027-04-01", "2027-04-10")
    deputy_escalated = ask("li", "2027-03-10", "2027-03-11")
    lapsed = ask("huang", "2027-01-05", "2027-01-05")  # still undecided after its day: lapses (issue 16)
    tick_at(app, local(2027, 1, 7, 9, 0))
    staff = ask("huang", "2027-03-01", "2027-03-02")
    approved = ask("huang", "2027-05-03", "2027-05-04")
    svc.advance(approved, "approve", "chen")
    rejected = ask("huang", "2027-06-01", "2027-06-02")
    svc.advance(rejected, "reject", "chen")
    withdrawn = ask("huang", "2027-07-01", "2027-07-02")
    svc.advance(withdrawn, "withdraw", "huang")
    recorded = ask("chen", "2027-02-01", "2027-02-03")  # a director's 3 days: recorded, approved
    away = ask("wang", "2027-01-07", "2027-01-11")  # the BJ director is away from today ...
    extension = ask("wang", "2027-01-12", "2027-01-14", extends=str(away))  # ... 5 + 3 = 8 days
    director_away = ask("li", "2027-02-15", "2027-02-16")  # ... so the deputy's request goes up
    back = ask("chen", "2027-01-07", "2027-01-08")
    app.ticker.tick(now_of(app))  # both leaves starting today start
    svc.advance(back, "return", "chen")
    director, leader = "director", "supervising_leader"
    return [
        # the BJ director is away today: the escalated requests are the supervising leader's alone
        Probe("staff leave, escalated", staff_escalated, "pending", "BJ", "zhao", (leader,)),
        Probe("director leave of 10 days", director_long, "pending", "BJ", "wang", (leader,)),
        Probe("deputy leave, escalated", deputy_escalated, "pending", "BJ", "li", (leader,)),
        Probe("staff leave", staff, "pending", "SZ", "huang", (director,)),
        Probe("extension to 8 days", extension, "pending", "BJ", "wang", (leader,)),
        Probe("deputy leave, director away", director_away, "pending", "BJ", "li", (leader,)),
        Probe("approved staff leave", approved, "approved", "SZ", "huang", (director,)),
        Probe("recorded director leave", recorded, "approved", "SZ", "chen"),
        Probe("director on leave", away, "on_leave", "BJ", "wang"),
        Probe("returned", back, "returned", "SZ", "chen"),
        Probe("rejected", rejected, "rejected", "SZ", "huang", (director,)),
        Probe("withdrawn", withdrawn, "withdrawn", "SZ", "huang", (director,)),
        Probe("lapsed", lapsed, "lapsed", "SZ", "huang", (director,)),
    ]


def build_matter(app: App, org: str) -> list[Probe]:
    """Reports and requests in every state, two of them escalated after 5 working days (R-3.6)."""
    svc = app.service

    def submit(who: str, kind: str, category: str = "other", **more: Any) -> int:
        return svc.open("matter", who, {"category": category, "kind": kind, "title": "事项", **more}).id

    escalated_request = submit("wang", "request", "asset_purchase", event_date="2027-06-01")
    escalated_report = submit("huang", "report")
    tick_at(app, local(2027, 1, 12, 9, 0))
    probes = [
        Probe("request, escalated", escalated_request, "submitted", "BJ", "wang"),
        Probe("report, escalated", escalated_report, "submitted", "SZ", "huang"),
        Probe("report", submit("zhao", "report"), "submitted", "BJ", "zhao"),
        Probe("request", submit("chen", "request", "asset_disposal", event_date="2027-05-01"), "submitted", "SZ",
              "chen"),
    ]
    for label, who, kind, steps, state in (
        ("acknowledged report", "huang", "report", [("acknowledge", "sun")], "acknowledged"),
        ("request returned for revision", "huang", "request", [("request_revision", "liu")], "revision_requested"),
        ("approved request", "huang", "request", [("approve", "liu")], "approved"),
        ("rejected request", "zhao", "request", [("reject", "liu")], "rejected"),
        ("executed request", "li", "request", [("approve", "liu"), ("execute", "wang")], "executed"),
        ("abandoned request", "chen", "request", [("approve", "liu"), ("abandon", "chen")], "abandoned"),
        ("closed report", "zhao", "report", [("acknowledge", "sun"), ("close", "sun")], "closed"),
    ):
        case = submit(who, kind)
        for trigger, actor in steps:
            svc.advance(case, trigger, actor)
        office = "BJ" if who in ("wang", "li", "zhao") else "SZ"
        probes.append(Probe(label, case, state, office, who))
    return probes


AUDIT_STEPS: list[tuple[str, str]] = [  # (state reached, trigger that reaches it); "subject" acts as the audited
    ("notified", "issue_notice"), ("materials_submitted", "submit_materials"), ("fieldwork", "start_fieldwork"),
    ("draft_reported", "deliver_draft"), ("feedback_received", "give_feedback"), ("final_reported", "issue_final"),
]


def build_departure_audit(app: App, org: str) -> list[Probe]:
    """Audits of the BJ deputy and the SZ director in every state; two of each escalated (R-4.5)."""
    svc = app.service

    def drive(subject: str, target: str) -> Probe:
        office = "BJ" if subject in ("wang", "li") else "SZ"
        # one audit per target state for the same person at once: opened the way `org load` opens them,
        # since the organisation department may hold only one open audit per person and office
        with app.store.transaction() as tx:
            case = svc.open_in(tx, registry.latest("departure_audit"), None,
                               {"subject": subject, "office": office, "old_roles": ["director"],
                                "new_roles": []}).id
        finding: int | None = None
        state = "opened"
        for reached, trigger in AUDIT_STEPS:
            if state == target:
                break
            actor = subject if trigger in ("submit_materials", "give_feedback") else "zhou"
            svc.advance(case, trigger, actor, comment="书面意见" if trigger == "give_feedback" else None)
            state = reached
            if state == "fieldwork":
                svc.advance(case, "add_finding", "zhou", options={"finding": "固定资产账实不符"})
                finding = max(i.id for i in open_items(app, case))
        if target in ("rectifying", "closed"):
            app.ticker.tick(now_of(app))  # the final report left a finding open: rectification starts
            state = "rectifying"
        if target == "closed":
            svc.advance(case, "rectify_finding", "zhou", options={"finding": str(finding)})
            svc.advance(case, "close", "zhou")
            state = "closed"
        assert state == target
        options: dict[str, dict[str, Any]] = {
            "add_finding": {"finding": "新发现"},
            "record_handover": {"assets": "公章、账簿"},
        }
        if finding is not None:
            options["rectify_finding"] = {"finding": str(finding)}
            options["waive_finding"] = {"finding": str(finding), "reason": "已报市政府同意"}
        return Probe(f"audit of {subject}, {target}", case, target, office, subject, options=options)

    subjects = ("li", "chen")
    escalated = [drive(s, t) for s in subjects for t in ("notified", "rectifying")]
    tick_at(app, now_of(app) + timedelta(days=75))  # materials and rectification overdue: escalated
    for p in escalated:
        p.label += ", escalated"
    # final_reported last: a later tick would start the rectification of its open finding
    states = ("opened", *(s for s, _ in AUDIT_STEPS if s != "final_reported"), "rectifying", "closed",
              "final_reported")
    probes = escalated + [drive(s, t) for t in states for s in subjects]
    if org == "dual_roles":
        # the BJ director moves to the General Office as an auditor (keeping his supervising-leader
        # role); `org load` opens his departure audit, which he may neither audit nor close
        moved = app.settings.outbox_dir.parent / "org-moved.toml"
        moved.write_text(with_roles(ORGS[org], "wang", ["auditor", "supervising_leader"], office=None),
                         encoding="utf-8")
        opened = app.load_org(moved)["departure_audits_opened"]
        assert len(opened) == 1
        probes.append(Probe("audit of wang, opened by org load", opened[0], "opened", "BJ", "wang",
                            options={"record_handover": {"assets": "公章"}}))
    return probes


def open_items(app: App, case_id: int) -> list[Any]:
    with app.store.transaction(write=False) as tx:
        return [i for i in tx.items(case_id, "finding") if i.status == "open"]


def build_report(app: App, org: str) -> list[Probe]:
    """Work reports of three periods (R-5.1, R-5.2), opened by the tick 30 days before they are due."""
    svc = app.service
    tick_at(app, local(2027, 5, 26, 9, 0))
    h1 = periodic(app, "report")
    for trigger, actor, options in (("submit", "wang", {}), ("accept", "sun", {}), ("assess", "sun", {"score": "80"})):
        svc.advance(h1["BJ", "2027-H1"], trigger, actor, options=options)
    for trigger, actor in (("submit", "chen"), ("accept", "liu")):
        svc.advance(h1["SZ", "2027-H1"], trigger, actor)
    tick_at(app, local(2027, 11, 25, 9, 0))
    y = periodic(app, "report")
    for trigger, actor in (("submit", "wang"), ("request_revision", "sun")):
        svc.advance(y["BJ", "2027-Y"], trigger, actor, options={"plan": "2028年工作计划"} if actor == "wang" else {})
    svc.advance(y["SZ", "2027-Y"], "submit", "chen", options={"plan": "2028年工作计划"})
    tick_at(app, local(2028, 5, 26, 9, 0))
    last = periodic(app, "report")
    options = {"submit": {"plan": "计划"}, "resubmit": {"plan": "计划"}, "assess": {"score": "90"}}
    return [
        Probe(f"{office} {period}", last[office, period], state, office, options=options)
        for office, period, state in (("BJ", "2027-H1", "assessed"), ("SZ", "2027-H1", "accepted"),
                                      ("BJ", "2027-Y", "revision_requested"), ("SZ", "2027-Y", "submitted"),
                                      ("BJ", "2028-H1", "open"), ("SZ", "2028-H1", "open"))
    ]


def build_fin_statement(app: App, org: str) -> list[Probe]:
    """Quarterly statements (R-6.1), opened by the tick on the first day after the quarter."""
    svc = app.service
    tick_at(app, local(2027, 4, 1, 9, 0))
    q1 = periodic(app, "fin_statement")
    svc.advance(q1["BJ", "2027-Q1"], "submit", "wang")
    svc.advance(q1["BJ", "2027-Q1"], "accept", "qian")
    svc.advance(q1["SZ", "2027-Q1"], "submit", "chen")
    svc.advance(q1["SZ", "2027-Q1"], "request_revision", "sun")
    tick_at(app, local(2027, 7, 1, 9, 0))
    q2 = periodic(app, "fin_statement")
    svc.advance(q2["BJ", "2027-Q2"], "submit", "wang")
    svc.advance(q2["SZ", "2027-Q2"], "submit", "chen")
    svc.advance(q2["SZ", "2027-Q2"], "accept", "sun")
    svc.advance(q2["SZ", "2027-Q2"], "assess", "qian", options={"score": "85"})
    tick_at(app, local(2027, 10, 1, 9, 0))
    q3 = periodic(app, "fin_statement")
    return [
        Probe(f"{office} {period}", q3[office, period], state, office, options={"assess": {"score": "80"}})
        for office, period, state in (("BJ", "2027-Q1", "accepted"), ("SZ", "2027-Q1", "revision_requested"),
                                      ("BJ", "2027-Q2", "submitted"), ("SZ", "2027-Q2", "assessed"),
                                      ("BJ", "2027-Q3", "open"))
    ]


def build_annual_audit(app: App, org: str) -> list[Probe]:
    """Year-end audits (R-6.2), scheduled by the tick on 1 December."""
    svc = app.service
    tick_at(app, local(2027, 12, 1, 9, 0))
    y27 = periodic(app, "annual_audit")
    for trigger, actor in (("start", "zhou"), ("submit_report", "zhou"), ("close", "liu")):
        svc.advance(y27["BJ", "2027-Y"], trigger, actor)
    for trigger in ("start", "submit_report"):
        svc.advance(y27["SZ", "2027-Y"], trigger, "zhou")
    tick_at(app, local(2028, 12, 1, 9, 0))
    y28 = periodic(app, "annual_audit")
    svc.advance(y28["BJ", "2028-Y"], "start", "zhou")
    return [
        Probe(f"{office} {period}", y28[office, period], state, office)
        for office, period, state in (("BJ", "2027-Y", "closed"), ("SZ", "2027-Y", "reported"),
                                      ("BJ", "2028-Y", "in_progress"), ("SZ", "2028-Y", "scheduled"))
    ]


def build_info_quota(app: App, org: str) -> list[Probe]:
    """Monthly information (R-6.3): May judged met (SZ) and short (BJ), June open with an item waiting."""
    svc = app.service
    tick_at(app, local(2027, 5, 1, 9, 0))
    add_item(svc, "zhao", "北京政策动态")
    for n in range(4):
        item = add_item(svc, "huang", f"深圳市场行情 {n}")
        svc.advance(item.case_id, "accept_item", "sun", options={"item": item.id})
    tick_at(app, local(2027, 6, 1, 9, 0))
    bj, sz = add_item(svc, "zhao", "招商线索"), add_item(svc, "huang", "经济新闻")
    cases = periodic(app, "info_quota")
    return [
        Probe("BJ June", bj.case_id, "open", "BJ", options={"add_item": {"title": "新信息"},
                                                             "accept_item": {"item": str(bj.id)}}),
        Probe("SZ June", sz.case_id, "open", "SZ", options={"add_item": {"title": "新信息"},
                                                             "accept_item": {"item": str(sz.id)}}),
        Probe("BJ May", cases["BJ", "2027-05"], "short", "BJ"),
        Probe("SZ May", cases["SZ", "2027-05"], "met", "SZ"),
    ]


def build_investment(app: App, org: str) -> list[Probe]:
    """Investment years (R-6.4): 2027 judged met (BJ) and missed (SZ), 2028 open."""
    tick_at(app, local(2027, 1, 4, 9, 0))
    add_investment(app.service, "zhao", "3000万", "domestic", "产业园", None, ["wang=3000万"])
    tick_at(app, local(2028, 1, 3, 9, 0))
    cases = periodic(app, "investment")
    add = {"add": {"amount": "100万", "source": "foreign", "project": "新项目", "date": "2028-01-03"}}
    return [
        Probe("BJ 2028", cases["BJ", "2028-Y"], "open", "BJ", options=add),
        Probe("SZ 2028", cases["SZ", "2028-Y"], "open", "SZ", options=add),
        Probe("BJ 2027", cases["BJ", "2027-Y"], "met", "BJ"),
        Probe("SZ 2027", cases["SZ", "2027-Y"], "missed", "SZ"),
    ]


def build_off_site(app: App, org: str) -> list[Probe]:
    """Recorded off-site days (R-2.5): future ones of a staff member and of a director, days that began
    today (corrected by the General Office only), and a cancelled record. `route` says whether the office
    director may still cancel."""
    svc = app.service

    def record(by: str, subject: str, start: str, end: str) -> int:
        return svc.open("off_site", by, {"subject": subject, "start": start, "end": end, "reason": "出差"}).id

    cancelled = record("wang", "zhao", "2027-05-10", "2027-05-12")
    svc.advance(cancelled, "cancel", "wang", comment="取消")
    return [
        Probe("staff trip", record("wang", "zhao", "2027-03-01", "2027-03-03"), "recorded", "BJ", "zhao",
              ("director",)),
        Probe("director trip", record("sun", "chen", "2027-03-01", "2027-03-03"), "recorded", "SZ", "chen",
              ("director",)),
        Probe("staff trip begun today", record("liu", "huang", "2027-01-04", "2027-01-05"), "recorded", "SZ",
              "huang"),
        Probe("cancelled trip", cancelled, "cancelled", "BJ", "zhao"),
    ]


def build_reimbursement(app: App, org: str) -> list[Probe]:
    """Claims (R-7.1) in every state, within the offices' budgets (R-7.2); the director's own claim is routed
    to a supervising leader (`route` "own")."""
    from machines.reimbursement import budget_set

    svc = app.service
    for office in ("BJ", "SZ"):
        budget_set(svc, {"as_": "qian", "office": office, "year": "2027", "amount": "100万"})

    def bring(who: str) -> int:
        return svc.open("reimbursement", who, {"amount": "100", "category": "travel", "vouchers": "2",
                                               "title": "差旅"}).id

    submitted, own, approved, returned = bring("zhao"), bring("wang"), bring("huang"), bring("zhao")
    svc.advance(approved, "approve", "chen")
    svc.advance(returned, "approve", "wang")
    svc.advance(returned, "return_for_correction", "qian", comment="缺票")
    checked, paid, rejected, withdrawn = bring("zhao"), bring("zhao"), bring("huang"), bring("zhao")
    for c in (checked, paid):
        svc.advance(c, "approve", "wang")
        svc.advance(c, "check", "qian")
    svc.advance(paid, "pay", "qian", options={"reference": "P-1"})
    svc.advance(rejected, "reject", "chen", comment="否")
    svc.advance(withdrawn, "withdraw", "zhao")
    pay = {"pay": {"reference": "P-2"}}
    return [
        Probe("staff claim", submitted, "submitted", "BJ", "zhao"),
        Probe("director's own claim", own, "submitted", "BJ", "wang", ("own",)),
        Probe("approved claim", approved, "approved", "SZ", "huang"),
        Probe("returned claim", returned, "returned", "BJ", "zhao"),
        Probe("checked claim", checked, "checked", "BJ", "zhao", options=pay),
        Probe("paid claim", paid, "paid", "BJ", "zhao"),
        Probe("rejected claim", rejected, "rejected", "SZ", "huang"),
        Probe("withdrawn claim", withdrawn, "withdrawn", "BJ", "zhao"),
    ]


BUILDERS: dict[str, Callable[[App, str], list[Probe]]] = {
    "leave": build_leave, "matter": build_matter, "departure_audit": build_departure_audit,
    "report": build_report, "fin_statement": build_fin_statement, "annual_audit": build_annual_audit,
    "info_quota": build_info_quota, "investment": build_investment, "off_site": build_off_site,
    "reimbursement": build_reimbursement,
}


# -- who may fire what (PRODUCT.md "Processes, states and triggers") -------------------------------------
Who = Callable[[Person, Probe], bool]
DAEMON = "the daemon only (system)"


def role(name: str) -> Who:
    return lambda p, c: name in p.roles


def director(p: Person, c: Probe) -> bool:
    """The director of the case's office."""
    return "director" in p.roles and p.office == c.office


def subject(p: Person, c: Probe) -> bool:
    return p.id == c.subject


def office_member(p: Person, c: Probe) -> bool:
    return p.office == c.office and bool(p.roles & OFFICE_ROLES)


def any_of(*who: Who) -> Who:
    return lambda p, c: any(w(p, c) for w in who)


def not_subject(who: Who) -> Who:
    return lambda p, c: p.id != c.subject and who(p, c)


def routed_approver(p: Person, c: Probe) -> bool:
    """The approver the request is routed to now; never the requester (R-2.4)."""
    levels = {"director": director, "supervising_leader": role("supervising_leader")}
    return p.id != c.subject and any(levels[level](p, c) for level in c.route)


def independent_auditor(p: Person, c: Probe) -> bool:
    """An auditor who does not work in the audited office."""
    return "auditor" in p.roles and p.office != c.office


NOBODY: Who = lambda p, c: False  # noqa: E731
AUDITOR = not_subject(role("auditor"))
CLERK_OR_LEADER = any_of(role("clerk"), role("supervising_leader"))

def claim_approver(p: Person, c: Probe) -> bool:
    """R-7.1: the office's director, or a supervising leader (the only approver of the director's own claim);
    never the claimant."""
    return p.id != c.subject and ("supervising_leader" in p.roles or (director(p, c) and "own" not in c.route))


FINANCE = not_subject(role("finance"))

WHO: dict[str, dict[str, tuple[str, Who]]] = {
    "reimbursement": {
        "approve": ("the office director; the director's own claim a supervising leader; never oneself",
                    claim_approver),
        "reject": ("the office director; the director's own claim a supervising leader; never oneself",
                   claim_approver),
        "return_for_correction": ("General Office finance, never the claimant", FINANCE),
        "check": ("General Office finance, never the claimant", FINANCE),
        "pay": ("General Office finance, never the claimant", FINANCE),
        "resubmit": ("the claimant", subject),
        "withdraw": ("the claimant", subject),
    },
    "leave": {
        "approve": ("the approver of R-2.1/R-2.3/R-2.4, never the requester", routed_approver),
        "reject": ("the approver of R-2.1/R-2.3/R-2.4, never the requester", routed_approver),
        "withdraw": ("the requester", subject),
        "start": (DAEMON, NOBODY),
        "return": ("the requester or their director", any_of(subject, director)),
        "lapse": (DAEMON, NOBODY),  # undecided after its last day (issue 16, R-2.8)
        "extend": (DAEMON, NOBODY),  # an extension granted moves the expected return (issue 16, R-2.6)
    },
    "matter": {
        "acknowledge": ("clerk or supervising leader", CLERK_OR_LEADER),
        "approve": ("supervising leader", role("supervising_leader")),
        "reject": ("supervising leader", role("supervising_leader")),
        "request_revision": ("supervising leader", role("supervising_leader")),
        "resubmit": ("the requester", subject),
        "execute": ("the office director", director),
        "abandon": ("the office director", director),
        "close": ("clerk", role("clerk")),
    },
    "departure_audit": {
        "issue_notice": ("auditor, never the audited person (R-4.3)", AUDITOR),
        "start_fieldwork": ("auditor, never the audited person (R-4.3)", AUDITOR),
        "deliver_draft": ("auditor, never the audited person (R-4.3)", AUDITOR),
        "issue_final": ("auditor, never the audited person (R-4.3)", AUDITOR),
        "close": ("auditor or supervising leader, never the audited person (R-4.3)",
                  not_subject(any_of(role("auditor"), role("supervising_leader")))),
        "submit_materials": ("office director or the audited person", any_of(director, subject)),
        "give_feedback": ("the audited person", subject),
        "no_objection": (DAEMON, NOBODY),
        "begin_rectification": (DAEMON, NOBODY),
        "add_finding": ("auditor, never the audited person (R-4.3)", AUDITOR),
        "rectify_finding": ("auditor, never the audited person (R-4.3)", AUDITOR),
        "waive_finding": ("supervising leader, never the audited person (R-4.3)",
                          not_subject(role("supervising_leader"))),
        # PRODUCT.md does not list it: the handover from the outgoing to the incoming leader
        "record_handover": ("the outgoing leader (audited), the office's leading cadres, or an auditor (R-4.6)",
                            any_of(subject, role("auditor"),
                                   lambda p, c: p.office == c.office and bool(
                                       p.roles & {"director", "deputy_director"}))),
    },
    "off_site": {  # not in PRODUCT.md: the other off-site days counts (machines/off_site.py)
        "cancel": ("clerk or supervising leader, or before the first day the office director; never the person",
                   not_subject(any_of(CLERK_OR_LEADER, lambda p, c: "director" in c.route and director(p, c)))),
    },
    "report": {
        "submit": ("director", director),
        "resubmit": ("director", director),
        "accept": ("clerk or supervising leader", CLERK_OR_LEADER),
        "request_revision": ("clerk or supervising leader", CLERK_OR_LEADER),
        "assess": ("clerk or supervising leader", CLERK_OR_LEADER),
    },
    "fin_statement": {  # "same shape as report"; the General Office's finance reviews statements too
        "submit": ("director", director),
        "resubmit": ("director", director),
        "accept": ("clerk, finance or supervising leader", any_of(CLERK_OR_LEADER, role("finance"))),
        "request_revision": ("clerk, finance or supervising leader", any_of(CLERK_OR_LEADER, role("finance"))),
        "assess": ("clerk, finance or supervising leader", any_of(CLERK_OR_LEADER, role("finance"))),
    },
    "annual_audit": {  # audited by the General Office; an auditor of the audited office is not independent
        "start": ("an auditor not working in the audited office", independent_auditor),
        "submit_report": ("an auditor not working in the audited office", independent_auditor),
        "close": ("that auditor or the supervising leader", any_of(independent_auditor, role("supervising_leader"))),
    },
    "info_quota": {
        "add_item": ("the office's people", office_member),
        "accept_item": ("clerk or supervising leader (the General Office)", CLERK_OR_LEADER),
        "met": (DAEMON, NOBODY),
        "short": (DAEMON, NOBODY),
    },
    "investment": {
        "add": ("the office's people", office_member),
        "met": (DAEMON, NOBODY),
        "missed": (DAEMON, NOBODY),
    },
}


# -- firing on a database that is put back after every write -------------------------------------------
def snapshot(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (WAL included), through the backup API."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


class Bench:
    """An App on a working copy of the pristine database; `restore` puts the pristine file back."""

    def __init__(self, pristine: Path, work: Path, at: datetime, outbox: Path) -> None:
        self.pristine, self.work = pristine, work
        snapshot(pristine, work)
        settings = load_settings({"database_url": f"sqlite:///{work}", "outbox_dir": outbox}, env={},
                                 cwd=work.parent)
        self.app = App(settings, clock=FixedClock(at))
        self.observer = sqlite3.connect(work)
        self.version = self._data_version()

    def _data_version(self) -> int:
        return int(self.observer.execute("PRAGMA data_version").fetchone()[0])

    def wrote(self) -> bool:
        """Whether anything was committed since the last look (by the App's connection)."""
        version = self._data_version()
        changed, self.version = version != self.version, version
        return changed

    def restore(self) -> None:
        snapshot(self.pristine, self.work)
        self.version = self._data_version()

    def close(self) -> None:
        self.observer.close()
        self.app.close()


@contextmanager
def bench_for(make_app: Callable[..., App], url: str, tmp_path: Path, org: str,
              build: Callable[[App, str], list[Probe]]) -> Iterator[tuple[Bench, list[Probe]]]:
    org_file = tmp_path / "org.toml"
    org_file.write_text(ORGS[org], encoding="utf-8")
    base = make_app(url, at=local(2027, 1, 4, 9, 0), org=org_file)
    probes = build(base, org)
    if org == "delegated":  # from today for 60 days: in force while the bench fires
        today = base.clock.now().date()
        for acting, absent in DELEGATES.items():
            base.delegations.add(absent, absent, acting, today, today + timedelta(days=60))
    for p in probes:
        assert base.case_view(p.case_id)["state"] == p.state, p.label
    pristine = tmp_path / "pristine.db"
    snapshot(Path(url.removeprefix("sqlite:///")), pristine)
    bench = Bench(pristine, tmp_path / "work.db", now_of(base), tmp_path / "outbox")
    try:
        yield bench, probes
    finally:
        bench.close()


def fire(bench: Bench, probe: Probe, trigger: str, person: str) -> tuple[Exception | None, bool]:
    """Fire the trigger; return the refusal (None when done) and whether the database was written."""
    try:
        bench.app.service.advance(probe.case_id, trigger, person, comment="意见",
                                  options=probe.options.get(trigger))
        outcome: Exception | None = None
    except Exception as exc:  # a crash is reported with the rest, not raised
        outcome = exc
    wrote = bench.wrote()
    if wrote:
        bench.restore()
    return outcome, wrote


def kind_of(outcome: BaseException | None) -> str:
    if outcome is None:
        return "done"
    if isinstance(outcome, NotPermitted):
        return "not permitted"
    if isinstance(outcome, RuleViolation):
        return "rule"
    if isinstance(outcome, BadInput):
        return "bad input"
    return f"crash {type(outcome).__name__}"


# -- tests -------------------------------------------------------------------------------------------------
def test_the_table_names_every_trigger_of_every_process_and_its_system_triggers() -> None:
    """WHO covers every registered process and trigger; a trigger is the daemon's exactly when the table says so."""
    assert sorted(WHO) == registry.names() == sorted(BUILDERS)
    for name in registry.names():
        definition = registry.latest(name)
        assert sorted(WHO[name]) == sorted(definition.triggers), name
        for t in definition.transitions:
            assert t.system == (WHO[name][t.trigger][0] == DAEMON), f"{name}.{t.trigger}"


# The refusal the subject of a case gets, whatever other role they hold: R-2.4 (nobody approves their own
# leave) and R-4.3 (the audited person neither audits nor closes their own audit).
SUBJECT_BLOCKS = {
    ("leave", "approve"): "R-2.4", ("leave", "reject"): "R-2.4",
    **{("departure_audit", t): "R-4.3" for t in ("issue_notice", "start_fieldwork", "deliver_draft", "issue_final",
                                                 "close", "add_finding", "rectify_finding", "waive_finding")},
}

def through_delegation(process: str, trigger: str, org: dict[str, Person]) -> tuple[str, Who]:
    """WHO's answer, or the absent person's when the person acts for them — never on their own case where
    the subject is blocked (R-2.4, R-4.3; an off-site record is never cancelled by its person)."""
    doc, who = WHO[process][trigger]
    blocked = (process, trigger) in SUBJECT_BLOCKS or (process, trigger) == ("off_site", "cancel")

    def lent(p: Person, c: Probe) -> bool:
        absent = org.get(DELEGATES.get(p.id, ""))
        return who(p, c) or (absent is not None and who(absent, c) and not (blocked and p.id == c.subject))

    return f"{doc}, or acting for them", lent


def judge(process: str, probe: Probe, person: Person, spec: Transition, info: TriggerInfo,
          outcome: Exception | None, wrote: bool, expect: tuple[str, Who] | None = None) -> list[str]:
    """What is wrong with one attempt: permission against WHO (or `expect`), the subject blocks, writes, and
    `triggers`."""
    problems = []
    doc, who = expect or WHO[process][spec.trigger]
    expected, kind = who(person, probe), kind_of(outcome)
    permitted = not isinstance(outcome, NotPermitted)
    if kind.startswith("crash"):
        problems.append(f"{kind}: {outcome}")
    elif permitted != expected:
        broken = " — R-2.4/R-4.3 broken" if person.id == probe.subject and not expected else ""
        problems.append(f"expected {'allowed' if expected else 'NotPermitted'} ({doc}), got {kind}: {outcome}{broken}")
    block = SUBJECT_BLOCKS.get((process, spec.trigger))
    if block and person.id == probe.subject and not (isinstance(outcome, NotPermitted) and outcome.rule_id == block):
        problems.append(f"the subject must be refused by {block}, got {kind}: {outcome}")
    if wrote and outcome is not None and not isinstance(outcome, GuardRefusal):
        problems.append(f"refused ({kind}) but wrote to the database")
    if outcome is None and not wrote:  # every step records history; unseen, the next attempt is not afresh
        problems.append("done but nothing was written")
    # `case triggers` agrees with `advance` on permission
    if info.allowed and not permitted:
        problems.append(f"`triggers` offers it but advance says {outcome}")
    if isinstance(outcome, NotPermitted) and not spec.system:
        said = f"{outcome.rule_id}: {outcome.reason.split(': ', 1)[1]}"
        if info.allowed or info.reason != said:
            problems.append(f"advance refuses ({said}) but `triggers` says {info.allowed}, {info.reason!r}")
    if permitted and not info.allowed and str(info.reason).split(":", 1)[0] not in {g.rule_id for g in spec.guards}:
        problems.append(f"advance permits it ({kind}) but `triggers` refuses it on permission: {info.reason!r}")
    return problems


PARAMS = [pytest.param(org, process, id=f"{process}-{org}") for org in ORGS for process in sorted(BUILDERS)]


@pytest.mark.slow
@pytest.mark.parametrize(("org", "process"), PARAMS)
def test_exactly_the_people_the_table_names_may_fire_each_trigger(
    org: str, process: str, make_app: Callable[..., App], sqlite_url: str, tmp_path: Path
) -> None:
    """Each state × trigger × person: advance refuses with NotPermitted exactly when WHO says no; triggers agrees."""
    definition = registry.latest(process)
    failures: list[str] = []
    counts: Counter[str] = Counter()
    with bench_for(make_app, sqlite_url, tmp_path, org, BUILDERS[process]) as (bench, probes):
        with bench.app.store.transaction(write=False) as tx:
            people = sorted((p for p in tx.org().people.values() if p.active), key=lambda p: p.id)
        assert {p.state for p in probes} == set(definition.states), "a state has no case"
        for probe in probes:
            assert probe.subject is None or probe.subject in {p.id for p in people}
            assert probe.office is None or any(p.office not in (None, probe.office) for p in people)
            for person in people:
                offered = {i.trigger: i for i in bench.app.service.triggers(probe.case_id, person.id)}
                for trigger in definition.triggers:
                    info = offered[trigger]
                    spec = definition.transition(trigger, probe.state)
                    where = f"{process} {probe.label} ({probe.state}) {trigger} --as {person.id}"
                    if spec is None:  # not possible in this state: no permission question, nobody is offered it
                        if info.allowed:
                            failures.append(f"{where}: `triggers` offers a trigger the state does not allow")
                        continue
                    outcome, wrote = fire(bench, probe, trigger, person.id)
                    counts[kind_of(outcome)] += 1
                    expect = (through_delegation(process, trigger, {p.id: p for p in people})
                              if org == "delegated" else None)
                    failures += [f"{where}: {problem}" for problem in
                                 judge(process, probe, person, spec, info, outcome, wrote, expect)]
    assert counts["not permitted"] and counts["done"], counts
    assert not failures, f"{len(failures)} problem(s) ({dict(counts)}):\n" + "\n".join(failures)
