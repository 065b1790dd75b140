"""Web security (issue 15): headers, CSRF, sessions (fixation, sign-out, idle), the Host header, the sign-in
rate limit, and the permission matrix on the web path (the CLI's refusals, with their rule ids)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from outpost.app import App
from tests.conftest import dump, local, set_time
from tests.web.conftest import Site, csrf_of, links_in


@pytest.mark.parametrize("path", ["/login", "/healthz", "/static/app.css", "/a/nonsense", "/tasks", "/nowhere"])
def test_every_response_carries_the_security_headers(sqlite_site: Site, path: str) -> None:
    """no-store, no referrer, no framing, a strict CSP — on pages, errors, redirects and static files."""
    r = sqlite_site.client.get(path)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp


def test_a_post_without_its_csrf_token_is_refused_and_writes_nothing(sqlite_site: Site) -> None:
    """Link POST, sign-in request, case action and sign-out: without the form's token, 403, nothing written."""
    site = sqlite_site
    case_id, path = site.leave_link()
    before = dump(site.app.settings.database_url)
    assert site.client.post(path, data={"action": "approve"}).status_code == 403
    assert site.client.post("/login", data={"email": "wang@bj.example.org"}).status_code == 403
    assert dump(site.app.settings.database_url) == before
    client = site.sign_in("wang@bj.example.org")
    before = dump(site.app.settings.database_url)
    assert client.post(f"/cases/{case_id}", data={"action": "approve"}).status_code == 403
    assert client.post(f"/cases/{case_id}", data={"action": "approve", "csrf": "forged"}).status_code == 403
    assert site.app.case_view(case_id)["state"] == "pending"
    assert client.post("/logout", data={}).status_code == 403


def test_signing_in_rotates_the_session_id_and_signing_out_ends_it(sqlite_site: Site) -> None:
    """A cookie planted before sign-in is not the session after it (no fixation); after sign-out the old
    cookie opens nothing."""
    site = sqlite_site
    site.client.cookies.set("outpost_session", "planted-by-an-attacker", domain="testserver.local")
    client = site.sign_in("liu@gov.example.org")
    sid = client.cookies.get("outpost_session", domain="testserver.local")
    assert sid and sid != "planted-by-an-attacker"
    assert client.get("/tasks").status_code == 200
    set_cookie = [h for k, h in client.get("/tasks").headers.items() if k == "set-cookie"]
    assert not set_cookie  # no new cookie on an ordinary page
    csrf = csrf_of(client.get("/tasks").text)
    out = client.post("/logout", data={"csrf": csrf})
    assert out.status_code == 303
    client.cookies.set("outpost_session", sid, domain="testserver.local")
    assert client.get("/tasks").status_code == 303  # back to /login


def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(make_app: Callable[..., App],
                                                                    sqlite_url: str) -> None:
    """HttpOnly and SameSite=Lax always; Secure (and the __Host- prefix) when web.base_url is https."""
    for base, secure in (("http://127.0.0.1:8080", False), ("https://outpost.example.org", True)):
        app = make_app(sqlite_url.replace("outpost.db", f"{secure}.db"), web_base_url=base)
        site = Site(app)
        page = site.client.get("/login")
        site.client.post("/login", data={"email": "liu@gov.example.org", "csrf": csrf_of(page.text)})
        site.deliver()
        path = [p for p in _all_links(site, base) if p.startswith("/login/")][-1]
        done = site.client.post(path, data={"csrf": csrf_of(site.client.get(path).text)})
        cookie = done.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert ("secure" in cookie.split(";")[2:].__str__()) == secure or ("; secure" in cookie) == secure
        assert cookie.startswith("__host-") == secure


def _all_links(site: Site, base: str) -> list[str]:
    import re

    from tests.web.conftest import eml_texts

    found = []
    for plain, _html in eml_texts(site.outbox).values():
        found += re.findall(re.escape(base) + r"(/(?:a|login)/[A-Za-z0-9._\-]+)", plain)
    return found


def test_an_idle_session_ends(sqlite_site: Site) -> None:
    """After policy web.session_idle_minutes without a request, the session is gone."""
    client = sqlite_site.sign_in("liu@gov.example.org")
    assert client.get("/tasks").status_code == 200
    set_time(sqlite_site.app, local(2027, 1, 4, 9, 0) + timedelta(minutes=61))
    assert client.get("/tasks").status_code == 303


def test_a_session_in_use_is_written_once_a_minute_and_stays_alive(sqlite_site: Site) -> None:
    """A page view reads the session; its last use is written only when a minute or more old, and a session used
    every half hour never goes idle (policy web.session_idle_minutes is 60)."""
    site = sqlite_site
    client = site.sign_in("liu@gov.example.org")
    at = local(2027, 1, 4, 9, 0)
    set_time(site.app, at)
    assert client.get("/tasks").status_code == 200  # the last use written now
    before = dump(site.app.settings.database_url)
    for seconds in (20, 40, 59):
        set_time(site.app, at + timedelta(seconds=seconds))
        assert client.get("/tasks").status_code == 200
    assert dump(site.app.settings.database_url) == before  # within the minute: nothing written
    for half_hours in range(1, 5):
        set_time(site.app, at + timedelta(minutes=30 * half_hours))
        assert client.get("/tasks").status_code == 200
    assert dump(site.app.settings.database_url) != before


def test_the_host_header_is_ignored_links_come_from_base_url(sqlite_site: Site) -> None:
    """A sign-in asked with a forged Host header mails a link to web.base_url, not to that host."""
    site = sqlite_site
    page = site.client.get("/login", headers={"host": "evil.example"})
    site.client.post("/login", data={"email": "liu@gov.example.org", "csrf": csrf_of(page.text)},
                     headers={"host": "evil.example"})
    site.deliver()
    from tests.web.conftest import eml_texts

    texts = "".join(p + h for p, h in eml_texts(site.outbox).values())
    assert "evil.example" not in texts and "http://127.0.0.1:8080/login/" in texts
    assert "evil.example" not in site.client.get("/tasks", headers={"host": "evil.example"}).headers.get(
        "location", "")


def test_sign_in_requests_are_rate_limited_and_unknown_addresses_get_the_same_answer(sqlite_site: Site) -> None:
    """Known or not, the same page; the sixth request for one address within the hour: 429, no mail."""
    site = sqlite_site
    page = site.client.get("/login")
    known = site.client.post("/login", data={"email": "liu@gov.example.org", "csrf": csrf_of(page.text)})
    unknown = site.client.post("/login", data={"email": "nobody@example.org", "csrf": csrf_of(page.text)})
    assert known.status_code == unknown.status_code == 200 and known.text == unknown.text
    for _ in range(4):
        assert site.client.post("/login", data={"email": "liu@gov.example.org",
                                                "csrf": csrf_of(page.text)}).status_code == 200
    queued = len([m for m in site.app.mailbox.mails() if m.event == "sign_in"])
    limited = site.client.post("/login", data={"email": "liu@gov.example.org", "csrf": csrf_of(page.text)})
    assert limited.status_code == 429
    assert len([m for m in site.app.mailbox.mails() if m.event == "sign_in"]) == queued == 5
    set_time(site.app, local(2027, 1, 4, 10, 1))
    assert site.client.post("/login", data={"email": "liu@gov.example.org",
                                            "csrf": csrf_of(page.text)}).status_code == 200


def test_a_sign_in_link_works_once(sqlite_site: Site) -> None:
    """The mailed sign-in link, used, answers 410 the second time."""
    site = sqlite_site
    site.sign_in("liu@gov.example.org")
    path = [p for p in links_in(site.outbox, to="liu@gov.example.org") if p.startswith("/login/")][-1]
    assert site.client.get(path).status_code == 410


def test_a_trusted_proxy_header_signs_in_only_when_configured(make_app: Callable[..., App], sqlite_url: str) -> None:
    """Off by default (the header is ignored); configured, the proxy's user is signed in."""
    plain = Site(make_app(sqlite_url))
    assert plain.client.get("/tasks", headers={"X-Remote-User": "liu"}).status_code == 303
    proxied = Site(make_app(sqlite_url.replace("outpost.db", "p.db"), web_trusted_user_header="X-Remote-User"))
    assert proxied.client.get("/tasks", headers={"X-Remote-User": "liu"}).status_code == 200
    assert proxied.client.get("/tasks", headers={"X-Remote-User": "nobody"}).status_code == 303


def test_R2_4_the_web_refuses_what_the_cli_refuses_with_the_same_rule(site: Site) -> None:
    """Permission matrix on the web path: a staff member may not approve a colleague's leave (the CLI's
    refusal, same rule id, 403), and nothing is written."""
    case_id, _path = site.leave_link()
    from workflow.errors import WorkflowError

    with pytest.raises(WorkflowError) as cli:
        site.app.service.advance(case_id, "approve", "huang")
    client = site.sign_in("huang@sz.example.org")
    before = dump(site.app.settings.database_url)
    page = client.get("/tasks")
    answer = client.post(f"/cases/{case_id}", data={"action": "approve", "csrf": csrf_of(page.text)})
    assert answer.status_code in (403, 404)
    if answer.status_code == 403:
        assert str(cli.value).split(":")[0] in answer.text
    assert dump(site.app.settings.database_url) == before


def test_web_actions_give_the_cli_refusals_for_every_trigger_of_a_case(site: Site) -> None:
    """For each trigger of a pending leave and each person, the web's answer matches the service's
    (allowed: it acts; refused: 403 and the same rule id in the page)."""
    from workflow.errors import WorkflowError

    case_id, _path = site.leave_link()
    people = ["wang", "li", "zhao", "liu", "sun"]
    for person in people:
        infos = {i.trigger: i for i in site.app.service.triggers(case_id, person)}
        site.client.cookies.clear()
        client = site.sign_in(_email(site.app, person))
        page = client.get(f"/cases/{case_id}")
        if page.status_code == 404:
            assert not any(i.allowed for i in infos.values())
            continue
        csrf = csrf_of(page.text)
        for trigger in ("withdraw",):  # one that changes state only for its requester
            info = infos[trigger]
            if info.allowed:
                continue
            before = dump(site.app.settings.database_url)
            answer = client.post(f"/cases/{case_id}", data={"action": trigger, "csrf": csrf})
            with pytest.raises(WorkflowError) as cli:
                site.app.service.advance(case_id, trigger, person)
            assert answer.status_code == 403
            assert str(cli.value).split(":")[0] in answer.text
            assert dump(site.app.settings.database_url) == before


def _email(app: App, person: str) -> str:
    with app.store.transaction(write=False) as tx:
        p = tx.org().person(person)
    assert p is not None and p.email
    return p.email


def test_healthz_says_what_is_wrong(sqlite_site: Site) -> None:
    """503 without a daemon heartbeat, 200 with a fresh one; the database and schema are named."""
    site = sqlite_site
    r = site.client.get("/healthz")
    assert r.status_code == 503 and r.json()["database"] and r.json()["schema"]
    with site.app.store.transaction() as tx:
        tx.set_meta("daemon:test", {"heartbeat_at": site.app.clock.now().isoformat(), "pid": 1})
    r = site.client.get("/healthz")
    assert r.status_code == 200 and r.json()["ok"] and r.json()["heartbeat_age_seconds"] == 0
