"""The e-mail itself: header safety, encodings, the calendar part."""

from __future__ import annotations

import email
import email.policy
from datetime import date

import pytest
from icalendar import Calendar

from notifications.message import BadAddress, build_message, message_id_header, sender_address
from notifications.render import render
from tests.notifications.test_render import ORG, synthetic
from workflow.errors import DeliveryError
from workflow.model import Office, Org, Person


def parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_cr_lf_in_names_cannot_inject_headers() -> None:
    """A name with CR/LF and a fake header stays inside its own header, on one logical line."""
    evil = "赵丽\r\nBcc: spy@evil.example\r\n\r\n<b>body</b>"
    org = Org(offices={"BJ": Office("BJ", "驻京\r\nX-Injected: 1")},
              people={"zhao": Person("zhao", evil, None, "BJ", frozenset({"staff"}))})
    mail = synthetic("leave.requested", actions=["approve"])
    out = build_message(mail, render(mail, org), sender="Outpost\r\n <outpost@gov.example.org>",
                        to_name=evil, to_email="wang@bj.example.org")
    raw = out.message.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Injected:" not in head
    msg = parse(raw)
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert [a.addr_spec for a in msg["To"].addresses] == ["wang@bj.example.org"]
    assert msg["To"].addresses[0].display_name == "赵丽 Bcc: spy@evil.example <b>body</b>"
    assert "\n" not in str(msg["Subject"]) and "Bcc: spy@evil.example" in str(msg["Subject"])
    assert [a.addr_spec for a in msg["From"].addresses] == ["outpost@gov.example.org"]
    assert out.to == ["wang@bj.example.org"] and out.envelope_from == "outpost@gov.example.org"


def test_non_ascii_headers_are_encoded_and_decode_back() -> None:
    """Headers on the wire are ASCII (RFC 2047); parsed back they are the Chinese text."""
    mail = synthetic("leave.requested", actions=["approve"])
    out = build_message(mail, render(mail, ORG), sender="公文系统 <outpost@gov.example.org>", to_name="王建国",
                        to_email="wang@bj.example.org")
    raw = out.message.as_bytes()
    raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # no 8-bit byte in the header block
    msg = parse(raw)
    assert msg["Subject"] == "[Outpost] 请假申请待您审批：赵丽（案件 7）"
    assert msg["To"].addresses[0].display_name == "王建国"
    assert msg["From"].addresses[0].display_name == "公文系统"
    assert msg["Message-ID"] == "<abc@gov.example.org>"
    assert msg["Date"].datetime.utcoffset().total_seconds() == 8 * 3600
    assert msg.get_body(("plain",)).get_content().startswith("王建国，您好：")
    assert "<!DOCTYPE html>" in msg.get_body(("html",)).get_content()


def test_the_same_row_builds_the_same_message() -> None:
    """Message-ID, Date and calendar UID come from the row: building twice gives identical bytes."""
    mail = synthetic("leave.reminder", actions=["approve"], due_at="2027-02-28T16:00:00+00:00")
    a = build_message(mail, render(mail, ORG), sender="outpost@gov.example.org", to_name="王建国",
                      to_email="wang@bj.example.org")
    b = build_message(mail, render(mail, ORG), sender="outpost@gov.example.org", to_name="王建国",
                      to_email="wang@bj.example.org")
    assert a.message.as_bytes() == b.message.as_bytes()


def test_a_due_mail_has_an_ics_on_the_local_due_date() -> None:
    """A due instant of 2027-06-25 23:59:59 +08:00 (15:59 UTC) is an all-day event on 25 June."""
    mail = synthetic("report.reminder", period="2027-H1", actions=["submit"], subject=None,
                     due_at="2027-06-25T15:59:59.999999+00:00")
    out = build_message(mail, render(mail, ORG), sender="outpost@gov.example.org", to_name="王建国",
                        to_email="wang@bj.example.org")
    msg = parse(out.message.as_bytes())
    [part] = list(msg.iter_attachments())
    assert part.get_content_type() == "text/calendar" and part.get_param("method") == "PUBLISH"
    [event] = list(Calendar.from_ical(part.get_content()).walk("VEVENT"))
    assert event.decoded("dtstart") == date(2027, 6, 25)
    assert "outpost case advance 7 submit --as wang" in str(event["description"])


def test_a_mail_without_a_due_date_has_no_attachment() -> None:
    mail = synthetic("leave.approved")
    out = build_message(mail, render(mail, ORG), sender="outpost@gov.example.org", to_name="赵丽",
                        to_email="zhao@bj.example.org")
    assert not list(out.message.iter_attachments())


@pytest.mark.parametrize("bad", ["", "no-at-sign", "a@b@c", "x@y\r\nBcc: z@w", "a b@c.d", "<x@y>"])
def test_unusable_addresses_are_refused(bad: str) -> None:
    """An address no server would take is a `BadAddress` (the row fails for good, with the reason)."""
    mail = synthetic("leave.approved")
    with pytest.raises(BadAddress):
        build_message(mail, render(mail, ORG), sender="outpost@gov.example.org", to_name="x", to_email=bad)


def test_sender_forms() -> None:
    """`smtp.from` may be a bare address or `Name <address>`; anything else is a configuration error."""
    assert sender_address("outpost@gov.example.org").addr_spec == "outpost@gov.example.org"
    named = sender_address("公文系统 <outpost@gov.example.org>")
    assert (named.display_name, named.addr_spec) == ("公文系统", "outpost@gov.example.org")
    for bad in ("Outpost\r\nBcc: x@evil.example <outpost@gov.example.org>", "a@b.org, c@d.org", "nobody"):
        with pytest.raises(DeliveryError, match=r"smtp\.from"):
            sender_address(bad)


def test_a_malformed_message_id_is_repaired_the_same_way_every_time() -> None:
    """A stored id with a stray bracket still gives one stable, well-formed header."""
    assert message_id_header("<abc@gov.example.org>>") == "<abc@gov.example.org>"
    assert message_id_header("<abc@gov.example.org>") == "<abc@gov.example.org>"
