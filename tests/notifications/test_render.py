"""Templates: every event of every process has them in zh and en; what every message must say (R-7.3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jinja2
import pytest

from notifications import render as render_mod
from notifications.delivery import ActionFilter, prepare
from notifications.render import (
    REQUIRED_TEXTS,
    TemplateProblem,
    check_template,
    render,
    validate_templates,
)
from outpost.app import App
from tests.conftest import local
from workflow import registry
from workflow.model import Mail, Office, Org, Person


def synthetic(event: str, lang: str = "zh", **params: Any) -> Mail:
    base: dict[str, Any] = {"case": 7, "process": event.split(".")[0], "office": "BJ", "state": "open",
                            "subject": "zhao", "period": None, "rule": "R-9.9",
                            "event_at": "2027-01-04T01:00:00+00:00", "actions": []}
    base.update(params)
    return Mail(case_id=7, event=event, dedupe_key=f"case7:{event}:x:wang", message_id="<abc@gov.example.org>",
                recipients=[{"person": "wang", "name": "王建国", "email": "wang@bj.example.org"}], params=base,
                lang=lang, created_at=datetime(2027, 1, 4, 1, 0, tzinfo=UTC),
                next_attempt_at=datetime(2027, 1, 4, 1, 0, tzinfo=UTC))


ORG = Org(offices={"BJ": Office("BJ", "邢台市人民政府驻北京联络处", "北京")},
          people={"zhao": Person("zhao", "赵丽", "zhao@bj.example.org", "BJ", frozenset({"staff"})),
                  "wang": Person("wang", "王建国", "wang@bj.example.org", "BJ", frozenset({"director"}))})


PERIODS = {"report": "2027-H1", "fin_statement": "2027-Q3", "annual_audit": "2027-Y", "info_quota": "2027-05",
           "investment": "2027-Y"}
# Every event-specific value the machines pass (see each machine's `notify` calls).
EXTRAS = {"item": 12, "logged": 3, "accepted": 2, "quota": 4, "waiting": 1, "quarter": 2, "total": 12_000_000,
          "target": 30_000_000, "category": "asset_purchase", "kind": "request", "event_date": "2027-03-10",
          "late": False, "start": "2027-03-01", "end": "2027-03-03", "days": 3, "total_days": 8, "extends": 5,
          "amount": "5000000", "due_date": "2027-06-25", "submitted_on": "2027-06-26"}


@pytest.mark.parametrize("process", registry.names())
def test_every_event_of_every_process_has_templates_in_both_languages(process: str) -> None:
    """Each registered definition's mail events have zh and en templates that render a subject, the
    rule, the case and a command, with and without a due date."""
    events = registry.latest(process).all_events
    validate_templates(events)
    for event in events:
        for lang in ("zh", "en"):
            for due in ({}, {"due_at": "2027-06-25T15:59:59+00:00"}):
                mail = synthetic(event, lang, period=PERIODS.get(process), actions=["submit"], **EXTRAS, **due)
                rendered = render(mail, ORG)
                assert rendered.subject.startswith("[Outpost] ") and "7" in rendered.subject
                assert "outpost case advance 7 submit --as wang" in rendered.text
                assert "R-9.9" in rendered.text
                # due 25 June, by the end of that day (issue 17: "6月25日（星期五）下班前")
                assert ("6月25日（星期五）下班前" in rendered.text or "by end of day, Fri 25 June" in rendered.text) \
                    == bool(due)


def test_all_registered_templates_validate_at_start() -> None:
    """`validate_templates()` with no arguments checks every registered event, and passes."""
    validate_templates()


def test_templates_are_parsed_once_per_process_and_rendering_uses_the_validated_ones(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A validated set is not parsed again (the daemon's start and each delivery pass share one check),
    and rendering compiles nothing: it uses the templates validation compiled."""
    base = render_mod.environment()
    env = base.overlay()  # a fresh environment: nothing validated or compiled for it yet
    monkeypatch.setattr(render_mod, "environment", lambda: env)
    parsed: list[str | None] = []
    real_parse = env.parse

    def counting_parse(source: str, name: str | None = None, filename: str | None = None) -> Any:
        parsed.append(name)
        return real_parse(source, name, filename)

    monkeypatch.setattr(env, "parse", counting_parse)
    validate_templates(["leave.requested"])
    assert sorted(parsed) == sorted(["zh/_subject.txt", "zh/_layout.txt", "zh/_layout.html", "zh/leave.requested.j2",
                                     "en/_subject.txt", "en/_layout.txt", "en/_layout.html", "en/leave.requested.j2"])
    validate_templates(["leave.requested"])
    assert len(parsed) == 8
    compiled: list[str | None] = []
    real_compile = env.compile

    def counting_compile(source: Any, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
        compiled.append(name)
        return real_compile(source, name, *args, **kwargs)

    monkeypatch.setattr(env, "compile", counting_compile)
    assert render(synthetic("leave.requested", actions=["approve"]), ORG).subject.startswith("[Outpost] ")
    assert compiled == []
    with pytest.raises(TemplateProblem):
        validate_templates(["leave.no_such_event"])  # a failing set is checked (and fails) every time
    with pytest.raises(TemplateProblem):
        validate_templates(["leave.no_such_event"])


def test_a_missing_template_is_an_error_naming_it() -> None:
    """An event without templates is reported by file, in both languages, before any mail is sent."""
    with pytest.raises(TemplateProblem) as problem:
        validate_templates(["leave.no_such_event"])
    assert problem.value.problems == ["missing zh/leave.no_such_event.j2", "missing en/leave.no_such_event.j2"]
    assert problem.value.exit_code == 1


def test_unknown_variables_and_missing_texts_are_errors() -> None:
    """A template that names an unknown variable, or does not set `title`/`what`, fails validation."""
    env = jinja2.Environment(loader=jinja2.DictLoader({
        "typo.j2": "{% set title %}{{ subjekt_name }}{% endset %}{% set what %}x{% endset %}",
        "half.j2": "{% set title %}t{% endset %}",
        "broken.j2": "{% set title %}{{ oops {% endset %}",
        "good.j2": "{% set title %}{{ subject_name }}{% endset %}{% set what %}{{ params.x }}{% endset %}",
    }))
    assert check_template(env, "typo.j2", REQUIRED_TEXTS) == ["typo.j2: unknown variable subjekt_name"]
    assert check_template(env, "half.j2", REQUIRED_TEXTS) == ["half.j2: does not set 'what'"]
    assert check_template(env, "broken.j2", REQUIRED_TEXTS)[0].startswith("broken.j2 line 1:")
    assert check_template(env, "good.j2", REQUIRED_TEXTS) == []


def test_a_missing_value_is_an_error_never_a_blank_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """StrictUndefined: an event-specific value absent from the row makes rendering fail, loudly."""
    base = render_mod.environment()
    env = base.overlay(loader=jinja2.ChoiceLoader([
        jinja2.DictLoader({"zh/test.extra.j2":
                           "{% set title %}t{% endset %}{% set what %}{{ params.amount }}{% endset %}"}),
        base.loader,  # type: ignore[list-item]
    ]))
    monkeypatch.setattr(render_mod, "environment", lambda: env)
    assert "12 万元" in render(synthetic("test.extra", amount="12 万元")).text
    with pytest.raises(TemplateProblem, match="amount"):
        render(synthetic("test.extra"))


def test_a_message_says_what_when_rule_case_and_the_commands() -> None:
    """Title, due date with weekday (local), rule, case, and one `case advance` per action, in zh and en."""
    mail = synthetic("leave.reminder", actions=["approve", "reject"], rule="R-2.8",
                     due_at="2027-02-28T16:00:00+00:00")
    zh = render(mail, ORG)
    # due 1 March 00:00 = by the end of 28 February; the reminder says so, and how long is left (issue 17)
    assert zh.subject == "[Outpost] 提醒：请假申请仍待您审批：赵丽（还有55天，案件 7）"
    for line in ("办理期限：2月28日（星期日）下班前（还有55天）", "依据条款：R-2.8",
                 "案件编号：7（离岗请假，邢台市人民政府驻北京联络处）",
                 "outpost case advance 7 approve --as wang", "outpost case advance 7 reject --as wang",
                 "outpost case show 7"):
        assert line in zh.text
    for part in ("2月28日（星期日）下班前", "R-2.8", "7（离岗请假，邢台市人民政府驻北京联络处）",
                 "outpost case advance 7 approve --as wang", "outpost case show 7"):
        assert part in zh.html
    en = render(mail, ORG, lang="en")
    assert en.subject == "[Outpost] Reminder: leave request still awaiting your decision: 赵丽 (55 days left, case 7)"
    assert "Due: by end of day, Sun 28 February (55 days left)" in en.text
    assert "Rule: R-2.8" in en.text


def test_without_actions_the_command_is_case_show() -> None:
    """An informational mail (approved) points at `outpost case show`, not at a trigger."""
    rendered = render(synthetic("leave.approved"), ORG)
    assert rendered.commands == ("outpost case show 7",)
    assert "outpost case advance" not in rendered.text


def test_report_periods_are_named_and_the_annual_plan_is_asked_for() -> None:
    """H1 and Y reports are named in words; a Y mail that invites `submit` says to add --plan."""
    h1 = render(synthetic("report.reminder", period="2027-H1", actions=["submit"], subject=None), ORG)
    assert "2027年上半年工作报告" in h1.subject and "--plan" not in h1.text
    y = render(synthetic("report.overdue", period="2027-Y", actions=["submit"], subject=None), ORG)
    assert "2027年度工作报告及2028年工作计划" in y.subject and "--plan" in y.text
    y_en = render(synthetic("report.opened", "en", period="2027-Y", actions=["submit"], subject=None), ORG)
    assert "annual work report 2027 with the 2028 work plan" in y_en.subject


# -- through the engine ------------------------------------------------------------------------------------
def test_R7_3_mail_never_carries_the_leave_reason(make_app: Callable[..., App], sqlite_url: str) -> None:
    """The reason given for a leave is in the case, never in any mail about it (R-7.3)."""
    app = make_app(sqlite_url)
    secret = "住院复查-机密-XYZZY"
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02", "reason": secret}).id
    assert app.case_view(case)["data"]["reason"] == secret
    app.ticker.tick(local(2027, 3, 1, 0, 0))  # reminder, escalation, undecided at start
    mails = app.store.mails(case_id=case)
    assert {m.event for m in mails} >= {"leave.requested", "leave.reminder", "leave.escalated",
                                        "leave.undecided_at_start"}
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    for m in mails:
        for lang in ("zh", "en"):
            r = render(m, org, lang=lang)
            assert secret not in r.subject + r.text + r.html
        assert secret not in str(m.params)


def test_commands_only_invite_what_the_recipient_may_do(make_app: Callable[..., App], sqlite_url: str) -> None:
    """On the start day the requester and the director's superior (the supervising leader) are told
    (R-2.8), but only people who may decide get `approve`/`reject` commands: never the requester (R-2.4)."""
    app = make_app(sqlite_url)
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    app.ticker.tick(local(2027, 3, 1, 0, 0))
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    allowed = ActionFilter(app)
    texts = {(m.event, m.recipients[0]["person"]): prepare(m, org, app.settings, allowed).rendered.text
             for m in app.store.mails(case_id=case)}
    assert set(texts) == {("leave.requested", "wang"), ("leave.reminder", "wang"), ("leave.escalated", "liu"),
                          ("leave.undecided_at_start", "zhao"), ("leave.undecided_at_start", "liu")}
    text = texts[("leave.undecided_at_start", "zhao")]
    assert "outpost case advance" not in text and f"outpost case show {case}" in text
    assert f"outpost case advance {case} approve --as liu" in texts[("leave.undecided_at_start", "liu")]
    assert f"outpost case advance {case} approve --as liu" in texts[("leave.escalated", "liu")]
    assert f"outpost case advance {case} reject --as wang" in texts[("leave.reminder", "wang")]


def test_a_step_that_needs_a_reason_is_offered_with_override(make_app: Callable[..., App], sqlite_url: str) -> None:
    """A request over the presence limit (R-2.5): the approver's mail shows `approve … --override REASON`,
    the command that works once the reason is filled in, and `reject` as it is."""
    app = make_app(sqlite_url)
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-07-31"}).id  # 153 days
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    [row] = [m for m in app.store.mails(case_id=case) if m.event == "leave.requested"]
    text = prepare(row, org, app.settings, ActionFilter(app)).rendered.text
    assert f"outpost case advance {case} approve --as wang --override REASON" in text
    assert f"outpost case advance {case} reject --as wang" in text and "reject --as wang --override" not in text
    app.service.advance(case, "approve", "wang", override="出国招商，经市长批准")  # the hinted command works
    assert app.case_view(case)["state"] == "approved"


def test_english_installations_send_english(make_app: Callable[..., App], sqlite_url: str) -> None:
    """`language = en` queues English mail."""
    app = make_app(sqlite_url, language="en")
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    [m] = app.store.mails(case_id=case)
    assert m.lang == "en"
    assert render(m).subject == f"[Outpost] Leave request awaiting your decision: zhao (case {case})"


def test_the_event_date_is_local(make_app: Callable[..., App], sqlite_url: str) -> None:
    """An event at 2027-01-04 23:30 local (15:30 UTC) is dated 2027-01-04, a Monday."""
    app = make_app(sqlite_url, at=local(2027, 1, 4, 23, 30))
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    [m] = app.store.mails(case_id=case)
    assert "发生时间：2027-01-04（星期一）23:30" in render(m).text
    assert date(2027, 1, 4).weekday() == 0


@pytest.mark.slow
def test_every_mail_a_year_of_the_engine_queues_renders_in_both_languages(
        make_app: Callable[..., App], sqlite_url: str) -> None:
    """A year of every process (periodic cases, a leave, a matter, a departure audit): each queued mail
    renders and builds in zh and en, and none carries a matter's title or a leave's reason (R-7.3)."""
    from notifications.delivery import prepare

    app = make_app(sqlite_url)
    secrets = ["购置办公楼-机密-PLUGH", "探亲-机密-XYZZY"]
    app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02", "reason": secrets[1]})
    if registry.has("matter"):
        app.service.open("matter", "wang", {"category": "asset_purchase", "kind": "request",
                                            "title": secrets[0], "event_date": "2027-04-01", "amount": "5000000"})
    if registry.has("departure_audit"):
        app.service.open("departure_audit", "wu", {"subject": "li"})
    at = local(2027, 1, 4, 12, 0)
    while at < local(2028, 1, 3):
        at += timedelta(days=7)
        app.ticker.tick(at)
    mails = app.store.mails()
    with app.store.transaction(write=False) as tx:
        org = tx.org()
    events = {m.event for m in mails}
    assert {"leave.requested", "report.opened", "report.reminder", "report.overdue"} <= events
    built: set[tuple[str, str]] = set()
    for m in mails:
        for lang in ("zh", "en"):
            r = render(m, org, lang=lang)
            assert not any(s in r.subject + r.text + r.html for s in secrets), m.event
            if m.to and (m.event, lang) not in built:  # the full message once per event and language
                built.add((m.event, lang))
                out = prepare(m, org, app.settings, lang=lang)
                assert out.data and out.message["Message-ID"] and out.to == m.to
