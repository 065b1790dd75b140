"""What a mail says: jinja2 templates per (language, event), one shared layout per language.

An event is one small file, `templates/<lang>/<event>.j2`, that sets two texts: `title` (the subject
line and heading) and `what` (what is due, in a sentence or two). The layouts add everything every
message must carry (R-7.3: what is due and where to act, never the confidential content): when it is
due (local date and weekday), the rule, the case, and the exact `outpost` commands to act.

Event files are plain text; the HTML layout is autoescaped, so a title such as `<script>` arrives as
text. Undefined variables are errors (`StrictUndefined`): a broken template never sends a blank mail.
"""

from __future__ import annotations

import shlex
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes

from notifications.ics import due_day
from workflow.errors import DefinitionError
from workflow.model import Mail, Org
from workflow.texts import action_name, state_name
from workflow.timeutil import LOCAL_TZ, WEEKDAYS_EN, WEEKDAYS_ZH

LANGUAGES = ("zh", "en")
LAYOUTS = ("_subject.txt", "_layout.txt", "_layout.html")
REQUIRED_TEXTS = ("title", "what")
OPTIONAL_TEXTS = ("facts",)  # lines "label：value" — what the recipient needs to decide (issue 17, R-7.3)
# Events whose subject says how much time is left ("还有7天", "已逾期3天"): the chasers, not the first call
REMINDER_MARKS = ("reminder", "overdue", "escalated", "undecided")

# Every name an event template may use; anything else is refused when templates are validated.
# Event-specific values are reached through `params` (e.g. `params.period`), checked when rendered.
CONTEXT_NAMES = frozenset({
    "lang", "event", "case", "process", "process_name", "office", "office_name", "state", "state_name",
    "trigger_name", "subject",
    "subject_name", "period", "rule", "recipient", "recipient_name", "due", "event_on", "actions",
    "commands", "show_command", "params", "acting_for", "acting_for_name", "left", "send_on", "action_url",
})

class TemplateProblem(DefinitionError):
    """Mail templates are missing or broken (found at start, or when a mail is rendered)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = "; ".join(self.problems[:20]) + ("; …" if len(self.problems) > 20 else "")
        super().__init__(f"mail templates: {shown}")


_Day = date  # `When` has a field named `date` (the ISO text), which hides the type in its body


@dataclass(frozen=True)
class When:
    """An instant as people read it: local date, weekday and time (Asia/Shanghai).

    Worked out once, when made: a message shows the same instant in its text, HTML and calendar.
    A `deadline` that ends a day (stored as local 00:00 of the next day, or 23:59:59…, R-0.3/R-0.4) reads
    as that day: "3月12日（星期五）下班前" / "by end of day, Fri 12 March" (issue 17), never as
    "2027-03-13（星期六）00:00"; its year is shown when it is not the year of `ref` (the mail's date)."""

    at: datetime
    lang: str
    deadline: bool = False
    ref: _Day | None = None
    local: datetime = field(init=False, repr=False, compare=False)
    date: str = field(init=False, repr=False, compare=False)
    weekday: str = field(init=False, repr=False, compare=False)
    time: str = field(init=False, repr=False, compare=False)
    text: str = field(init=False, repr=False, compare=False)
    day: _Day = field(init=False, repr=False, compare=False)  # the local day it falls on (or ends)
    end_of_day: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        local = self.at.astimezone(LOCAL_TZ)
        eod = self.deadline and due_day(self.at) is not None
        shown = due_day(self.at) if eod else local.date()
        assert shown is not None
        weekday = (WEEKDAYS_ZH if self.lang == "zh" else WEEKDAYS_EN)[shown.weekday()]
        clock = f"{local.hour:02d}:{local.minute:02d}"
        if self.deadline:
            text = deadline_text(shown, None if eod else clock, self.lang, self.ref)
        elif self.lang == "zh":
            text = f"{shown.isoformat()}（{weekday}）{clock}"
        else:
            text = f"{weekday} {shown.isoformat()}, {clock} (Beijing time)"
        for name, value in (("local", local), ("date", shown.isoformat()), ("weekday", weekday),
                            ("time", clock), ("text", text), ("day", shown), ("end_of_day", eod)):
            object.__setattr__(self, name, value)

    def __str__(self) -> str:
        return self.text


_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")


def day_text(day: date, lang: str, ref: date | None = None) -> str:
    """A day as a mail says it: "3月12日（星期五）" / "Fri 12 March"; with its year unless it is `ref`'s."""
    year = ref is None or day.year != ref.year
    if lang == "zh":
        return f"{f'{day.year}年' if year else ''}{day.month}月{day.day}日（{WEEKDAYS_ZH[day.weekday()]}）"
    return f"{WEEKDAYS_EN[day.weekday()][:3]} {day.day} {_MONTHS_EN[day.month - 1]}{f' {day.year}' if year else ''}"


def deadline_text(day: date, clock: str | None, lang: str, ref: date | None = None) -> str:
    """A due line: by the end of `day` ("下班前" / "by end of day"), or at a time of day."""
    shown = day_text(day, lang, ref)
    if lang == "zh":
        return f"{shown}下班前" if clock is None else f"{shown}{clock}"
    return f"by end of day, {shown}" if clock is None else f"{clock}, {shown} (Beijing time)"


def time_left(due: When, sent: date, lang: str) -> str:
    """How long until something is due, from the day the mail goes out: "还有7天" / "7 days left",
    "今天截止" / "due today", "已逾期3天" / "3 days overdue" (issue 17)."""
    n = (due.day - sent).days
    if lang == "zh":
        return f"还有{n}天" if n > 0 else "今天截止" if n == 0 else f"已逾期{-n}天"
    if n == 0:
        return "due today"
    days = f"{abs(n)} day{'' if abs(n) == 1 else 's'}"
    return f"{days} left" if n > 0 else f"{days} overdue"


def yuan_filter(value: Any, lang: str = "zh") -> str:
    """Jinja filter `yuan`: an amount in yuan as the machines keep it ("5000000", "300000.5") with thousands
    separators: "5,000,000 元" / "CNY 5,000,000"."""
    try:
        text = f"{Decimal(str(value)):,}"
    except InvalidOperation:
        text = str(value)
    return f"{text} 元" if lang == "zh" else f"CNY {text}"


def day_filter(value: Any, lang: str = "zh", ref: date | None = None) -> str:
    """Jinja filter `day`: an ISO date (as the machines pass them) as a mail says it."""
    return day_text(value if isinstance(value, date) else date.fromisoformat(str(value)[:10]), lang, ref)


@dataclass(frozen=True)
class Rendered:
    event: str
    lang: str
    subject: str
    title: str
    what: str
    text: str
    html: str
    commands: tuple[str, ...]
    due: When | None


def template_dirs() -> list[str]:
    """Where templates are found: each registered process's own folder (`machines/<process>/templates/`),
    then the shared layouts here. Event names begin with their process's name, so they never collide."""
    from workflow import registry

    homes = {str(d.home / "templates") for d in registry.definitions() if d.home is not None}
    return [*sorted(homes), str(Path(__file__).parent / "templates")]


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dirs()),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False,
                                            default=False),
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["day"] = day_filter
    env.filters["yuan"] = yuan_filter
    return env


def template_name(lang: str, event: str) -> str:
    return f"{lang}/{event}.j2"


# Compiled templates by name, per environment (a test may swap the environment). Filled by
# `validate_templates()` from the trees it has already parsed, so a template is parsed and compiled once
# per process, and finding one costs a dict lookup. Their globals are a plain snapshot of the
# environment's (jinja's default is a ChainMap over them, which every render copies key by key: a
# sixth of the time a mail takes to render); nothing here changes the globals after start.
_COMPILED: weakref.WeakKeyDictionary[jinja2.Environment, dict[str, jinja2.Template]] = weakref.WeakKeyDictionary()


def _compiled(env: jinja2.Environment) -> dict[str, jinja2.Template]:
    found = _COMPILED.get(env)
    if found is None:
        found = _COMPILED[env] = {}
    return found


def _compile(env: jinja2.Environment, name: str, tree: nodes.Template | None = None) -> jinja2.Template:
    if env.loader is None:
        raise jinja2.TemplateNotFound(name)
    source, filename, uptodate = env.loader.get_source(env, name)
    code = env.compile(tree if tree is not None else source, name, filename)
    template = env.template_class.from_code(env, code, dict(env.globals), uptodate)
    _compiled(env)[name] = template
    return template


def get_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """A compiled template (`jinja2.TemplateNotFound` when there is none)."""
    found = _compiled(env).get(name)
    return found if found is not None else _compile(env, name)


def process_names(lang: str) -> dict[str, str]:
    """What people call each process in `lang`, from the registry (each definition's `names`)."""
    from workflow import registry

    return registry.names_in(lang)


def one_line(text: str) -> str:
    """Collapse every run of whitespace (CR/LF included) to one space: safe in a header."""
    return " ".join(str(text).split())


# -- rendering ---------------------------------------------------------------------------------------
def commands_for(case: int | None, person: str | None, actions: Iterable[str],
                 with_override: Iterable[str] = (), needs: dict[str, list[str]] | None = None) -> list[str]:
    """The exact commands to act: one `case advance` per action, else `case show`. An action that passes
    a rule only with a reason (R-2.5) shows `--override REASON`, for the recipient to fill in; one that
    needs options shows them with a placeholder (`submit --plan TEXT`, issue 17), `needs[action]`."""
    if case is None:
        return []
    as_ = shlex.quote(person) if person else "YOU"
    overrides = set(with_override)
    found = []
    for a in actions:
        extra = "".join(f" {flag}" for flag in (needs or {}).get(a, ()))
        found.append(f"outpost case advance {case} {shlex.quote(a)} --as {as_}{extra}"
                     + (" --override REASON" if a in overrides else ""))
    return found or [f"outpost case show {case}"]


_PLACEHOLDERS = {"text": "TEXT", "number": "N", "date": "YYYY-MM-DD", "id": "ID", "person": "PERSON",
                 "amount": "YUAN", "multi": "VALUE"}


def required_options(process: str, action: str, extra: tuple[str, ...] = ()) -> list[str]:
    """`--flag PLACEHOLDER` for each option a trigger cannot do without: those of its transition that the
    definition marks `required`, and `extra` (what the case needs now, e.g. the annual report's plan,
    R-5.2, which the machine passes as the mail's `needs`)."""
    from workflow import registry

    if not process or not registry.has(process):
        return [f"--{name.replace('_', '-')} {_PLACEHOLDERS['text']}" for name in extra]
    definition = registry.latest(process)
    options = {o.name: o for o in definition.options}
    wanted = [t.options for t in definition.transitions if t.trigger == action]
    names = [n for n in sorted(set().union(*wanted)) if n in options and options[n].required] if wanted else []
    names += [n for n in extra if n not in names]
    return [f"{options[n].flag if n in options else '--' + n.replace('_', '-')} "
            f"{_PLACEHOLDERS.get(options[n].kind, 'TEXT') if n in options else 'TEXT'}" for n in names]


def context(mail: Mail, org: Org | None = None, lang: str | None = None,
            allowed: Iterable[str] | None = None, action_url: str | None = None) -> dict[str, Any]:
    """The variables every template sees. `allowed`: the actions the recipient may take now (None: all);
    `action_url`: the recipient's single-use web link to act (None: no link in this message)."""
    lang = lang or mail.lang or "zh"
    p = dict(mail.params)
    rcpt = mail.recipients[0] if mail.recipients else {}
    person = rcpt.get("person")
    actions = [str(a) for a in p.get("actions") or []]
    with_override: set[str] = set()
    if allowed is not None:
        keep = set()
        for entry in allowed:  # "approve", or "approve+override" (notifications/delivery.py ActionFilter)
            name, _, mark = str(entry).partition("+")
            keep.add(name)
            if mark == "override":
                with_override.add(name)
        actions = [a for a in actions if a in keep]
    case = p.get("case", mail.case_id)
    subject = p.get("subject")
    office = p.get("office")
    subject_person = org.person(subject) if org is not None and subject else None
    office_row = org.offices.get(office) if org is not None and office else None
    recipient_person = org.person(person) if org is not None and person else None
    due_at = p.get("due_at")
    event_at = p.get("event_at")
    process = str(p.get("process") or "")
    send_on = When(datetime.fromisoformat(p["send_at"]) if p.get("send_at") else mail.created_at, lang)
    due = When(datetime.fromisoformat(due_at), lang, deadline=True, ref=send_on.day) if due_at else None
    reminder = any(mark in mail.event.rpartition(".")[2] for mark in REMINDER_MARKS)
    given_needs: dict[str, Any] = p["needs"] if isinstance(p.get("needs"), dict) else {}
    needs = {a: required_options(process, a, tuple(str(n) for n in given_needs.get(a) or ())) for a in actions}
    return {
        "lang": lang,
        "event": mail.event,
        "case": case,
        "process": process,
        "process_name": process_names(lang).get(process, process),
        "office": office,
        "office_name": office_row.name if office_row else (office or ""),
        "state": p.get("state"),
        # what the process calls the state and the step (texts.toml in its folder), else the code itself
        "state_name": state_name(process, lang, str(p["state"])) if p.get("state") else "",
        "trigger_name": action_name(process, lang, str(p["trigger"])) if p.get("trigger") else "",
        "subject": subject,
        "subject_name": subject_person.name if subject_person else (subject or ""),
        "period": p.get("period"),
        "rule": p.get("rule") or "",
        "recipient": person,
        "recipient_name": rcpt.get("name") or (recipient_person.name if recipient_person else person or ""),
        "due": due,
        "left": time_left(due, send_on.day, lang) if due is not None and reminder else None,
        "send_on": send_on,
        "event_on": When(datetime.fromisoformat(event_at) if event_at else mail.created_at, lang),
        "actions": actions,
        "commands": commands_for(case, person, actions, with_override, needs),
        "show_command": f"outpost case show {case}" if case is not None else "",
        "params": p,
        "acting_for": rcpt.get("acting_for"),  # a delegate's copy (issue 15.4): they act for this person
        "acting_for_name": rcpt.get("acting_for_name") or rcpt.get("acting_for") or "",
        "action_url": action_url if actions or case is None else None,  # a sign-in link has no case
    }


def render(mail: Mail, org: Org | None = None, lang: str | None = None,
           allowed: Iterable[str] | None = None, action_url: str | None = None) -> Rendered:
    """Subject, plain text and HTML of one outbox row."""
    ctx = context(mail, org, lang, allowed, action_url)
    lang = ctx["lang"]
    env = environment()
    compiled = _compiled(env)

    def template(name: str) -> jinja2.Template:
        return compiled.get(name) or _compile(env, name)

    try:
        module = template(template_name(lang, mail.event)).make_module(ctx)
        title = one_line(str(getattr(module, "title", "")))
        what = str(getattr(module, "what", "")).strip()
        if not title or not what:
            raise TemplateProblem([f"{template_name(lang, mail.event)}: renders an empty title or what"])
        facts = [line.strip() for line in str(getattr(module, "facts", "")).splitlines() if line.strip()]
        ctx["title"], ctx["what"], ctx["facts"] = title, what, facts
        subject = one_line(template(f"{lang}/_subject.txt").render(ctx))
        text = template(f"{lang}/_layout.txt").render(ctx).strip() + "\n"
        html = template(f"{lang}/_layout.html").render(ctx)
    except jinja2.TemplateNotFound as exc:
        raise TemplateProblem([f"no template {exc.name} for event {mail.event!r}"]) from None
    except jinja2.TemplateError as exc:  # undefined variable, syntax error
        raise TemplateProblem([f"{template_name(lang, mail.event)}: {exc}"]) from None
    return Rendered(event=mail.event, lang=lang, subject=subject, title=title, what=what, text=text,
                    html=html, commands=tuple(ctx["commands"]), due=ctx["due"])


# -- validation --------------------------------------------------------------------------------------
def registered_events() -> list[str]:
    """Every mail event of every registered process definition, and the engine's own (`receipt`)."""
    from workflow import registry
    from workflow.service import ENGINE_EVENTS

    found: list[str] = list(ENGINE_EVENTS)
    for name in registry.names():
        found += registry.latest(name).all_events
    return list(dict.fromkeys(found))


def check_template(env: jinja2.Environment, name: str, require: Sequence[str] = ()) -> list[str]:
    """Problems of one template: missing, syntax, unknown variables, texts it must set but does not,
    templates it imports that are missing or broken. Parsed and compiled once: the compiled template
    is the one rendering uses."""
    try:
        source, filename, _ = env.loader.get_source(env, name) if env.loader else ("", None, None)
    except jinja2.TemplateNotFound:
        return [f"missing {name}"]
    try:
        tree = env.parse(source, name, filename)
    except jinja2.TemplateSyntaxError as exc:
        return [f"{name} line {exc.lineno}: {exc.message}"]
    problems: list[str] = []
    unknown = sorted(meta.find_undeclared_variables(tree) - CONTEXT_NAMES - set(REQUIRED_TEXTS)
                     - set(OPTIONAL_TEXTS))
    if unknown:
        problems.append(f"{name}: unknown variable {', '.join(unknown)}")
    assigned = {n.target.name for n in tree.body if isinstance(n, nodes.Assign | nodes.AssignBlock)
                and isinstance(n.target, nodes.Name)}
    for text in require:
        if text not in assigned:
            problems.append(f"{name}: does not set {text!r}")
    try:
        _compile(env, name, tree)  # from the tree parsed above: no second parse
        for imported in meta.find_referenced_templates(tree):
            if imported is not None:
                # the macros it imports: present and compiling, and in jinja's own cache, where `{% from %}`
                # looks when a mail is rendered
                env.get_template(imported)
    except jinja2.TemplateError as exc:
        problems.append(f"{name}: {exc}")
    return problems


_VALIDATED: weakref.WeakKeyDictionary[jinja2.Environment, set[tuple[tuple[str, ...], tuple[str, ...]]]] = \
    weakref.WeakKeyDictionary()


def validate_templates(events: Iterable[str] | None = None, languages: Sequence[str] = LANGUAGES) -> None:
    """Raise `TemplateProblem` naming every missing or broken template (layouts, then each event).

    A set that passed is not checked again in this process: the templates are package files, read
    once (no auto-reload), so the daemon's start and each of its delivery passes share one check."""
    env = environment()
    wanted = tuple(events) if events is not None else tuple(registered_events())
    key = (wanted, tuple(languages))
    passed = _VALIDATED.setdefault(env, set())
    if key in passed:
        return
    problems: list[str] = []
    for lang in languages:
        for layout in LAYOUTS:
            problems += check_template(env, f"{lang}/{layout}")
        for event in wanted:
            problems += check_template(env, template_name(lang, event), REQUIRED_TEXTS)
    if problems:
        raise TemplateProblem(problems)
    passed.add(key)
