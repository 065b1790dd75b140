"""The organisation (offices, people, roles) in a transaction: read once per org version, replaced as a
whole by `outpost org load`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select, update

from store.meta import MetaRepo
from store.schema import meta_t, office_t, person_t, role_t
from workflow.model import LEADING_CADRE_ROLES, Office, Org, Person
from workflow.ports import OrgChange

__all__ = ["OFFICE_META_PREFIX", "ORG_META_KEY", "OrgRepo"]

ORG_META_KEY = "org"
OFFICE_META_PREFIX = "office:"  # an office's lifetime (since/until), see OrgRepo.replace_org


class OrgRepo(MetaRepo):
    """The organisation in one transaction (`workflow.ports.OrgTx`); its version and the offices'
    lifetimes are meta values."""

    def org(self) -> Org:
        """The organisation, read again only when its version in meta changed (`replace_org` counts it up)."""
        if self.seen is not None:
            found: Org | None = self.seen.get(ORG_META_KEY)
            if found is None:
                found = self.seen[ORG_META_KEY] = self._current_org()
            return found
        return self._current_org()

    def _current_org(self) -> Org:
        meta = self.get_meta(ORG_META_KEY)
        version = int(meta.get("version", 0)) if meta else 0
        cached = self.store.org_cache
        if cached is not None and cached[0] == version:
            return cached[1]
        org = self._load_org()
        self.store.org_cache = (version, org)
        return org

    def _load_org(self) -> Org:
        lives = {str(r.key)[len(OFFICE_META_PREFIX):]: r.value or {} for r in self.conn.execute(
            select(meta_t.c.key, meta_t.c.value).where(meta_t.c.key.like(OFFICE_META_PREFIX + "%")))}
        offices = {}
        for r in self.conn.execute(select(office_t)):
            life = lives.get(r.code, {})
            offices[r.code] = Office(code=r.code, name=r.name, city=r.city, covers=tuple(r.covers or ()),
                                     since=date.fromisoformat(life["since"]) if life.get("since") else None,
                                     active=not life.get("until"))
        roles: dict[str, set[str]] = {}
        for r in self.conn.execute(select(role_t)):
            roles.setdefault(r.person, set()).add(r.role)
        people = {
            r.id: Person(id=r.id, name=r.name, email=r.email, office=r.office,
                         roles=frozenset(roles.get(r.id, ())), active=bool(r.active))
            for r in self.conn.execute(select(person_t))
        }
        return Org(offices=offices, people=people)

    def replace_org(self, offices: Sequence[Office], people: Sequence[Person], today: date) -> OrgChange:
        """Make the stored organisation equal to the given one; write only what differs.

        An office stays in the table once it has cases (they refer to it); its lifetime is kept in meta
        (`office:CODE`): `since` when it was added to an organisation that already had offices, `until`
        when a file left it out. Either starts or ends the office's periodic duties (workflow/ticker.py)."""
        current = self._load_org()
        offices_added, offices_changed = [], []
        first_load = not current.offices
        for o in offices:
            old = current.offices.get(o.code)
            values = {"name": o.name, "city": o.city, "covers": list(o.covers)}
            if old is None:
                self.conn.execute(insert(office_t).values(code=o.code, **values))
                offices_added.append(o.code)
                if not first_load:
                    self.set_meta(OFFICE_META_PREFIX + o.code, {"since": today.isoformat()})
            elif not old.active:  # back in the file: its duties start again from today
                self.conn.execute(update(office_t).where(office_t.c.code == o.code).values(**values))
                self.set_meta(OFFICE_META_PREFIX + o.code, {"since": today.isoformat()})
                offices_added.append(o.code)
            elif (old.name, old.city, old.covers) != (o.name, o.city, o.covers):
                self.conn.execute(update(office_t).where(office_t.c.code == o.code).values(**values))
                offices_changed.append(o.code)
        given_offices = {o.code for o in offices}
        for code, old in sorted(current.offices.items()):
            if code not in given_offices and old.active:
                life = {"since": old.since.isoformat()} if old.since else {}
                self.set_meta(OFFICE_META_PREFIX + code, {**life, "until": today.isoformat()})
                offices_changed.append(code)
        added, changed, removed = [], [], []
        cadre: list[tuple[str, str | None, frozenset[str], frozenset[str]]] = []
        given = {p.id: p for p in people}
        for p in people:
            old_p = current.people.get(p.id)
            person_values: dict[str, Any] = {"name": p.name, "email": p.email, "office": p.office, "active": True}
            if old_p is None:
                self.conn.execute(insert(person_t).values(id=p.id, **person_values))
                added.append(p.id)
            elif (old_p.name, old_p.email, old_p.office, old_p.active) != (p.name, p.email, p.office, True):
                self.conn.execute(update(person_t).where(person_t.c.id == p.id).values(**person_values))
                changed.append(p.id)
            old_roles = old_p.roles if old_p is not None and old_p.active else frozenset()
            if old_p is not None and old_p.roles != p.roles:
                self.conn.execute(delete(role_t).where(role_t.c.person == p.id))
                if p.id not in changed:
                    changed.append(p.id)
            if (old_p is None or old_p.roles != p.roles) and p.roles:
                self.conn.execute(insert(role_t), [{"person": p.id, "role": r} for r in sorted(p.roles)])
            lost = (old_roles & LEADING_CADRE_ROLES) - p.roles
            moved = old_p is not None and old_p.office != p.office and bool(old_roles & LEADING_CADRE_ROLES)
            if lost or moved:
                cadre.append((p.id, old_p.office if old_p else None, old_roles, p.roles))
        for pid, old_p in sorted(current.people.items()):
            if pid in given or not old_p.active:
                continue
            self.conn.execute(update(person_t).where(person_t.c.id == pid).values(active=False))
            self.conn.execute(delete(role_t).where(role_t.c.person == pid))
            removed.append(pid)
            if old_p.roles & LEADING_CADRE_ROLES:
                cadre.append((pid, old_p.office, old_p.roles, frozenset()))
        change = OrgChange(tuple(offices_added), tuple(offices_changed), tuple(added), tuple(changed),
                           tuple(removed), tuple(cadre))
        if change.changed:
            meta = self.get_meta(ORG_META_KEY) or {"version": 0}
            self.set_meta(ORG_META_KEY, {"version": int(meta.get("version", 0)) + 1})
        return change
