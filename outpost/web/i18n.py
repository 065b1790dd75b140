"""The web pages' words, Chinese (default) and English. Process names come from the registry
(`definition.names`); what a process calls its states, actions and deadlines, from its folder's `texts.toml`
(workflow/texts.py); a case field without a word here shows its own name."""

from __future__ import annotations

from typing import Any

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "app": "Outpost 驻外办事机构事务", "tasks": "我的待办", "dashboard": "总览", "compliance": "合规情况",
        "sign_in": "登录", "sign_out": "退出", "email": "电子邮箱", "send_link": "发送登录链接",
        "login_sent": "如果该邮箱属于本系统的用户，一封含登录链接的邮件已经发出。链接仅能使用一次，请在有效期内打开。",
        "login_confirm": "确认登录", "login_as": "以此身份登录：", "too_many": "请求过于频繁，请稍后再试。",
        "gone_title": "此链接已失效", "gone_text": "此链接已失效（已使用、已过期或案件已有新进展）。请登录后打开案件查看。",
        "confirm_title": "请确认办理", "case": "案件", "process": "事项", "office": "办事机构", "person": "当事人",
        "state": "当前状态", "due": "办理期限", "why": "依据", "comment": "意见（驳回时必填）",
        "override": "超出规定的理由（须填写）", "done_title": "已办理", "done_text": "已记录。确认邮件已发给您。",
        "done_case": "案件 {case}：", "done_line": "{action} → {state}。",
        "no_tasks": "目前没有需要您办理的事项。", "open_case": "打开案件", "deadlines": "期限", "history": "办理记录",
        "diagram": "流程图", "actions": "可办理", "no_actions": "您目前无可办理的操作。", "forbidden": "您无权查看此页面。",
        "not_found": "未找到。", "error": "出错了", "comment_needed": "驳回须填写意见（理由）。",
        "csrf": "表单已过期，请刷新页面后重试。", "open": "在办", "overdue": "逾期", "total": "合计",
        "failed_mail": "发送失败的邮件", "failed_deadlines": "执行失败的期限", "heartbeat": "守护进程心跳",
        "none": "无", "alive": "正常", "silent": "无响应", "investment": "招商引资进度（目标 3000 万元）",
        "reports": "工作报告（按时/逾期）", "info": "每月信息报送（定额 4 条）", "on_time": "按时", "late": "逾期",
        "pending": "未到期", "missing": "未报", "year": "年度", "at": "时间", "actor": "办理人", "signed_in_as": "当前用户",
        "system": "系统", "back": "返回", "days": "天", "opened": "提出", "general_office": "办公厅",
        "no_daemon": "守护进程未在运行：到期提醒与督办不会发出（outpost daemon）",
    },
    "en": {
        "app": "Outpost", "tasks": "My tasks", "dashboard": "Dashboard", "compliance": "Compliance",
        "sign_in": "Sign in", "sign_out": "Sign out", "email": "E-mail address", "send_link": "Send me a sign-in link",
        "login_sent": "If this address belongs to someone in the organisation, a sign-in link is on its way. "
                      "It works once, for a short time.",
        "login_confirm": "Sign in", "login_as": "Sign in as:", "too_many": "Too many requests; try again later.",
        "gone_title": "This link is no longer valid",
        "gone_text": "This link is no longer valid (used, expired, or the case has moved on). Sign in and open the case.",
        "confirm_title": "Please confirm", "case": "Case", "process": "Process", "office": "Office", "person": "Person",
        "state": "State", "due": "Due", "why": "Why", "comment": "Comment (required to reject)",
        "override": "Reason for passing the rule (required)", "done_title": "Done",
        "done_text": "Recorded. A receipt is on its way to you.",
        "done_case": "Case {case}: ", "done_line": "{action} → {state}. ", "no_tasks": "Nothing waits for you now.",
        "open_case": "Open the case", "deadlines": "Deadlines", "history": "History", "diagram": "Diagram",
        "actions": "Your actions", "no_actions": "You have no action on this case now.",
        "forbidden": "You may not see this page.", "not_found": "Not found.", "error": "Something went wrong",
        "comment_needed": "A comment (the reason) is required to reject.",
        "csrf": "The form has expired; reload the page and try again.", "open": "open", "overdue": "overdue",
        "total": "total", "failed_mail": "Failed mail", "failed_deadlines": "Failed deadlines",
        "heartbeat": "Daemon heartbeat", "none": "none", "alive": "alive", "silent": "silent",
        "investment": "Investment progress (target 30,000,000 yuan)", "reports": "Work reports (on time / late)",
        "info": "Information items per month (quota 4)", "on_time": "on time", "late": "late", "pending": "not due",
        "missing": "missing", "year": "Year", "at": "At", "actor": "By", "signed_in_as": "Signed in as",
        "system": "system", "back": "Back", "days": "days", "opened": "opened", "general_office": "General Office",
        "no_daemon": "no daemon running: reminders and escalations are not sent (outpost daemon)",
    },
}

FIELDS: dict[str, dict[str, str]] = {
    "zh": {"start": "开始日期", "end": "结束日期", "days": "天数", "total_days": "连同续假共计",
           "amount": "金额（元）", "event_date": "计划日期", "category": "类别", "kind": "类型", "period": "期间",
           "year": "年度", "extends": "续假所续案件", "vouchers": "单据张数"},
    "en": {"start": "First day", "end": "Last day", "days": "Days", "total_days": "Days with extensions",
           "amount": "Amount (yuan)", "event_date": "Planned date", "category": "Category", "kind": "Kind",
           "period": "Period", "year": "Year", "extends": "Extends case", "vouchers": "Vouchers"},
}

# What a confirmation page may show of a case's data (R-7.3: what the recipient needs to decide — dates,
# length, amount — never the reason, the title or a report's content).
SHOWN_FIELDS = ("start", "end", "days", "total_days", "amount", "event_date", "category", "kind", "period",
                "year", "extends", "vouchers")

# Actions that turn something down: the web asks for the reason (a comment) before it sends them.
REJECTING = frozenset({"reject", "request_revision", "return_for_correction"})


def words(lang: str) -> dict[str, str]:
    return WORDS.get(lang, WORDS["zh"])


def field_name(lang: str, key: str) -> str:
    return FIELDS.get(lang, {}).get(key, key.replace("_", " "))


def money(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
