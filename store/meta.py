"""Meta (small JSON values by key: the org version, office lifetimes, daemon heartbeats, seals) and the
holiday calendar's official notices."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from store.schema import holiday_t, meta_t
from store.txbase import TxBase

__all__ = ["MetaRepo", "holidays", "meta_like", "replace_holidays"]


class MetaRepo(TxBase):
    """Meta values in one transaction (`workflow.ports.MetaTx`)."""

    def get_meta(self, key: str) -> dict[str, Any] | None:
        row = self.run.fetch_one("get_meta", lambda: select(meta_t.c.value).where(meta_t.c.key == bindparam("key")),
                                 {"key": key})
        return dict(row["value"]) if row is not None else None

    def set_meta(self, key: str, value: dict[str, Any]) -> None:
        done = self.conn.execute(update(meta_t).where(meta_t.c.key == key).values(value=value))
        if done.rowcount == 0:
            self.conn.execute(insert(meta_t).values(key=key, value=value))


def meta_like(conn: Connection, prefix: str) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(meta_t).where(meta_t.c.key.like(prefix + "%")))
    return {r.key: dict(r.value) for r in rows}


def holidays(conn: Connection) -> dict[date, tuple[bool, str]]:
    return {r.day: (bool(r.workday), r.name) for r in conn.execute(select(holiday_t))}


def replace_holidays(conn: Connection, year: int, days: dict[date, tuple[bool, str]]) -> int:
    """A year's official notice replaces whatever was loaded for that year (idempotent)."""
    current = {r.day: (bool(r.workday), r.name)
               for r in conn.execute(select(holiday_t).where(holiday_t.c.year == year))}
    if current == days:
        return 0
    conn.execute(delete(holiday_t).where(holiday_t.c.year == year))
    conn.execute(insert(holiday_t), [{"day": d, "year": year, "workday": w, "name": n}
                                     for d, (w, n) in sorted(days.items())])
    return len(days)
