"""Mailed action links (issue 15.1): single use, signed, expiring, for one person, void once the case moved
on; a scanner's GET and HEAD change nothing; the POST acts through the case service, recorded as web."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from outpost.app import App
from tests.conftest import dump, local, set_time
from tests.web.conftest import Site, csrf_of, eml_texts, links_in


def test_a_leave_request_mail_carries_the_approvers_own_link_and_keeps_the_command_lines(site: Site) -> None:
    """The approver's mail has one /a/ link built from web.base_url, and the CLI commands are still there."""
    _case, path = site.leave_link()
    texts = [t for t in eml_texts(site.outbox).values() if path in t[0]]
    assert len(texts) == 1
    plain, html = texts[0]
    assert f"http://127.0.0.1:8080{path}" in plain and f'href="http://127.0.0.1:8080{path}"' in html
    assert "outpost case advance" in plain and "--as wang" in plain


def test_the_confirmation_page_shows_what_the_approver_needs_and_never_the_reason(site: Site) -> None:
    """R-7.3: process, person, dates, length and one button per action; the reason stays out."""
    _case, path = site.leave_link()
    page = site.client.get(path)
    assert page.status_code == 200
    for shown in ("离岗请假", "赵丽", "2027-01-11", "2027-01-12", 'value="approve"', 'value="reject"',
                  "待审批", "提醒审批人", "依据 R-2.8", ">批准</button>"):
        assert shown in page.text
    assert "家事" not in page.text
    assert "<script" not in page.text.lower()


def test_approving_by_link_acts_once_records_the_web_channel_and_mails_a_receipt(site: Site) -> None:
    """One POST approves; the history row says web, the client and its agent; the actor gets a receipt."""
    case_id, path = site.leave_link()
    done = site.act(path, "approve", "同意")
    assert done.status_code == 200, done.text
    view = site.app.case_view(case_id)
    assert view["state"] == "approved"
    last = view["history"][-1]
    assert (last["actor"], last["details"]["channel"], last["details"]["ip"]) == ("wang", "web", "testclient")
    assert last["details"]["user_agent"]
    receipts = [m for m in site.app.mailbox.mails(case_id=case_id) if m.event == "receipt"]
    assert [m.recipients[0]["person"] for m in receipts] == ["wang"]
    from notifications.render import render

    # the receipt names the step and the state as the process does (texts.toml), not by their codes
    text = render(receipts[0], lang="zh").text
    assert "办理“批准”" in text and "案件现为“已批准”" in text and "approve" not in text
    assert 'the action "approve"' in render(receipts[0], lang="en").text


def test_a_replayed_link_gets_the_neutral_page_and_writes_nothing(site: Site) -> None:
    """The second POST of a used link: 410, the one neutral page, nothing written."""
    _case, path = site.leave_link()
    page = site.client.get(path)
    token = csrf_of(page.text)
    assert site.client.post(path, data={"csrf": token, "action": "approve"}).status_code == 200
    before = dump(site.app.settings.database_url)
    again = site.client.post(path, data={"csrf": token, "action": "reject", "comment": "不同意"})
    assert again.status_code == 410 and "此链接已失效" in again.text
    assert site.client.get(path).status_code == 410
    assert dump(site.app.settings.database_url) == before


def test_a_tampered_link_gets_the_neutral_page(site: Site) -> None:
    """Any changed character of the token (payload or signature): 410, nothing written."""
    _case, path = site.leave_link()
    before = dump(site.app.settings.database_url)
    token = path.split("/a/", 1)[1]
    payload, stamp, sig = token.split(".")
    forged = [f"/a/{payload}.{stamp}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}",
              f"/a/{payload[:-3]}xyz.{stamp}.{sig}", "/a/nonsense", "/a/" + "x" * 3000]
    for bad in forged:
        assert site.client.get(bad).status_code == 410, bad
        assert site.client.post(bad, data={"csrf": "x", "action": "approve"}).status_code == 410, bad
    assert dump(site.app.settings.database_url) == before


def test_an_expired_link_gets_the_neutral_page(site: Site) -> None:
    """Past policy web.action_link_hours (72 h) the link is void: GET and POST answer 410."""
    _case, path = site.leave_link()
    csrf = csrf_of(site.client.get(path).text)
    set_time(site.app, local(2027, 1, 4, 9, 0) + timedelta(hours=72, seconds=1))
    before = dump(site.app.settings.database_url)
    assert site.client.get(path).status_code == 410
    assert site.client.post(path, data={"csrf": csrf, "action": "approve"}).status_code == 410
    assert dump(site.app.settings.database_url) == before


def test_another_recipients_link_gets_the_neutral_page(site: Site) -> None:
    """The director's link, opened where the deputy is signed in, or re-signed for someone else (no key): 410."""
    _case, path = site.leave_link()
    client = site.sign_in("li@bj.example.org")
    before = dump(site.app.settings.database_url)
    assert client.get(path).status_code == 410
    assert client.post(path, data={"csrf": "x", "action": "approve"}).status_code == 410
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("wrong-key-wrong-key", salt="outpost.web.action-link").dumps(
        {"p": "li", "n": "x", "c": 1, "v": 1, "a": ["approve"]})
    assert client.get(f"/a/{forged}").status_code == 410
    assert dump(site.app.settings.database_url) == before


def test_a_link_after_the_case_moved_on_gets_the_neutral_page(site: Site) -> None:
    """Decided on the CLI meanwhile: the mailed link answers 410 and writes nothing."""
    case_id, path = site.leave_link()
    csrf = csrf_of(site.client.get(path).text)
    site.app.service.advance(case_id, "reject", "wang", comment="不同意")
    before = dump(site.app.settings.database_url)
    assert site.client.get(path).status_code == 410
    assert site.client.post(path, data={"csrf": csrf, "action": "approve"}).status_code == 410
    assert dump(site.app.settings.database_url) == before


def test_a_link_still_works_after_a_reminder_changed_only_the_version(site: Site) -> None:
    """A reminder records a row but keeps the state: the first mail's link still acts. (The reminder is due
    when the 1st working day after the request, Tue 5 Jan, has ended: issue 17.)"""
    case_id, path = site.leave_link()
    site.app.ticker.tick(local(2027, 1, 6, 9, 1))
    set_time(site.app, local(2027, 1, 6, 9, 2))
    assert site.app.case_view(case_id)["version"] > 1
    assert site.act(path, "approve").status_code == 200
    assert site.app.case_view(case_id)["state"] == "approved"


def test_key_rotation_keeps_old_links_working_and_new_links_use_the_new_key(
        make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """Links signed with the previous key verify until they expire; a key no longer listed voids them."""
    old, new = "old-key-" + "o" * 20, "new-key-" + "n" * 20
    app1 = make_app(sqlite_url)
    site1 = Site(App(app1.settings.__class__(**{**app1.settings.__dict__,
                                                 "web": _with_keys(app1.settings.web, (old,))}), app1.clock))
    case_id, path = site1.leave_link()
    rotated = Site(App(app1.settings.__class__(**{**app1.settings.__dict__,
                                                   "web": _with_keys(app1.settings.web, (new, old))}), app1.clock))
    assert rotated.client.get(path).status_code == 200
    fresh = rotated.app.links.action_url(rotated.app.store, case_id, "wang", ["approve"], rotated.app.clock.now())
    assert fresh is not None
    only_new = Site(App(app1.settings.__class__(**{**app1.settings.__dict__,
                                                    "web": _with_keys(app1.settings.web, (new,))}), app1.clock))
    assert only_new.client.get(path).status_code == 410
    assert only_new.client.get(fresh.removeprefix("http://127.0.0.1:8080")).status_code == 200
    assert rotated.act(path, "approve").status_code == 200
    for s in (site1, rotated, only_new):
        s.app.close()


def _with_keys(web: object, keys: tuple[str, ...]) -> object:
    from dataclasses import replace

    return replace(web, secret_keys=keys)  # type: ignore[type-var]


def test_two_concurrent_posts_of_one_link_act_exactly_once(site: Site) -> None:
    """Two clients post the same link at once (SQLite and PostgreSQL): one 200, one 410, one history row."""
    case_id, path = site.leave_link()
    csrf = csrf_of(site.client.get(path).text)
    from outpost.web import create_app

    asgi = create_app(site.app)
    results: list[int] = []
    barrier = threading.Barrier(2)

    def post(action: str) -> None:
        with TestClient(asgi) as client:
            barrier.wait()
            results.append(client.post(path, data={"csrf": csrf, "action": action, "comment": "意见"}).status_code)

    threads = [threading.Thread(target=post, args=(a,)) for a in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 410]
    history = site.app.case_view(case_id)["history"]
    assert [h["trigger"] for h in history].count("approve") + [h["trigger"] for h in history].count("reject") == 1


def test_scanner_GET_and_HEAD_of_every_link_in_every_zh_and_en_mail_change_nothing(
        make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """Mail scanners fetch every link: GET and HEAD of every link in every rendered mail leave the dump as it was."""
    count = 0
    for lang in ("zh", "en"):
        url = sqlite_url.replace("outpost.db", f"outpost-{lang}.db")
        app = make_app(url, language=lang, outbox_dir=tmp_path / f"outbox-{lang}")
        site = Site(app)
        site.app.service.open("leave", "zhao", {"start": "2027-01-11", "end": "2027-01-12"})
        site.app.service.open("leave", "wang", {"start": "2027-01-11", "end": "2027-01-25"})
        site.app.service.open("matter", "wang", {"category": "asset_purchase", "kind": "request",
                                                 "title": "购置车辆", "event_date": "2027-02-20",
                                                 "amount": "300000"})
        site.deliver()
        page = site.client.get("/login")
        site.client.post("/login", data={"email": "liu@gov.example.org", "csrf": csrf_of(page.text)})
        site.deliver()
        links = links_in(site.outbox)
        assert any(p.startswith("/a/") for p in links) and any(p.startswith("/login/") for p in links)
        before = dump(url)
        for path in links:
            for method in ("GET", "HEAD"):
                answer = site.client.request(method, path)
                assert answer.status_code == 200, (lang, method, path)
                count += 1
        assert dump(url) == before
    assert count >= 8


def test_a_confirmation_page_shown_again_shows_what_changed_meanwhile(site: Site, tmp_path: Path) -> None:
    """Pages nobody is signed in for are kept by every value they show (a scanner fetches a link several
    times): a name changed in the organisation, or the link used meanwhile, shows at the next fetch."""
    _case, path = site.leave_link()
    first = site.client.get(path)
    assert "赵丽" in first.text and site.client.get(path).text == first.text
    org = (Path(__file__).parents[2] / "examples" / "org.toml").read_text(encoding="utf-8")
    (tmp_path / "org.toml").write_text(org.replace('name = "赵丽"', 'name = "赵丽华"'), encoding="utf-8")
    site.app.load_org(tmp_path / "org.toml")
    assert "赵丽华" in site.client.get(path).text
    assert site.client.post(path, data={"csrf": csrf_of(first.text), "action": "approve"}).status_code == 200
    assert site.client.get(path).status_code == 410


def test_a_token_checked_once_still_expires_by_its_age(site: Site) -> None:
    """The signature of a token is checked once per process and remembered; its age is measured at every use:
    one second past the lifetime it is refused as expired even before the database is asked, and so is a
    token whose signing time lies ahead of the clock."""
    from outpost.links import ACTION, LinkInvalid

    _case, path = site.leave_link()
    token = path.split("/a/", 1)[1]
    links = site.app.links
    signed_at = local(2027, 1, 4, 9, 0)
    set_time(site.app, signed_at + timedelta(hours=72))
    claim, _ = links.verify(ACTION, token)  # checked and remembered
    assert links.verify(ACTION, token)[0] == claim  # from memory
    for at in (signed_at + timedelta(hours=72, seconds=1), signed_at - timedelta(seconds=1)):
        set_time(site.app, at)
        with pytest.raises(LinkInvalid) as refused:
            links.verify(ACTION, token)
        assert refused.value.why == "expired"


def test_R5_2_the_annual_report_link_asks_for_the_plan_and_submits_it(site: Site) -> None:
    """The annual report is submitted with next year's work plan (R-5.2): its mailed link offers 报送 with a
    field for the plan. Without one, the rule says so and nothing is written; with one, the report is
    submitted and the plan kept."""
    at = local(2027, 12, 1, 9, 0)
    set_time(site.app, at)
    site.app.ticker.tick(at)
    with site.app.store.transaction(write=False) as tx:
        report = tx.find_case("report", "BJ", "2027-Y")
    assert report is not None
    site.deliver()
    mailed = links_in(site.outbox, to="wang@bj.example.org", event="report.opened")
    path = [p for p in mailed if p.startswith("/a/")][-1]
    page = site.client.get(path)
    assert page.status_code == 200, page.text
    assert 'value="submit"' in page.text and 'name="opt_plan"' in page.text and "下一年度工作计划" in page.text
    token = csrf_of(page.text)
    before = dump(site.app.settings.database_url)
    refused = site.client.post(path, data={"csrf": token, "action": "submit", "opt_plan": "  "})
    assert refused.status_code == 403 and "R-5.2" in refused.text and 'name="opt_plan"' in refused.text
    assert dump(site.app.settings.database_url) == before
    done = site.client.post(path, data={"csrf": token, "action": "submit", "opt_plan": "2028年工作计划：招商引资"})
    assert done.status_code == 200, done.text
    view = site.app.case_view(report.id)
    assert view["state"] == "submitted" and view["data"]["plan"] == "2028年工作计划：招商引资"
