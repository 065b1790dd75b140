"""libical 3 as a validator: every calendar we write must parse and pass `check_restrictions` (RFC 5546
iTIP: e.g. METHOD:PUBLISH needs ORGANIZER) without one X-LIC-ERROR.

libical's Python bindings come with Debian (`gir1.2-ical-3.0`, `python3-gi`; .ci/run installs them) and
are importable by the system python3 only, so the check runs there, in one subprocess for many calendars.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"

_CHECK = r"""
import json, sys
import gi
gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib

def errors(text):
    comp = ICalGLib.Component.new_from_string(text)
    if comp is None:
        return ["libical could not parse it"]
    ICalGLib.Component.check_restrictions(comp)
    lines = comp.as_ical_string().replace("\r\n ", "").replace("\n ", "").splitlines()
    return [line for line in lines if line.startswith("X-LIC-ERROR")]

print(json.dumps([errors(text) for text in json.load(sys.stdin)]))
"""


@cache
def available() -> str | None:
    """None when the system python3 can use libical, else why not."""
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], input="[]", capture_output=True, text=True,
                              timeout=60)
    except OSError as exc:
        return f"{SYSTEM_PYTHON}: {exc}"
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def libical_errors(calendars: list[bytes]) -> list[list[str]]:
    """libical's errors for each calendar, after its iTIP restriction check (skips without libical)."""
    missing = available()
    if missing is not None:
        pytest.skip(f"libical 3 is not usable from {SYSTEM_PYTHON} ({missing}); .ci/run installs "
                    "gir1.2-ical-3.0 and python3-gi")
    texts = [c.decode("utf-8") for c in calendars]
    done = subprocess.run([SYSTEM_PYTHON, "-c", _CHECK], input=json.dumps(texts), capture_output=True,
                          text=True, timeout=600, check=True)
    found: list[list[str]] = json.loads(done.stdout)
    return found
