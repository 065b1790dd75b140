"""Issue 16, the words and numbers a person reads: local dates (R-0.4), who may act now, the tick's mail count,
exit codes 2 and 5, one amount parser, ordinals and names."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, update

from machines.investment import add_investment
from outpost.app import App
from store.tables import HistoryRow
from tests.conftest import dump, local, point_cli_at, run_cli, set_time
from tests.machines.test_leave import open_leave
from tests.machines.test_matter import open_matter
from workflow.amounts import parse_yuan
from workflow.errors import BadInput
from workflow.ports import CaseFilter
from workflow.wording import ordinal

history_t = HistoryRow.__table__  # type: ignore[attr-defined]


def cli(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """The real CLI on `app`'s database, its clock frozen at 10:00 on 4 January 2027 in Beijing."""
    from freezegun import freeze_time

    point_cli_at(monkeypatch, app.settings.database_url, tmp_path)

    def call(*argv: str) -> tuple[int, str, str]:
        with freeze_time("2027-01-04 02:00:00"):
            return run_cli(capsys, *argv)

    return call


# -- 12. every date a person reads is in Asia/Shanghai (R-0.4) -------------------------------------------------
def test_R0_4_case_list_and_case_show_show_local_dates(make_app: Callable[..., App], db_url: str,
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A matter opened at 03:08 on 5 January in Beijing (4 January in UTC) is listed as opened 2027-01-05, and
    `case show` (text and --json) prints its data.submitted_at at +08:00, not +00:00."""
    app = make_app(db_url, at=local(2027, 1, 5, 3, 8))
    case = open_matter(app, "wang", "other", "report")
    call = cli(app, monkeypatch, tmp_path, capsys)
    rc, out, _err = call("case", "list")
    assert rc == 0
    [row] = [line for line in out.splitlines() if f" {case} " in f" {line} " and "matter" in line]
    assert "2027-01-05" in row and "2027-01-04" not in row
    rc, out, _err = call("case", "show", str(case))
    assert rc == 0 and "submitted at: 2027-01-05T03:08:00+08:00" in out and "+00:00" not in out
    rc, out, _err = call("case", "show", str(case), "--json")
    assert rc == 0 and json.loads(out)["data"]["submitted_at"] == "2027-01-05T03:08:00+08:00"


# -- 13. `case triggers N` without --as: only what would be allowed now ----------------------------------------
def test_triggers_without_as_lists_only_what_the_rules_allow_now(app: App) -> None:
    """An unapproved request lists neither the clerk's acknowledge (R-3.2: reports only) nor the director's
    execute (R-3.3: only after approval); a leave that has started no longer lists the requester's withdraw
    (before the start only). Each person's list is what `triggers --as` allows."""
    matter = open_matter(app, "wang", "asset_purchase", "request", "2027-03-01")
    may = {m["person"]: m["triggers"] for m in app.service.may_act(matter)}
    assert "acknowledge" not in may.get("sun", []) and "execute" not in may.get("wang", [])
    assert "approve" in may["liu"]
    leave = open_leave(app, "zhao", date(2027, 1, 5), date(2027, 1, 6))
    app.service.advance(leave, "approve", "wang")
    assert "withdraw" in {m["person"]: m["triggers"] for m in app.service.may_act(leave)}["zhao"]
    set_time(app, local(2027, 1, 5, 10, 0))
    app.ticker.tick(local(2027, 1, 5, 10, 0))
    assert "withdraw" not in {m["person"]: m["triggers"] for m in app.service.may_act(leave)}.get("zhao", [])
    with app.store.transaction(write=False) as tx:
        people = [p.id for p in tx.org().people.values() if p.active]
    for case in (matter, leave):
        may = {m["person"]: m["triggers"] for m in app.service.may_act(case)}
        for person in people:
            assert {i.trigger for i in app.service.triggers(case, person) if i.allowed} == set(may.get(person, []))


def test_triggers_without_as_keeps_a_trigger_that_only_wants_its_option(app: App) -> None:
    """A step whose rule asks only for one of its options (assess --score N) is listed: it is open now, with it."""
    at = local(2027, 5, 26, 9, 0)
    set_time(app, at)
    app.ticker.tick(at)
    with app.store.transaction(write=False) as tx:
        report = tx.find_case("report", "BJ", "2027-H1")
    app.service.advance(report.id, "submit", "wang")
    app.service.advance(report.id, "accept", "sun")
    may = {m["person"]: m["triggers"] for m in app.service.may_act(report.id)}
    assert "assess" in may["sun"]


# -- 14. the tick's summary counts every mail it queued --------------------------------------------------------
def test_tick_summary_counts_the_opening_notices(app: App) -> None:
    """The tick that opens the work reports (R-5.4) counts their opening notices in `mail_queued`: the count is
    the rows the outbox gained."""
    at = local(2027, 5, 26, 9, 0)
    before = len(app.store.mails())
    set_time(app, at)
    report = app.ticker.tick(at)
    assert any(o["process"] == "report" for o in report.opened)
    added = len(app.store.mails()) - before
    assert added > 0 and report.mail_queued == added


def test_tick_dry_run_counts_the_opening_notices_too(app: App) -> None:
    """A dry run says the same count of mail as the real tick, opening notices included."""
    at = local(2027, 5, 26, 9, 0)
    set_time(app, at)
    dry = app.ticker.tick(at, dry_run=True)
    real = app.ticker.tick(at)
    assert real.mail_queued > 0 and dry.mail_queued == real.mail_queued


# -- 15. exit codes: malformed input 2, failed verification 5 ---------------------------------------------------
def test_R5_3_a_score_in_words_is_bad_input_and_records_nothing(app: App) -> None:
    """`assess --score 九十` (or ９０, or 150) is malformed input, exit 2, before any rule is asked; nothing is
    written."""
    at = local(2027, 5, 26, 9, 0)
    set_time(app, at)
    app.ticker.tick(at)
    with app.store.transaction(write=False) as tx:
        report = tx.find_case("report", "BJ", "2027-H1")
    app.service.advance(report.id, "submit", "wang")
    app.service.advance(report.id, "accept", "sun")
    before = dump(app.settings.database_url)
    for bad in ("九十", "９０", "150", "9.5", ""):
        with pytest.raises(BadInput) as refused:
            app.service.advance(report.id, "assess", "sun", options={"score": bad})
        assert refused.value.exit_code == 2 and "--score" in str(refused.value)
    assert dump(app.settings.database_url) == before
    assert app.service.advance(report.id, "assess", "sun", options={"score": "90"}).state == "assessed"


def test_a_failed_audit_verify_exits_5(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`audit verify` that finds a row edited in SQL exits 5 ("verification failed"), not 1 (internal error)."""
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    call = cli(app, monkeypatch, tmp_path, capsys)
    assert call("audit", "verify")[0] == 0
    engine = create_engine(app.settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(history_t).where(history_t.c.case_id == case).values(comment="edited"))
    finally:
        engine.dispose()
    rc, out, err = call("audit", "verify")
    assert rc == 5 and out == "" and err.startswith("outpost: audit FAILED") and err.count("\n") == 1
    rc, out, _err = call("audit", "verify", "--json")
    assert rc == 5 and json.loads(out)["ok"] is False


# -- 16. one amount parser -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, yuan", [
    ("300000", 300_000), ("300,000", 300_000), ("30万", 300_000), ("1.5亿", 150_000_000), ("3000万元", 30_000_000),
    ("300000.5", Decimal("300000.5")), ("1,250,000.50", Decimal("1250000.50")), ("30，000", 30_000),
    ("0.3亿", 30_000_000),
])
def test_amounts_are_read_one_way(text: str, yuan: Any) -> None:
    """Yuan in digits, with thousands separators, or in 万/亿 (PRODUCT.md, "Amounts")."""
    assert parse_yuan(text) == yuan


@pytest.mark.parametrize("text", ["30,00", "1,5", "1.000", "3千万", "三十万", "3万万", "1亿5000万", "-5", "1e6",
                                  "３０万", "30 000", "", "0", "1,000,00", ",100", "1.2345678万", "¥300"])
def test_ambiguous_or_malformed_amounts_are_bad_input(text: str) -> None:
    """A decimal comma, three decimals on plain yuan, two units, words, signs, exponents, spaces, other digits,
    zero, a fraction of a fen: bad input (exit 2)."""
    with pytest.raises(BadInput) as refused:
        parse_yuan(text)
    assert refused.value.exit_code == 2 and "--amount" in str(refused.value)


def test_matter_and_investment_amounts_take_wan_and_yi_alike(app: App) -> None:
    """`--amount 30万` on a matter is 300,000 yuan as on an investment; `1.5亿` too."""
    case = open_matter(app, "wang", "other", "report", amount="30万")
    assert app.case_view(case)["data"]["amount"] == "300000"
    item = add_investment(app.service, "wang", "1.5亿", "domestic", "产业园", credits=["wang=30万"])
    assert item.data["amount"] == 150_000_000 and item.data["credits"] == {"wang": 300_000}
    for bad in ("30,00", "3千万"):
        with pytest.raises(BadInput):
            open_matter(app, "wang", "other", "report", amount=bad)
        with pytest.raises(BadInput):
            add_investment(app.service, "wang", bad, "domestic", "产业园")


def test_a_malformed_amount_on_the_command_line_is_exit_2(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`case open matter --amount 30,00` and `invest add --amount 1,5`: exit 2, one line, nothing written."""
    call = cli(app, monkeypatch, tmp_path, capsys)
    before = dump(app.settings.database_url)
    for argv in (["case", "open", "matter", "--as", "wang", "--category", "other", "--kind", "report", "--title", "t",
                  "--amount", "30,00"],
                 ["invest", "add", "--as", "wang", "--amount", "1,5", "--source", "domestic", "--project", "p"]):
        rc, out, err = call(*argv)
        assert (rc, out, err.count("\n")) == (2, "", 1) and "--amount" in err, err
    assert dump(app.settings.database_url) == before


# -- 17. small words ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
                                     (13, "13th"), (15, "15th"), (21, "21st"), (22, "22nd"), (23, "23rd"),
                                     (101, "101st"), (111, "111th")])
def test_ordinals(n: int, text: str) -> None:
    """1st, 2nd, 3rd, 11th–13th, 21st: never "3th"."""
    assert ordinal(n) == text


def test_the_year_end_audit_is_due_by_the_end_of_the_3rd_month(app: App) -> None:
    """The annual audit's due date says "the 3rd month" (R-6.2), not "the 3th month"."""
    at = local(2027, 12, 1, 9, 0)
    set_time(app, at)
    app.ticker.tick(at)
    with app.store.transaction(write=False) as tx:
        audit = tx.find_case("annual_audit", "BJ", "2027-Y")
    why = json.dumps(app.case_view(audit.id), ensure_ascii=False)
    assert "the end of the 3rd month after 2027" in why and "3th" not in why


def test_matter_refusals_name_the_category_in_words_that_read(app: App) -> None:
    """R-3.3/R-3.4 refusals say "a request of category asset_purchase", never "a asset_purchase"."""
    for category, kind, fragment in (("asset_purchase", "request", "a request of category asset_purchase"),
                                     ("asset_purchase", "report", "a matter of category asset_purchase"),
                                     ("vip_reception", "report", "a matter of category vip_reception")):
        with pytest.raises(Exception) as refused:
            open_matter(app, "wang", category, kind)
        assert fragment in str(refused.value) and "a asset" not in str(refused.value)


def test_invest_add_says_which_number_is_the_id(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`invest add` prints "investment recorded (id N): 30,000,000 yuan …", not "investment N of 30,000,000"."""
    call = cli(app, monkeypatch, tmp_path, capsys)
    rc, out, _err = call("invest", "add", "--as", "wang", "--amount", "3000万", "--source", "domestic",
                         "--project", "产业园", "--date", "2027-01-04")
    assert rc == 0 and out.startswith("investment recorded (id ") and "): 30,000,000 yuan for BJ 2027-Y" in out


def test_an_unknown_process_lists_the_processes(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`case open leav` is exit 2 naming the known processes, as an unknown trigger names the triggers."""
    call = cli(app, monkeypatch, tmp_path, capsys)
    for argv in (["case", "open", "leav", "--as", "zhao"], ["case", "list", "--process", "leav"],
                 ["diagram", "leav"]):
        rc, _out, err = call(*argv)
        assert rc == 2 and err.count("\n") == 1, err
        assert "unknown process: leav (known: " in err and "leave" in err and "matter" in err


# -- 5. a holiday notice loaded later moves the deadlines computed Monday–Friday (R-0.6) -------------------------
def test_R0_6_loading_a_notice_recomputes_the_deadlines_computed_mon_fri(make_app: Callable[..., App], db_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A leave asked on Thu 4 February 2027, with no notice for 2027: reminder when Fri 5 ends, escalation when
    Mon 8 February ends (a working-day deadline ends with its day, issue 17),
    both marked Mon–Fri. Loading the notice (Spring Festival 6–12 February, Sunday the 14th a working day)
    moves the escalation to Sun 14 February, keeps the reminder's time without its mark, records both changes
    (old → new, why) in the case's history and says how many moved; status no longer warns about them."""
    from freezegun import freeze_time

    from tests.conftest import NOTICE_2027

    app = make_app(db_url, at=local(2027, 2, 4, 10, 0))
    case = open_leave(app, "zhao", date(2027, 3, 1), date(2027, 3, 2))
    marked = {d["kind"]: d for d in app.case_view(case)["deadlines"] if "Mon–Fri fallback" in d["why"]}
    assert {k: d["due_at"] for k, d in marked.items()} == {
        "remind_approver": "2027-02-05T23:59:59.999999+08:00", "escalate": "2027-02-08T23:59:59.999999+08:00"}
    point_cli_at(monkeypatch, app.settings.database_url, tmp_path)
    notice = tmp_path / "notice-2027.toml"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    with freeze_time("2027-02-04 03:00:00"):  # 11:00 in Beijing
        rc, out, err = run_cli(capsys, "status", "--json")
        assert any("2 pending deadline(s) computed that way" in w for w in json.loads(out)["warnings"]), out
        rc, out, err = run_cli(capsys, "calendar", "holidays", "load", str(notice))
        assert rc == 0, err
        assert "2 pending deadline(s) had been computed Monday–Friday for 2027: 1 moved, 1 kept their time" in out
        assert f"case {case} escalate: 2027-02-08T23:59:59.999999+08:00 → 2027-02-14T23:59:59.999999+08:00" in out
        rc, out, err = run_cli(capsys, "status", "--json")
        assert not [w for w in json.loads(out)["warnings"] if "2027" in w], out
        rc, out, err = run_cli(capsys, "calendar", "holidays", "load", str(notice))  # again: nothing left to do
        assert rc == 0 and "already loaded" in out and "had been computed" not in out
    view = app.case_view(case)
    pending = {d["kind"]: d for d in view["deadlines"] if d["status"] == "pending"}
    assert pending["escalate"]["due_at"] == "2027-02-14T23:59:59.999999+08:00"
    assert pending["remind_approver"]["due_at"] == "2027-02-05T23:59:59.999999+08:00"
    assert not any("fallback" in d["why"] for d in pending.values())
    assert {d["id"] for d in view["deadlines"] if d["status"] == "cancelled"} == {d["id"] for d in marked.values()}
    [row] = [h for h in view["history"] if h["trigger"] == "deadlines_recomputed"]
    assert row["details"]["rule"] == "R-0.6" and row["from"] == row["to"] == "pending"
    changes = {c["kind"]: (c["old"], c["new"]) for c in row["details"]["changes"]}
    assert changes == {"escalate": ("2027-02-08T23:59:59.999999+08:00", "2027-02-14T23:59:59.999999+08:00"),
                       "remind_approver": ("2027-02-05T23:59:59.999999+08:00", "2027-02-05T23:59:59.999999+08:00")}
    assert app.verify().ok


def test_R0_6_a_deadline_that_cannot_be_recomputed_keeps_the_status_warning(app: App) -> None:
    """An overdue reminder a handler scheduled (every 3 working days, computed Mon–Fri) cannot be computed again
    from its definition: after the 2027 notice is loaded it stays as it was, and `outpost status` still says
    so, naming it, instead of the warning disappearing."""
    from outpost.status import gather
    from tests.conftest import NOTICE_2027
    from workflow.holidays import parse_notice

    for at in (local(2027, 5, 26, 9, 0), local(2027, 6, 26, 9, 0)):  # H1 opens; SZ's and BJ's overdue
        set_time(app, at)
        app.ticker.tick(at)
    repeats = [d for d in app.ticker.queue.pending_marked("Mon–Fri fallback") if d.kind == "overdue_reminder"]
    assert repeats
    _changed, recomputed = app.load_holidays(parse_notice(NOTICE_2027, "notice"))
    kept = {r["deadline"] for r in recomputed if r["new"] is None}
    assert {d.id for d in repeats} <= kept
    warnings = [w for w in gather(app)["warnings"] if "keep that time" in w]
    assert len(warnings) == 1 and str(repeats[0].id) in warnings[0] and "2027" in warnings[0]


# -- 6. a backwards `tick --at` ----------------------------------------------------------------------------------
def test_tick_at_before_the_last_tick_is_refused_unless_forced(frozen_cli: Callable[..., tuple[int, str, str]]
                                                               ) -> None:
    """After a tick at 11 May 2027, `tick --at 2020-01-01` is exit 2 in one line naming --force, and status still
    shows the 2027 tick; with --force it runs, says what it does, and the last tick stays; a plain `tick` on a
    wall clock behind the last tick (a clock stepped back) is not refused."""
    assert frozen_cli("tick", "--at", "2027-05-11T09:00")[0] == 0
    rc, out, err = frozen_cli("tick", "--at", "2020-01-01T00:00")
    assert (rc, out, err.count("\n")) == (2, "", 1) and "before the last tick" in err and "--force" in err
    rc, out, err = frozen_cli("tick", "--at", "2020-01-01T00:00", "--dry-run")
    assert rc == 2
    rc, out, _err = frozen_cli("status", "--json")
    assert json.loads(out)["last_tick"] == "2027-05-11T09:00:00+08:00"
    rc, out, err = frozen_cli("tick", "--at", "2020-01-01T00:00", "--force")
    assert rc == 0 and "--force: ticking at 2020-01-01T00:00:00+08:00, before the last tick" in err
    assert json.loads(frozen_cli("status", "--json")[1])["last_tick"] == "2027-05-11T09:00:00+08:00"
    rc, out, err = frozen_cli("tick")  # the CLI's clock: 10 May 2027, before the last tick
    assert rc == 0 and "0 fired" in out, (out, err)


# -- 7. the configuration is checked as a whole at setup -----------------------------------------------------------
@pytest.mark.parametrize("policy", ['"nope.toml"', '"bad.toml"', '"unknown.toml"'])
def test_a_policy_file_that_is_missing_or_wrong_fails_init_org_load_and_the_daemon(
        policy: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`policy_file = "nope.toml"` (or one that does not parse, or has an unknown key) fails `init`, `org load`
    and `daemon` there, exit 2 in one line naming the file, and `init` creates no database."""
    from tests.conftest import ORG_FILE

    (tmp_path / "bad.toml").write_text("this is = = not toml\n", encoding="utf-8")
    (tmp_path / "unknown.toml").write_text("[leave]\nfrobnicate = 3\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'outpost.db'}"
    point_cli_at(monkeypatch, url, tmp_path)
    config = tmp_path / "outpost.toml"
    config.write_text(f"policy_file = {policy}\n", encoding="utf-8")
    rc, _out, err = run_cli(capsys, "init")
    assert (rc, err.count("\n")) == (2, 1) and "policy file" in err and policy.strip('"') in err, err
    assert not (tmp_path / "outpost.db").exists()
    config.unlink()
    assert run_cli(capsys, "init")[0] == 0  # a good configuration: set up
    config.write_text(f"policy_file = {policy}\n", encoding="utf-8")
    before = dump(url)
    for argv in (("org", "load", str(ORG_FILE)), ("daemon",), ("init",)):
        rc, _out, err = run_cli(capsys, *argv)
        assert (rc, err.count("\n")) == (2, 1) and policy.strip('"') in err, (argv, err)
    assert dump(url) == before


# -- 8. tracking_from: no noise about periods Outpost did not see ------------------------------------------------
def test_installed_on_8_december_2026_sends_no_verdict_on_2026(make_app: Callable[..., App], db_url: str) -> None:
    """Installed on 8 December 2026 (the tracking date is the day of the first init): the first tick opens the
    2026 investment and December information cases but sends no "progress … 0 yuan" and no reminder; on 1 January
    neither is judged ("missed", "short"): each records why, and no mail about them goes out. The third quarter's
    statement (due 15 October) is not opened at all; January 2027 is followed and judged as usual."""
    app = make_app(db_url, at=local(2026, 12, 8, 11, 0))
    with app.store.transaction(write=False) as tx:
        assert tx.get_meta("tracking_from")["date"] == "2026-12-08"
    for at in (local(2026, 12, 8, 11, 5), local(2026, 12, 26, 9, 0), local(2027, 1, 1, 0, 0),
               local(2027, 1, 4, 0, 0), local(2027, 2, 1, 0, 0)):
        set_time(app, at)
        app.ticker.tick(at)
    cases = {(c.process, c.office, c.period): c for c in app.store.list_cases(CaseFilter())}
    assert ("fin_statement", "BJ", "2026-Q3") not in cases
    investment, info = cases[("investment", "BJ", "2026-Y")], cases[("info_quota", "BJ", "2026-12")]
    assert (investment.state, info.state) == ("open", "open")
    for case in (investment, info):
        [row] = [h for h in app.case_view(case.id)["history"] if h["trigger"] == "not_judged"]
        assert row["details"]["tracking_from"] == "2026-12-08"
    noise = {"investment.progress", "investment.missed", "investment.met", "info_quota.short",
             "info_quota.reminder", "info_quota.items_waiting"}
    sent = [(m.event, m.case_id) for m in app.store.mails() if m.event in noise]
    assert not [s for s in sent if s[1] in (investment.id, info.id)], sent
    assert cases[("info_quota", "BJ", "2027-01")].state == "short"  # followed from its first day: judged


def test_tracking_from_set_earlier_on_purpose_judges_the_period(make_app: Callable[..., App], db_url: str) -> None:
    """The General Office sets `tracking_from = 2026-12-01` in outpost.toml on purpose: December 2026's
    information is then judged on 1 January (short, with its mail)."""
    app = make_app(db_url, at=local(2026, 12, 8, 11, 0), tracking_from=date(2026, 12, 1))
    for at in (local(2026, 12, 8, 11, 5), local(2027, 1, 4, 0, 0)):
        set_time(app, at)
        app.ticker.tick(at)
    with app.store.transaction(write=False) as tx:
        info = tx.find_case("info_quota", "BJ", "2026-12")
    assert info.state == "short"
    assert any(m.event == "info_quota.short" and m.case_id == info.id for m in app.store.mails())


def test_tracking_from_is_set_by_the_first_init_and_overridden_by_outpost_toml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The first `init` stores its day and says so; a later `init` keeps it; `tracking_from` in outpost.toml
    overrides it (status shows the date in force); a malformed one is exit 2."""
    from freezegun import freeze_time

    url = f"sqlite:///{tmp_path / 'outpost.db'}"
    point_cli_at(monkeypatch, url, tmp_path)
    with freeze_time("2026-12-08 03:00:00"):
        rc, out, _err = run_cli(capsys, "init")
    assert rc == 0 and "tracking from 2026-12-08" in out
    with freeze_time("2027-03-01 03:00:00"):
        rc, out, _err = run_cli(capsys, "init")
        assert rc == 0 and "tracking from 2026-12-08" in out
        assert json.loads(run_cli(capsys, "status", "--json")[1])["tracking_from"] == "2026-12-08"
        (tmp_path / "outpost.toml").write_text("tracking_from = 2026-11-01\n", encoding="utf-8")
        assert json.loads(run_cli(capsys, "status", "--json")[1])["tracking_from"] == "2026-11-01"
        (tmp_path / "outpost.toml").write_text('tracking_from = "last year"\n', encoding="utf-8")
        rc, _out, err = run_cli(capsys, "status")
        assert rc == 2 and "tracking_from" in err and err.count("\n") == 1
