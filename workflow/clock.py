"""The one clock. Engine code asks it for `now`; it never calls `datetime.now()` itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from workflow.errors import BadInput


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time (freezegun moves it in tests)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told: `tick --at`, tests, benchmarks."""

    def __init__(self, at: datetime) -> None:
        self._at = require_aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = require_aware(at)


def require_aware(at: datetime) -> datetime:
    """Reject naive datetimes at the boundary; return the same instant in UTC."""
    if at.tzinfo is None or at.tzinfo.utcoffset(at) is None:
        raise BadInput(f"naive datetime {at.isoformat()} (an instant needs a timezone)")
    return at.astimezone(UTC)
