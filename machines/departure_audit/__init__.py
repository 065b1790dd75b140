"""`departure_audit` — 离任审计 (REGULATION.md R-4).

Opened for a leading cadre (director or deputy director) of an office when `org load` changes or removes
them (R-4.1, with no actor), or by the organisation department. The stages of R-4.2 follow one another:
notice → materials → fieldwork → draft report → written feedback (or no objection, fired by the daemon when
the feedback is not in by its due date, R-4.5) → final report → rectification of open findings → closed.
Findings are case items, added and rectified by the auditor or waived by the supervising leader with a
reason; the audit cannot close while one is open (R-4.4). The audited person neither audits nor closes
their own audit (R-4.3). The incoming leader's asset handover is recorded against the case (R-4.6).
Due dates, reminders and escalations come from the policy file (R-4.5).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from machines._common import data_date, end_of_workday_after, n_days, param_date, people, show
from machines._common import office_directors as office_director
from workflow import registry
from workflow.context import Ctx
from workflow.definition import DeadlineSpec, Guard, Notice, OpenPlan, Option, ProcessDefinition, Refusal, Transition
from workflow.errors import BadInput, NotFound, NotPermitted, RuleViolation
from workflow.model import LEADING_CADRE_ROLES, Item, Person
from workflow.timeutil import LOCAL_TZ, end_of_day, local_midnight

HOME = Path(__file__).parent  # templates/ and policy.toml of this process

PROCESS = "departure_audit"
REMIND_AT = time(9, 0)  # reminders go out at 09:00 local
MAX_TEXT = 2000
FINDING = "finding"
HANDOVER = "handover"

# States in which findings are made (from fieldwork until the final report), and in which they are settled.
FINDING_STATES = ("fieldwork", "draft_reported", "feedback_received")
SETTLE_STATES = (*FINDING_STATES, "final_reported", "rectifying")
OPEN_STATES = ("opened", "notified", "materials_submitted", *SETTLE_STATES)


# -- people --------------------------------------------------------------------------------------------
def audited(ctx: Ctx) -> list[Person]:
    subject = ctx.require_case().subject
    p = ctx.org.person(subject) if subject else None
    return [p] if p is not None and p.active else []


def auditors(ctx: Ctx) -> list[Person]:
    return people(ctx, "auditor", exclude=ctx.require_case().subject)


def leaders(ctx: Ctx) -> list[Person]:
    return people(ctx, "supervising_leader", exclude=ctx.require_case().subject)


def the_office(ctx: Ctx) -> list[Person]:
    """Who answers for the office during the audit: its director and the audited person."""
    return office_director(ctx) + audited(ctx)


def auditors_and_leaders(ctx: Ctx) -> list[Person]:
    return auditors(ctx) + leaders(ctx)


def everyone(ctx: Ctx) -> list[Person]:
    return audited(ctx) + office_director(ctx) + auditors(ctx) + people(ctx, "org_dept")


# -- who -----------------------------------------------------------------------------------------------
def _actor(ctx: Ctx) -> Person:
    assert ctx.actor is not None
    return ctx.actor


def _is_audited(ctx: Ctx) -> bool:
    return _actor(ctx).id == ctx.require_case().subject


def _audited_hand(ctx: Ctx) -> bool:
    """The audited person fires the step, as themselves or acting for someone by a delegation (R-4.3)."""
    return ctx.require_case().subject in ctx.actors


def auditor(ctx: Ctx) -> Refusal | None:
    if _audited_hand(ctx):
        return ("R-4.3", "the audited person may not act as auditor on their own audit")
    if _actor(ctx).has("auditor"):
        return None
    return ("R-4.2", "this stage of the audit is done by an auditor")


def auditor_or_leader(ctx: Ctx) -> Refusal | None:
    if _audited_hand(ctx):
        return ("R-4.3", "the audited person may not close their own audit")
    actor = _actor(ctx)
    if actor.has("auditor") or actor.has("supervising_leader"):
        return None
    return ("R-4.2", "an audit is closed by an auditor or the supervising leader")


def supervising_leader(ctx: Ctx) -> Refusal | None:
    if _audited_hand(ctx):
        return ("R-4.3", "the audited person may not waive findings of their own audit")
    if _actor(ctx).has("supervising_leader"):
        return None
    return ("R-4.4", "a finding is waived only by the supervising leader")


def office_director_or_audited(ctx: Ctx) -> Refusal | None:
    actor = _actor(ctx)
    if _is_audited(ctx) or (actor.has("director") and actor.office == ctx.require_case().office):
        return None
    return ("R-4.2", f"the materials are submitted by the director of {ctx.require_case().office} "
                     "or the audited person")


def audited_person(ctx: Ctx) -> Refusal | None:
    if _is_audited(ctx):
        return None
    return ("R-4.2", f"the written feedback is given by the audited person ({ctx.require_case().subject})")


def handover_party(ctx: Ctx) -> Refusal | None:
    """R-4.6: the outgoing leader, a leading cadre of the office (the incoming leader) or an auditor."""
    actor = _actor(ctx)
    if _is_audited(ctx) or actor.has("auditor"):
        return None
    if actor.office == ctx.require_case().office and actor.roles & LEADING_CADRE_ROLES and actor.active:
        return None
    return ("R-4.6", "the handover is recorded by the outgoing or incoming leader of the office, or an auditor")


# -- findings ------------------------------------------------------------------------------------------
def open_findings(ctx: Ctx) -> list[Item]:
    return [i for i in ctx.tx.items(ctx.require_case().id, FINDING) if i.status == "open"]


def _finding(ctx: Ctx) -> Item | None:
    """The finding named by --finding ID on this case; None when the option is not given."""
    raw = ctx.params.get("finding")
    if raw is None:
        return None
    try:
        item_id = int(str(raw).strip())
    except ValueError:
        raise BadInput(f"--finding: expected a finding id (a number), got {str(raw)[:30]!r}") from None
    if not 0 < item_id < 2**31:
        raise NotFound("finding", item_id)
    item = ctx.tx.get_item(item_id)
    if item is None or item.case_id != ctx.require_case().id or item.kind != FINDING:
        raise NotFound(f"finding on case {ctx.require_case().id}", item_id)
    return item


def finding_is_open(ctx: Ctx) -> str | None:
    item = _finding(ctx)
    if item is not None and item.status != "open":
        return f"finding {item.id} is already {item.status}"
    return None


def no_open_finding(ctx: Ctx) -> str | None:
    found = open_findings(ctx)
    if not found:
        return None
    ids = ", ".join(str(i.id) for i in found)
    return (f"{len(found)} finding(s) still open ({ids}): each is rectified, or waived by the supervising "
            "leader with a reason, before the audit closes")


def _required(ctx: Ctx, value: Any, what: str) -> str:
    """A text the trigger cannot do without (bad input when missing, not a rule)."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise BadInput(f"{ctx.trigger}: give {what}")
    if len(text) > MAX_TEXT:
        raise BadInput(f"{what}: longer than {MAX_TEXT} characters")
    return text


def add_finding(ctx: Ctx) -> None:
    text = _required(ctx, ctx.params.get("finding"), "the finding with --finding TEXT")
    actor = _actor(ctx)
    item = Item(case_id=ctx.require_case().id, kind=FINDING, status="open",
                data={"text": text, "added_by": actor.id, "added_in": ctx.require_case().state},
                created_at=ctx.now, created_by=actor.id, updated_at=ctx.now)
    ctx.details.update(finding=ctx.tx.add_item(item), text=text, rule="R-4.4")


def _settle(ctx: Ctx, status: str, extra: dict[str, Any]) -> None:
    item = _finding(ctx)
    if item is None:
        raise BadInput(f"{ctx.trigger}: give the finding with --finding ID")
    actor = _actor(ctx)
    item.status = status
    item.data = {**item.data, **extra, f"{status}_by": actor.id, f"{status}_at": ctx.now.isoformat()}
    item.updated_at = ctx.now
    ctx.tx.update_item(item)
    ctx.details.update(finding=item.id, status=status, rule="R-4.4", **extra)


def rectify_finding(ctx: Ctx) -> None:
    _settle(ctx, "rectified", {})


def waive_finding(ctx: Ctx) -> None:
    reason = str(ctx.params.get("reason") or "").strip()
    if not reason:
        raise RuleViolation("R-4.4", "a finding is waived explicitly, with the reason: give --reason TEXT")
    if len(reason) > MAX_TEXT:
        raise BadInput(f"--reason: longer than {MAX_TEXT} characters")
    _settle(ctx, "waived", {"reason": reason})


def record_handover(ctx: Ctx) -> None:
    """R-4.6: what was handed over, when, from the outgoing to the incoming leader."""
    case, actor = ctx.require_case(), _actor(ctx)
    assets = _required(ctx, ctx.params.get("assets"), "what was handed over with --assets TEXT")
    day = param_date(ctx, "date", required=False) or ctx.today
    if day > ctx.today:
        raise RuleViolation("R-4.6", f"the handover date {day} is in the future; record it when it happens")
    incoming = [p.id for p in office_director(ctx) if p.id != case.subject]
    data = {"assets": assets, "date": day.isoformat(), "from": case.subject,
            "to": incoming[0] if incoming else None, "recorded_by": actor.id}
    item_id = ctx.tx.add_item(Item(case_id=case.id, kind=HANDOVER, status="recorded", data=data,
                                   created_at=ctx.now, created_by=actor.id, updated_at=ctx.now))
    ctx.details.update(handover=item_id, rule="R-4.6", **data)


# -- stage effects -------------------------------------------------------------------------------------
def _remind_days(ctx: Ctx) -> list[int]:
    return sorted(set(ctx.policy.ints("departure_audit.remind_days_before")), reverse=True)


def notice_due(ctx: Ctx) -> tuple[datetime, date, str]:
    """The auditor issues the audit notice within the policy's working days of the opening (R-4.2, R-4.5):
    an audit opened automatically must not wait on nobody."""
    n = ctx.policy.int("departure_audit.notice_due_workdays")
    opened = ctx.require_case().opened_at.astimezone(LOCAL_TZ).date()
    due, day, note = end_of_workday_after(ctx, opened, n)
    return due, day, f"audit notice due {day} = {n_days(n, 'working')} after the opening on {opened} (R-4.5){note}"


def materials_due(ctx: Ctx) -> tuple[datetime, date, str]:
    n = ctx.policy.int("departure_audit.materials_due_workdays")
    notice = data_date(ctx.data, "notice_on")
    due, day, note = end_of_workday_after(ctx, notice, n)
    return due, day, f"materials due {day} = {n_days(n, 'working')} after the notice of {notice} (R-4.5){note}"


def feedback_due(ctx: Ctx) -> tuple[datetime, date, str]:
    n = ctx.policy.int("departure_audit.feedback_due_days")
    draft = data_date(ctx.data, "draft_on")
    day = draft + timedelta(days=n)
    return end_of_day(day), day, f"written feedback due {day} = {n_days(n)} after the draft report of {draft} (R-4.5)"


def rectification_due(ctx: Ctx) -> tuple[datetime, date, str]:
    n = ctx.policy.int("departure_audit.rectification_due_days")
    final = data_date(ctx.data, "final_on")
    day = final + timedelta(days=n)
    return (end_of_day(day), day,
            f"rectification report due {day} = {n_days(n)} after the final report of {final} (R-4.5)")


def issue_notice(ctx: Ctx) -> None:
    ctx.data["notice_on"] = ctx.today.isoformat()
    due, day, why = materials_due(ctx)
    ctx.data["materials_due"] = day.isoformat()
    ctx.details.update(due=day.isoformat(), why=why)
    ctx.notify("departure_audit.notice_issued", the_office(ctx), "R-4.2", actions=("submit_materials",),
               due_at=due)


def submit_materials(ctx: Ctx) -> None:
    due, _day, _why = materials_due(ctx)
    ctx.data["materials_on"] = ctx.today.isoformat()
    ctx.data["materials_late"] = ctx.now > due
    ctx.details["late"] = ctx.data["materials_late"]


def deliver_draft(ctx: Ctx) -> None:
    ctx.data["draft_on"] = ctx.today.isoformat()
    due, day, why = feedback_due(ctx)
    ctx.data["feedback_due"] = day.isoformat()
    ctx.details.update(due=day.isoformat(), why=why)
    ctx.notify("departure_audit.draft_delivered", audited(ctx), "R-4.2", actions=("give_feedback",), due_at=due)


def feedback_in_time(ctx: Ctx) -> str | None:
    due, day, _why = feedback_due(ctx)
    if ctx.now > due:
        return f"the written feedback was due by the end of {day}; no answer by then counts as no objection"
    return None


def give_feedback(ctx: Ctx) -> None:
    text = _required(ctx, ctx.comment, "the written feedback with --comment TEXT")
    ctx.data["feedback"] = "given"
    ctx.data["feedback_on"] = ctx.today.isoformat()
    ctx.details.update(feedback="given", chars=len(text))


def no_objection(ctx: Ctx) -> None:
    _due, day, _why = feedback_due(ctx)
    ctx.data["feedback"] = "no_objection"
    ctx.details.update(rule="R-4.5", feedback="no_objection",
                       why=f"no written feedback by the end of {day}: recorded as no objection")


def issue_final(ctx: Ctx) -> None:
    ctx.data["final_on"] = ctx.today.isoformat()
    found = open_findings(ctx)
    ctx.data["findings_open_at_final"] = len(found)
    ctx.details["open_findings"] = [i.id for i in found]


def begin_rectification(ctx: Ctx) -> None:
    due, day, why = rectification_due(ctx)
    ctx.data["rectification_due"] = day.isoformat()
    ctx.details.update(due=day.isoformat(), why=why, open_findings=[i.id for i in open_findings(ctx)])
    ctx.notify("departure_audit.rectification_started", office_director(ctx) + auditors(ctx), "R-4.4",
               due_at=due)


def record_close(ctx: Ctx) -> None:
    items = ctx.tx.items(ctx.require_case().id, FINDING)
    ctx.data["findings"] = {s: sum(1 for i in items if i.status == s) for s in ("rectified", "waived")}
    ctx.details["findings"] = ctx.data["findings"]


# -- deadlines -----------------------------------------------------------------------------------------
def _reminders(ctx: Ctx, day: date, why: str) -> list[tuple[datetime, str]]:
    out = []
    for n in _remind_days(ctx):
        at = datetime.combine(day - timedelta(days=n), REMIND_AT, tzinfo=LOCAL_TZ)
        if at > ctx.now:  # a reminder already past when the stage begins is not sent late
            out.append((at, f"{why}; reminder {show(at)} = {n} day(s) before"))
    return out


def _after(day: date, why: str, then: str) -> tuple[datetime, str]:
    at = local_midnight(day + timedelta(days=1))
    return at, f"{why}; {then} {show(at)}, the day after"


def reminders_before(stage: Callable[[Ctx], tuple[datetime, date, str]]) -> Callable[[Ctx], list[tuple[datetime, str]]]:
    """The reminders before a stage's due day (R-4.5, policy `remind_days_before`)."""
    def due(ctx: Ctx) -> list[tuple[datetime, str]]:
        _due, day, why = stage(ctx)
        return _reminders(ctx, day, why)

    return due


def day_after(stage: Callable[[Ctx], tuple[datetime, date, str]], then: str) -> Callable[[Ctx], tuple[datetime, str]]:
    """00:00 the day after a stage's due day: what happens when it has passed (escalation, no objection)."""
    def due(ctx: Ctx) -> tuple[datetime, str]:
        _due, day, why = stage(ctx)
        return _after(day, why, then)

    return due


ESCALATED = "escalated to the supervising leader"


def due_rectification_start(ctx: Ctx) -> tuple[datetime, str] | None:
    if not open_findings(ctx):
        return None  # nothing to rectify: the auditor closes the audit
    return ctx.now, "final report issued with open findings: rectification starts at once (R-4.2)"


def remind_notice(ctx: Ctx) -> None:
    due, _day, _why = notice_due(ctx)
    ctx.notify("departure_audit.notice_reminder", auditors(ctx), "R-4.5", actions=("issue_notice",), due_at=due)


def notice_overdue(ctx: Ctx) -> None:
    due, day, _why = notice_due(ctx)
    ctx.data["notice_overdue"] = True
    ctx.record("escalate", {"rule": "R-4.5", "to": "supervising_leader",
                            "why": f"the audit notice was due by the end of {day} and has not been issued"})
    ctx.notify("departure_audit.notice_overdue", auditors_and_leaders(ctx), "R-4.5", actions=("issue_notice",),
               due_at=due)


def remind_materials(ctx: Ctx) -> None:
    due, _day, _why = materials_due(ctx)
    ctx.notify("departure_audit.materials_reminder", the_office(ctx), "R-4.5", actions=("submit_materials",),
               due_at=due)


def materials_overdue(ctx: Ctx) -> None:
    due, day, _why = materials_due(ctx)
    ctx.data["materials_overdue"] = True
    ctx.record("escalate", {"rule": "R-4.5", "to": "supervising_leader",
                            "why": f"the materials were due by the end of {day} and have not been submitted"})
    ctx.notify("departure_audit.materials_overdue", auditors_and_leaders(ctx), "R-4.5", due_at=due)


def remind_feedback(ctx: Ctx) -> None:
    due, _day, _why = feedback_due(ctx)
    ctx.notify("departure_audit.feedback_reminder", audited(ctx), "R-4.5", actions=("give_feedback",),
               due_at=due)


def remind_rectification(ctx: Ctx) -> None:
    due, _day, _why = rectification_due(ctx)
    ctx.notify("departure_audit.rectification_reminder", office_director(ctx) + auditors(ctx), "R-4.5",
               due_at=due)


def rectification_overdue(ctx: Ctx) -> None:
    due, day, _why = rectification_due(ctx)
    ctx.data["rectification_overdue"] = True
    ctx.record("escalate", {"rule": "R-4.5", "to": "supervising_leader", "open_findings":
                            [i.id for i in open_findings(ctx)],
                            "why": f"the rectification was due by the end of {day}; findings are still open"})
    ctx.notify("departure_audit.rectification_overdue", auditors_and_leaders(ctx), "R-4.5", due_at=due)


# -- opening -------------------------------------------------------------------------------------------
def _roles(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return sorted(str(v) for v in value)


def open_audit(ctx: Ctx) -> OpenPlan:
    subject_id = str(ctx.params.get("subject") or "").strip()
    if not subject_id:
        raise BadInput("--subject PERSON is required: the leading cadre to audit")
    person = ctx.org.person(subject_id)
    data: dict[str, Any] = {}
    if ctx.actor is None:
        # `org load` found a cadre change. This runs inside the org-load transaction, so it refuses
        # nothing the organisation file has already validated.
        office = ctx.params.get("office") or (person.office if person else None)
        old, new = _roles(ctx.params.get("old_roles")), _roles(ctx.params.get("new_roles"))
        change = "removed" if person is None or not person.active else (
            f"moved to {person.office or 'the General Office'}" if person.office != office else
            f"roles now {', '.join(new) or 'none'}")
        data.update(opened_by="cadre_change", roles_before=old, roles_after=new)
        why = f"{subject_id} ({', '.join(old) or 'leading cadre'} of {office}) {change}"
    else:
        if not ctx.actor.has("org_dept"):
            raise NotPermitted("R-4.1", "a departure audit is opened by the organisation department "
                                        "(or automatically when `org load` changes a leading cadre)")
        if person is None or not person.active:
            raise NotFound("person", subject_id)
        cadre = sorted(person.roles & LEADING_CADRE_ROLES)
        if not cadre or person.office is None:
            raise RuleViolation("R-4.1", f"{subject_id} is not a director or deputy director of an office")
        office = person.office
        for other in registry.open_cases_of(ctx.tx, PROCESS, subject_id):
            if other.office == office:
                raise RuleViolation("R-4.1", f"{subject_id} already has an open departure audit for {office} "
                                             f"(case {other.id})")
        data.update(opened_by="org_dept", roles_before=cadre)
        why = f"{subject_id} ({', '.join(cadre)} of {office}), opened by {ctx.actor.id}"
    return OpenPlan(state="opened", office=str(office) if office else None, subject=subject_id, data=data,
                    details={"rule": "R-4.1", "why": why})


AUDITOR = "an auditor other than the audited person (R-4.2, R-4.3)"

DEFINITION = registry.register(ProcessDefinition(
    name=PROCESS,
    version=1,
    title="Departure audit (离任审计)",
    names={"zh": "离任审计", "en": "departure audit"},
    home=HOME,
    options=(
        Option("subject", "the audited leading cadre (R-4.1)", "person", required=True),
        Option("finding", "add_finding: the finding's text; rectify_finding/waive_finding: its id"),
        Option("reason", "waive_finding: why the finding is waived (R-4.4)"),
        Option("assets", "record_handover: what was handed over (R-4.6)"),
        Option("date", "record_handover: the day of the handover, YYYY-MM-DD", "date"),
    ),
    states=("opened", "notified", "materials_submitted", "fieldwork", "draft_reported", "feedback_received",
            "final_reported", "rectifying", "closed"),
    initial_states=("opened",),
    final_states=("closed",),
    opener=open_audit,
    open_options=frozenset({"subject", "office", "old_roles", "new_roles"}),
    open_notices=(Notice("departure_audit.opened", auditors, "R-4.1", actions=("issue_notice",)),),
    transitions=(
        Transition("issue_notice", ("opened",), "notified", auditor, AUDITOR, effects=(issue_notice,)),
        Transition("submit_materials", ("notified",), "materials_submitted", office_director_or_audited,
                   "the office's director or the audited person (R-4.2)", effects=(submit_materials,),
                   notices=(Notice("departure_audit.materials_submitted", auditors, "R-4.2",
                                   actions=("start_fieldwork",)),)),
        Transition("start_fieldwork", ("materials_submitted",), "fieldwork", auditor, AUDITOR),
        Transition("deliver_draft", ("fieldwork",), "draft_reported", auditor, AUDITOR, effects=(deliver_draft,)),
        Transition("give_feedback", ("draft_reported",), "feedback_received", audited_person,
                   "the audited person (R-4.2)", guards=(Guard("R-4.5", feedback_in_time),),
                   effects=(give_feedback,),
                   notices=(Notice("departure_audit.feedback_received", auditors, "R-4.2",
                                   actions=("issue_final",)),)),
        Transition("no_objection", ("draft_reported",), "feedback_received", None,
                   "the daemon, when the feedback is not in by its due date (R-4.5)", effects=(no_objection,),
                   notices=(Notice("departure_audit.no_objection", auditors_and_leaders, "R-4.5",
                                   actions=("issue_final",)),)),
        Transition("issue_final", ("feedback_received",), "final_reported", auditor, AUDITOR,
                   effects=(issue_final,),
                   notices=(Notice("departure_audit.final_issued", the_office, "R-4.2"),)),
        Transition("begin_rectification", ("final_reported",), "rectifying", None,
                   "the daemon, at once when the final report leaves findings open (R-4.2)",
                   effects=(begin_rectification,)),
        Transition("close", ("final_reported", "rectifying"), "closed", auditor_or_leader,
                   "an auditor or the supervising leader, never the audited person (R-4.3)",
                   guards=(Guard("R-4.4", no_open_finding),), effects=(record_close,),
                   notices=(Notice("departure_audit.closed", everyone, "R-4.2"),)),
        # Internal transitions: recorded in the history, the state and its deadlines kept.
        Transition("add_finding", FINDING_STATES, None, auditor, AUDITOR, options=frozenset({"finding"}),
                   effects=(add_finding,)),
        Transition("rectify_finding", SETTLE_STATES, None, auditor, AUDITOR, options=frozenset({"finding"}),
                   guards=(Guard("R-4.4", finding_is_open),), effects=(rectify_finding,)),
        Transition("waive_finding", SETTLE_STATES, None, supervising_leader,
                   "the supervising leader, with a reason, never the audited person (R-4.3, R-4.4)",
                   options=frozenset({"finding", "reason"}), guards=(Guard("R-4.4", finding_is_open),),
                   effects=(waive_finding,)),
        Transition("record_handover", OPEN_STATES, None, handover_party,
                   "the outgoing or incoming leader of the office, or an auditor (R-4.6)",
                   options=frozenset({"assets", "date"}), effects=(record_handover,)),
    ),
    deadlines=(
        DeadlineSpec("notice_reminder", "opened", "R-4.5", reminders_before(notice_due), "remind_notice",
                     skip_superseded=True, superseded_by=("notice_overdue",)),
        DeadlineSpec("notice_overdue", "opened", "R-4.5", day_after(notice_due, ESCALATED), "notice_overdue"),
        DeadlineSpec("materials_reminder", "notified", "R-4.5", reminders_before(materials_due), "remind_materials",
                     skip_superseded=True, superseded_by=("materials_overdue",)),
        DeadlineSpec("materials_overdue", "notified", "R-4.5", day_after(materials_due, ESCALATED),
                     "materials_overdue"),
        DeadlineSpec("feedback_reminder", "draft_reported", "R-4.5", reminders_before(feedback_due), "remind_feedback",
                     skip_superseded=True, superseded_by=("no_objection",)),
        DeadlineSpec("no_objection", "draft_reported", "R-4.5",
                     day_after(feedback_due, "no answer is recorded as no objection"), "trigger:no_objection"),
        DeadlineSpec("rectification_start", "final_reported", "R-4.2", due_rectification_start,
                     "trigger:begin_rectification"),
        DeadlineSpec("rectification_reminder", "rectifying", "R-4.5", reminders_before(rectification_due),
                     "remind_rectification", skip_superseded=True, superseded_by=("rectification_overdue",)),
        DeadlineSpec("rectification_overdue", "rectifying", "R-4.5", day_after(rectification_due, ESCALATED),
                     "rectification_overdue"),
    ),
    events=("departure_audit.notice_reminder", "departure_audit.notice_overdue",
            "departure_audit.notice_issued", "departure_audit.draft_delivered",
            "departure_audit.rectification_started", "departure_audit.materials_reminder",
            "departure_audit.materials_overdue", "departure_audit.feedback_reminder",
            "departure_audit.rectification_reminder", "departure_audit.rectification_overdue"),
    handlers={
        "remind_notice": remind_notice,
        "notice_overdue": notice_overdue,
        "remind_materials": remind_materials,
        "materials_overdue": materials_overdue,
        "remind_feedback": remind_feedback,
        "remind_rectification": remind_rectification,
        "rectification_overdue": rectification_overdue,
    },
))
