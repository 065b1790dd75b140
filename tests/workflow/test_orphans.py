"""Claims left by a killed process on this machine go back at once, not after their lease (workflow/orphans.py).

A claim's owner names its process table (hostname + boot + PID namespace) and pid. A daemon that starts
gives back the claims of owners whose process is gone from its own process table; a live owner's claims,
another host's, and another PID namespace's (a container with the same hostname) stay until their lease
expires.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from notifications.delivery import new_owner
from outpost.app import App
from store.mailbox import SqlMailbox
from tests.conftest import local, wait_for
from tests.test_daemon import due_leave_deadlines, pending_due, spawn, stop
from workflow.orphans import is_gone, owner_process, process_scope
from workflow.ticker import make_owner

NOW = local(2026, 11, 20, 0, 0)  # the requests of 2 Nov are long due
LEASE = timedelta(minutes=5)


def dead_pid() -> int:
    """The pid of a process that has run and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def scope() -> str:
    here = process_scope()
    if here is None:
        pytest.skip("no /proc here: the process table cannot be named, so no claim is ever judged")
    return here


def test_a_claim_owner_names_its_process_table_and_process() -> None:
    here = scope()
    assert here.startswith(socket.gethostname() + "+")
    assert owner_process(make_owner()) == (here, os.getpid())
    assert owner_process(new_owner()) == (here, os.getpid())
    for odd in ("", "bench", "bench-1", "h:x:abcd1234", "a:1", ":1:abcd1234", "mail:", "h:1:abcd1234:extra",
                "h:1:t", "h:1:ABCD1234", "h:1:abcd"):
        assert owner_process(odd) is None, odd
        assert not is_gone(odd)


def test_only_a_process_gone_from_this_process_table_is_judged_gone() -> None:
    here, pid = scope(), dead_pid()
    assert is_gone(f"{here}:{pid}:abcd1234")
    assert is_gone(f"mail:{here}:{pid}:abcd1234")
    assert not is_gone(f"{here}:{os.getpid()}:abcd1234")  # this very process
    assert not is_gone(f"{here}:1:abcd1234")  # init exists
    assert not is_gone(f"elsewhere-{here}:{pid}:abcd1234")  # another host: cannot be seen from here
    assert not is_gone(f"{socket.gethostname()}+00000000:{pid}:abcd1234")  # same hostname, other namespace
    assert not is_gone(f"{socket.gethostname()}:{pid}:abcd1234")  # a bare hostname names no process table


def test_a_live_daemon_in_another_pid_namespace_with_the_same_hostname_keeps_its_claims(
        make_app: Callable[..., App], sqlite_url: str) -> None:
    """A container sharing the hostname (host network) but not the PID namespace: its pid cannot be seen
    from here, so its claims must not be taken for a dead process's."""
    scope()
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    with subprocess.Popen(
            ["unshare", "--pid", "--fork", sys.executable, "-c",
             "import sys; from workflow.ticker import make_owner; print(make_owner(), flush=True); sys.stdin.read()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            cwd=Path(__file__).resolve().parents[2]) as holder:
        try:
            assert holder.stdout is not None
            owner = holder.stdout.readline().strip()
            if not owner:
                pytest.skip("cannot make a PID namespace here (unshare --pid needs privileges)")
            named = owner_process(owner)
            assert named is not None and named[0].startswith(socket.gethostname() + "+") and named[0] != scope()
            # its pid means nothing here: even one that no process of ours has is not taken for a dead one
            assert not is_gone(f"{named[0]}:{dead_pid()}:{owner.rsplit(':', 1)[1]}")
            app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
            due_leave_deadlines(app, 2)
            assert len(app.ticker.queue.claim(owner, NOW, LEASE, 10)) == 4
            assert app.release_orphaned_claims().owners == ()
            assert app.ticker.queue.claim("next", NOW, LEASE, 10) == []  # still the holder's
        finally:
            holder.kill()


def test_claims_of_a_killed_process_are_released_and_fire_at_once(make_app: Callable[..., App],
                                                                    sqlite_url: str) -> None:
    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 6)  # 2 due deadlines (reminder, escalation) and 1 mail per case
    host = scope()
    dead, alive, remote = (f"{host}:{dead_pid()}:dead0000", f"{host}:{os.getpid()}:00000001",
                           f"far:{dead_pid()}:0000abcd")
    queue, mailbox = app.ticker.queue, SqlMailbox(app.store)
    held = {owner: [d.id for d in queue.claim(owner, NOW, LEASE, 4)] for owner in (dead, alive, remote)}
    assert all(len(ids) == 4 for ids in held.values())
    dead_mail = f"mail:{host}:{dead_pid()}:dead0000"
    mail_ids = [m.id for m in mailbox.claim(dead_mail, NOW, timedelta(minutes=15), 3)]
    live_mail = [m.id for m in mailbox.claim(f"mail:{host}:{os.getpid()}:00000002", NOW, timedelta(minutes=15), 3)]
    assert len(mail_ids) == len(live_mail) == 3

    freed = app.release_orphaned_claims()

    assert freed.owners == tuple(sorted((dead, dead_mail)))
    assert (freed.deadlines, freed.mails) == (4, 3)
    assert {d.id for d in queue.claim("next", NOW, LEASE, 100)} == set(held[dead])  # free again; the rest not
    again = {m.id for m in mailbox.claim("mail:next", NOW, timedelta(minutes=15), 100)}
    assert set(mail_ids) <= again and not set(live_mail) & again
    assert app.release_orphaned_claims().owners == ()  # nothing left to give back


@pytest.mark.slow
def test_a_restarted_daemon_fires_what_a_killed_one_had_claimed_without_waiting_for_the_lease(
        make_app: Callable[..., App], sqlite_url: str, tmp_path: Path) -> None:
    """Every due deadline claimed by a killed process (lease 5 minutes): a new daemon gives the claims back
    at start and fires them all within seconds."""
    app = make_app(sqlite_url, at=local(2026, 11, 2, 10, 0))
    due_leave_deadlines(app, 10)
    killed = f"{scope()}:{dead_pid()}:0000dead"
    assert len(app.ticker.queue.claim(killed, NOW, LEASE, 100)) == 20 == pending_due(app)
    proc = spawn(sqlite_url, tmp_path, "restarted")
    try:
        done = wait_for(lambda: pending_due(app) == 0, 30)
    finally:
        code, _took = stop(proc)
    log = (tmp_path / "restarted.log").read_text()
    assert done, log
    assert code == 0 and "Traceback" not in log
    assert f"released the claims of {killed}" in log
    assert "released 20 deadline and 0 mail claims of 1 stopped process(es)" in log
    assert app.verify().ok
