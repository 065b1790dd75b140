"""The e-mail itself: `EmailMessage` with `policy.SMTP`, so that no name or title can break a header.

Names and subjects are flattened to one line first (a CR/LF in a matter title never starts a new
header) and the policy encodes anything non-ASCII (RFC 2047). The Message-ID is the outbox row's,
fixed when the row was queued, and the Date is the event's: a resend is the same message.
"""

from __future__ import annotations

import email.policy
import hashlib
import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache

from notifications import ics
from notifications.render import Rendered, one_line
from workflow.errors import DeliveryError
from workflow.model import Mail
from workflow.timeutil import LOCAL_TZ


class BadAddress(DeliveryError):
    """An address that no server will take: the row fails for good (fix the org file, then retry)."""


@dataclass(frozen=True)
class Outgoing:
    """A message ready to hand over: the envelope and the message."""

    mail: Mail
    message: EmailMessage
    envelope_from: str
    to: list[str]
    rendered: Rendered

    @property
    def subject(self) -> str:
        return self.rendered.subject


def _clean_name(name: str | None) -> str:
    return "".join(ch for ch in one_line(name or "") if ord(ch) >= 32 and ch != "\x7f")


def address(name: str | None, addr: str, what: str) -> Address:
    addr = (addr or "").strip()
    if not addr or any(ch in addr for ch in "\r\n<>,;:\"\\ ()[]") or addr.count("@") != 1:
        raise BadAddress(f"{what}: not a usable e-mail address: {addr[:80]!r}")
    try:
        return Address(display_name=_clean_name(name), addr_spec=addr)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise BadAddress(f"{what}: not a usable e-mail address: {addr[:80]!r} ({exc})") from None


@lru_cache(maxsize=8)
def sender_address(sender: str) -> Address:
    """`smtp.from` as given: `outpost@example.org` or `Outpost <outpost@example.org>`.

    A bad one is a configuration error (`DeliveryError`), found before any row is claimed, so no
    message fails for it.
    """
    header = HeaderRegistry()("From", one_line(sender))
    addresses = list(getattr(header, "addresses", ()))
    if len(addresses) != 1 or header.defects:
        raise DeliveryError(f"smtp.from: expected one address like 'Outpost <outpost@example.org>', "
                            f"got {one_line(sender)[:80]!r}")
    try:
        return address(addresses[0].display_name, addresses[0].addr_spec, "smtp.from")
    except BadAddress as exc:
        raise DeliveryError(str(exc)) from None


def mail_domain(sender: str) -> str:
    try:
        return sender_address(sender).domain
    except DeliveryError:
        return "outpost.local"


_MSGID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")


def message_id_header(message_id: str) -> str:
    """The row's Message-ID as a header: as stored when well-formed, else repaired the same way every
    time (stray brackets or spaces dropped), so that a resend still carries the same id."""
    text = message_id.strip()
    if _MSGID.fullmatch(text):
        return text
    core = "".join(ch for ch in text if ch not in "<> \t\r\n")
    if "@" not in core:
        core += "@outpost.local"
    return f"<{core}>"


def _boundaries(seed: str) -> tuple[str, str]:
    """Boundaries derived from the Message-ID instead of random ones: a resend is byte-identical.
    (`=_` never occurs in base64 or quoted-printable text.)"""
    digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
    return f"=_outpost_{digest}_alt", f"=_outpost_{digest}_mix"


def build_message(mail: Mail, rendered: Rendered, *, sender: str, to_name: str | None, to_email: str) -> Outgoing:
    """Subject, From, To, Message-ID, Date; text with an HTML alternative; `.ics` when something is due."""
    from_addr = sender_address(sender)
    to_addr = address(to_name, to_email, f"mail {mail.id} recipient")
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = one_line(rendered.subject)
    msg["From"] = from_addr
    msg["To"] = to_addr
    msg["Date"] = format_datetime(mail.created_at.astimezone(LOCAL_TZ))
    msg["Message-ID"] = message_id_header(mail.message_id)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    msg["Content-Language"] = "zh-CN" if rendered.lang == "zh" else "en"
    if mail.case_id is not None:
        msg["X-Outpost-Case"] = str(mail.case_id)
    msg["X-Outpost-Event"] = one_line(mail.event)
    alternative, mixed = _boundaries(mail.message_id)
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.make_alternative(boundary=alternative)
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    if rendered.due is not None:
        commands = "\n".join(rendered.commands)
        data = ics.mail_calendar(
            uid=ics.due_uid(mail.case_id, rendered.due.at, mail_domain(sender)),
            due_at=rendered.due.at, summary=rendered.title,
            description=f"{rendered.what}\n\n{rendered.due.text}\n{commands}",
            stamp=mail.created_at,
        )
        msg.make_mixed(boundary=mixed)
        msg.add_attachment(data, maintype="text", subtype="calendar",
                           filename=f"outpost-case-{mail.case_id}.ics",
                           params={"method": "PUBLISH", "charset": "utf-8"})
    return Outgoing(mail=mail, message=msg, envelope_from=from_addr.addr_spec, to=[to_addr.addr_spec],
                    rendered=rendered)
