"""The web front door's figures (issue 15), each measured side by side in the same run.

  web_confirm_ratio  confirmation pages (GET /a/<token>) per second ÷ a bare Starlette endpoint on the same
                     uvicorn process; the load comes from separate processes over loopback (keep-alive);
                     the two alternate, and the figure is the median of the rounds' ratios
  web_action_per_s   single-use POST approvals per second on SQLite (one client), and the p99 latency of
                     the same with 20 concurrent clients
  dashboard_ms       the General Office dashboard (in process) with 100 offices at 10k, 100k and 1M cases
                     (generated rows: 2,000 open, the rest closed, as years of history look), p95

    python bench/web_bench.py [--quick]
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


# -- an organisation big enough for many one-day leaves ------------------------------------------------
def org_toml(offices: int, staff: int) -> str:
    lines = []
    for o in range(offices):
        lines += ["[[office]]", f'code = "O{o:03d}"', f'name = "驻外办事处{o:03d}"', 'city = "北京"', ""]
        lines += ["[[person]]", f'id = "d{o:03d}"', f'name = "主任{o:03d}"', f'email = "d{o:03d}@example.org"',
                  f'office = "O{o:03d}"', 'roles = ["director"]', ""]
        for s in range(staff):
            lines += ["[[person]]", f'id = "s{o:03d}_{s:02d}"', f'name = "职员{o:03d}{s:02d}"',
                      f'email = "s{o:03d}_{s:02d}@example.org"', f'office = "O{o:03d}"', 'roles = ["staff"]', ""]
    lines += ["[[person]]", 'id = "clerk"', 'name = "文书"', 'email = "clerk@example.org"', 'roles = ["clerk"]', ""]
    return "\n".join(lines)


def build(folder: Path, cases: int, offices: int = 20, staff: int = 10) -> tuple[str, list[tuple[str, str]]]:
    """A SQLite database with `cases` pending staff leaves, each with its director's action link
    (path) and the link's form token; returns (url, [(path, csrf)])."""
    from outpost.app import App
    from outpost.web import Web
    from workflow.settings import load_settings

    url = f"sqlite:///{folder / 'web.db'}"
    (folder / "org.toml").write_text(org_toml(offices, staff), encoding="utf-8")
    settings = load_settings({"database_url": url, "outbox_dir": folder / "outbox"}, env={}, cwd=folder)
    app = App(settings)
    app.init()
    app.load_org(folder / "org.toml")
    web = Web(app)
    links = []
    start = datetime.now(timezone(timedelta(hours=8))).date() + timedelta(days=30)
    people = [(f"s{o:03d}_{s:02d}", f"d{o:03d}") for o in range(offices) for s in range(staff)]
    for i in range(cases):
        person, director = people[i % len(people)]
        day = start + timedelta(days=2 * (i // len(people)))
        case = app.service.open("leave", person, {"start": day.isoformat(), "end": day.isoformat()})
        link = app.links.action_url(app.store, case.id, director, ["approve", "reject"], app.clock.now())
        assert link is not None
        path = link.split("8080", 1)[1]
        token = path.split("/a/", 1)[1]
        claim, _ = app.links.verify("action", token)
        links.append((path, web.csrf_token("a:" + claim.nonce)))
    app.close()
    return url, links


# -- the server, in its own process --------------------------------------------------------------------
SERVER = """
import sys
from starlette.responses import PlainTextResponse
import uvicorn
from outpost.app import App
from outpost.web import create_app
from workflow.settings import load_settings
from pathlib import Path
url, port, folder = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
app = App(load_settings({"database_url": url, "outbox_dir": folder / "outbox"}, env={}, cwd=folder))
asgi = create_app(app)
async def bare(request):
    return PlainTextResponse("ok")
asgi.add_route("/bare", bare)
uvicorn.run(asgi, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def start_server(url: str, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTPOST_")}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port), str(folder)], env=env, cwd=str(ROOT))
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/bare")
            if c.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the web server did not start")


# -- load, from a separate process ---------------------------------------------------------------------
def _get_loop(port: int, path: str, seconds: float, out: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        assert r.status == 200, r.status
        n += 1
    out.put(n)


def rate(port: int, path: str, seconds: float, clients: int = 4) -> float:
    """Responses per second with `clients` keep-alive connections, from separate processes."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_get_loop, args=(port, path, seconds, q)) for _ in range(clients)]
    for p in procs:
        p.start()
    total = sum(q.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def _post_batch(port: int, work: list[tuple[str, str]], out: Any) -> None:
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat = []
    ok = 0
    for path, csrf in work:
        body = urlencode({"csrf": csrf, "action": "approve"})
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        lat.append(time.perf_counter() - t0)
        ok += r.status == 200
    out.put((ok, lat))


def posts(port: int, links: list[tuple[str, str]], clients: int) -> tuple[float, int, list[float]]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    shares = [links[i::clients] for i in range(clients)]
    procs = [ctx.Process(target=_post_batch, args=(port, share, q)) for share in shares]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [q.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    ok = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[1])
    return ok / elapsed, ok, lat


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))] * 1000


# -- dashboard at scale --------------------------------------------------------------------------------
def dashboard_ms(folder: Path, sizes: list[int], rounds: int = 20) -> dict[int, float]:
    """p95 of the dashboard page with 100 offices as the cases grow (2,000 open, the rest closed)."""
    from outpost.app import App
    from outpost.web import Web
    from workflow.settings import load_settings

    url = f"sqlite:///{folder / 'dash.db'}"
    (folder / "org100.toml").write_text(org_toml(100, 1), encoding="utf-8")
    settings = load_settings({"database_url": url, "outbox_dir": folder / "outbox"}, env={}, cwd=folder)
    app = App(settings)
    app.init()
    app.load_org(folder / "org100.toml")
    web = Web(app)
    with app.store.transaction(write=False) as tx:
        me = tx.org().person("clerk")
    assert me is not None
    out: dict[int, float] = {}
    have = 0
    db = sqlite3.connect(str(folder / "dash.db"))
    now = datetime.now(UTC)
    for size in sizes:
        rows = []
        for i in range(have, size):
            office = f"O{i % 100:03d}"
            is_open = i < 2000
            state = "pending" if is_open else ("rejected", "returned", "withdrawn")[i % 3]  # final states of leave
            rows.append(("leave", 1, office, f"s{i % 100:03d}_00", None, state, 1, '{"v": 1}', now.isoformat(),
                         None, now.isoformat(), 1, "x"))
        db.executemany("INSERT INTO cases (process, definition_version, office, subject, period, state, version, "
                       "data, opened_at, opened_by, updated_at, history_count, history_head) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        if have == 0:  # an overdue deadline on a tenth of the open cases
            ids = [r[0] for r in db.execute("SELECT id FROM cases ORDER BY id LIMIT 200")]
            db.executemany("INSERT INTO deadline (case_id, kind, action, for_state, created_seq, occurrence, due_at, "
                           "rule_id, why, payload, status, created_at, attempts) VALUES "
                           "(?, 'escalate', 'escalate', 'pending', 1, 1, ?, 'R-2.8', 'x', '{}', 'fired', ?, 0)",
                           [(i, (now - timedelta(days=1)).isoformat(), now.isoformat()) for i in ids])
        db.commit()
        db.execute("ANALYZE")
        db.commit()
        have = size
        times = []
        for _ in range(rounds + 2):
            t0 = time.perf_counter()
            page = web.dashboard(me, "x")
            times.append((time.perf_counter() - t0) * 1000)
            assert page.status_code == 200
        times = sorted(times[2:])
        out[size] = times[min(len(times) - 1, int(len(times) * 0.95))]
    db.close()
    app.close()
    return out


def measure(folder: Path, quick: bool = False) -> dict[str, Any]:
    n_links = 300 if quick else 1000
    url, links = build(folder, n_links)
    proc, port = start_server(url, folder)
    try:
        rounds = 3 if quick else 5
        rate(port, "/bare", 1.0)  # warm-up
        rate(port, links[0][0], 1.0)
        # Bare and confirmation runs alternate, and the ratio is the median of each round's: a machine whose
        # speed drifts during the run (another job starting) moves both sides of a round alike.
        pairs = [(rate(port, "/bare", 1.5), rate(port, links[0][0], 1.5)) for _ in range(rounds)]
        ratios = sorted(c / b for b, c in pairs)
        ratio = ratios[len(ratios) // 2]
        bare = sorted(b for b, _c in pairs)[len(pairs) // 2]
        confirm = sorted(c for _b, c in pairs)[len(pairs) // 2]
        half = len(links) // 2
        per_s, ok1, _lat1 = posts(port, links[:half], 1)
        per_s20, ok20, lat20 = posts(port, links[half:], 20)
    finally:
        proc.terminate()
        proc.wait(10)
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
    dash = dashboard_ms(folder, sizes)
    return {"bare_per_s": bare, "confirm_per_s": confirm, "ratio": ratio, "ratios": ratios, "action_per_s": per_s,
            "action_ok": ok1, "action_n": half, "action20_per_s": per_s20, "p99_20_ms": p99(lat20),
            "action20_ok": ok20, "action20_n": len(links) - half, "dashboard_ms": dash}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(measure(Path(tmp), "--quick" in sys.argv), indent=1, default=str))
