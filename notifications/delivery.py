"""One delivery pass: claim due outbox rows, render them, hand them to the server over ONE connection.

A row is marked `sent` only after the server accepted it. A failure is one more attempt, retried after
an exponential back-off, and `failed` after the last one (`outpost mail list --failed`, `mail retry`).
If the server cannot be reached, every claimed row gets its retry: nothing is lost. If the process
dies between the server's accept and the mark, the claim's lease runs out and the next pass sends that
message again, with the same Message-ID (at-least-once; the receiver can recognise the duplicate).

With no SMTP host configured, messages are written to `outbox_dir` as `<id>-<hash>.eml` instead
(temp file, then rename: a reader never sees half a message).

The SMTP password is used for `login()` and nowhere else: it is never logged, printed or stored, and
is scrubbed from any error text just in case a server echoes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import smtplib
import ssl
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from notifications.message import BadAddress, Outgoing, build_message, sender_address
from notifications.render import Rendered, TemplateProblem, render, validate_templates
from workflow.clock import require_aware
from workflow.errors import DeliveryError, NotFound, WorkflowError
from workflow.model import OFFICE_ROLES, Deadline, Mail, Org
from workflow.outbox import DeliveryReport, Outbox, RetryPolicy
from workflow.settings import Settings, SmtpSettings

if TYPE_CHECKING:
    from workflow.clock import Clock
    from workflow.policy import Policy
    from workflow.ports import CaseStore
    from workflow.service import CaseService


class Parts(Protocol):
    """What delivery is given by the composition root (outpost/app.py): the outbox, the settings (sender,
    SMTP transport), the policy (retry back-off, claim lease), the clock, the store (to read the
    organisation) and the case service (which actions a recipient may still take)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def policy(self) -> Policy: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> CaseStore: ...

    @property
    def service(self) -> CaseService: ...

    @property
    def mailbox(self) -> Outbox: ...

    def link_for(self, mail: Mail, actions: list[str]) -> str | None:
        """The recipient's single-use web link to take `actions` (outpost/links.py mints it); None: none."""
        ...


LinkFor = Callable[[Mail, list[str]], "str | None"]

log = logging.getLogger("outpost.mail")

BATCH = 100
LEASE = timedelta(minutes=15)  # longer than any pass takes to send one batch


# -- transports --------------------------------------------------------------------------------------
class Transport(Protocol):
    mode: str

    def open(self) -> None: ...

    def send(self, out: Outgoing, meanwhile: Callable[[], None] | None = None) -> None:
        """Hand one message over; return once it was accepted (else raise).

        `meanwhile`, when given, is called once while the message is with the server, before its answer
        is read: work with no effect outside this process (preparing the next message) overlaps the
        server's. Nothing else is sent to the server before this message is accepted or refused."""
        ...

    def close(self) -> None: ...


_LINE_START_DOT = re.compile(rb"^\.", re.MULTILINE)


def wire_data(out: Outgoing) -> bytes:
    """The message as SMTP DATA carries it: a line starting with `.` doubled, the final `CRLF.CRLF`."""
    data = out.data
    if data.startswith(b".") or b"\n." in data:  # never in what build_message writes; checked all the same
        data = _LINE_START_DOT.sub(b"..", data)
    return (data if data.endswith(b"\r\n") else data + b"\r\n") + b".\r\n"


class SmtpTransport:
    """smtplib over one connection: SMTP_SSL when `ssl`, STARTTLS when `starttls`, AUTH with a password."""

    mode = "smtp"

    def __init__(self, smtp: SmtpSettings, ssl_context: ssl.SSLContext | None = None) -> None:
        self.smtp = smtp
        self.ssl_context = ssl_context
        self.conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        # The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR are honoured); certificates are verified.
        return self.ssl_context or ssl.create_default_context()

    def open(self) -> None:
        s = self.smtp
        if not s.host:
            raise DeliveryError("smtp.host is not configured")
        conn: smtplib.SMTP
        if s.ssl:
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context())
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            conn.ehlo()
            if s.starttls:
                conn.starttls(context=self._context())
                conn.ehlo()
            if s.username:
                if not s.password:
                    raise DeliveryError("smtp.username is set but OUTPOST_SMTP_PASSWORD is empty")
                conn.login(s.username, s.password)
        except BaseException:
            _close_quietly(conn)
            raise
        self.conn = conn

    def send(self, out: Outgoing, meanwhile: Callable[[], None] | None = None) -> None:
        """`smtplib.SMTP.sendmail` (MAIL, RCPT, DATA; the same errors), split so that `meanwhile` runs
        while the server takes in the message: its answer is read after. The bytes are the message's
        own, so a resend is identical."""
        conn = self.conn
        if conn is None:
            raise DeliveryError("not connected")
        # The addresses were checked to be plain ASCII `local@domain` (message.checked_address): written
        # as they are, without smtplib's address parsing (a tenth of a millisecond per message).
        size = f" SIZE={len(out.data)}" if conn.does_esmtp and conn.has_extn("size") else ""
        conn.putcmd("mail", f"FROM:<{out.envelope_from}>{size}")
        code, reply = conn.getreply()
        if code != 250:
            self._abandon(code)
            raise smtplib.SMTPSenderRefused(code, reply, out.envelope_from)
        refused: dict[str, tuple[int, bytes]] = {}
        for rcpt in out.to:
            conn.putcmd("rcpt", f"TO:<{rcpt}>")
            code, reply = conn.getreply()
            if code not in (250, 251):
                refused[rcpt] = (code, reply)
            if code == 421:
                self._abandon(code)
                raise smtplib.SMTPRecipientsRefused(refused)
        if len(refused) == len(out.to):
            self._abandon(code)
            raise smtplib.SMTPRecipientsRefused(refused)
        conn.putcmd("data")
        code, reply = conn.getreply()
        if code != 354:
            self._abandon(code)
            raise smtplib.SMTPDataError(code, reply)
        conn.send(wire_data(out))
        if meanwhile is not None:
            meanwhile()
        code, reply = conn.getreply()
        if code != 250:
            self._abandon(code)
            raise smtplib.SMTPDataError(code, reply)

    def _abandon(self, code: int) -> None:
        """After a refusal: reset the transaction (as sendmail does), or drop the connection on 421."""
        if self.conn is None:
            return
        if code == 421:
            _close_quietly(self.conn)
            return
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            self.conn.rset()

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                _close_quietly(conn)


def _close_quietly(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):  # closing a dead socket
        conn.close()


class EmlTransport:
    """No SMTP server: each message becomes `<outbox_dir>/<id>-<hash>.eml`, written atomically."""

    mode = "outbox_dir"

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)

    def open(self) -> None:
        self.outbox_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path_for(self, mail: Mail) -> Path:
        digest = hashlib.sha256(mail.message_id.encode()).hexdigest()[:16]
        return self.outbox_dir / f"{mail.id}-{digest}.eml"

    def send(self, out: Outgoing, meanwhile: Callable[[], None] | None = None) -> None:
        target = self.path_for(out.mail)
        data = out.data
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=self.outbox_dir)
        try:
            with os.fdopen(fd, "wb") as fh:  # mkstemp: readable by the owner only (people's e-mail)
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)  # a resend after a crash replaces the same file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if meanwhile is not None:
            meanwhile()

    def close(self) -> None:
        return None


def make_transport(settings: Settings) -> Transport:
    if settings.smtp.configured:
        return SmtpTransport(settings.smtp)
    return EmlTransport(settings.outbox_dir)


# -- errors --------------------------------------------------------------------------------------------
CONNECTION, PERMANENT, TRANSIENT = "connection", "permanent", "transient"


def classify(exc: BaseException) -> str:
    """`connection`: the session is unusable (every remaining row retries); `permanent`: this message
    will never be accepted (failed now); `transient`: retry this message later."""
    if isinstance(exc, BadAddress | UnicodeEncodeError):
        return PERMANENT
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return PERMANENT if codes and all(c >= 500 for c in codes) else TRANSIENT
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return TRANSIENT
    if isinstance(exc, smtplib.SMTPDataError):
        return PERMANENT if exc.smtp_code >= 500 else (CONNECTION if exc.smtp_code == 421 else TRANSIENT)
    if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421:
        return CONNECTION
    if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError | smtplib.SMTPHeloError
                  | smtplib.SMTPAuthenticationError | smtplib.SMTPNotSupportedError | DeliveryError | OSError):
        return CONNECTION  # smtplib.SMTPException is an OSError too: the specific cases come first
    return TRANSIENT


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipient refused: " + "; ".join(
            f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, WorkflowError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# -- the pass ------------------------------------------------------------------------------------------
@dataclass
class _Pass:
    outbox: Outbox
    transport: Transport
    retry: RetryPolicy
    settings: Settings
    owner: str
    report: DeliveryReport
    now: Callable[[], datetime]

    def scrub(self, text: str) -> str:
        secret = self.settings.smtp.password
        return text.replace(secret, "***") if secret else text

    def release(self, rows: list[Mail]) -> None:
        for mail in rows:
            assert mail.id is not None
            try:
                self.outbox.release(mail.id, self.owner)
            except WorkflowError:  # the lease runs out by itself
                log.warning("mail %s: claim not released; it is taken again when its lease runs out", mail.id)

    def fail(self, mail: Mail, error: str, subject: str | None = None, permanent: bool = False) -> None:
        assert mail.id is not None
        error = self.scrub(error)
        updated = self.outbox.record_failure(mail.id, self.owner, self.now(), error, self.retry,
                                             subject=subject, permanent=permanent)
        if updated is None:
            return  # our claim was taken over meanwhile; the other pass owns the row now
        if updated.status == "failed":
            self.report.failed += 1
            log.warning("mail %s (%s) failed for good after %d attempt(s): %s", mail.id, mail.event,
                        updated.attempts, error)
        else:
            self.report.retried += 1
            log.info("mail %s (%s) attempt %d failed, next attempt %s: %s", mail.id, mail.event,
                     updated.attempts, updated.next_attempt_at.isoformat(), error)
        self.report.errors.append(f"mail {mail.id}: {error}")


def templates_checked() -> None:
    """Every registered event's templates, validated once per process (raises `TemplateProblem`)."""
    validate_templates()


def new_owner() -> str:
    from workflow.orphans import owner_scope

    return f"mail:{owner_scope()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[:128]


def outbox_for(app: Parts) -> Outbox:
    return app.mailbox


def load_org(app: Parts) -> Org:
    with app.store.transaction(write=False) as tx:
        org: Org = tx.org()
    return org


OVERRIDE_MARK = "+override"  # in ActionFilter's answer: the action needs --override REASON (render.py)


class ActionFilter:
    """Which of a mail's actions its recipient may take *now* (a decided case invites nobody)."""

    def __init__(self, app: Parts | None) -> None:
        self.app = app
        self._cache: dict[tuple[int, str, tuple[str, ...]], list[str] | None] = {}

    def __call__(self, mail: Mail) -> list[str] | None:
        rcpt = mail.recipients[0] if mail.recipients else {}
        person = rcpt.get("person")
        if self.app is None or mail.case_id is None or not person or not mail.params.get("actions"):
            return None
        offered = tuple(mail.params["actions"])
        needs: dict[str, list[str]] = mail.params["needs"] if isinstance(mail.params.get("needs"), dict) else {}
        key = (mail.case_id, str(person), offered + tuple(f"{a}:{n}" for a in sorted(needs) for n in needs[a]))
        if key not in self._cache:
            try:
                # the options the command shows (`submit --plan TEXT`, issue 17) are taken as given
                infos = self.app.service.triggers(mail.case_id, str(person), only=offered, given=needs)
                # a step allowed only with a reason for passing a rule is offered with --override
                self._cache[key] = [i.trigger + (OVERRIDE_MARK if i.needs_override else "") for i in infos if i.allowed]
            except NotFound:
                self._cache[key] = []  # the person (or case) is gone: nothing to invite them to
            except WorkflowError:
                self._cache[key] = None
        return self._cache[key]

    def superseded(self, mail: Mail) -> str | None:
        """Why the row is not to be sent, or None: it invites its recipient to act, none of those actions is
        open to them now, and the case has moved on since it was written (a request already decided). A
        mail inviting actions its recipient never had (the requester told of an escalation) is information,
        and goes; so does every mail that invites nothing."""
        allowed = self(mail)
        if allowed is None or allowed or self.app is None or mail.case_id is None:
            return None
        written_in = mail.params.get("state")
        with self.app.store.transaction(write=False) as tx:
            case = tx.get_case(mail.case_id)
        if case is not None and case.state == written_in:
            return None
        now = case.state if case is not None else "gone"
        return (f"superseded: case {mail.case_id} is {now} (was {written_in}); "
                f"{', '.join(mail.params.get('actions') or ())} no longer open to its recipient")


def recipient_of(mail: Mail, org: Org | None) -> tuple[str | None, str | None]:
    """(name, address) of the row's recipient, as the organisation has them now: a person removed from
    the organisation, or whose address was taken out, gets nothing (R-7.3) — the row fails, saying why.
    Without an organisation (a row for no person) the address stored with the row is used."""
    rcpt = mail.recipients[0] if mail.recipients else {}
    if org is None or not rcpt.get("person"):
        return rcpt.get("name"), rcpt.get("email")
    person = org.person(str(rcpt.get("person")))
    if person is None or not person.active:
        raise BadAddress(f"{rcpt.get('person')} is no longer in the organisation; not sent")
    return person.name, person.email


# A post held by one person at a time; a mail written to its holder goes to whoever holds it at send time.
_HANDED_OVER_IN_ORDER = ("director", "supervising_leader", "deputy_director", "petition_deputy", "org_dept")


def addressed_now(mail: Mail, org: Org | None) -> Mail:
    """The row as it is to be sent now: recipients are resolved from roles at send time (issue 4).

    A person written to for a post they held when the event happened (not as the requester or the person
    concerned) who no longer holds any of the roles they had then, in that office, is replaced by the one
    person who holds such a role now: a director's pending request goes to the new director. Where nobody,
    or several people, hold it, the row stays with its person (sent if they are still in the organisation,
    failed otherwise, saying why). The Message-ID stays the row's."""
    rcpt = mail.recipients[0] if mail.recipients else {}
    roles, office = rcpt.get("roles"), rcpt.get("office")
    if org is None or not roles or not rcpt.get("person"):
        return mail
    person = org.person(str(rcpt["person"]))
    if person is not None and person.active and person.office == office and person.roles & set(roles):
        return mail
    for role in _HANDED_OVER_IN_ORDER:
        if role in roles:
            holders = org.holders(role, office if role in OFFICE_ROLES else None)
            if len(holders) == 1:
                now = holders[0]
                log.info("mail %s for %s (%s of %s then) goes to %s, who holds that post now", mail.id,
                         rcpt["person"], role, office or "the General Office", now.id)
                handed = {**rcpt, "person": now.id, "name": now.name, "email": now.email,
                          "roles": sorted(now.roles), "office": now.office, "instead_of": rcpt["person"]}
                return replace(mail, recipients=[handed])
    return mail


def prepare(mail: Mail, org: Org | None, settings: Settings, actions: ActionFilter | None = None,
            lang: str | None = None, links: LinkFor | None = None) -> Outgoing:
    """Render one row and build its message; `BadAddress` when the recipient has no usable address.
    `links` mints the recipient's web link for the actions they may take now (none when they may take none)."""
    mail = addressed_now(mail, org)
    allowed = actions(mail) if actions else None
    offered = [a.partition("+")[0] for a in allowed or ()]
    url = links(mail, offered) if links is not None and (offered or mail.case_id is None) else None
    rendered: Rendered = render(mail, org, lang=lang, allowed=allowed, action_url=url)
    name, addr = recipient_of(mail, org)
    if not addr:
        rcpt = mail.recipients[0] if mail.recipients else {}
        raise BadAddress(f"{rcpt.get('person', 'the recipient')} has no e-mail address (org file); "
                         "fix it, then `outpost mail retry` " + str(mail.id))
    return build_message(mail, rendered, sender=settings.smtp.sender, to_name=name, to_email=addr)


class _Ahead:
    """The next message, prepared while the server takes in the current one.

    Preparing reads and renders only (no effect outside this process), so doing it early changes
    nothing about what is sent or when a row is marked; a problem found early is raised at the
    message's own turn, exactly where it was raised before."""

    def __init__(self, prepare_one: Callable[[Mail], Outgoing]) -> None:
        self.prepare_one = prepare_one
        self.ready: dict[int, Outgoing | Exception] = {}

    def later(self, mail: Mail | None) -> Callable[[], None] | None:
        if mail is None or mail.id is None:
            return None
        key = mail.id

        def work() -> None:
            try:
                self.ready[key] = self.prepare_one(mail)
            except Exception as exc:  # raised again at its turn
                self.ready[key] = exc

        return work

    def take(self, mail: Mail) -> Outgoing:
        found = self.ready.pop(mail.id, None) if mail.id is not None else None
        self.ready.clear()  # anything else prepared is stale (skipped, or handed back)
        if found is None:
            return self.prepare_one(mail)
        if isinstance(found, Exception):
            raise found
        return found


def deliver_pass(app: Parts, now: datetime | None = None, should_stop: Callable[[], bool] | None = None, *,
                 transport: Transport | None = None, outbox: Outbox | None = None,
                 batch: int = BATCH, lease: timedelta | None = None, limit: int | None = None) -> DeliveryReport:
    """Deliver every due queued row once (up to `limit`); returns what happened.

    `now` fixes the pass's time (tests, `tick --at`); otherwise the app's clock is asked each time.
    `should_stop` is polled between messages (daemon shutdown): unsent claims are handed back.
    """
    if lease is None:  # policy mail.claim_seconds: how long a killed pass's claims keep others away
        lease = timedelta(seconds=app.policy.int("mail.claim_seconds"))
    templates_checked()  # a missing template stops the pass before anything is claimed
    fixed = require_aware(now) if now is not None else None

    def clock() -> datetime:
        return fixed if fixed is not None else require_aware(app.clock.now())

    settings = app.settings
    sender_address(settings.smtp.sender)  # a bad smtp.from stops the pass before anything is claimed
    transport = transport or make_transport(settings)
    run = _Pass(outbox=outbox or outbox_for(app), transport=transport,
                retry=RetryPolicy.from_policy(app.policy), settings=settings, owner=new_owner(),
                report=DeliveryReport(mode=transport.mode), now=clock)
    org = load_org(app)
    actions = ActionFilter(app)
    connected = False
    done: set[int] = set()  # attempted in this pass (sent or failed): never taken twice by it
    counted: set[int] = set()
    try:
        while limit is None or len(counted) < limit:
            size = batch if limit is None else min(batch, limit - len(counted))
            claimed_at = clock()
            claimed = run.outbox.claim(run.owner, claimed_at, lease, size)
            fresh = [m for m in claimed if m.id not in done]
            run.release([m for m in claimed if m.id in done])  # failed here and due again (zero back-off)
            if not fresh:
                break
            counted.update(m.id for m in fresh if m.id is not None)
            run.report.claimed = len(counted)
            renew_at = claimed_at + lease / 2
            ahead = _Ahead(lambda m: prepare(m, org, settings, actions, links=app.link_for))
            for i, mail in enumerate(fresh):
                assert mail.id is not None
                if should_stop is not None and should_stop():
                    run.release(fresh[i:])  # shutting down: hand back what was not attempted
                    return run.report
                if fixed is None and clock() >= renew_at:
                    run.release(fresh[i:])  # a slow server: claim afresh, so a lease always covers a send
                    break
                done.add(mail.id)
                why = actions.superseded(addressed_now(mail, org))
                if why is not None:
                    if run.outbox.mark_superseded(mail.id, run.owner, clock(), why):
                        run.report.superseded += 1
                        log.info("mail %s (%s) not sent: %s", mail.id, mail.event, why)
                    continue
                try:
                    out = ahead.take(mail)
                except (BadAddress, TemplateProblem) as exc:
                    run.fail(mail, str(exc), permanent=isinstance(exc, BadAddress))
                    continue
                if not connected:
                    try:
                        run.transport.open()
                        connected = True
                    except Exception as exc:
                        _connection_lost(run, fresh[i:], exc)
                        return run.report
                try:
                    run.transport.send(out, ahead.later(fresh[i + 1] if i + 1 < len(fresh) else None))
                except Exception as exc:
                    kind = classify(exc)
                    if kind == CONNECTION:
                        _connection_lost(run, fresh[i:], exc)
                        return run.report
                    run.fail(mail, describe(exc), subject=out.subject, permanent=kind == PERMANENT)
                    continue
                run.report.sent += 1
                log.debug("mail %s (%s) sent to %s", mail.id, mail.event, ", ".join(out.to))
                # The server has it: whatever happens now, it is not a failure. If it cannot be marked,
                # its claim runs out and it goes again (same Message-ID); stop rather than send more
                # messages that could not be marked either.
                try:
                    run.outbox.mark_sent(mail.id, clock(), subject=out.subject)
                except WorkflowError as exc:
                    log.error("mail %s accepted by the server but not marked sent (%s); it will be sent "
                              "again with the same Message-ID", mail.id, exc)
                    run.report.errors.append(f"mail {mail.id}: sent, not marked: {exc}")
                    run.release(fresh[i + 1:])
                    return run.report
    finally:
        if connected:
            run.transport.close()
        r = run.report
        if r.claimed:
            log.info("mail pass (%s): %d claimed, %d sent, %d to retry, %d failed", r.mode, r.claimed, r.sent,
                     r.retried, r.failed)
    return run.report


def _connection_lost(run: _Pass, rows: list[Mail], exc: BaseException) -> None:
    error = run.scrub(describe(exc))
    where = run.settings.smtp.host or str(run.settings.outbox_dir)
    run.report.connection_error = f"{where}: {error}"
    log.warning("mail server %s:%s unusable (%s); %d message(s) will be retried", where,
                run.settings.smtp.port, error, len(rows))
    for mail in rows:
        run.fail(mail, f"connection: {error}")


deliver = deliver_pass


# -- preview -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Preview:
    mail: Mail
    outgoing: Outgoing | None
    problem: str | None  # why it could not be built (no address, broken template)
    deadline: Deadline | None = None  # not queued yet: the pending deadline that will send it
    also_to: tuple[str, ...] = ()  # the other people the same event writes to

    def describe(self) -> dict[str, Any]:
        out = self.outgoing
        return {"id": self.mail.id, "event": self.mail.event, "status": self.mail.status,
                "attempts": self.mail.attempts, "problem": self.problem,
                "subject": out.subject if out else None, "to": out.to if out else self.mail.to,
                "deadline": self.deadline.id if self.deadline else None}


def preview(app: Parts, case_id: int, lang: str | None = None) -> Preview | None:
    """The case's next mail as it would be sent: its newest queued one, or else the one its next pending
    deadline will queue (rehearsed, nothing written); None when neither exists."""
    with app.store.transaction(write=False) as tx:
        if tx.get_case(case_id) is None:
            raise NotFound("case", case_id)
    mail = outbox_for(app).newest_queued(case_id)
    deadline: Deadline | None = None
    also: tuple[str, ...] = ()
    if mail is None:
        rehearsed = app.service.rehearse(case_id)
        if rehearsed is None:
            return None
        deadline, rows = rehearsed
        mail = rows[0]
        also = tuple(str(r.recipients[0].get("person")) for r in rows[1:] if r.recipients)
    org = load_org(app)
    base = app.settings.web.base_url.rstrip("/")

    def placeholder(row: Mail, offered: list[str]) -> str | None:
        """Where the recipient's link goes: a preview writes nothing, so no link is made for it."""
        return f"{base}/a/<{'made when sent' if (lang or row.lang) == 'en' else '发送时生成'}>" if offered else None

    try:
        return Preview(mail, prepare(mail, org, app.settings, ActionFilter(app), lang=lang, links=placeholder), None,
                       deadline, also)
    except (BadAddress, TemplateProblem) as exc:
        return Preview(mail, None, str(exc), deadline, also)
