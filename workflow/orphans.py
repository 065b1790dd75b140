"""Claims left by a daemon (or `outpost tick` / `mail deliver`) that was killed on this host.

A claim's owner names its process: `host:pid:token` for deadlines (workflow/ticker.py) and
`mail:host:pid:token` for mail (notifications/delivery.py). A process that no longer exists cannot be
in the middle of a transaction or an SMTP conversation, so its claims can be given back at once instead
of waiting out their lease (`scheduler.claim_seconds`, `mail.claim_seconds`). Only owners on this host
are judged: another host's process cannot be seen from here, and its claims still wait for their lease.
A reused pid looks alive, which only means waiting for the lease, as before; so does an owner with this
process's own pid (a container that restarts its daemon under the same pid). Releasing never fires or
sends anything: the firing transaction's `pending → fired` update keeps each deadline exactly once.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from store.sql import SqlStore

MAIL_PREFIX = "mail:"
_TOKEN = re.compile(r"[0-9a-f]{8,32}")


def owner_process(owner: str) -> tuple[str, int] | None:
    """(host, pid) named by a claim owner, or None when it does not name one."""
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


def is_gone(owner: str, host: str | None = None) -> bool:
    """True only when the owner's process ran on this host and no longer exists."""
    named = owner_process(owner)
    if named is None:
        return False
    owner_host, pid = named
    return owner_host == (host or socket.gethostname()) and pid != os.getpid() and not process_exists(pid)


@dataclass(frozen=True)
class Released:
    owners: tuple[str, ...]
    deadlines: int
    mails: int


def release_orphaned_claims(store: SqlStore, host: str | None = None) -> Released:
    """Give back every claim whose owner's process is gone from this host."""
    from store.claims import claim_owners, release_claims

    gone = tuple(sorted(o for o in claim_owners(store) if is_gone(o, host)))
    deadlines, mails = release_claims(store, gone)
    return Released(gone, deadlines, mails)
