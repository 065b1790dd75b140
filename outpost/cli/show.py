"""`outpost case show` as a person reads it: the case's data as labelled lines (labels from the process's
`texts.toml`, in the language spoken), what was logged against it (findings, information items,
investments) with their ids, pending deadlines and the history. `--json` prints the view itself instead."""

from __future__ import annotations

from typing import Any

from outpost.cli.i18n import _, language, p_, translate_message
from workflow.texts import deadline_name, label

_ITEM_TEXT = ("text", "title", "project")  # the item's own words, shown first


def value_text(value: Any) -> str:
    """A data value as a line shows it: lists joined, mappings as key=value, nothing as —."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return p_("a data value", "yes") if value else p_("a data value", "no")
    if isinstance(value, dict):
        return ", ".join(f"{k}={value_text(v)}" for k, v in value.items() if k != "v")
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return " ".join(str(value).split())


def item_line(process: str, item: Any) -> str:
    lang = language()
    data = {k: v for k, v in item.data.items() if k != "v"}
    own = next((str(data.pop(k)) for k in _ITEM_TEXT if data.get(k)), "")
    rest = "; ".join(f"{label(process, lang, k)}: {value_text(v)}" for k, v in data.items() if v not in (None, ""))
    words = " — ".join(part for part in (own, rest) if part)
    return f"  #{item.id} {label(process, lang, item.kind)} [{item.status}]: {words}"


def case_lines(view: dict[str, Any], items: list[Any]) -> list[str]:
    process, lang = view["process"], language()
    lines = [_("case {case} {process} · office {office} · subject {subject} · {state} (version {version})").format(
        case=view["id"], process=process, office=view["office"] or "—", subject=view["subject"] or "—",
        state=view["state"], version=view["version"])]
    if view.get("period"):
        lines.append(_("period: {period}").format(period=view["period"]))
    shown = {k: v for k, v in view["data"].items() if k != "v"}
    if shown:
        lines.append(_("data:"))
        lines += [f"  {label(process, lang, k)}: {value_text(v)}" for k, v in shown.items()]
    if items:
        lines.append(_("items (id, kind, status):"))
        lines += [item_line(process, i) for i in items]
    pending = [d for d in view["deadlines"] if d["status"] == "pending"]
    if pending:
        lines.append(_("deadlines:"))
        # what happens then, as the process names it (texts.toml), then its code (as --json has it)
        lines += [f"  {d['due_at']}  " + _("{what} ({kind}): ").format(what=deadline_name(process, lang, d["kind"]),
                                                                      kind=d["kind"]) + d["why"] for d in pending]
    lines.append(_("history:"))
    for h in view["history"]:
        extra = f" — {h['comment']}" if h["comment"] else ""
        if h["override"]:
            extra += " [" + _("override: {reason}").format(reason=h["override"]) + "]"
        actor = h["actor"] or _("system")
        if h["details"].get("acting_for"):  # a delegate's step (issue 15.4)
            actor = _("{actor} acting for {absent}").format(actor=actor, absent=h["details"]["acting_for"])
        lines.append(f"  #{h['seq']} {h['at']} {actor}: {h['trigger']} {h['from'] or '∅'} → {h['to']}{extra}")
        if h["details"].get("refused") and isinstance(h["details"].get("reason"), str):  # a recorded refusal
            lines.append(f"     {h['details']['refused']}: {translate_message(h['details']['reason'])}")
    return lines
