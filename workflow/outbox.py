"""The outbox door: what mail delivery needs from persistence, as a small interface.

`store/mailbox.py` implements it in SQL. A delivery pass *claims* due rows (a lock owner and a lease,
so that two passes never send the same row at once), sends them, and then marks each one `sent` only
after the server accepted it, or records a failed attempt with exponential back-off. A pass that dies
between the server's accept and the mark leaves the row claimed; when the lease expires the next pass
sends it again with the same Message-ID (at-least-once, recognisable by the receiver).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from workflow.model import Mail
from workflow.policy import Policy

QUEUED, SENT, FAILED = "queued", "sent", "failed"
# Not sent on purpose: by delivery time nothing the mail invites its recipient to do is open to them any
# more (the case moved on: a request already decided). Listed by `mail list`, counted by `status`.
SUPERSEDED = "superseded"


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off between attempts: `first_seconds`, then doubling, capped at `max_seconds`."""

    max_attempts: int = 30
    first_seconds: int = 60
    max_seconds: int = 3600

    @classmethod
    def from_policy(cls, policy: Policy) -> RetryPolicy:
        return cls(
            max_attempts=max(1, policy.int("mail.max_attempts")),
            first_seconds=max(0, policy.int("mail.backoff_first_seconds")),
            max_seconds=max(0, policy.int("mail.backoff_max_seconds")),
        )

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1 → first, 2 → twice that, …, capped)."""
        exponent = min(max(attempts, 1) - 1, 32)  # 2**32 × anything is past any sane cap
        return timedelta(seconds=min(self.max_seconds, self.first_seconds * 2**exponent))


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0  # failed this time, queued again with back-off
    failed: int = 0  # failed for good (last attempt, or a permanent refusal)
    superseded: int = 0  # not sent: what it invites is no longer open to its recipient
    mode: str = "smtp"  # smtp | outbox_dir
    connection_error: str | None = None  # the server could not be reached: every claimed row retries
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {"claimed": self.claimed, "sent": self.sent, "retried": self.retried, "failed": self.failed,
                "superseded": self.superseded,
                "mode": self.mode, "connection_error": self.connection_error, "errors": list(self.errors)}


class Outbox(Protocol):
    """The mail rows, as delivery sees them."""

    def claim(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[Mail]:
        """Lock up to `limit` queued rows due at `now` (not held by a live lease) for `owner`."""
        ...

    def mark_sent(self, mail_id: int, now: datetime, subject: str | None = None) -> bool:
        """The server accepted the message: status `sent`, lock released. False if it was not queued."""
        ...

    def record_failure(self, mail_id: int, owner: str, now: datetime, error: str, retry: RetryPolicy,
                       subject: str | None = None, permanent: bool = False) -> Mail | None:
        """One more failed attempt: queued again after the back-off, or `failed` after the last one.

        Does nothing (returns None) when `owner` no longer holds the row.
        """
        ...

    def mark_superseded(self, mail_id: int, owner: str, now: datetime, why: str) -> bool:
        """Not sent, on purpose (`SUPERSEDED`, `why` kept as its note); False if `owner` no longer holds it."""
        ...

    def release(self, mail_id: int | None, *owners: str) -> int:
        """Give a claimed row back untouched (not attempted); with `mail_id` None, every queued row the
        owners hold. Returns how many rows."""
        ...

    def claim_owners(self) -> set[str]:
        """Every owner holding a claim on a queued mail."""
        ...

    def requeue(self, mail_id: int, now: datetime) -> Mail:
        """`mail retry`: a failed (or waiting) row is queued again, due now, with fresh attempts."""
        ...

    def get(self, mail_id: int) -> Mail | None: ...

    def mails(self, status: str | None = None, case_id: int | None = None) -> list[Mail]: ...

    def newest_queued(self, case_id: int) -> Mail | None:
        """The most recently created queued row of a case (what `mail preview` shows)."""
        ...

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        ...
