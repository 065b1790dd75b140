"""Claims left by a daemon (or `outpost tick` / `mail deliver`) that was killed on this machine.

A claim's owner names its process: `scope:pid:token` for deadlines (workflow/ticker.py) and
`mail:scope:pid:token` for mail (notifications/delivery.py). The scope names the process table the pid
belongs to: the hostname plus a digest of the boot id and the PID namespace, so that two containers or
cloned machines with one hostname never judge each other's processes. A process that no longer exists in
this scope cannot be in the middle of a transaction or an SMTP conversation, so its claims can be given
back at once instead of waiting out their lease (`scheduler.claim_seconds`, `mail.claim_seconds`).
Owners of another scope (another host, container or boot) are never judged: their claims wait for the
lease. Where the scope cannot be read (no /proc), nothing is judged. A reused pid looks alive, which only
means waiting for the lease, as before; so does an owner with this process's own pid. Releasing never
fires or sends anything: the firing transaction's `pending → fired` update keeps each deadline exactly once.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass
from functools import cache
from typing import Protocol

MAIL_PREFIX = "mail:"
_TOKEN = re.compile(r"[0-9a-f]{8,32}")


@cache
def process_scope() -> str | None:
    """This process table's name (hostname+digest of boot id and PID namespace), None where unknown."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    digest = hashlib.sha256(f"{boot}|{namespace}".encode()).hexdigest()[:8]
    return f"{socket.gethostname()}+{digest}"


def owner_scope() -> str:
    """What an owner made here starts with (the plain hostname where the scope is unknown)."""
    return process_scope() or socket.gethostname()


def owner_process(owner: str) -> tuple[str, int] | None:
    """(scope, pid) named by a claim owner, or None when it does not name one."""
    body = owner[len(MAIL_PREFIX):] if owner.startswith(MAIL_PREFIX) else owner
    parts = body.split(":")
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not _TOKEN.fullmatch(parts[2]):
        return None  # not one of ours, or cut short: never judged
    return parts[0], int(parts[1])


def process_exists(pid: int) -> bool:
    if pid <= 0:
        return True  # never judged gone: 0 and negatives name process groups, not a process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def is_gone(owner: str) -> bool:
    """True only when the owner's process ran in this process table and no longer exists."""
    named, scope = owner_process(owner), process_scope()
    if named is None or scope is None:
        return False
    owner_scope_, pid = named
    return owner_scope_ == scope and pid != os.getpid() and not process_exists(pid)


@dataclass(frozen=True)
class Released:
    owners: tuple[str, ...]
    deadlines: int
    mails: int


class _Claims(Protocol):
    def claim_owners(self) -> set[str]: ...


class _DeadlineClaims(_Claims, Protocol):
    def release(self, *owners: str) -> int: ...


class _MailClaims(_Claims, Protocol):
    def release(self, mail_id: int | None, *owners: str) -> int: ...


def release_orphaned_claims(queue: _DeadlineClaims, mailbox: _MailClaims) -> Released:
    """Give back every claim whose owner's process is gone from this process table."""
    gone = tuple(sorted(o for o in queue.claim_owners() | mailbox.claim_owners() if is_gone(o)))
    return Released(gone, queue.release(*gone), mailbox.release(None, *gone))
