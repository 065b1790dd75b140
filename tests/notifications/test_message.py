"""The e-mail itself: header safety, encodings, the calendar part."""

from __future__ import annotations

import email
import email.policy
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from notifications.message import BadAddress, build_message, message_id_header, sender_address
from notifications.render import render
from tests.notifications.test_render import ORG, synthetic
from workflow import registry
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
    raw = out.data
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
    raw = out.data
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
    assert a.data == b.data


def test_a_due_mail_has_an_ics_on_the_local_due_date() -> None:
    """A due instant of 2027-06-25 23:59:59 +08:00 (15:59 UTC) is an all-day event on 25 June."""
    mail = synthetic("report.reminder", period="2027-H1", actions=["submit"], subject=None,
                     due_at="2027-06-25T15:59:59.999999+00:00")
    out = build_message(mail, render(mail, ORG), sender="outpost@gov.example.org", to_name="王建国",
                        to_email="wang@bj.example.org")
    msg = parse(out.data)
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


# -- the wire form, written directly -------------------------------------------------------------------
def _head(raw: bytes) -> list[str]:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii").split("\r\n")


def _flat(text: str) -> str:
    """What a header shows of a text: control characters and whitespace runs as one space, trimmed."""
    return " ".join("".join(" " if ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f else ch for ch in text).split())


def _build(subject_name: str = "赵丽", to_name: str | None = "王建国", lang: str = "zh", **params: object) -> bytes:
    org = Org(offices={"BJ": Office("BJ", "驻京联络处")},
              people={"zhao": Person("zhao", subject_name, None, "BJ", frozenset({"staff"}))})
    mail = synthetic("leave.requested", lang, actions=["approve"], **params)
    return build_message(mail, render(mail, org), sender="公文系统 <outpost@gov.example.org>", to_name=to_name,
                         to_email="wang@bj.example.org").data


@pytest.mark.parametrize("name", [
    "王建国", "Wang Jianguo", 'Wang, "Boss" J.', "a\\b (c) <d@e> [f]; g:", "=?utf-8?q?evil?=", "x" * 120,
    "很长的名字" * 12, "tab\there\x00nul\x1bescape\x7fdel\u0085next", "ok 名字 mixed, ascii",
])
def test_any_display_name_makes_safe_ascii_headers_that_decode_back(name: str) -> None:
    """Header lines are printable ASCII and at most 78 characters; the name decodes back as given
    (controls and whitespace runs as one space) and never adds a header; no parse defect."""
    raw = _build(subject_name=name, to_name=name)
    lines = _head(raw)
    assert all(line.isascii() and line.isprintable() and len(line) <= 78 for line in lines), lines
    names = [line.split(":", 1)[0] for line in lines if not line.startswith(" ")]
    assert len(names) == len(set(names))
    msg = parse(raw)
    assert not msg.defects and all(not part.defects for part in msg.walk())
    expected = _flat(name)
    shown = msg["To"].addresses[0].display_name
    # Python's parser keeps the fold between two encoded words of one long name as a space.
    assert shown == expected or (len(expected.encode()) > 42 and shown.replace(" ", "") == expected.replace(" ", ""))
    assert expected in str(msg["Subject"])
    assert msg["To"].addresses[0].addr_spec == "wang@bj.example.org"


def test_a_plain_ascii_subject_stays_readable_and_folds_at_spaces() -> None:
    """An English subject with an ASCII name is sent as it reads, folded at spaces when long."""
    raw = _build(subject_name="Zhao Li, acting director of the liaison office in Beijing", lang="en")
    lines = _head(raw)
    subject = next(line for line in lines if line.startswith("Subject:"))
    assert "=?" not in subject and all(len(line) <= 78 for line in lines)
    assert parse(raw)["Subject"] == ("[Outpost] Leave request awaiting your decision: Zhao Li, acting director "
                                     "of the liaison office in Beijing (case 7)")


def test_parts_are_base64_with_crlf_lines_and_the_body_decodes_back() -> None:
    """Every body line is at most 76 characters; text and HTML decode to the rendered texts."""
    mail = synthetic("leave.reminder", actions=["approve"], due_at="2027-02-28T16:00:00+00:00")
    rendered = render(mail, ORG)
    out = build_message(mail, rendered, sender="outpost@gov.example.org", to_name="王建国",
                        to_email="wang@bj.example.org")
    assert b"\n" not in out.data.replace(b"\r\n", b"")
    assert all(len(line) <= 78 for line in out.data.split(b"\r\n"))
    msg = parse(out.data)
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == rendered.text
    html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert html == rendered.html.replace("\r\n", "\n") + "\n"  # a text part ends with a line break
    assert [p.get_content_type() for p in msg.walk()] == ["multipart/mixed", "multipart/alternative",
                                                          "text/plain", "text/html", "text/calendar"]


@pytest.mark.parametrize("bad", ["王@bj.example.org", "wang@例子.中国", "a..b@c.d", "a@-", "x" * 250 + "@a.b"])
def test_addresses_no_plain_smtp_server_takes_are_refused(bad: str) -> None:
    """International or malformed addresses fail the row with the reason instead of reaching the server."""
    mail = synthetic("leave.approved")
    with pytest.raises(BadAddress):
        build_message(mail, render(mail, ORG), sender="outpost@gov.example.org", to_name="x", to_email=bad)


@settings(max_examples=150, deadline=None)
@given(summary=st.text(max_size=120), description=st.text(max_size=400))
def test_the_mail_calendar_parses_back_with_icalendar(summary: str, description: str) -> None:
    """Whatever the texts, the .ics has CRLF lines of at most 75 octets and icalendar reads the same
    summary and description back (controls dropped, line breaks as line breaks)."""
    from datetime import UTC, datetime

    from notifications import ics

    data = ics.mail_calendar(uid="abc@gov.example.org", due_at=datetime(2027, 2, 28, 16, tzinfo=UTC),
                             summary=summary, description=description, stamp=datetime(2027, 1, 4, 1, tzinfo=UTC),
                             organizer="outpost@gov.example.org")
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    [event] = list(Calendar.from_ical(data).walk("VEVENT"))

    def expect(text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return "".join(ch for ch in text if ch in "\t\n" or not (ord(ch) < 0x20 or ord(ch) == 0x7f))

    assert str(event["summary"]) == expect(summary)
    assert str(event["description"]) == expect(description)
    # 1 March 00:00 local is the end of 28 February
    assert event.decoded("dtstart") == date(2027, 2, 28) and str(event["uid"]) == "abc@gov.example.org"


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=80), title=st.text(max_size=120))
def test_no_name_or_title_can_break_the_header_block(name: str, title: str) -> None:
    """Arbitrary text as a person's name and as a subject: printable ASCII header lines of at most 78
    characters, the same set of headers, and the subject reads back exactly (controls and whitespace
    runs as one space)."""
    from notifications.message import _address_value, _header, _text_value

    block = (_header("Subject", _text_value("Subject", title))
             + _header("To", _address_value("To", name, "wang@bj.example.org")) + "X-After: 1\r\n\r\n")
    lines = block.split("\r\n")[:-2]
    assert all(line.isascii() and line.isprintable() and len(line) <= 78 for line in lines), lines
    assert [line.split(":", 1)[0] for line in lines if not line.startswith(" ")] == ["Subject", "To", "X-After"]
    msg = parse(block.encode("ascii"))
    assert msg["X-After"] == "1"

    assert str(msg["Subject"]) == _flat(title)
    assert msg["To"].addresses[0].addr_spec == "wang@bj.example.org"


@pytest.mark.parametrize("event", sorted({e for p in registry.names() for e in registry.latest(p).all_events}))
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_event_builds_a_message_the_strict_parser_takes_without_defects(event: str, lang: str) -> None:
    """Every mail event of every process, zh and en, with and without a due date: `email.policy.strict`
    parses the whole message (headers, text, HTML, the .ics) and finds no defect anywhere (issue 17)."""
    from tests.notifications.test_render import EXTRAS, PERIODS

    for due in ({}, {"due_at": "2027-06-25T15:59:59+00:00"}):
        mail = synthetic(event, lang, period=PERIODS.get(event.split(".")[0]), actions=["submit"],
                         send_at="2027-01-04T01:00:00+00:00", **EXTRAS, **due)
        out = build_message(mail, render(mail, ORG), sender="Outpost 公文系统 <outpost@gov.example.org>",
                            to_name="王建国", to_email="wang@bj.example.org")
        msg = email.message_from_bytes(out.data, policy=email.policy.strict)
        parts = list(msg.walk())
        assert all(not part.defects for part in parts), [part.defects for part in parts]
        assert msg["Message-ID"] == "<abc@gov.example.org>" and str(msg["Subject"]).startswith("[Outpost] ")
        assert ("text/calendar" in [p.get_content_type() for p in parts]) == bool(due)
        text = msg.get_body(("plain",))
        assert text is not None and "outpost case advance 7 submit --as wang" in text.get_content()
