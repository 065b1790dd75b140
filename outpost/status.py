"""`outpost status`: what an administrator checks first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from outpost.app import App
from workflow.calendar import FALLBACK_MARK, fallback_years
from workflow.timeutil import local_date, local_iso
from workflow.tracking import tracking_from

HEARTBEAT_KEY = "daemon:"
ALIVE_WITHIN = timedelta(minutes=5)


def heartbeats(app: App, now: datetime) -> list[dict[str, Any]]:
    """The running daemons' heartbeats (a stopped daemon's last one is left out), by owner: `owner`, `at`
    (aware), `alive` (beat within ALIVE_WITHIN of `now`), `pid`. `outpost status`, the web's dashboard
    and `/healthz` read them here."""
    found = []
    for key, beat in sorted(app.store.meta_like(HEARTBEAT_KEY).items()):
        if beat.get("stopped_at") or not beat.get("heartbeat_at"):
            continue
        at = datetime.fromisoformat(str(beat["heartbeat_at"]))
        found.append({"owner": key[len(HEARTBEAT_KEY):], "at": at, "alive": now - at <= ALIVE_WITHIN,
                      "pid": beat.get("pid")})
    return found


def _ids(ids: list[int], shown: int = 10) -> str:
    return ", ".join(map(str, ids[:shown])) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def gather(app: App) -> dict[str, Any]:
    now = app.clock.now()
    queue = app.ticker.queue
    with app.store.transaction(write=False) as tx:
        last = tx.get_meta("last_tick")
        since = tracking_from(tx, app.settings.tracking_from)
    mail = app.store.mail_counts()
    daemons = [{"owner": b["owner"], "heartbeat_at": local_iso(b["at"]), "alive": b["alive"], "pid": b["pid"]}
               for b in heartbeats(app, now)]
    warnings = []
    year = local_date(now).year
    marked: dict[int, list[int]] = {}  # year → pending deadlines still computed Monday–Friday for it
    for d in queue.pending_marked(FALLBACK_MARK):
        for y in fallback_years(d.why):
            marked.setdefault(y, []).append(d.id or 0)
    for y in sorted({year, year + 1} | set(marked)):
        ids = marked.get(y, [])
        pending = (f"; {len(ids)} pending deadline(s) computed that way (ids {_ids(ids)})" if ids else "")
        if app.calendar.source(y) == "fallback":
            warnings.append(f"no holiday data for {y}: working days are computed Monday–Friday (R-0.6){pending}; "
                            "load the official notice with `outpost calendar holidays load FILE`")
        elif ids:  # the notice came later and these could not be computed again: never silently
            warnings.append(f"{len(ids)} pending deadline(s) were computed Monday–Friday for {y} before its "
                            f"holiday data was there and keep that time (ids {_ids(ids)}, R-0.6)")
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
        "tracking_from": since.isoformat() if since else None,
    }
