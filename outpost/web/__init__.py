"""The web front door (`outpost web`): mailed action links, sign-in by mailed link, my tasks, a case,
the General Office's dashboard and the compliance pictures. Server-rendered (Jinja2), no script.

It is a front door beside the CLI: every step goes through the same `CaseService` (permissions, guards,
overrides with a reason), and its refusals carry the same rule ids. It keeps no state in the process
(sessions, links and the sign-in rate limit live in the database), so several can run behind a proxy.

Mail scanners open every link: a GET or HEAD changes nothing anywhere; only a POST from a real button
acts, and the page has no script that could submit it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from outpost.app import App
from outpost.links import ACTION, LOGIN, Claim, LinkInvalid
from outpost.web import charts
from outpost.web.i18n import REJECTING, SHOWN_FIELDS, field_name, money, words
from workflow import registry
from workflow.errors import BadInput, Conflict, NotFound, SchemaMismatch, WorkflowError
from workflow.model import Case, Due, Org, Person
from workflow.ports import Tx
from workflow.service import SIGN_IN
from workflow.texts import action_name, deadline_name, state_name, text
from workflow.timeutil import LOCAL_TZ, local_date

HERE = Path(__file__).parent
THREADS = 8  # request threads of one web process (each holds one database connection)
GENERAL_OFFICE_ROLES = frozenset({"clerk", "finance", "auditor", "org_dept", "supervising_leader"})

SECURITY_HEADERS = (
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class SecurityHeaders:
    """Pure ASGI middleware: the headers above on every response (pages, errors, static files)."""

    def __init__(self, inner: Callable[[Scope, Receive, Send], Awaitable[None]], secure: bool) -> None:
        self.inner = inner
        self.headers = [*SECURITY_HEADERS,
                        *([(b"strict-transport-security", b"max-age=31536000")] if secure else [])]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers[name.decode()] = value.decode()
            await send(message)

        await self.inner(scope, receive, with_headers)


def _fmt(at: datetime | str | None, lang: str) -> str:
    if at is None:
        return ""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    local = when.astimezone(LOCAL_TZ)
    return local.strftime("%Y-%m-%d %H:%M")


def _status_of(exc: WorkflowError) -> int:
    return {2: 400, 3: 403, 4: 409, 5: 409}.get(exc.exit_code, 500)


class Web:
    """The pages, over one `App` (the composition root)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.lang = app.settings.language
        self.w = words(self.lang)
        self.secure = app.settings.web.secure
        self.cookie = "__Host-outpost_session" if self.secure else "outpost_session"
        # SQLite has one writer: steps of this process's request threads queue here instead of in SQLite's
        # busy handler, which sleeps in growing steps (1 s at the 99th percentile with 20 clients)
        self.writing: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if app.store.dialect == "sqlite" else contextlib.nullcontext())
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                                      autoescape=True, undefined=jinja2.StrictUndefined, auto_reload=False)
        from itsdangerous import URLSafeTimedSerializer

        from outpost.links import KeyedSigner

        # no signing key is bad input here, at start, not at the first request
        self._csrf = URLSafeTimedSerializer(list(reversed(self._keys())), salt="outpost.web.csrf",
                                            signer=KeyedSigner)
        self._csrf_made: dict[str, tuple[str, float]] = {}
        # A confirmation page only reads, and on SQLite its reads are a few indexed lookups in the local file
        # that never wait for a writer (WAL): it is built on the event loop rather than handed to a request
        # thread, whose hand-over and fight for the GIL cost more than the page (bench/web_bench.py). On
        # PostgreSQL every read is a round trip, and pages go to the threads.
        self.inline_reads = app.store.dialect == "sqlite"
        self._rendered: dict[str, str] = {}  # anonymous pages by every value they show (`page`)
        app.links  # noqa: B018 - built now for the same reason

    def _keys(self) -> tuple[str, ...]:
        from outpost.links import signing_keys

        return signing_keys(self.app.settings)

    # -- helpers -----------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.app.clock.now()

    def page(self, name: str, status: int = 200, me: Person | None = None, csrf: str | None = None,
             **ctx: Any) -> HTMLResponse:
        office_view = me is not None and bool(me.roles & GENERAL_OFFICE_ROLES)
        ctx.update(this_year=local_date(self.now()).year, title=ctx.pop("title", self.w["app"]))
        # The pages nobody is signed in for (a link's confirmation, the neutral page, sign-in) are what mail
        # scanners fetch, several times each, before the person does: the same values give the same HTML,
        # kept for a while. The key is every value the template is given (their repr), so nothing shown can be stale;
        # what decides the values (the token, the link, the case, who may act) is read on every request.
        key = repr((name, ctx)) if me is None else None
        if key is not None and " at 0x" in key:  # a value shown by its address, not its content: not kept
            key = None
        html = self._rendered.get(key) if key is not None else None
        if html is None:
            html = self.env.get_template(name).render(lang=self.lang, w=self.w, me=me, csrf=csrf,
                                                      office_view=office_view, **ctx)
            if key is not None:
                if len(self._rendered) >= 512:
                    self._rendered.clear()
                self._rendered[key] = html
        return HTMLResponse(html, status_code=status)

    def message(self, title: str, text: str, status: int, me: Person | None = None, csrf: str | None = None,
                link: str | None = None, link_text: str = "") -> HTMLResponse:
        return self.page("message.html", status, me, csrf, title=title, text=text, link=link, link_text=link_text)

    def gone(self) -> HTMLResponse:
        """The one neutral answer to every link that does not work (HTTP 410); it tells nothing more."""
        return self.message(self.w["gone_title"], self.w["gone_text"], 410, link="/login", link_text=self.w["sign_in"])

    def csrf_token(self, scope: str) -> str:
        """A signed, dated token for the forms of `scope` (a link's nonce, "login"). One made in the last
        minute for the same scope is given again: its age is the same to a minute, and signing is a good
        part of a confirmation page's time."""
        now = time.monotonic()
        made = self._csrf_made.get(scope)
        if made is not None and now - made[1] < 60:
            return made[0]
        token = str(self._csrf.dumps(scope))
        if len(self._csrf_made) >= 4096:
            self._csrf_made.clear()
        self._csrf_made[scope] = (token, now)
        return token

    def csrf_ok(self, scope: str, value: Any, hours: int = 24) -> bool:
        if not isinstance(value, str) or len(value) > 500:
            return False
        try:
            return bool(self._csrf.loads(value, max_age=hours * 3600) == scope)
        except Exception:  # any bad signature, age or payload: refused
            return False

    def due(self, process: str, d: Due) -> dict[str, str]:
        """A pending deadline as a page shows it: when, what happens then, and why then. The explanation of
        the date is the engine's own English sentence; a Chinese page gives the rule it comes from."""
        return {"at": _fmt(d.due_at, self.lang), "what": deadline_name(process, self.lang, d.kind),
                "why": d.why if self.lang == "en" else f"{self.w['why']} {d.rule_id}"}

    def done(self, case: Case, action: str, with_case: bool = False) -> str:
        """What a step taken on the web says: 案件 3：批准 → 已批准。已记录。确认邮件已发给您。"""
        line = self.w["done_line"].format(action=action_name(case.process, self.lang, action),
                                          state=state_name(case.process, self.lang, case.state))
        return (self.w["done_case"].format(case=case.id) if with_case else "") + line + self.w["done_text"]

    def process_name(self, process: str) -> str:
        return registry.names_in(self.lang).get(process, process)

    def fields(self, case: Case, extra: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        out = []
        for key in (*SHOWN_FIELDS, *extra):
            if key in case.data and case.data[key] not in (None, ""):
                value = case.data[key]
                out.append((field_name(self.lang, key),
                            money(value) if key == "amount" else f"{value} {self.w['days']}"
                            if key in ("days", "total_days") else str(value)))
        if case.period and "period" not in case.data:
            out.append((field_name(self.lang, "period"), case.period))
        return out

    # -- who is asking ---------------------------------------------------------------------------
    def viewer(self, request: Request, touch: bool = True) -> tuple[Person | None, str | None]:
        """The signed-in person and the CSRF token of their forms, from the session cookie (or the trusted
        proxy's header, when configured). `touch` False: only look (nothing written)."""
        header = self.app.settings.web.trusted_user_header
        if header:
            who = request.headers.get(header)
            if who:
                person = self._person(who)
                if person is None:
                    return None, None
                mac = hmac.new(self._keys()[0].encode(), f"csrf:{person.id}".encode(), hashlib.sha256)
                return person, mac.hexdigest()
        sid = request.cookies.get(self.cookie)
        if not sid or len(sid) > 200:
            return None, None
        idle = timedelta(minutes=self.app.policy.int("web.session_idle_minutes"))
        now = self.now()
        session = self.app.web_store.session(_hash(sid), now, now - idle, touch=touch)
        if session is None:
            return None, None
        person = self.app.service.org().person(session.person)
        if person is None or not person.active:
            return None, None
        return person, session.csrf

    def _person(self, who: str) -> Person | None:
        org = self.app.service.org()
        person = org.person(who)
        if person is None:
            wanted = who.strip().lower()
            person = next((p for p in org.people.values() if p.email and p.email.lower() == wanted), None)
        return person if person is not None and person.active else None

    # -- action links ------------------------------------------------------------------------------
    def _check_link(self, tx: Tx, claim: Claim, case: Case | None = None) -> Case:
        link = tx.get_link(claim.nonce)
        if (link is None or link.purpose != ACTION or link.person != claim.person or link.case_id != claim.case_id
                or link.case_version != claim.case_version):
            raise LinkInvalid("unknown")
        if link.used_at is not None:
            raise LinkInvalid("used")
        if link.expires_at <= self.now():
            raise LinkInvalid("expired")
        if claim.case_id is None:
            raise LinkInvalid("no case")
        case = case or tx.get_case(claim.case_id)
        if case is None:
            raise LinkInvalid("no case")
        if case.version != link.case_version:
            # A reminder or a recorded note since the mail changes the version, not the case's course: the
            # link stands while every history row after it kept the state.
            seq = link.case_seq or 0
            if any(h.from_state != h.to_state for h in tx.history(case.id) if h.seq > seq):
                raise LinkInvalid("moved on")
        return case

    def _steps(self, tx: Tx, case: Case, person: str,
               only: tuple[str, ...] | None = None) -> tuple[list[dict[str, Any]], bool, list[dict[str, Any]]]:
        """The steps `person` may take on the case now (of `only`), whether one needs a reason for passing a
        rule, and the fields the page asks for: a step whose rule only wants one of its options (the annual
        report's --plan, R-5.2; an assessment's --score; a payment's --reference) is offered with a field
        for it, as the CLI's `case triggers` lists it (CaseService.options_wanted)."""
        service = self.app.service
        definition = registry.get(case.process, case.definition_version)
        allowed, wanted = [], []
        for info in service.triggers(case.id, person, only=only, tx=tx, case=case):
            spec = definition.transition(info.trigger, case.state)
            names = service.options_wanted(spec, info) if spec is not None and not info.allowed else []
            if names:
                again = service.triggers(case.id, person, only=(info.trigger,), given={info.trigger: names},
                                         tx=tx, case=case)
                info = again[0] if again else info
            if info.allowed:
                allowed.append(info)
                wanted += [n for n in names if n not in wanted]
        actions = [{"trigger": i.trigger, "label": action_name(case.process, self.lang, i.trigger),
                    "rejecting": i.trigger in REJECTING} for i in allowed]
        options = {o.name: o for o in definition.options}
        fields = [{"name": n, "kind": options[n].kind if n in options else "text",
                   "label": text(case.process, self.lang, "options", n)
                   or (options[n].help if n in options else n)} for n in wanted]
        return actions, any(i.needs_override for i in allowed), fields

    def _options_of(self, form: dict[str, str], case_id: int, action: str) -> dict[str, str]:
        """The options of `action` filled in on the form (`opt_<name>`), as the case is now."""
        with self.app.store.transaction(write=False) as tx:
            case = tx.get_case(case_id)
        spec = registry.get(case.process, case.definition_version).transition(action, case.state) if case else None
        names = spec.options if spec is not None else frozenset()
        return {n: form[f"opt_{n}"].strip() for n in sorted(names) if form.get(f"opt_{n}", "").strip()}

    def confirm_page(self, token: str, status: int = 200, error: str | None = None, comment: str | None = None,
                     override: str | None = None, viewer: str | None = None,
                     values: dict[str, str] | None = None) -> HTMLResponse:
        try:
            claim, _data = self.app.links.verify(ACTION, token)
            if viewer is not None and viewer != claim.person:
                raise LinkInvalid("another person's link")
            # everything the page shows in one read transaction: the link, the case, what may be done,
            # the organisation (cached by its version) and the pending deadlines
            with self.app.store.transaction(write=False) as tx:
                case = self._check_link(tx, claim)
                actions, needs_override, options = self._steps(tx, case, claim.person, claim.actions)
                if not actions:
                    return self.gone()
                org = tx.org()
                pending = tx.next_due(case.id, limit=2)
        except (LinkInvalid, NotFound):
            return self.gone()
        subject = org.person(case.subject) if case.subject else None
        office = org.offices.get(case.office) if case.office else None
        due = [self.due(case.process, d) for d in pending]
        return self.page("confirm.html", status, title=self.w["confirm_title"], case_id=case.id,
                         process_name=self.process_name(case.process), office_name=office.name if office else "",
                         subject_name=subject.name if subject else "", fields=self.fields(case),
                         state_name=state_name(case.process, self.lang, case.state), due=due, actions=actions,
                         needs_override=needs_override, options=[{**f, "value": (values or {}).get(f["name"], "")}
                                                                 for f in options],
                         csrf_field=self.csrf_token("a:" + claim.nonce), action_path=f"/a/{token}", error=error,
                         comment=comment, override=override)

    def act_by_link(self, token: str, form: dict[str, str], ip: str, agent: str,
                    viewer: str | None = None) -> HTMLResponse:
        try:
            claim, _data = self.app.links.verify(ACTION, token)
        except LinkInvalid:
            return self.gone()
        if viewer is not None and viewer != claim.person:  # signed in as someone else: not theirs to use
            return self.gone()
        action = form.get("action", "")
        if not self.csrf_ok("a:" + claim.nonce, form.get("csrf"), hours=self.app.policy.int("web.action_link_hours")):
            return self.message(self.w["error"], self.w["csrf"], 403)
        if action not in claim.actions:
            return self.gone()
        comment = form.get("comment", "").strip() or None
        override = form.get("override", "").strip() or None
        values = self._options_of(form, claim.case_id or 0, action)
        if action in REJECTING and not comment:
            return self.confirm_page(token, 400, self.w["comment_needed"], comment, override, viewer, values)

        def before(tx: Tx, case: Case) -> None:
            self._check_link(tx, claim, case)
            if not tx.use_link(claim.nonce, ACTION, self.now()):
                raise LinkInvalid("used")

        try:
            with self.writing:
                case = self.app.service.advance(claim.case_id or 0, action, claim.person, comment=comment,
                                                override=override, options=values, before=before, receipt=True,
                                                channel=_channel(ip, agent, "link"))
        except (LinkInvalid, Conflict, NotFound):
            return self.gone()
        except WorkflowError as exc:  # a rule or a permission said no: the same words as the CLI's
            return self.confirm_page(token, _status_of(exc), str(exc), comment, override, viewer, values)
        return self.message(self.w["done_title"], self.done(case, action, with_case=True), 200)

    # -- signing in --------------------------------------------------------------------------------
    def ask_link(self, form: dict[str, str], ip: str) -> HTMLResponse:
        if not self.csrf_ok("login", form.get("csrf"), hours=2):
            return self.message(self.w["error"], self.w["csrf"], 403)
        email = form.get("email", "").strip().lower()[:254]
        if not email or "@" not in email:
            return self.page("login.html", 400, title=self.w["sign_in"], error=self.w["email"],
                             csrf_field=self.csrf_token("login"))
        now = self.now()
        limit = self.app.policy.int("web.login_attempts_per_hour")
        allowed = self.app.web_store.attempt([(f"email:{email}", limit), (f"ip:{ip}", limit * 4)], now,
                                             now - timedelta(hours=1))
        if not allowed:
            return self.message(self.w["sign_in"], self.w["too_many"], 429)
        person = self._person(email)
        if person is not None and person.email:
            self._queue_sign_in(person, now)
        # the same answer whether or not the address is known
        return self.message(self.w["sign_in"], self.w["login_sent"], 200)

    def _queue_sign_in(self, person: Person, now: datetime) -> None:
        from workflow.model import Mail

        key = f"sign_in:{person.id}:{secrets.token_hex(8)}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        domain = self.app.service.mail_domain
        mail = Mail(case_id=None, event=SIGN_IN, dedupe_key=key, message_id=f"<{digest}@{domain}>",
                    recipients=[{"person": person.id, "name": person.name, "email": person.email}],
                    params={"case": None, "rule": "", "event_at": now.isoformat(), "actions": []},
                    lang=self.lang, created_at=now, next_attempt_at=now)
        with self.app.store.transaction() as tx:
            tx.queue_mail([mail])

    def _login_claim(self, token: str) -> tuple[Claim, Person]:
        claim, _data = self.app.links.verify(LOGIN, token)
        link = self.app.web_store.get_link(claim.nonce)
        if link is None or link.purpose != LOGIN or link.person != claim.person or link.used_at is not None \
                or link.expires_at <= self.now():
            raise LinkInvalid("login")
        person = self.app.service.org().person(claim.person)
        if person is None or not person.active:
            raise LinkInvalid("person")
        return claim, person

    def login_page(self, token: str) -> HTMLResponse:
        try:
            claim, person = self._login_claim(token)
        except LinkInvalid:
            return self.gone()
        return self.page("login_confirm.html", title=self.w["login_confirm"], person_name=person.name,
                         csrf_field=self.csrf_token("l:" + claim.nonce), action_path=f"/login/{token}")

    def sign_in(self, token: str, form: dict[str, str], old_sid: str | None) -> Response:
        try:
            claim, person = self._login_claim(token)
        except LinkInvalid:
            return self.gone()
        if not self.csrf_ok("l:" + claim.nonce, form.get("csrf"), hours=1):
            return self.message(self.w["error"], self.w["csrf"], 403)
        now = self.now()
        if not self.app.web_store.use_link(claim.nonce, LOGIN, now):
            return self.gone()
        if old_sid:  # whatever session the browser had ends: a fresh id at sign-in (no fixation)
            self.app.web_store.end_session(_hash(old_sid), now)
        sid = secrets.token_urlsafe(32)
        self.app.web_store.start_session(_hash(sid), person.id, secrets.token_urlsafe(24), now)
        response = RedirectResponse("/tasks", status_code=303)
        response.set_cookie(self.cookie, sid, httponly=True, samesite="lax", secure=self.secure, path="/")
        return response

    def sign_out(self, request: Request, form: dict[str, str]) -> Response:
        me, csrf = self.viewer(request)
        if me is None or csrf is None or not hmac.compare_digest(str(form.get("csrf", "")), csrf):
            return self.message(self.w["error"], self.w["csrf"], 403)
        sid = request.cookies.get(self.cookie)
        if sid:
            self.app.web_store.end_session(_hash(sid), self.now())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(self.cookie, path="/", secure=self.secure, httponly=True, samesite="lax")
        return response

    # -- pages for the signed-in ---------------------------------------------------------------------
    def open_states(self) -> dict[str, tuple[str, ...]]:
        return {name: registry.open_states(name) for name in registry.names()}

    def tasks(self, me: Person, csrf: str) -> HTMLResponse:
        now = self.now()
        out: list[dict[str, Any]] = []
        # one read transaction for the page: what may be done on each open case, and its next deadline
        with self.app.store.transaction(write=False) as tx:
            org = tx.org()
            mine_of: list[tuple[Case, list[str], Due | None]] = []
            for case in self.app.web_store.open_cases(tx, self.open_states()):
                try:
                    infos = self.app.service.triggers(case.id, me.id, tx=tx, case=case)
                except WorkflowError:
                    continue
                mine = [i.trigger for i in infos if i.allowed]
                if mine:
                    pending = tx.next_due(case.id, limit=1)
                    mine_of.append((case, mine, pending[0] if pending else None))
        for case, mine, first in mine_of:
            subject = org.person(case.subject) if case.subject else None
            office = org.offices.get(case.office) if case.office else None
            out.append({"id": case.id, "process_name": self.process_name(case.process),
                        "state_name": state_name(case.process, self.lang, case.state),
                        "office_name": office.name if office else "", "subject_name": subject.name if subject else "",
                        "actions": [action_name(case.process, self.lang, t) for t in mine],
                        "due_at": first.due_at if first else None,
                        "next": self.due(case.process, first) if first else None,
                        "late": bool(first and first.due_at <= now)})
        # the one falling due first on top; cases with no date after them, newest first
        out.sort(key=lambda t: (t["due_at"] is None, t["due_at"] or now, -int(t["id"])))
        return self.page("tasks.html", me=me, csrf=csrf, title=self.w["tasks"], tasks=out)

    def may_view(self, me: Person, case: Case, mine: list[str]) -> bool:
        if me.roles & GENERAL_OFFICE_ROLES or mine:
            return True
        if me.id in (case.subject, case.opened_by, case.data.get("requester")):
            return True
        return me.office is not None and me.office == case.office and bool(
            me.roles & {"director", "deputy_director"})

    def case_page(self, me: Person, csrf: str, case_id: int, status: int = 200, error: str | None = None,
                  notice: str | None = None) -> HTMLResponse:
        with self.app.store.transaction(write=False) as tx:  # all the page shows, in one read
            case = tx.get_case(case_id)
            if case is None:
                return self.message(self.w["not_found"], self.w["not_found"], 404, me, csrf)
            deadlines = tx.next_due(case_id)
            history = tx.history(case_id)
            actions, needs_override, options = self._steps(tx, case, me.id)
            org = tx.org()
        if not self.may_view(me, case, [a["trigger"] for a in actions]):
            return self.message(self.w["not_found"], self.w["not_found"], 404, me, csrf)
        subject = org.person(case.subject) if case.subject else None
        office = org.offices.get(case.office) if case.office else None
        definition = registry.get(case.process, case.definition_version)
        return self.page(
            "case.html", status, me, csrf, title=f"{self.w['case']} {case.id}", case=case,
            process_name=self.process_name(case.process), state_name=state_name(case.process, self.lang, case.state),
            office_name=office.name if office else "", subject_name=subject.name if subject else "",
            fields=self.fields(case, ("title",)), error=error, notice=notice,
            actions=actions, needs_override=needs_override, options=[{**f, "value": ""} for f in options],
            deadlines=[self.due(case.process, d) for d in deadlines],
            history=[{"seq": h.seq, "at": _fmt(h.at, self.lang),
                      "actor": _name_of(org, h.actor) or self.w["system"],
                      "trigger": self.w["opened"] if h.trigger == "open" else action_name(case.process, self.lang,
                                                                                           h.trigger),
                      "from": state_name(case.process, self.lang, h.from_state) if h.from_state else "∅",
                      "to": state_name(case.process, self.lang, h.to_state), "comment": h.comment,
                      "channel": (h.details or {}).get("channel")} for h in history],
            diagram=Markup(diagram_svg(definition.name, definition.version, case.state, self.lang)))

    def act_on_case(self, me: Person, csrf: str, case_id: int, form: dict[str, str], ip: str,
                    agent: str) -> HTMLResponse:
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf):
            return self.message(self.w["error"], self.w["csrf"], 403, me, csrf)
        action = form.get("action", "")
        comment = form.get("comment", "").strip() or None
        override = form.get("override", "").strip() or None
        if action in REJECTING and not comment:
            return self.case_page(me, csrf, case_id, 400, self.w["comment_needed"])
        try:
            values = self._options_of(form, case_id, action)
            with self.writing:
                case = self.app.service.advance(case_id, action, me.id, comment=comment, override=override,
                                                options=values, receipt=True, channel=_channel(ip, agent, "session"))
        except NotFound:
            return self.message(self.w["not_found"], self.w["not_found"], 404, me, csrf)
        except WorkflowError as exc:
            return self.case_page(me, csrf, case_id, _status_of(exc), str(exc))
        return self.case_page(me, csrf, case_id, 200, notice=self.done(case, action))

    def dashboard(self, me: Person, csrf: str) -> HTMLResponse:
        from outpost.status import heartbeats

        now = self.now()
        counts = self.app.web_store.open_counts(self.open_states(), now)
        failed_mail, failed_deadlines = self.app.web_store.failed_counts()
        processes = sorted({p for _o, p in counts})
        offices = sorted({o or "" for o, _p in counts})
        known = self.app.service.org().offices
        rows = []
        for office in offices:
            cells = [{"open": counts.get((office or None, p), (0, 0))[0],
                      "overdue": counts.get((office or None, p), (0, 0))[1]} for p in processes]
            name = known[office].name if office in known else office or self.w["general_office"]
            rows.append({"office": name, "cells": cells, "open": sum(c["open"] for c in cells),
                         "overdue": sum(c["overdue"] for c in cells)})
        daemons = [{"owner": b["owner"], "at": _fmt(b["at"], self.lang), "alive": b["alive"]}
                   for b in heartbeats(self.app, now)]
        return self.page("dashboard.html", me=me, csrf=csrf, title=self.w["dashboard"], rows=rows,
                         processes=[{"name": p, "label": self.process_name(p)} for p in processes],
                         failed_mail=failed_mail, failed_deadlines=failed_deadlines, daemons=daemons)

    def compliance(self, me: Person, csrf: str, year: int) -> HTMLResponse:
        offices, _ranking = self.app.compliance(year)
        w = self.w
        return self.page(
            "compliance.html", me=me, csrf=csrf, title=f"{w['compliance']} {year}", year=year,
            investment_chart=Markup(charts.investment(offices, w["investment"])),
            reports_chart=Markup(charts.reports(offices, w["reports"], w)),
            offices=[{"office_name": o["office_name"], "chart": Markup(charts.info_months(o, w["info"]))}
                     for o in offices])


def _name_of(org: Org, person_id: str | None) -> str | None:
    """The person's name, or their id when the organisation no longer has them (None: nobody, the daemon)."""
    person = org.person(person_id) if person_id else None
    return person.name if person is not None else person_id


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def _channel(ip: str, agent: str, how: str) -> dict[str, Any]:
    return {"channel": "web", "via": how, "ip": ip[:64], "user_agent": agent[:300]}


@lru_cache(maxsize=256)
def diagram_svg(process: str, version: int, state: str, lang: str = "zh") -> str:
    """The definition's dot drawing (workflow/diagram.py) as SVG, its states and steps named in `lang` as the
    process names them (texts.toml), with the current state filled."""
    from workflow.diagram import dot

    definition = registry.get(process, version)
    text = dot(definition, {s: state_name(process, lang, s) for s in definition.states},
               {t.trigger: action_name(process, lang, t.trigger) for t in definition.transitions},
               words(lang)["system"]).rstrip().rstrip("}")
    quoted = state.replace('"', '\\"')
    text += f'    "{quoted}" [style="rounded,filled,bold", fillcolor="#ffe082", penwidth=2];\n}}\n'
    exe = shutil.which("dot")
    if exe is None:
        return f"<p>{state}</p>"
    done = subprocess.run([exe, "-Tsvg"], input=text, capture_output=True, text=True, timeout=20, check=False)
    if done.returncode != 0:
        return f"<p>{state}</p>"
    svg = done.stdout
    return svg[svg.find("<svg"):] if "<svg" in svg else f"<p>{state}</p>"


def create_app(app: App) -> Starlette:
    web = Web(app)

    def client(request: Request) -> tuple[str, str]:
        return (request.client.host if request.client else ""), request.headers.get("user-agent", "")

    async def form_of(request: Request) -> dict[str, str]:
        async with request.form(max_files=0, max_fields=20) as form:
            return {k: v for k, v in form.items() if isinstance(v, str)}

    def signed_in(handler: Callable[..., Response]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            form = await form_of(request) if request.method == "POST" else {}

            def run() -> Response:
                me, csrf = web.viewer(request)
                if me is None or csrf is None:
                    return RedirectResponse("/login", status_code=303)
                return handler(request, me, csrf, form)

            return await run_in_threadpool(run)

        return endpoint

    def link_viewer(request: Request) -> str | None:
        """Who is signed in on this browser, if anyone (looked up, nothing written): a link is its
        recipient's; someone else signed in gets the neutral page."""
        me, _csrf = web.viewer(request, touch=False)
        return me.id if me is not None else None

    async def action_link(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "POST":
            form = await form_of(request)
            ip, agent = client(request)
            return await run_in_threadpool(
                lambda: web.act_by_link(token, form, ip, agent, link_viewer(request)))
        if web.inline_reads:
            return web.confirm_page(token, viewer=link_viewer(request))
        return await run_in_threadpool(lambda: web.confirm_page(token, viewer=link_viewer(request)))

    async def login(request: Request) -> Response:
        if request.method == "POST":
            form = await form_of(request)
            return await run_in_threadpool(web.ask_link, form, client(request)[0])
        return web.page("login.html", title=web.w["sign_in"], csrf_field=web.csrf_token("login"), error=None)

    async def login_link(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "POST":
            form = await form_of(request)
            return await run_in_threadpool(web.sign_in, token, form, request.cookies.get(web.cookie))
        return await run_in_threadpool(web.login_page, token)

    async def logout(request: Request) -> Response:
        form = await form_of(request)
        return await run_in_threadpool(web.sign_out, request, form)

    def tasks(request: Request, me: Person, csrf: str, form: dict[str, str]) -> Response:
        return web.tasks(me, csrf)

    def case(request: Request, me: Person, csrf: str, form: dict[str, str]) -> Response:
        try:
            case_id = int(request.path_params["case_id"])
        except ValueError:
            return web.message(web.w["not_found"], web.w["not_found"], 404, me, csrf)
        if request.method == "POST":
            ip, agent = client(request)
            return web.act_on_case(me, csrf, case_id, form, ip, agent)
        return web.case_page(me, csrf, case_id)

    def office_only(me: Person, csrf: str) -> Response | None:
        if me.roles & GENERAL_OFFICE_ROLES:
            return None
        return web.message(web.w["forbidden"], web.w["forbidden"], 403, me, csrf)

    def dashboard(request: Request, me: Person, csrf: str, form: dict[str, str]) -> Response:
        return office_only(me, csrf) or web.dashboard(me, csrf)

    def compliance(request: Request, me: Person, csrf: str, form: dict[str, str]) -> Response:
        refused = office_only(me, csrf)
        if refused is not None:
            return refused
        try:
            year = int(request.path_params["year"])
            if not 2000 <= year <= 2100:
                raise ValueError
        except ValueError:
            return web.message(web.w["not_found"], web.w["not_found"], 404, me, csrf)
        return web.compliance(me, csrf, year)

    def healthz(request: Request) -> Response:
        return JSONResponse(*health(app))

    def home(request: Request) -> Response:
        return RedirectResponse("/tasks", status_code=303)

    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/a/{token}", action_link, methods=["GET", "POST"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/login/{token}", login_link, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/tasks", signed_in(tasks)),
        Route("/cases/{case_id}", signed_in(case), methods=["GET", "POST"]),
        Route("/dashboard", signed_in(dashboard)),
        Route("/compliance/{year}", signed_in(compliance)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The store keeps one connection per thread: as many request threads as the pool has connections
        # (5 + 5 on PostgreSQL), less one for the daemon-like work of a request's own nested reads.
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield

    starlette = Starlette(routes=routes, lifespan=lifespan)
    starlette.add_middleware(SecurityHeaders, secure=web.secure)
    return starlette


def health(app: App) -> tuple[dict[str, Any], int]:
    """`/healthz`: the database answers, its schema is this Outpost's, and a daemon's heartbeat is fresh."""
    from outpost.status import ALIVE_WITHIN, heartbeats

    out: dict[str, Any] = {"database": False, "schema": False, "heartbeat_age_seconds": None}
    try:
        app.check_schema()
        out["database"] = out["schema"] = True
    except SchemaMismatch as exc:
        out["database"], out["problem"] = True, str(exc)
    except Exception as exc:  # the database does not answer: say so, never a traceback
        out["problem"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    if out["database"]:
        try:
            now = app.clock.now()
            beats = [b["at"] for b in heartbeats(app, now)]
            if beats:
                out["heartbeat_age_seconds"] = round((now - max(beats)).total_seconds(), 1)
        except Exception as exc:
            out["problem"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    age = out["heartbeat_age_seconds"]
    out["ok"] = bool(out["database"] and out["schema"] and age is not None
                     and age <= ALIVE_WITHIN.total_seconds())
    return out, 200 if out["ok"] else 503


def serve(app: App, host: str, port: int) -> int:
    """Run the web front door with uvicorn until stopped (SIGTERM/SIGINT)."""
    import socket

    import uvicorn

    app.check_schema()
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise BadInput(f"--host {host[:60]!r}: cannot listen there ({exc})") from None
    uvicorn.run(create_app(app), host=host, port=port, proxy_headers=True, server_header=False,
                date_header=True, log_level="info")
    return 0
