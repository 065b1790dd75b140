"""`outpost status`: what an administrator checks first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from outpost.app import App
from workflow.timeutil import local_date, local_iso

HEARTBEAT_KEY = "daemon:"
ALIVE_WITHIN = timedelta(minutes=5)


def gather(app: App) -> dict[str, Any]:
    now = app.clock.now()
    queue = app.ticker.queue
    with app.store.transaction(write=False) as tx:
        last = tx.get_meta("last_tick")
    mail = app.store.mail_counts()
    daemons = []
    for key, beat in sorted(app.store.meta_like(HEARTBEAT_KEY).items()):
        if beat.get("stopped_at"):
            continue
        at = datetime.fromisoformat(str(beat["heartbeat_at"]))
        daemons.append({"owner": key[len(HEARTBEAT_KEY):], "heartbeat_at": local_iso(at),
                        "alive": now - at <= ALIVE_WITHIN, "pid": beat.get("pid")})
    warnings = []
    year = local_date(now).year
    for y in (year, year + 1):
        if app.calendar.source(y) == "fallback":
            warnings.append(f"no holiday data for {y}: working days are computed Monday–Friday (R-0.6); "
                            "load the official notice with `outpost calendar holidays load FILE`")
    failed = [{"id": d.id, "case": d.case_id, "kind": d.kind, "error": d.last_error, "attempts": d.attempts}
              for d in queue.failed()]
    return {
        "now": local_iso(now),
        "last_tick": local_iso(datetime.fromisoformat(str(last["at"]))) if last else None,
        "due_now": queue.count_due(now),
        "mail_queued": mail.get("queued", 0),
        "mail_failed": mail.get("failed", 0),
        "mail_sent": mail.get("sent", 0),
        "mail_superseded": mail.get("superseded", 0),  # not sent: the case moved on before delivery
        "failed_deadlines": failed,
        "daemons": daemons,
        "warnings": warnings,
    }
