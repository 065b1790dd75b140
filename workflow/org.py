"""The organisation file (PRODUCT.md): parsed and validated as a whole before anything is written."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflow.errors import BadInput
from workflow.model import OFFICE_ROLES, ROLES, Office, Person

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The address delivery can use (notifications/message.py `checked_address`, plus a dotted domain): a
# dot-atom local part of at most 64 characters — no leading, trailing or double dots.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_OFFICE_KEYS = {"code", "name", "city", "covers"}
_PERSON_KEYS = {"id", "name", "email", "office", "roles"}
MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class OrgSpec:
    offices: list[Office]
    people: list[Person]


def text_field(value: Any, where: str, errors: list[str], required: bool = True, limit: int = 200) -> str | None:
    """A text field of an administrator's file, or None with the problem appended to `errors`."""
    if value is None:
        if required:
            errors.append(f"{where}: missing")
        return None
    if not isinstance(value, str):
        errors.append(f"{where}: expected text, got {type(value).__name__}")
        return None
    if required and not value.strip():
        errors.append(f"{where}: empty")
        return None
    if len(value) > limit:
        errors.append(f"{where}: longer than {limit} characters")
        return None
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        errors.append(f"{where}: contains control characters")
        return None
    return value


def parse_org(text: str, source: str = "org file") -> OrgSpec:
    """Validate the whole file; every problem is reported at once, by key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: not valid TOML ({exc})") from None
    errors: list[str] = []
    for key in sorted(set(doc) - {"office", "person"}):
        errors.append(f"{key}: unknown key (expected [[office]] and [[person]])")
    raw_offices = doc.get("office", [])
    raw_people = doc.get("person", [])
    if not isinstance(raw_offices, list) or not all(isinstance(o, dict) for o in raw_offices):
        errors.append("office: expected [[office]] tables")
        raw_offices = []
    if not isinstance(raw_people, list) or not all(isinstance(p, dict) for p in raw_people):
        errors.append("person: expected [[person]] tables")
        raw_people = []

    offices: list[Office] = []
    codes: set[str] = set()
    for i, o in enumerate(raw_offices):
        where = f"office[{i}]"
        for key in sorted(set(o) - _OFFICE_KEYS):
            errors.append(f"{where}.{key}: unknown key")
        code = text_field(o.get("code"), f"{where}.code", errors, limit=32)
        if code is not None and not _ID.fullmatch(code):
            errors.append(f"{where}.code: {code!r} is not a valid code (letters, digits, _ . -)")
            code = None
        if code is not None:
            if code in codes:
                errors.append(f"{where}.code: duplicate office {code!r}")
            codes.add(code)
        name = text_field(o.get("name"), f"{where}.name", errors)
        city = text_field(o.get("city", ""), f"{where}.city", errors, required=False, limit=100)
        covers = o.get("covers", [])
        if not isinstance(covers, list) or not all(isinstance(c, str) for c in covers):
            errors.append(f"{where}.covers: expected a list of names")
            covers = []
        for j, c in enumerate(covers):
            text_field(c, f"{where}.covers[{j}]", errors)
        if code and name is not None:
            offices.append(Office(code=code, name=name, city=city or "", covers=tuple(covers)))

    people: list[Person] = []
    ids: set[str] = set()
    directors: dict[str, str] = {}
    for i, p in enumerate(raw_people):
        where = f"person[{i}]"
        for key in sorted(set(p) - _PERSON_KEYS):
            errors.append(f"{where}.{key}: unknown key")
        pid = text_field(p.get("id"), f"{where}.id", errors, limit=64)
        if pid is not None and not _ID.fullmatch(pid):
            errors.append(f"{where}.id: {pid!r} is not a valid id (letters, digits, _ . -)")
            pid = None
        if pid is not None:
            where = f"person[{i}] ({pid})"
            if pid in ids:
                errors.append(f"{where}.id: duplicate person {pid!r}")
            ids.add(pid)
        name = text_field(p.get("name"), f"{where}.name", errors)
        email = text_field(p.get("email"), f"{where}.email", errors, required=False, limit=254)
        found = _EMAIL.fullmatch(email) if email is not None else None
        if email is not None and (found is None or len(found["local"]) > 64):
            errors.append(f"{where}.email: {email!r} is not an e-mail address")
            email = None
        office = text_field(p.get("office"), f"{where}.office", errors, required=False, limit=32)
        if office is not None and office not in codes:
            errors.append(f"{where}.office: unknown office {office!r}")
        roles_raw = p.get("roles")
        roles: set[str] = set()
        if not isinstance(roles_raw, list) or not roles_raw:
            errors.append(f"{where}.roles: expected a non-empty list of roles")
        else:
            for r in roles_raw:
                if not isinstance(r, str) or r not in ROLES:
                    errors.append(f"{where}.roles: unknown role {str(r)[:40]!r}")
                elif r in roles:
                    errors.append(f"{where}.roles: role {r!r} given twice")
                else:
                    roles.add(r)
        if roles & OFFICE_ROLES and office is None:
            errors.append(f"{where}.office: roles {', '.join(sorted(roles & OFFICE_ROLES))} need an office")
        if "director" in roles and office is not None:
            if office in directors:
                errors.append(f"{where}.roles: two directors in office {office!r} ({directors[office]} and {pid})")
            else:
                directors[office] = pid or "?"
        if pid and name is not None:
            people.append(Person(id=pid, name=name, email=email, office=office, roles=frozenset(roles)))
    if not raw_offices:
        errors.append("office: no [[office]] entries (a truncated file would remove every office's people)")
    if not raw_people:
        errors.append("person: no [[person]] entries (a truncated file would remove everyone)")
    if errors:
        n = len(errors)
        raise BadInput(f"{source}: {n} error{'s' if n > 1 else ''}: " + "; ".join(errors))
    return OrgSpec(offices=offices, people=people)


def read_org_file(path: Path) -> OrgSpec:
    from workflow.files import read_text_file

    text = read_text_file(path, "org file", MAX_FILE_BYTES)
    return parse_org(text, str(path))
