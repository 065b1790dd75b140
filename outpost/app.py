"""The composition root: settings → store, policy, calendar, clock → case service.

Entry points (CLI, daemon, tests) build one `App`; the engine below it only sees the interfaces.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow.clock import Clock, SystemClock
from workflow.errors import NotFound
from workflow.settings import Settings, check_configuration
from workflow.views import case_json

if TYPE_CHECKING:  # imported where used: `case show` needs neither the machines nor the calendar
    from outpost.links import Links
    from store.mailbox import SqlMailbox
    from store.sql import SqlStore
    from store.web import SqlWeb
    from workflow.audit import AuditResult
    from workflow.calendar import WorkCalendar
    from workflow.definition import ProcessDefinition
    from workflow.delegation import Delegations
    from workflow.holidays import HolidayNotice
    from workflow.model import Mail
    from workflow.orphans import Released
    from workflow.outbox import DeliveryReport
    from workflow.policy import Policy
    from workflow.ports import CaseStore
    from workflow.service import CaseService
    from workflow.ticker import Ticker


class App:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.tracking_from: date | None = None  # the tracking date in force, once `init` has run

    @cached_property
    def _sql(self) -> SqlStore:
        """The one concrete store: only this root sees it; everything else gets it as the engine's port."""
        from store import open_store

        return open_store(self.settings.database_url, busy_timeout_ms=self.settings.busy_timeout_ms)

    @property
    def store(self) -> CaseStore:
        return self._sql

    @cached_property
    def policy(self) -> Policy:
        from workflow.policy import load_policy

        return load_policy(self.settings.policy_file)

    @cached_property
    def calendar(self) -> WorkCalendar:
        from workflow.calendar import WorkCalendar

        return WorkCalendar(self.store.holidays())

    @cached_property
    def service(self) -> CaseService:
        from notifications.message import mail_domain
        from workflow.service import CaseService

        # Message-IDs carry the domain of `smtp.from` (issue 17: `@localhost` is marked spam); without one
        # (mail written to outbox_dir only) a neutral `outpost.local`
        smtp = self.settings.smtp
        domain = mail_domain(smtp.sender) if smtp.sender_given else "outpost.local"
        return CaseService(self.store, self.clock, self.policy, self.calendar, mail_domain=domain,
                           lang=self.settings.language, tracking_from=self.settings.tracking_from)

    @cached_property
    def delegations(self) -> Delegations:
        """`outpost delegate add|list|end` (workflow/delegation.py, issue 15.4)."""
        from workflow.delegation import Delegations

        return Delegations(self.store, self.clock)

    @cached_property
    def ticker(self) -> Ticker:
        from store.deadlines import SqlDeadlineQueue
        from workflow.ticker import Ticker

        return Ticker(self.store, SqlDeadlineQueue(self._sql), self.service)

    @cached_property
    def mailbox(self) -> SqlMailbox:
        from store.mailbox import SqlMailbox

        return SqlMailbox(self._sql)

    @cached_property
    def links(self) -> Links:
        """Signed single-use links (outpost/links.py): action links in mail, sign-in links."""
        from outpost.links import links_for

        return links_for(self.settings, self.policy, self.clock)

    @cached_property
    def web_store(self) -> SqlWeb:
        """Sessions, sign-in attempts and links of the web front door (store/web.py)."""
        from store.web import SqlWeb

        return SqlWeb(self._sql)

    def link_for(self, mail: Mail, actions: list[str]) -> str | None:
        """The recipient's single-use action link (`<base_url>/a/<token>`), minted as the mail is prepared
        for delivery (notifications/delivery.py); None for a mail with no case, recipient or action."""
        from workflow.service import SIGN_IN

        rcpt = mail.recipients[0] if mail.recipients else {}
        person = rcpt.get("person")
        if mail.event == SIGN_IN and person:  # the web's sign-in mail: its link is minted as it is sent
            return self.links.login_url(self.store, str(person), self.clock.now())
        if mail.case_id is None or not person or not actions:
            return None
        return self.links.action_url(self.store, mail.case_id, str(person), actions, self.clock.now(),
                                     source=f"{mail.message_id} {person}")

    def release_orphaned_claims(self) -> Released:
        """Give back the claims of killed processes on this host (workflow/orphans.py)."""
        from workflow.orphans import release_orphaned_claims

        return release_orphaned_claims(self.ticker.queue, self.mailbox)

    def deliver_mail(self, now: datetime | None,
                     should_stop: Callable[[], bool] | None = None) -> DeliveryReport:
        """One delivery pass of the outbox (notifications/)."""
        from notifications import delivery

        return delivery.deliver_pass(self, now, should_stop=should_stop)

    def close(self) -> None:
        if "_sql" in self.__dict__:
            self._sql.close()

    # -- use cases that span more than one step ---------------------------------------------------------
    def init(self) -> tuple[str | None, str]:
        from store import migrate
        from workflow.timeutil import local_date
        from workflow.tracking import record_first_init

        check_configuration(self.settings)  # before anything is written
        done = migrate(self.settings.database_url, busy_timeout_ms=self.settings.busy_timeout_ms)
        now = self.clock.now()
        with self.store.transaction() as tx:
            self.tracking_from = record_first_init(tx, local_date(now), self.settings.tracking_from, now)
        web = self.settings.web
        if not web.secret_keys and web.key_file is not None:  # the web's signing key, beside the database
            from outpost.links import create_key_file

            create_key_file(web.key_file)
        return done

    def load_org(self, path: Path) -> dict[str, Any]:
        from workflow import registry
        from workflow.org import read_org_file
        from workflow.timeutil import local_date

        check_configuration(self.settings)  # the policy file too: a setup mistake is found at setup
        spec = read_org_file(path)  # validated as a whole before the database is touched
        audits: list[int] = []
        with self.store.transaction() as tx:
            change = tx.replace_org(spec.offices, spec.people, today=local_date(self.clock.now()))
            if change.cadre_changes and registry.has("departure_audit"):
                definition = registry.latest("departure_audit")
                for person, office, old, new in change.cadre_changes:
                    if any(c.office == office for c in registry.open_cases_of(tx, "departure_audit", person)):
                        continue  # already being audited for that office (opened by the org department)
                    case = self.service.open_in(
                        tx, definition, None,
                        {"subject": person, "office": office, "old_roles": sorted(old), "new_roles": sorted(new)},
                    )
                    audits.append(case.id)
        return {
            "changed": change.changed,
            "offices_added": list(change.offices_added),
            "offices_changed": list(change.offices_changed),
            "people_added": list(change.people_added),
            "people_changed": list(change.people_changed),
            "people_removed": list(change.people_removed),
            "cadre_changes": [c[0] for c in change.cadre_changes],
            "departure_audits_opened": audits,
        }

    def load_holidays(self, notice: HolidayNotice) -> tuple[bool, list[dict[str, Any]]]:
        """Load a year's holiday notice (R-0.6), then compute again every pending deadline that was computed
        Monday–Friday for want of it (CaseService.recompute_workdays). Returns whether the notice changed
        anything, and one entry per such deadline."""
        from workflow.calendar import FALLBACK_MARK, WorkCalendar

        changed = self.store.replace_holidays(notice.year, notice.days)
        self.__dict__["calendar"] = calendar = WorkCalendar(self.store.holidays())
        self.service.calendar = calendar
        marked = self.ticker.queue.pending_marked(FALLBACK_MARK)
        return bool(changed), self.service.recompute_workdays(notice.year, marked, notice.source)

    def case_view(self, case_id: int, with_history: bool = True) -> dict[str, Any]:
        with self.store.transaction(write=False) as tx:
            case = tx.get_case(case_id)
            if case is None:
                raise NotFound("case", case_id)
            deadlines = tx.deadlines(case_id)
            history = tx.history(case_id) if with_history else None
        return case_json(case, deadlines, history)

    def case_items(self, case_id: int) -> list[Any]:
        """What was logged against a case (findings, information items, investments), for `case show`: read
        from the store like `case_view`, so that it needs neither the machines nor the policy."""
        with self.store.transaction(write=False) as tx:
            return list(tx.items(case_id))

    def check_schema(self) -> None:
        """Refuse to run on a database whose schema is not this Outpost's (`outpost init` upgrades it)."""
        from store import check_schema

        check_schema(self._sql)

    def compliance(self, year: int, office: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """`report compliance`: each office's year, and the ranking of the offices' reports."""
        from store.reports import SqlReports
        from workflow.compliance import build, ranking, read

        data = read(SqlReports(self._sql), year)
        if office is not None and office not in data.org.offices:
            raise NotFound("office", office)
        result = build(data, self.clock.now(), office)
        return result, ranking(build(data, self.clock.now()) if office is not None else result)

    def case_process(self, case_id: int) -> ProcessDefinition:
        """The definition (in its own version) of a case: an unknown case is bad input."""
        from workflow import registry

        with self.store.transaction(write=False) as tx:
            case = tx.get_case(case_id)
        if case is None:
            raise NotFound("case", case_id)
        return registry.get(case.process, case.definition_version)

    def verify(self, seal: dict[str, Any] | None = None) -> AuditResult:
        from workflow.audit import verify

        return verify(self.store, seal)
