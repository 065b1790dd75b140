"""The e-mail itself, written straight in its wire form: RFC 5322 headers, MIME parts, CRLF line ends.

A message has one fixed shape, so it is written directly instead of through `EmailMessage` and
`policy.SMTP`, whose header registry parses and refolds every header it is given (5–12 ms per message,
most of a delivery pass; this takes about 0.1 ms)::

    multipart/mixed                        only when something is due
      multipart/alternative
        text/plain; charset="utf-8"        base64
        text/html; charset="utf-8"         base64
      text/calendar; method="PUBLISH"      base64, attachment outpost-case-N.ics

Header safety does not depend on the input: every header value is made of printable ASCII only.
Names and subjects are flattened to one line and stripped of control characters first; anything
non-ASCII, anything that looks like an encoded word, or anything too long for one line is written as
RFC 2047 encoded words; folds are CRLF + space; and `_header` refuses a value with any other CR or LF.
So a CR/LF in a name or title can never start a new header. Bodies are base64: no body line can be too
long, or be taken for a boundary or the end of the SMTP data.

Nothing random or clock-dependent goes in: the Message-ID is the outbox row's (fixed when the row was
queued), the Date the event's, the MIME boundaries are derived from the Message-ID and the calendar UID
from the case and due instant. A resend is the same message, byte for byte.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cached_property, lru_cache

from notifications import ics
from notifications.render import Rendered, one_line
from workflow.errors import DeliveryError
from workflow.model import Mail
from workflow.timeutil import LOCAL_TZ

LINE = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters (998 at most)
_WORD_BYTES = 42  # bytes per encoded word: "=?utf-8?b?" + 56 base64 characters + "?=" is 68 characters
_CRLF = "\r\n"
_FOLD = "\r\n "


class BadAddress(DeliveryError):
    """An address that no server will take: the row fails for good (fix the org file, then retry)."""


@dataclass(frozen=True)
class Outgoing:
    """A message ready to hand over: the envelope and the message's bytes, as they go on the wire."""

    mail: Mail
    data: bytes
    envelope_from: str
    to: list[str]
    rendered: Rendered

    @property
    def subject(self) -> str:
        return self.rendered.subject

    @cached_property
    def message(self) -> EmailMessage:
        """The message parsed back (`policy.default`), as a receiver reads it: for previews and tests."""
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


# -- addresses -------------------------------------------------------------------------------------------
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1: never in a header, whatever the encoding
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"(?P<local>{_ATEXT}(?:\.{_ATEXT})*)@{_LABEL}(?:\.{_LABEL})*")
_PHRASE = re.compile(rf"{_ATEXT}(?: {_ATEXT})*")  # a display name that needs no quotes


def _clean(text: str | None) -> str:
    """One line, no control characters (each one a space, as a line break is): the only form a name
    or a title enters a header in."""
    return one_line(_CONTROLS.sub(" ", text or ""))


def checked_address(addr: str, what: str) -> str:
    """`addr` when it is one plain ASCII `local@domain` (RFC 5321 sizes: 64 for the local part, 254 in
    all), else `BadAddress`.

    Quoted local parts, comments, brackets, CR/LF and international addresses are refused: the row
    fails for good with the reason, rather than reach a server that cannot take it."""
    addr = (addr or "").strip()
    found = _ADDR_SPEC.fullmatch(addr)
    if found is None or len(addr) > 254 or len(found["local"]) > 64:
        raise BadAddress(f"{what}: not a usable e-mail address: {addr[:80]!r}")
    return addr


def address(name: str | None, addr: str, what: str) -> Address:
    addr = checked_address(addr, what)
    try:
        return Address(display_name=_clean(name), addr_spec=addr)
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


_MSGID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII but the brackets; one @
_MSGID_JUNK = re.compile(r"[^!-;=?-~]")


def message_id_header(message_id: str) -> str:
    """The row's Message-ID as a header: as stored when well-formed, else repaired the same way every
    time (brackets, spaces and anything but printable ASCII dropped), so a resend carries the same id."""
    text = message_id.strip()
    if _MSGID.fullmatch(text) and text.count("@") == 1:
        return text
    local, at, domain = _MSGID_JUNK.sub("", text).partition("@")
    domain = domain.replace("@", "") or "outpost.local"
    return f"<{local or 'message'}@{domain}>" if at else f"<{local or 'message'}@outpost.local>"


# -- headers ---------------------------------------------------------------------------------------------
def _encoded_words(text: str) -> list[str]:
    """RFC 2047 `B` words of at most 42 bytes each, never splitting a UTF-8 character."""
    data = text.encode("utf-8", "replace")
    words: list[str] = []
    start, end = 0, len(data)
    while start < end:
        cut = min(start + _WORD_BYTES, end)
        while cut < end and data[cut] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            cut -= 1
        words.append("=?utf-8?b?" + base64.b64encode(data[start:cut]).decode("ascii") + "?=")
        start = cut
    return words


def _plain(text: str) -> bool:
    """Printable ASCII that a reader would not mistake for an encoded word."""
    return text.isascii() and text.isprintable() and "=?" not in text


def _folded(name: str, words: list[str]) -> str:
    """Words joined by spaces, folded (CRLF + space instead of a space) to keep lines within 78."""
    lines: list[str] = []
    current, width = "", len(name) + 2
    for word in words:
        if current and width + 1 + len(word) > LINE:
            lines.append(current)
            current, width = word, 1 + len(word)
        elif current:
            current += " " + word
            width += 1 + len(word)
        else:
            current, width = word, width + len(word)
    lines.append(current)
    return _FOLD.join(lines)


def _text_value(name: str, text: str) -> str:
    """An unstructured header (Subject): as is when plain ASCII, else encoded words."""
    text = _clean(text)
    if _plain(text) and max(map(len, text.split(" "))) <= LINE - len(name) - 3:
        return _folded(name, text.split(" "))  # folding at a space: unfolded, the same text again
    return _folded(name, _encoded_words(text))  # the space between two encoded words is not text


def _address_value(name: str, display_name: str | None, addr: str) -> str:
    """`Name <addr>` with the name as an atom phrase, a quoted string, or encoded words."""
    display = _clean(display_name)
    if not display:
        return addr
    if _plain(display):
        phrase = display if _PHRASE.fullmatch(display) else \
            '"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(name) + 2 + len(phrase) + len(addr) + 3 <= LINE:
            return f"{phrase} <{addr}>"
    return _folded(name, [*_encoded_words(display), f"<{addr}>"])


def _header(name: str, value: str) -> str:
    """`Name: value` + CRLF, refusing any value a bug could have let a line break (or 8-bit) into."""
    for line in value.split(_FOLD):
        if not (line.isascii() and line.isprintable()) or len(line) > 900:
            raise ValueError(f"header {name}: unsafe value {value[:80]!r}")
    return f"{name}: {value}{_CRLF}"


@lru_cache(maxsize=8)
def _sender(sender: str) -> tuple[str, str, str]:
    """(From header, envelope address, domain), worked out once per configured sender."""
    addr = sender_address(sender)
    return _header("From", _address_value("From", addr.display_name, addr.addr_spec)), addr.addr_spec, addr.domain


# -- bodies ----------------------------------------------------------------------------------------------
def _base64_part(content_type: str, data: bytes, disposition: str | None = None) -> bytes:
    head = f"Content-Type: {content_type}{_CRLF}Content-Transfer-Encoding: base64{_CRLF}"
    if disposition:
        head += f"Content-Disposition: {disposition}{_CRLF}"
    return (head + _CRLF).encode("ascii") + base64.encodebytes(data).replace(b"\n", b"\r\n")


def _text_part(subtype: str, text: str) -> bytes:
    """A text part in canonical form (CRLF line ends) as UTF-8, base64."""
    lines = text.encode("utf-8", "replace").splitlines()
    return _base64_part(f'text/{subtype}; charset="utf-8"', b"\r\n".join(lines) + b"\r\n")


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    """Headers and body of a multipart entity; each part's own bytes end with CRLF."""
    delimiter = f"--{boundary}\r\n".encode("ascii")
    out = [f'Content-Type: multipart/{subtype};{_FOLD}boundary="{boundary}"{_CRLF}{_CRLF}'.encode("ascii")]
    for part in parts:
        out += (delimiter, part)
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


def _boundaries(seed: str) -> tuple[str, str]:
    """Boundaries derived from the Message-ID instead of random ones: a resend is byte-identical.
    (`=_` never occurs in base64 text.)"""
    digest = hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:24]
    return f"=_outpost_{digest}_alt", f"=_outpost_{digest}_mix"


def calendar_texts(rendered: Rendered) -> tuple[str, str]:
    """SUMMARY and DESCRIPTION of the calendar entry for what a mail says is due (the export's too)."""
    due = f"\n\n{rendered.due.text}" if rendered.due is not None else ""
    return rendered.title, f"{rendered.what}{due}\n" + "\n".join(rendered.commands)


def build_message(mail: Mail, rendered: Rendered, *, sender: str, to_name: str | None, to_email: str) -> Outgoing:
    """Subject, From, To, Message-ID, Date; text with an HTML alternative; `.ics` when something is due."""
    from_header, envelope_from, domain = _sender(sender)
    to_addr = checked_address(to_email, f"mail {mail.id} recipient")
    # dated when it was due to go out (a notice of Saturday 00:00 is dated Monday 09:00, issue 17): fixed
    # in the row, so a resend is the same bytes
    dated = datetime.fromisoformat(str(mail.params["send_at"])) if mail.params.get("send_at") else mail.created_at
    head = [
        _header("Subject", _text_value("Subject", rendered.subject)),
        from_header,
        _header("To", _address_value("To", to_name, to_addr)),
        _header("Date", format_datetime(dated.astimezone(LOCAL_TZ))),
        _header("Message-ID", message_id_header(mail.message_id)),
        "Auto-Submitted: auto-generated\r\n",  # RFC 3834: no vacation replies to a robot
        "Content-Language: zh-CN\r\n" if rendered.lang == "zh" else "Content-Language: en\r\n",
    ]
    if mail.case_id is not None:
        head.append(_header("X-Outpost-Case", str(int(mail.case_id))))
    head.append(_header("X-Outpost-Event", _text_value("X-Outpost-Event", mail.event)))
    head.append("MIME-Version: 1.0\r\n")
    alternative, mixed = _boundaries(mail.message_id)
    body = _multipart("alternative", alternative,
                      [_text_part("plain", rendered.text), _text_part("html", rendered.html)])
    if rendered.due is not None:
        summary, description = calendar_texts(rendered)
        calendar = ics.mail_calendar(
            uid=ics.due_uid(mail.case_id, rendered.due.at, domain), due_at=rendered.due.at,
            summary=summary, description=description, stamp=dated, organizer=envelope_from,
        )
        attachment = _base64_part('text/calendar; charset="utf-8"; method="PUBLISH"', calendar,
                                  f'attachment; filename="outpost-case-{mail.case_id}.ics"')
        body = _multipart("mixed", mixed, [body, attachment])
    data = "".join(head).encode("ascii") + body
    return Outgoing(mail=mail, data=data, envelope_from=envelope_from, to=[to_addr], rendered=rendered)
