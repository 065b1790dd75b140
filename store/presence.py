"""Presence (R-2.5): the ledger of the days each person is away from their post (off-site), which the
rules add up across cases, and the lock that makes those sums see every other writer's days."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from store.rows import insert_all, offsite_from
from store.schema import offsite_t, person_t
from store.txbase import TxBase
from workflow.model import OffSite

__all__ = ["PresenceRepo"]


class PresenceRepo(TxBase):
    """The off-site ledger in one transaction (`workflow.ports.PresenceTx`)."""

    _held: frozenset[str] = frozenset()  # the people `hold_person` has locked in this transaction

    def hold_person(self, person: str) -> None:
        """Make the rules that add up one person's days across cases (R-2.5) see every other writer's
        days: until commit, no other writing transaction adds up this person's days. SQLite's BEGIN
        IMMEDIATE already runs one writer at a time; PostgreSQL (READ COMMITTED) locks the person row.
        FOR NO KEY UPDATE does not block rows that merely refer to the person (their foreign keys)."""
        if not self.write or self.store.dialect != "postgresql" or person in self._held:
            return
        self._held = self._held | {person}
        self.run.fetch("hold_person", lambda: select(person_t.c.id).where(person_t.c.id == bindparam("person"))
                       .with_for_update(key_share=True), {"person": person})

    def off_site(self, person: str, year: int) -> list[OffSite]:
        def build() -> Any:
            return select(offsite_t).where(offsite_t.c.person == bindparam("person"),
                                           offsite_t.c.start <= bindparam("last"),
                                           offsite_t.c.end >= bindparam("first"))

        rows = self.run.fetch("off_site", build, {"person": person, "first": date(year, 1, 1),
                                                  "last": date(year, 12, 31)})
        return [offsite_from(r) for r in rows]

    def off_site_on(self, person: str, day: date) -> bool:
        def build() -> Any:
            return select(offsite_t.c.id).where(offsite_t.c.person == bindparam("person"),
                                                offsite_t.c.start <= bindparam("day"),
                                                offsite_t.c.end >= bindparam("day")).limit(1)

        key = ("off_site_on", person, day)
        if self.seen is not None and key in self.seen:
            return bool(self.seen[key])
        away = bool(self.run.fetch("off_site_on", build, {"person": person, "day": day}))
        if self.seen is not None:
            self.seen[key] = away
        return away

    def add_off_site(self, row: OffSite) -> None:
        self.run.execute("add_off_site", insert_all(offsite_t), {
            "person": row.person, "case_id": row.case_id, "start": row.start, "end": row.end,
            "source": row.source})

    def remove_off_site(self, case_id: int) -> None:
        self.run.execute("remove_off_site",
                         lambda: delete(offsite_t).where(offsite_t.c.case_id == bindparam("case_id")),
                         {"case_id": case_id})

    def trim_off_site(self, case_id: int, last_day: date) -> None:
        values = {"case_id": case_id, "last_day": last_day}
        self.run.execute("trim_off_site_delete", lambda: delete(offsite_t).where(
            offsite_t.c.case_id == bindparam("case_id"), offsite_t.c.start > bindparam("last_day")), values)
        self.run.execute("trim_off_site_update", lambda: update(offsite_t).where(
            offsite_t.c.case_id == bindparam("case_id"), offsite_t.c.end > bindparam("last_day"))
            .values(end=bindparam("last_day")), values)
