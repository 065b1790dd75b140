"""Mail benchmark (not a test): queue 1,000 messages through the engine, render them, deliver them.

    /work/venv/bin/python bench/mail_bench.py [--count 1000] [--database-url URL] [--plain] [--server-thread]

Each message comes from a real `leave` request (one case per message, so the per-recipient action
check runs for every one). Delivery goes to a local aiosmtpd server with STARTTLS + AUTH (like the
tests; `--plain` for neither) over ONE connection, which the script verifies. Prints messages per
second for rendering and for delivery.

The server runs in its own process, as a mail server does: aiosmtpd spends 1.2–1.5 ms of CPU per
message on this kind of machine (it reads DATA line by line), more than Outpost's whole side of a
delivery, and inside our process it would take that from the deliverer under the GIL.
`--server-thread` runs it in a thread of this process instead, for comparison.

The templates are validated first, untimed but reported (`validate_ms`), as the daemon does at start:
a delivery pass validates once per process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from notifications.delivery import (  # noqa: E402
    ActionFilter,
    SmtpTransport,
    deliver_pass,
    load_org,
    prepare,
    templates_checked,
    wire_data,
)
from notifications.render import render  # noqa: E402
from outpost.app import App  # noqa: E402
from workflow.clock import FixedClock  # noqa: E402
from workflow.settings import load_settings  # noqa: E402
from workflow.timeutil import LOCAL_TZ  # noqa: E402

PASSWORD = "bench-password"


class Sink:
    def __init__(self) -> None:
        self.count = 0
        self.peers: set[Any] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        self.peers.add(session.peer)
        return "250 OK"


def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
    return AuthResult(success=True) if ok else AuthResult(success=False, handled=False)


def _cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _controller(sink: Sink, port: int, tls: tuple[Path, Path] | None) -> Controller:
    kwargs: dict[str, Any] = {}
    if tls is not None:
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(*tls)
        kwargs = {"tls_context": server_ctx, "require_starttls": True, "auth_required": True,
                  "authenticator": _auth}
    return Controller(sink, hostname="127.0.0.1", port=port, data_size_limit=None, **kwargs)


def _serve(port: int, tls: tuple[Path, Path] | None, ready: Any, stop: Any, results: Any) -> None:
    """The SMTP server's own process: serve until told to stop, then report what it received."""
    sink = Sink()
    controller = _controller(sink, port, tls)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    results.put((sink.count, len(sink.peers)))


class Server:
    """aiosmtpd on 127.0.0.1, in its own process (default) or in a thread of this one."""

    def __init__(self, port: int, tls: tuple[Path, Path] | None, in_process: bool) -> None:
        self.in_process = in_process
        self.sink = Sink()
        self.controller: Controller | None = None
        if in_process:
            self.controller = _controller(self.sink, port, tls)
            return
        mp = multiprocessing.get_context("spawn")  # no fork of a process with open connections or threads
        self.ready, self.stop_event, self.results = mp.Event(), mp.Event(), mp.Queue()
        self.process = mp.Process(target=_serve, args=(port, tls, self.ready, self.stop_event, self.results),
                                  daemon=True)

    def start(self) -> None:
        if self.controller is not None:
            self.controller.start()
            return
        self.process.start()
        if not self.ready.wait(60):
            raise SystemExit("the SMTP server process did not start")

    def stop(self) -> tuple[int, int]:
        """(messages received, connections seen)."""
        if self.controller is not None:
            self.controller.stop()
            return self.sink.count, len(self.sink.peers)
        self.stop_event.set()
        received: tuple[int, int] = self.results.get(timeout=60)
        self.process.join(60)
        return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp folder")
    parser.add_argument("--plain", action="store_true", help="no STARTTLS, no AUTH")
    parser.add_argument("--server-thread", action="store_true",
                        help="run the SMTP server in a thread of this process instead of its own process")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="outpost-mail-bench-"))
    try:
        run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, tmp: Path) -> None:
    r = measure(tmp, args.count, args.database_url, args.plain, server_thread=args.server_thread)
    n = r["count"]
    print(f"messages:                 {n} ({r['bytes_avg'] / 1024:.1f} KiB each on average, "
          f"{'STARTTLS + AUTH' if r['tls'] else 'plain SMTP'}, {r['dialect']}, SMTP server in {r['server']})")
    print(f"queue (engine, 1 case each): {r['queue_per_s']:8.0f} msg/s  ({n / r['queue_per_s']:.2f} s)")
    print(f"validate templates (once per process): {r['validate_ms']:8.0f} ms")
    print(f"render (subject+text+html): {r['render_per_s']:8.0f} msg/s  ({n / r['render_per_s']:.2f} s)")
    for key, what in (("actions_per_s", "  who may act now (service.triggers)"),
                      ("build_per_s", "  MIME build (headers, base64 parts, .ics, wire bytes)"),
                      ("serialise_per_s", "  SMTP DATA form (dot-stuffing)")):
        print(f"{what}: {r[key]:8.0f} msg/s  ({n / r[key]:.2f} s)")
    print(f"prepare (render+actions+MIME+.ics): {r['prepare_per_s']:8.0f} msg/s  ({n / r['prepare_per_s']:.2f} s)")
    print(f"SMTP only (the built messages, one connection, nothing else): {r['smtp_only_per_s']:8.0f} msg/s  "
          f"({n / r['smtp_only_per_s']:.2f} s)")
    print(f"deliver (claim+render+SMTP+mark): {r['deliver_per_s']:8.0f} msg/s  ({n / r['deliver_per_s']:.2f} s)  "
          f"= {r['deliver_per_s'] / r['smtp_only_per_s']:.0%} of SMTP only")
    print(f"server received {r['received']} message(s) over {r['connections']} connection(s); "
          f"report: sent {r['sent']}, retried {r['retried']}, failed {r['failed']}")
    if not r["ok"]:
        raise SystemExit("benchmark check failed: every message once, over one connection")


def measure(tmp: Path, count: int = 1000, database_url: str | None = None, plain: bool = False, *,
            server_thread: bool = False) -> dict[str, Any]:
    """Queue, render, prepare and deliver `count` messages; rates in messages per second, and the checks."""
    from datetime import datetime

    port = _port()
    tls = not plain
    cert_files = _cert(tmp) if tls else None
    server = Server(port, cert_files, in_process=server_thread)  # spawned before the app opens anything
    options: dict[str, Any] = {"database_url": database_url or f"sqlite:///{tmp / 'bench.db'}",
                               "outbox_dir": tmp / "outbox", "smtp_host": "127.0.0.1", "smtp_port": port,
                               "smtp_from": "Outpost <outpost@gov.example.org>",
                               "web_key_file": tmp / "secret.key"}  # beside the run, whatever the database
    if tls:
        options.update(smtp_starttls=True, smtp_username="outpost")
    settings = load_settings(options, env={}, cwd=tmp)
    settings = replace(settings, smtp=replace(settings.smtp, password=PASSWORD if tls else None))
    at = datetime(2027, 1, 4, 9, 0, tzinfo=LOCAL_TZ)
    app = App(settings, clock=FixedClock(at))
    app.init()
    app.load_org(ROOT / "examples" / "org.toml")

    # -- queue: one leave request per message, through the engine --------------------------------------
    t0 = time.perf_counter()
    people = ("zhao", "huang", "li")
    for i in range(count):
        start = date(2027, 3, 1) + timedelta(days=i // len(people))  # one day each: never the same day twice
        app.service.open("leave", people[i % len(people)], {"start": start.isoformat(), "end": start.isoformat()})
    queue_s = time.perf_counter() - t0
    mails = app.store.mails(status="queued")
    assert len(mails) == count, len(mails)

    # -- validate, as at the start of the daemon or of `outpost mail deliver` -----------------------------
    t0 = time.perf_counter()
    templates_checked()
    validate_s = time.perf_counter() - t0

    # -- render -----------------------------------------------------------------------------------------
    org = load_org(app)
    t0 = time.perf_counter()
    for m in mails:
        render(m, org)
    render_s = time.perf_counter() - t0
    actions = ActionFilter(app)
    t0 = time.perf_counter()
    allowed = [actions(m) for m in mails]
    actions_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    built = [prepare(m, org, settings) for m in mails]
    build_s = time.perf_counter() - t0 - render_s  # prepare() renders again: count only the MIME part
    t0 = time.perf_counter()
    size = sum(len(wire_data(b)) for b in built)
    bytes_s = time.perf_counter() - t0
    assert all(a is not None for a in allowed)
    prepare_s = render_s + actions_s + build_s + bytes_s

    # -- the yardstick: the same messages, already built, sent over one connection and nothing else ----
    client_ctx = ssl.create_default_context(cafile=str(cert_files[0])) if cert_files else None
    floor_port = _port()
    floor_server = Server(floor_port, cert_files, in_process=server_thread)
    floor_server.start()
    try:
        transport = SmtpTransport(replace(settings.smtp, port=floor_port), ssl_context=client_ctx)
        transport.open()
        t0 = time.perf_counter()
        for b in built:
            transport.send(b)
        floor_s = time.perf_counter() - t0
        transport.close()
    finally:
        floor_received, _ = floor_server.stop()

    # -- deliver ----------------------------------------------------------------------------------------
    server.start()
    try:
        t0 = time.perf_counter()
        report = deliver_pass(app, transport=SmtpTransport(settings.smtp, ssl_context=client_ctx))
        deliver_s = time.perf_counter() - t0
    finally:
        received, connections = server.stop()
    app.close()

    n = count
    return {"count": n, "bytes_avg": size / n, "tls": tls, "dialect": app.store.dialect,
            "queue_per_s": n / queue_s, "render_per_s": n / render_s, "prepare_per_s": n / prepare_s,
            "actions_per_s": n / actions_s, "build_per_s": n / build_s, "serialise_per_s": n / bytes_s,
            "deliver_per_s": n / deliver_s, "received": received, "connections": connections,
            "sent": report.sent, "retried": report.retried, "failed": report.failed,
            "validate_ms": validate_s * 1000, "server": "a thread" if server_thread else "its own process",
            "smtp_only_per_s": n / floor_s,
            "ok": received == n and connections == 1 and report.sent == n and floor_received == n}


if __name__ == "__main__":
    main()
