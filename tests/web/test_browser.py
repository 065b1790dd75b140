"""A real browser (Playwright driving Debian's Chromium) on a real `uvicorn` server: the mailed link on a
desktop and on a 390x844 phone, sign-in by mailed link and my tasks, the dashboard and the compliance
pictures, and reject needing a comment. Screenshots go to tests/web/artefacts/ (looked at, not kept)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from outpost.app import App
from tests.web.conftest import links_in

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ARTEFACTS = Path(__file__).parent / "artefacts"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
                                                   reason=f"no {CHROMIUM} (.ci/run installs it)")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, app: App, port: int) -> None:
        import uvicorn

        from outpost.web import create_app

        self.server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        end = time.monotonic() + 10
        while not self.server.started and time.monotonic() < end:
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(make_app: Callable[..., App], sqlite_url: str) -> Iterator[tuple[App, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_app(sqlite_url, web_base_url=base)
    server = Server(app, port)
    yield app, base
    server.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTEFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _link(app: App, to: str, kind: str = "/a/") -> str:
    app.deliver_mail(None)
    import re

    from tests.web.conftest import eml_texts

    base = app.settings.web.base_url
    found = []
    for plain, _html in eml_texts(app.settings.outbox_dir).values():
        found += [m for m in re.findall(re.escape(base) + r"(/(?:a|login)/[A-Za-z0-9._\-]+)", plain)
                  if m.startswith(kind)]
    assert links_in(app.settings.outbox_dir, to=to) or found
    mine = []
    for path in found:
        if path not in mine:
            mine.append(path)
    return base + mine[-1]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}],
                         ids=["desktop", "phone"])
def test_the_director_approves_from_the_mailed_link(served: tuple[App, str], browser: Any,
                                                    viewport: dict[str, int]) -> None:
    """Open the link from the .eml, see what is asked, approve: the case is approved, one history row."""
    app, _base = served
    case = app.service.open("leave", "zhao", {"start": "2027-01-11", "end": "2027-01-12", "reason": "家事"})
    url = _link(app, "wang@bj.example.org")
    page = browser.new_page(viewport=viewport)
    page.goto(url)
    assert page.get_by_role("button", name="批准").is_visible()
    assert "赵丽" in page.content()
    name = "desktop" if viewport["width"] > 400 else "phone"
    page.screenshot(path=str(ARTEFACTS / f"confirm-{name}.png"), full_page=True)
    assert app.case_view(case.id)["state"] == "pending"
    page.get_by_role("button", name="批准").click()
    page.wait_for_selector("text=已办理")
    page.screenshot(path=str(ARTEFACTS / f"done-{name}.png"), full_page=True)
    assert app.case_view(case.id)["state"] == "approved"


def test_reject_needs_a_comment(served: tuple[App, str], browser: Any) -> None:
    """Reject without a comment: the page says a comment is required and nothing changes; with one, rejected."""
    app, _base = served
    case = app.service.open("leave", "zhao", {"start": "2027-01-11", "end": "2027-01-12"})
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(_link(app, "wang@bj.example.org"))
    page.get_by_role("button", name="驳回").click()
    page.wait_for_selector("text=驳回须填写意见")
    page.screenshot(path=str(ARTEFACTS / "reject-needs-comment.png"), full_page=True)
    assert app.case_view(case.id)["state"] == "pending"
    page.fill("#comment", "时间冲突，请改期")
    page.get_by_role("button", name="驳回").click()
    page.wait_for_selector("text=已办理")
    assert app.case_view(case.id)["state"] == "rejected"


def test_sign_in_by_mailed_link_and_act_from_my_tasks(served: tuple[App, str], browser: Any) -> None:
    """Ask for a link, open it from the mail, confirm, see my tasks, open the case (diagram) and approve."""
    app, base = served
    case = app.service.open("leave", "zhao", {"start": "2027-01-11", "end": "2027-01-12"})
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(base + "/login")
    page.fill("#email", "wang@bj.example.org")
    page.get_by_role("button", name="发送登录链接").click()
    page.wait_for_selector("text=登录链接的邮件已经发出")
    page.goto(_link(app, "wang@bj.example.org", "/login/"))
    page.get_by_role("button", name="确认登录").click()
    page.wait_for_url(base + "/tasks")
    assert f"案件 {case.id}" in page.content()
    page.screenshot(path=str(ARTEFACTS / "tasks-phone.png"), full_page=True)
    page.click(f"text=案件 {case.id}")
    page.wait_for_selector("svg")
    page.screenshot(path=str(ARTEFACTS / "case-phone.png"), full_page=True)
    page.get_by_role("button", name="批准").click()
    page.wait_for_selector(".ok")
    assert app.case_view(case.id)["state"] == "approved"


def test_the_dashboard_and_the_compliance_pictures_render(served: tuple[App, str], browser: Any) -> None:
    """A clerk signs in; the dashboard shows the offices' open cases, the compliance page its SVG pictures."""
    app, base = served
    app.service.open("leave", "zhao", {"start": "2027-01-11", "end": "2027-01-12"})
    from tests.conftest import local

    app.ticker.tick(local(2027, 1, 4, 9, 0))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base + "/login")
    page.fill("#email", "sun@gov.example.org")
    page.get_by_role("button", name="发送登录链接").click()
    page.wait_for_selector("text=登录链接的邮件已经发出")
    page.goto(_link(app, "sun@gov.example.org", "/login/"))
    page.get_by_role("button", name="确认登录").click()
    page.wait_for_url(base + "/tasks")
    page.goto(base + "/dashboard")
    assert "邢台市人民政府驻北京联络处" in page.content()
    page.screenshot(path=str(ARTEFACTS / "dashboard.png"), full_page=True)
    page.goto(base + "/compliance/2027")
    assert page.locator("svg.chart").count() >= 3
    page.screenshot(path=str(ARTEFACTS / "compliance.png"), full_page=True)
