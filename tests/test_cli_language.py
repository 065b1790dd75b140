"""The CLI speaks the office's language (issue 17 point 10): Chinese by default (`language = "zh"`,
OUTPOST_LANG), English with "en"; rule ids unchanged; `--json` the same bytes in both."""

from __future__ import annotations

import gettext
import json
import re
from pathlib import Path
from typing import Any

import pytest

from outpost.cli import catalogue, i18n

LEAVE = ("case", "open", "leave", "--as", "zhao", "--start", "2027-06-01", "--end", "2027-06-02", "--reason", "探亲")


@pytest.fixture
def cli(frozen_cli: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The frozen-clock CLI (tests/conftest.py) with a language per call: cli("zh", *args)."""

    def call(lang: str, *args: str) -> tuple[int, str, str]:
        monkeypatch.setenv("OUTPOST_LANG", lang)
        return frozen_cli(*args)  # type: ignore[no-any-return]

    return call


def test_case_show_and_main_refusals_in_chinese(cli: Any) -> None:
    """With language zh, `case show` labels the data in Chinese and lists the items with their ids; the main
    refusals (permission of R-2.4 and R-2.3, leave, matter R-3.1, reimbursement R-7.1, not found, a bad date)
    are one Chinese line that keeps the rule id and the exit code."""
    rc, out, err = cli("zh", *LEAVE)
    assert rc == 0 and out.startswith("案件 1 已创建：leave pending"), err
    rc, out, _err = cli("zh", "case", "show", "1")
    assert rc == 0
    assert out.startswith("案件 1 leave · 驻外办 BJ · 当事人 zhao · 状态 pending（版本 1）")
    for line in ("数据：", "  开始日期: 2027-06-01", "  结束日期: 2027-06-02", "  事由: 探亲", "  已督办: 否",
                 "历史："):
        assert line in out.splitlines(), (line, out)
    assert "{" not in out  # labelled lines, not the data as JSON
    # a pending deadline says what happens then as the process names it, with its code
    assert any(line.split("  ")[-1].startswith("提醒审批人（remind_approver）：") for line in out.splitlines()), out
    refusals = [
        (("case", "advance", "1", "approve", "--as", "zhao"), 3,
         "outpost: 不予办理（R-2.4）：zhao 无权执行 approve：任何人不得审批本人的请假"),
        (("case", "advance", "1", "approve", "--as", "li"), 3,
         "outpost: 不予办理（R-2.3）：li 无权执行 approve：此申请由BJ 的主任审批（目前为：wang）"),
        (("case", "advance", "1", "return", "--as", "zhao"), 3,
         "outpost: 不予办理（leave.states）：案件 1 处于 pending"),
        (("case", "open", "matter", "--as", "sun", "--category", "other", "--kind", "report", "--title", "t"), 3,
         "outpost: 不予办理（R-3.1）：sun 不是驻外办工作人员；重大事项由驻外办请示或报告"),
        (("case", "open", "reimbursement", "--as", "sun", "--amount", "100", "--category", "travel", "--vouchers",
          "1", "--title", "t"), 3, "outpost: 不予办理（R-7.1）：sun 不是驻外办人员；报帐由驻外办提出"),
        (("case", "show", "999"), 2, "outpost: 未知的案件：999"),
        (("case", "open", "leave", "--as", "zhao", "--start", "2027-02-30", "--end", "2027-03-01"), 2,
         "outpost: --start：不存在的日期 '2027-02-30'"),
        (("case", "advance", "1", "approve"), 2, "outpost: 缺少选项 '--as'。"),
    ]
    for args, code, start in refusals:
        rc, _out, err = cli("zh", *args)
        assert rc == code and err.startswith(start) and err.count("\n") == 1, (args, rc, err)


def test_case_show_and_main_refusals_in_english(cli: Any) -> None:
    """The same commands with language en: English lines, the same rule ids and exit codes."""
    assert cli("en", *LEAVE)[1].startswith("case 1 opened: leave pending")
    rc, out, _err = cli("en", "case", "show", "1")
    assert rc == 0 and out.startswith("case 1 leave · office BJ · subject zhao · pending (version 1)")
    assert "  first day: 2027-06-01" in out.splitlines() and "  escalated: no" in out.splitlines()
    rc, _out, err = cli("en", "case", "advance", "1", "approve", "--as", "zhao")
    assert rc == 3 and err == "outpost: refused (R-2.4): zhao may not approve: nobody approves their own leave\n"
    rc, _out, err = cli("en", "case", "show", "999")
    assert rc == 2 and err == "outpost: unknown case: 999\n"


def test_json_is_the_same_bytes_in_both_languages(cli: Any) -> None:
    """`--json` of case show, case triggers, info list and invest list: byte-identical in zh and en."""
    assert cli("zh", *LEAVE)[0] == 0
    assert cli("zh", "info", "add", "--as", "zhao", "--title", "园区政策")[0] == 0
    assert cli("zh", "invest", "add", "--as", "wang", "--amount", "3000万", "--source", "foreign", "--project",
               "电池厂", "--credit", "wang=2000万")[0] == 0
    for args in (("case", "show", "1"), ("case", "triggers", "1", "--as", "wang"), ("case", "triggers", "1"),
                 ("info", "list"), ("invest", "list"), ("case", "list")):
        zh, en = cli("zh", *args, "--json"), cli("en", *args, "--json")
        assert zh[0] == en[0] == 0 and zh[1] == en[1], args
        json.loads(zh[1])


def test_case_show_lists_findings_and_items_with_their_ids(cli: Any) -> None:
    """A departure audit's findings and a month's information items appear on `case show` with id, kind,
    status and text, in the language spoken."""
    rc, out, err = cli("zh", "info", "add", "--as", "zhao", "--title", "园区政策", "--json")
    assert rc == 0, err
    item = json.loads(out)
    rc, out, _err = cli("zh", "case", "show", str(item["case"]))
    assert f"  #{item['id']} 信息 [logged]: 园区政策 — 月份: 2027-05" in out.splitlines(), out
    rc, out, _err = cli("en", "case", "show", str(item["case"]))
    assert f"  #{item['id']} information item [logged]: 园区政策 — month: 2027-05" in out.splitlines(), out


def test_help_speaks_the_language(cli: Any, tmp_path: Path) -> None:
    """`--help` of the root, of a static command and of a process's own command is Chinese with zh
    (texts.toml for the process), English with en; the config file's `language` counts too."""
    rc, out, _err = cli("zh", "--help")
    assert rc == 0 and "用法：" in out and "创建或升级数据库（可重复执行）。" in out
    rc, out, _err = cli("zh", "case", "show", "--help")
    assert "状态、人员、期限" in out and "显示本帮助并退出。" in out
    rc, out, _err = cli("zh", "info", "list", "--help")
    assert "列出信息" in out and "YYYY-MM（默认：全部月份）" in out and "logged（待采用）" in out
    rc, out, _err = cli("en", "info", "list", "--help")
    assert "List the information items" in out and "Usage:" in out
    (tmp_path / "outpost.toml").write_text('language = "en"\n', encoding="utf-8")  # frozen_cli runs in tmp_path
    assert i18n.early_language([], env={}, cwd=tmp_path) == "en"
    assert i18n.early_language([], env={"OUTPOST_LANG": "zh"}, cwd=tmp_path) == "zh"
    assert i18n.early_language(["--config", str(tmp_path / "none.toml")], env={}, cwd=tmp_path) == "zh"


# -- the catalogue ----------------------------------------------------------------------------------------
_BRACES = re.compile(r"\{(\w*)\}")


def test_catalogue_translates_every_text_and_its_mo_is_compiled() -> None:
    """Every text marked in outpost/ and every static help has a Chinese translation (not fuzzy) with the same
    placeholders, and the committed .mo is what the .po compiles to (run `python -m outpost.cli.catalogue`)."""
    po = catalogue.read("zh")
    missing, wrong = [], []
    for message in catalogue.template():
        if not message.id:
            continue
        found = po.get(message.id, context=message.context)
        if found is None or not found.string or found.fuzzy:
            missing.append(message.id)
        elif sorted(_BRACES.findall(str(found.id))) != sorted(_BRACES.findall(str(found.string))):
            wrong.append(message.id)
    assert missing == [] and wrong == []
    mo = catalogue.po_path("zh").with_suffix(".mo")
    with mo.open("rb") as f:
        committed = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    from io import BytesIO

    fresh = gettext.GNUTranslations(BytesIO(catalogue.compiled("zh")))._catalog  # type: ignore[attr-defined]
    assert committed == fresh


def test_every_message_pattern_has_a_translation_and_matches_whole_messages() -> None:
    """Each pattern of outpost/cli/messages.py translates into Chinese; a message no pattern matches is left as
    it is; English leaves every message alone."""
    from outpost.cli.messages import PATTERNS

    i18n.use("zh")
    try:
        for msgid in PATTERNS:
            assert i18n._(msgid) != msgid, msgid
        assert i18n.translate_message("refused (R-9.9): something new") == "不予办理（R-9.9）：something new"
        assert i18n.translate_message("no pattern says this") == "no pattern says this"
    finally:
        i18n.use("en")
    assert i18n.translate_message("refused (R-2.4): x") == "refused (R-2.4): x"


def test_confirmations_of_status_tick_init_and_holidays_speak_the_language(cli: Any) -> None:
    """`status`, `tick --dry-run`, `init` and `calendar holidays show` print Chinese lines with language zh and
    English ones with en; the codes in them (process, period, rule id, R-0.6) stay as they are."""
    rc, zh, _err = cli("zh", "status")
    assert rc == 0 and zh.startswith("上次执行：") and "邮件：排队 " in zh, zh
    rc, en, _err = cli("en", "status")
    assert rc == 0 and en.startswith("last tick: ") and "mail: " in en, en
    assert "警告：" in zh and "年没有节假日数据：工作日按周一至周五计算（R-0.6）" in zh, zh  # the calendar warning
    assert "WARNING: no holiday data for " in en and "(R-0.6)" in en, en
    rc, zh, _err = cli("zh", "tick", "--dry-run")
    assert rc == 0 and zh.rstrip().endswith("；未写入任何内容") and "would" not in zh, zh
    rc, en, _err = cli("en", "tick", "--dry-run")
    assert rc == 0 and en.rstrip().endswith("; nothing written"), en
    rc, zh, _err = cli("zh", "init")
    assert rc == 0 and zh.startswith("数据库已是版本 ") and "tracking_from" in zh, zh
    rc, en, _err = cli("en", "init")
    assert rc == 0 and en.startswith("database at schema "), en
    rc, zh, _err = cli("zh", "calendar", "holidays", "show", "2031")
    assert rc == 0 and zh.startswith("2031 年：没有节假日数据") and "(R-0.6)" not in zh and "R-0.6" in zh, zh
    rc, en, _err = cli("en", "calendar", "holidays", "show", "2031")
    assert rc == 0 and en.startswith("2031: no holiday data"), en


def test_delegation_audit_and_mail_lines_speak_the_language(cli: Any, tmp_path: Path) -> None:
    """`delegate add|list|end`, `audit verify|seal`, `mail list|deliver` in Chinese with zh and in English with
    en; the delegation's people's ids and its status code are the same in both."""
    rc, zh, err = cli("zh", "delegate", "add", "--as", "wang", "--absent", "wang", "--acting", "li", "--start",
                      "2027-06-01", "--end", "2027-06-14")
    assert rc == 0 and zh.startswith("代理 1：li ") and " 代理 wang " in zh and "[upcoming]" in zh, (zh, err)
    rc, en, _err = cli("en", "delegate", "list")
    assert rc == 0 and en.startswith("delegation 1: li ") and " acting for wang " in en and "[upcoming]" in en
    rc, zh, _err = cli("zh", "delegate", "end", "1", "--as", "wang")
    assert rc == 0 and "（已由 wang 于 " in zh and "结束）" in zh, zh
    rc, zh, _err = cli("zh", "audit", "verify")
    assert rc == 0 and zh.startswith("审计通过："), zh
    rc, en, _err = cli("en", "audit", "verify")
    assert rc == 0 and en.startswith("audit ok: "), en
    rc, zh, _err = cli("zh", "audit", "seal", "-o", str(tmp_path / "seal.json"))
    assert rc == 0 and zh.startswith("已封存 ") and str(tmp_path / "seal.json") in zh, zh
    rc, zh, _err = cli("zh", "mail", "list")
    assert (rc, zh) == (0, "没有邮件\n")
    assert cli("en", "mail", "list")[1] == "no mail\n"
    rc, zh, _err = cli("zh", "mail", "deliver")
    assert rc == 0 and zh.startswith("邮件：已发送 "), zh
    rc, en, _err = cli("en", "mail", "deliver")
    assert rc == 0 and en.startswith("mail: "), en


def test_compliance_report_speaks_the_language(cli: Any) -> None:
    """`report compliance`: its lines and its tables' titles and headings in Chinese with zh, in English with
    en; the rule ids in the titles stay."""
    rc, zh, _err = cli("zh", "report", "compliance", "--year", "2027", "--office", "BJ")
    assert rc == 0, zh
    for text in ("（截至 ", "  招商引资：", "  信息报送不足的月份：", "工作报告（R-5）",
                 "人员（R-2.5 在岗，R-6.5 考核等次）", "  违规事件："):
        assert text in zh, (text, zh)
    assert "investment:" not in zh and "work reports" not in zh
    rc, en, _err = cli("en", "report", "compliance", "--year", "2027", "--office", "BJ")
    assert rc == 0 and "work reports (R-5)" in en and "  investment: " in en and "(as of " in en, en


def test_json_of_the_confirmations_is_the_same_bytes_in_both_languages(cli: Any) -> None:
    """`--json` of status, tick --dry-run, delegate add|list, audit verify, holidays show, report compliance and
    mail list: byte-identical in zh and en (the status warnings stay English there)."""
    assert cli("zh", *LEAVE)[0] == 0
    assert cli("zh", "delegate", "add", "--as", "wang", "--absent", "wang", "--acting", "li", "--start",
               "2027-06-01", "--end", "2027-06-14")[0] == 0
    for args in (("status", "--json"), ("tick", "--dry-run", "--json"), ("delegate", "list", "--json"),
                 ("audit", "verify", "--json"), ("calendar", "holidays", "show", "2031", "--json"),
                 ("report", "compliance", "--year", "2027", "--json"), ("mail", "list", "--json")):
        rc_zh, zh, _e = cli("zh", *args)
        rc_en, en, _e = cli("en", *args)
        assert (rc_zh, rc_en) == (0, 0) and zh == en, args
        json.loads(zh)
    assert "no holiday data" in cli("zh", "status", "--json")[1]  # the warning, untranslated in --json


def test_holidays_org_and_tick_lines_speak_the_language(cli: Any, tmp_path: Path) -> None:
    """`calendar holidays load|show`, `org load` and a `tick` that fires: Chinese lines with zh, English with en;
    the holiday names, deadline kinds and rule ids as they are."""
    from tests.conftest import NOTICE_2027

    notice = tmp_path / "notice.toml"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    rc, zh, err = cli("zh", "calendar", "holidays", "load", str(notice))
    assert rc == 0 and zh.startswith("2027 年：") and "个调休工作日，已载入" in zh, (zh, err)
    rc, en, _err = cli("en", "calendar", "holidays", "load", str(notice))
    assert rc == 0 and en.startswith("2027: ") and en.rstrip().endswith("already loaded, nothing changed"), en
    rc, zh, _err = cli("zh", "calendar", "holidays", "show", "2027")
    assert rc == 0 and zh.startswith("2027 年（来源：notice）：") and "  2027-02-14 工作日（调休） 春节调休" in zh, zh
    rc, en, _err = cli("en", "calendar", "holidays", "show", "2027")
    assert rc == 0 and "  2027-02-14 working day (调休) 春节调休" in en, en
    org = tmp_path / "org.toml"
    from tests.conftest import ORG_FILE

    org.write_text(ORG_FILE.read_text(encoding="utf-8").replace('name = "赵丽"', 'name = "赵丽丽"', 1),
                   encoding="utf-8")
    rc, zh, err = cli("zh", "org", "load", str(org))
    assert rc == 0 and zh.startswith("组织架构已载入；变更人员：zhao"), (zh, err)
    assert cli("zh", *LEAVE)[0] == 0
    rc, zh, _err = cli("zh", "tick", "--at", "2027-06-30T09:00")
    assert rc == 0 and "：案件 1（到期 " in zh and "R-2." in zh and zh.splitlines()[-1].startswith("已执行 "), zh
    rc, en, _err = cli("en", "tick", "--at", "2027-07-30T09:00", "--dry-run")
    assert rc == 0 and en.splitlines()[-1].endswith("; nothing written"), en
