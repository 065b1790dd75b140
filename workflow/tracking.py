"""The tracking date (`tracking_from`, PRODUCT.md "Configuration"): the day from which Outpost follows the
offices' periodic duties.

- Set by the first `outpost init` (kept in the database's meta table): the date given as `tracking_from` in
  outpost.toml, or else that day. A database that was ticking before this existed keeps the day of its first
  tick (meta `periodic_epoch`), so an upgrade changes nothing.
- Changeable: `tracking_from` in outpost.toml overrides the stored date for every command and the daemon.
- A period whose duty ended (its due date) before the tracking date is not opened (R-5.4 applies from then).
- No verdict is given on a period that began before it (a month's information quota, a year's investment
  target, and the quarterly progress that counts towards it): Outpost did not see the whole period, so
  "short" or "missed" would be noise about a time it did not exist. The case is opened and kept; its
  judgment records why it was not judged and sends nothing. The General Office judges such a period on
  purpose by setting `tracking_from` to its first day (or earlier) before it is judged.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from workflow.ports import Tx

TRACKING_KEY = "tracking_from"
EPOCH_KEY = "periodic_epoch"  # the first tick's day: the tracking date of a database older than the key


def stored_tracking_from(tx: Tx) -> date | None:
    """The tracking date in the database: set by the first init, else the day of the first tick."""
    for key in (TRACKING_KEY, EPOCH_KEY):
        meta = tx.get_meta(key)
        if meta is not None and meta.get("date"):
            return date.fromisoformat(str(meta["date"]))
    return None


def tracking_from(tx: Tx, override: date | None) -> date | None:
    """outpost.toml's `tracking_from` if set, else the stored date; None before the first init or tick."""
    return override if override is not None else stored_tracking_from(tx)


def record_first_init(tx: Tx, today: date, configured: date | None, now: datetime) -> date:
    """At `init`: keep the tracking date already stored, else store outpost.toml's or today's. Returns the
    date in force (the configured one, when given)."""
    stored = stored_tracking_from(tx)
    if tx.get_meta(TRACKING_KEY) is None:
        chosen = configured or stored or today
        value: dict[str, Any] = {"date": chosen.isoformat(), "set_at": now.isoformat(),
                                 "source": "outpost.toml" if configured else
                                 ("first tick" if stored else "first init")}
        tx.set_meta(TRACKING_KEY, value)
        stored = chosen
    assert stored is not None
    return configured or stored
