"""The sender (issue 17.5): a real mail server needs `smtp.from`; Message-IDs carry its domain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from outpost.app import App
from tests.conftest import outpost
from workflow.errors import BadInput
from workflow.settings import load_settings


def test_daemon_refuses_to_start_with_smtp_and_no_from(sqlite_url: str, tmp_path: Path) -> None:
    """`outpost daemon` with `smtp.host` set and no `smtp.from`: one line naming `smtp.from`, exit 2,
    before anything starts."""
    done = outpost(["daemon", "--tick-seconds", "0.2"], tmp_path, url=sqlite_url,
                   OUTPOST_SMTP_HOST="mail.gov.example.org")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "smtp.from" in lines[0]


def test_settings_know_whether_the_sender_was_given(tmp_path: Path) -> None:
    """Without SMTP the default sender is fine (`.eml` files); with SMTP it must be given."""
    base = {"database_url": f"sqlite:///{tmp_path / 'x.db'}"}
    load_settings(base, env={}, cwd=tmp_path).smtp.require_sender()
    with pytest.raises(BadInput, match=r"smtp\.from"):
        load_settings({**base, "smtp_host": "mail.example.org"}, env={}, cwd=tmp_path).smtp.require_sender()
    given = load_settings(base, env={"OUTPOST_SMTP_HOST": "mail.example.org",
                                     "OUTPOST_SMTP_FROM": "Outpost <outpost@gov.example.org>"}, cwd=tmp_path)
    given.smtp.require_sender()
    assert given.smtp.sender_given


def test_message_ids_take_the_domain_of_smtp_from(make_app: Callable[..., App], sqlite_url: str) -> None:
    """Message-IDs end in the domain of `smtp.from`; with no sender given they never say `@localhost`."""
    app = make_app(sqlite_url, smtp_from="公文系统 <outpost@gov.example.org>")
    case = app.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    assert all(m.message_id.endswith("@gov.example.org>") for m in app.store.mails(case_id=case))
    plain = make_app(f"sqlite:///{Path(sqlite_url.removeprefix('sqlite:///')).parent / 'other.db'}")
    case = plain.service.open("leave", "zhao", {"start": "2027-03-01", "end": "2027-03-02"}).id
    ids = [m.message_id for m in plain.store.mails(case_id=case)]
    assert ids and all(i.endswith("@outpost.local>") for i in ids)
