"""An official holiday notice (国务院办公厅关于某年部分节假日安排的通知) as a data file (R-0.6).

    year = 2027
    source = "国办发明电〔2026〕N号"
    [[holiday]]
    name = "春节"
    start = "2027-02-06"
    end = "2027-02-12"
    [[workday]]              # 调休上班: a weekend day that is a working day
    name = "春节调休"
    date = "2027-02-14"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from workflow.errors import BadInput
from workflow.org import text_field
from workflow.timeutil import parse_date


@dataclass(frozen=True)
class HolidayNotice:
    year: int
    source: str
    days: dict[date, tuple[bool, str]]  # day → (is a working day, name)


MAX_FILE_BYTES = 1_000_000  # a year's notice is a few hundred bytes
MAX_NAME = 100  # holiday.name in store/tables.py


def parse_notice(text: str, where: str) -> HolidayNotice:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{where}: not valid TOML ({exc})") from None
    errors: list[str] = []

    def named(entry: dict[str, object], key: str) -> str | None:
        return text_field(entry.get("name"), f"{key}.name", errors, limit=MAX_NAME)

    for key in sorted(set(doc) - {"year", "source", "holiday", "workday"}):
        errors.append(f"{key}: unknown key")
    year = doc.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise BadInput(f"{where}: year: expected a year such as 2027")
    days: dict[date, tuple[bool, str]] = {}

    def day(value: object, key: str) -> date | None:
        try:
            d = parse_date(str(value), key)
        except BadInput as exc:
            errors.append(str(exc))
            return None
        if d.year != year:
            errors.append(f"{key}: {d} is not in {year}")
            return None
        return d

    for i, h in enumerate(doc.get("holiday", [])):
        key = f"holiday[{i}]"
        if not isinstance(h, dict) or not isinstance(h.get("name"), str):
            errors.append(f"{key}: expected name, start and end")
            continue
        if named(h, key) is None:
            continue
        start, end = day(h.get("start"), f"{key}.start"), day(h.get("end", h.get("start")), f"{key}.end")
        if start is None or end is None:
            continue
        if end < start:
            errors.append(f"{key}: end {end} is before start {start}")
            continue
        d = start
        while d <= end:
            if d in days:
                errors.append(f"{key}: {d} is listed twice")
            days[d] = (False, h["name"])
            d += timedelta(days=1)
    for i, w in enumerate(doc.get("workday", [])):
        key = f"workday[{i}]"
        if not isinstance(w, dict) or not isinstance(w.get("name"), str):
            errors.append(f"{key}: expected name and date")
            continue
        if named(w, key) is None:
            continue
        d2 = day(w.get("date"), f"{key}.date")
        if d2 is None:
            continue
        if d2.weekday() < 5:
            errors.append(f"{key}.date: {d2} is a weekday; an adjusted working day (调休) is a weekend day")
        if d2 in days:
            errors.append(f"{key}.date: {d2} is also listed as a holiday")
        days[d2] = (True, w["name"])
    if not days:
        errors.append("no [[holiday]] or [[workday]] entries")
    if errors:
        raise BadInput(f"{where}: " + "; ".join(errors))
    return HolidayNotice(year=year, source=str(doc.get("source", "")), days=days)


def read_notice(path: Path) -> HolidayNotice:
    from workflow.files import read_text_file

    return parse_notice(read_text_file(path, "holiday notice", MAX_FILE_BYTES), str(path))
