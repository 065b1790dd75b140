"""The web front door's fixtures: an App on SQLite (and PostgreSQL where it answers), its Starlette app
under TestClient, and the links people get in their mail, read back from the delivered .eml files."""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from outpost.app import App

LINK = re.compile(r"http://127\.0\.0\.1:8080(/(?:a|login)/[A-Za-z0-9._\-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def eml_texts(folder: Path) -> dict[Path, tuple[str, str]]:
    """Every delivered message: (plain text, HTML) by file."""
    out = {}
    for f in sorted(folder.glob("*.eml")):
        msg = email.message_from_bytes(f.read_bytes(), policy=policy.default)
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        out[f] = (plain.get_content() if plain else "", html.get_content() if html else "")  # type: ignore[union-attr]
    return out


def links_in(folder: Path, to: str | None = None, event: str | None = None) -> list[str]:
    """The web links (paths) in the delivered mail, oldest first; only mail to `to` (an address) when given."""
    found: list[str] = []
    for f in sorted(folder.glob("*.eml"), key=lambda p: int(p.name.split("-")[0])):
        msg = email.message_from_bytes(f.read_bytes(), policy=policy.default)
        if to is not None and to not in str(msg["To"]):
            continue
        if event is not None and str(msg["X-Outpost-Event"]) != event:
            continue
        body = msg.get_body(("plain",))
        for path in LINK.findall(body.get_content() if body else ""):  # type: ignore[union-attr]
            if path not in found:
                found.append(path)
    return found


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class Site:
    """One App and its web front door under TestClient."""

    def __init__(self, app: App) -> None:
        from outpost.web import create_app

        self.app = app
        # entered: one event loop and one set of request threads for the whole test (each thread holds a
        # database connection, as in the server; a client not entered starts new threads per request)
        self.client = TestClient(create_app(app), follow_redirects=False).__enter__()
        self.outbox = app.settings.outbox_dir

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def deliver(self) -> None:
        self.app.deliver_mail(None)

    def leave_link(self, requester: str = "zhao", approver_mail: str = "wang@bj.example.org",
                   start: str = "2027-01-11", end: str = "2027-01-12") -> tuple[int, str]:
        """A leave request and the approver's action link from the delivered mail."""
        case = self.app.service.open("leave", requester, {"start": start, "end": end, "reason": "家事"})
        self.deliver()
        links = [p for p in links_in(self.outbox, to=approver_mail) if p.startswith("/a/")]
        assert links, "the approver's mail has no action link"
        return case.id, links[-1]

    def act(self, path: str, action: str, comment: str | None = None, **extra: str) -> Any:
        page = self.client.get(path)
        data = {"csrf": csrf_of(page.text) if page.status_code == 200 else "x", "action": action, **extra}
        if comment is not None:
            data["comment"] = comment
        return self.client.post(path, data=data)

    def sign_in(self, address: str) -> TestClient:
        """Sign in by mailed link: ask at /login, deliver, confirm the link from the mail."""
        page = self.client.get("/login")
        assert self.client.post("/login", data={"email": address, "csrf": csrf_of(page.text)}).status_code == 200
        self.deliver()
        path = [p for p in links_in(self.outbox, to=address) if p.startswith("/login/")][-1]
        confirm = self.client.get(path)
        done = self.client.post(path, data={"csrf": csrf_of(confirm.text)})
        assert done.status_code == 303, done.text
        return self.client


@pytest.fixture
def site(make_app: Callable[..., App], db_url: str) -> Iterator[Site]:
    s = Site(make_app(db_url))
    yield s
    s.close()


@pytest.fixture
def sqlite_site(make_app: Callable[..., App], sqlite_url: str) -> Iterator[Site]:
    s = Site(make_app(sqlite_url))
    yield s
    s.close()
