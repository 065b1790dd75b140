"""The SQL the compliance report needs (`workflow.compliance.ComplianceSource`), in one read transaction.

It knows no process: it reads the year's cases of the processes it is given (by period, or by the day they
were opened for a process without periods), their items, those processes' records of the year, the
compliance incidents of the history and the off-site ledger."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, or_, select

from store.records import year_records
from store.rows import case_from, item_from, offsite_from
from store.schema import cases_t, history_t, item_t, offsite_t
from store.sql import SqlStore
from workflow.compliance import INCIDENT_TRIGGERS, Incident, YearData, year_bounds
from workflow.model import Item


class SqlReports:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def year_data(self, year: int, processes: list[str], with_cases: list[str] | None = None) -> YearData:
        """The year's data of `processes` (their records); cases and items only of `with_cases` (default:
        all of them)."""
        start, end = year_bounds(year)
        reading = list(processes if with_cases is None else with_cases)
        in_year = and_(cases_t.c.process.in_(reading),
                       or_(cases_t.c.period.like(f"{year}-%"),
                           and_(cases_t.c.period.is_(None), cases_t.c.opened_at >= start, cases_t.c.opened_at < end)))
        with self.store.transaction(write=False) as tx:
            org = tx.org()
            cases = [case_from(r) for r in tx.conn.execute(select(cases_t).where(in_year).order_by(cases_t.c.id))]
            items: dict[int, list[Item]] = {c.id: [] for c in cases}
            if cases:
                for r in tx.conn.execute(select(item_t).join(cases_t, cases_t.c.id == item_t.c.case_id)
                                         .where(in_year).order_by(item_t.c.id)):
                    items[r.case_id].append(item_from(r))
            incidents = [
                Incident(case=r.case_id, process=r.process, office=r.office, seq=r.seq, trigger=r.trigger,
                         actor=r.actor, at=r.at, comment=r.comment, details=dict(r.details or {}))
                for r in tx.conn.execute(
                    select(history_t.c.case_id, history_t.c.seq, history_t.c.trigger, history_t.c.actor,
                           history_t.c.at, history_t.c.comment, history_t.c.details, cases_t.c.process,
                           cases_t.c.office)
                    .join(cases_t, cases_t.c.id == history_t.c.case_id)
                    .where(history_t.c.trigger.in_(INCIDENT_TRIGGERS), history_t.c.at >= start,
                           history_t.c.at < end)
                    .order_by(history_t.c.at, history_t.c.id))
            ]
            first, after = date(year, 1, 1), date(year + 1, 1, 1)
            off_site = [offsite_from(r) for r in tx.conn.execute(
                select(offsite_t).where(offsite_t.c.start < after, offsite_t.c.end >= first).order_by(offsite_t.c.id))]
            records = year_records(tx.conn, processes, year)
        return YearData(year=year, org=org, cases=cases, items=items, incidents=incidents, off_site=off_site,
                        records=records)
