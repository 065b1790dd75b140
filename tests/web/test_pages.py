"""The signed-in pages (issue 15.3): my tasks, a case, the dashboard and compliance (General Office only),
generated from the registry; the CLI starts without importing the web."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from tests.web.conftest import Site, csrf_of


def test_my_tasks_lists_the_cases_where_i_may_act_now_with_their_due_date_and_why(sqlite_site: Site) -> None:
    """The director sees the staff leave to decide, its due date and why; Shenzhen's staff do not."""
    site = sqlite_site
    case_id, _path = site.leave_link()
    page = site.sign_in("wang@bj.example.org").get("/tasks")
    assert page.status_code == 200 and f"/cases/{case_id}" in page.text and "R-2.8" in page.text
    site.client.cookies.clear()
    assert f"/cases/{case_id}" not in site.sign_in("huang@sz.example.org").get("/tasks").text


def test_the_case_page_shows_state_deadlines_history_the_diagram_and_my_actions(sqlite_site: Site) -> None:
    """Approving from the case page acts through the service; the page shows the SVG diagram."""
    site = sqlite_site
    case_id, _path = site.leave_link()
    client = site.sign_in("wang@bj.example.org")
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "<svg" in page.text and 'value="approve"' in page.text
    done = client.post(f"/cases/{case_id}", data={"action": "approve", "csrf": csrf_of(page.text)})
    assert done.status_code == 200 and site.app.case_view(case_id)["state"] == "approved"
    assert site.app.case_view(case_id)["history"][-1]["details"]["channel"] == "web"


def test_a_case_of_another_office_is_not_shown_to_its_staff(sqlite_site: Site) -> None:
    """Shenzhen staff cannot read a Beijing leave: the same 404 as a case that does not exist."""
    site = sqlite_site
    case_id, _path = site.leave_link()
    client = site.sign_in("huang@sz.example.org")
    assert client.get(f"/cases/{case_id}").status_code == 404
    assert client.get("/cases/99999").status_code == 404


def test_the_dashboard_and_compliance_are_for_the_general_office_only(sqlite_site: Site) -> None:
    """A director gets 403; the clerk gets the tables and the SVG pictures, process names from the registry."""
    site = sqlite_site
    site.leave_link()
    client = site.sign_in("wang@bj.example.org")
    assert client.get("/dashboard").status_code == 403
    assert client.get("/compliance/2027").status_code == 403
    site.client.cookies.clear()
    client = site.sign_in("sun@gov.example.org")
    dash = client.get("/dashboard")
    assert dash.status_code == 200 and "离岗请假" in dash.text and "邢台市人民政府驻北京联络处" in dash.text
    comp = client.get("/compliance/2027")
    assert comp.status_code == 200 and comp.text.count("<svg") >= 3


def test_the_cli_does_not_import_the_web() -> None:
    """`outpost --help` loads neither Starlette nor uvicorn (the web is imported by `outpost web` only)."""
    code = ("import sys\nfrom outpost.cli import run\nrun(['--help'])\n"
            "print([m for m in ('starlette', 'uvicorn', 'outpost.web', 'itsdangerous') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"
